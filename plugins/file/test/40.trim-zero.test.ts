import { closeSync, fsyncSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { python, withNbdkit } from "@nbdts/native/testing";
import { allocatedBlocks, mountScratch, scratchDirectory, tmpfsDirectory } from "./support/files.js";

const PLUGIN = "@nbdts/file";
const MiB = 1024 * 1024;
const scratch = scratchDirectory();
afterAll(() => scratch.remove());

/** A file of `size` bytes of 0xff, on disk (fsynced), so every block is allocated. */
function allocatedFile(directory: string, name: string, size: number): string {
  const path = join(directory, name);
  writeFileSync(path, Buffer.alloc(size, 0xff));
  const fd = openSync(path, "r+");
  fsyncSync(fd);
  closeSync(fd);
  return path;
}

/** Runs Python against the file served by @nbdts/file and returns what it printed. */
async function withFile(path: string, code: readonly string[]): Promise<string> {
  return withNbdkit({ plugin: PLUGIN, params: { file: path } }, (server) => python(server.uri, code.join("\n")));
}

describe("trim and zero", () => {
  it("trims by punching holes: the file's blocks are freed and the range reads as zeroes", async () => {
    const path = allocatedFile(scratch.path, "trim.img", 8 * MiB);
    const before = allocatedBlocks(path);
    const out = await withFile(path, [
      "assert h.can_trim()",
      "h.trim(4 << 20, 2 << 20)",
      "h.flush()",
      "assert h.pread(4 << 20, 2 << 20) == bytes(4 << 20)",
      "assert h.pread(2 << 20, 0) == b'\\xff' * (2 << 20)",
      "print('ok')",
    ]);
    expect(out.trim()).toBe("ok");
    // 4 MiB freed is 8192 blocks of 512 bytes.
    expect(before - allocatedBlocks(path)).toBeGreaterThanOrEqual(8192);
  });

  it("zeroes by punching a hole when the client allows holes, freeing the blocks", async () => {
    const path = allocatedFile(scratch.path, "zero-hole.img", 8 * MiB);
    const before = allocatedBlocks(path);
    const out = await withFile(path, ["h.zero(4 << 20, 0)", "assert h.pread(4 << 20, 0) == bytes(4 << 20)", "print('ok')"]);
    expect(out.trim()).toBe("ok");
    expect(before - allocatedBlocks(path)).toBeGreaterThanOrEqual(8192);
  });

  it("zeroes without freeing blocks under NO_HOLE, and the range reads as zeroes", async () => {
    const path = allocatedFile(scratch.path, "zero-no-hole.img", 8 * MiB);
    const before = allocatedBlocks(path);
    const out = await withFile(path, [
      "h.zero(4 << 20, 1 << 20, nbd.CMD_FLAG_NO_HOLE)",
      "h.zero(1000, 12345, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)",
      "data = h.pread(8 << 20, 0)",
      "assert data[12345:13345] == bytes(1000)",
      "assert data[1 << 20:5 << 20] == bytes(4 << 20)",
      "assert data[:12345] == b'\\xff' * 12345",
      "assert data[5 << 20:] == b'\\xff' * (3 << 20)",
      "print('ok')",
    ]);
    expect(out.trim()).toBe("ok");
    expect(allocatedBlocks(path)).toBe(before);
    const bytes = readFileSync(path);
    expect(bytes.subarray(1 * MiB, 5 * MiB).equals(Buffer.alloc(4 * MiB))).toBe(true);
  });

  it("serves fast zeroes on a file system that can zero without writing", async () => {
    const path = allocatedFile(scratch.path, "fast-zero.img", 4 * MiB);
    const out = await withFile(path, [
      "assert h.can_fast_zero()",
      "h.zero(1 << 20, 0, nbd.CMD_FLAG_FAST_ZERO)",
      "h.zero(1 << 20, 1 << 20, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE)",
      "assert h.pread(2 << 20, 0) == bytes(2 << 20)",
      "print('ok')",
    ]);
    expect(out.trim()).toBe("ok");
  });

  it("zeroes under NO_HOLE on tmpfs, which lacks FALLOC_FL_ZERO_RANGE, by punching and allocating again", async () => {
    // tmpfs: punch hole and plain fallocate work there, zero range does
    // not, so this takes the third way of nbdkit's order.
    const tmpfs = tmpfsDirectory();
    try {
      const path = allocatedFile(tmpfs.path, "tmpfs.img", 4 * MiB);
      const before = allocatedBlocks(path);
      const out = await withFile(path, [
        "h.zero(2 << 20, 1 << 20, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FAST_ZERO)",
        "assert h.pread(2 << 20, 1 << 20) == bytes(2 << 20)",
        "assert h.pread(1 << 20, 0) == b'\\xff' * (1 << 20)",
        "print('ok')",
      ]);
      expect(out.trim()).toBe("ok");
      expect(allocatedBlocks(path)).toBe(before);
    } finally {
      tmpfs.remove();
    }
  });

  it("refuses a fast zero with ENOTSUP where only writing zeroes would do (ramfs), and still zeroes slowly when allowed", async () => {
    // ramfs supports no fallocate mode at all: the only way to zero is to
    // write, which a fast zero must refuse.
    const ramfs = mountScratch("ramfs");
    try {
      const path = join(ramfs.path, "ramfs.img");
      writeFileSync(path, Buffer.alloc(2 * MiB, 0xff));
      const out = await withFile(path, [
        "assert h.can_fast_zero()",
        "try:",
        "    h.zero(1 << 20, 0, nbd.CMD_FLAG_FAST_ZERO)",
        "    print('fast zero succeeded')",
        "except nbd.Error as e:",
        "    print(e.errno)",
        "assert h.pread(1 << 20, 0) == b'\\xff' * (1 << 20)",
        // Without FAST_ZERO, nbdkit falls back to writing zeroes.
        "h.zero(1 << 20, 0)",
        "assert h.pread(1 << 20, 0) == bytes(1 << 20)",
        // Trim is advisory: where holes cannot be punched it succeeds, doing nothing.
        "h.trim(1 << 20, 1 << 20)",
        "print('ok')",
      ]);
      expect(out.trim().split("\n")).toEqual(["ENOTSUP", "ok"]);
    } finally {
      ramfs.unmount();
    }
  });
});
