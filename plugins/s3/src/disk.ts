import { NbdError, type Extent, type Flags } from "@nbdts/sdk";
import { BlockSet } from "./block-set.js";
import { BufferPool, KeyedMutex, allSettledOrThrow, settleAll } from "./concurrency.js";
import { blockKey, splitRange, type Piece } from "./layout.js";
import { DELETE_BATCH, type ObjectStore } from "./store.js";

/** How many extents one `extents` reply describes at most; the client asks again for the rest. */
const MAX_EXTENTS = 1024;

/**
 * A read-write disk stored as one object per block (see layout.ts), shared
 * by every connection of the server.
 *
 * Invariants:
 * - `present` holds exactly the blocks that exist as objects, as far as
 *   this process knows: listed at start-up, then updated by every PUT and
 *   DELETE (under the block's lock, after S3 answered). A block whose PUT
 *   failed is counted as present, since S3 may have stored it; reading a
 *   present block that turns out to be missing gives zeroes. A block is
 *   never counted absent while its object may exist, so holes are read
 *   without asking S3.
 * - Objects are never all zeroes: a block that would become all zeroes is
 *   deleted instead.
 * - Every write is in S3 before it is acknowledged (write-through), so a
 *   flush has nothing to do.
 * - Every mutation of a block holds its lock (process-global), so a
 *   read-modify-write never loses a concurrent write to the same object.
 * - The object operations of one request run concurrently, bounded by the
 *   store's semaphore, and all of them settle before the request does.
 */
export class Disk {
  readonly size: bigint;
  readonly objectSize: number;
  /** The number of blocks: size / objectSize. */
  readonly blocks: number;
  readonly #key: string;
  readonly #store: ObjectStore;
  readonly #present: BlockSet;
  readonly #locks = new KeyedMutex<number>();
  /** objectSize zero bytes, never written to: compared against, never sent. */
  readonly #zeroes: Buffer;
  /** Object-sized buffers for PUT bodies and read-modify-writes. */
  readonly #buffers: BufferPool;

  /** `concurrency` bounds the S3 requests in flight, and so the buffers worth keeping. */
  constructor(store: ObjectStore, key: string, size: bigint, objectSize: number, present: BlockSet, concurrency: number) {
    this.#store = store;
    this.#key = key;
    this.size = size;
    this.objectSize = objectSize;
    this.blocks = Number(size / BigInt(objectSize));
    this.#present = present;
    this.#zeroes = Buffer.alloc(objectSize);
    // Enough for every request in flight, within about 256 MiB.
    this.#buffers = new BufferPool(objectSize, Math.max(1, Math.min(concurrency, Math.floor(2 ** 28 / objectSize))));
  }

  async read(buf: Buffer, offset: bigint): Promise<void> {
    const reads: Piece[] = [];
    for (const piece of splitRange(offset, buf.length, this.objectSize)) {
      if (this.#present.has(piece.block)) reads.push(piece);
      else buf.fill(0, piece.at, piece.at + piece.length);
    }
    await settleAll(reads, async (piece) => {
      const into = buf.subarray(piece.at, piece.at + piece.length);
      const key = blockKey(this.#key, piece.block);
      if (piece.length === this.objectSize) await this.#store.readObject(key, into);
      else await this.#store.readRange(key, into, piece.start, this.objectSize);
    });
  }

  async write(buf: Buffer, offset: bigint): Promise<void> {
    await settleAll(splitRange(offset, buf.length, this.objectSize), (piece) =>
      this.#locks.with(piece.block, async () => {
        const data = buf.subarray(piece.at, piece.at + piece.length);
        if (piece.length === this.objectSize && this.#isZero(data)) {
          await this.#setBlock(piece.block, undefined);
          return;
        }
        // The body is a copy: the request's buffer is detached when the
        // request settles, and a body must stay as it was until it is sent.
        const object = piece.length === this.objectSize ? this.#buffers.take() : await this.#load(piece.block);
        try {
          data.copy(object, piece.start);
          await this.#setBlock(piece.block, piece.length < this.objectSize && this.#isZero(object) ? undefined : object);
        } finally {
          this.#buffers.release(object);
        }
      }),
    );
  }

  /**
   * Makes the range read as zeroes, whatever the flags: whole objects are
   * deleted, partly covered ones rewritten (read-modify-write) or deleted
   * when nothing else is left in them. With `fastZero`, fails with ENOTSUP
   * before changing anything if a read-modify-write would be needed.
   */
  async zero(count: number, offset: bigint, flags: Flags): Promise<void> {
    const pieces = splitRange(offset, count, this.objectSize);
    const partial = pieces.filter((piece) => piece.length < this.objectSize && this.#present.has(piece.block));
    if (flags.fastZero && partial.length > 0) {
      throw NbdError.notSupported("zeroing part of an object needs a read-modify-write, which is not fast");
    }
    const whole = pieces.filter((piece) => piece.length === this.objectSize).map((piece) => piece.block);
    await allSettledOrThrow([this.#deleteBlocks(whole), ...partial.map((piece) => this.#zeroPart(piece))]);
  }

  /** Zeroes part of one object: a read-modify-write, or a delete when only zeroes remain. */
  #zeroPart(piece: Piece): Promise<void> {
    return this.#locks.with(piece.block, async () => {
      if (!this.#present.has(piece.block)) return;
      const object = await this.#load(piece.block);
      try {
        object.fill(0, piece.start, piece.start + piece.length);
        await this.#setBlock(piece.block, this.#isZero(object) ? undefined : object);
      } finally {
        this.#buffers.release(object);
      }
    });
  }

  /**
   * Discards the range: objects it covers entirely are deleted; partly
   * covered objects are left as they are (trim is advisory).
   */
  async trim(count: number, offset: bigint): Promise<void> {
    const whole = splitRange(offset, count, this.objectSize)
      .filter((piece) => piece.length === this.objectSize)
      .map((piece) => piece.block);
    await this.#deleteBlocks(whole);
  }

  /** Allocation from the record of existing objects: data where an object exists, a hole elsewhere. */
  extents(count: number, offset: bigint, flags: Flags): Extent[] {
    const end = offset + BigInt(count) < this.size ? offset + BigInt(count) : this.size;
    const size = BigInt(this.objectSize);
    const lastBlock = Number((end + size - 1n) / size);
    let block = Number(offset / size);
    let start = offset;
    const extents: Extent[] = [];
    while (block < lastBlock && extents.length < MAX_EXTENTS) {
      const present = this.#present.has(block);
      const runEnd = this.#present.nextChange(block, lastBlock, present);
      const stop = BigInt(runEnd) * size < end ? BigInt(runEnd) * size : end;
      extents.push({ offset: start, length: stop - start, hole: !present, zero: !present });
      if (flags.reqOne) break;
      start = stop;
      block = runEnd;
    }
    return extents;
  }

  /**
   * The whole object of a block (zeroes if it has none) in a pooled buffer,
   * for a read-modify-write; the caller releases it.
   */
  async #load(block: number): Promise<Buffer> {
    if (!this.#present.has(block)) return this.#buffers.zeroed();
    const object = this.#buffers.take();
    try {
      // A missing object reads as zeroes.
      await this.#store.readObject(blockKey(this.#key, block), object);
    } catch (error) {
      this.#buffers.release(object);
      throw error;
    }
    return object;
  }

  /**
   * Stores a block's new content (the caller holds its lock): `undefined`
   * means all zeroes, so the object is deleted, or never created.
   */
  async #setBlock(block: number, content: Buffer | undefined): Promise<void> {
    const key = blockKey(this.#key, block);
    if (content === undefined) {
      if (!this.#present.has(block)) return;
      await this.#store.delete(key);
      this.#present.delete(block);
      return;
    }
    try {
      await this.#store.write(key, content);
    } finally {
      // Even after a failure: S3 may have stored it (see the class invariants).
      this.#present.add(block);
    }
  }

  /**
   * Deletes the objects of `blocks` (ascending) that exist: one at a time
   * with DeleteObject when there are few, in batches of up to 1000 with
   * DeleteObjects otherwise. A batch takes its blocks' locks in ascending
   * order, the order every batch uses, so batches cannot deadlock.
   */
  async #deleteBlocks(blocks: readonly number[]): Promise<void> {
    const existing = blocks.filter((block) => this.#present.has(block));
    if (existing.length <= 2) {
      await settleAll(existing, (block) => this.#locks.with(block, () => this.#setBlock(block, undefined)));
      return;
    }
    const batches: number[][] = [];
    for (let i = 0; i < existing.length; i += DELETE_BATCH) batches.push(existing.slice(i, i + DELETE_BATCH));
    await settleAll(batches, async (batch) => {
      const releases: (() => void)[] = [];
      try {
        for (const block of batch) releases.push(await this.#locks.lock(block));
        const still = batch.filter((block) => this.#present.has(block));
        await this.#store.deleteBatch(still.map((block) => blockKey(this.#key, block)));
        for (const block of still) this.#present.delete(block);
      } finally {
        for (const release of releases) release();
      }
    });
  }

  #isZero(data: Buffer): boolean {
    // Cheap rejections first: most data is not zero at either end.
    if (data[0] !== 0 || data[data.length - 1] !== 0) return false;
    return data.equals(data.length === this.objectSize ? this.#zeroes : this.#zeroes.subarray(0, data.length));
  }
}
