/**
 * @nbdts/file: serve a file, a block device, or a directory of them.
 *
 *   nbdkit ts plugin=@nbdts/file file=disk.img
 *   nbdkit ts @nbdts/file disk.img
 *   nbdkit ts @nbdts/file dir=/var/lib/images
 *
 * A port of nbdkit's file plugin (nbdkit-file-plugin(1)): the same
 * parameters, the same zeroing strategy, extents from SEEK_DATA/SEEK_HOLE,
 * trim by punching holes, flush and FUA by fdatasync, cache by
 * posix_fadvise(WILLNEED). Every system call runs in libuv's thread pool
 * through @nbdts/native/fileio, so requests overlap (thread model
 * `parallel`), and data moves straight between the file and the request's
 * shared memory, with no copy in between.
 */

import { fstat as fstatCallback, statSync } from "node:fs";
import { createRequire } from "node:module";
import { promisify } from "node:util";
import {
  blockDeviceSize,
  constants as io,
  fadvise,
  fallocate,
  fdatasync,
  preadFast,
  pwriteFast,
  seekData,
  seekHole,
  zeroOut,
} from "@nbdts/native/fileio";
import {
  ConfigError,
  NbdError,
  debug,
  errnoOf,
  definePlugin,
  params,
  type CacheMode,
  type Export,
  type Extent,
  type Flags,
  type FuaMode,
  type ParsedParams,
} from "@nbdts/sdk";
import { listDirectory, resolveExport } from "./directory.js";
import {
  CACHE_MODES,
  FADVISE_MODES,
  closeFileHandle,
  openFileHandle,
  type FileHandle,
} from "./file-handle.js";

export type { FileHandle } from "./file-handle.js";

const { version } = createRequire(import.meta.url)("../package.json") as { version: string };
const fsFstat = promisify(fstatCallback);

const schema = {
  file: params.path({ mustExist: true, description: "The file or block device to serve." }),
  dir: params.path({
    mustExist: true,
    type: "directory",
    description: "Serve every regular file and block device in this directory, named by the export name.",
  }),
  cache: params.oneOf(CACHE_MODES, {
    default: "default",
    description: "none: keep the file's pages out of the page cache.",
  }),
  fadvise: params.oneOf(FADVISE_MODES, {
    default: "normal",
    description: "Hint how the file will be read (posix_fadvise).",
  }),
};

type FileParams = ParsedParams<typeof schema>;

const PUNCH_HOLE = io.FALLOC_FL_PUNCH_HOLE | io.FALLOC_FL_KEEP_SIZE;

/** Whether an error is the kernel's "not supported" (EOPNOTSUPP and ENOTSUP are one errno on Linux). */
function isNotSupported(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "EOPNOTSUPP" || code === "ENOTSUP";
}

/** Checks that exactly one of file= and dir= was given, and that file= is something that can be served. */
function fileConfigComplete({ file, dir }: FileParams): void {
  if (file === undefined && dir === undefined) {
    throw new ConfigError(
      "missing parameter: give either [file=]<FILENAME> (a file or block device to serve) or dir=<DIRECTORY> (serve the files in it)",
    );
  }
  if (file !== undefined && dir !== undefined) {
    throw new ConfigError(`file=${file} and dir=${dir} cannot be used together: give one of them`, "dir");
  }
  if (file !== undefined) {
    const stats = statSync(file);
    if (stats.isDirectory()) {
      throw new ConfigError(`file=${file} is a directory: to serve the files in it, use dir=${file}`, "file");
    }
    if (!stats.isFile() && !stats.isBlockDevice()) {
      throw new ConfigError(`file=${file} is not a regular file or a block device: it cannot be served`, "file");
    }
  }
}

/**
 * Opens the file for the connection: file= whatever the export name, or in
 * dir= mode the file the export name names (see directory.ts for what is
 * refused).
 */
async function fileOpen({ readonly, exportName, params }: { readonly: boolean; exportName: string; params: FileParams }): Promise<FileHandle> {
  const path = params.dir !== undefined ? await resolveExport(params.dir, exportName) : params.file!;
  try {
    // In dir= mode `path` is a checked real path: a link swapped in since is refused.
    return await openFileHandle(path, {
      readonly,
      fadvise: params.fadvise,
      cache: params.cache,
      noFollow: params.dir !== undefined,
    });
  } catch (error) {
    if (error instanceof NbdError) throw error;
    // Keep the errno; Node's message already names the call and the path.
    throw new NbdError(errnoOf(error), (error as Error).message, { cause: error });
  }
}

/** In dir= mode, the files of the directory; otherwise the one default export. */
async function fileListExports({ params }: { params: FileParams }): Promise<Export[]> {
  if (params.dir === undefined) return [{ name: "" }];
  return listDirectory(params.dir);
}

/** The size: st_size for a regular file (exact as a bigint), BLKGETSIZE64 for a block device (whose st_size is 0). */
async function fileGetSize(h: FileHandle): Promise<bigint> {
  if (h.isBlockDevice) return blockDeviceSize(h.fd);
  return (await fsFstat(h.fd, { bigint: true })).size;
}

/** SEEK_HOLE works on most file systems; where it fails, nbdkit reports everything as data. */
async function fileCanExtents(h: FileHandle): Promise<boolean> {
  try {
    await seekHole(h.fd, 0n);
    return true;
  } catch (error) {
    debug("extents disabled: lseek: SEEK_HOLE: %s", (error as Error).message);
    return false;
  }
}

/**
 * Straight into the request's memory: from the page cache at once when the
 * data is there (then nothing is returned and nbdkit gets the reply without
 * delay), else one thread-pool job.
 */
function filePread(h: FileHandle, buf: Buffer, offset: bigint): Promise<void> | undefined {
  return preadFast(h.fd, buf, offset, h.readFlags);
}

/** Like filePread; with FUA, the write and its fdatasync are one thread-pool job. */
function filePwrite(h: FileHandle, buf: Buffer, offset: bigint, flags: Flags): Promise<void> | undefined {
  return pwriteFast(h.fd, buf, offset, flags.fua ? h.writeFlags | io.WRITE_SYNC : h.writeFlags);
}

function fileFlush(h: FileHandle): Promise<void> {
  return fdatasync(h.fd);
}

/**
 * Tries one fallocate mode: true when it worked, false when the kernel does
 * not support it here; any other failure fails the request.
 */
async function tryFallocate(h: FileHandle, mode: number, count: number, offset: bigint): Promise<boolean> {
  try {
    await fallocate(h.fd, mode, offset, BigInt(count));
    return true;
  } catch (error) {
    if (isNotSupported(error)) return false;
    throw error;
  }
}

/**
 * Zeroes a range, trying the fast ways in nbdkit's order, then asking nbdkit
 * to write zeroes itself (NbdError.notSupported):
 *   1. punch a hole, when the client allows one (flags.mayTrim);
 *   2. FALLOC_FL_ZERO_RANGE;
 *   3. punch a hole, then fallocate it back (regular files);
 *   4. ioctl BLKZEROOUT (block devices, sector-aligned ranges).
 * Under flags.fastZero only ways that cannot turn into writing zeroes are
 * tried: on a block device the kernel may write zeroes itself for
 * ZERO_RANGE and BLKZEROOUT, so those are skipped, and when nothing fast is
 * left the request fails with ENOTSUP instead of being written.
 * On a block device, ranges not aligned to the sector size are left to
 * nbdkit's writes (the kernel refuses them with EINVAL).
 */
async function fileZero(h: FileHandle, count: number, offset: bigint, flags: Flags): Promise<void> {
  const aligned = !h.isBlockDevice || (offset % BigInt(h.sectorSize) === 0n && count % h.sectorSize === 0);
  let zeroed = false;
  if (aligned && h.canPunchHole && flags.mayTrim) {
    zeroed = await tryFallocate(h, PUNCH_HOLE, count, offset);
    if (!zeroed) h.canPunchHole = false;
  }
  if (!zeroed && aligned && h.canZeroRange && !(flags.fastZero && h.isBlockDevice)) {
    zeroed = await tryFallocate(h, io.FALLOC_FL_ZERO_RANGE, count, offset);
    if (!zeroed) h.canZeroRange = false;
  }
  if (!zeroed && h.canPunchHole && h.canFallocate) {
    if (await tryFallocate(h, PUNCH_HOLE, count, offset)) {
      zeroed = await tryFallocate(h, 0, count, offset);
      if (!zeroed) h.canFallocate = false;
    } else {
      h.canPunchHole = false;
    }
  }
  if (!zeroed && aligned && h.canZeroOut && !flags.fastZero) {
    try {
      await zeroOut(h.fd, offset, BigInt(count));
      zeroed = true;
    } catch (error) {
      if ((error as { code?: unknown }).code !== "ENOTTY") throw error;
      h.canZeroOut = false;
    }
  }
  if (!zeroed) {
    debug("zero falling back to writing");
    throw NbdError.notSupported(`${h.path}: no fast way to zero here`);
  }
  if (flags.fua) await fdatasync(h.fd);
}

/**
 * Punches a hole, freeing the file system's blocks. Trim is advisory: only
 * EPERM and EIO fail the request; any other failure is logged and ignored.
 */
async function fileTrim(h: FileHandle, count: number, offset: bigint, flags: Flags): Promise<void> {
  if (h.canPunchHole) {
    try {
      await fallocate(h.fd, PUNCH_HOLE, offset, BigInt(count));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === "EPERM" || code === "EIO") throw error;
      if (isNotSupported(error)) h.canPunchHole = false;
      debug("ignoring failed fallocate during trim: %s", (error as Error).message);
    }
  }
  if (flags.fua) await fdatasync(h.fd);
}

/**
 * The file's allocation from SEEK_DATA and SEEK_HOLE: holes (which read as
 * zeroes) and data, from `offset` for `count` bytes (the last extent may run
 * past the end of the request; nbdkit trims it).
 */
async function fileExtents(h: FileHandle, count: number, offset: bigint, flags: Flags): Promise<Extent[]> {
  const end = offset + BigInt(count);
  const extents: Extent[] = [];
  let position = offset;
  while (position < end) {
    let data = await seekData(h.fd, position);
    // ENXIO: the rest of the file is one hole (or the offset is at its end).
    if (data === -1n) data = end;
    if (data > position) {
      extents.push({ offset: position, length: data - position, hole: true, zero: true });
      if (flags.reqOne) break;
    }
    position = data;
    if (position >= end) break;
    const hole = await seekHole(h.fd, position);
    if (hole === -1n) {
      throw new NbdError("EIO", `${h.path}: lseek SEEK_HOLE found no end of the data at offset ${position}: did the file shrink?`);
    }
    if (hole > position) {
      extents.push({ offset: position, length: hole - position });
      if (flags.reqOne) break;
    }
    position = hole;
  }
  return extents;
}

/** NBD_CMD_CACHE: ask the kernel to read the range ahead (posix_fadvise WILLNEED). */
function fileCache(h: FileHandle, count: number, offset: bigint): Promise<void> {
  return fadvise(h.fd, offset, BigInt(count), io.POSIX_FADV_WILLNEED);
}

export default definePlugin({
  name: "file",
  longname: "nbdts file plugin",
  version,
  description: "Serves a file, a block device, or a directory of them (like nbdkit-file-plugin).",
  magicConfigKey: "file",
  params: schema,
  threadModel: "parallel",

  configComplete: fileConfigComplete,
  listExports: fileListExports,
  open: fileOpen,
  close: closeFileHandle,
  getSize: fileGetSize,
  canWrite: (h: FileHandle) => h.writable,
  canFlush: () => true,
  canTrim: () => true,
  canFua: (): FuaMode => "native",
  canCache: (): CacheMode => "native",
  canFastZero: () => true,
  canMultiConn: () => true,
  canExtents: fileCanExtents,
  pread: filePread,
  pwrite: filePwrite,
  flush: fileFlush,
  zero: fileZero,
  trim: fileTrim,
  extents: fileExtents,
  cache: fileCache,
});
