/**
 * The host's copy of the channel layout defined in src/include/ring.h. The
 * addon exports the C values (`layout`), and test/10.protocol.test.ts checks
 * that this file agrees with them.
 */

/** Every operation, in ring.h's order: the index is the op number. */
export const OPS = [
  "LOAD",
  "CONFIG",
  "CONFIG_COMPLETE",
  "THREAD_MODEL",
  "DUMP_PLUGIN",
  "GET_READY",
  "AFTER_FORK",
  "CLEANUP",
  "UNLOAD",
  "PRECONNECT",
  "LIST_EXPORTS",
  "DEFAULT_EXPORT",
  "OPEN",
  "CLOSE",
  "GET_SIZE",
  "EXPORT_DESCRIPTION",
  "BLOCK_SIZE",
  "CAN_WRITE",
  "CAN_FLUSH",
  "IS_ROTATIONAL",
  "CAN_TRIM",
  "CAN_ZERO",
  "CAN_FAST_ZERO",
  "CAN_EXTENTS",
  "CAN_FUA",
  "CAN_MULTI_CONN",
  "CAN_CACHE",
  "PREAD",
  "PWRITE",
  "FLUSH",
  "TRIM",
  "ZERO",
  "EXTENTS",
  "CACHE",
] as const;

export type OpName = (typeof OPS)[number];

/** Op numbers by name. */
export const Op = Object.freeze(Object.fromEntries(OPS.map((name, index) => [name, index]))) as {
  readonly [K in OpName]: number;
};

/**
 * The SDK callback an op runs: the op's name in camelCase (LIST_EXPORTS →
 * listExports). LOAD runs the plugin's `load`.
 */
export function callbackOfOp(name: OpName): string {
  return name.toLowerCase().replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

export const RING_MAGIC = 0x7473626e;
export const RING_VERSION = 1;
export const MAX_SLOTS = 256;
export const PAGE_SIZE = 4096;
export const SLOTS_OFFSET = 4096;
export const MAX_REQUEST = 64 * 1024 * 1024;
export const DATA_STRIDE = MAX_REQUEST + PAGE_SIZE;
export const DATA_RETAIN = 4 * 1024 * 1024;

export const SLOT_FREE = 0;
export const SLOT_SUBMITTED = 1;
export const SLOT_DONE = 3;
export const SLOT_ABANDONED = 4;
export const SLOT_SLEEPING = 5;

export const ARG_READONLY = 1;
export const ARG_TLS = 2;
export const ARG_PEER = 4;

export const EXTENT_SIZE = 24;

/** Byte offsets in the ring header. */
export const HEADER_HOST_IDLE = 64;
export const HEADER_PENDING = 128;

/** Byte offsets in a slot. */
export const SLOT_STATE = 0;
export const SLOT_OP = 4;
export const SLOT_HANDLE = 8;
export const SLOT_OFFSET = 16;
export const SLOT_COUNT = 24;
export const SLOT_FLAGS = 28;
export const SLOT_ARG_LEN = 32;
export const SLOT_ERROR = 36;
export const SLOT_REPLY_LEN = 40;
export const SLOT_DISCONNECT = 44;
export const SLOT_RESULT = 48;
export const SLOT_SIZE = 64;

export const CONTROL_HEADER = 12;
export const CONTROL_MAX = 1 << 20;
export const CONTROL_DEBUG = 1;
export const CONTROL_ERROR = 2;
export const CONTROL_SHUTDOWN = 3;
export const CONTROL_READ_PASSWORD = 4;
export const CONTROL_PASSWORD = 5;
export const CONTROL_NANOSLEEP = 6;
export const CONTROL_SLEPT = 7;
