/**
 * @nbdts/sqlite: disks stored in one SQLite database, served by nbdkit.
 *
 *   nbdkit ts plugin=@nbdts/sqlite file=disks.db size=10G
 *
 * Every disk in the file is an export. The file is opened and locked in
 * getReady, before nbdkit serves anything; requests then run against one
 * SQLite connection shared by every client (README.md is the manual).
 *
 * Thread model: "parallel". better-sqlite3 is synchronous, so every callback
 * runs to completion on the host's one thread and is atomic with respect to
 * the others (a read-modify-write of a block cannot interleave with another
 * request). "parallel" lets nbdkit hand several requests to the host at once,
 * so the host takes them in a batch instead of one round trip each.
 */

import { ConfigError, NbdError, definePlugin, params, parseSize, type Export, type Flags, type ParamSpec } from "@nbdts/sdk";
import type { Disk } from "./disk.js";
import { formatSize, quote } from "./format.js";
import { DEFAULT_BLOCK_SIZE, checkBlockSize } from "./schema.js";
import { DiskFile, DiskFileError, describeDisk, requestError } from "./store.js";

export { DiskFile, DiskFileError, describeDisk, type DiskInfo, type OpenOptions, type SyncMode } from "./store.js";
export { SCHEMA_VERSION, APPLICATION_ID, DEFAULT_BLOCK_SIZE } from "./schema.js";

/** `block-size=`: nbdkit's size grammar, then a power of two from 4k to 4M. */
const blockSizeParam: ParamSpec<number> = Object.freeze({
  kind: "size",
  required: false,
  description: `Block size of disks created by this server: a power of two from 4k to 4M.`,
  secret: false,
  defaultValue: DEFAULT_BLOCK_SIZE,
  parse(value: string): number {
    const bytes = parseSize(value); // its RangeError names the value
    const problem = checkBlockSize(bytes);
    if (problem !== undefined) throw new Error(`${quote(value)} is not a valid block size: ${problem}`);
    return Number(bytes);
  },
});

const schema = {
  file: params.path({ required: true, description: "The SQLite database holding the disks; created if absent." }),
  size: params.size({ description: "Size of a disk created when a client opens a name the file does not have." }),
  "block-size": blockSizeParam,
  export: params.string({ default: "", description: 'The disk a client gets when it asks for the default export "".' }),
  "max-size": params.size({
    description: "The most the database file may grow to; writes that need more fail with ENOSPC.",
  }),
  sync: params.oneOf(["full", "normal"], {
    default: "full",
    description: "full: a flush fsyncs (survives power loss); normal: a flush survives a crash of nbdkit or Node.",
  }),
};

/** The smallest max-size= accepted: an empty disk file takes a few pages. */
const MIN_MAX_SIZE = 1024n * 1024n;

/** The open disk file; set in getReady, before any connection. */
let database: DiskFile | undefined;
/** Open connections, so that the last one to close commits. */
let connections = 0;

function diskFile(): DiskFile {
  if (database === undefined) throw new NbdError("EIO", "the disk file is not open (getReady did not run)");
  return database;
}

/** Runs a request, turning SQLite's errors into the errno the client should see. */
function request<T>(body: () => T): T {
  try {
    return body();
  } catch (error) {
    throw requestError(error);
  }
}

interface Handle {
  readonly disk: Disk;
}

function afterWrite(flags: Flags): void {
  if (flags.fua) diskFile().flush();
}

export default definePlugin({
  name: "sqlite",
  longname: "nbdts SQLite disk store",
  version: "0.1.0",
  description: "Disks stored in one SQLite database; every disk in the file is an export.",
  magicConfigKey: "file",
  threadModel: "parallel",
  params: schema,

  configComplete(config) {
    // A ConfigError, here and in getReady, is logged as its message alone:
    // it is written for the person who started nbdkit.
    const maxSize = config["max-size"];
    if (maxSize !== undefined && maxSize < MIN_MAX_SIZE) {
      throw new ConfigError(`max-size: ${maxSize} bytes is too small: expected at least 1M`, "max-size");
    }
  },

  getReady(config) {
    try {
      database = DiskFile.open(config.file, {
        sync: config.sync,
        ...(config["max-size"] !== undefined ? { maxBytes: config["max-size"] } : {}),
      });
    } catch (error) {
      if (error instanceof DiskFileError) throw new ConfigError(`file: ${error.message}`, "file", { cause: error });
      throw error;
    }
  },

  cleanup() {
    database?.close();
    database = undefined;
  },

  defaultExport({ params: config }) {
    return config.export;
  },

  listExports({ params: config, readonly }) {
    const exports: Export[] = diskFile()
      .list()
      .map((info) => ({ name: info.name, description: describeDisk(info) }));
    if (config.size !== undefined && !readonly && !exports.some((entry) => entry.name === config.export)) {
      exports.unshift({
        name: config.export,
        description: `${formatSize(config.size)} disk, block size ${formatSize(config["block-size"])}, created on first open`,
      });
    }
    return exports;
  },

  open({ exportName, readonly, params: config }): Handle {
    const store = diskFile();
    let info = store.find(exportName);
    if (info === undefined) {
      const size = config.size;
      if (size === undefined) {
        throw new NbdError("ENOENT", `${store.noSuchDisk(exportName)} (give size= to create disks on first open, or use nbdts-sqlite create)`);
      }
      if (readonly) {
        throw new NbdError("EROFS", `${store.noSuchDisk(exportName)}, and a read-only connection does not create one`);
      }
      info = request(() => store.create(exportName, size, config["block-size"]));
    }
    connections++;
    return { disk: store.disk(info) };
  },

  close() {
    connections--;
    if (connections === 0) {
      try {
        database?.commit();
      } catch (error) {
        console.error(`sqlite: committing after the last connection closed failed: ${String(error)}`);
      }
    }
  },

  getSize(h) {
    return h.disk.size;
  },

  exportDescription(h) {
    return describeDisk(h.disk.info);
  },

  blockSize(h) {
    // Writes of whole, aligned blocks avoid a read-modify-write.
    return { minimum: 1, preferred: h.disk.blockSize, maximum: 0xffffffff };
  },

  canMultiConn() {
    // One SQLite connection serves every client and a flush commits all of
    // it, so each connection sees the others' writes and flushes.
    return true;
  },

  canFua() {
    return "native" as const;
  },

  canFastZero() {
    // Zeroing deletes rows: never slower than writing zeroes.
    return true;
  },

  pread(h, buf, offset) {
    request(() => h.disk.read(buf, offset));
  },

  pwrite(h, buf, offset, flags) {
    request(() => {
      h.disk.write(buf, offset);
      afterWrite(flags);
    });
  },

  zero(h, count, offset, flags) {
    request(() => {
      h.disk.zero(count, offset);
      afterWrite(flags);
    });
  },

  trim(h, count, offset, flags) {
    request(() => {
      h.disk.trim(count, offset);
      afterWrite(flags);
    });
  },

  flush() {
    request(() => diskFile().flush());
  },

  extents(h, count, offset, flags) {
    return request(() => h.disk.extents(count, offset, flags.reqOne));
  },
});
