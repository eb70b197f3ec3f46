import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { python, withNbdkit, extentMap, nbdcopy, qemuIo, residentBytes } from "@nbdts/native/testing";
import { PAGE_SIZE } from "../src/page-map.js";

const PLUGIN = "@nbdts/memory";
const PAGE = BigInt(PAGE_SIZE);
const GiB = 1n << 30n;
const MiB = 1024 * 1024;

const work = mkdtempSync(join(tmpdir(), "nbdts-memory-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("sparseness", () => {
  it("maps written pages as data and everything else as holes that read as zero", async () => {
    await withNbdkit({ plugin: PLUGIN, params: ["4G"] }, async (server) => {
      await qemuIo(server.uri, ["write -P 1 0 4k", "write -P 2 1G 100k"]);
      expect(await extentMap(server.uri)).toEqual([
        [0n, PAGE, "data"],
        [PAGE, GiB - PAGE, "hole,zero"],
        // 100 KiB at 1 GiB fills two pages.
        [GiB, 2n * PAGE, "data"],
        [GiB + 2n * PAGE, 3n * GiB - 2n * PAGE, "hole,zero"],
      ]);
    });
  });

  it("frees trimmed pages: they read as zeroes and map as holes", async () => {
    await withNbdkit({ plugin: PLUGIN, params: ["1G"] }, async (server) => {
      await qemuIo(server.uri, ["write -P 7 0 1M"]);
      // Trim the middle 512 KiB: whole pages, so they go.
      await qemuIo(server.uri, ["discard 256k 512k"]);
      await qemuIo(server.uri, ["read -P 7 0 256k", "read -P 0 256k 512k", "read -P 7 768k 256k"]);
      expect(await extentMap(server.uri)).toEqual([
        [0n, 256n * 1024n, "data"],
        [256n * 1024n, 512n * 1024n, "hole,zero"],
        [768n * 1024n, 256n * 1024n, "data"],
        [1n * 1024n * 1024n, GiB - 1024n * 1024n, "hole,zero"],
      ]);
    });
  });

  it("zeroes ranges with and without NO_HOLE, partial pages included, and they read back as zero", async () => {
    await withNbdkit({ plugin: PLUGIN, params: ["1G"] }, async (server) => {
      const out = await python(
        server.uri,
        [
          "h.pwrite(b'\\xff' * (4 << 20), 0)",
          "h.zero(1 << 20, 0)",
          "h.zero(1 << 20, 1 << 20, nbd.CMD_FLAG_NO_HOLE)",
          // Unaligned: the tail of one page, the head of another.
          "h.zero(100000, (2 << 20) + 12345)",
          "h.zero(3, (3 << 20) + 65535, nbd.CMD_FLAG_NO_HOLE)",
          "data = h.pread(4 << 20, 0)",
          "assert data[:2 << 20] == bytes(2 << 20)",
          "assert data[(2 << 20):(2 << 20) + 12345] == b'\\xff' * 12345",
          "assert data[(2 << 20) + 12345:(2 << 20) + 112345] == bytes(100000)",
          "assert data[(2 << 20) + 112345:(3 << 20) + 65535] == b'\\xff' * ((1 << 20) + 65535 - 112345)",
          "assert data[(3 << 20) + 65535:(3 << 20) + 65538] == bytes(3)",
          "assert data[(3 << 20) + 65538:] == b'\\xff' * ((1 << 20) - 65538)",
          "print('ok')",
        ].join("\n"),
      );
      expect(out.trim()).toBe("ok");
    });
  });

  it("never refuses a fast zero: zeroing memory is always fast", async () => {
    await withNbdkit({ plugin: PLUGIN, params: ["1G"] }, async (server) => {
      const out = await python(
        server.uri,
        [
          "assert h.can_fast_zero()",
          "h.pwrite(b'\\x01' * 300000, 1000)",
          "h.zero(300000, 1000, nbd.CMD_FLAG_FAST_ZERO)",
          "h.zero(1 << 20, 0, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE)",
          "assert h.pread(1 << 20, 0) == bytes(1 << 20)",
          "print('ok')",
        ].join("\n"),
      );
      expect(out.trim()).toBe("ok");
    });
  });

  it("keeps the Node host under twice the data in resident memory: 100 MiB written to a 1 TiB disk", async () => {
    const data = join(work, "100M.img");
    writeFileSync(data, randomBytes(100 * MiB));
    await withNbdkit({ plugin: PLUGIN, params: ["1T"] }, async (server) => {
      const host = server.hostPid();
      expect(host, "the Node host's pid").toBeDefined();
      await nbdcopy(data, server.uri);
      // Spread over the disk too, so the page table is not one dense run.
      await python(server.uri, "for i in range(64): h.pwrite(b'x' * 4096, i * (1 << 34))");
      const resident = residentBytes(host!);
      console.info(`memory: host VmRSS after writing 100 MiB to a 1 TiB disk: ${(resident / MiB).toFixed(1)} MiB`);
      // The data must really be held (so the measurement means something) ...
      expect(resident).toBeGreaterThan(100 * MiB);
      // ... and the overhead, Node itself included, stays below the data's size.
      expect(resident).toBeLessThan(200 * MiB);
    });
  });
});
