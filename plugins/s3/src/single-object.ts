import { NbdError } from "@nbdts/sdk";
import { settleAll } from "./concurrency.js";
import type { ObjectStore } from "./store.js";

/** Reads larger than this are split into ranged GETs of this size, run concurrently. */
export const SINGLE_OBJECT_CHUNK = 1024 * 1024;

/**
 * One existing object served read-only (no `size` given), as nbdkit's
 * Python S3 plugin does: the size comes from S3 at start-up and reads are
 * ranged GETs.
 */
export class SingleObject {
  readonly size: bigint;
  readonly #store: ObjectStore;
  readonly #key: string;

  constructor(store: ObjectStore, key: string, size: number) {
    this.#store = store;
    this.#key = key;
    this.size = BigInt(size);
  }

  async read(buf: Buffer, offset: bigint): Promise<void> {
    const start = Number(offset);
    const chunks: number[] = [];
    for (let at = 0; at < buf.length; at += SINGLE_OBJECT_CHUNK) chunks.push(at);
    await settleAll(chunks, async (at) => {
      const into = buf.subarray(at, Math.min(at + SINGLE_OBJECT_CHUNK, buf.length));
      const found = await this.#store.readRange(this.#key, into, start + at, Number(this.size));
      if (!found) {
        throw new NbdError("EIO", `${this.#store.url(this.#key)} no longer exists: it was deleted after nbdkit started`);
      }
    });
  }
}
