// Data integrity: what goes in comes out, through real clients (nbdcopy,
// qemu-io, libnbd), across object boundaries, across restarts, and under
// concurrent partial writes to one object from several connections.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { overlappingConnections, python, run } from "@nbdts/native/testing";
import { describe, expect, it } from "vitest";
import {
  blockName,
  blockRequests,
  gatewayParams,
  listBlocks,
  newBucket,
  runS3,
  scratchDir,
  startS3,
  waitForLogCount,
  writeFile,
} from "./support/s3.js";

const dir = scratchDir();

describe("nbdcopy", () => {
  for (const objectSize of [64 * 1024, 1024 * 1024]) {
    it(`copies random data in and out unchanged, with objects of ${objectSize / 1024}K`, async () => {
      const bucket = await newBucket("nbdcopy");
      const size = 8 * 1024 * 1024;
      // Not a whole number of objects: the last object is written in part.
      const data = randomBytes(3 * 1024 * 1024 + 777);
      const input = writeFile(dir, `in-${objectSize}`, data);
      const output = join(dir, `out-${objectSize}`);
      const result = await runS3(
        { ...gatewayParams(bucket), key: "disk", size: String(size), "object-size": String(objectSize) },
        { nbdkitArgs: ["-U", "-", "--run", `nbdcopy ${input} "$uri" && nbdcopy "$uri" ${output}`] },
      );
      expect(result.code, result.stderr).toBe(0);
      const copied = readFileSync(output);
      expect(copied.length).toBe(size);
      expect(copied.subarray(0, data.length).equals(data)).toBe(true);
      expect(copied.subarray(data.length).equals(Buffer.alloc(size - data.length))).toBe(true);

      // The layout: one object per written block, each exactly object-size bytes.
      const objects = await listBlocks(bucket, "disk");
      const blocks = Math.ceil(data.length / objectSize);
      expect([...objects.keys()]).toEqual(Array.from({ length: blocks }, (_, n) => blockName("disk", n)));
      expect(new Set(objects.values())).toEqual(new Set([objectSize]));
    });
  }
});

describe("qemu-io patterns", () => {
  it("writes and reads patterns across object boundaries, and they survive a restart", async () => {
    const bucket = await newBucket("qemuio");
    const params = { ...gatewayParams(bucket), key: "vm/disk", size: "1M", "object-size": "64k" };
    const writes = [
      ["0xaa", "60k", "10k"], // across the boundary at 64k
      ["0xbb", "127k", "130k"], // across 128k and 192k, covering object 2 entirely
      ["0xcc", "512", "512"], // a sector inside object 0
      ["0xdd", "1020k", "4k"], // the end of the disk
    ] as const;
    const reads = [
      "read -P 0 0 512",
      "read -P 0xcc 512 512",
      "read -P 0 1k 59k",
      "read -P 0xaa 60k 10k",
      "read -P 0 70k 57k",
      "read -P 0xbb 127k 130k",
      "read -P 0 257k 763k",
      "read -P 0xdd 1020k 4k",
    ];
    const qemuIo = (commands: readonly string[]) =>
      `qemu-io -f raw ${commands.map((command) => `-c '${command}'`).join(" ")} "$uri"`;
    const first = await runS3(params, {
      nbdkitArgs: ["-U", "-", "--run", qemuIo([...writes.map(([p, at, n]) => `write -P ${p} ${at} ${n}`), ...reads])],
    });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).not.toMatch(/Pattern verification failed/);

    const second = await runS3(params, { nbdkitArgs: ["-U", "-", "--run", qemuIo(reads)] });
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).not.toMatch(/Pattern verification failed/);

    const objects = await listBlocks(bucket, "vm/disk");
    expect([...objects.keys()]).toEqual([0, 1, 2, 3, 4, 15].map((n) => blockName("vm/disk", n)));
  });
});

describe("objects larger than nbdkit's 64K block size limit", () => {
  it("work without any filter: the minimum block size is 1, the preferred is the object size", async () => {
    const bucket = await newBucket("bigobjects");
    const server = await startS3(bucket, { key: "disk", size: "32M", "object-size": "4M" });
    try {
      const info = JSON.parse((await run("nbdinfo", ["--json", server.uri])).stdout) as {
        exports: { block_size_minimum: number; block_size_preferred: number }[];
      };
      expect(info.exports[0]!.block_size_minimum).toBe(1);
      expect(info.exports[0]!.block_size_preferred).toBe(4 * 1024 * 1024);
      const out = await python(
        server.uri,
        `
import random
random.seed(7)
M = 4 * 1024 * 1024
model = bytearray(8 * M)
for i in range(40):
    off = random.randrange(0, len(model) - 8192)
    n = random.choice([1, 100, 512, 4096, 8192])
    data = bytes([random.randrange(1, 256)]) * n
    h.pwrite(data, off)
    model[off:off + n] = data
print(h.pread(len(model), 0) == bytes(model))
`,
      );
      expect(out.trim()).toBe("True");
    } finally {
      await server.stop();
    }
  });
});

describe("concurrency", () => {
  it("concurrent partial writes to one object from four connections all land (per-object read-modify-write lock)", async () => {
    const bucket = await newBucket("rmwlock");
    const server = await startS3(bucket, { key: "disk", size: "1M", "object-size": "64k" });
    try {
      // 64 writes of 1K into object 0, all in flight at once, spread over 4 connections.
      await overlappingConnections(server.uri, { connections: 4, requests: 16, length: 1024 });
    } finally {
      await server.stop();
    }
  });

  it("a request spanning many objects runs its object operations concurrently", async () => {
    const bucket = await newBucket("spanning");
    const server = await startS3(bucket, { key: "disk", size: "16M", "object-size": "64k" }, { nbdkitArgs: ["-v"] });
    try {
      const wallMs = Number(
        await python(
          server.uri,
          `
import time
data = os.urandom(4 * 1024 * 1024)
t = time.monotonic()
h.pwrite(data, 0)
print((time.monotonic() - t) * 1000)
`,
        ),
      );
      // Under -v every S3 exchange is logged when it ends, with its duration.
      // Done one after another, the 64 PUTs would last at most the request's
      // wall time in total; overlapping, their durations add up to more.
      const putLines = (log: string) => blockRequests(log, bucket, "disk", "PUT").map((request) => request.line);
      expect(await waitForLogCount(server, (log) => putLines(log).length, 64)).toBe(64);
      const puts = putLines(server.log()).map((line) => Number(/-> 200 in (\d+) ms/.exec(line)![1]));
      const sum = puts.reduce((a, b) => a + b, 0);
      expect(sum).toBeGreaterThan(2 * wallMs);
    } finally {
      await server.stop();
    }
  });
});
