/* nbdts shim: the channel to the Node host process (see channel.h). */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "channel.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

extern char **environ;

/* The default and the limits of NBDTS_SLOTS. nbdkit runs 16 worker threads
 * per connection under `parallel`, so 64 slots serve four busy connections
 * without waiting; slots cost address space, and memory only when touched.
 */
#define DEFAULT_SLOTS 64
#define MIN_SLOTS 4

/* A waiting thread yields the CPU rather than sleeping while at most this
 * many calls are in flight, for at most YIELD_NS (see channel_call).
 */
#define YIELD_MAX_IN_FLIGHT 2
#define YIELD_NS (100 * 1000)

/* How long the host may take to exit once the channel is closed. */
#define HOST_EXIT_TIMEOUT_MS 5000

static struct {
  bool started;
  int ring_fd;
  int doorbell_fd;
  int control_fd;
  char *base;
  size_t size;
  struct nbdts_ring_header *header;
  struct nbdts_slot *slots;
  uint32_t nslots;

  pid_t host_pid;
  pid_t spawner_pid;            /* the process that started the host */
  pid_t owner_pid;              /* the process serving requests */

  /* The pool of free slots. */
  pthread_mutex_t lock;
  pthread_cond_t freed;
  uint32_t *free_slots;
  uint32_t nfree;

  /* Set once the host has gone; never cleared. */
  int dead;
  /* Set by channel_stop, so that end of file is not reported as a death. */
  int stopping;

  bool threads_running;
  pthread_t monitor;
  /* Calls submitted and not yet answered. */
  uint32_t in_flight;


  /* Frames are sent by the monitor and by sleeper threads. */
  pthread_mutex_t send_lock;

  /* Threads running nbdkit_nanosleep for the host (NANOSLEEP frames). */
  pthread_mutex_t sleepers_lock;
  struct sleeper *sleepers;

  /* Bytes read from the control socket and not yet parsed. Only one thread
   * reads at a time: the caller before .after_fork, the monitor after.
   */
  char *control_buf;
  size_t control_len;
  size_t control_cap;
} ch = {
  .ring_fd = -1,
  .doorbell_fd = -1,
  .control_fd = -1,
  .lock = PTHREAD_MUTEX_INITIALIZER,
  .freed = PTHREAD_COND_INITIALIZER,
  .send_lock = PTHREAD_MUTEX_INITIALIZER,
  .sleepers_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* One nanosleep in progress (or finished and not yet joined), in the list
 * `ch.sleepers`. The thread only sets `done`; whoever holds sleepers_lock
 * joins and frees finished ones.
 */
struct sleeper {
  struct sleeper *next;
  pthread_t thread;
  uint32_t id;
  unsigned seconds, nanoseconds;
  int done;
};

static long
futex (uint32_t *addr, int op, uint32_t value, const struct timespec *timeout)
{
  /* Not FUTEX_PRIVATE_FLAG: the word is shared with another process. */
  return syscall (SYS_futex, addr, op, value, timeout, NULL, 0);
}

static uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void
ring_doorbell (void)
{
  uint64_t one = 1;
  ssize_t r;

  do
    r = write (ch.doorbell_fd, &one, sizeof one);
  while (r == -1 && errno == EINTR);
}

static void report_host_exit (void);

/* The host has gone: fail every waiting and later call. Idempotent. */
static void
host_died (void)
{
  uint32_t i;

  if (__atomic_exchange_n (&ch.dead, 1, __ATOMIC_SEQ_CST))
    return;

  if (!__atomic_load_n (&ch.stopping, __ATOMIC_SEQ_CST))
    report_host_exit ();

  for (i = 0; i < ch.nslots; i++) {
    uint32_t expected = NBDTS_SLOT_SUBMITTED;
    if (__atomic_compare_exchange_n (&ch.slots[i].state, &expected,
                                     NBDTS_SLOT_ABANDONED, false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      continue;                 /* not asleep yet: it sees ABANDONED */
    expected = NBDTS_SLOT_SLEEPING;
    if (__atomic_compare_exchange_n (&ch.slots[i].state, &expected,
                                     NBDTS_SLOT_ABANDONED, false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      futex (&ch.slots[i].state, FUTEX_WAKE, INT_MAX, NULL);
  }
  pthread_mutex_lock (&ch.lock);
  pthread_cond_broadcast (&ch.freed);
  pthread_mutex_unlock (&ch.lock);

  if (ch.threads_running && !__atomic_load_n (&ch.stopping, __ATOMIC_SEQ_CST))
    nbdkit_shutdown ();
}

/* Logs why the host went away, with its exit status when this process is
 * its parent (after a fork it is not, and cannot wait for it).
 */
static void
report_host_exit (void)
{
  int status, i;
  pid_t r = 0;

  if (getpid () == ch.spawner_pid) {
    /* The socket closes as the process exits; give it a moment to finish. */
    for (i = 0; i < 100; i++) {
      r = waitpid (ch.host_pid, &status, WNOHANG);
      if (r != 0)
        break;
      usleep (10000);
    }
  }
  if (r == ch.host_pid && WIFEXITED (status))
    nbdkit_error ("the Node host process (pid %d) exited with status %d; "
                  "requests fail with EIO from now on",
                  (int) ch.host_pid, WEXITSTATUS (status));
  else if (r == ch.host_pid && WIFSIGNALED (status))
    nbdkit_error ("the Node host process (pid %d) was killed by signal %d (%s); "
                  "requests fail with EIO from now on",
                  (int) ch.host_pid, WTERMSIG (status),
                  strsignal (WTERMSIG (status)));
  else
    nbdkit_error ("the Node host process (pid %d) closed its channel; "
                  "requests fail with EIO from now on", (int) ch.host_pid);
}

static void
send_frame (uint32_t type, uint32_t id, const void *a, size_t alen,
            const void *b, size_t blen)
{
  uint32_t head[3] = { (uint32_t) (alen + blen), type, id };
  struct iovec iov[3] = {
    { head, sizeof head }, { (void *) a, alen }, { (void *) b, blen },
  };
  struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 3 };
  size_t total = sizeof head + alen + blen;
  ssize_t r;

  /* The frames are small and the host always reads, so a blocking send
   * completes; a short send can only mean the host has gone.
   */
  pthread_mutex_lock (&ch.send_lock);
  do
    r = sendmsg (ch.control_fd, &msg, MSG_NOSIGNAL);
  while (r == -1 && errno == EINTR);
  pthread_mutex_unlock (&ch.send_lock);
  if (r != (ssize_t) total)
    host_died ();
}

/* READ_PASSWORD: run nbdkit_read_password here, in nbdkit, where the
 * terminal, the inherited file descriptors and `-s` mode are known.
 */
static void
answer_read_password (uint32_t id, const char *payload, uint32_t len)
{
  char *value, *password = NULL;
  int32_t err = 0;

  value = strndup (payload, len);
  if (value == NULL || nbdkit_read_password (value, &password) == -1) {
    err = errno ? errno : EINVAL;
    send_frame (NBDTS_CONTROL_PASSWORD, id, &err, sizeof err, "", 0);
  }
  else {
    send_frame (NBDTS_CONTROL_PASSWORD, id, &err, sizeof err,
                password, strlen (password));
    explicit_bzero (password, strlen (password));
  }
  free (password);
  if (value) {
    explicit_bzero (value, len);
    free (value);
  }
}

/* A sleeper thread: sleeps as a C plugin would, so that the sleep ends
 * early (ESHUTDOWN) when nbdkit shuts down, then answers the host.
 */
static void *
sleeper_thread (void *arg)
{
  struct sleeper *self = arg;
  int32_t err = 0;

  /* Cancellable only while asleep (channel_stop cancels sleeps in flight);
   * never while it holds the send lock.
   */
  if (nbdkit_nanosleep (self->seconds, self->nanoseconds) == -1)
    err = errno ? errno : ESHUTDOWN;
  pthread_setcancelstate (PTHREAD_CANCEL_DISABLE, NULL);
  send_frame (NBDTS_CONTROL_SLEPT, self->id, &err, sizeof err, NULL, 0);
  __atomic_store_n (&self->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

/* Joins and frees finished sleepers. Call with sleepers_lock held. */
static void
reap_sleepers (void)
{
  struct sleeper **p = &ch.sleepers;

  while (*p) {
    struct sleeper *sleeper = *p;
    if (__atomic_load_n (&sleeper->done, __ATOMIC_ACQUIRE)) {
      *p = sleeper->next;
      pthread_join (sleeper->thread, NULL);
      free (sleeper);
    }
    else
      p = &sleeper->next;
  }
}

static void
start_sleep (uint32_t id, const char *payload, uint32_t len)
{
  struct sleeper *sleeper;
  int32_t err;
  int r;

  sleeper = calloc (1, sizeof *sleeper);
  if (sleeper == NULL || len < 8) {
    err = sleeper ? EINVAL : ENOMEM;
    free (sleeper);
    send_frame (NBDTS_CONTROL_SLEPT, id, &err, sizeof err, NULL, 0);
    return;
  }
  sleeper->id = id;
  memcpy (&sleeper->seconds, payload, 4);
  memcpy (&sleeper->nanoseconds, payload + 4, 4);

  pthread_mutex_lock (&ch.sleepers_lock);
  reap_sleepers ();
  r = pthread_create (&sleeper->thread, NULL, sleeper_thread, sleeper);
  if (r == 0) {
    sleeper->next = ch.sleepers;
    ch.sleepers = sleeper;
  }
  pthread_mutex_unlock (&ch.sleepers_lock);
  if (r != 0) {
    free (sleeper);
    err = r;
    send_frame (NBDTS_CONTROL_SLEPT, id, &err, sizeof err, NULL, 0);
  }
}

static void
handle_frame (uint32_t type, uint32_t id, const char *payload, uint32_t len)
{
  switch (type) {
  case NBDTS_CONTROL_DEBUG:
    nbdkit_debug ("%.*s", (int) len, payload);
    break;
  case NBDTS_CONTROL_ERROR:
    nbdkit_error ("%.*s", (int) len, payload);
    break;
  case NBDTS_CONTROL_SHUTDOWN:
    nbdkit_shutdown ();
    break;
  case NBDTS_CONTROL_READ_PASSWORD:
    answer_read_password (id, payload, len);
    break;
  case NBDTS_CONTROL_NANOSLEEP:
    start_sleep (id, payload, len);
    break;
  default:
    nbdkit_debug ("ts: ignoring control message of unknown type %u", type);
  }
}

/* Reads what the control socket has and handles every complete frame.
 * With `block`, waits for data. Detects the host's death (end of file).
 */
static void
pump_control (bool block)
{
  ssize_t r;
  size_t pos;

  if (ch.control_cap - ch.control_len < 4096) {
    size_t cap = ch.control_cap ? ch.control_cap * 2 : 65536;
    char *buf = realloc (ch.control_buf, cap);
    if (buf == NULL) {
      nbdkit_error ("ts: realloc: %m");
      host_died ();
      return;
    }
    ch.control_buf = buf;
    ch.control_cap = cap;
  }

  do
    r = recv (ch.control_fd, ch.control_buf + ch.control_len,
              ch.control_cap - ch.control_len, block ? 0 : MSG_DONTWAIT);
  while (r == -1 && errno == EINTR);
  if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return;
  if (r <= 0) {
    host_died ();
    return;
  }
  ch.control_len += r;

  pos = 0;
  while (ch.control_len - pos >= NBDTS_CONTROL_HEADER) {
    uint32_t head[3];
    memcpy (head, ch.control_buf + pos, sizeof head);
    if (head[0] > NBDTS_CONTROL_MAX) {
      nbdkit_error ("ts: the Node host sent a malformed control message");
      host_died ();
      return;
    }
    if (ch.control_len - pos < NBDTS_CONTROL_HEADER + head[0])
      break;
    handle_frame (head[1], head[2], ch.control_buf + pos + NBDTS_CONTROL_HEADER,
                  head[0]);
    pos += NBDTS_CONTROL_HEADER + head[0];
  }
  memmove (ch.control_buf, ch.control_buf + pos, ch.control_len - pos);
  ch.control_len -= pos;
}

static int
make_ring (void)
{
  const char *env = getenv ("NBDTS_SLOTS");
  uint32_t i, slots_end;

  ch.nslots = DEFAULT_SLOTS;
  if (env && *env) {
    char *end;
    long n = strtol (env, &end, 10);
    if (*end != '\0' || n < MIN_SLOTS || n > NBDTS_MAX_SLOTS) {
      nbdkit_error ("NBDTS_SLOTS=%s is not valid: expected a whole number "
                    "from %d to %u", env, MIN_SLOTS, NBDTS_MAX_SLOTS);
      return -1;
    }
    ch.nslots = n;
  }

  ch.ring_fd = memfd_create ("nbdts-ring", MFD_CLOEXEC | MFD_NOEXEC_SEAL);
  if (ch.ring_fd == -1 && errno == EINVAL)  /* kernels before 6.3 */
    ch.ring_fd = memfd_create ("nbdts-ring", MFD_CLOEXEC);
  if (ch.ring_fd == -1) {
    nbdkit_error ("ts: memfd_create: %m");
    return -1;
  }

  slots_end = NBDTS_SLOTS_OFFSET + ch.nslots * sizeof (struct nbdts_slot);
  slots_end = (slots_end + NBDTS_PAGE_SIZE - 1) / NBDTS_PAGE_SIZE * NBDTS_PAGE_SIZE;
  ch.size = slots_end + (size_t) ch.nslots * NBDTS_DATA_STRIDE;
  if (ftruncate (ch.ring_fd, ch.size) == -1) {
    nbdkit_error ("ts: ftruncate: %m");
    return -1;
  }
  ch.base = mmap (NULL, ch.size, PROT_READ | PROT_WRITE, MAP_SHARED,
                  ch.ring_fd, 0);
  if (ch.base == MAP_FAILED) {
    ch.base = NULL;
    nbdkit_error ("ts: mmap of %zu bytes: %m", ch.size);
    return -1;
  }

  ch.header = (struct nbdts_ring_header *) ch.base;
  ch.slots = (struct nbdts_slot *) (ch.base + NBDTS_SLOTS_OFFSET);
  ch.header->magic = NBDTS_RING_MAGIC;
  ch.header->version = NBDTS_RING_VERSION;
  ch.header->nslots = ch.nslots;
  ch.header->slot_size = sizeof (struct nbdts_slot);
  ch.header->data_offset = slots_end;
  ch.header->data_stride = NBDTS_DATA_STRIDE;

  ch.free_slots = malloc (ch.nslots * sizeof *ch.free_slots);
  if (ch.free_slots == NULL) {
    nbdkit_error ("ts: malloc: %m");
    return -1;
  }
  /* Hand out low slots first, so an idle server touches few pages. */
  for (i = 0; i < ch.nslots; i++)
    ch.free_slots[i] = ch.nslots - 1 - i;
  ch.nfree = ch.nslots;
  return 0;
}

static int
set_cloexec (int fd, bool on)
{
  int flags = fcntl (fd, F_GETFD);
  if (flags == -1)
    return -1;
  return fcntl (fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC);
}

/* Starts `node host_script` in its own process group (so that a Ctrl-C at
 * the terminal reaches nbdkit, which then shuts the host down in order),
 * with stdin from /dev/null and stdout sent to stderr: under `nbdkit -s`,
 * stdout is the NBD socket.
 */
static int
spawn_host (const char *node, const char *host_script, int child_control_fd)
{
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  sigset_t none, all;
  char fds_var[64];
  char **env;
  size_t n, i;
  int r;
  char *argv[] = { (char *) node, (char *) "--enable-source-maps",
                   (char *) host_script, NULL };

  snprintf (fds_var, sizeof fds_var, "NBDTS_CHANNEL_FDS=%d,%d,%d",
            ch.ring_fd, ch.doorbell_fd, child_control_fd);
  for (n = 0; environ[n]; n++)
    ;
  env = calloc (n + 2, sizeof *env);
  if (env == NULL) {
    nbdkit_error ("ts: calloc: %m");
    return -1;
  }
  for (i = 0; i < n; i++)
    env[i] = environ[i];
  env[n] = fds_var;

  posix_spawn_file_actions_init (&actions);
  posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2 (&actions, 2, 1);
  posix_spawnattr_init (&attr);
  sigemptyset (&none);
  sigfillset (&all);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setsigdefault (&attr, &all);
  posix_spawnattr_setpgroup (&attr, 0);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK |
                            POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  /* The three channel descriptors are inherited at their own numbers, which
   * cannot collide with descriptors the user passed to nbdkit (for
   * `password=-FD`, say). They are close-on-exec everywhere else; nbdkit is
   * single-threaded while it configures, so nothing else can exec meanwhile.
   */
  set_cloexec (ch.ring_fd, false);
  set_cloexec (ch.doorbell_fd, false);
  set_cloexec (child_control_fd, false);
  r = posix_spawn (&ch.host_pid, node, &actions, &attr, argv, env);
  set_cloexec (ch.ring_fd, true);
  set_cloexec (ch.doorbell_fd, true);

  posix_spawn_file_actions_destroy (&actions);
  posix_spawnattr_destroy (&attr);
  free (env);
  if (r != 0) {
    errno = r;
    nbdkit_error ("ts: cannot run %s: %m (set NBDTS_NODE to the node binary "
                  "to use)", node);
    return -1;
  }
  return 0;
}

int
channel_start (const char *node, const char *host_script)
{
  int sv[2];

  if (make_ring () == -1)
    return -1;

  ch.doorbell_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ch.doorbell_fd == -1) {
    nbdkit_error ("ts: eventfd: %m");
    return -1;
  }
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
    nbdkit_error ("ts: socketpair: %m");
    return -1;
  }
  ch.control_fd = sv[0];

  if (spawn_host (node, host_script, sv[1]) == -1) {
    close (sv[1]);
    return -1;
  }
  close (sv[1]);
  ch.spawner_pid = ch.owner_pid = getpid ();
  ch.started = true;
  nbdkit_debug ("ts: started the Node host (pid %d): %s %s", (int) ch.host_pid,
                node, host_script);
  return 0;
}

bool
channel_started (void)
{
  return ch.started;
}

bool
channel_owned_here (void)
{
  return ch.started && getpid () == ch.owner_pid;
}

struct nbdts_slot *
channel_acquire (void)
{
  struct nbdts_slot *slot = NULL;

  pthread_mutex_lock (&ch.lock);
  while (ch.nfree == 0 && !__atomic_load_n (&ch.dead, __ATOMIC_SEQ_CST))
    pthread_cond_wait (&ch.freed, &ch.lock);
  if (!__atomic_load_n (&ch.dead, __ATOMIC_SEQ_CST))
    slot = &ch.slots[ch.free_slots[--ch.nfree]];
  pthread_mutex_unlock (&ch.lock);

  if (slot == NULL) {
    nbdkit_error ("the Node host process has exited");
    errno = EIO;
  }
  return slot;
}

char *
channel_data (struct nbdts_slot *slot)
{
  size_t index = slot - ch.slots;
  return ch.base + ch.header->data_offset + index * ch.header->data_stride;
}

int
channel_call (struct nbdts_slot *slot)
{
  size_t index = slot - ch.slots;
  uint32_t state, in_flight;
  int r = 0;

  slot->error = 0;
  slot->reply_len = 0;
  slot->disconnect = 0;
  slot->result = 0;
  in_flight = __atomic_add_fetch (&ch.in_flight, 1, __ATOMIC_RELAXED);
  __atomic_store_n (&slot->state, NBDTS_SLOT_SUBMITTED, __ATOMIC_RELEASE);
  __atomic_fetch_or (&ch.header->pending[index / 32], 1u << (index % 32),
                     __ATOMIC_SEQ_CST);
  /* The host clears host_idle while it works and re-reads `pending` before
   * it sets it again, so a request is never left without a doorbell.
   */
  if (__atomic_exchange_n (&ch.header->host_idle, 0, __ATOMIC_SEQ_CST))
    ring_doorbell ();

  /* With few requests in flight, the host's reply is usually microseconds
   * away: yield the CPU (to the host, when it shares this one) and look
   * again, rather than sleep and be woken, which costs both sides a system
   * call and a context switch. Under load, sleeping at once is better: the
   * CPUs are busy, and yielding threads only get in each other's way.
   */
  if (in_flight <= YIELD_MAX_IN_FLIGHT && ch.threads_running) {
    uint64_t start = now_ns ();
    while (__atomic_load_n (&slot->state, __ATOMIC_ACQUIRE) == NBDTS_SLOT_SUBMITTED &&
           now_ns () - start < YIELD_NS)
      sched_yield ();
  }

  for (;;) {
    state = __atomic_load_n (&slot->state, __ATOMIC_ACQUIRE);
    if (state == NBDTS_SLOT_DONE)
      break;
    if (state == NBDTS_SLOT_SUBMITTED) {
      /* About to sleep: say so, so that the host wakes us. */
      if (!__atomic_compare_exchange_n (&slot->state, &state,
                                        NBDTS_SLOT_SLEEPING, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        continue;               /* the state changed: look again */
      state = NBDTS_SLOT_SLEEPING;
    }
    if (state != NBDTS_SLOT_SLEEPING) {
      nbdkit_error ("the Node host process has exited");
      r = -1;
      break;
    }
    if (ch.threads_running) {
      /* The monitor thread notices the host's death and wakes us; the
       * timeout is only a safety net.
       */
      struct timespec timeout = { .tv_sec = 1 };
      futex (&slot->state, FUTEX_WAIT, state, &timeout);
    }
    else {
      /* No monitor yet: read the control socket between short waits. */
      struct timespec timeout = { .tv_nsec = 20 * 1000 * 1000 };
      futex (&slot->state, FUTEX_WAIT, state, &timeout);
      if (__atomic_load_n (&slot->state, __ATOMIC_ACQUIRE) == NBDTS_SLOT_SLEEPING)
        pump_control (false);
    }
  }

  __atomic_sub_fetch (&ch.in_flight, 1, __ATOMIC_RELAXED);
  if (r == -1) {
    errno = EIO;
    return -1;
  }
  /* Messages the host logged before it replied come before the reply. */
  if (!ch.threads_running)
    pump_control (false);
  return 0;
}

void
channel_release (struct nbdts_slot *slot, uint64_t used)
{
  size_t index = slot - ch.slots;

  if (used > NBDTS_DATA_RETAIN) {
    off_t start = ch.header->data_offset + index * ch.header->data_stride;
    fallocate (ch.ring_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
               start + NBDTS_DATA_RETAIN, used - NBDTS_DATA_RETAIN);
  }
  slot->state = NBDTS_SLOT_FREE;

  pthread_mutex_lock (&ch.lock);
  ch.free_slots[ch.nfree++] = index;
  pthread_cond_signal (&ch.freed);
  pthread_mutex_unlock (&ch.lock);
}

static void *
monitor_thread (void *arg)
{
  while (!__atomic_load_n (&ch.dead, __ATOMIC_SEQ_CST))
    pump_control (true);
  return NULL;
}

int
channel_after_fork (void)
{
  int r;

  ch.owner_pid = getpid ();
  r = pthread_create (&ch.monitor, NULL, monitor_thread, NULL);
  if (r != 0) {
    errno = r;
    nbdkit_error ("ts: pthread_create: %m");
    return -1;
  }
  ch.threads_running = true;
  return 0;
}

/* Waits up to HOST_EXIT_TIMEOUT_MS for the host to exit. As its parent we
 * reap it (and kill it if it hangs); after a fork we can only watch it.
 */
static void
wait_for_host (void)
{
  int i, status;

  if (getpid () == ch.spawner_pid) {
    for (i = 0; i < HOST_EXIT_TIMEOUT_MS / 10; i++) {
      if (waitpid (ch.host_pid, &status, WNOHANG) != 0)
        return;
      usleep (10000);
    }
    nbdkit_error ("the Node host process (pid %d) did not exit within %d s; "
                  "killing it", (int) ch.host_pid, HOST_EXIT_TIMEOUT_MS / 1000);
    kill (ch.host_pid, SIGKILL);
    waitpid (ch.host_pid, &status, 0);
  }
  else {
    int pidfd = syscall (SYS_pidfd_open, ch.host_pid, 0);
    if (pidfd >= 0) {
      struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
      poll (&pfd, 1, HOST_EXIT_TIMEOUT_MS);
      close (pidfd);
    }
  }
}

void
channel_stop (void)
{
  if (!ch.started)
    return;
  __atomic_store_n (&ch.stopping, 1, __ATOMIC_SEQ_CST);

  /* The host exits on end of file; so does the monitor's read. */
  shutdown (ch.control_fd, SHUT_RDWR);
  if (ch.threads_running) {
    pthread_join (ch.monitor, NULL);
    ch.threads_running = false;
  }
  /* Sleeps still running (nbdkit exits without shutting down under -s,
   * say) are cancelled: this code is about to be unloaded.
   */
  pthread_mutex_lock (&ch.sleepers_lock);
  for (struct sleeper *sleeper = ch.sleepers; sleeper; sleeper = sleeper->next)
    pthread_cancel (sleeper->thread);
  while (ch.sleepers) {
    struct sleeper *sleeper = ch.sleepers;
    ch.sleepers = sleeper->next;
    pthread_join (sleeper->thread, NULL);
    free (sleeper);
  }
  pthread_mutex_unlock (&ch.sleepers_lock);
  if (ch.owner_pid == getpid ())
    wait_for_host ();

  close (ch.control_fd);
  close (ch.doorbell_fd);
  munmap (ch.base, ch.size);
  close (ch.ring_fd);
  free (ch.free_slots);
  free (ch.control_buf);
  ch.started = false;
}
