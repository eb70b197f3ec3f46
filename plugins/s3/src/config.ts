import { NbdError, params, type ParsedParams } from "@nbdts/sdk";
import type { ClientSettings } from "./client.js";
import type { RetryPolicy } from "./store.js";

/** The object size of new disks when `object-size` is not given and no objects exist yet. */
export const DEFAULT_OBJECT_SIZE = 1024 * 1024;
/** Object sizes: powers of two in this range (NBD's preferred block size is at most 32 MiB). */
export const MIN_OBJECT_SIZE = 512;
export const MAX_OBJECT_SIZE = 32 * 1024 * 1024;

const SECONDS = /^(\d+(\.\d*)?|\.\d+)$/;

/**
 * The parameters, named as nbdkit's Python S3 plugin names them (bucket,
 * key, size, object-size, endpoint-url, access-key, secret-key,
 * session-token), plus the ones its users miss.
 */
export const schema = {
  bucket: params.string({ required: true, nonEmpty: true, description: "The bucket holding the disk." }),
  key: params.string({
    required: true,
    nonEmpty: true,
    description: "With size: the disk's object prefix (objects KEY/0000000000000000 ...); without: one object served read-only.",
  }),
  size: params.size({ description: "Size of the disk; makes it read-write, stored in objects of object-size." }),
  "object-size": params.size({
    description: "Bytes per object, a power of two from 512 to 32M (default: that of existing objects, else 1M).",
  }),
  "endpoint-url": params.string({
    nonEmpty: true,
    description: "An S3-compatible server, e.g. http://127.0.0.1:7480 (default: AWS).",
  }),
  region: params.string({ nonEmpty: true, description: "The region (default: AWS_REGION, the profile's, else us-east-1)." }),
  "access-key": params.string({ nonEmpty: true, description: "Access key ID (default: the AWS credential chain)." }),
  "secret-key": params.password({ description: "Secret access key: -, -FD or +FILE keep it off the command line." }),
  "session-token": params.password({ description: "Session token of temporary credentials, read like secret-key." }),
  profile: params.string({ nonEmpty: true, description: "Profile of ~/.aws/credentials and ~/.aws/config to use." }),
  "force-path-style": params.bool({
    description: "Address the bucket in the path, not the host name (default: true with endpoint-url).",
  }),
  "max-concurrency": params.int({
    min: 1,
    max: 1024,
    default: 64,
    description: "S3 requests in flight at most, shared by all connections; also the HTTP sockets.",
  }),
  retries: params.int({ min: 0, max: 100, default: 5, description: "Retries of a failed request (throttling, 5xx, timeouts)." }),
  timeout: {
    ...params.string({
      pattern: SECONDS,
      default: "30",
      description: "Seconds an attempt may take to get its response, or pause in a transfer.",
    }),
    kind: "SECONDS",
  },
  lock: params.bool({ default: true, description: "Take the writer lock object KEY/nbdts.lock (read-write disks)." }),
  "force-unlock": params.bool({ default: false, description: "Take the writer lock even if another server holds it." }),
  checksums: params.oneOf(["when-required", "when-supported"], {
    description: "SDK request checksums (default: when-required with endpoint-url, else when-supported).",
  }),
};

export type Params = ParsedParams<typeof schema>;

/**
 * Spellings with "_" that nbdkit's Python S3 plugin also accepts, mapped to
 * the parameter they stand for.
 */
export const ALIASES: Readonly<Record<string, keyof typeof schema>> = Object.freeze({
  object_size: "object-size",
  endpoint_url: "endpoint-url",
  access_key: "access-key",
  secret_key: "secret-key",
  session_token: "session-token",
});

/** What the plugin needs, checked and with defaults applied (no network yet). */
export interface Settings {
  readonly bucket: string;
  readonly key: string;
  /** Absent: single-object mode (read-only). */
  readonly size: bigint | undefined;
  /** Absent: found from existing objects at start-up, else {@link DEFAULT_OBJECT_SIZE}. */
  readonly objectSize: number | undefined;
  readonly client: ClientSettings;
  readonly retry: RetryPolicy;
  readonly lock: boolean;
  readonly forceUnlock: boolean;
}

function invalid(message: string): NbdError {
  return new NbdError("EINVAL", message);
}

/** Whether `bytes` is a possible object size: a power of two from 512 bytes to 32 MiB. */
export function isObjectSize(bytes: number | bigint): boolean {
  const value = BigInt(bytes);
  return value >= BigInt(MIN_OBJECT_SIZE) && value <= BigInt(MAX_OBJECT_SIZE) && (value & (value - 1n)) === 0n;
}

/** Checks one object size (see {@link isObjectSize}); `what` says where it came from. */
export function checkObjectSize(value: bigint, what: string): number {
  if (!isObjectSize(value)) {
    throw invalid(
      `${what} is ${value}, which is not a power of two from 512 to 32M: use e.g. object-size=64k, 1M (the default) or 4M`,
    );
  }
  return Number(value);
}

/** Checks that the disk size is a whole number of objects, as the object layout needs. */
export function checkSizeMultiple(size: bigint, objectSize: number, objectSizeSource: string): void {
  const object = BigInt(objectSize);
  if (size === 0n || size % object !== 0n) {
    const up = ((size + object - 1n) / object) * object;
    throw invalid(
      `size=${size} is not a positive multiple of the object size ${objectSize} (${objectSizeSource}): ` +
        `every object holds object-size bytes, so use size=${up === 0n ? object : up}`,
    );
  }
  if (size / object > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalid(`size=${size} needs more than 2^53 objects of ${objectSize} bytes: use a larger object-size`);
  }
}

/** Applies the rules that tie parameters together; throws EINVAL naming them. */
export function settingsFrom(p: Params): Settings {
  const endpoint = p["endpoint-url"];
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
      throw invalid(`endpoint-url: ${JSON.stringify(endpoint)} is not an http:// or https:// URL (e.g. http://127.0.0.1:7480)`);
    }
  }
  const accessKey = p["access-key"];
  const secretKey = p["secret-key"];
  const sessionToken = p["session-token"];
  if ((accessKey === undefined) !== (secretKey === undefined)) {
    throw invalid(
      accessKey === undefined
        ? "secret-key was given without access-key: give both, or neither to use the AWS credential chain"
        : "access-key was given without secret-key: give both, or neither to use the AWS credential chain",
    );
  }
  if (sessionToken !== undefined && accessKey === undefined) {
    throw invalid("session-token needs access-key and secret-key (the temporary credentials it belongs to)");
  }
  if (p.profile !== undefined && accessKey !== undefined) {
    throw invalid("give either access-key and secret-key, or profile, not both");
  }
  if (p["object-size"] !== undefined && p.size === undefined) {
    throw invalid(
      "object-size was given without size: without size, key names one object served read-only; " +
        "give size too to serve a disk stored in objects",
    );
  }
  const objectSize = p["object-size"] === undefined ? undefined : checkObjectSize(p["object-size"], "object-size");
  if (p.size !== undefined && objectSize !== undefined) checkSizeMultiple(p.size, objectSize, "object-size");
  const timeout = Number(p.timeout);
  if (!(timeout > 0) || timeout > 3600) {
    throw invalid(`timeout: ${JSON.stringify(p.timeout)} is out of range: expected seconds above 0, at most 3600`);
  }
  if (p["force-unlock"] && !p.lock) {
    throw invalid("force-unlock=true takes the writer lock, and lock=false says not to take it: give one of them");
  }
  const credentials =
    accessKey === undefined || secretKey === undefined
      ? undefined
      : {
          accessKeyId: accessKey,
          secretAccessKey: secretKey,
          ...(sessionToken !== undefined ? { sessionToken } : {}),
        };
  return {
    bucket: p.bucket,
    key: p.key,
    size: p.size,
    objectSize,
    client: {
      endpoint,
      region: p.region,
      forcePathStyle: p["force-path-style"] ?? endpoint !== undefined,
      credentials,
      profile: p.profile,
      concurrency: p["max-concurrency"],
      timeoutMs: Math.max(1, Math.round(timeout * 1000)),
      checksums: p.checksums ?? (endpoint !== undefined ? "when-required" : "when-supported"),
    },
    retry: { attempts: p.retries + 1, firstPauseMs: 100, maxPauseMs: 5000 },
    lock: p.lock,
    forceUnlock: p["force-unlock"],
  };
}
