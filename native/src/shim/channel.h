/* nbdts shim: the channel to the Node host process.
 *
 * The channel owns the host process and the shared ring (ring.h). Any nbdkit
 * thread may make a call: it takes a free slot, fills it, submits it and
 * sleeps on the slot's futex until the host completes it. Calls block (never
 * fail) while every slot is busy. Once the host has died, every call fails
 * at once with EIO and the reason is logged.
 *
 * Before .after_fork the channel starts no threads (nbdkit may fork after
 * configuration, and threads do not survive a fork): the calling thread reads
 * the control socket itself while it waits. From .after_fork on, a monitor
 * thread reads it, and each nanosleep the host asks for runs on a thread of
 * its own.
 */

#ifndef NBDTS_CHANNEL_H
#define NBDTS_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../include/ring.h"

/* Starts the host: `node` runs `host_script` with the ring, the doorbell and
 * the control socket. Returns -1 after nbdkit_error on failure.
 */
extern int channel_start (const char *node, const char *host_script);

/* Whether the host was started (and has not been stopped). */
extern bool channel_started (void);

/* Takes a free slot, waiting while all are busy. Returns NULL (after logging
 * why) when the host has died.
 */
extern struct nbdts_slot *channel_acquire (void);

/* The data area of a slot (NBDTS_DATA_STRIDE bytes). */
extern char *channel_data (struct nbdts_slot *slot);

/* Submits a filled slot and waits for the host's reply. Returns 0 when the
 * host completed it (the reply may still carry an errno), -1 with errno set
 * to EIO (and the reason logged) when the host died.
 */
extern int channel_call (struct nbdts_slot *slot);

/* Returns a slot to the pool. `used` is how many data bytes the request
 * touched: beyond NBDTS_DATA_RETAIN they are handed back to the kernel.
 */
extern void channel_release (struct nbdts_slot *slot, uint64_t used);

/* Starts the monitor thread (.after_fork). */
extern int channel_after_fork (void);

/* Closes the channel (.unload): the host sees end of file and exits; waits
 * briefly for it.
 */
extern void channel_stop (void);

/* Whether this process is the one that should run the host's lifecycle
 * callbacks (not the parent left behind by a fork).
 */
extern bool channel_owned_here (void);

#endif /* NBDTS_CHANNEL_H */
