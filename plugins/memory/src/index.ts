/**
 * @nbdts/memory: a sparse RAM disk for nbdkit.
 *
 *   nbdkit ts plugin=@nbdts/memory size=1G
 *   nbdkit ts @nbdts/memory 1G
 *
 * One disk per server, shared by every connection, initially all zeroes and
 * discarded when nbdkit exits. Memory is spent only on the data written (see
 * page-map.ts), so the virtual size may be anything up to 2^63−1 bytes.
 */

import { createRequire } from "node:module";
import { definePlugin, params, type CacheMode, type Extent, type Flags, type FuaMode } from "@nbdts/sdk";
import { SparsePageMap } from "./page-map.js";

export { SparsePageMap, PAGE_SIZE, PAGES_PER_DIRECTORY } from "./page-map.js";

const { version } = createRequire(import.meta.url)("../package.json") as { version: string };

/** The disk, made in configComplete from `size=`. */
let disk: SparsePageMap | undefined;

const schema = {
  size: params.size({
    required: true,
    description: "Virtual size of the disk, up to 2^63-1 bytes (e.g. 1G, 100T).",
  }),
};

function memoryConfigComplete({ size }: { size: bigint }): void {
  disk = new SparsePageMap(size);
}

/** Every connection's handle is the one disk: connections see each other's writes at once. */
function memoryOpen(): SparsePageMap {
  if (disk === undefined) throw new Error("memory: the disk was not made: configComplete did not run");
  return disk;
}

function memoryGetSize(h: SparsePageMap): bigint {
  return h.size;
}

function memoryPread(h: SparsePageMap, buf: Buffer, offset: bigint): void {
  h.read(buf, offset);
}

/** A write is in RAM when it returns, which is all FUA can promise here. */
function memoryPwrite(h: SparsePageMap, buf: Buffer, offset: bigint): void {
  h.write(buf, offset);
}

/**
 * Zeroing frees memory and is always fast, so a fast-zero request is never
 * refused; with or without NO_HOLE, whole pages are freed (an unallocated
 * page reads as zeroes, which is what the client asked for).
 */
function memoryZero(h: SparsePageMap, count: number, offset: bigint): void {
  h.zero(count, offset);
}

/** Trimmed bytes read back as zeroes; whole pages are freed. */
function memoryTrim(h: SparsePageMap, count: number, offset: bigint): void {
  h.zero(count, offset);
}

/** There is nothing to make durable: RAM is as durable as this disk gets. */
function memoryFlush(): void {}

/** The data is already in memory, so caching has nothing to do. */
function memoryCache(): void {}

function memoryExtents(h: SparsePageMap, count: number, offset: bigint, flags: Flags): Extent[] {
  return h.extents(count, offset, flags.reqOne);
}

export default definePlugin({
  name: "memory",
  longname: "nbdts sparse RAM disk",
  version,
  description: "A sparse RAM disk shared by all connections; its contents are lost when nbdkit exits.",
  magicConfigKey: "size",
  params: schema,
  // Every callback is synchronous, so each runs alone on Node's thread:
  // parallel requests need no locks.
  threadModel: "parallel",

  configComplete: memoryConfigComplete,
  open: memoryOpen,
  getSize: memoryGetSize,
  canFlush: () => true,
  canFua: (): FuaMode => "native",
  canCache: (): CacheMode => "native",
  canFastZero: () => true,
  canMultiConn: () => true,
  pread: memoryPread,
  pwrite: memoryPwrite,
  zero: memoryZero,
  trim: memoryTrim,
  flush: memoryFlush,
  cache: memoryCache,
  extents: memoryExtents,
});
