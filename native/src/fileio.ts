/**
 * Asynchronous file I/O for plugins that serve files: the system calls that
 * Node's `fs` lacks (fallocate, SEEK_DATA/SEEK_HOLE, posix_fadvise,
 * sync_file_range, block device ioctls), and pread/pwrite with exact 64-bit
 * offsets that read and write straight into the caller's buffer.
 *
 * ```ts
 * import { pread, seekData, constants } from "@nbdts/native/fileio";
 *
 * await pread(fd, buf, 1n << 60n);          // fills all of buf, or rejects
 * const next = await seekData(fd, 0n);      // -1n when only a hole follows
 * ```
 *
 * Contract (src/addon/fileio.cc):
 * - No call waits for I/O on the event loop: each runs its system call in
 *   libuv's thread pool and returns a Promise. The exception that keeps
 *   small requests fast: a pread or pwrite of at most 128 KiB without flags
 *   first tries preadv2/pwritev2 with RWF_NOWAIT on the event loop, which
 *   copies only what the page cache can give or take at once (a memory
 *   copy, no waiting); whatever is left goes to the thread pool.
 * - Offsets and lengths are `bigint` (a non-negative safe-integer `number` is
 *   accepted too) and reach the kernel exactly, up to 2^63−1.
 * - `pread` and `pwrite` use the buffer's memory directly: the buffer must stay
 *   attached (not transferred or detached) until the Promise settles. They
 *   transfer the whole buffer or fail; a read past the end of the file fails
 *   with EIO.
 * - Failures reject with an Error shaped like Node's SystemError: `code`
 *   ("ENOSPC"), `errno` (negative), `syscall`, and a message such as
 *   "ENOSPC: No space left on device, pwrite". The SDK maps it to its errno.
 *
 * Linux only, like nbdkit's file plugin features it serves.
 */

import { loadAddon, type NativeAddon } from "./addon.js";

/** A byte offset or length: a bigint, or a non-negative safe-integer number. */
export type FileOffset = bigint | number;

/** The constants callers pass, as this system's headers define them. */
export interface FileIoConstants {
  /** pread flag: drop the range from the page cache after reading it. */
  readonly READ_EVICT: number;
  /** pwrite flag: fdatasync after writing (Force Unit Access). */
  readonly WRITE_SYNC: number;
  /**
   * pwrite flag: start writeback at once and evict the write from the page
   * cache after the next eight writes (nbdkit's `cache=none`). Call
   * {@link forgetWrites} before closing the descriptor.
   */
  readonly WRITE_EVICT: number;
  readonly FALLOC_FL_KEEP_SIZE: number;
  readonly FALLOC_FL_PUNCH_HOLE: number;
  readonly FALLOC_FL_ZERO_RANGE: number;
  readonly POSIX_FADV_NORMAL: number;
  readonly POSIX_FADV_RANDOM: number;
  readonly POSIX_FADV_SEQUENTIAL: number;
  readonly POSIX_FADV_WILLNEED: number;
  readonly POSIX_FADV_DONTNEED: number;
  readonly POSIX_FADV_NOREUSE: number;
}

/** The addon's `fileio` object. */
export interface NativeFileIo {
  pread(fd: number, buffer: ArrayBufferView, offset: FileOffset, flags?: number): Promise<void>;
  pwrite(fd: number, buffer: ArrayBufferView, offset: FileOffset, flags?: number): Promise<void>;
  preadFast(fd: number, buffer: ArrayBufferView, offset: FileOffset, flags?: number): Promise<void> | undefined;
  pwriteFast(fd: number, buffer: ArrayBufferView, offset: FileOffset, flags?: number): Promise<void> | undefined;
  fdatasync(fd: number): Promise<void>;
  fallocate(fd: number, mode: number, offset: FileOffset, length: FileOffset): Promise<void>;
  seekData(fd: number, offset: FileOffset): Promise<bigint>;
  seekHole(fd: number, offset: FileOffset): Promise<bigint>;
  fadvise(fd: number, offset: FileOffset, length: FileOffset, advice: number): Promise<void>;
  blockDeviceSize(fd: number): Promise<bigint>;
  sectorSize(fd: number): Promise<number>;
  zeroOut(fd: number, offset: FileOffset, length: FileOffset): Promise<void>;
  forgetWrites(fd: number): void;
  readonly constants: FileIoConstants;
}

const native: NativeFileIo = (loadAddon() as NativeAddon & { readonly fileio: NativeFileIo }).fileio;

/**
 * Reads `buffer.byteLength` bytes at `offset` into `buffer`, retrying short
 * reads; fails with EIO at the end of the file. `flags`: READ_EVICT.
 */
export const pread: NativeFileIo["pread"] = native.pread;

/**
 * Writes all of `buffer` at `offset`, retrying short writes. `flags`:
 * WRITE_SYNC (then fdatasync) and WRITE_EVICT (cache=none eviction).
 */
export const pwrite: NativeFileIo["pwrite"] = native.pwrite;

/**
 * {@link pread}, except that it returns `undefined` instead of a resolved
 * Promise when the read completed at once from the page cache. A plugin's
 * `pread` callback can return its result directly: nbdkit's request then
 * completes without waiting for a microtask. (`await` works on both.)
 */
export const preadFast: NativeFileIo["preadFast"] = native.preadFast;

/** {@link pwrite}, except that it returns `undefined` when the write completed at once (see {@link preadFast}). */
export const pwriteFast: NativeFileIo["pwriteFast"] = native.pwriteFast;

/** fdatasync(2): makes the file's written data durable. */
export const fdatasync: NativeFileIo["fdatasync"] = native.fdatasync;

/**
 * fallocate(2) with `mode` from {@link constants} (FALLOC_FL_*). ENODEV
 * (old kernels, block devices) is reported as EOPNOTSUPP, so "not supported"
 * is one of two codes: EOPNOTSUPP or ENOTSUP (the same number on Linux).
 */
export const fallocate: NativeFileIo["fallocate"] = native.fallocate;

/** lseek(fd, offset, SEEK_DATA): the next data at or after `offset`, or -1n when there is none (ENXIO). */
export const seekData: NativeFileIo["seekData"] = native.seekData;

/** lseek(fd, offset, SEEK_HOLE): the next hole at or after `offset` (the end of the file counts), or -1n at ENXIO. */
export const seekHole: NativeFileIo["seekHole"] = native.seekHole;

/** posix_fadvise(2) with a POSIX_FADV_* `advice`; length 0 means "to the end of the file". */
export const fadvise: NativeFileIo["fadvise"] = native.fadvise;

/** The size of a block device in bytes (ioctl BLKGETSIZE64); ENOTTY for anything else. */
export const blockDeviceSize: NativeFileIo["blockDeviceSize"] = native.blockDeviceSize;

/** The logical sector size of a block device (ioctl BLKSSZGET); ENOTTY for anything else. */
export const sectorSize: NativeFileIo["sectorSize"] = native.sectorSize;

/**
 * Zeroes a range of a block device (ioctl BLKZEROOUT). `offset` and
 * `length` must be multiples of the sector size. The kernel may write the
 * zeroes itself when the device cannot, so this can be slow.
 */
export const zeroOut: NativeFileIo["zeroOut"] = native.zeroOut;

/**
 * Removes a descriptor's writes from the cache=none eviction window, so a
 * later file reusing the descriptor number is not touched. Synchronous.
 */
export const forgetWrites: NativeFileIo["forgetWrites"] = native.forgetWrites;

/** Flags and modes for the calls above. */
export const constants: FileIoConstants = native.constants;
