import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { python, withNbdkit, nbdcopy, qemuIo } from "@nbdts/native/testing";

const PLUGIN = "@nbdts/memory";
const work = mkdtempSync(join(tmpdir(), "nbdts-memory-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("data", () => {
  it("reads back random data copied in with nbdcopy, byte for byte", async () => {
    const source = join(work, "random.img");
    const copy = join(work, "copy.img");
    const data = randomBytes(24 * 1024 * 1024 + 4097);
    writeFileSync(source, data);
    // A disk of exactly the data's size, not a multiple of the page size.
    await withNbdkit({ plugin: PLUGIN, params: [String(data.length)] }, async (server) => {
      await nbdcopy(source, server.uri);
      await nbdcopy(server.uri, copy);
    });
    expect(readFileSync(copy).equals(data)).toBe(true);
  });

  it("reads back qemu-io patterns, including writes that straddle pages at odd offsets", async () => {
    await withNbdkit({ plugin: PLUGIN, params: ["16M"] }, async (server) => {
      await qemuIo(server.uri, [
        "write -P 0xab 0 1M",
        "write -P 0xcd 1M 512k",
        "write -P 0x5a 65535 3",
        "write -P 0x11 3000001 70000",
      ]);
      await qemuIo(server.uri, [
        "read -P 0xab 0 65535",
        "read -P 0x5a 65535 3",
        "read -P 0xab 65538 983038",
        "read -P 0xcd 1M 512k",
        "read -P 0 1572864 1427137",
        "read -P 0x11 3000001 70000",
        "read -P 0 3070001 13707215",
      ]);
    });
  });

  it("reads zeroes from space never written", async () => {
    await withNbdkit({ plugin: PLUGIN, params: ["1T"] }, async (server) => {
      await qemuIo(server.uri, ["read -P 0 0 4M", "read -P 0 512G 1M", "read -P 0 1073741823999 1"]);
    });
  });

  it("reads and writes the last bytes of a 2^63-1-byte disk", async () => {
    await withNbdkit({ plugin: PLUGIN, params: [String((1n << 63n) - 1n)] }, async (server) => {
      const out = await python(
        server.uri,
        [
          "size = h.get_size()",
          "assert size == 2**63 - 1, size",
          // nbdkit's own test of its largest disk: the last 511 bytes read as zero.
          "assert h.pread(511, size - 511) == bytes(511)",
          "tail = bytes((i * 7 + 3) % 256 for i in range(100000))",
          "h.pwrite(tail, size - len(tail))",
          "assert h.pread(len(tail), size - len(tail)) == tail",
          "assert h.pread(1, size - len(tail) - 1) == b'\\0'",
          "print('ok')",
        ].join("\n"),
      );
      expect(out.trim()).toBe("ok");
    });
  });
});
