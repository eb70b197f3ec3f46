// Pure pieces, without S3: object names, request splitting, the record of
// existing blocks, and the locks.

import { S3ServiceException } from "@aws-sdk/client-s3";
import { NbdError } from "@nbdts/sdk";
import { describe, expect, it } from "vitest";
import { BlockSet } from "../src/block-set.js";
import { KeyedMutex, Semaphore, settleAll } from "../src/concurrency.js";
import { isNotFound, isRetryable, toNbdError } from "../src/errors.js";
import { blockKey, lockKey, parseBlockKey, splitRange } from "../src/layout.js";

describe("object names", () => {
  it("block n is <key>/<n as 16 lowercase hex digits>, as nbdkit's S3 plugin names it", () => {
    expect(blockKey("disk1", 0)).toBe("disk1/0000000000000000");
    expect(blockKey("disk1", 42)).toBe("disk1/000000000000002a");
    expect(blockKey("vm/big", 0xfffff)).toBe("vm/big/00000000000fffff");
  });

  it("only 16-hex-digit names under the prefix are blocks", () => {
    expect(parseBlockKey("d/", "d/00000000000000ff")).toBe(255);
    expect(parseBlockKey("d/", "d/00000000000000FF")).toBeUndefined();
    expect(parseBlockKey("d/", "d/0")).toBeUndefined();
    expect(parseBlockKey("d/", "d/00000000000000aa-x")).toBeUndefined();
    expect(parseBlockKey("d/", "dx/0000000000000000")).toBeUndefined();
    expect(parseBlockKey("d/", lockKey("d"))).toBeUndefined();
  });

  it("the lock object sorts after every block name, so nbdkit's S3 plugin never trims it", () => {
    expect(lockKey("d") > blockKey("d", Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(lockKey("d") > "d/ffffffffffffffff").toBe(true);
  });
});

describe("splitting a request into object pieces", () => {
  it("covers the request exactly, one piece per object, in order", () => {
    const pieces = splitRange(65536n + 1000n, 3 * 65536, 65536);
    expect(pieces).toEqual([
      { block: 1, start: 1000, length: 64536, at: 0 },
      { block: 2, start: 0, length: 65536, at: 64536 },
      { block: 3, start: 0, length: 65536, at: 130072 },
      { block: 4, start: 0, length: 1000, at: 195608 },
    ]);
  });

  it("handles offsets beyond 2^32 and a request inside one object", () => {
    expect(splitRange(5n * 2n ** 32n + 10n, 20, 1 << 20)).toEqual([{ block: 5 * 4096, start: 10, length: 20, at: 0 }]);
  });
});

describe("BlockSet", () => {
  it("adds, deletes and counts blocks, across pages", () => {
    const set = new BlockSet();
    for (const block of [0, 31, 32, 65535, 65536, 2 ** 40]) set.add(block);
    set.add(31);
    expect(set.size).toBe(6);
    expect(set.has(65536)).toBe(true);
    expect(set.has(65537)).toBe(false);
    set.delete(31);
    set.delete(31);
    expect(set.size).toBe(5);
    expect([...set.values()]).toEqual([0, 32, 65535, 65536, 2 ** 40]);
  });

  it("finds the end of every run exactly as a block-by-block scan does", () => {
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const set = new BlockSet();
    const naive = new Set<number>();
    const limit = 200_000;
    // Clusters and isolated blocks, some pages full, some empty.
    for (let i = 0; i < 3000; i++) {
      const start = Math.floor(random() * limit);
      const length = random() < 0.3 ? Math.floor(random() * 200) : 1;
      for (let b = start; b < Math.min(start + length, limit); b++) {
        set.add(b);
        naive.add(b);
      }
    }
    for (let b = 65536; b < 131072; b++) {
      set.add(b);
      naive.add(b);
    }
    for (let trial = 0; trial < 2000; trial++) {
      const from = Math.floor(random() * limit);
      const to = Math.min(limit, from + Math.floor(random() * 70000));
      const present = naive.has(from);
      let expected = from;
      while (expected < to && naive.has(expected) === present) expected++;
      expect(set.nextChange(from, to, present)).toBe(expected);
    }
  });
});

describe("locks", () => {
  it("KeyedMutex serialises holders of one key and lets other keys run", async () => {
    const mutex = new KeyedMutex<number>();
    const events: string[] = [];
    const hold = (key: number, name: string, ms: number) =>
      mutex.with(key, async () => {
        events.push(`${name}+`);
        await new Promise((resolve) => setTimeout(resolve, ms));
        events.push(`${name}-`);
      });
    await Promise.all([hold(1, "a", 30), hold(1, "b", 1), hold(2, "c", 1)]);
    expect(events.indexOf("a-")).toBeLessThan(events.indexOf("b+"));
    expect(events.indexOf("c+")).toBeLessThan(events.indexOf("a-"));
    expect(mutex.busy).toBe(false);
  });

  it("Semaphore never has more than its limit running", async () => {
    const semaphore = new Semaphore(3);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        semaphore.run(async () => {
          peak = Math.max(peak, ++running);
          await new Promise((resolve) => setTimeout(resolve, 2));
          running--;
        }),
      ),
    );
    expect(peak).toBe(3);
  });

  it("settleAll waits for every task before reporting the first failure", async () => {
    let finished = 0;
    const failure = settleAll([1, 2, 3], async (n) => {
      await new Promise((resolve) => setTimeout(resolve, n * 10));
      finished++;
      if (n === 1) throw new Error("one failed");
    });
    await expect(failure).rejects.toThrow("one failed");
    expect(finished).toBe(3);
  });
});

describe("classifying S3 failures", () => {
  /** An error as the SDK throws it for an S3 error response. */
  function s3Error(name: string, status: number, message = ""): S3ServiceException {
    return new S3ServiceException({ name, message, $fault: status >= 500 ? "server" : "client", $metadata: { httpStatusCode: status } });
  }

  it("retries throttling, server errors, timeouts and dropped connections, and nothing else", () => {
    expect(isRetryable(s3Error("SlowDown", 503))).toBe(true);
    expect(isRetryable(s3Error("InternalError", 500))).toBe(true);
    expect(isRetryable(s3Error("TooManyRequests", 429))).toBe(true);
    expect(isRetryable(s3Error("RequestTimeout", 400))).toBe(true);
    expect(isRetryable(Object.assign(new Error("timed out"), { name: "TimeoutError" }))).toBe(true);
    expect(isRetryable(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }))).toBe(true);
    expect(isRetryable(s3Error("NoSuchBucket", 404))).toBe(false);
    expect(isRetryable(s3Error("SignatureDoesNotMatch", 403))).toBe(false);
    expect(isRetryable(s3Error("PreconditionFailed", 412))).toBe(false);
    expect(isRetryable(new NbdError("ESHUTDOWN"))).toBe(false);
  });

  it("maps failures to errnos with messages that name the operation, the error and the attempts", () => {
    const throttled = toNbdError(s3Error("SlowDown", 503, "Please reduce your request rate."), "PUT s3://b/k", 6);
    expect(throttled.code).toBe("EIO");
    expect(throttled.message).toBe("PUT s3://b/k: SlowDown (HTTP 503): Please reduce your request rate. (after 6 attempts)");
    const refused = toNbdError(s3Error("InvalidAccessKeyId", 403), "GET s3://b/k");
    expect(refused.code).toBe("EPERM");
    expect(refused.message).toMatch(/^GET s3:\/\/b\/k: InvalidAccessKeyId \(HTTP 403\); check access-key/);
    expect(toNbdError(s3Error("QuotaExceeded", 403), "PUT s3://b/k").code).toBe("ENOSPC");
    expect(toNbdError(s3Error("NoSuchBucket", 404), "LIST s3://b/").message).toMatch(/the bucket does not exist/);
  });

  it("tells a missing object from a missing bucket", () => {
    expect(isNotFound(s3Error("NoSuchKey", 404))).toBe(true);
    expect(isNotFound(s3Error("NotFound", 404))).toBe(true);
    expect(isNotFound(s3Error("NoSuchBucket", 404))).toBe(false);
  });
});
