import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nbdcopy, overlappingConnections, python, qemuIo, withNbdkit } from "@nbdts/native/testing";
import { scratchDirectory } from "./support/files.js";

const PLUGIN = "@nbdts/file";
const MiB = 1024 * 1024;
const scratch = scratchDirectory();
afterAll(() => scratch.remove());

describe("data", () => {
  it("writes random data from nbdcopy into the file, and reads it back out identical", async () => {
    const disk = join(scratch.path, "copy-target.img");
    const source = join(scratch.path, "random.img");
    const back = join(scratch.path, "back.img");
    const data = randomBytes(24 * MiB + 4097);
    writeFileSync(source, data);
    writeFileSync(disk, Buffer.alloc(data.length));
    await withNbdkit({ plugin: PLUGIN, params: { file: disk } }, async (server) => {
      await nbdcopy(source, server.uri, ["--flush"]);
      await nbdcopy(server.uri, back);
    });
    // The file itself holds the data, and what came back out is the same.
    expect(readFileSync(disk).equals(data)).toBe(true);
    expect(readFileSync(back).equals(data)).toBe(true);
  });

  it("reads back qemu-io patterns, written with and without FUA, at unaligned offsets", async () => {
    const disk = join(scratch.path, "patterns.img");
    writeFileSync(disk, Buffer.alloc(8 * MiB));
    await withNbdkit({ plugin: PLUGIN, params: { file: disk } }, async (server) => {
      await qemuIo(server.uri, ["write -P 0xab 0 1M", "write -f -P 0xcd 1M 512k", "write -P 0x5a 4095 3", "write -f -P 0x11 3000001 70000"]);
      await qemuIo(server.uri, [
        "read -P 0xab 0 4095",
        "read -P 0x5a 4095 3",
        "read -P 0xab 4098 1044478",
        "read -P 0xcd 1M 512k",
        "read -P 0 1572864 1427137",
        "read -P 0x11 3000001 70000",
        "read -P 0 3070001 5318607",
      ]);
    });
    const bytes = readFileSync(disk);
    expect(bytes[4095]).toBe(0x5a);
    expect(bytes.subarray(3000001, 3070001).equals(Buffer.alloc(70000, 0x11))).toBe(true);
  });

  it("flushes, and shares the file between connections: each sees the other's writes after a flush", async () => {
    const disk = join(scratch.path, "shared.img");
    writeFileSync(disk, Buffer.alloc(4 * MiB));
    await withNbdkit({ plugin: PLUGIN, params: { file: disk } }, async (server) => {
      const out = await python(
        server.uri,
        [
          "h2 = nbd.NBD()",
          "h2.connect_uri(sys.argv[1])",
          "assert h.can_multi_conn() and h.can_flush() and h.can_fua()",
          "h.pwrite(b'one' * 1000, 5)",
          "h.flush()",
          "assert h2.pread(3000, 5) == b'one' * 1000",
          "h2.pwrite(b'two' * 1000, 1 << 20, nbd.CMD_FLAG_FUA)",
          "assert h.pread(3000, 1 << 20) == b'two' * 1000",
          "h2.shutdown()",
          "print('ok')",
        ].join("\n"),
      );
      expect(out.trim()).toBe("ok");
    });
  });

  it("serves many overlapping requests from several connections without mixing them up", async () => {
    const disk = join(scratch.path, "parallel.img");
    writeFileSync(disk, Buffer.alloc(8 * MiB));
    await withNbdkit({ plugin: PLUGIN, params: { file: disk } }, async (server) => {
      await overlappingConnections(server.uri);
    });
  });

  it("fails a read past the end of a file that shrank while served with EIO, naming the cause in the log", async () => {
    const disk = join(scratch.path, "shrinking.img");
    writeFileSync(disk, Buffer.alloc(MiB, 3));
    await withNbdkit({ plugin: PLUGIN, params: { file: disk } }, async (server) => {
      // nbdkit took the size (1 MiB) when the connection opened; the file
      // then shrinks to 256 KiB under it.
      const out = await python(
        server.uri,
        [
          "assert h.get_size() == 1 << 20",
          `open(${JSON.stringify(disk)}, 'r+').truncate(256 * 1024)`,
          "try:",
          "    h.pread(4096, 512 * 1024)",
          "    print('read succeeded')",
          "except nbd.Error as e:",
          "    print(e.errno)",
        ].join("\n"),
      );
      expect(out.trim()).toBe("EIO");
      expect(server.log()).toContain("unexpected end of file at offset 524288");
    });
  });
});
