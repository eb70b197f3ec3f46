// Zero and trim: zero makes every byte read back as zero whatever the flags
// (where nbdkit's Python S3 plugin leaves partial objects alone under
// may-trim); trim removes only whole objects. And write-through: an
// acknowledged write is in S3 before any flush.

import { python } from "@nbdts/native/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NbdkitServer } from "@nbdts/native/testing";
import { blockName, getObject, listBlocks, newBucket, startS3 } from "./support/s3.js";

const B = 65536;
let bucket: string;
let server: NbdkitServer;

beforeAll(async () => {
  bucket = await newBucket("zerotrim");
  server = await startS3(bucket, { key: "disk", size: "4M", "object-size": "64k" });
});

afterAll(async () => {
  await server?.stop();
});

/** Runs Python against the shared server with B (the object size) defined and objects filled by fill(first, count, byte). */
function py(code: string): Promise<string> {
  return python(
    server.uri,
    `
B = ${B}
def fill(first, count, byte):
    h.pwrite(bytes([byte]) * (count * B), first * B)
${code}`,
  );
}

/** The block numbers that exist as objects among [first, first + count). */
async function existing(first: number, count: number): Promise<number[]> {
  const names = new Set((await listBlocks(bucket, "disk")).keys());
  return Array.from({ length: count }, (_, i) => first + i).filter((n) => names.has(blockName("disk", n)));
}

describe("zero", () => {
  it("zeroes part of an object with the default flags (may-trim), keeping the rest", async () => {
    const out = await py(`
fill(0, 1, 0xab)
h.zero(100, 10)
d = h.pread(B, 0)
print(d[:10] == b"\\xab" * 10, d[10:110] == bytes(100), d[110:] == b"\\xab" * (B - 110))
`);
    expect(out.trim()).toBe("True True True");
    expect(await existing(0, 1)).toEqual([0]);
  });

  it("zeroes part of an object with NO_HOLE too", async () => {
    const out = await py(`
fill(1, 1, 0xcd)
h.zero(50, B + 1000, nbd.CMD_FLAG_NO_HOLE)
d = h.pread(B, B)
print(d[:1000] == b"\\xcd" * 1000, d[1000:1050] == bytes(50), d[1050:] == b"\\xcd" * (B - 1050))
`);
    expect(out.trim()).toBe("True True True");
  });

  it("over partial, whole and partial objects: rewrites the ends, deletes the middle", async () => {
    const out = await py(`
fill(4, 4, 0x11)
h.zero(2 * B + 200, 4 * B + 100)
d = h.pread(4 * B, 4 * B)
print(d[:100] == b"\\x11" * 100, d[100:2 * B + 300] == bytes(2 * B + 200), d[2 * B + 300:] == b"\\x11" * (2 * B - 300))
`);
    expect(out.trim()).toBe("True True True");
    expect(await existing(4, 4)).toEqual([4, 6, 7]);
  });

  it("deletes an object that the zeroed range leaves all zeroes", async () => {
    const out = await py(`
h.pwrite(b"q" * 100, 9 * B + 500)
h.zero(1000, 9 * B + 100)
print(h.pread(B, 9 * B) == bytes(B))
`);
    expect(out.trim()).toBe("True");
    expect(await existing(9, 1)).toEqual([]);
  });

  it("a fast zero that needs a read-modify-write fails with ENOTSUP and changes nothing", async () => {
    const out = await py(`
fill(12, 3, 0x22)
try:
    h.zero(2 * B, 12 * B + 10, nbd.CMD_FLAG_FAST_ZERO)
    print("succeeded")
except nbd.Error as e:
    print(e.errno)
print(h.pread(3 * B, 12 * B) == b"\\x22" * (3 * B))
`);
    expect(out.trim().split("\n")).toEqual(["ENOTSUP", "True"]);
    expect(await existing(12, 3)).toEqual([12, 13, 14]);
  });

  it("a fast zero of whole objects, or of part of a hole, succeeds", async () => {
    const out = await py(`
fill(16, 2, 0x33)
h.zero(2 * B, 16 * B, nbd.CMD_FLAG_FAST_ZERO)
h.zero(100, 20 * B + 5, nbd.CMD_FLAG_FAST_ZERO)
print(h.pread(2 * B, 16 * B) == bytes(2 * B))
`);
    expect(out.trim()).toBe("True");
    expect(await existing(16, 5)).toEqual([]);
  });
});

describe("trim", () => {
  it("deletes the objects it covers entirely and leaves partly covered ones as they are", async () => {
    const out = await py(`
fill(24, 4, 0x44)
h.trim(2 * B + 200, 24 * B + 100)
print(h.pread(100, 24 * B) == b"\\x44" * 100, h.pread(B - 100, 24 * B + 100) == b"\\x44" * (B - 100))
print(h.pread(B, 25 * B) == bytes(B))
print(h.pread(2 * B, 26 * B) == b"\\x44" * (2 * B))
`);
    expect(out.trim().split("\n")).toEqual(["True True", "True", "True"]);
    expect(await existing(24, 4)).toEqual([24, 26, 27]);
  });
});

describe("durability", () => {
  it("a write is in S3 when it is acknowledged, before any flush; flush and FUA succeed", async () => {
    const out = await py(`
h.pwrite(b"W" * B, 32 * B)
print("written")
`);
    expect(out.trim()).toBe("written");
    expect((await getObject(bucket, blockName("disk", 32)))?.equals(Buffer.alloc(B, "W"))).toBe(true);
    const fua = await py(`
h.pwrite(b"F" * 10, 33 * B + 5, nbd.CMD_FLAG_FUA)
h.flush()
print("ok")
`);
    expect(fua.trim()).toBe("ok");
    const object = await getObject(bucket, blockName("disk", 33));
    expect(object?.subarray(5, 15).equals(Buffer.alloc(10, "F"))).toBe(true);
  });
});
