// The writer lock: one read-write server per disk, enforced with the lock
// object <key>/nbdts.lock created by a conditional PUT (If-None-Match: *).

import { python } from "@nbdts/native/testing";
import { describe, expect, it } from "vitest";
import { gatewayParams, getObject, newBucket, runS3, startS3 } from "./support/s3.js";

const DISK = { key: "disk", size: "1M", "object-size": "64k" };

function lockToken(content: Buffer | undefined): string | undefined {
  return content === undefined ? undefined : (JSON.parse(content.toString("utf8")) as { token: string }).token;
}

describe("the writer lock", () => {
  it("makes a second server on the same disk fail at start-up, naming the lock object and the override", async () => {
    const bucket = await newBucket("lock");
    const first = await startS3(bucket, DISK);
    try {
      const second = await runS3({ ...gatewayParams(bucket), ...DISK });
      expect(second.code).not.toBe(0);
      const message = second.stdout + second.stderr;
      expect(message).toMatch(new RegExp(`the disk s3://${bucket}/disk/ is locked by another writer: s3://${bucket}/disk/nbdts\\.lock exists`));
      expect(message).toMatch(/taken by host .*, nbdkit process \d+, since \d{4}-/);
      expect(message).toMatch(/force-unlock=true/);
      // The first server is unaffected.
      expect((await python(first.uri, "h.pwrite(b'1' * 10, 0); print(h.pread(10, 0) == b'1' * 10)")).trim()).toBe("True");
    } finally {
      await first.stop();
    }
  });

  it("is released on clean shutdown, so the next server starts", async () => {
    const bucket = await newBucket("release");
    const first = await startS3(bucket, DISK);
    expect(await getObject(bucket, "disk/nbdts.lock")).toBeDefined();
    await first.stop();
    expect(await getObject(bucket, "disk/nbdts.lock")).toBeUndefined();
    const next = await runS3({ ...gatewayParams(bucket), ...DISK });
    expect(next.code, next.stderr).toBe(0);
  });

  it("stays after a crash, and force-unlock=true takes it over", async () => {
    const bucket = await newBucket("crash");
    const crashed = await startS3(bucket, DISK);
    await python(crashed.uri, "h.pwrite(b'kept' * 16, 0)");
    process.kill(crashed.pid, "SIGKILL");
    await crashed.exited;
    await crashed.stop();
    const stale = lockToken(await getObject(bucket, "disk/nbdts.lock"));
    expect(stale).toBeDefined();

    const refused = await runS3({ ...gatewayParams(bucket), ...DISK });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/is locked by another writer/);

    const forced = await startS3(bucket, { ...DISK, "force-unlock": "true" });
    try {
      const token = lockToken(await getObject(bucket, "disk/nbdts.lock"));
      expect(token).toBeDefined();
      expect(token).not.toBe(stale);
      expect((await python(forced.uri, "print(h.pread(64, 0) == b'kept' * 16)")).trim()).toBe("True");
    } finally {
      await forced.stop();
    }
    expect(await getObject(bucket, "disk/nbdts.lock")).toBeUndefined();
  });

  it("taken over by another server is left in place when the first one stops", async () => {
    const bucket = await newBucket("takeover");
    const first = await startS3(bucket, DISK);
    const second = await startS3(bucket, { ...DISK, "force-unlock": "true" });
    try {
      const secondToken = lockToken(await getObject(bucket, "disk/nbdts.lock"));
      await first.stop();
      expect(first.log()).toMatch(/writer lock s3:\/\/.*\/disk\/nbdts\.lock was taken over by another server/);
      expect(lockToken(await getObject(bucket, "disk/nbdts.lock"))).toBe(secondToken);
    } finally {
      await first.stop();
      await second.stop();
    }
    expect(await getObject(bucket, "disk/nbdts.lock")).toBeUndefined();
  });

  it("is not taken with lock=false, so a read-only server can run beside the writer", async () => {
    const bucket = await newBucket("nolock");
    const writer = await startS3(bucket, DISK);
    try {
      await python(writer.uri, "h.pwrite(b'shared' * 10, 0)");
      const reader = await startS3(bucket, { ...DISK, lock: "false" }, { nbdkitArgs: ["-r"] });
      try {
        expect((await python(reader.uri, "print(h.pread(60, 0) == b'shared' * 10, h.is_read_only())")).trim()).toBe("True True");
      } finally {
        await reader.stop();
      }
      // The reader did not remove the writer's lock.
      expect(await getObject(bucket, "disk/nbdts.lock")).toBeDefined();
    } finally {
      await writer.stop();
    }
  });
});
