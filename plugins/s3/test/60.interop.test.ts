// Compatibility with nbdkit's own S3 plugin (Python, `nbdkit S3`) on the
// same gateway: a disk written by either is read by the other.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { python, run } from "@nbdts/native/testing";
import { describe, expect, it } from "vitest";
import {
  gatewayParams,
  getObject,
  listBlocks,
  newBucket,
  putObject,
  runPeer,
  runS3,
  scratchDir,
  startS3,
  writeFile,
} from "./support/s3.js";

const dir = scratchDir();
/** The filter nbdkit's S3 plugin needs for objects above 64K (reference/s3.md §7.2). */
const PEER_LARGE_OBJECTS = ["--filter=blocksize-policy"];
const PEER_LARGE_OBJECT_PARAMS = { "blocksize-minimum": "1", "blocksize-preferred": "1M", "blocksize-maximum": "32M" };

/** Random data with runs of zeroes, so that both plugins make holes too. */
function sparseRandom(size: number, objectSize: number): Buffer {
  const data = randomBytes(size);
  data.fill(0, 2 * objectSize, 4 * objectSize); // whole objects of zeroes
  data.fill(0, 5 * objectSize + 100, 5 * objectSize + 300); // a run inside an object
  return data;
}

describe("a disk written by nbdkit's S3 plugin", () => {
  it("is read back unchanged by this plugin, which finds the object size from the objects", async () => {
    const bucket = await newBucket("frompeer");
    // nbdkit's S3 plugin takes only whole objects (its minimum block size is the object size).
    const data = sparseRandom(2 * 1024 * 1024 + 65536, 65536);
    const input = writeFile(dir, "peer-in", data);
    const written = await runPeer(bucket, { key: "disk", size: "16M", "object-size": "64k" }, `nbdcopy ${input} "$uri"`);
    expect(written.code, written.stderr).toBe(0);

    const output = join(dir, "ours-out");
    const read = await runS3(
      { ...gatewayParams(bucket), key: "disk", size: "16M" },
      { nbdkitArgs: ["-U", "-", "--run", `nbdinfo --json "$uri" > ${output}.json && nbdcopy "$uri" ${output}`] },
    );
    expect(read.code, read.stderr).toBe(0);
    const copied = readFileSync(output);
    expect(copied.subarray(0, data.length).equals(data)).toBe(true);
    expect(copied.subarray(data.length).equals(Buffer.alloc(copied.length - data.length))).toBe(true);
    const info = JSON.parse(readFileSync(`${output}.json`, "utf8")) as { exports: { block_size_preferred: number }[] };
    expect(info.exports[0]!.block_size_preferred).toBe(65536);
  });

  it("has its stored all-zero objects read as zeroes, and zeroed away by this plugin", async () => {
    const bucket = await newBucket("peerzeroes");
    const written = await runPeer(
      bucket,
      { key: "disk", size: "1M", "object-size": "64k" },
      `/usr/bin/python3 -c 'import nbd, sys; h = nbd.NBD(); h.connect_uri(sys.argv[1]); h.pwrite(bytes(65536), 5 * 65536)' "$uri"`,
    );
    expect(written.code, written.stderr).toBe(0);
    // nbdkit's S3 plugin stores zeroes as an object (reference/s3.md §7).
    expect((await getObject(bucket, "disk/0000000000000005"))?.length).toBe(65536);

    const server = await startS3(bucket, { key: "disk", size: "1M" });
    try {
      const out = await python(server.uri, "print(h.pread(65536, 5 * 65536) == bytes(65536))\nh.zero(65536, 5 * 65536)");
      expect(out.trim()).toBe("True");
      expect((await listBlocks(bucket, "disk")).size).toBe(0);
    } finally {
      await server.stop();
    }
  });
});

describe("a disk written by this plugin", () => {
  it("is read back unchanged by nbdkit's S3 plugin, with 64K objects", async () => {
    const bucket = await newBucket("topeer64k");
    const data = sparseRandom(1024 * 1024 + 512, 65536);
    const input = writeFile(dir, "ours-in-64k", data);
    const written = await runS3(
      { ...gatewayParams(bucket), key: "disk", size: "8M", "object-size": "64k" },
      { nbdkitArgs: ["-U", "-", "--run", `nbdcopy ${input} "$uri"`] },
    );
    expect(written.code, written.stderr).toBe(0);

    const output = join(dir, "peer-out-64k");
    const read = await runPeer(bucket, { key: "disk", size: "8M", "object-size": "64k" }, `nbdcopy "$uri" ${output}`);
    expect(read.code, read.stderr).toBe(0);
    const copied = readFileSync(output);
    expect(copied.subarray(0, data.length).equals(data)).toBe(true);
    expect(copied.subarray(data.length).equals(Buffer.alloc(copied.length - data.length))).toBe(true);
  });

  it("is read back unchanged by nbdkit's S3 plugin, with 1M objects (through its blocksize-policy filter)", async () => {
    const bucket = await newBucket("topeer1m");
    const data = sparseRandom(5 * 1024 * 1024 + 12345, 1024 * 1024);
    const input = writeFile(dir, "ours-in-1m", data);
    const written = await runS3(
      { ...gatewayParams(bucket), key: "vm/web1", size: "16M" },
      { nbdkitArgs: ["-U", "-", "--run", `nbdcopy ${input} "$uri"`] },
    );
    expect(written.code, written.stderr).toBe(0);

    const output = join(dir, "peer-out-1m");
    const read = await runPeer(
      bucket,
      { key: "vm/web1", size: "16M", "object-size": "1M", ...PEER_LARGE_OBJECT_PARAMS },
      `nbdcopy "$uri" ${output}`,
      { filterArgs: PEER_LARGE_OBJECTS },
    );
    expect(read.code, read.stderr).toBe(0);
    const copied = readFileSync(output);
    expect(copied.subarray(0, data.length).equals(data)).toBe(true);
    expect(copied.subarray(data.length).equals(Buffer.alloc(copied.length - data.length))).toBe(true);
  });

  it("keeps its writer lock when nbdkit's S3 plugin trims the whole disk, since the lock sorts after every block", async () => {
    const bucket = await newBucket("peertrim");
    const server = await startS3(bucket, { key: "disk", size: "1M", "object-size": "64k" });
    try {
      await python(server.uri, "h.pwrite(b'x' * 65536, 0)");
      const trimmed = await runPeer(
        bucket,
        { key: "disk", size: "1M", "object-size": "64k" },
        `/usr/bin/python3 -c 'import nbd, sys; h = nbd.NBD(); h.connect_uri(sys.argv[1]); h.trim(h.get_size(), 0)' "$uri"`,
      );
      expect(trimmed.code, trimmed.stderr).toBe(0);
      expect((await listBlocks(bucket, "disk")).size).toBe(0);
      expect(await getObject(bucket, "disk/nbdts.lock")).toBeDefined();
    } finally {
      await server.stop();
    }
  });
});

describe("single-object mode", () => {
  it("serves one existing object read-only, as nbdkit's S3 plugin does without size", async () => {
    const bucket = await newBucket("single");
    const data = randomBytes(3 * 1024 * 1024 + 1234);
    await putObject(bucket, "images/base.raw", data);
    const server = await startS3(bucket, { key: "images/base.raw" });
    try {
      const info = JSON.parse((await run("nbdinfo", ["--json", server.uri])).stdout) as {
        exports: { "export-size": number; is_read_only: boolean }[];
      };
      expect(info.exports[0]!["export-size"]).toBe(data.length);
      expect(info.exports[0]!.is_read_only).toBe(true);
      const output = join(dir, "single-out");
      const copy = await run("nbdcopy", [server.uri, output]);
      expect(copy.code, copy.stderr).toBe(0);
      expect(readFileSync(output).equals(data)).toBe(true);
      const out = await python(
        server.uri,
        `
print(h.pread(10, ${data.length - 10}) == bytes.fromhex("${data.subarray(data.length - 10).toString("hex")}"))
try:
    h.pwrite(b"x", 0)
except nbd.Error as e:
    print(e.errno)
`,
      );
      expect(out.trim().split("\n")).toEqual(["True", "EPERM"]);
    } finally {
      await server.stop();
    }
    // No lock is taken for a read-only object.
    expect(await getObject(bucket, "images/base.raw/nbdts.lock")).toBeUndefined();
  });
});
