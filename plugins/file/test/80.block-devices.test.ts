import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { python, withNbdkit, nbdcopy, nbdinfo } from "@nbdts/native/testing";
import { loopDevice, scratchDirectory, system } from "./support/files.js";

const PLUGIN = "@nbdts/file";
const MiB = 1024 * 1024;
const SIZE = 24 * MiB + 512 * 3; // not a multiple of 4 KiB: the device size must come from the kernel

const scratch = scratchDirectory();
const backing = join(scratch.path, "backing.img");
let loop: { device: string; detach(): void } | undefined;

beforeAll(() => {
  writeFileSync(backing, "");
  system("truncate", ["-s", String(SIZE), backing]);
  loop = loopDevice(backing);
});
afterAll(() => {
  loop?.detach();
  scratch.remove();
});

describe("block devices", () => {
  it("sizes a block device by asking the kernel (its st_size is 0)", async () => {
    const device = loop!.device;
    expect(statSync(device).size).toBe(0);
    const expected = system("blockdev", ["--getsize64", device]).trim();
    await withNbdkit({ plugin: PLUGIN, params: { file: device } }, async (server) => {
      expect((await nbdinfo(["--size", server.uri])).trim()).toBe(expected);
    });
    expect(expected).toBe(String(SIZE));
  });

  it("reads back what is written to the device, and the data reaches its backing file", async () => {
    const device = loop!.device;
    const data = randomBytes(SIZE);
    const source = join(scratch.path, "random.img");
    const back = join(scratch.path, "back.img");
    writeFileSync(source, data);
    await withNbdkit({ plugin: PLUGIN, params: { file: device } }, async (server) => {
      await nbdcopy(source, server.uri, ["--flush"]);
      await nbdcopy(server.uri, back);
    });
    expect(readFileSync(back).equals(data)).toBe(true);
    expect(readFileSync(backing).equals(data)).toBe(true);
  });

  it("zeroes aligned and unaligned ranges, refusing a fast zero only when the kernel might write", async () => {
    const device = loop!.device;
    await withNbdkit({ plugin: PLUGIN, params: { file: device } }, async (server) => {
      const out = await python(
        server.uri,
        [
          "h.pwrite(b'\\xff' * (4 << 20), 0)",
          // Punched (discarded) when holes are allowed: fast.
          "h.zero(1 << 20, 0, nbd.CMD_FLAG_FAST_ZERO)",
          // NO_HOLE on a device means ZERO_RANGE or BLKZEROOUT, which the
          // kernel may do by writing zeroes: refused when asked to be fast ...
          "try:",
          "    h.zero(1 << 20, 1 << 20, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE)",
          "    print('fast NO_HOLE zero succeeded')",
          "except nbd.Error as e:",
          "    print(e.errno)",
          "assert h.pread(1 << 20, 1 << 20) == b'\\xff' * (1 << 20)",
          // ... and done when not.
          "h.zero(1 << 20, 1 << 20, nbd.CMD_FLAG_NO_HOLE)",
          // Not sector-aligned: nbdkit writes the zeroes.
          "h.zero(1001, (2 << 20) + 7)",
          "data = h.pread(4 << 20, 0)",
          "assert data[:2 << 20] == bytes(2 << 20)",
          "assert data[(2 << 20):(2 << 20) + 7] == b'\\xff' * 7",
          "assert data[(2 << 20) + 7:(2 << 20) + 1008] == bytes(1001)",
          "assert data[(2 << 20) + 1008:] == b'\\xff' * ((2 << 20) - 1008)",
          "h.flush()",
          "print('ok')",
        ].join("\n"),
      );
      expect(out.trim().split("\n")).toEqual(["ENOTSUP", "ok"]);
    });
  });

  it("lists a block device node in a dir= directory with its size, and serves it", async () => {
    const device = loop!.device;
    const dir = join(scratch.path, "devices");
    mkdirSync(dir);
    // A device node of the same device inside the directory (a symbolic
    // link to /dev would point outside it and be refused).
    const { rdev } = statSync(device);
    system("mknod", [join(dir, "disk0"), "b", String(Math.floor(rdev / 256) & 0xfff), String((rdev & 0xff) | ((rdev >> 12) & 0xfff00))]);
    await withNbdkit({ plugin: PLUGIN, params: { dir } }, async (server) => {
      const out = await nbdinfo(["--list", "--json", server.uri]);
      const exports = (JSON.parse(out) as { exports: { "export-name": string; description?: string; "export-size": number }[] }).exports;
      expect(exports.map((e) => [e["export-name"], e.description, e["export-size"]])).toEqual([
        ["disk0", `block device, ${SIZE} bytes`, SIZE],
      ]);
      const served = await python(server.uriFor("disk0"), "h.pwrite(b'node', 512); print(h.get_size(), bytes(h.pread(4, 512)))");
      expect(served.trim()).toBe(`${SIZE} b'node'`);
    });
  });
});
