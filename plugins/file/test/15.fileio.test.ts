import { closeSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  constants,
  fallocate,
  fdatasync,
  pread,
  preadFast,
  pwrite,
  seekData,
  seekHole,
  blockDeviceSize,
} from "@nbdts/native/fileio";
import { scratchDirectory } from "./support/files.js";

// The native file I/O this plugin is built on (@nbdts/native/fileio), on
// real files.

const scratch = scratchDirectory();
afterAll(() => scratch.remove());

function withFd<T>(name: string, content: Buffer, body: (fd: number, path: string) => Promise<T>): Promise<T> {
  const path = join(scratch.path, name);
  writeFileSync(path, content);
  const fd = openSync(path, "r+");
  return body(fd, path).finally(() => closeSync(fd));
}

describe("@nbdts/native/fileio", () => {
  it("reads and writes at exact offsets, directly in the caller's buffer", async () => {
    await withFd("rw.img", Buffer.alloc(64 * 1024, 1), async (fd, path) => {
      const view = Buffer.alloc(100, 0x5a).subarray(10, 90);
      await pwrite(fd, view, 12345n);
      const back = Buffer.alloc(200).subarray(50, 130);
      await pread(fd, back, 12345n);
      expect(back.equals(Buffer.alloc(80, 0x5a))).toBe(true);
      expect(readFileSync(path).subarray(12345, 12345 + 80).equals(Buffer.alloc(80, 0x5a))).toBe(true);
    });
  });

  it("completes a small read from the page cache at once with preadFast, and a large one through a Promise", async () => {
    await withFd("fast.img", Buffer.alloc(1024 * 1024, 2), async (fd) => {
      const small = Buffer.alloc(4096);
      // The file was just written, so its pages are in the cache.
      expect(preadFast(fd, small, 4096n)).toBeUndefined();
      expect(small.equals(Buffer.alloc(4096, 2))).toBe(true);
      const large = Buffer.alloc(512 * 1024);
      const pending = preadFast(fd, large, 0n);
      expect(pending).toBeInstanceOf(Promise);
      await pending;
      expect(large.equals(Buffer.alloc(512 * 1024, 2))).toBe(true);
      // pread always returns a Promise.
      expect(pread(fd, small, 0n)).toBeInstanceOf(Promise);
    });
  });

  it("rejects a read past the end of the file with a Node-style EIO", async () => {
    await withFd("short.img", Buffer.alloc(1000), async (fd) => {
      const error = await pread(fd, Buffer.alloc(100), 950n).then(
        () => undefined,
        (e: unknown) => e as NodeJS.ErrnoException,
      );
      expect(error).toBeInstanceOf(Error);
      expect(error?.code).toBe("EIO");
      expect(error?.errno).toBe(-5);
      expect(error?.syscall).toBe("pread");
      expect(error?.message).toBe(
        "EIO: Input/output error, pread (unexpected end of file at offset 1000: the file is shorter than the read)",
      );
    });
  });

  it("names the errno of a failed call in `code`, as Node's fs does", async () => {
    const error = await fdatasync(1_000_000).then(
      () => undefined,
      (e: unknown) => e as NodeJS.ErrnoException,
    );
    expect(error?.code).toBe("EBADF");
    expect(error?.message).toBe("EBADF: Bad file descriptor, fdatasync");
    await withFd("not-a-device.img", Buffer.alloc(10), async (fd) => {
      await expect(blockDeviceSize(fd)).rejects.toMatchObject({ code: "ENOTTY", syscall: "ioctl" });
    });
  });

  it("finds data and holes with SEEK_DATA and SEEK_HOLE, and -1n where only a hole follows", async () => {
    await withFd("holes.img", Buffer.alloc(0), async (fd) => {
      await pwrite(fd, Buffer.alloc(4096, 1), 1n << 20n);
      // Data at the very end too, so the file is 4 MiB with a hole inside.
      await pwrite(fd, Buffer.alloc(1), (4n << 20n) - 1n);
      expect(await seekData(fd, 0n)).toBe(1n << 20n);
      expect(await seekHole(fd, 1n << 20n)).toBe((1n << 20n) + 4096n);
      // Past the end of the file: ENXIO, reported as -1n.
      expect(await seekData(fd, 8n << 20n)).toBe(-1n);
    });
  });

  it("punches holes that free the file's blocks", async () => {
    await withFd("punch.img", Buffer.alloc(1024 * 1024, 3), async (fd, path) => {
      await fdatasync(fd);
      const before = statSync(path).blocks;
      await fallocate(fd, constants.FALLOC_FL_PUNCH_HOLE | constants.FALLOC_FL_KEEP_SIZE, 0n, 512n * 1024n);
      expect(before - statSync(path).blocks).toBeGreaterThanOrEqual(1024);
      expect(statSync(path).size).toBe(1024 * 1024);
    });
  });

  it("checks its arguments, naming the call and the argument", () => {
    expect(() => pread(-1, Buffer.alloc(1), 0n)).toThrow(new TypeError("pread: fd must be a file descriptor (a non-negative integer)"));
    expect(() => pread(0, "text" as unknown as Buffer, 0n)).toThrow(
      new TypeError("pread: buffer must be a Buffer, a TypedArray or a DataView"),
    );
    expect(() => pwrite(0, Buffer.alloc(1), -1n)).toThrow(new RangeError("pwrite: offset must be from 0 to 2^63-1"));
    expect(() => pwrite(0, Buffer.alloc(1), 1n << 63n)).toThrow(new RangeError("pwrite: offset must be from 0 to 2^63-1"));
    expect(() => pwrite(0, Buffer.alloc(2), (1n << 63n) - 1n)).toThrow(
      new RangeError("pwrite: offset + length of the buffer exceeds 2^63-1"),
    );
    expect(() => seekData(0, 0.5)).toThrow(RangeError);
  });
});
