/** @nbdts/sqlite against @nbdts/file and nbdkit's C file plugin (issue 6). */

import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Suite } from "../model.js";
import { cPlugin, firstReason, packageMissing, shimMissing, tsPlugin } from "../servers.js";
import { SEQUENTIAL_AND_RANDOM } from "../workloads.js";
import { sparseFile } from "./file.js";

export const sqlite: Suite = {
  name: "sqlite",
  description: "@nbdts/sqlite vs @nbdts/file vs nbdkit file (C), flush at the end of each write workload",
  rowIds: ["sqlite"],
  unavailable: () =>
    firstReason(shimMissing, () => packageMissing("@nbdts/sqlite"), () => packageMissing("@nbdts/file")),
  prepare: async (context) => {
    const disk = sparseFile(join(context.scratchDir, "sqlite-peer-disk.img"), context.diskBytes);
    const database = join(context.scratchDir, "disks.db");
    return {
      rows: [
        {
          id: "sqlite",
          title: "@nbdts/sqlite vs @nbdts/file vs nbdkit file (C)",
          servers: [
            cPlugin("c-file", "C file", "file", { file: disk }),
            tsPlugin("ts-file", "@nbdts/file", "@nbdts/file", { file: disk }),
            tsPlugin("ts-sqlite", "@nbdts/sqlite", "@nbdts/sqlite", { file: database, size: context.diskBytes }),
          ],
          reference: "c-file",
          workloads: SEQUENTIAL_AND_RANDOM,
          diskBytes: context.diskBytes,
          datasetBytes: context.datasetBytes,
          precondition: true,
          flush: "end",
          targets: [
            { workload: "seq-write-1m-qd8", server: "ts-sqlite", bound: 0.5 },
            { workload: "seq-read-1m-qd8", server: "ts-sqlite", bound: 0.7 },
          ],
          notes: [
            "Flush policy: every write workload ends with one NBD flush inside the timed part (fio end_fsync=1), so the sqlite plugin's grouped transactions are committed and the files fdatasync'ed before the number is taken; reads send no flush.",
            `The files are ${disk} and ${database}, under the system's temporary directory; the database keeps its disk across rounds.`,
          ],
        },
      ],
      cleanup: async () => {
        for (const path of [disk, database, `${database}-wal`, `${database}-shm`, `${database}-journal`]) {
          rmSync(path, { force: true });
        }
      },
    };
  },
};
