import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { python, withNbdkit, nbdinfo } from "@nbdts/native/testing";
import { scratchDirectory, system } from "./support/files.js";

const PLUGIN = "@nbdts/file";
const scratch = scratchDirectory();
afterAll(() => scratch.remove());

const CONTENT = Buffer.alloc(1024 * 1024, 0x77);

/**
 * Python that checks the export is read-only and that a write fails with
 * EPERM, both as libnbd refuses it and, with libnbd's checks off, as the
 * server answers it.
 */
const WRITE_IS_REFUSED = [
  "assert h.is_read_only()",
  "try:",
  "    h.pwrite(b'no', 0)",
  "    print('client write succeeded')",
  "except nbd.Error as e:",
  "    print(e.errno)",
  "h.set_strict_mode(0)",
  "try:",
  "    h.pwrite(b'no', 0)",
  "    print('server write succeeded')",
  "except nbd.Error as e:",
  "    print(e.errno)",
  "assert h.pread(4096, 0) == b'\\x77' * 4096",
].join("\n");

/**
 * Makes `path` unwritable for this process: mode 0444, and, for root (who
 * ignores modes), the immutable attribute. Returns what undoes it.
 */
function makeUnwritable(path: string): () => void {
  chmodSync(path, 0o444);
  if (process.getuid?.() === 0) {
    system("chattr", ["+i", path]);
    return () => system("chattr", ["-i", path]);
  }
  return () => {};
}

describe("read-only files", () => {
  it("serves a file it may not write read-only: canWrite is false and writes fail with EPERM", async () => {
    const path = join(scratch.path, "locked.img");
    writeFileSync(path, CONTENT);
    const undo = makeUnwritable(path);
    try {
      await withNbdkit({ plugin: PLUGIN, params: { file: path } }, async (server) => {
        expect(await nbdinfo([server.uri])).toMatch(/is_read_only: true/);
        const out = await python(server.uri, WRITE_IS_REFUSED);
        expect(out.trim().split("\n")).toEqual(["EPERM", "EPERM"]);
      });
    } finally {
      undo();
    }
    expect(readFileSync(path).equals(CONTENT)).toBe(true);
  });

  it("serves a writable file read-only under nbdkit -r, leaving it untouched", async () => {
    const path = join(scratch.path, "writable.img");
    writeFileSync(path, CONTENT);
    await withNbdkit({ plugin: PLUGIN, params: { file: path }, nbdkitArgs: ["-r"] }, async (server) => {
      expect(await nbdinfo([server.uri])).toMatch(/is_read_only: true/);
      const out = await python(server.uri, WRITE_IS_REFUSED);
      expect(out.trim().split("\n")).toEqual(["EPERM", "EPERM"]);
    });
    expect(readFileSync(path).equals(CONTENT)).toBe(true);
  });

  it("serves a writable file writable", async () => {
    const path = join(scratch.path, "open.img");
    writeFileSync(path, CONTENT);
    await withNbdkit({ plugin: PLUGIN, params: { file: path } }, async (server) => {
      expect(await nbdinfo([server.uri])).toMatch(/is_read_only: false/);
      await python(server.uri, "h.pwrite(b'yes', 0)");
    });
    expect(readFileSync(path).subarray(0, 3).toString()).toBe("yes");
  });
});
