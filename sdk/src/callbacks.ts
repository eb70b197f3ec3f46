/**
 * The one table of nbdkit plugin callbacks (API version 2). The native shim's
 * operation list, the host's dispatcher and the `PluginSpec` type must all
 * agree with it; the native package's tests check that they do.
 *
 * `kind` says when a callback runs:
 * - `lifecycle`: once per server, outside any connection;
 * - `exports`: per client, before a connection is open;
 * - `connection`: per connection, answered once and cached by nbdkit;
 * - `data`: per request.
 *
 * `absent` is what nbdkit does when a C plugin leaves the callback NULL, which
 * the shim reproduces when a TypeScript plugin leaves it out
 * (nbdkit-api.md §1; where the manual and nbdkit 1.32 differ, the behaviour).
 */
export interface CallbackInfo {
  /** The property name in a TypeScript plugin. */
  readonly name: string;
  /** The field name in nbdkit's `struct nbdkit_plugin`. */
  readonly cName: string;
  readonly kind: "lifecycle" | "exports" | "connection" | "data";
  /** What happens when the plugin does not define it. */
  readonly absent: string;
}

export const CALLBACKS = [
  { name: "load", cName: "load", kind: "lifecycle", absent: "nothing" },
  { name: "unload", cName: "unload", kind: "lifecycle", absent: "nothing" },
  { name: "dumpPlugin", cName: "dump_plugin", kind: "lifecycle", absent: "no extra lines" },
  { name: "config", cName: "config", kind: "lifecycle", absent: "keys go to `params`; an undeclared key is an error" },
  { name: "configComplete", cName: "config_complete", kind: "lifecycle", absent: "nothing" },
  { name: "threadModel", cName: "thread_model", kind: "lifecycle", absent: "serialize_all_requests" },
  { name: "getReady", cName: "get_ready", kind: "lifecycle", absent: "nothing" },
  { name: "afterFork", cName: "after_fork", kind: "lifecycle", absent: "nothing" },
  { name: "cleanup", cName: "cleanup", kind: "lifecycle", absent: "nothing" },
  { name: "preconnect", cName: "preconnect", kind: "exports", absent: "every connection is accepted" },
  { name: "listExports", cName: "list_exports", kind: "exports", absent: "the default export only" },
  { name: "defaultExport", cName: "default_export", kind: "exports", absent: '""' },
  { name: "open", cName: "open", kind: "connection", absent: "required" },
  { name: "close", cName: "close", kind: "connection", absent: "nothing" },
  { name: "getSize", cName: "get_size", kind: "connection", absent: "required" },
  { name: "exportDescription", cName: "export_description", kind: "connection", absent: "no description" },
  { name: "blockSize", cName: "block_size", kind: "connection", absent: "no block size constraints" },
  { name: "canWrite", cName: "can_write", kind: "connection", absent: "true iff pwrite exists" },
  { name: "canFlush", cName: "can_flush", kind: "connection", absent: "true iff flush exists" },
  { name: "isRotational", cName: "is_rotational", kind: "connection", absent: "false" },
  { name: "canTrim", cName: "can_trim", kind: "connection", absent: "true iff trim exists" },
  { name: "canZero", cName: "can_zero", kind: "connection", absent: "native iff zero exists, else emulated with pwrite" },
  { name: "canFastZero", cName: "can_fast_zero", kind: "connection", absent: "true iff zero does not exist" },
  { name: "canExtents", cName: "can_extents", kind: "connection", absent: "true iff extents exists" },
  { name: "canFua", cName: "can_fua", kind: "connection", absent: '"emulate" iff flush exists, else "none"' },
  { name: "canMultiConn", cName: "can_multi_conn", kind: "connection", absent: "false" },
  { name: "canCache", cName: "can_cache", kind: "connection", absent: '"native" iff cache exists, else "none"' },
  { name: "pread", cName: "pread", kind: "data", absent: "required" },
  { name: "pwrite", cName: "pwrite", kind: "data", absent: "EROFS" },
  { name: "flush", cName: "flush", kind: "data", absent: "EINVAL" },
  { name: "trim", cName: "trim", kind: "data", absent: "EINVAL" },
  { name: "zero", cName: "zero", kind: "data", absent: "emulated by nbdkit with pwrite" },
  { name: "extents", cName: "extents", kind: "data", absent: "one allocated extent covering the request" },
  { name: "cache", cName: "cache", kind: "data", absent: "success" },
] as const satisfies readonly CallbackInfo[];

/** The name of every plugin callback, as a TypeScript plugin spells it. */
export type CallbackName = (typeof CALLBACKS)[number]["name"];

/** Callbacks every plugin must define. */
export const REQUIRED_CALLBACKS = ["open", "getSize", "pread"] as const satisfies readonly CallbackName[];
