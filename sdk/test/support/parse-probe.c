/* A throw-away nbdkit plugin that runs nbdkit's own parsers, so that the
 * SDK's TypeScript ports can be compared with them (13.parse-against-nbdkit).
 *
 * Run as:  nbdkit ./parse-probe.so vectors=FILE --dump-plugin
 * FILE holds NUL-terminated strings. For each, in order, the probe writes
 * one line per parser to FILE.out:  PARSER <TAB> INDEX <TAB> OK <TAB> VALUE
 * or  PARSER <TAB> INDEX <TAB> ERR.  --dump-plugin calls .config without
 * serving anything.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <inttypes.h>

#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

#define PROBE_INT(name, fn, type, format, cast)                         \
  do {                                                                  \
    type v = 0;                                                         \
    if (fn ("probe", s, &v) == -1)                                      \
      fprintf (out, name "\t%d\tERR\n", index);                         \
    else                                                                \
      fprintf (out, name "\t%d\tOK\t%" format "\n", index, (cast) v);   \
  } while (0)

static int
probe_config (const char *key, const char *value)
{
  char outname[4096];
  FILE *in, *out;
  char *s = NULL;
  size_t n = 0;
  int index = 0;

  snprintf (outname, sizeof outname, "%s.out", value);
  in = fopen (value, "r");
  out = fopen (outname, "w");
  if (in == NULL || out == NULL) {
    nbdkit_error ("cannot open %s or %s", value, outname);
    return -1;
  }
  while (getdelim (&s, &n, '\0', in) > 0) {
    int64_t size = nbdkit_parse_size (s);
    int bool_ = nbdkit_parse_bool (s);

    if (size == -1) fprintf (out, "size\t%d\tERR\n", index);
    else fprintf (out, "size\t%d\tOK\t%" PRId64 "\n", index, size);
    if (bool_ == -1) fprintf (out, "bool\t%d\tERR\n", index);
    else fprintf (out, "bool\t%d\tOK\t%d\n", index, bool_);
    PROBE_INT ("int", nbdkit_parse_int, int, PRIdMAX, intmax_t);
    PROBE_INT ("unsigned", nbdkit_parse_unsigned, unsigned, PRIuMAX, uintmax_t);
    PROBE_INT ("int8", nbdkit_parse_int8_t, int8_t, PRIdMAX, intmax_t);
    PROBE_INT ("uint8", nbdkit_parse_uint8_t, uint8_t, PRIuMAX, uintmax_t);
    PROBE_INT ("int16", nbdkit_parse_int16_t, int16_t, PRIdMAX, intmax_t);
    PROBE_INT ("uint16", nbdkit_parse_uint16_t, uint16_t, PRIuMAX, uintmax_t);
    PROBE_INT ("int32", nbdkit_parse_int32_t, int32_t, PRIdMAX, intmax_t);
    PROBE_INT ("uint32", nbdkit_parse_uint32_t, uint32_t, PRIuMAX, uintmax_t);
    PROBE_INT ("int64", nbdkit_parse_int64_t, int64_t, PRIdMAX, intmax_t);
    PROBE_INT ("uint64", nbdkit_parse_uint64_t, uint64_t, PRIuMAX, uintmax_t);
    index++;
  }
  free (s);
  fclose (in);
  fclose (out);
  return 0;
}

static void *
probe_open (int readonly)
{
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
probe_get_size (void *handle)
{
  return 0;
}

static int
probe_pread (void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "probe",
  .config = probe_config,
  .open = probe_open,
  .get_size = probe_get_size,
  .pread = probe_pread,
};

NBDKIT_REGISTER_PLUGIN (plugin)
