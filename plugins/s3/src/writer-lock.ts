import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { NbdError } from "@nbdts/sdk";
import { lockKey } from "./layout.js";
import type { ObjectStore, RetryPolicy } from "./store.js";

/** What the lock object holds: who took it, and a token that proves it is still ours. */
interface LockRecord {
  readonly token: string;
  readonly host: string;
  readonly pid: number;
  readonly since: string;
  readonly by: string;
}

const LOCK_LIMIT = 64 * 1024;

/**
 * Releasing happens while nbdkit shuts down: a few quick attempts, no long
 * pauses (nbdkit's nanosleep ends at once during shutdown anyway).
 */
const RELEASE_RETRY: RetryPolicy = { attempts: 2, firstPauseMs: 100, maxPauseMs: 100 };

/**
 * The single-writer lock of a disk: the object `<key>/nbdts.lock`, created
 * with a conditional PUT (`If-None-Match: *`), so of two servers started on
 * the same disk exactly one gets it (S3 since 2024, RGW, MinIO). It is
 * deleted on clean shutdown; after a crash it stays, and `force-unlock=true`
 * takes it over. Its name sorts after every block name, so nbdkit's Python
 * S3 plugin never mistakes it for a block nor trims it.
 */
export class WriterLock {
  readonly #store: ObjectStore;
  readonly #key: string;
  readonly #token: string;
  #held = true;

  private constructor(store: ObjectStore, key: string, token: string) {
    this.#store = store;
    this.#key = key;
    this.#token = token;
  }

  /** The lock object's URL, for messages. */
  get url(): string {
    return this.#store.url(this.#key);
  }

  /**
   * Takes the lock of the disk under `diskKey`, or fails with EBUSY naming
   * the lock object, its holder and the way out. With `force`, takes it
   * whoever holds it.
   */
  static async take(store: ObjectStore, diskKey: string, force: boolean): Promise<WriterLock> {
    const key = lockKey(diskKey);
    const record: LockRecord = {
      token: randomUUID(),
      host: hostname(),
      pid: process.ppid,
      since: new Date().toISOString(),
      by: "nbdkit ts plugin=@nbdts/s3",
    };
    const body = Buffer.from(JSON.stringify(record) + "\n");
    try {
      await store.write(key, body, { ifNoneMatch: !force, contentType: "application/json" });
    } catch (error) {
      if (error instanceof NbdError) throw error;
      // 412 Precondition Failed: the lock object exists.
      const holder = await describeHolder(store, key);
      throw new NbdError(
        "EBUSY",
        `the disk s3://${store.bucket}/${diskKey}/ is locked by another writer: ${store.url(key)} exists${holder}. ` +
          `Two servers writing one disk would corrupt it. If that server is gone (it crashed or was killed), ` +
          `start this one with force-unlock=true; to serve the disk read-only beside it, use nbdkit -r with lock=false`,
      );
    }
    return new WriterLock(store, key, record.token);
  }

  /**
   * Deletes the lock object if it is still ours. Returns a warning when it
   * is not (someone forced it) or could not be deleted; never throws.
   */
  async release(): Promise<string | undefined> {
    if (!this.#held) return undefined;
    this.#held = false;
    try {
      const content = await this.#store.readSmall(this.#key, LOCK_LIMIT, RELEASE_RETRY);
      if (content === undefined) return `the writer lock ${this.url} had already been removed`;
      if (parseRecord(content)?.token !== this.#token) {
        return `the writer lock ${this.url} was taken over by another server (force-unlock); left in place`;
      }
      await this.#store.delete(this.#key, RELEASE_RETRY);
      return undefined;
    } catch (error) {
      return `could not remove the writer lock ${this.url}: ${(error as Error).message}; ` +
        `the next server on this disk needs force-unlock=true`;
    }
  }
}

function parseRecord(content: Buffer): Partial<LockRecord> | undefined {
  try {
    const value: unknown = JSON.parse(content.toString("utf8"));
    return typeof value === "object" && value !== null ? (value as Partial<LockRecord>) : undefined;
  } catch {
    return undefined;
  }
}

/** " (taken by host h, process 123, at 2026-...)" from the lock object, or "" if unreadable. */
async function describeHolder(store: ObjectStore, key: string): Promise<string> {
  try {
    const content = await store.readSmall(key, LOCK_LIMIT);
    const record = content === undefined ? undefined : parseRecord(content);
    if (record === undefined) return "";
    const parts: string[] = [];
    if (typeof record.host === "string") parts.push(`host ${record.host}`);
    if (typeof record.pid === "number") parts.push(`nbdkit process ${record.pid}`);
    if (typeof record.since === "string") parts.push(`since ${record.since}`);
    return parts.length === 0 ? "" : ` (taken by ${parts.join(", ")})`;
  } catch {
    return "";
  }
}
