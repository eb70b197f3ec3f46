/** @nbdts/file against nbdkit's C file plugin, both serving the same file (issue 5). */

import { closeSync, ftruncateSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import { storageTargets, type Suite } from "../model.js";
import { cPlugin, firstReason, packageMissing, shimMissing, tsPlugin } from "../servers.js";
import { STANDARD_WORKLOADS } from "../workloads.js";

/** Creates (or truncates) a sparse file of `bytes` bytes. */
export function sparseFile(path: string, bytes: number): string {
  const fd = openSync(path, "w", 0o600);
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  return path;
}

export const file: Suite = {
  name: "file",
  description: "@nbdts/file vs nbdkit file (C), on the same file",
  rowIds: ["file"],
  unavailable: () => firstReason(shimMissing, () => packageMissing("@nbdts/file")),
  prepare: async (context) => {
    // The scratch directory is under os.tmpdir(): a real filesystem, not tmpfs, on most machines.
    const disk = sparseFile(join(context.scratchDir, "file-disk.img"), context.diskBytes);
    return {
      rows: [
        {
          id: "file",
          title: "@nbdts/file vs nbdkit file (C), same file",
          servers: [
            cPlugin("c-file", "C file", "file", { file: disk }),
            tsPlugin("ts-file", "@nbdts/file", "@nbdts/file", { file: disk }),
          ],
          reference: "c-file",
          workloads: STANDARD_WORKLOADS,
          diskBytes: context.diskBytes,
          datasetBytes: context.datasetBytes,
          precondition: true,
          flush: "none",
          targets: storageTargets("ts-file"),
          notes: [
            `Both serve ${disk} (under the system's temporary directory), with default parameters; reads mostly hit the page cache.`,
            "No flush requests: the numbers are the plugins' request path, not the disk's write-back speed.",
          ],
        },
      ],
      cleanup: async () => rmSync(disk, { force: true }),
    };
  },
};
