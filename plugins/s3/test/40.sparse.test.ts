// Sparseness: the plugin knows which objects exist (listed at start-up,
// then kept up to date), reports holes as extents, reads holes without
// asking S3, and never stores an object of zeroes.

import { join } from "node:path";
import { python, run } from "@nbdts/native/testing";
import { describe, expect, it } from "vitest";
import {
  blockName,
  gatewayParams,
  blockRequests,
  listBlocks,
  loggedRequests,
  newBucket,
  putObject,
  runS3,
  scratchDir,
  startS3,
  waitForLogCount,
} from "./support/s3.js";

const K64 = 64 * 1024;

interface MapEntry {
  offset: number;
  length: number;
  description: string;
}

/** The allocation map as nbdinfo --map reports it (NBD block status). */
async function allocationMap(uri: string): Promise<MapEntry[]> {
  const result = await run("nbdinfo", ["--map", "--json", uri]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as MapEntry[]).map(({ offset, length, description }) => ({ offset, length, description }));
}

describe("extents", () => {
  it("a new disk is one hole", async () => {
    const bucket = await newBucket("fresh");
    const server = await startS3(bucket, { key: "disk", size: "1G" });
    try {
      expect(await allocationMap(server.uri)).toEqual([{ offset: 0, length: 2 ** 30, description: "hole,zero" }]);
    } finally {
      await server.stop();
    }
  });

  it("data exactly where objects exist, after writes and again after a restart (listed at start-up)", async () => {
    const bucket = await newBucket("extents");
    const params = { key: "disk", size: "16M", "object-size": "64k" };
    const expected = [
      { offset: 0, length: K64, description: "data" },
      { offset: K64, length: 4 * K64, description: "hole,zero" },
      { offset: 5 * K64, length: 2 * K64, description: "data" },
      { offset: 7 * K64, length: 93 * K64, description: "hole,zero" },
      { offset: 100 * K64, length: K64, description: "data" },
      { offset: 101 * K64, length: 155 * K64, description: "hole,zero" },
    ];
    const server = await startS3(bucket, params);
    try {
      await python(
        server.uri,
        `
h.pwrite(b"a" * 10, 100)
h.pwrite(b"b" * 20, 6 * 65536 - 10)
h.pwrite(b"c" * 65536, 100 * 65536)
`,
      );
      expect(await allocationMap(server.uri)).toEqual(expected);
    } finally {
      await server.stop();
    }
    const again = await startS3(bucket, params);
    try {
      expect(await allocationMap(again.uri)).toEqual(expected);
    } finally {
      await again.stop();
    }
  });
});

describe("zero-block elision", () => {
  it("a whole object of zeroes is never stored, and replaces an existing object by a hole", async () => {
    const bucket = await newBucket("elide");
    const server = await startS3(bucket, { key: "disk", size: "1M", "object-size": "64k" });
    try {
      await python(
        server.uri,
        `
h.pwrite(bytes(65536), 0)              # zeroes where nothing was
h.pwrite(b"x" * 65536, 3 * 65536)
h.pwrite(b"y" * 65536, 4 * 65536)
h.pwrite(bytes(65536), 3 * 65536)      # zeroes over data
h.pwrite(bytes(100), 4 * 65536 + 50)   # part of an object: it keeps data
`,
      );
      expect([...(await listBlocks(bucket, "disk")).keys()]).toEqual([blockName("disk", 4)]);
      const out = await python(server.uri, "print(h.pread(65536, 3 * 65536) == bytes(65536))");
      expect(out.trim()).toBe("True");
    } finally {
      await server.stop();
    }
  });

  it("a partial write that leaves an object all zeroes deletes it", async () => {
    const bucket = await newBucket("elidepartial");
    const server = await startS3(bucket, { key: "disk", size: "1M", "object-size": "64k" });
    try {
      await python(server.uri, `h.pwrite(b"z" * 100, 2 * 65536 + 1000)`);
      expect([...(await listBlocks(bucket, "disk")).keys()]).toEqual([blockName("disk", 2)]);
      await python(server.uri, `h.pwrite(bytes(100), 2 * 65536 + 1000)`);
      expect((await listBlocks(bucket, "disk")).size).toBe(0);
    } finally {
      await server.stop();
    }
  });
});

describe("reading holes", () => {
  it("makes no S3 request; reading data makes one GET per object", async () => {
    const bucket = await newBucket("holes");
    await putObject(bucket, blockName("disk", 7), Buffer.alloc(K64, 0x77));
    const server = await startS3(bucket, { key: "disk", size: "64M", "object-size": "64k" }, { nbdkitArgs: ["-v"] });
    try {
      const gets = (log: string) => blockRequests(log, bucket, "disk", "GET");
      const before = gets(server.log()).length;
      const out = await python(
        server.uri,
        `
print(h.pread(4 * 1024 * 1024, 32 * 1024 * 1024) == bytes(4 * 1024 * 1024))   # 64 holes
print(h.pread(65536, 7 * 65536) == b"\\x77" * 65536)                          # one object
`,
      );
      expect(out.split("\n").slice(0, 2)).toEqual(["True", "True"]);
      // Debug lines arrive in order: once the GET of the object is logged,
      // any request for the holes, made earlier, would be logged too.
      expect(await waitForLogCount(server, (log) => gets(log).length, before + 1)).toBe(before + 1);
      const after = gets(server.log()).slice(before);
      expect(after.map((r) => r.path)).toEqual([`/${bucket}/${blockName("disk", 7)}`]);
    } finally {
      await server.stop();
    }
  });

  it("nbdcopy of a mostly empty disk GETs only the objects that exist", async () => {
    const bucket = await newBucket("sparsecopy");
    for (const n of [0, 100, 1000]) await putObject(bucket, blockName("disk", n), Buffer.alloc(1024 * 1024, n % 251));
    const output = join(scratchDir(), "copy");
    const result = await runS3(
      { ...gatewayParams(bucket), key: "disk", size: "1G" },
      { nbdkitArgs: ["-v", "-U", "-", "--run", `nbdcopy "$uri" ${output}`] },
    );
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    const gets = blockRequests(result.stderr, bucket, "disk", "GET");
    expect(gets.map((r) => r.path).sort()).toEqual([0, 100, 1000].map((n) => `/${bucket}/${blockName("disk", n)}`).sort());
  });
});

describe("many objects", () => {
  it("a disk of more than 1000 objects is listed across pages, and a whole-device trim deletes them in batches", async () => {
    const bucket = await newBucket("pages");
    const params = { key: "disk", size: "8M", "object-size": "4k" };
    const count = 1500;
    const first = await startS3(bucket, params);
    try {
      await python(first.uri, `h.pwrite(os.urandom(${count * 4096}), 0)`, { timeoutMs: 120_000 });
    } finally {
      await first.stop();
    }
    expect((await listBlocks(bucket, "disk")).size).toBe(count);

    const second = await startS3(bucket, params, { nbdkitArgs: ["-v"] });
    try {
      expect(await allocationMap(second.uri)).toEqual([
        { offset: 0, length: count * 4096, description: "data" },
        { offset: count * 4096, length: 8 * 1024 * 1024 - count * 4096, description: "hole,zero" },
      ]);
      const lists = loggedRequests(second.log()).filter((r) => r.method === "GET" && r.query.includes("list-type=2"));
      expect(lists.length).toBe(2);
      await python(second.uri, "h.trim(h.get_size(), 0)");
      expect(await allocationMap(second.uri)).toEqual([{ offset: 0, length: 8 * 1024 * 1024, description: "hole,zero" }]);
      const batches = (log: string) => loggedRequests(log).filter((r) => r.method === "POST" && /(^|&)delete(&|=|$)/.test(r.query));
      expect(await waitForLogCount(second, (log) => batches(log).length, 2)).toBe(2);
    } finally {
      await second.stop();
    }
    expect((await listBlocks(bucket, "disk")).size).toBe(0);
  });
});
