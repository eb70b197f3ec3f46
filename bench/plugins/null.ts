/**
 * A null-like disk for the transport benchmark: reads return zeros and
 * writes are discarded, so what is measured is the loader (nbdkit → shim →
 * shared-memory ring → Node host → plugin → back), not the plugin. Its C
 * peer is `nbdkit null`.
 *
 *   nbdkit $(npx nbdts path) plugin=./bench/plugins/null.ts size=512M
 *
 * Unlike `nbdkit null`, it has no extents callback: every byte reads as
 * allocated zeros, so nbdcopy reads the whole disk from it. The harness
 * gives nbdcopy --no-extents for both, so both are read in full.
 */
import { definePlugin, params } from "@nbdts/sdk";

let size = 0n;

export default definePlugin({
  name: "bench-null",
  version: "1.0.0",
  description: "Reads return zeros, writes are discarded: the loader's own cost.",
  magicConfigKey: "size",
  params: {
    size: params.size({ required: true, description: "size of the disk, e.g. 512M" }),
  },
  threadModel: "parallel",

  configComplete(p) {
    size = p.size;
  },

  // No per-connection state.
  open() {
    return {};
  },

  getSize: () => size,
  canMultiConn: () => true,
  canFua: () => "native",

  pread(_h, buf) {
    buf.fill(0);
  },
  pwrite() {},
  zero() {},
  trim() {},
  flush() {},
});
