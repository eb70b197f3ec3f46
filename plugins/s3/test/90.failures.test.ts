// Failures: damaged objects and a server that goes away. Errors reach the
// client with an errno, nothing hangs, and acknowledged data survives.

import type { S3Client } from "@aws-sdk/client-s3";
import { python, startNbdkit, type NbdkitServer } from "@nbdts/native/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SharedRgw } from "./global-setup.js";
import { startRgw, type RgwServer } from "./support/rgw.js";
import {
  PLUGIN,
  blockName,
  gatewayParams,
  getObject,
  newBucket,
  putObject,
  s3Client,
  startS3,
  waitForLogCount,
} from "./support/s3.js";

const B = 65536;

describe("an object of the wrong size", () => {
  it("fails reads and read-modify-writes with EIO naming the object, and the server carries on", async () => {
    const bucket = await newBucket("wrongsize");
    await putObject(bucket, blockName("disk", 0), Buffer.alloc(B, 0x10));
    await putObject(bucket, blockName("disk", 1), Buffer.from("short"));
    await putObject(bucket, blockName("disk", 2), Buffer.alloc(B, 0x12));
    const server = await startS3(bucket, { key: "disk", size: "1M", "object-size": "64k" });
    try {
      const out = await python(
        server.uri,
        `
B = ${B}
def errno_of(call):
    try:
        call()
        return "ok"
    except nbd.Error as e:
        return e.errno
print(errno_of(lambda: h.pread(B, B)))               # the whole object
print(errno_of(lambda: h.pread(10, B + 100)))        # a range of it
print(errno_of(lambda: h.pwrite(b"x" * 10, B + 5)))  # a read-modify-write
print(h.pread(B, 0) == b"\\x10" * B, h.pread(B, 2 * B) == b"\\x12" * B)
h.pwrite(b"y" * B, B)                                # a whole new object replaces it
print(h.pread(B, B) == b"y" * B)
`,
      );
      expect(out.trim().split("\n")).toEqual(["EIO", "EIO", "EIO", "True True", "True"]);
      expect(server.log()).toMatch(
        new RegExp(`s3://${bucket}/disk/0000000000000001 is 5 bytes, expected 65536 bytes: every object of this disk is object-size bytes`),
      );
      expect(server.log()).not.toMatch(/uncaught|TypeError|at .*\.js:\d+/);
    } finally {
      await server.stop();
    }
  });

  it("that is the disk's only object does not stop the server: it is damage, reported when read", async () => {
    const bucket = await newBucket("onlydamaged");
    await putObject(bucket, blockName("disk", 4), Buffer.from("tiny"));
    const server = await startS3(bucket, { key: "disk", size: "1M", "object-size": "64k" });
    try {
      const out = await python(
        server.uri,
        `
try:
    h.pread(10, 4 * ${B})
    print("read")
except nbd.Error as e:
    print(e.errno)
print(h.pread(10, 0) == bytes(10))
`,
      );
      expect(out.trim().split("\n")).toEqual(["EIO", "True"]);
    } finally {
      await server.stop();
    }
  });

  it("replaced behind the server's back is caught when read", async () => {
    const bucket = await newBucket("replaced");
    const server = await startS3(bucket, { key: "disk", size: "1M", "object-size": "64k" });
    try {
      await python(server.uri, `h.pwrite(b"a" * ${B}, 0)`);
      await putObject(bucket, blockName("disk", 0), Buffer.alloc(100, 1));
      const out = await python(
        server.uri,
        `
try:
    h.pread(${B}, 0)
    print("read")
except nbd.Error as e:
    print(e.errno)
`,
      );
      expect(out.trim()).toBe("EIO");
      expect(server.log()).toMatch(/disk\/0000000000000000 is 100 bytes, expected 65536 bytes/);
    } finally {
      await server.stop();
    }
  });
});

describe("a server that goes away", () => {
  // A private gateway, since these tests stop it (SIGSTOP: the kernel still
  // accepts connections, but nothing answers, which is what a hung or
  // partitioned server looks like).
  let rgw: RgwServer;
  let shared: SharedRgw;
  let client: S3Client;
  let server: NbdkitServer | undefined;

  beforeAll(async () => {
    rgw = await startRgw();
    shared = { endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, region: rgw.region };
    client = s3Client(shared);
  });

  afterAll(async () => {
    process.kill(rgw.pids.rgw, "SIGCONT");
    await server?.stop();
    client?.destroy();
    await rgw?.stop();
  });

  it("makes requests fail with EIO in bounded time, keeps flushed data, and recovers when it returns", async () => {
    const bucket = await newBucket("goesaway", client);
    server = await startNbdkit({
      plugin: PLUGIN,
      params: { ...gatewayParams(bucket, shared), key: "disk", size: "4M", "object-size": "64k", timeout: "1", retries: "1" },
    });
    const uri = server.uri;
    await python(uri, `h.pwrite(bytes(range(256)) * ${(4 * B) / 256}, 0); h.flush()`);

    process.kill(rgw.pids.rgw, "SIGSTOP");
    try {
      const out = await python(
        uri,
        `
import time
def attempt(call):
    t = time.monotonic()
    try:
        call()
        result = "ok"
    except nbd.Error as e:
        result = e.errno
    return "%s %.1f" % (result, time.monotonic() - t)
print(attempt(lambda: h.pwrite(b"n" * ${B}, 8 * ${B})))
print(attempt(lambda: h.pread(${B}, 0)))
print(attempt(lambda: h.pread(${B}, 20 * ${B})))   # a hole: no request needed
print(attempt(lambda: h.flush()))                 # every acknowledged write is already in S3
`,
        { timeoutMs: 60_000 },
      );
      const lines = out.trim().split("\n").map((line) => line.split(" "));
      expect(lines.map(([result]) => result)).toEqual(["EIO", "EIO", "ok", "ok"]);
      // Two attempts of one second each, plus a short pause: far below a minute.
      for (const [, seconds] of lines) expect(Number(seconds)).toBeLessThan(20);
      expect(server.log()).toMatch(/TimeoutError.*\(after 2 attempts\)/);
    } finally {
      process.kill(rgw.pids.rgw, "SIGCONT");
    }

    const after = await python(
      uri,
      `
print(h.pread(4 * ${B}, 0) == bytes(range(256)) * ${(4 * B) / 256})
h.pwrite(b"r" * ${B}, 9 * ${B})
print(h.pread(${B}, 9 * ${B}) == b"r" * ${B})
`,
    );
    expect(after.trim().split("\n")).toEqual(["True", "True"]);
    expect((await getObject(bucket, blockName("disk", 9), client))?.equals(Buffer.alloc(B, "r"))).toBe(true);

    // Shutting down while the server is gone again is bounded too: the lock
    // cannot be removed, which is reported, and nbdkit exits cleanly.
    process.kill(rgw.pids.rgw, "SIGSTOP");
    const started = Date.now();
    try {
      const status = await server.stop(30_000);
      expect(status.signal).toBeNull();
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(server.log()).toMatch(/could not remove the writer lock .*nbdts\.lock.*force-unlock=true/);
    } finally {
      process.kill(rgw.pids.rgw, "SIGCONT");
    }
  });

  it("retries through a short outage: the request waits and succeeds", async () => {
    const bucket = await newBucket("outage", client);
    server = await startNbdkit({
      plugin: PLUGIN,
      params: { ...gatewayParams(bucket, shared), key: "disk", size: "4M", "object-size": "64k", timeout: "1", retries: "10" },
      nbdkitArgs: ["-v"],
    });
    process.kill(rgw.pids.rgw, "SIGSTOP");
    try {
      const writing = python(
        server.uri,
        `
h.pwrite(b"o" * ${B}, 3 * ${B})
print(h.pread(${B}, 3 * ${B}) == b"o" * ${B})
`,
        { timeoutMs: 60_000 },
      );
      // Under -v each failed attempt is logged as it happens: resume the
      // gateway once the PUT has timed out at least once.
      const timedOut = (log: string) =>
        log.split("\n").filter((line) => /s3: request PUT \S+\/disk\/0000000000000003\S* -> no response TimeoutError/.test(line)).length;
      expect(await waitForLogCount(server, timedOut, 1, 30_000)).toBeGreaterThanOrEqual(1);
      process.kill(rgw.pids.rgw, "SIGCONT");
      expect((await writing).trim()).toBe("True");
      expect((await getObject(bucket, blockName("disk", 3), client))?.equals(Buffer.alloc(B, "o"))).toBe(true);
    } finally {
      process.kill(rgw.pids.rgw, "SIGCONT");
      await server.stop();
      server = undefined;
    }
  });
});
