/* nbdts: the shared-memory channel between nbdkit-ts-plugin.so and the Node host.
 *
 * This header is the single definition of the channel's layout. The C shim
 * includes it; the addon includes it and exports every constant through
 * `layout()`, and the host's protocol.ts is tested against that export.
 *
 * The channel is one memfd mapped by both processes:
 *
 *   offset 0                      struct nbdts_ring_header (one page)
 *   NBDTS_SLOTS_OFFSET            nslots × struct nbdts_slot (64 bytes each)
 *   header->data_offset           nslots × data_stride bytes of request data
 *
 * A request lives in one slot from submission to completion:
 *
 *   FREE --(shim fills it)--> SUBMITTED --(the waiter goes to sleep)--> SLEEPING
 *        <--(shim reads the reply)-- DONE <--(host completes it)-- SUBMITTED or SLEEPING
 *
 * The shim owns a slot while it is FREE or DONE, the host while it is
 * SUBMITTED or SLEEPING; the state word is the only field both write, always
 * with release/acquire ordering. The waiting nbdkit thread marks the slot
 * SLEEPING before it sleeps on the word's futex, so the host makes the
 * FUTEX_WAKE system call only for a thread that is asleep (a reply that
 * arrives first spares it). When
 * the host dies, the shim moves in-flight slots to ABANDONED so that their
 * waiters fail instead of sleeping.
 *
 * Wake-ups: the shim sets the slot's bit in `pending` and rings an eventfd
 * (which the host's libuv loop watches) only when the host has said it is
 * idle; the host wakes the waiting nbdkit thread with FUTEX_WAKE on the
 * slot's state word.
 */

#ifndef NBDTS_RING_H
#define NBDTS_RING_H

#include <stdint.h>

#define NBDTS_RING_MAGIC   0x7473626eu /* "nbst" little-endian */
#define NBDTS_RING_VERSION 1u

/* At most this many slots; the pending bitmap is sized for it. */
#define NBDTS_MAX_SLOTS    256u
#define NBDTS_PAGE_SIZE    4096u
#define NBDTS_SLOTS_OFFSET NBDTS_PAGE_SIZE

/* nbdkit never sends a data request larger than this (MAX_REQUEST_SIZE).
 * Each slot has room for one whole request plus a page for replies that
 * carry more than data (extents lists, messages).
 */
#define NBDTS_MAX_REQUEST  (64u * 1024u * 1024u)
#define NBDTS_DATA_STRIDE  (NBDTS_MAX_REQUEST + NBDTS_PAGE_SIZE)

/* Slot data beyond this many bytes is returned to the kernel after a request
 * (memfd pages are shared memory, charged until punched out).
 */
#define NBDTS_DATA_RETAIN  (4u * 1024u * 1024u)

enum nbdts_slot_state {
  NBDTS_SLOT_FREE = 0,
  NBDTS_SLOT_SUBMITTED = 1,
  NBDTS_SLOT_CLAIMED = 2,
  NBDTS_SLOT_DONE = 3,
  NBDTS_SLOT_ABANDONED = 4,
  NBDTS_SLOT_SLEEPING = 5,
};

/* Every operation the shim asks of the host. Callbacks keep nbdkit's order
 * (nbdkit-plugin(3)); LOAD is the handshake that imports the plugin.
 */
#define NBDTS_OPS(X)                                                    \
  X(LOAD) X(CONFIG) X(CONFIG_COMPLETE) X(THREAD_MODEL) X(DUMP_PLUGIN)   \
  X(GET_READY) X(AFTER_FORK) X(CLEANUP) X(UNLOAD)                       \
  X(PRECONNECT) X(LIST_EXPORTS) X(DEFAULT_EXPORT)                       \
  X(OPEN) X(CLOSE) X(GET_SIZE) X(EXPORT_DESCRIPTION) X(BLOCK_SIZE)      \
  X(CAN_WRITE) X(CAN_FLUSH) X(IS_ROTATIONAL) X(CAN_TRIM) X(CAN_ZERO)    \
  X(CAN_FAST_ZERO) X(CAN_EXTENTS) X(CAN_FUA) X(CAN_MULTI_CONN)          \
  X(CAN_CACHE)                                                          \
  X(PREAD) X(PWRITE) X(FLUSH) X(TRIM) X(ZERO) X(EXTENTS) X(CACHE)

enum nbdts_op {
#define NBDTS_OP_ENUM(name) NBDTS_OP_##name,
  NBDTS_OPS (NBDTS_OP_ENUM)
#undef NBDTS_OP_ENUM
  NBDTS_OP_COUNT
};

/* Request flags of the exports and connection operations (slot.flags). */
#define NBDTS_ARG_READONLY  1u
#define NBDTS_ARG_TLS       2u
#define NBDTS_ARG_PEER      4u   /* OPEN: peer credentials precede the name */

/* One extent in an EXTENTS reply. */
struct nbdts_extent {
  uint64_t offset;
  uint64_t length;
  uint32_t type;                 /* NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO */
  uint32_t reserved;
};

struct nbdts_ring_header {
  uint32_t magic;
  uint32_t version;
  uint32_t nslots;
  uint32_t slot_size;            /* sizeof (struct nbdts_slot) */
  uint64_t data_offset;
  uint64_t data_stride;
  uint32_t reserved0[8];
  /* offset 64: 1 while the host waits in its event loop; the shim rings the
   * doorbell only then.
   */
  uint32_t host_idle;
  uint32_t reserved1[15];
  /* offset 128: bit i set = slot i was submitted and not yet taken. */
  uint32_t pending[NBDTS_MAX_SLOTS / 32];
};

struct nbdts_slot {
  uint32_t state;                /* enum nbdts_slot_state */
  uint32_t op;                   /* enum nbdts_op */
  uint64_t handle;               /* the host's connection id */
  uint64_t offset;
  uint32_t count;
  uint32_t flags;                /* NBDKIT_FLAG_* or NBDTS_ARG_* */
  uint32_t arg_len;              /* request: bytes of arguments in the data area */
  int32_t  error;                /* reply: errno, 0 on success */
  uint32_t reply_len;            /* reply: bytes of reply (or message) in the data area */
  uint32_t disconnect;           /* reply: 1 = disconnect, 2 = force */
  uint64_t result;               /* reply: an integer result */
  uint64_t reserved;
};

/* Offsets of the fields the host reads and writes (checked below). */
#define NBDTS_HEADER_HOST_IDLE     64
#define NBDTS_HEADER_PENDING       128
#define NBDTS_SLOT_STATE           0
#define NBDTS_SLOT_OP              4
#define NBDTS_SLOT_HANDLE          8
#define NBDTS_SLOT_OFFSET          16
#define NBDTS_SLOT_COUNT           24
#define NBDTS_SLOT_FLAGS           28
#define NBDTS_SLOT_ARG_LEN         32
#define NBDTS_SLOT_ERROR           36
#define NBDTS_SLOT_REPLY_LEN       40
#define NBDTS_SLOT_DISCONNECT      44
#define NBDTS_SLOT_RESULT          48
#define NBDTS_SLOT_SIZE            64

#ifdef __cplusplus
#define NBDTS_STATIC_ASSERT static_assert
#else
#define NBDTS_STATIC_ASSERT _Static_assert
#endif
#include <stddef.h>
NBDTS_STATIC_ASSERT (sizeof (struct nbdts_slot) == NBDTS_SLOT_SIZE, "slot size");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_ring_header, host_idle) == NBDTS_HEADER_HOST_IDLE, "host_idle");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_ring_header, pending) == NBDTS_HEADER_PENDING, "pending");
NBDTS_STATIC_ASSERT (sizeof (struct nbdts_ring_header) <= NBDTS_PAGE_SIZE, "header fits a page");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_slot, op) == NBDTS_SLOT_OP, "op");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_slot, handle) == NBDTS_SLOT_HANDLE, "handle");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_slot, offset) == NBDTS_SLOT_OFFSET, "offset");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_slot, count) == NBDTS_SLOT_COUNT, "count");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_slot, flags) == NBDTS_SLOT_FLAGS, "flags");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_slot, arg_len) == NBDTS_SLOT_ARG_LEN, "arg_len");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_slot, error) == NBDTS_SLOT_ERROR, "error");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_slot, reply_len) == NBDTS_SLOT_REPLY_LEN, "reply_len");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_slot, disconnect) == NBDTS_SLOT_DISCONNECT, "disconnect");
NBDTS_STATIC_ASSERT (offsetof (struct nbdts_slot, result) == NBDTS_SLOT_RESULT, "result");

/* Control socket messages (a SOCK_STREAM socketpair). Each frame is a 4-byte
 * payload length, a 4-byte type and a 4-byte id, then the payload; integers
 * are in host byte order.
 *
 * host → shim: DEBUG and ERROR carry text for nbdkit's log; SHUTDOWN asks
 * nbdkit to shut down; READ_PASSWORD carries the value of a password
 * parameter, answered by a PASSWORD frame with the same id whose payload is a
 * 4-byte errno, then the password; NANOSLEEP (4-byte seconds, 4-byte
 * nanoseconds) runs nbdkit_nanosleep on a thread of its own, answered by a
 * SLEPT frame with the same id carrying a 4-byte errno (ESHUTDOWN when the
 * sleep ended early because nbdkit is shutting down).
 *
 * End of file on the socket means the other side has gone: the host exits,
 * the shim fails every request from then on.
 */
enum nbdts_control {
  NBDTS_CONTROL_DEBUG = 1,
  NBDTS_CONTROL_ERROR = 2,
  NBDTS_CONTROL_SHUTDOWN = 3,
  NBDTS_CONTROL_READ_PASSWORD = 4,
  NBDTS_CONTROL_PASSWORD = 5,
  NBDTS_CONTROL_NANOSLEEP = 6,
  NBDTS_CONTROL_SLEPT = 7,
};
#define NBDTS_CONTROL_HEADER 12u
#define NBDTS_CONTROL_MAX    (1u << 20)

#endif /* NBDTS_RING_H */
