import { describe, expect, it } from "vitest";
import { PAGE_SIZE, PAGES_PER_DIRECTORY, SparsePageMap } from "../src/page-map.js";

const LARGEST = (1n << 63n) - 1n;

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function filled(length: number, value: number): Buffer {
  return Buffer.alloc(length, value);
}

function readBack(map: SparsePageMap, offset: bigint, length: number): Buffer {
  const out = Buffer.alloc(length, 0xee);
  map.read(out, offset);
  return out;
}

describe("SparsePageMap", () => {
  it("reads zeroes where nothing was written, and allocates nothing for it", () => {
    const map = new SparsePageMap(1n << 40n);
    expect(readBack(map, 12345n, 3 * PAGE_SIZE).equals(Buffer.alloc(3 * PAGE_SIZE))).toBe(true);
    expect(map.allocatedBytes).toBe(0);
  });

  it("stores a write that straddles page boundaries and reads it back", () => {
    const map = new SparsePageMap(1n << 30n);
    const data = Buffer.from(Array.from({ length: 2 * PAGE_SIZE + 10 }, (_, i) => (i * 7) & 0xff));
    const offset = BigInt(PAGE_SIZE - 5);
    map.write(data, offset);
    expect(readBack(map, offset, data.length).equals(data)).toBe(true);
    // Four pages: the tail of page 0, pages 1 and 2, the head of page 3.
    expect(map.allocatedBytes).toBe(4 * PAGE_SIZE);
    // The bytes around the write are still zero.
    expect(readBack(map, 0n, PAGE_SIZE - 5).equals(Buffer.alloc(PAGE_SIZE - 5))).toBe(true);
    expect(readBack(map, offset + BigInt(data.length), 5).equals(Buffer.alloc(5))).toBe(true);
  });

  it("matches a flat byte array over a random sequence of writes, zeroes and reads", () => {
    const size = 6 * PAGE_SIZE + 123;
    const model = Buffer.alloc(size);
    const map = new SparsePageMap(BigInt(size));
    const next = random(42);
    for (let step = 0; step < 2000; step++) {
      const offset = Math.floor(next() * size);
      const length = Math.max(1, Math.floor(next() * Math.min(size - offset, 2 * PAGE_SIZE + 17)));
      const op = next();
      if (op < 0.45) {
        const data = Buffer.alloc(length);
        for (let i = 0; i < length; i++) data[i] = Math.floor(next() * 256);
        data.copy(model, offset);
        map.write(data, BigInt(offset));
      } else if (op < 0.7) {
        model.fill(0, offset, offset + length);
        map.zero(length, BigInt(offset));
      } else {
        const got = readBack(map, BigInt(offset), length);
        expect(got.equals(model.subarray(offset, offset + length)), `read of ${length} at ${offset}, step ${step}`).toBe(true);
      }
    }
    expect(readBack(map, 0n, size).equals(model)).toBe(true);
  });

  it("frees the pages a zero covers whole and clears the others", () => {
    const map = new SparsePageMap(1n << 30n);
    map.write(filled(4 * PAGE_SIZE, 0xab), 0n);
    expect(map.allocatedBytes).toBe(4 * PAGE_SIZE);
    // From the middle of page 0 to the middle of page 3: pages 1 and 2 go.
    map.zero(3 * PAGE_SIZE, BigInt(PAGE_SIZE / 2));
    expect(map.allocatedBytes).toBe(2 * PAGE_SIZE);
    expect(readBack(map, 0n, PAGE_SIZE / 2).equals(filled(PAGE_SIZE / 2, 0xab))).toBe(true);
    expect(readBack(map, BigInt(PAGE_SIZE / 2), 3 * PAGE_SIZE).equals(Buffer.alloc(3 * PAGE_SIZE))).toBe(true);
    expect(readBack(map, BigInt(3 * PAGE_SIZE + PAGE_SIZE / 2), PAGE_SIZE / 2).equals(filled(PAGE_SIZE / 2, 0xab))).toBe(true);
  });

  it("frees a partially zeroed page once all of it reads as zero", () => {
    const map = new SparsePageMap(1n << 30n);
    map.write(filled(100, 1), 1000n);
    expect(map.allocatedBytes).toBe(PAGE_SIZE);
    map.zero(50, 1000n);
    expect(map.allocatedBytes).toBe(PAGE_SIZE);
    map.zero(50, 1050n);
    expect(map.allocatedBytes).toBe(0);
  });

  it("reports extents from the requested offset: data where pages exist, holes that read as zero elsewhere", () => {
    const map = new SparsePageMap(1n << 40n);
    const page = BigInt(PAGE_SIZE);
    map.write(filled(10, 1), 2n * page + 5n);
    map.write(filled(10, 1), 3n * page);
    map.write(filled(10, 1), 7n * page);
    expect(map.extents(10 * PAGE_SIZE, 100n)).toEqual([
      { offset: 100n, length: 2n * page - 100n, hole: true, zero: true },
      { offset: 2n * page, length: 2n * page, hole: false, zero: false },
      { offset: 4n * page, length: 3n * page, hole: true, zero: true },
      { offset: 7n * page, length: page, hole: false, zero: false },
      { offset: 8n * page, length: 2n * page + 100n, hole: true, zero: true },
    ]);
  });

  it("returns only the first extent when the client asks for one", () => {
    const map = new SparsePageMap(1n << 40n);
    map.write(filled(10, 1), BigInt(5 * PAGE_SIZE));
    expect(map.extents(10 * PAGE_SIZE, 0n, true)).toEqual([
      { offset: 0n, length: BigInt(5 * PAGE_SIZE), hole: true, zero: true },
    ]);
  });

  it("describes a 4 GiB stretch with data 1 TiB apart in directories it skips whole", () => {
    const map = new SparsePageMap(1n << 50n);
    const far = 1n << 40n;
    map.write(filled(1, 9), far);
    map.write(filled(1, 9), far + (1n << 31n));
    const extents = map.extents(0xffffffff, far - 1000n);
    expect(extents.map((e) => [e.offset, e.length, e.hole])).toEqual([
      [far - 1000n, 1000n, true],
      [far, BigInt(PAGE_SIZE), false],
      [far + BigInt(PAGE_SIZE), (1n << 31n) - BigInt(PAGE_SIZE), true],
      [far + (1n << 31n), BigInt(PAGE_SIZE), false],
      [far + (1n << 31n) + BigInt(PAGE_SIZE), far - 1000n + 0xffffffffn - (far + (1n << 31n) + BigInt(PAGE_SIZE)), true],
    ]);
    // Each directory spans PAGES_PER_DIRECTORY pages; the two writes made two.
    expect(PAGES_PER_DIRECTORY * PAGE_SIZE).toBe(128 * 1024 * 1024);
    expect(map.allocatedBytes).toBe(2 * PAGE_SIZE);
  });

  it("addresses the last bytes of a 2^63-1-byte disk exactly", () => {
    const map = new SparsePageMap(LARGEST);
    const tail = Buffer.from(Array.from({ length: 511 }, (_, i) => (i * 13 + 1) & 0xff));
    map.write(tail, LARGEST - 511n);
    expect(readBack(map, LARGEST - 511n, 511).equals(tail)).toBe(true);
    // One byte before it was never written.
    expect(readBack(map, LARGEST - 512n, 1)[0]).toBe(0);
    // The last page starts 65535 bytes before the end (2^63-1 is one short
    // of a page boundary), so the last 1024 bytes are all in it.
    expect(map.extents(1024, LARGEST - 1024n)).toEqual([{ offset: LARGEST - 1024n, length: 1024n, hole: false, zero: false }]);
    expect(map.extents(PAGE_SIZE, LARGEST - BigInt(PAGE_SIZE))).toEqual([
      { offset: LARGEST - BigInt(PAGE_SIZE), length: 1n, hole: true, zero: true },
      { offset: LARGEST - BigInt(PAGE_SIZE) + 1n, length: BigInt(PAGE_SIZE) - 1n, hole: false, zero: false },
    ]);
    map.zero(511, LARGEST - 511n);
    expect(map.allocatedBytes).toBe(0);
  });

  it("refuses a size beyond 2^63-1", () => {
    expect(() => new SparsePageMap(1n << 63n)).toThrow(/out of range: expected 0 to 2\^63-1 bytes/);
  });
});
