import { closeSync, openSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { python, run, withNbdkit, extentMap, nbdinfo } from "@nbdts/native/testing";
import { scratchDirectory } from "./support/files.js";

const PLUGIN = "@nbdts/file";
const MiB = 1024 * 1024;
const scratch = scratchDirectory();
afterAll(() => scratch.remove());

/** A sparse file: `size` bytes with data written at each [offset, length], holes elsewhere. */
function sparseFile(name: string, size: number, pieces: readonly [number, number][]): string {
  const path = join(scratch.path, name);
  writeFileSync(path, "");
  truncateSync(path, size);
  const fd = openSync(path, "r+");
  try {
    for (const [offset, length] of pieces) writeSync(fd, Buffer.alloc(length, 0x42), 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return path;
}

/** `nbdinfo --map` of `path` served by nbdkit's own file plugin. */
async function nbdkitFileMap(path: string): Promise<string> {
  const result = await run("nbdkit", ["-U", "-", "file", path, "--run", "nbdinfo --map \"$uri\""], { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`nbdkit file failed: ${result.stderr}`);
  return result.stdout;
}

describe("extents", () => {
  it("maps a sparse file exactly as nbdkit's file plugin does", async () => {
    const path = sparseFile("sparse.img", 64 * MiB + 12345, [
      [0, 4096],
      [1 * MiB + 8192, 100_000],
      [10 * MiB, 3 * MiB],
      [40 * MiB - 4096, 8192],
    ]);
    const expected = await nbdkitFileMap(path);
    await withNbdkit({ plugin: PLUGIN, params: { file: path } }, async (server) => {
      const ours = await nbdinfo(["--map", server.uri]);
      expect(ours).toBe(expected);
    });
    // The map is not trivial: holes and data alternate.
    expect(expected.split("\n").filter((line) => line.includes("hole")).length).toBeGreaterThanOrEqual(4);
  });

  it("maps a fully written file as one run of data, and an empty sparse file as one hole", async () => {
    const full = join(scratch.path, "full.img");
    writeFileSync(full, Buffer.alloc(5 * MiB, 1));
    const empty = join(scratch.path, "empty.img");
    writeFileSync(empty, "");
    truncateSync(empty, 5 * MiB);
    await withNbdkit({ plugin: PLUGIN, params: { file: full } }, async (server) => {
      expect(await extentMap(server.uri)).toEqual([[0n, BigInt(5 * MiB), "data"]]);
    });
    await withNbdkit({ plugin: PLUGIN, params: { file: empty } }, async (server) => {
      expect(await extentMap(server.uri)).toEqual([[0n, BigInt(5 * MiB), "hole,zero"]]);
    });
  });

  it("answers a request for one extent with the first extent only", async () => {
    const path = sparseFile("req-one.img", 16 * MiB, [[8 * MiB, MiB]]);
    await withNbdkit({ plugin: PLUGIN, params: { file: path } }, async (server) => {
      const out = await python(
        server.uri,
        [
          "h2 = nbd.NBD()",
          "h2.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)",
          "h2.connect_uri(sys.argv[1])",
          "seen = []",
          "def cb(context, offset, entries, err): seen.append(list(entries)); return 0",
          "h2.block_status(16 << 20, 0, cb, nbd.CMD_FLAG_REQ_ONE)",
          "h2.block_status(8 << 20, 8 << 20, cb)",
          "print(seen)",
          "h2.shutdown()",
        ].join("\n"),
      );
      // [length, flags] pairs: one hole of 8 MiB; then data, then the tail hole.
      expect(out.trim()).toBe(`[[${8 * MiB}, 3], [${MiB}, 0, ${7 * MiB}, 3]]`);
    });
  });
});
