#!/usr/bin/env -S nbdkit ts
/**
 * A RAM disk: the complete, small example of an nbdts plugin.
 *
 *   nbdkit ts ./examples/ramdisk.ts size=1G              (after `nbdts link`)
 *   nbdkit $(npx nbdts path) ./examples/ramdisk.ts 1G    (no root needed)
 *
 * The disk is a sparse map of 64 KiB pages, allocated on first write, so a
 * large disk costs memory only for the data written to it. All connections
 * share one disk, and requests run in parallel: every callback here is
 * synchronous, so each one is atomic with respect to the others.
 */
import { definePlugin, params, type Extent } from "@nbdts/sdk";

const PAGE = 64 * 1024;
const PAGE_BIG = BigInt(PAGE);

/** Pages by index; a missing page reads as zeroes. */
const pages = new Map<bigint, Uint8Array>();
let size = 0n;

/** Calls `visit` for each piece of [offset, offset + length) within one page. */
function eachPage(
  offset: bigint,
  length: number,
  visit: (index: bigint, start: number, end: number, done: number) => void,
): void {
  let done = 0;
  while (done < length) {
    const position = offset + BigInt(done);
    const index = position / PAGE_BIG;
    const start = Number(position % PAGE_BIG);
    const end = Math.min(PAGE, start + (length - done));
    visit(index, start, end, done);
    done += end - start;
  }
}

export default definePlugin({
  name: "ramdisk",
  version: "1.0.0",
  longname: "nbdts example RAM disk",
  description: "A sparse RAM disk shared by all connections. Its contents are lost when nbdkit exits.",
  // `nbdkit ts ./ramdisk.ts 1G` means size=1G.
  magicConfigKey: "size",
  params: {
    size: params.size({ required: true, description: "size of the disk, e.g. 1G" }),
  },
  threadModel: "parallel",

  configComplete(p) {
    size = p.size;
  },

  // `open` comes first so that the handle type flows to the callbacks below;
  // this plugin needs no per-connection state.
  open() {
    return {};
  },

  getSize: () => size,
  canMultiConn: () => true,
  canFua: () => "native",
  canCache: () => "native",

  pread(_h, buf, offset) {
    eachPage(offset, buf.length, (index, start, end, done) => {
      const page = pages.get(index);
      if (page === undefined) buf.fill(0, done, done + end - start);
      else buf.set(page.subarray(start, end), done);
    });
  },

  pwrite(_h, buf, offset) {
    eachPage(offset, buf.length, (index, start, end, done) => {
      let page = pages.get(index);
      if (page === undefined) pages.set(index, (page = new Uint8Array(PAGE)));
      page.set(buf.subarray(done, done + end - start), start);
    });
  },

  // The data is in memory: it is as durable as it will ever be.
  flush() {},
  cache() {},

  // Zeroing frees whole pages and clears partial ones.
  zero(_h, count, offset) {
    eachPage(offset, count, (index, start, end) => {
      if (start === 0 && end === PAGE) pages.delete(index);
      else pages.get(index)?.fill(0, start, end);
    });
  },
  trim(h, count, offset, flags) {
    this.zero!(h, count, offset, flags);
  },

  // Runs of allocated and missing pages, from the page holding `offset`.
  extents(_h, count, offset) {
    const extents: Extent[] = [];
    const end = offset + BigInt(count);
    for (let index = offset / PAGE_BIG; index * PAGE_BIG < end; index++) {
      const hole = !pages.has(index);
      const last = extents[extents.length - 1];
      if (last !== undefined && last.hole === hole) last.length = BigInt(last.length) + PAGE_BIG;
      else extents.push({ offset: index * PAGE_BIG, length: PAGE_BIG, hole, zero: hole });
    }
    return extents;
  },
});
