/**
 * The block layer on its own, on real SQLite files: thousands of random
 * unaligned reads, writes, zeroes and trims checked against a plain byte
 * array, for several block sizes and a disk whose size is not a whole number
 * of blocks. (The end-to-end suites run the same code under nbdkit.)
 */

import { randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import { DiskFile } from "../src/store.js";
import { testScope } from "./support/disks.js";

const scope = testScope();

function openTemp(): { file: DiskFile } {
  const file = DiskFile.open(scope.file());
  scope.defer(() => file.close());
  return { file };
}

/** A deterministic pseudo-random generator (xorshift32), so a failure can be replayed. */
function generator(seed: number): (limit: number) => number {
  let state = seed >>> 0 || 1;
  return (limit) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % limit;
  };
}

function isZero(bytes: Uint8Array): boolean {
  return bytes.every((byte) => byte === 0);
}

describe.each([4096, 65536, 1048576])("a disk with %i-byte blocks", (blockSize) => {
  test("matches a byte array through random unaligned writes, zeroes, trims and reads", () => {
    const { file } = openTemp();
    const size = blockSize * 24 + 1234; // the last block is partial
    const info = file.create("", BigInt(size), blockSize);
    const disk = file.disk(info);
    const model = new Uint8Array(size);
    const random = generator(blockSize);
    const requestLimit = blockSize * 3;

    for (let step = 0; step < 600; step++) {
      const offset = random(size);
      const count = 1 + random(Math.min(requestLimit, size - offset));
      switch (random(5)) {
        case 0:
        case 1: {
          // Random data, or (a fifth of the time) zeroes written as data.
          const data = random(5) === 0 ? Buffer.alloc(count) : randomBytes(count);
          disk.write(data, BigInt(offset));
          model.set(data, offset);
          break;
        }
        case 2:
          disk.zero(count, BigInt(offset));
          model.fill(0, offset, offset + count);
          break;
        case 3: {
          // A trim discards the blocks it covers whole (they then read as
          // zeroes) and leaves partly covered blocks as they were.
          disk.trim(count, BigInt(offset));
          const firstWhole = Math.ceil(offset / blockSize);
          const end = offset + count;
          const wholeEnd = end >= size ? size : Math.floor(end / blockSize) * blockSize;
          if (firstWhole * blockSize < wholeEnd) model.fill(0, firstWhole * blockSize, wholeEnd);
          break;
        }
        case 4: {
          const buf = Buffer.alloc(count, 0xee);
          disk.read(buf, BigInt(offset));
          expect(Buffer.compare(buf, model.subarray(offset, offset + count)), `read at ${offset}+${count}, step ${step}`).toBe(0);
          break;
        }
      }
      if (random(50) === 0) file.flush();
    }

    const whole = Buffer.alloc(size, 0xee);
    disk.read(whole, 0n);
    expect(Buffer.compare(whole, model)).toBe(0);

    // Stored blocks are exactly the blocks with a non-zero byte.
    file.flush();
    const extents = disk.extents(size, 0n, false);
    for (const extent of extents) {
      const start = Number(extent.offset);
      const bytes = model.subarray(start, start + Number(extent.length));
      if (extent.hole === true) expect(isZero(bytes), `hole at ${start}`).toBe(true);
    }
    let expectedBlocks = 0;
    for (let start = 0; start < size; start += blockSize) {
      if (!isZero(model.subarray(start, start + blockSize))) expectedBlocks++;
    }
    expect(file.storedBlocks(info)).toBe(expectedBlocks);
  });
});

describe("extents", () => {
  test("are runs of whole blocks of data and holes, clipped to the request, and reqOne returns only the first", () => {
    const { file } = openTemp();
    const bs = 4096;
    const info = file.create("", BigInt(bs * 10 + 100), bs);
    const disk = file.disk(info);
    disk.write(Buffer.alloc(10, 1), BigInt(bs * 2 + 5)); // block 2
    disk.write(Buffer.alloc(bs + 1, 1), BigInt(bs * 3)); // blocks 3 and 4
    disk.write(Buffer.alloc(10, 1), BigInt(bs * 10)); // the partial last block

    const plain = (extents: ReturnType<typeof disk.extents>) =>
      extents.map((extent) => [Number(extent.offset), Number(extent.length), extent.hole]);
    expect(plain(disk.extents(bs * 10 + 100, 0n, false))).toEqual([
      [0, bs * 2, true],
      [bs * 2, bs * 3, false],
      [bs * 5, bs * 5, true],
      [bs * 10, 100, false],
    ]);
    // Inside blocks: clipped to the request at both ends.
    expect(plain(disk.extents(100, BigInt(bs * 6 + 7), false))).toEqual([[bs * 6 + 7, 100, true]]);
    expect(plain(disk.extents(bs, BigInt(bs * 2 + 7), false))).toEqual([[bs * 2 + 7, bs, false]]);
    expect(plain(disk.extents(bs * 10, 0n, true))).toEqual([[0, bs * 2, true]]);
    expect(plain(disk.extents(bs * 10, BigInt(bs * 2), true))).toEqual([[bs * 2, bs * 3, false]]);
  });
});

describe("resize", () => {
  test("shrinking discards the data past the end, and growing again shows zeroes there", () => {
    const { file } = openTemp();
    const bs = 4096;
    const info = file.create("d", BigInt(bs * 4), bs);
    file.disk(info).write(Buffer.alloc(bs * 4, 7), 0n);
    file.flush();

    file.resize("d", BigInt(bs + 10));
    expect(file.storedBlocks(file.get("d"))).toBe(2);
    const grown = file.resize("d", BigInt(bs * 4));
    const buf = Buffer.alloc(bs * 4);
    file.disk(grown).read(buf, 0n);
    expect(isZero(buf.subarray(0, bs + 10).map((byte) => byte - 7))).toBe(true);
    expect(isZero(buf.subarray(bs + 10))).toBe(true);
  });
});
