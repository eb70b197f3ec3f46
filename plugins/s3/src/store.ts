import type { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { NbdError, errnoOf, nanosleep } from "@nbdts/sdk";
import { Semaphore } from "./concurrency.js";
import { isNotFound, isPreconditionFailed, isRetryable, toNbdError } from "./errors.js";

/** Retry policy: how many attempts, and the pause before the second one (doubling, capped). */
export interface RetryPolicy {
  readonly attempts: number;
  readonly firstPauseMs: number;
  readonly maxPauseMs: number;
}

/** One listed object. */
export interface ListedObject {
  readonly key: string;
  readonly size: number;
}

/** The most keys one DeleteObjects request may carry. */
export const DELETE_BATCH = 1000;

/**
 * The S3 operations of the plugin on one bucket, each with bounded
 * concurrency, retries and errors already mapped to NbdError.
 *
 * - Every HTTP exchange holds a permit of a process-wide semaphore, sized
 *   like the HTTP agent, so no request waits for a socket (which would eat
 *   into its timeout) and memory in flight is bounded.
 * - Retryable failures (throttling, 5xx, timeouts, dropped connections) are
 *   retried with exponential backoff and jitter; the pauses are nbdkit's
 *   nanosleep, so a retrying request ends at once (ESHUTDOWN) when nbdkit
 *   shuts down. The permit is not held while pausing.
 * - Bodies are Buffers, never streams; the signature covers their SHA-256,
 *   which S3 and RGW verify.
 */
export class ObjectStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #limit: Semaphore;
  readonly #retry: RetryPolicy;
  readonly #wrongSizeHint: string;

  /**
   * `wrongSizeHint` ends the message of an object found with an unexpected
   * size: it says why the size was expected and what to do.
   */
  constructor(client: S3Client, bucket: string, concurrency: number, retry: RetryPolicy, wrongSizeHint: string) {
    this.#client = client;
    this.#bucket = bucket;
    this.#limit = new Semaphore(concurrency);
    this.#retry = retry;
    this.#wrongSizeHint = wrongSizeHint;
  }

  get bucket(): string {
    return this.#bucket;
  }

  /** `s3://bucket/key`, for messages. */
  url(key: string): string {
    return `s3://${this.#bucket}/${key}`;
  }

  /**
   * Reads the whole object `key`, which must be exactly `into.length` bytes,
   * into `into`. Returns false (with `into` zeroed) if the object does not
   * exist; an object of another size fails with EIO.
   */
  async readObject(key: string, into: Buffer): Promise<boolean> {
    return this.#attempt(`GET ${this.url(key)}`, async () => {
      let body: Readable;
      try {
        const output = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
        body = output.Body as Readable;
        if (output.ContentLength !== into.length) {
          body.destroy();
          throw this.#wrongSize(this.url(key), `${output.ContentLength ?? "?"} bytes`, into.length);
        }
      } catch (error) {
        if (isNotFound(error)) {
          into.fill(0);
          return false;
        }
        throw error;
      }
      await this.#readBody(body, into, this.url(key));
      return true;
    });
  }

  /**
   * Reads `into.length` bytes at `start` of the object `key`, which must be
   * `objectSize` bytes long. Returns false (with `into` zeroed) if the
   * object does not exist; an object of another size fails with EIO.
   */
  async readRange(key: string, into: Buffer, start: number, objectSize: number): Promise<boolean> {
    const end = start + into.length - 1;
    return this.#attempt(`GET ${this.url(key)} bytes ${start}-${end}`, async () => {
      let body: Readable;
      try {
        const output = await this.#client.send(
          new GetObjectCommand({ Bucket: this.#bucket, Key: key, Range: `bytes=${start}-${end}` }),
        );
        body = output.Body as Readable;
        const total = /\/(\d+)$/.exec(output.ContentRange ?? "")?.[1];
        if (total === undefined || Number(total) !== objectSize || output.ContentLength !== into.length) {
          body.destroy();
          throw this.#wrongSize(this.url(key), `${total ?? "?"} bytes`, objectSize);
        }
      } catch (error) {
        if (isNotFound(error)) {
          into.fill(0);
          return false;
        }
        // A range past the end of a short object.
        if ((error as { name?: string }).name === "InvalidRange") throw this.#wrongSize(this.url(key), "shorter", objectSize);
        throw error;
      }
      await this.#readBody(body, into, this.url(key));
      return true;
    });
  }

  /**
   * The content of a small object (the writer lock), or undefined if it
   * does not exist. Objects over `limit` bytes fail with EIO.
   */
  async readSmall(key: string, limit: number, retry?: RetryPolicy): Promise<Buffer | undefined> {
    return this.#attempt(
      `GET ${this.url(key)}`,
      async () => {
        let output;
        try {
          output = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
        } catch (error) {
          if (isNotFound(error)) return undefined;
          throw error;
        }
        const body = output.Body as Readable;
        if ((output.ContentLength ?? 0) > limit) {
          body.destroy();
          throw new NbdError("EIO", `${this.url(key)} is ${output.ContentLength} bytes, expected at most ${limit}`);
        }
        const into = Buffer.alloc(output.ContentLength ?? 0);
        await this.#readBody(body, into, this.url(key));
        return into;
      },
      retry !== undefined ? { retry } : {},
    );
  }

  /** The size of object `key`, or undefined if it does not exist. */
  async size(key: string): Promise<number | undefined> {
    return this.#attempt(`HEAD ${this.url(key)}`, async () => {
      try {
        const output = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
        return output.ContentLength ?? 0;
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    });
  }

  /**
   * Writes `body` as object `key`. With `ifNoneMatch`, only if the object
   * does not exist yet (a 412 PreconditionFailed is thrown as is, unmapped,
   * for the caller to recognise).
   */
  async write(
    key: string,
    body: Buffer,
    options: { ifNoneMatch?: boolean; contentType?: string; retry?: RetryPolicy } = {},
  ): Promise<void> {
    await this.#attempt(
      `PUT ${this.url(key)}`,
      async () => {
        await this.#client.send(
          new PutObjectCommand({
            Bucket: this.#bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ContentType: options.contentType ?? "application/octet-stream",
            ...(options.ifNoneMatch === true ? { IfNoneMatch: "*" } : {}),
          }),
        );
      },
      {
        passThrough: options.ifNoneMatch === true ? isPreconditionFailed : undefined,
        ...(options.retry !== undefined ? { retry: options.retry } : {}),
      },
    );
  }

  /** Deletes object `key`; deleting a missing object succeeds. */
  async delete(key: string, retry?: RetryPolicy): Promise<void> {
    await this.#attempt(
      `DELETE ${this.url(key)}`,
      async () => {
        await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
      },
      retry !== undefined ? { retry } : {},
    );
  }

  /**
   * Deletes up to {@link DELETE_BATCH} objects in one request. If S3 could
   * not delete some, throws EIO naming the first of them (the others are
   * deleted).
   */
  async deleteBatch(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    if (keys.length > DELETE_BATCH) throw new RangeError(`deleteBatch: ${keys.length} keys, at most ${DELETE_BATCH}`);
    const errors = await this.#attempt(`DELETE ${keys.length} objects ${this.url(keys[0]!)} ...`, async () => {
      const output = await this.#client.send(
        new DeleteObjectsCommand({
          Bucket: this.#bucket,
          Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      return output.Errors ?? [];
    });
    const first = errors[0];
    if (first !== undefined) {
      throw new NbdError(
        "EIO",
        `DELETE ${this.url(first.Key ?? "?")}: ${first.Code ?? "Error"}: ${first.Message ?? ""} ` +
          `(${errors.length} of ${keys.length} objects of a batch delete failed)`,
      );
    }
  }

  /** Every object whose key starts with `prefix`, in key order, a page of up to 1000 at a time. */
  async *list(prefix: string): AsyncGenerator<ListedObject[]> {
    let token: string | undefined;
    do {
      const page = await this.#attempt(`LIST ${this.url(prefix)}`, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: prefix,
            ...(token !== undefined ? { ContinuationToken: token } : {}),
          }),
        ),
      );
      yield (page.Contents ?? []).map((object) => ({ key: object.Key ?? "", size: object.Size ?? 0 }));
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /**
   * Runs one S3 exchange with a permit, retrying what may succeed later.
   * `passThrough` errors are thrown unmapped and not retried.
   */
  async #attempt<T>(
    what: string,
    exchange: () => Promise<T>,
    options: { retry?: RetryPolicy; passThrough?: ((error: unknown) => boolean) | undefined } = {},
  ): Promise<T> {
    const retry = options.retry ?? this.#retry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#limit.run(exchange);
      } catch (error) {
        if (options.passThrough?.(error) === true) throw error;
        if (!isRetryable(error) || attempt >= retry.attempts) throw toNbdError(error, what, attempt);
        const pause = Math.min(retry.maxPauseMs, retry.firstPauseMs * 2 ** (attempt - 1));
        // Jitter (half the pause, plus up to as much again at random) spreads
        // out the clients that a throttling server slowed down together.
        const ms = Math.round(pause / 2 + (Math.random() * pause) / 2);
        try {
          await nanosleep(Math.floor(ms / 1000), (ms % 1000) * 1e6);
        } catch (sleepError) {
          // nbdkit is shutting down: report the failure, not the sleep.
          const failure = toNbdError(error, what, attempt);
          throw new NbdError(errnoOf(sleepError), `${failure.message}; not retried: nbdkit is shutting down`, { cause: error });
        }
      }
    }
  }

  /** Copies a response body into `into`, which it must fill exactly. */
  async #readBody(body: Readable, into: Buffer, url: string): Promise<void> {
    let at = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (at + chunk.length > into.length) {
        body.destroy();
        throw this.#wrongSize(url, "longer", into.length);
      }
      chunk.copy(into, at);
      at += chunk.length;
    }
    if (at !== into.length) throw this.#wrongSize(url, `${at} bytes`, into.length);
  }

  /** `actual` says what was found: "5 bytes", "shorter", "longer". */
  #wrongSize(url: string, actual: string, expected: number): NbdError {
    return new NbdError("EIO", `${url} is ${actual}, expected ${expected} bytes: ${this.#wrongSizeHint}`);
  }
}
