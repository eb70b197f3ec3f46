import type { S3Client } from "@aws-sdk/client-s3";
import { NbdError, debug } from "@nbdts/sdk";
import { BlockSet } from "./block-set.js";
import { createClient, defaultRegion } from "./client.js";
import { DEFAULT_OBJECT_SIZE, checkObjectSize, checkSizeMultiple, isObjectSize, type Settings } from "./config.js";
import { Disk } from "./disk.js";
import { errorName } from "./errors.js";
import { diskPrefix, parseBlockKey } from "./layout.js";
import { SingleObject } from "./single-object.js";
import { ObjectStore } from "./store.js";
import { WriterLock } from "./writer-lock.js";

/** A disk of block objects, read-write. */
export interface ServedDisk {
  readonly kind: "disk";
  readonly disk: Disk;
  /** The writer lock, unless `lock=false`. */
  readonly lock: WriterLock | undefined;
  readonly client: S3Client;
  /** `s3://bucket/key/`, for messages. */
  readonly url: string;
}

/** One object, read-only (no `size`). */
export interface ServedObject {
  readonly kind: "object";
  readonly object: SingleObject;
  readonly client: S3Client;
  /** `s3://bucket/key`, for messages. */
  readonly url: string;
}

/** What the server serves. */
export type Served = ServedDisk | ServedObject;

/**
 * Connects to S3 and gets the disk ready, before nbdkit serves anyone, so
 * that every problem (no such bucket, refused credentials, a held lock,
 * objects of another size) stops nbdkit at start-up with its reason:
 *
 * 1. the writer lock, when taken (the first request: it reveals a missing
 *    bucket or bad credentials with S3's own error code);
 * 2. the listing of every object under `<key>/` (ListObjectsV2, a page of
 *    1000 at a time): which blocks exist, and their size;
 * 3. the object size: `object-size`, else the size the existing objects
 *    share, else 1M; objects of another size are refused here when all of
 *    them disagree (a wrong object-size), and fail with EIO when read when
 *    only some do (damage).
 */
export async function startServing(settings: Settings): Promise<Served> {
  const region = settings.client.region ?? (await defaultRegion(settings.client)) ?? "us-east-1";
  const client = createClient(settings.client, region);
  try {
    return settings.size === undefined
      ? await startObject(settings, client)
      : await startDisk(settings, settings.size, client);
  } catch (error) {
    client.destroy();
    throw error;
  }
}

async function startDisk(settings: Settings, size: bigint, client: S3Client): Promise<Served> {
  const prefix = diskPrefix(settings.key);
  const url = `s3://${settings.bucket}/${prefix}`;
  const hint = "every object of this disk is object-size bytes; remove this object, or write its whole block again";
  const store = new ObjectStore(client, settings.bucket, settings.client.concurrency, settings.retry, hint);
  const lock = settings.lock ? await WriterLock.take(store, settings.key, settings.forceUnlock) : undefined;
  try {
    const present = new BlockSet();
    const sizes = new Map<number, number>();
    for await (const page of store.list(prefix)) {
      for (const object of page) {
        const block = parseBlockKey(prefix, object.key);
        if (block === undefined) continue;
        present.add(block);
        sizes.set(object.size, (sizes.get(object.size) ?? 0) + 1);
      }
    }
    const objectSize = chooseObjectSize(settings, url, sizes);
    checkSizeMultiple(size, objectSize, settings.objectSize === undefined ? "found from existing objects" : "object-size");
    const disk = new Disk(store, settings.key, size, objectSize, present, settings.client.concurrency);
    // Blocks past the end (the disk was larger once) are ignored: never read, never listed as extents.
    const beyond = [...present.values()].filter((block) => block >= disk.blocks);
    for (const block of beyond) present.delete(block);
    debug(
      "%s: %d objects of %d bytes exist (%d past the end of the disk, ignored); size %d, lock %s",
      url, present.size, objectSize, beyond.length, size, lock?.url ?? "not taken",
    );
    return { kind: "disk", disk, lock, client, url };
  } catch (error) {
    const warning = await lock?.release();
    if (warning !== undefined) console.error(`s3: ${warning}`);
    throw error;
  }
}

/**
 * The object size from the parameter or, without it, from the listing. A
 * listing whose objects all have one size that differs from `object-size`
 * means the parameter is wrong, which is refused rather than turning every
 * read into EIO.
 */
function chooseObjectSize(settings: Settings, url: string, sizes: Map<number, number>): number {
  const found = [...sizes.keys()];
  if (settings.objectSize !== undefined) {
    const other = found.length === 1 ? found[0]! : undefined;
    // One valid object size throughout: the disk was written with it.
    // Anything else is damage, reported when the objects are read.
    if (other !== undefined && other !== settings.objectSize && isObjectSize(other)) {
      const count = sizes.get(other)!;
      throw new NbdError(
        "EINVAL",
        `object-size=${settings.objectSize}, but ${count === 1 ? "the object" : `the ${count} objects`} under ${url} ` +
          `${count === 1 ? "is" : "are"} ${other} bytes: this disk was written with object-size=${other}; ` +
          `use that (or leave object-size out)`,
      );
    }
    return settings.objectSize;
  }
  if (found.length === 0) return DEFAULT_OBJECT_SIZE;
  if (found.length > 1) {
    const counts = found.sort((a, b) => a - b).map((bytes) => `${sizes.get(bytes)} of ${bytes} bytes`).join(", ");
    throw new NbdError(
      "EINVAL",
      `the objects under ${url} have different sizes (${counts}), so the object size cannot be found from them: give object-size`,
    );
  }
  return checkObjectSize(BigInt(found[0]!), `the size of the existing objects under ${url}`);
}

async function startObject(settings: Settings, client: S3Client): Promise<Served> {
  const store = new ObjectStore(
    client,
    settings.bucket,
    settings.client.concurrency,
    settings.retry,
    "the object changed size after nbdkit started; restart nbdkit to serve it as it is now",
  );
  const url = store.url(settings.key);
  let size: number | undefined;
  try {
    size = await store.size(settings.key);
  } catch (error) {
    // A HEAD response has no body, so a 403 does not say why: a listing
    // does (InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied).
    if (error instanceof NbdError && error.code === "EPERM") await explainWithListing(store, settings.key);
    throw error;
  }
  if (size === undefined) {
    await explainWithListing(store, settings.key);
    throw new NbdError(
      "ENOENT",
      `${url} does not exist: without size, key names one existing object to serve read-only; ` +
        `to make a new disk, give size (and optionally object-size)`,
    );
  }
  return { kind: "object", object: new SingleObject(store, settings.key, size), client, url };
}

/**
 * Lists one key to turn a bodiless HEAD failure into S3's error code
 * (NoSuchBucket, InvalidAccessKeyId, ...). Throws that error if the listing
 * fails for a reason other than a missing permission to list.
 */
async function explainWithListing(store: ObjectStore, key: string): Promise<void> {
  try {
    for await (const page of store.list(key)) {
      void page;
      break;
    }
  } catch (error) {
    // Permission to read an object does not imply permission to list.
    const cause = error instanceof NbdError ? error.cause : error;
    if (errorName(cause) === "AccessDenied") return;
    throw error;
  }
}

/** How long shutdown waits to remove the writer lock before giving up on it. */
const RELEASE_DEADLINE_MS = 5000;

/**
 * Releases the lock and the HTTP sockets; warnings go to nbdkit's log.
 * Bounded: a server that does not answer costs at most a few seconds of
 * nbdkit's exit, and leaves the lock for force-unlock.
 */
export async function stopServing(served: Served): Promise<void> {
  if (served.kind === "disk" && served.lock !== undefined) {
    const lock = served.lock;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve(`could not remove the writer lock ${lock.url} within ${RELEASE_DEADLINE_MS / 1000} s; the next server on this disk needs force-unlock=true`),
        RELEASE_DEADLINE_MS,
      );
    });
    const warning = await Promise.race([lock.release(), deadline]);
    clearTimeout(timer);
    if (warning !== undefined) console.error(`s3: ${warning}`);
  }
  served.client.destroy();
}
