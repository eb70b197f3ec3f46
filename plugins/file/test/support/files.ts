import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "@nbdts/native/testing";

/** A fresh directory under `parent` (the system's temporary directory); `remove()` deletes it. */
export function scratchDirectory(prefix = "nbdts-file-", parent = tmpdir()): { path: string; remove(): void } {
  const path = mkdtempSync(join(parent, prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** The 512-byte blocks a file occupies (st_blocks). */
export function allocatedBlocks(path: string): number {
  return statSync(path).blocks;
}

/** Bytes of `path` resident in the page cache, from fincore(1). */
export async function residentInPageCache(path: string): Promise<number> {
  const result = await run("fincore", ["--bytes", "--noheadings", "--raw", "--output", "RES", path], { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`fincore ${path} failed: ${result.stderr}`);
  return Number(result.stdout.trim());
}

/**
 * Fails with a message saying what is needed when the suite does not run as
 * root: mounting file systems, loop devices and immutable files need it.
 */
export function requireRoot(why: string): void {
  if (process.getuid?.() !== 0) {
    throw new Error(`this test needs root (it ${why}); run the suite as root, as CI does`);
  }
}

/** Runs a system command that must succeed (losetup, mount, chattr). */
export function system(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: "utf8", timeout: 30_000, stdio: ["ignore", "pipe", "pipe"] });
}

/** Mounts a fresh file system of `type` (e.g. "ramfs") on a new directory; `unmount()` removes both. */
export function mountScratch(type: string, options?: string): { path: string; unmount(): void } {
  requireRoot(`mounts a ${type} file system`);
  const dir = mkdtempSync(join(tmpdir(), `nbdts-${type}-`));
  system("mount", ["-t", type, ...(options !== undefined ? ["-o", options] : []), "none", dir]);
  return {
    path: dir,
    unmount: () => {
      system("umount", [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Attaches `file` to a free loop device and returns it; `detach()` releases it. */
export function loopDevice(file: string): { device: string; detach(): void } {
  requireRoot("attaches a loop device");
  const device = system("losetup", ["--find", "--show", file]).trim();
  return { device, detach: () => void system("losetup", ["--detach", device]) };
}

/** statfs(2) f_type of tmpfs (TMPFS_MAGIC). */
export const TMPFS_MAGIC = 0x01021994;

/** A fresh directory on tmpfs (/dev/shm), which holds files up to 2^63-1 bytes and lacks FALLOC_FL_ZERO_RANGE. */
export function tmpfsDirectory(): { path: string; remove(): void } {
  if (statfsSync("/dev/shm").type !== TMPFS_MAGIC) throw new Error("/dev/shm is not tmpfs here; these tests need a tmpfs");
  return scratchDirectory("nbdts-file-", "/dev/shm");
}
