/**
 * The value types of nbdkit's plugin API (nbdkit-plugin(3)), in TypeScript.
 *
 * Offsets and sizes are `bigint`: NBD is a 64-bit protocol and disks up to
 * 2^63−1 bytes are valid. Counts (the length of one request) are `number`:
 * nbdkit never passes more than 2^32−1 and data requests are at most 64 MiB.
 */

/** A size or offset returned by a plugin: a `bigint`, or a safe integer `number`. */
export type Size = bigint | number;

/** The raw flag bits nbdkit passes to data callbacks (`NBDKIT_FLAG_*`). */
export const FLAG = Object.freeze({
  MAY_TRIM: 1,
  FUA: 2,
  REQ_ONE: 4,
  FAST_ZERO: 8,
} as const);

/**
 * The flags of one request. Each is a boolean view of one bit of `raw`:
 * - `fua`: write with Force Unit Access; only sent when `canFua` is `"native"`.
 * - `mayTrim`: `zero` may punch a hole instead of writing zeroes (the client
 *   did not send NO_HOLE).
 * - `reqOne`: `extents` need only return one extent (the client asked for one).
 * - `fastZero`: `zero` must fail fast with `NbdError.notSupported()` rather
 *   than fall back to something slower than writing would be.
 */
export interface Flags {
  readonly fua: boolean;
  readonly mayTrim: boolean;
  readonly reqOne: boolean;
  readonly fastZero: boolean;
  /** The bits as nbdkit passed them, for forwarding (see {@link FLAG}). */
  readonly raw: number;
}

const flagTable: readonly Flags[] = Array.from({ length: 16 }, (_, raw) =>
  Object.freeze({
    fua: (raw & FLAG.FUA) !== 0,
    mayTrim: (raw & FLAG.MAY_TRIM) !== 0,
    reqOne: (raw & FLAG.REQ_ONE) !== 0,
    fastZero: (raw & FLAG.FAST_ZERO) !== 0,
    raw,
  }),
);

/**
 * The {@link Flags} for a set of raw bits. The objects are frozen and shared,
 * so a request costs no allocation for its flags.
 */
export function flagsFromBits(raw: number): Flags {
  const cached = flagTable[raw];
  if (cached !== undefined) return cached;
  return Object.freeze({
    fua: (raw & FLAG.FUA) !== 0,
    mayTrim: (raw & FLAG.MAY_TRIM) !== 0,
    reqOne: (raw & FLAG.REQ_ONE) !== 0,
    fastZero: (raw & FLAG.FAST_ZERO) !== 0,
    raw,
  });
}

/** No flags set. */
export const NO_FLAGS: Flags = flagsFromBits(0);

/**
 * How a plugin handles Force Unit Access (`can_fua`):
 * - `"none"`: FUA is not advertised to clients.
 * - `"emulate"`: nbdkit calls `flush` after a write that asked for FUA.
 * - `"native"`: the plugin receives `flags.fua` and makes the write durable itself.
 */
export type FuaMode = "none" | "emulate" | "native";

/**
 * How a plugin handles NBD_CMD_CACHE (`can_cache`); OCaml's CacheNone,
 * CacheEmulate and CacheNop:
 * - `"none"`: not advertised.
 * - `"emulate"`: nbdkit reads the range and discards the data.
 * - `"native"`: the plugin's `cache` callback is called (or, without one,
 *   the request succeeds at once).
 */
export type CacheMode = "none" | "emulate" | "native";

/**
 * nbdkit's thread models, from the most serialised to the least:
 * - `"serialize_connections"`: one connection at a time.
 * - `"serialize_all_requests"`: many connections, one request at a time
 *   across all of them (the default for TypeScript plugins, as for Python).
 * - `"serialize_requests"`: one request at a time per connection.
 * - `"parallel"`: any number of requests at once; async callbacks overlap.
 */
export type ThreadModel =
  | "serialize_connections"
  | "serialize_all_requests"
  | "serialize_requests"
  | "parallel";

/** The thread models in nbdkit's numeric order (`NBDKIT_THREAD_MODEL_*`). */
export const THREAD_MODELS: readonly ThreadModel[] = Object.freeze([
  "serialize_connections",
  "serialize_all_requests",
  "serialize_requests",
  "parallel",
]);

/**
 * One extent of an `extents` reply. Extents must be returned in ascending,
 * contiguous order; the first must start at or before the requested offset.
 * - `hole`: the range is not allocated.
 * - `zero`: the range reads as zeroes.
 * A normal sparse hole is `{ hole: true, zero: true }`; allocated data is both false.
 */
export interface Extent {
  offset: Size;
  length: Size;
  hole?: boolean;
  zero?: boolean;
}

/** One export listed by `listExports`. */
export interface Export {
  name: string;
  description?: string;
}

/**
 * Block size constraints advertised to clients (`block_size`). nbdkit checks
 * them: 1 ≤ minimum ≤ 64 KiB, minimum and preferred are powers of two,
 * 512 ≤ preferred ≤ 32 MiB, maximum is 0xffffffff or a multiple of minimum,
 * and minimum ≤ preferred ≤ maximum. All three zero means "no constraints".
 */
export interface BlockSize {
  minimum: number;
  preferred: number;
  maximum: number;
}

/** The credentials of a client connected over a Unix domain socket. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** What `open` learns about the connection it opens. */
export interface OpenArgs<P> {
  /** The server runs with `-r`, or the client asked for a read-only connection. */
  readonly: boolean;
  /** The export the client asked for, after `defaultExport` resolved `""`. */
  exportName: string;
  /** The connection uses TLS. */
  tls: boolean;
  /** The plugin's parsed parameters. */
  params: P;
}

/** What `listExports` and `defaultExport` learn about the client. */
export interface ExportsArgs<P> {
  readonly: boolean;
  tls: boolean;
  params: P;
}

/** What `preconnect` learns: it runs before the NBD handshake. */
export interface PreconnectArgs {
  readonly: boolean;
}

/** Extra `key=value` lines printed by `nbdkit --dump-plugin`. */
export type DumpLines =
  | Readonly<Record<string, string | number | bigint | boolean>>
  | readonly string[];

/** A value that may be returned directly or through a Promise. */
export type MaybePromise<T> = T | Promise<T>;
