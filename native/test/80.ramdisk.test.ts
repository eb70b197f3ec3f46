import { createHash, randomFillSync } from "node:crypto";
import { createReadStream, mkdtempSync, openSync, closeSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { python, run, withNbdkit } from "@nbdts/native/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repositoryRoot } from "./fixtures/part2/support.js";

// examples/ramdisk.ts, the SDK's complete small example, served through the
// shim and driven by the clients people use: nbdcopy, nbdinfo, qemu-img.

const ramdisk = join(repositoryRoot, "examples", "ramdisk.ts");
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "nbdts-ramdisk-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The SHA-256 of bytes [start, end) of a file, read as a stream. */
function sha256OfFile(path: string, start: number, end: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path, { start, end: end - 1, highWaterMark: 4 * MiB })
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}

/** The SHA-256 of `length` zero bytes. */
function sha256OfZeroes(length: number): string {
  const hash = createHash("sha256");
  const zeroes = Buffer.alloc(4 * MiB);
  for (let done = 0; done < length; done += zeroes.length) hash.update(zeroes.subarray(0, Math.min(zeroes.length, length - done)));
  return hash.digest("hex");
}

/** Writes `length` random bytes to a new file. */
function writeRandomFile(path: string, length: number): void {
  const fd = openSync(path, "w");
  try {
    const chunk = Buffer.alloc(8 * MiB);
    for (let done = 0; done < length; done += chunk.length) writeSync(fd, randomFillSync(chunk));
  } finally {
    closeSync(fd);
  }
}

describe("examples/ramdisk.ts with size=1G", () => {
  it("nbdcopy writes 512 MiB of random data into it and reads back the same bytes, then zeroes to the end", async () => {
    const source = join(scratch, "random.img");
    const copy = join(scratch, "copy.img");
    writeRandomFile(source, 512 * MiB);
    await withNbdkit({ plugin: ramdisk, params: { size: "1G" } }, async (server) => {
      const into = await run("nbdcopy", [source, server.uri], { timeoutMs: 300_000 });
      expect(into).toMatchObject({ code: 0, stderr: "" });
      const back = await run("nbdcopy", [server.uri, copy], { timeoutMs: 300_000 });
      expect(back).toMatchObject({ code: 0, stderr: "" });
    });
    expect(statSync(copy).size).toBe(GiB);
    expect(await sha256OfFile(copy, 0, 512 * MiB)).toBe(await sha256OfFile(source, 0, 512 * MiB));
    expect(await sha256OfFile(copy, 512 * MiB, GiB)).toBe(sha256OfZeroes(512 * MiB));
  });

  it("nbdinfo --map shows the written ranges as data and the rest as hole,zero", async () => {
    await withNbdkit({ plugin: ramdisk, params: { size: "1G" } }, async (server) => {
      // 64 KiB pages: a write allocates every page it touches.
      await python(
        server.uri,
        `h.pwrite(b"\\xaa" * 65536, 0)
h.pwrite(b"\\xbb" * 131072, 10 * 1024 * 1024)
h.pwrite(b"\\xcc", ${GiB - 1})`,
      );
      const map = await run("nbdinfo", ["--map", "--json", server.uri]);
      expect(map.code).toBe(0);
      const extents = (JSON.parse(map.stdout) as { offset: number; length: number; type: number; description: string }[]).map(
        ({ offset, length, description }) => ({ offset, length, description }),
      );
      expect(extents).toEqual([
        { offset: 0, length: 64 * 1024, description: "data" },
        { offset: 64 * 1024, length: 10 * MiB - 64 * 1024, description: "hole,zero" },
        { offset: 10 * MiB, length: 128 * 1024, description: "data" },
        { offset: 10 * MiB + 128 * 1024, length: GiB - 64 * 1024 - (10 * MiB + 128 * 1024), description: "hole,zero" },
        { offset: GiB - 64 * 1024, length: 64 * 1024, description: "data" },
      ]);
    });
  });

  it("qemu-img info sees a 1 GiB raw disk", async () => {
    await withNbdkit({ plugin: ramdisk, params: { size: "1G" } }, async (server) => {
      const info = await run("qemu-img", ["info", "--output=json", server.uri]);
      expect(info.code).toBe(0);
      expect(JSON.parse(info.stdout)).toMatchObject({ "virtual-size": GiB, format: "raw" });
    });
  });
});
