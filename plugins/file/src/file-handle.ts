import {
  close as closeCallback,
  constants as fsConstants,
  fstat as fstatCallback,
  open as openCallback,
  type Stats,
} from "node:fs";
import { promisify } from "node:util";
import { constants as io, fadvise, forgetWrites, sectorSize } from "@nbdts/native/fileio";
import { NbdError, debug } from "@nbdts/sdk";

const fsOpen = promisify(openCallback);
const fsClose = promisify(closeCallback);
const fsFstat = promisify(fstatCallback);

/** The `fadvise=` hints (posix_fadvise POSIX_FADV_NORMAL, _RANDOM, _SEQUENTIAL). */
export const FADVISE_MODES = ["normal", "random", "sequential"] as const;
export type FadviseMode = (typeof FADVISE_MODES)[number];

/** The `cache=` modes. */
export const CACHE_MODES = ["default", "none"] as const;
export type CacheModeName = (typeof CACHE_MODES)[number];

/**
 * One connection's open file and what it has learnt about it.
 *
 * The `can*` fields start true where the kernel may support the operation and
 * are cleared the first time it says EOPNOTSUPP, as nbdkit's file plugin
 * does, so a file system without (say) FALLOC_FL_ZERO_RANGE costs one failed
 * call per connection, not one per request.
 */
export interface FileHandle {
  readonly fd: number;
  /** The real path of the file, for messages. */
  readonly path: string;
  readonly isBlockDevice: boolean;
  /** Opened O_RDWR: false under `-r`, and for files this process may not write. */
  readonly writable: boolean;
  /** The block device's logical sector size (4096 for regular files, a safe guess). */
  readonly sectorSize: number;
  /** Flags for every pread: READ_EVICT under cache=none. */
  readonly readFlags: number;
  /** Flags for every pwrite: WRITE_EVICT under cache=none. */
  readonly writeFlags: number;
  canPunchHole: boolean;
  canZeroRange: boolean;
  /** fallocate(mode 0) after a punched hole re-allocates it (regular files only). */
  canFallocate: boolean;
  /** ioctl BLKZEROOUT (block devices only). */
  canZeroOut: boolean;
}

/** The errors that mean "you may not open this for writing" rather than "this cannot be opened". */
const READ_ONLY_CODES = new Set(["EACCES", "EPERM", "EROFS", "ETXTBSY"]);

/** What a file that cannot be served is, for messages. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return "a directory";
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isSocket()) return "a socket";
  if (stats.isCharacterDevice()) return "a character device";
  return "not a regular file";
}

/**
 * Opens `path` for a connection: read-only when `readonly` (nbdkit -r) or
 * when the file may not be written (the connection then reports canWrite
 * false), else read-write. Refuses anything but a regular file or a block
 * device.
 *
 * O_NONBLOCK keeps a FIFO put in place of the file from blocking the open; it
 * has no effect on regular files and block devices (open(2)). `noFollow`
 * (O_NOFOLLOW) refuses a symbolic link put in place of a path that was
 * resolved and checked before.
 */
export async function openFileHandle(
  path: string,
  options: { readonly: boolean; fadvise: FadviseMode; cache: CacheModeName; noFollow?: boolean },
): Promise<FileHandle> {
  const base = fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK | (options.noFollow === true ? fsConstants.O_NOFOLLOW : 0);
  let fd: number;
  let writable = !options.readonly;
  try {
    fd = await fsOpen(path, base | (writable ? fsConstants.O_RDWR : fsConstants.O_RDONLY));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    if (code === "EISDIR") throw new NbdError("EINVAL", `${path} is a directory: expected a regular file or a block device`);
    if (!writable || !READ_ONLY_CODES.has(code)) throw error;
    debug("open O_RDWR failed, serving read-only: %s: %s", path, (error as Error).message);
    writable = false;
    fd = await fsOpen(path, base | fsConstants.O_RDONLY);
  }
  try {
    const stats = await fsFstat(fd);
    if (!stats.isFile() && !stats.isBlockDevice()) {
      throw new NbdError("EINVAL", `${path} is ${kindOf(stats)}: expected a regular file or a block device`);
    }
    const isBlockDevice = stats.isBlockDevice();
    const advice = {
      normal: io.POSIX_FADV_NORMAL,
      random: io.POSIX_FADV_RANDOM,
      sequential: io.POSIX_FADV_SEQUENTIAL,
    }[options.fadvise];
    // A hint: a kernel that ignores it costs nothing.
    await fadvise(fd, 0n, 0n, advice).catch((error: Error) =>
      debug("posix_fadvise: %s: %s (ignored)", path, error.message),
    );
    let sector = 4096;
    if (isBlockDevice) {
      sector = await sectorSize(fd).catch((error: Error) => {
        debug("cannot get sector size: %s: %s", path, error.message);
        return 4096;
      });
    }
    const evict = options.cache === "none";
    return {
      fd,
      path,
      isBlockDevice,
      writable,
      sectorSize: sector,
      readFlags: evict ? io.READ_EVICT : 0,
      writeFlags: evict ? io.WRITE_EVICT : 0,
      canPunchHole: true,
      canZeroRange: true,
      // fallocate with mode 0 is always EOPNOTSUPP on a block device (the
      // kernel accepts only KEEP_SIZE modes there), so do not punch a hole
      // that the allocation step could never fill back.
      canFallocate: !isBlockDevice,
      canZeroOut: isBlockDevice,
    };
  } catch (error) {
    await fsClose(fd);
    throw error;
  }
}

/** Closes the connection's file, first dropping its writes from the cache=none eviction window. */
export async function closeFileHandle(h: FileHandle): Promise<void> {
  if (h.writeFlags !== 0) forgetWrites(h.fd);
  await fsClose(h.fd);
}
