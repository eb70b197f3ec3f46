/**
 * The loader itself: what running a plugin in TypeScript costs compared
 * with C and with nbdkit's Python binding.
 *
 * - null: a TypeScript null-like plugin (bench/plugins/null.ts) against
 *   `nbdkit null`. Nothing is stored, so the numbers are the transport's
 *   ceiling: nbdkit, the shim, the ring and the Node host.
 * - ramdisk: the RAM disk example (examples/ramdisk.ts) against
 *   `nbdkit memory` and against the same design in Python
 *   (bench/plugins/ramdisk.py). The loader's speed targets are here.
 */

import { join } from "node:path";
import type { Row, Suite, SuiteContext, Target } from "../model.js";
import { benchRoot, cPlugin, firstReason, nbdkitPluginMissing, pythonPlugin, repoRoot, shimMissing, tsPlugin } from "../servers.js";
import { STANDARD_WORKLOADS } from "../workloads.js";

export const NULL_PLUGIN = join(benchRoot, "plugins", "null.ts");
export const PYTHON_RAMDISK = join(benchRoot, "plugins", "ramdisk.py");
export const RAMDISK_EXAMPLE = join(repoRoot, "examples", "ramdisk.ts");

/** The loader's speed targets (issue 4): the TypeScript RAM disk against C memory. */
export const LOADER_TARGETS: readonly Target[] = [
  { workload: "rand-read-4k-qd16", server: "ts-ramdisk", bound: 0.5 },
  { workload: "rand-write-4k-qd16", server: "ts-ramdisk", bound: 0.5 },
  { workload: "rand-read-4k-qd1-pinned", server: "ts-ramdisk", bound: 1.5 },
  { workload: "seq-read-1m-qd8", server: "ts-ramdisk", bound: 0.9 },
  { workload: "seq-write-1m-qd8", server: "ts-ramdisk", bound: 0.9 },
  { workload: "nbdcopy-in", server: "ts-ramdisk", bound: 0.9 },
  { workload: "nbdcopy-out", server: "ts-ramdisk", bound: 0.9 },
];

export function transportRows(context: SuiteContext): Row[] {
  // The null disks are exactly the dataset, so nbdcopy out reads exactly it.
  const nullSize = context.datasetBytes;
  return [
    {
      id: "null",
      title: "null plugin: TypeScript vs nbdkit null (C)",
      servers: [
        cPlugin("c-null", "C null", "null", { size: nullSize }),
        tsPlugin("ts-null", "TS null", NULL_PLUGIN, { size: nullSize }),
      ],
      reference: "c-null",
      workloads: STANDARD_WORKLOADS,
      diskBytes: nullSize,
      datasetBytes: nullSize,
      precondition: false,
      flush: "none",
      nbdcopyOutOptions: ["--no-extents"],
      notes: [
        "nbdcopy out runs with --no-extents: nbdkit null reports its whole disk as a hole, which nbdcopy would skip without reading.",
      ],
    },
    {
      id: "ramdisk",
      title: "RAM disk: examples/ramdisk.ts vs nbdkit memory (C) vs the same in Python",
      servers: [
        cPlugin("c-memory", "C memory", "memory", { size: context.diskBytes }),
        tsPlugin("ts-ramdisk", "TS ramdisk", RAMDISK_EXAMPLE, { size: context.diskBytes }),
        pythonPlugin("py-ramdisk", "Python ramdisk", PYTHON_RAMDISK, { size: context.diskBytes }),
      ],
      reference: "c-memory",
      workloads: STANDARD_WORKLOADS,
      diskBytes: context.diskBytes,
      datasetBytes: context.datasetBytes,
      precondition: true,
      flush: "none",
      targets: LOADER_TARGETS,
      notes: [
        "Each disk holds the dataset (random data written by nbdcopy before the round's measurements); the rest is holes, which nbdcopy out skips through extents.",
      ],
    },
  ];
}

export const transport: Suite = {
  name: "transport",
  description: "the loader: a TypeScript null plugin vs nbdkit null; the ramdisk example vs nbdkit memory and vs Python",
  rowIds: ["null", "ramdisk"],
  unavailable: () =>
    firstReason(shimMissing, () => nbdkitPluginMissing("python", "Debian package nbdkit-plugin-python")),
  prepare: async (context) => ({ rows: transportRows(context), cleanup: async () => {} }),
};
