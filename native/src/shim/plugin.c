/* nbdts shim: nbdkit-ts-plugin.so, the nbdkit plugin that runs TypeScript
 * plugins in a Node host process.
 *
 * nbdkit copies this plugin's callback table when it loads the .so, long
 * before the TypeScript plugin is known (it is named by the `plugin`
 * parameter). So every callback is registered here, and each one does what
 * nbdkit itself would do for a C plugin that lacked it whenever the
 * TypeScript plugin lacks it (nbdkit-api.md §1): the host reports which
 * callbacks the plugin defines when it loads it.
 */

#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "channel.h"

#ifndef NBDTS_VERSION
#define NBDTS_VERSION "0.0.0"
#endif

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

/* What the host told us about the TypeScript plugin when it loaded it. */
static char *plugin_spec;          /* as named on the command line */
static char *plugin_name;
static char *plugin_version;
static char *magic_config_key;     /* the plugin's own, or NULL */
static uint64_t defined_ops;       /* bit (1 << op) per callback it defines */

/* Parameters given before the plugin was named, replayed after it loads. */
static struct { char *key, *value; } *early_params;
static size_t n_early_params;

static char *node_path;
static char *host_script;
static bool verbose;

/* nbdkit_disconnect appeared in nbdkit 1.34; looked up at run time so that
 * one build works on 1.32 and later.
 */
static void (*disconnect_fn) (int force);

#define HAS(op) ((defined_ops & (UINT64_C (1) << NBDTS_OP_##op)) != 0)

/* ---- Helpers ------------------------------------------------------------ */

/* Appends a NUL-terminated string to a slot's argument area. */
static void
put_string (struct nbdts_slot *slot, const char *s)
{
  size_t len = strlen (s) + 1;

  if (slot->arg_len + len > NBDTS_DATA_STRIDE)
    len = 0;                    /* cannot happen: arguments are small */
  memcpy (channel_data (slot) + slot->arg_len, s, len);
  slot->arg_len += len;
}

static void
put_pair (struct nbdts_slot *slot, const char *key, const char *value)
{
  put_string (slot, key);
  put_string (slot, value);
}

/* Finds `key` in a reply of NUL-separated key/value pairs. */
static char *
reply_get (struct nbdts_slot *slot, const char *key)
{
  const char *p = channel_data (slot), *end = p + slot->reply_len;

  while (p < end) {
    const char *k = p, *v = memchr (k, '\0', end - k);
    const char *next;
    if (v == NULL)
      break;
    v++;
    next = memchr (v, '\0', end - v);
    if (next == NULL)
      break;
    if (strcmp (k, key) == 0)
      return strdup (v);
    p = next + 1;
  }
  return NULL;
}

/* Reports a reply's failure to nbdkit: its message (if any) and errno. */
static int
reply_status (struct nbdts_slot *slot)
{
  if (slot->disconnect && disconnect_fn)
    disconnect_fn (slot->disconnect == 2);
  if (slot->error == 0)
    return 0;
  if (slot->reply_len > 0)
    nbdkit_error ("%.*s", (int) slot->reply_len, channel_data (slot));
  nbdkit_set_error (slot->error);
  errno = slot->error;
  return -1;
}

/* Makes one call that carries no data: fills the slot, waits, and returns
 * the reply's integer result through `result`.
 */
static int
call (enum nbdts_op op, void *handle, uint32_t count, uint64_t offset,
      uint32_t flags, uint64_t *result)
{
  struct nbdts_slot *slot = channel_acquire ();
  int r;

  if (slot == NULL)
    return -1;
  slot->op = op;
  slot->handle = (uintptr_t) handle;
  slot->count = count;
  slot->offset = offset;
  slot->flags = flags;
  slot->arg_len = 0;
  r = channel_call (slot);
  if (r == 0)
    r = reply_status (slot);
  if (r == 0 && result)
    *result = slot->result;
  channel_release (slot, slot->reply_len);
  return r;
}

/* Asks a yes/no question of a connection (can_write and friends). */
static int
call_bool (enum nbdts_op op, void *handle)
{
  uint64_t result = 0;
  if (call (op, handle, 0, 0, 0, &result) == -1)
    return -1;
  return result != 0;
}

/* -v is the server's, not the plugin's: nbdkit exports no way to ask for it,
 * so read it off nbdkit's own command line, parsed as nbdkit parses it. This
 * runs after nbdkit has finished with getopt, whose state is restored.
 */
static bool
server_is_verbose (void)
{
  static const struct option server_options[] = {
    { "debug", required_argument, NULL, 'D' },
    { "export", required_argument, NULL, 'e' },
    { "export-name", required_argument, NULL, 'e' },
    { "exportname", required_argument, NULL, 'e' },
    { "filter", required_argument, NULL, 1 },
    { "group", required_argument, NULL, 'g' },
    { "ip-addr", required_argument, NULL, 'i' },
    { "ipaddr", required_argument, NULL, 'i' },
    { "log", required_argument, NULL, 1 },
    { "mask-handshake", required_argument, NULL, 1 },
    { "pid-file", required_argument, NULL, 'P' },
    { "pidfile", required_argument, NULL, 'P' },
    { "port", required_argument, NULL, 'p' },
    { "run", required_argument, NULL, 1 },
    { "selinux-label", required_argument, NULL, 1 },
    { "threads", required_argument, NULL, 't' },
    { "timeout", required_argument, NULL, 1 },
    { "tls", required_argument, NULL, 1 },
    { "tls-certificates", required_argument, NULL, 1 },
    { "tls-psk", required_argument, NULL, 1 },
    { "unix", required_argument, NULL, 'U' },
    { "user", required_argument, NULL, 'u' },
    { "verbose", no_argument, NULL, 'v' },
    { NULL },
  };
  char buf[65536];
  char *argv[1024];
  int argc = 0, c, saved_optind = optind, saved_opterr = opterr;
  char *saved_optarg = optarg;
  bool found = false;
  size_t len = 0;
  ssize_t r;
  FILE *fp;

  fp = fopen ("/proc/self/cmdline", "r");
  if (fp == NULL)
    return false;
  while ((r = fread (buf + len, 1, sizeof buf - 1 - len, fp)) > 0)
    len += r;
  fclose (fp);
  buf[len] = '\0';
  for (size_t i = 0; i < len && argc < 1023; i += strlen (buf + i) + 1)
    argv[argc++] = buf + i;
  argv[argc] = NULL;

  optind = 0;                   /* glibc: start a fresh scan */
  opterr = 0;
  while ((c = getopt_long (argc, argv, "D:e:fg:i:nop:P:rst:u:U:vV",
                           server_options, NULL)) != -1) {
    if (c == 'v')
      found = true;
  }
  optind = saved_optind;
  opterr = saved_opterr;
  optarg = saved_optarg;
  return found;
}

/* Finds the first executable `name` on PATH, as execvp would. */
static char *
search_path (const char *name)
{
  const char *path = getenv ("PATH");
  char *copy, *dir, *save = NULL, *found = NULL;

  if (path == NULL)
    path = "/usr/local/bin:/usr/bin:/bin";
  copy = strdup (path);
  if (copy == NULL)
    return NULL;
  for (dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save)) {
    char *candidate;
    if (asprintf (&candidate, "%s/%s", *dir ? dir : ".", name) == -1)
      break;
    if (access (candidate, X_OK) == 0) {
      found = candidate;
      break;
    }
    free (candidate);
  }
  free (copy);
  return found;
}

/* Finds `node`: NBDTS_NODE (a path, or a name looked up on PATH), else the
 * first executable `node` on PATH.
 */
static char *
find_node (void)
{
  const char *env = getenv ("NBDTS_NODE");

  if (env && *env)
    return strchr (env, '/') ? strdup (env) : search_path (env);
  return search_path ("node");
}

/* Finds the host program: NBDTS_HOST, else dist/host/main.js of the package
 * this .so belongs to (build/Release/nbdkit-ts-plugin.so, possibly reached
 * through a symlink in nbdkit's plugin directory).
 */
static char *
find_host_script (void)
{
  const char *env = getenv ("NBDTS_HOST");
  Dl_info info;
  char *self, *script = NULL;

  if (env && *env)
    return strdup (env);
  if (dladdr ((void *) find_host_script, &info) == 0 || info.dli_fname == NULL)
    return NULL;
  self = realpath (info.dli_fname, NULL);
  if (self == NULL)
    return NULL;
  for (int up = 0; up < 3; up++) {
    char *slash = strrchr (self, '/');
    if (slash == NULL)
      break;
    *slash = '\0';
  }
  if (asprintf (&script, "%s/dist/host/main.js", self) == -1)
    script = NULL;
  free (self);
  return script;
}

/* ---- Configuration ------------------------------------------------------ */

static int forward_config (const char *key, const char *value);

/* Starts the host and loads the plugin named `spec` into it. */
static int
load_plugin (const char *spec)
{
  struct nbdts_slot *slot;
  char flag[2] = "0";
  int r;

  plugin_spec = strdup (spec);
  node_path = find_node ();
  host_script = find_host_script ();
  if (plugin_spec == NULL || node_path == NULL || host_script == NULL) {
    const char *env = getenv ("NBDTS_NODE");
    if (node_path == NULL && env && *env)
      nbdkit_error ("ts: NBDTS_NODE=%s: no such program on PATH", env);
    else if (node_path == NULL)
      nbdkit_error ("ts: cannot find node on PATH; install Node.js 20 or "
                    "later, or set NBDTS_NODE to the node binary");
    else
      nbdkit_error ("ts: cannot locate the nbdts host program; set NBDTS_HOST "
                    "to .../@nbdts/native/dist/host/main.js");
    return -1;
  }
  if (access (host_script, R_OK) == -1) {
    nbdkit_error ("ts: the nbdts host program %s is missing: %m (build "
                  "@nbdts/native with `npm run build`)", host_script);
    return -1;
  }
  verbose = server_is_verbose ();
  disconnect_fn = (void (*) (int)) dlsym (RTLD_DEFAULT, "nbdkit_disconnect");

  if (channel_start (node_path, host_script) == -1)
    return -1;

  slot = channel_acquire ();
  if (slot == NULL)
    return -1;
  slot->op = NBDTS_OP_LOAD;
  slot->handle = slot->offset = 0;
  slot->count = slot->flags = 0;
  slot->arg_len = 0;
  put_pair (slot, "plugin", spec);
  flag[0] = verbose ? '1' : '0';
  put_pair (slot, "verbose", flag);
  put_pair (slot, "nbdkit_version", NBDKIT_VERSION_STRING);
  put_pair (slot, "shim_version", NBDTS_VERSION);
  flag[0] = disconnect_fn ? '1' : '0';
  put_pair (slot, "disconnect", flag);
  flag[0] = nbdkit_stdio_safe () ? '1' : '0';
  put_pair (slot, "stdio_safe", flag);

  r = channel_call (slot);
  if (r == 0)
    r = reply_status (slot);
  if (r == 0) {
    defined_ops = slot->result;
    plugin_name = reply_get (slot, "name");
    plugin_version = reply_get (slot, "version");
    magic_config_key = reply_get (slot, "magic_config_key");
  }
  channel_release (slot, slot->arg_len + slot->reply_len);
  if (r == -1)
    return -1;

  nbdkit_debug ("ts: loaded plugin %s (%s)", plugin_name ? plugin_name : "?",
                spec);
  for (size_t i = 0; i < n_early_params; i++) {
    if (forward_config (early_params[i].key, early_params[i].value) == -1)
      return -1;
  }
  return 0;
}

static int
forward_config (const char *key, const char *value)
{
  struct nbdts_slot *slot = channel_acquire ();
  int r;

  if (slot == NULL)
    return -1;
  slot->op = NBDTS_OP_CONFIG;
  slot->handle = slot->offset = 0;
  slot->count = slot->flags = 0;
  slot->arg_len = 0;
  put_pair (slot, key, value);
  r = channel_call (slot);
  if (r == 0)
    r = reply_status (slot);
  channel_release (slot, slot->arg_len + slot->reply_len);
  return r;
}

/* `plugin` is the magic key: `plugin=X`, the first bare word and a shebang
 * line all name the plugin. Later bare words arrive as `plugin` too, and go
 * to the plugin's own magic key.
 */
static int
ts_config (const char *key, const char *value)
{
  if (strcmp (key, "plugin") == 0) {
    if (plugin_spec == NULL)
      return load_plugin (value);
    if (magic_config_key == NULL) {
      nbdkit_error ("ts: unexpected \"%s\": plugin %s is already named, and "
                    "it takes no bare words (give parameters as key=value)",
                    value, plugin_spec);
      return -1;
    }
    key = magic_config_key;
  }

  if (plugin_spec == NULL) {
    void *p = realloc (early_params, (n_early_params + 1) * sizeof *early_params);
    if (p == NULL) {
      nbdkit_error ("ts: realloc: %m");
      return -1;
    }
    early_params = p;
    early_params[n_early_params].key = strdup (key);
    early_params[n_early_params].value = strdup (value);
    n_early_params++;
    return 0;
  }
  return forward_config (key, value);
}

static int
ts_config_complete (void)
{
  if (plugin_spec == NULL) {
    nbdkit_error ("ts: no plugin named: use nbdkit ts plugin=PLUGIN [key=value ...], "
                  "where PLUGIN is an npm package (e.g. @nbdts/memory) or a "
                  ".js, .mjs or .ts file");
    return -1;
  }
  return call (NBDTS_OP_CONFIG_COMPLETE, NULL, 0, 0, 0, NULL);
}

static int
ts_thread_model (void)
{
  uint64_t model = 0;

  if (!channel_started ())
    return NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS;
  if (call (NBDTS_OP_THREAD_MODEL, NULL, 0, 0, 0, &model) == -1)
    return -1;
  return (int) model;
}

static void
ts_dump_plugin (void)
{
  struct nbdts_slot *slot;

  printf ("ts_version=%s\n", NBDTS_VERSION);
  if (node_path == NULL)
    node_path = find_node ();
  if (host_script == NULL)
    host_script = find_host_script ();
  printf ("ts_node=%s\n", node_path ? node_path : "");
  printf ("ts_host=%s\n", host_script ? host_script : "");
  fflush (stdout);
  if (!channel_started ())
    return;

  /* The host's lines travel over the channel: it never writes to nbdkit's
   * stdout itself.
   */
  slot = channel_acquire ();
  if (slot == NULL)
    return;
  slot->op = NBDTS_OP_DUMP_PLUGIN;
  slot->handle = slot->offset = 0;
  slot->count = slot->flags = 0;
  slot->arg_len = 0;
  if (channel_call (slot) == 0 && reply_status (slot) == 0) {
    fwrite (channel_data (slot), 1, slot->reply_len, stdout);
    fflush (stdout);
  }
  channel_release (slot, slot->reply_len);
}

static int
ts_get_ready (void)
{
  return call (NBDTS_OP_GET_READY, NULL, 0, 0, 0, NULL);
}

static int
ts_after_fork (void)
{
  if (channel_after_fork () == -1)
    return -1;
  return call (NBDTS_OP_AFTER_FORK, NULL, 0, 0, 0, NULL);
}

static void
ts_cleanup (void)
{
  if (channel_owned_here () && HAS (CLEANUP))
    call (NBDTS_OP_CLEANUP, NULL, 0, 0, 0, NULL);
}

static void
ts_unload (void)
{
  if (channel_owned_here () && HAS (UNLOAD))
    call (NBDTS_OP_UNLOAD, NULL, 0, 0, 0, NULL);
  channel_stop ();
  for (size_t i = 0; i < n_early_params; i++) {
    free (early_params[i].key);
    free (early_params[i].value);
  }
  free (early_params);
  free (plugin_spec);
  free (plugin_name);
  free (plugin_version);
  free (magic_config_key);
  free (node_path);
  free (host_script);
}

/* ---- Exports and connections -------------------------------------------- */

static uint32_t
client_flags (int readonly, int is_tls)
{
  return (readonly ? NBDTS_ARG_READONLY : 0) | (is_tls ? NBDTS_ARG_TLS : 0);
}

static int
ts_preconnect (int readonly)
{
  if (!HAS (PRECONNECT))
    return 0;
  return call (NBDTS_OP_PRECONNECT, NULL, 0, 0, client_flags (readonly, 0), NULL);
}

/* The reply is NUL-terminated names, each followed by its description
 * (empty for none).
 */
static int
ts_list_exports (int readonly, int is_tls, struct nbdkit_exports *exports)
{
  struct nbdts_slot *slot;
  int r;

  if (!HAS (LIST_EXPORTS))
    return nbdkit_use_default_export (exports);

  slot = channel_acquire ();
  if (slot == NULL)
    return -1;
  slot->op = NBDTS_OP_LIST_EXPORTS;
  slot->handle = slot->offset = 0;
  slot->count = 0;
  slot->flags = client_flags (readonly, is_tls);
  slot->arg_len = 0;
  r = channel_call (slot);
  if (r == 0)
    r = reply_status (slot);
  if (r == 0) {
    const char *p = channel_data (slot), *end = p + slot->reply_len;
    while (r == 0 && p < end) {
      const char *name = p;
      const char *description = name + strlen (name) + 1;
      p = description + strlen (description) + 1;
      r = nbdkit_add_export (exports, name, *description ? description : NULL);
    }
  }
  channel_release (slot, slot->reply_len);
  return r;
}

/* Calls an operation whose reply is an optional string; returns it interned
 * (valid until unload or the connection closes), or NULL.
 */
static const char *
call_string (enum nbdts_op op, void *handle, uint32_t flags, int *failed)
{
  struct nbdts_slot *slot = channel_acquire ();
  const char *s = NULL;
  int r;

  *failed = 1;
  if (slot == NULL)
    return NULL;
  slot->op = op;
  slot->handle = (uintptr_t) handle;
  slot->offset = 0;
  slot->count = 0;
  slot->flags = flags;
  slot->arg_len = 0;
  r = channel_call (slot);
  if (r == 0)
    r = reply_status (slot);
  if (r == 0) {
    *failed = 0;
    if (slot->result)
      s = nbdkit_strndup_intern (channel_data (slot), slot->reply_len);
  }
  channel_release (slot, slot->reply_len);
  return s;
}

static const char *
ts_default_export (int readonly, int is_tls)
{
  int failed;

  if (!HAS (DEFAULT_EXPORT))
    return "";
  return call_string (NBDTS_OP_DEFAULT_EXPORT, NULL,
                      client_flags (readonly, is_tls), &failed);
}

/* The connection's facts travel with `open` and stay with its handle in the
 * host, so that exportName(), isTls() and peerPid() work in every callback
 * without a round trip: nbdkit answers them only on this thread.
 */
static void *
ts_open (int readonly)
{
  struct nbdts_slot *slot;
  const char *name = nbdkit_export_name ();
  struct sockaddr_storage addr;
  socklen_t addrlen = sizeof addr;
  uint64_t id = 0;
  uint32_t flags = client_flags (readonly, nbdkit_is_tls () == 1);
  int32_t creds[3];
  int r;

  if (name == NULL)
    name = "";
  if (nbdkit_peer_name ((struct sockaddr *) &addr, &addrlen) == 0 &&
      addr.ss_family == AF_UNIX) {
    creds[0] = nbdkit_peer_pid ();
    creds[1] = nbdkit_peer_uid ();
    creds[2] = nbdkit_peer_gid ();
    if (creds[0] >= 0 && creds[1] >= 0 && creds[2] >= 0)
      flags |= NBDTS_ARG_PEER;
  }

  slot = channel_acquire ();
  if (slot == NULL)
    return NULL;
  slot->op = NBDTS_OP_OPEN;
  slot->handle = slot->offset = 0;
  slot->count = 0;
  slot->flags = flags;
  slot->arg_len = 0;
  if (flags & NBDTS_ARG_PEER) {
    memcpy (channel_data (slot), creds, sizeof creds);
    slot->arg_len = sizeof creds;
  }
  put_string (slot, name);
  r = channel_call (slot);
  if (r == 0)
    r = reply_status (slot);
  if (r == 0)
    id = slot->result;
  channel_release (slot, slot->arg_len + slot->reply_len);
  if (r == -1)
    return NULL;
  if (id == 0) {
    nbdkit_error ("ts: the host returned no connection");
    return NULL;
  }
  return (void *) (uintptr_t) id;
}

static void
ts_close (void *handle)
{
  call (NBDTS_OP_CLOSE, handle, 0, 0, 0, NULL);
}

static int64_t
ts_get_size (void *handle)
{
  uint64_t size = 0;

  if (call (NBDTS_OP_GET_SIZE, handle, 0, 0, 0, &size) == -1)
    return -1;
  return (int64_t) size;
}

static const char *
ts_export_description (void *handle)
{
  int failed;

  if (!HAS (EXPORT_DESCRIPTION))
    return NULL;
  return call_string (NBDTS_OP_EXPORT_DESCRIPTION, handle, 0, &failed);
}

static int
ts_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
               uint32_t *maximum)
{
  struct nbdts_slot *slot;
  int r;

  *minimum = *preferred = *maximum = 0;
  if (!HAS (BLOCK_SIZE))
    return 0;
  slot = channel_acquire ();
  if (slot == NULL)
    return -1;
  slot->op = NBDTS_OP_BLOCK_SIZE;
  slot->handle = (uintptr_t) handle;
  slot->offset = slot->count = slot->flags = slot->arg_len = 0;
  r = channel_call (slot);
  if (r == 0)
    r = reply_status (slot);
  if (r == 0) {
    uint32_t sizes[3];
    memcpy (sizes, channel_data (slot), sizeof sizes);
    *minimum = sizes[0];
    *preferred = sizes[1];
    *maximum = sizes[2];
  }
  channel_release (slot, slot->reply_len);
  return r;
}

static int
ts_can_write (void *handle)
{
  return HAS (CAN_WRITE) ? call_bool (NBDTS_OP_CAN_WRITE, handle) : HAS (PWRITE);
}

static int
ts_can_flush (void *handle)
{
  return HAS (CAN_FLUSH) ? call_bool (NBDTS_OP_CAN_FLUSH, handle) : HAS (FLUSH);
}

static int
ts_is_rotational (void *handle)
{
  return HAS (IS_ROTATIONAL) ? call_bool (NBDTS_OP_IS_ROTATIONAL, handle) : 0;
}

static int
ts_can_trim (void *handle)
{
  return HAS (CAN_TRIM) ? call_bool (NBDTS_OP_CAN_TRIM, handle) : HAS (TRIM);
}

/* nbdkit turns this into its internal tri-state: true → native zero,
 * false → emulated with pwrite.
 */
static int
ts_can_zero (void *handle)
{
  return HAS (CAN_ZERO) ? call_bool (NBDTS_OP_CAN_ZERO, handle) : HAS (ZERO);
}

/* nbdkit 1.32 answers !can_zero on its internal tri-state, which is non-zero
 * whenever .zero exists: so false with .zero, true without (nbdkit-api.md §1;
 * the manual says otherwise, the behaviour is what clients see).
 */
static int
ts_can_fast_zero (void *handle)
{
  return HAS (CAN_FAST_ZERO) ? call_bool (NBDTS_OP_CAN_FAST_ZERO, handle)
                             : !HAS (ZERO);
}

static int
ts_can_extents (void *handle)
{
  return HAS (CAN_EXTENTS) ? call_bool (NBDTS_OP_CAN_EXTENTS, handle)
                           : HAS (EXTENTS);
}

static int
ts_can_fua (void *handle)
{
  uint64_t mode = 0;

  if (!HAS (CAN_FUA))
    return HAS (FLUSH) ? NBDKIT_FUA_EMULATE : NBDKIT_FUA_NONE;
  if (call (NBDTS_OP_CAN_FUA, handle, 0, 0, 0, &mode) == -1)
    return -1;
  return (int) mode;
}

static int
ts_can_multi_conn (void *handle)
{
  return HAS (CAN_MULTI_CONN) ? call_bool (NBDTS_OP_CAN_MULTI_CONN, handle) : 0;
}

static int
ts_can_cache (void *handle)
{
  uint64_t mode = 0;

  if (!HAS (CAN_CACHE))
    return HAS (CACHE) ? NBDKIT_CACHE_NATIVE : NBDKIT_CACHE_NONE;
  if (call (NBDTS_OP_CAN_CACHE, handle, 0, 0, 0, &mode) == -1)
    return -1;
  return (int) mode;
}

/* ---- Data --------------------------------------------------------------- */

/* The request's data lives in its slot: the plugin fills (pread) or reads
 * (pwrite) it in place, so the only copy is between nbdkit's buffer and the
 * slot.
 */
static int
ts_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  struct nbdts_slot *slot = channel_acquire ();
  int r;

  if (slot == NULL)
    return -1;
  slot->op = NBDTS_OP_PREAD;
  slot->handle = (uintptr_t) handle;
  slot->count = count;
  slot->offset = offset;
  slot->flags = flags;
  slot->arg_len = 0;
  r = channel_call (slot);
  if (r == 0)
    r = reply_status (slot);
  if (r == 0)
    memcpy (buf, channel_data (slot), count);
  channel_release (slot, count);
  return r;
}

static int
ts_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  struct nbdts_slot *slot;
  int r;

  if (!HAS (PWRITE)) {
    nbdkit_error ("%s has no pwrite callback", plugin_name);
    nbdkit_set_error (EROFS);
    return -1;
  }
  slot = channel_acquire ();
  if (slot == NULL)
    return -1;
  slot->op = NBDTS_OP_PWRITE;
  slot->handle = (uintptr_t) handle;
  slot->count = count;
  slot->offset = offset;
  slot->flags = flags;
  slot->arg_len = 0;
  memcpy (channel_data (slot), buf, count);
  r = channel_call (slot);
  if (r == 0)
    r = reply_status (slot);
  channel_release (slot, count);
  return r;
}

static int
ts_flush (void *handle, uint32_t flags)
{
  if (!HAS (FLUSH)) {
    nbdkit_error ("%s has no flush callback", plugin_name);
    nbdkit_set_error (EINVAL);
    return -1;
  }
  return call (NBDTS_OP_FLUSH, handle, 0, 0, flags, NULL);
}

static int
ts_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  if (!HAS (TRIM)) {
    nbdkit_error ("%s has no trim callback", plugin_name);
    nbdkit_set_error (EINVAL);
    return -1;
  }
  return call (NBDTS_OP_TRIM, handle, count, offset, flags, NULL);
}

/* Failing with EOPNOTSUPP (and no message) makes nbdkit fall back to
 * writing zeroes, or fail a fast-zero request with ENOTSUP.
 */
static int
ts_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  if (!HAS (ZERO)) {
    nbdkit_set_error (EOPNOTSUPP);
    return -1;
  }
  return call (NBDTS_OP_ZERO, handle, count, offset, flags, NULL);
}

static int
ts_extents (void *handle, uint32_t count, uint64_t offset, uint32_t flags,
            struct nbdkit_extents *extents)
{
  struct nbdts_slot *slot;
  int r;

  if (!HAS (EXTENTS))
    return nbdkit_add_extent (extents, offset, count, 0);

  slot = channel_acquire ();
  if (slot == NULL)
    return -1;
  slot->op = NBDTS_OP_EXTENTS;
  slot->handle = (uintptr_t) handle;
  slot->count = count;
  slot->offset = offset;
  slot->flags = flags;
  slot->arg_len = 0;
  r = channel_call (slot);
  if (r == 0)
    r = reply_status (slot);
  if (r == 0) {
    /* nbdkit 1.32 aborts (an assertion in extents_to_block_descriptors)
     * when an extent reaching past the request has more than 2^32-1 bytes
     * from the request's start, and the request is 2^32-1 bytes long. So no
     * extent is passed on with more than 2^32-1 bytes from where the request
     * starts to see it; nbdkit uses nothing after the first extent that
     * reaches the end of the request, and stopping there also keeps the
     * list contiguous after a cut.
     */
    const struct nbdts_extent *e = (const void *) channel_data (slot);
    const uint64_t end = offset + count;
    uint64_t i, n = slot->result;
    for (i = 0; r == 0 && i < n; i++) {
      uint64_t start = e[i].offset, length = e[i].length;
      uint64_t seen_from = start > offset ? start : offset;
      if (length > seen_from - start + UINT32_MAX)
        length = seen_from - start + UINT32_MAX;
      r = nbdkit_add_extent (extents, start, length, e[i].type);
      if (start + length >= end)
        break;
    }
  }
  channel_release (slot, slot->reply_len);
  return r;
}

static int
ts_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  if (!HAS (CACHE))
    return 0;
  return call (NBDTS_OP_CACHE, handle, count, offset, flags, NULL);
}

/* ---- Registration ------------------------------------------------------- */

#define ts_config_help \
  "plugin=<PLUGIN>      (required) The TypeScript plugin to run: an npm\n" \
  "                     package (e.g. @nbdts/memory, found from the current\n" \
  "                     directory's node_modules upward, then globally), or\n" \
  "                     a path to a .js, .mjs or .ts file. It may also be\n" \
  "                     given as the first bare word.\n" \
  "<key>=<value>        Parameters of the plugin; `nbdts help PLUGIN` lists\n" \
  "                     them. Later bare words go to the plugin's own magic\n" \
  "                     parameter, if it has one.\n" \
  "Environment: NBDTS_NODE selects node: a path, or a name on PATH (default: node)."

static struct nbdkit_plugin plugin = {
  .name               = "ts",
  .longname           = "nbdkit TypeScript plugin loader",
  .version            = NBDTS_VERSION,
  .description        = "Runs nbdkit plugins written in TypeScript in a "
                        "Node.js process.",
  .unload             = ts_unload,
  .dump_plugin        = ts_dump_plugin,
  .config             = ts_config,
  .config_complete    = ts_config_complete,
  .config_help        = ts_config_help,
  .magic_config_key   = "plugin",
  .thread_model       = ts_thread_model,
  .get_ready          = ts_get_ready,
  .after_fork         = ts_after_fork,
  .cleanup            = ts_cleanup,
  .preconnect         = ts_preconnect,
  .list_exports       = ts_list_exports,
  .default_export     = ts_default_export,
  .open               = ts_open,
  .close              = ts_close,
  .get_size           = ts_get_size,
  .export_description = ts_export_description,
  .block_size         = ts_block_size,
  .can_write          = ts_can_write,
  .can_flush          = ts_can_flush,
  .is_rotational      = ts_is_rotational,
  .can_trim           = ts_can_trim,
  .can_zero           = ts_can_zero,
  .can_fast_zero      = ts_can_fast_zero,
  .can_extents        = ts_can_extents,
  .can_fua            = ts_can_fua,
  .can_multi_conn     = ts_can_multi_conn,
  .can_cache          = ts_can_cache,
  .pread              = ts_pread,
  .pwrite             = ts_pwrite,
  .flush              = ts_flush,
  .trim               = ts_trim,
  .zero               = ts_zero,
  .extents            = ts_extents,
  .cache              = ts_cache,
  .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN (plugin)
