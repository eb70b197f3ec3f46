import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { constants, fadvise } from "@nbdts/native/fileio";
import { python, withNbdkit, nbdcopy } from "@nbdts/native/testing";
import { residentInPageCache, scratchDirectory } from "./support/files.js";

const PLUGIN = "@nbdts/file";
const MiB = 1024 * 1024;
const scratch = scratchDirectory();
afterAll(() => scratch.remove());

/** Writes `data` to a new file, makes it durable, and drops it from the page cache. */
async function coldFile(name: string, data: Buffer): Promise<string> {
  const path = join(scratch.path, name);
  writeFileSync(path, data);
  const fd = openSync(path, "r+");
  try {
    fsyncSync(fd);
    await fadvise(fd, 0n, 0n, constants.POSIX_FADV_DONTNEED);
  } finally {
    closeSync(fd);
  }
  expect(await residentInPageCache(path), "the file starts out of the page cache").toBe(0);
  return path;
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

describe("page cache", () => {
  it("keeps what it reads out of the page cache under cache=none, where cache=default keeps it", async () => {
    const data = randomBytes(16 * MiB);
    const none = await coldFile("read-none.img", data);
    const cached = await coldFile("read-default.img", data);
    await withNbdkit({ plugin: PLUGIN, params: { file: none, cache: "none" } }, (server) => nbdcopy(server.uri, "null:"));
    await withNbdkit({ plugin: PLUGIN, params: { file: cached } }, (server) => nbdcopy(server.uri, "null:"));
    expect(await residentInPageCache(cached)).toBe(16 * MiB);
    // Read-ahead may leave a little behind; the bulk is gone.
    expect(await residentInPageCache(none)).toBeLessThan(4 * MiB);
  });

  it("evicts what it writes under cache=none once later writes follow, where cache=default keeps it", async () => {
    const data = randomBytes(32 * MiB);
    const source = join(scratch.path, "source.img");
    writeFileSync(source, data);
    const none = await coldFile("write-none.img", Buffer.alloc(32 * MiB));
    const cached = await coldFile("write-default.img", Buffer.alloc(32 * MiB));
    await withNbdkit({ plugin: PLUGIN, params: { file: none, cache: "none" } }, (server) => nbdcopy(source, server.uri));
    await withNbdkit({ plugin: PLUGIN, params: { file: cached } }, (server) => nbdcopy(source, server.uri));
    expect(await residentInPageCache(cached)).toBe(32 * MiB);
    // Only the last eight writes (nbdcopy writes 256 KiB each) may remain.
    expect(await residentInPageCache(none)).toBeLessThanOrEqual(8 * 256 * 1024);
    expect(readFileSync(none).equals(data)).toBe(true);
  });

  it("reads a range into the page cache ahead of use on an NBD cache request", async () => {
    const path = await coldFile("prefetch.img", randomBytes(16 * MiB));
    await withNbdkit({ plugin: PLUGIN, params: { file: path } }, async (server) => {
      const out = await python(server.uri, "assert h.can_cache(); h.cache(8 << 20, 4 << 20); print('ok')");
      expect(out.trim()).toBe("ok");
      // WILLNEED starts the reads; they finish shortly after.
      expect(await waitFor(async () => (await residentInPageCache(path)) >= 8 * MiB, 10_000)).toBe(true);
    });
  });

  it("turns read-ahead off with fadvise=random, where fadvise=normal reads ahead", async () => {
    const data = randomBytes(16 * MiB);
    const random = await coldFile("fadvise-random.img", data);
    const normal = await coldFile("fadvise-normal.img", data);
    for (const [path, mode] of [
      [random, "random"],
      [normal, "normal"],
    ] as const) {
      await withNbdkit({ plugin: PLUGIN, params: { file: path, fadvise: mode } }, async (server) => {
        const out = await python(server.uri, "print(len(h.pread(4096, 0)))");
        expect(out.trim()).toBe("4096");
      });
    }
    expect(await residentInPageCache(random)).toBe(4096);
    expect(await residentInPageCache(normal)).toBeGreaterThan(4096);
  });

  it("serves the same bytes with fadvise=sequential", async () => {
    const data = randomBytes(4 * MiB);
    const path = await coldFile("fadvise-sequential.img", data);
    const back = join(scratch.path, "sequential-back.img");
    await withNbdkit({ plugin: PLUGIN, params: { file: path, fadvise: "sequential" } }, (server) => nbdcopy(server.uri, back));
    expect(readFileSync(back).equals(data)).toBe(true);
  });
});
