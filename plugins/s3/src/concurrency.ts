/**
 * The two concurrency tools of the plugin, both process-global (all
 * connections of the server share them, so multi-conn is safe):
 *
 * - {@link KeyedMutex}: one lock per object, so that a read-modify-write, a
 *   PUT and a DELETE of the same object never overlap and the record of
 *   which objects exist always matches the order S3 saw them in;
 * - {@link Semaphore}: a bound on S3 requests in flight, sized like the HTTP
 *   agent's socket pool.
 *
 * Deadlock freedom: an operation holds at most one object lock while it
 * waits for anything, except a batch delete, which takes its locks in
 * ascending order; a semaphore permit is held only for one HTTP exchange,
 * never while waiting for a lock.
 */

/** Mutual exclusion per key; waiters are served in arrival order. */
export class KeyedMutex<K> {
  /** The promise the next waiter for a key must await: it settles when the current holders are done. */
  readonly #tails = new Map<K, Promise<void>>();

  /** Waits for the key's lock; call the returned function to release it. */
  async lock(key: K): Promise<() => void> {
    const previous = this.#tails.get(key);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const tail = previous === undefined ? held : previous.then(() => held);
    this.#tails.set(key, tail);
    if (previous !== undefined) await previous;
    return () => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }

  /** Runs `body` holding the key's lock. */
  async with<T>(key: K, body: () => Promise<T>): Promise<T> {
    const release = await this.lock(key);
    try {
      return await body();
    } finally {
      release();
    }
  }

  /** Whether any key is locked or waited for (for tests). */
  get busy(): boolean {
    return this.#tails.size > 0;
  }
}

/** At most `limit` holders at once; waiters are served in arrival order. */
export class Semaphore {
  readonly #limit: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`Semaphore: limit ${limit} is not a positive integer`);
    this.#limit = limit;
  }

  async run<T>(body: () => Promise<T>): Promise<T> {
    if (this.#active < this.#limit) {
      this.#active++;
    } else {
      // The releasing holder hands its permit over directly.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    try {
      return await body();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#active--;
    }
  }
}

/**
 * Runs `task` for every item at once and waits for all of them to settle
 * (never leaving one running behind the caller, which matters because tasks
 * write into request buffers that are detached when the request settles).
 * Throws the first failure, in item order.
 */
export async function settleAll<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  if (items.length === 1) return task(items[0]!);
  return allSettledOrThrow(items.map(task));
}

/** Waits for every promise to settle, then throws the first failure, in order. */
export async function allSettledOrThrow(promises: readonly Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const result of results) {
    if (result.status === "rejected") throw result.reason;
  }
}

/**
 * Reusable buffers of one size (an object), so that the steady stream of
 * object-sized bodies and read-modify-write buffers does not become a
 * steady stream of allocations for the garbage collector. Keeps at most
 * `keep` free buffers. A buffer must not be used after it is released.
 */
export class BufferPool {
  readonly #size: number;
  readonly #keep: number;
  readonly #free: Buffer[] = [];

  constructor(size: number, keep: number) {
    this.#size = size;
    this.#keep = keep;
  }

  /** A buffer of the pool's size; its content is undefined (use `zeroed` for zeroes). */
  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafe(this.#size);
  }

  /** A buffer of the pool's size filled with zeroes. */
  zeroed(): Buffer {
    return this.take().fill(0);
  }

  release(buffer: Buffer): void {
    if (this.#free.length < this.#keep && buffer.length === this.#size) this.#free.push(buffer);
  }
}
