/**
 * @nbdts/s3: disks stored on S3 or any S3-compatible store.
 *
 *     nbdkit ts plugin=@nbdts/s3 bucket=vm-images key=web1 size=100G
 *
 * The README is the manual. The pieces:
 * - config.ts: parameters and the rules between them;
 * - startup.ts: connecting, the writer lock, the listing of existing objects;
 * - disk.ts: reads, writes, zero, trim and extents on block objects;
 * - single-object.ts: one object served read-only;
 * - store.ts, client.ts, errors.ts: S3 requests, retries, errors;
 * - layout.ts, block-set.ts, concurrency.ts: object names, the record of
 *   existing objects, locks.
 */

import { NbdError, definePlugin, type ParamSpec } from "@nbdts/sdk";
import { ALIASES, schema, settingsFrom, type Params, type Settings } from "./config.js";
import type { Disk } from "./disk.js";
import { startServing, stopServing, type Served } from "./startup.js";

/** A connection's handle: what the server serves (the same for every connection). */
interface Handle {
  readonly served: Served;
}

/** Values given with the "_" spellings of nbdkit's Python S3 plugin, by the parameter they stand for. */
const aliasValues = new Map<keyof typeof schema, { alias: string; value: unknown }>();
/** The checked configuration, from configComplete. */
let settings: Settings | undefined;
/** The disk or object being served, from getReady: one per server, shared by every connection. */
let served: Served | undefined;
/** The shutdown in progress (cleanup, then unload, both end the same one). */
let stopping: Promise<void> | undefined;

function writableDisk(h: Handle): Disk {
  if (h.served.kind !== "disk") throw new NbdError("EROFS", `${h.served.url} is served read-only (no size given)`);
  return h.served.disk;
}

function stop(): Promise<void> {
  if (served === undefined) return Promise.resolve();
  stopping ??= stopServing(served);
  return stopping;
}

export default definePlugin({
  name: "s3",
  longname: "nbdts S3 plugin",
  version: "0.1.0",
  description: "Disks stored on S3 or any S3-compatible store, compatible with nbdkit's S3 plugin.",
  threadModel: "parallel",
  params: schema,
  configHelp: "The spellings of nbdkit's S3 plugin are accepted too: object_size, endpoint_url, access_key, secret_key, session_token.",

  config(key, value) {
    const target = ALIASES[key];
    if (target === undefined) throw new NbdError("EINVAL", unknownParameter(key));
    const previous = aliasValues.get(target);
    if (previous !== undefined) {
      throw new NbdError("EINVAL", `${key}: given twice (also as ${previous.alias}); give each parameter once`);
    }
    const spec = schema[target] as ParamSpec<unknown>;
    const parsed = (async () => {
      try {
        return await spec.parse(value);
      } catch (error) {
        // readPassword's messages may quote a mistyped secret, whole or
        // after its "-" (a secret "-abcd" reads as -FD and fails to parse).
        // Short values are file descriptors, not secrets, and stay readable.
        let message = (error as Error).message;
        if (spec.secret) {
          for (const shown of [value, value.startsWith("-") ? value.slice(1) : ""]) {
            if (shown.length >= 4) message = message.split(shown).join("(value hidden)");
          }
        }
        throw new NbdError("EINVAL", `${key}: ${message}`);
      }
    })();
    return parsed.then((result) => void aliasValues.set(target, { alias: key, value: result }));
  },

  configComplete(p) {
    const merged: Record<string, unknown> = { ...p };
    for (const [target, { alias, value }] of aliasValues) {
      if (merged[target] !== undefined) {
        throw new NbdError("EINVAL", `${target} and ${alias} are the same parameter: give it once`);
      }
      merged[target] = value;
    }
    settings = settingsFrom(merged as Params);
  },

  async getReady() {
    if (settings === undefined) throw new NbdError("EINVAL", "configuration did not complete");
    served = await startServing(settings);
  },

  async cleanup() {
    await stop();
  },

  async unload() {
    await stop();
  },

  open(): Handle {
    if (served === undefined) throw new NbdError("EIO", "the S3 disk is not open: start-up (getReady) did not complete");
    return { served };
  },

  getSize(h) {
    return h.served.kind === "disk" ? h.served.disk.size : h.served.object.size;
  },

  exportDescription(h) {
    if (h.served.kind === "object") return `${h.served.url} (read-only)`;
    return `${h.served.url} in objects of ${h.served.disk.objectSize} bytes`;
  },

  blockSize(h) {
    // Any alignment works: a request that covers part of an object is
    // read-modify-written here, under the object's lock. So the minimum is
    // 1 byte, within nbdkit's 64K limit whatever the object size, and the
    // preferred size, the object size, tells clients what avoids that cost.
    if (h.served.kind === "object") return { minimum: 1, preferred: 1024 * 1024, maximum: 0xffffffff };
    return { minimum: 1, preferred: h.served.disk.objectSize, maximum: 0xffffffff };
  },

  canWrite(h) {
    return h.served.kind === "disk";
  },
  canFlush() {
    return true;
  },
  canTrim(h) {
    return h.served.kind === "disk";
  },
  canZero(h) {
    return h.served.kind === "disk";
  },
  canFastZero(h) {
    return h.served.kind === "disk";
  },
  canExtents() {
    return true;
  },
  canFua(h) {
    // Writes are in S3 before they are acknowledged, FUA or not.
    return h.served.kind === "disk" ? "native" : "none";
  },
  canMultiConn() {
    // One process-wide disk, write-through: every connection sees every acknowledged write.
    return true;
  },
  isRotational() {
    return false;
  },

  pread(h, buf, offset) {
    return h.served.kind === "disk" ? h.served.disk.read(buf, offset) : h.served.object.read(buf, offset);
  },
  pwrite(h, buf, offset) {
    return writableDisk(h).write(buf, offset);
  },
  flush() {
    // Nothing to do: every write was in S3 before it was acknowledged.
  },
  zero(h, count, offset, flags) {
    return writableDisk(h).zero(count, offset, flags);
  },
  trim(h, count, offset) {
    return writableDisk(h).trim(count, offset);
  },
  extents(h, count, offset, flags) {
    if (h.served.kind === "object") return [{ offset, length: BigInt(count), hole: false, zero: false }];
    return h.served.disk.extents(count, offset, flags);
  },
});

/** The message for a key that is neither a parameter nor an alias, with a suggestion when one is close. */
function unknownParameter(key: string): string {
  const names = Object.keys(schema);
  const normalised = key.toLowerCase().replace(/_/g, "-");
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of names) {
    const d = editDistance(normalised, name);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  const suggestion = best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean "${best}"?)` : "";
  return `unknown parameter "${key}" for plugin s3${suggestion}; it takes: ${names.join(", ")}`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    previous = row;
  }
  return previous[b.length]!;
}
