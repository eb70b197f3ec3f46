/** @nbdts/memory against nbdkit's C memory plugin (issue 5). */

import { storageTargets, type Suite } from "../model.js";
import { cPlugin, firstReason, packageMissing, shimMissing, tsPlugin } from "../servers.js";
import { STANDARD_WORKLOADS } from "../workloads.js";

export const memory: Suite = {
  name: "memory",
  description: "@nbdts/memory vs nbdkit memory (C)",
  rowIds: ["memory"],
  unavailable: () => firstReason(shimMissing, () => packageMissing("@nbdts/memory")),
  prepare: async (context) => ({
    rows: [
      {
        id: "memory",
        title: "@nbdts/memory vs nbdkit memory (C)",
        servers: [
          cPlugin("c-memory", "C memory", "memory", { size: context.diskBytes }),
          tsPlugin("ts-memory", "@nbdts/memory", "@nbdts/memory", { size: context.diskBytes }),
        ],
        reference: "c-memory",
        workloads: STANDARD_WORKLOADS,
        diskBytes: context.diskBytes,
        datasetBytes: context.datasetBytes,
        precondition: true,
        flush: "none",
        targets: storageTargets("ts-memory"),
      },
    ],
    cleanup: async () => {},
  }),
};
