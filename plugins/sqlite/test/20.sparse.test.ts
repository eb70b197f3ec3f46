/**
 * Sparseness: blocks never written are not stored, read as zeroes and are
 * holes in the allocation map; writing zeroes, zeroing and trimming delete
 * blocks rather than storing zeroes.
 */

import { python, run } from "@nbdts/native/testing";
import { describe, expect, test } from "vitest";
import { storedBlocks, testScope, withServer } from "./support/disks.js";

const scope = testScope();

interface MapEntry {
  offset: number;
  length: number;
  type: number;
  description: string;
}

async function map(uri: string): Promise<[number, number, string][]> {
  const result = await run("nbdinfo", ["--map", "--json", uri]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as MapEntry[]).map((entry) => [entry.offset, entry.length, entry.description]);
}

const K64 = 65536;

describe("the allocation map", () => {
  test("of a new disk is one hole that reads as zeroes", async () => {
    const file = scope.file();
    await withServer({ file, size: "10M" }, async (server) => {
      expect(await map(server.uri)).toEqual([[0, 10 * 1024 * 1024, "hole,zero"]]);
      expect(await python(server.uri, "print(h.pread(1 << 20, 5 << 20) == bytes(1 << 20))")).toBe("True\n");
    });
    expect(storedBlocks(file)).toBe(0);
  });

  test("shows each written block as data and the rest as holes, clipped to the disk's end", async () => {
    const file = scope.file();
    const size = 20 * K64 + 1000;
    await withServer({ file, size }, async (server) => {
      await python(
        server.uri,
        `
h.pwrite(b"x", ${3 * K64 + 5})
h.pwrite(b"y" * ${K64 + 2}, ${5 * K64 - 1})
h.pwrite(b"z", ${size - 1})
`,
      );
      expect(await map(server.uri)).toEqual([
        [0, 3 * K64, "hole,zero"],
        [3 * K64, K64, "data"],
        [4 * K64, 3 * K64, "data"],
        [7 * K64, 13 * K64, "hole,zero"],
        [20 * K64, 1000, "data"],
      ].reduce<[number, number, string][]>((merged, entry) => {
        // nbdinfo merges adjacent extents of one type.
        const last = merged[merged.length - 1];
        if (last !== undefined && last[2] === entry[2]) last[1] += entry[1] as number;
        else merged.push(entry as [number, number, string]);
        return merged;
      }, []));
    });
    expect(storedBlocks(file)).toBe(1 + 3 + 1);
  });

  test("of a 64 GiB disk with two blocks written is holes around them", async () => {
    const file = scope.file();
    const size = 64 * 1024 ** 3;
    await withServer({ file, size: "64G" }, async (server) => {
      await python(server.uri, `h.pwrite(b"a" * ${K64}, 0)\nh.pwrite(b"b", ${size - 1})`);
      expect(await map(server.uri)).toEqual([
        [0, K64, "data"],
        [K64, size - 2 * K64, "hole,zero"],
        [size - K64, K64, "data"],
      ]);
    });
  });
});

describe("the largest disk", () => {
  test("of 2^63−1 bytes is served, and its last 511 bytes are written and read back", async () => {
    const file = scope.file();
    const size = 2n ** 63n - 1n;
    await withServer({ file, size: size.toString() }, async (server) => {
      const out = await python(
        server.uri,
        `
size = h.get_size()
print(size)
print(h.pread(511, size - 511) == bytes(511))
h.pwrite(b"q" * 511, size - 511)
h.flush()
print(h.pread(511, size - 511) == b"q" * 511)
print(h.pread(1, size - 512) == b"\\0")
`,
      );
      expect(out).toBe(`${size}\nTrue\nTrue\nTrue\n`);
    });
    expect(storedBlocks(file)).toBe(1);
  });
});

describe("zeroes are never stored", () => {
  test("writing zeroes over blocks, zeroing and trimming whole blocks delete them", async () => {
    const file = scope.file();
    await withServer({ file, size: 16 * K64 }, async (server) => {
      await python(server.uri, `h.pwrite(os.urandom(${12 * K64}), 0)\nh.flush()`);
    });
    expect(storedBlocks(file)).toBe(12);

    await withServer({ file }, async (server) => {
      // Blocks 2 and 3 zeroed (even when the client forbids holes: a missing block reads as zeroes).
      await python(server.uri, `h.zero(${2 * K64}, ${2 * K64}, nbd.CMD_FLAG_NO_HOLE)\nh.flush()`);
    });
    expect(storedBlocks(file)).toBe(10);

    await withServer({ file }, async (server) => {
      await python(server.uri, `h.trim(${2 * K64}, ${5 * K64})\nh.flush()`);
    });
    expect(storedBlocks(file)).toBe(8);

    await withServer({ file }, async (server) => {
      await python(server.uri, `h.pwrite(bytes(${K64}), ${8 * K64})\nh.flush()`);
    });
    expect(storedBlocks(file)).toBe(7);

    await withServer({ file }, async (server) => {
      // Half of block 0 zeroed: it still holds data, so it stays.
      await python(server.uri, `h.zero(${K64 / 2}, 0)\nh.flush()`);
    });
    expect(storedBlocks(file)).toBe(7);

    await withServer({ file }, async (server) => {
      // The other half: now the block is all zeroes, so it goes.
      await python(server.uri, `h.pwrite(bytes(${K64 / 2}), ${K64 / 2})\nh.flush()`);
      expect(await map(server.uri)).toEqual([
        [0, K64, "hole,zero"],
        [K64, K64, "data"],
        [2 * K64, 2 * K64, "hole,zero"],
        [4 * K64, K64, "data"],
        [5 * K64, 2 * K64, "hole,zero"],
        [7 * K64, K64, "data"],
        [8 * K64, K64, "hole,zero"],
        [9 * K64, 3 * K64, "data"],
        [12 * K64, 4 * K64, "hole,zero"],
      ]);
      const zeroes = await python(
        server.uri,
        `print(all(h.pread(${K64}, i * ${K64}) == bytes(${K64}) for i in (0, 2, 3, 5, 6, 8)))`,
      );
      expect(zeroes).toBe("True\n");
    });
    expect(storedBlocks(file)).toBe(6);
  });

  test("a trim leaves the parts of blocks it does not cover whole as they were", async () => {
    const file = scope.file();
    await withServer({ file, size: 4 * K64 }, async (server) => {
      const out = await python(
        server.uri,
        `
data = os.urandom(${4 * K64})
h.pwrite(data, 0)
h.trim(${2 * K64}, ${K64 / 2})
print(h.pread(${K64 / 2}, 0) == data[:${K64 / 2}])
print(h.pread(${K64}, ${K64}) == bytes(${K64}))
print(h.pread(${K64 / 2}, ${2 * K64 + K64 / 2}) == data[${2 * K64 + K64 / 2}:${3 * K64}])
h.flush()
`,
      );
      expect(out).toBe("True\nTrue\nTrue\n");
    });
    expect(storedBlocks(file)).toBe(3);
  });
});
