# A sparse RAM disk for nbdkit-plugin-python: the Python twin of
# examples/ramdisk.ts, for the transport benchmark.
#
#   nbdkit python bench/plugins/ramdisk.py size=1G
#
# The same design as the TypeScript example: a dict of 64 KiB pages,
# allocated on first write; a missing page reads as zeros; zero and trim
# free whole pages and clear partial ones; extents report missing pages as
# holes. All connections share one disk. The thread model is parallel, as in
# the TypeScript example; Python's GIL makes each callback's dict and
# bytearray operations safe without a lock of our own.

import nbdkit

API_VERSION = 2

PAGE = 64 * 1024
ZEROS = memoryview(bytes(PAGE))

pages = {}
size = None


def thread_model():
    return nbdkit.THREAD_MODEL_PARALLEL


def config(key, value):
    global size
    if key == "size":
        size = nbdkit.parse_size(value)
    else:
        raise RuntimeError("unknown parameter %r: this plugin takes only size=, e.g. size=1G" % key)


def config_complete():
    if size is None:
        raise RuntimeError("size= is required, e.g. size=1G")


def open(readonly):
    return {}


def get_size(h):
    return size


def can_multi_conn(h):
    return True


def can_fua(h):
    return nbdkit.FUA_NATIVE


def can_cache(h):
    return nbdkit.CACHE_NATIVE


def can_extents(h):
    return True


def pieces(offset, length):
    """Yields (page index, start in page, byte count, bytes done before) for
    each piece of [offset, offset + length) within one page."""
    done = 0
    while done < length:
        index, start = divmod(offset + done, PAGE)
        n = min(PAGE - start, length - done)
        yield index, start, n, done
        done += n


def pread(h, buf, offset, flags):
    for index, start, n, done in pieces(offset, len(buf)):
        page = pages.get(index)
        if page is None:
            buf[done:done + n] = ZEROS[:n]
        else:
            buf[done:done + n] = memoryview(page)[start:start + n]


def pwrite(h, buf, offset, flags):
    for index, start, n, done in pieces(offset, len(buf)):
        page = pages.get(index)
        if page is None:
            page = pages.setdefault(index, bytearray(PAGE))
        page[start:start + n] = buf[done:done + n]


def flush(h, flags):
    # The data is in memory: it is as durable as it will ever be.
    pass


def cache(h, count, offset, flags):
    pass


def zero(h, count, offset, flags):
    for index, start, n, _ in pieces(offset, count):
        if n == PAGE:
            pages.pop(index, None)
        else:
            page = pages.get(index)
            if page is not None:
                page[start:start + n] = ZEROS[:n]


def trim(h, count, offset, flags):
    zero(h, count, offset, flags)


def extents(h, count, offset, flags):
    # Runs of allocated and missing pages, from the page holding offset.
    result = []
    end = offset + count
    index = offset // PAGE
    while index * PAGE < end:
        kind = 0 if index in pages else nbdkit.EXTENT_HOLE | nbdkit.EXTENT_ZERO
        if result and result[-1][2] == kind:
            last = result[-1]
            result[-1] = (last[0], last[1] + PAGE, kind)
        else:
            result.append((index * PAGE, PAGE, kind))
        index += 1
    return result
