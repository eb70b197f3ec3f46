import { definePlugin, params } from "@nbdts/sdk";

// The example plugin of README.md, kept here so that the test suite runs it.

/** The disk, shared by every connection; made in configComplete. */
let disk = new Uint8Array(0);

export default definePlugin({
  name: "ramdisk",
  version: "1.0.0",
  threadModel: "parallel",
  magicConfigKey: "size",
  params: {
    size: params.size({ required: true, description: "Size of the disk." }),
  },

  configComplete({ size }) {
    if (size > 2n ** 31n) throw new Error(`size=${size} is too large: this RAM disk holds at most 2 GiB`);
    disk = new Uint8Array(Number(size));
  },

  // Write `open` first: the handle type of every later callback comes from it.
  open({ readonly }) {
    return { disk, readonly };
  },
  getSize(h) {
    return BigInt(h.disk.length);
  },
  canMultiConn() {
    return true; // Every connection sees the same bytes.
  },

  pread(h, buf, offset) {
    const start = Number(offset);
    buf.set(h.disk.subarray(start, start + buf.length));
  },
  pwrite(h, buf, offset) {
    h.disk.set(buf, Number(offset));
  },
  zero(h, count, offset) {
    h.disk.fill(0, Number(offset), Number(offset) + count);
  },
  trim(h, count, offset) {
    h.disk.fill(0, Number(offset), Number(offset) + count);
  },
  flush() {
    // Nothing to do: RAM is as durable as this disk gets.
  },
});
