// nbdts addon: asynchronous file I/O for plugins (@nbdts/native/fileio).
//
// Node's fs has no fallocate, SEEK_DATA/SEEK_HOLE, posix_fadvise,
// sync_file_range or block device ioctls, and its read/write take a number
// offset (exact only below 2^53). These functions fill the gap for plugins
// that serve files, such as @nbdts/file.
//
// Contract of every function here:
// - It never waits for I/O on the event loop: the system call runs in
//   libuv's thread pool (one napi_async_work per call), and the function
//   returns a Promise. The one exception is a pread or pwrite of at most
//   128 KiB without flags, which first tries preadv2/pwritev2 with
//   RWF_NOWAIT on the event loop: the kernel then copies only what it can
//   without waiting (page-cache hits) and the pool does the rest.
// - Offsets and lengths are bigint (or safe-integer numbers) and reach the
//   kernel as exact int64 values, so files larger than 2^53 bytes work.
// - pread and pwrite read and write directly into the caller's buffer: no
//   copy. The buffer is kept alive until the Promise settles, and the caller
//   must not detach or transfer it before then.
// - A failure rejects with an Error shaped like Node's own SystemError:
//   `code` ("ENOSPC"), `errno` (negative, as in Node), `syscall`, and a
//   message such as "ENOSPC: No space left on device, pwrite". The SDK maps
//   such errors to the errno by their `code`.

#include <napi.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

// Bits of the `flags` argument of pread and pwrite.
constexpr uint32_t kReadEvict = 1;   // pread: drop the range from the page cache afterwards
constexpr uint32_t kWriteSync = 1;   // pwrite: fdatasync afterwards (FUA)
constexpr uint32_t kWriteEvict = 2;  // pwrite: queue the range for eviction (cache=none)

enum class Op : uint8_t {
  kPread,
  kPwrite,
  kFdatasync,
  kFallocate,
  kSeekData,
  kSeekHole,
  kFadvise,
  kBlockDeviceSize,
  kSectorSize,
  kZeroOut,
};

const char *SyscallName(Op op) {
  switch (op) {
    case Op::kPread: return "pread";
    case Op::kPwrite: return "pwrite";
    case Op::kFdatasync: return "fdatasync";
    case Op::kFallocate: return "fallocate";
    case Op::kSeekData: return "lseek";
    case Op::kSeekHole: return "lseek";
    case Op::kFadvise: return "posix_fadvise";
    case Op::kBlockDeviceSize: return "ioctl";
    case Op::kSectorSize: return "ioctl";
    case Op::kZeroOut: return "ioctl";
  }
  return "unknown";
}

// What kind of value a job resolves with.
enum class Result : uint8_t { kUndefined, kBigInt, kNumber };

// One call in flight: its arguments, its outcome, and what keeps the
// caller's buffer alive. Allocated per call and freed when it settles.
struct Job {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref keep = nullptr;
  Op op;
  Result result_kind = Result::kUndefined;
  int fd = -1;
  uint32_t flags = 0;
  int mode = 0;
  char *data = nullptr;
  size_t length = 0;
  // pread/pwrite: bytes already transferred (by the attempt on the event loop).
  size_t done = 0;
  int64_t offset = 0;
  int64_t count = 0;
  int64_t result = 0;
  // On failure: the errno and the system call that failed (which may differ
  // from the job's own, e.g. the fdatasync of a pwrite with FUA).
  int error = 0;
  const char *failed = nullptr;
  bool end_of_file = false;
};

// ---- Eviction of written pages (cache=none) --------------------------------
//
// The technique of nbdkit's file plugin (from a 2010 LKML discussion,
// lkml.org/lkml/2010/10/20/336): start writeback of each write at once, and
// evict a write from the page cache only once the eight writes after it were
// queued, so writes stream to disk without waiting for each other and
// without filling the cache. The window is shared by the whole process, as
// in nbdkit.

constexpr size_t kWindows = 8;

struct WriteWindow {
  int fd;
  int64_t offset;
  int64_t length;
};

std::mutex window_lock;
WriteWindow windows[kWindows];

void EvictWrite(int fd, int64_t offset, int64_t length) {
  std::lock_guard<std::mutex> guard(window_lock);
  const WriteWindow &oldest = windows[0];
  if (oldest.length > 0) {
    sync_file_range(oldest.fd, oldest.offset, oldest.length,
                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    posix_fadvise(oldest.fd, oldest.offset, oldest.length, POSIX_FADV_DONTNEED);
  }
  memmove(&windows[0], &windows[1], sizeof windows[0] * (kWindows - 1));
  sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
  windows[kWindows - 1] = WriteWindow{fd, offset, length};
}

// ---- The work done in the thread pool --------------------------------------

void Fail(Job *job, int error, const char *syscall) {
  job->error = error;
  job->failed = syscall;
}

void DoPread(Job *job) {
  size_t done = job->done;
  while (done < job->length) {
    ssize_t r = pread(job->fd, job->data + done, job->length - done, job->offset + static_cast<int64_t>(done));
    if (r == -1) {
      if (errno == EINTR) continue;
      return Fail(job, errno, "pread");
    }
    if (r == 0) {
      job->end_of_file = true;
      job->result = job->offset + static_cast<int64_t>(done);
      return Fail(job, EIO, "pread");
    }
    done += static_cast<size_t>(r);
  }
  if ((job->flags & kReadEvict) != 0) posix_fadvise(job->fd, job->offset, job->length, POSIX_FADV_DONTNEED);
}

void DoPwrite(Job *job) {
  size_t done = job->done;
  while (done < job->length) {
    ssize_t r = pwrite(job->fd, job->data + done, job->length - done, job->offset + static_cast<int64_t>(done));
    if (r == -1) {
      if (errno == EINTR) continue;
      return Fail(job, errno, "pwrite");
    }
    // pwrite never returns 0 for a non-empty write on a regular file or a
    // block device; treat it as "no space" rather than loop forever.
    if (r == 0) return Fail(job, ENOSPC, "pwrite");
    done += static_cast<size_t>(r);
  }
  if ((job->flags & kWriteSync) != 0 && fdatasync(job->fd) == -1) return Fail(job, errno, "fdatasync");
  if ((job->flags & kWriteEvict) != 0) EvictWrite(job->fd, job->offset, static_cast<int64_t>(job->length));
}

void Execute(napi_env, void *data) {
  Job *job = static_cast<Job *>(data);
  switch (job->op) {
    case Op::kPread:
      return DoPread(job);
    case Op::kPwrite:
      return DoPwrite(job);
    case Op::kFdatasync:
      if (fdatasync(job->fd) == -1) Fail(job, errno, "fdatasync");
      return;
    case Op::kFallocate:
      if (fallocate(job->fd, job->mode, job->offset, job->count) == -1) {
        // Linux 3.10 fails with ENODEV for block devices where later kernels
        // say EOPNOTSUPP; callers need only test one.
        Fail(job, errno == ENODEV ? EOPNOTSUPP : errno, "fallocate");
      }
      return;
    case Op::kSeekData:
    case Op::kSeekHole: {
      off_t r = lseek(job->fd, job->offset, job->op == Op::kSeekData ? SEEK_DATA : SEEK_HOLE);
      if (r == -1) {
        // ENXIO: no data (or no hole) at or after the offset: the offset is
        // in the final hole of the file, or at or past its end.
        if (errno == ENXIO) job->result = -1;
        else Fail(job, errno, "lseek");
      } else {
        job->result = r;
      }
      return;
    }
    case Op::kFadvise: {
      // posix_fadvise returns the error number instead of setting errno.
      int r = posix_fadvise(job->fd, job->offset, job->count, job->mode);
      if (r != 0) Fail(job, r, "posix_fadvise");
      return;
    }
    case Op::kBlockDeviceSize: {
      uint64_t size = 0;
      if (ioctl(job->fd, BLKGETSIZE64, &size) == -1) Fail(job, errno, "ioctl");
      else job->result = static_cast<int64_t>(size);
      return;
    }
    case Op::kSectorSize: {
      int size = 0;
      if (ioctl(job->fd, BLKSSZGET, &size) == -1) Fail(job, errno, "ioctl");
      else job->result = size;
      return;
    }
    case Op::kZeroOut: {
      uint64_t range[2] = {static_cast<uint64_t>(job->offset), static_cast<uint64_t>(job->count)};
      if (ioctl(job->fd, BLKZEROOUT, &range) == -1) Fail(job, errno, "ioctl");
      return;
    }
  }
}

// ---- Settling, on the event loop -------------------------------------------

napi_value MakeString(napi_env env, const std::string &text) {
  napi_value value;
  napi_create_string_utf8(env, text.data(), text.size(), &value);
  return value;
}

// A Node-style SystemError for `error` from `syscall`. The code comes from
// glibc, which names every errno (libuv's table lacks some, such as EDQUOT).
napi_value MakeSystemError(napi_env env, int error, const char *syscall, const std::string &detail) {
  const char *name = strerrorname_np(error);
  const char *description = strerrordesc_np(error);
  std::string code = name != nullptr ? name : "E" + std::to_string(error);
  std::string message = code + ": " + (description != nullptr ? description : "unknown error") + ", " + syscall;
  if (!detail.empty()) message += " (" + detail + ")";
  napi_value result;
  napi_create_error(env, MakeString(env, code), MakeString(env, message), &result);
  napi_value errno_value;
  napi_create_int32(env, -error, &errno_value);
  napi_set_named_property(env, result, "errno", errno_value);
  napi_set_named_property(env, result, "syscall", MakeString(env, syscall));
  return result;
}

void Complete(napi_env env, napi_status status, void *data) {
  Job *job = static_cast<Job *>(data);
  if (job->keep != nullptr) napi_delete_reference(env, job->keep);
  napi_delete_async_work(env, job->work);
  if (status == napi_cancelled) {
    napi_reject_deferred(env, job->deferred, MakeSystemError(env, ECANCELED, SyscallName(job->op), ""));
  } else if (job->error != 0) {
    std::string detail;
    if (job->end_of_file) {
      detail = "unexpected end of file at offset " + std::to_string(job->result) +
               ": the file is shorter than the read";
    }
    napi_reject_deferred(env, job->deferred, MakeSystemError(env, job->error, job->failed, detail));
  } else {
    napi_value value;
    switch (job->result_kind) {
      case Result::kUndefined:
        napi_get_undefined(env, &value);
        break;
      case Result::kBigInt:
        napi_create_bigint_int64(env, job->result, &value);
        break;
      case Result::kNumber:
        napi_create_double(env, static_cast<double>(job->result), &value);
        break;
    }
    napi_resolve_deferred(env, job->deferred, value);
  }
  delete job;
}

// ---- Argument checking -----------------------------------------------------

bool ThrowType(napi_env env, const std::string &message) {
  napi_throw_type_error(env, nullptr, message.c_str());
  return false;
}

bool ThrowRange(napi_env env, const std::string &message) {
  napi_throw_range_error(env, nullptr, message.c_str());
  return false;
}

bool GetFd(napi_env env, napi_value value, const char *fn, int *fd) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  double number = -1;
  if (type == napi_number) napi_get_value_double(env, value, &number);
  if (type != napi_number || number < 0 || number > INT32_MAX || number != std::floor(number)) {
    return ThrowType(env, std::string(fn) + ": fd must be a file descriptor (a non-negative integer)");
  }
  *fd = static_cast<int>(number);
  return true;
}

// An offset or length: a non-negative bigint below 2^63, or a non-negative
// safe-integer number.
bool GetInt64(napi_env env, napi_value value, const char *fn, const char *what, int64_t *out) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_bigint) {
    bool lossless = false;
    int64_t v;
    napi_get_value_bigint_int64(env, value, &v, &lossless);
    if (!lossless || v < 0) {
      return ThrowRange(env, std::string(fn) + ": " + what + " must be from 0 to 2^63-1");
    }
    *out = v;
    return true;
  }
  if (type == napi_number) {
    double v;
    napi_get_value_double(env, value, &v);
    if (!(v >= 0) || v > 9007199254740991.0 || v != std::floor(v)) {
      return ThrowRange(env, std::string(fn) + ": " + what + " must be a non-negative safe integer or a bigint");
    }
    *out = static_cast<int64_t>(v);
    return true;
  }
  return ThrowType(env, std::string(fn) + ": " + what + " must be a bigint");
}

bool GetUint32(napi_env env, napi_value value, const char *fn, const char *what, uint32_t *out) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_undefined) {
    *out = 0;
    return true;
  }
  double v = -1;
  if (type == napi_number) napi_get_value_double(env, value, &v);
  if (type != napi_number || !(v >= 0) || v > UINT32_MAX || v != std::floor(v)) {
    return ThrowType(env, std::string(fn) + ": " + what + " must be an integer from 0 to 2^32-1");
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

// The bytes of an ArrayBufferView (a Buffer, any TypedArray or a DataView).
bool GetBytes(napi_env env, napi_value value, const char *fn, char **data, size_t *length) {
  bool is = false;
  napi_is_typedarray(env, value, &is);
  if (is) {
    napi_typedarray_type type;
    size_t elements;
    void *base;
    napi_get_typedarray_info(env, value, &type, &elements, &base, nullptr, nullptr);
    size_t size = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: size = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: size = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: size = 8; break;
      default: size = 1; break;
    }
    *data = static_cast<char *>(base);
    *length = elements * size;
    return true;
  }
  napi_is_dataview(env, value, &is);
  if (is) {
    void *base;
    napi_get_dataview_info(env, value, length, &base, nullptr, nullptr);
    *data = static_cast<char *>(base);
    return true;
  }
  return ThrowType(env, std::string(fn) + ": buffer must be a Buffer, a TypedArray or a DataView");
}

// Queues `job` and returns its Promise (or nullptr after a failure, with the
// job freed and an exception pending).
napi_value Queue(napi_env env, Job *job) {
  napi_value promise;
  napi_value name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_latin1(env, "nbdts.fileio", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, nullptr, name, Execute, Complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    if (job->keep != nullptr) napi_delete_reference(env, job->keep);
    if (job->work != nullptr) napi_delete_async_work(env, job->work);
    delete job;
    napi_throw_error(env, nullptr, "fileio: cannot queue the request");
    return nullptr;
  }
  return promise;
}

// Requests up to this size first try the page cache on the event loop.
constexpr size_t kTryFirstLimit = 128 * 1024;

// The page-cache attempt: preadv2/pwritev2 with RWF_NOWAIT, which transfer
// only what they can without waiting (data already in the page cache, room
// to write without blocking on writeback or locks) and fail with EAGAIN
// otherwise. A hit costs a memory copy on the event loop instead of two
// thread switches; a miss, a partial transfer, or any error (including a
// kernel or file system without RWF_NOWAIT) leaves the rest of the request
// to the thread pool, which reports errors itself. Larger requests go to the
// pool at once: their copies would hold the event loop too long, and the
// pool runs them in parallel on several cores.
void TryWithoutWaiting(Job *job) {
  while (job->done < job->length) {
    struct iovec iov = {job->data + job->done, job->length - job->done};
    int64_t at = job->offset + static_cast<int64_t>(job->done);
    ssize_t r = job->op == Op::kPread ? preadv2(job->fd, &iov, 1, at, RWF_NOWAIT)
                                      : pwritev2(job->fd, &iov, 1, at, RWF_NOWAIT);
    if (r <= 0) return;
    job->done += static_cast<size_t>(r);
  }
}

// A Promise already resolved with undefined.
napi_value ResolvedPromise(napi_env env) {
  napi_deferred deferred;
  napi_value promise;
  napi_value undefined;
  napi_create_promise(env, &deferred, &promise);
  napi_get_undefined(env, &undefined);
  napi_resolve_deferred(env, deferred, undefined);
  return promise;
}

// pread(fd, buffer, offset, flags?) and pwrite(fd, buffer, offset, flags?),
// and preadFast/pwriteFast, which return undefined instead of a resolved
// Promise when the transfer completed on the event loop: a plugin that
// returns that undefined lets the host complete the request at once, without
// a microtask.
napi_value ReadOrWrite(napi_env env, napi_callback_info info, Op op, bool undefined_when_done) {
  const char *fn = op == Op::kPread ? "pread" : "pwrite";
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 3) {
    ThrowType(env, std::string(fn) + "(fd, buffer, offset, flags?) needs at least three arguments");
    return nullptr;
  }
  auto *job = new Job();
  job->op = op;
  if (!GetFd(env, argv[0], fn, &job->fd) || !GetBytes(env, argv[1], fn, &job->data, &job->length) ||
      !GetInt64(env, argv[2], fn, "offset", &job->offset) ||
      !GetUint32(env, argv[3], fn, "flags", &job->flags)) {
    delete job;
    return nullptr;
  }
  if (static_cast<uint64_t>(job->offset) + job->length > static_cast<uint64_t>(INT64_MAX)) {
    delete job;
    ThrowRange(env, std::string(fn) + ": offset + length of the buffer exceeds 2^63-1");
    return nullptr;
  }
  if (job->flags == 0 && job->length <= kTryFirstLimit) {
    TryWithoutWaiting(job);
    if (job->done == job->length) {
      delete job;
      if (!undefined_when_done) return ResolvedPromise(env);
      napi_value undefined;
      napi_get_undefined(env, &undefined);
      return undefined;
    }
  }
  if (napi_create_reference(env, argv[1], 1, &job->keep) != napi_ok) {
    delete job;
    napi_throw_error(env, nullptr, "fileio: cannot reference the buffer");
    return nullptr;
  }
  return Queue(env, job);
}

napi_value Pread(napi_env env, napi_callback_info info) { return ReadOrWrite(env, info, Op::kPread, false); }
napi_value Pwrite(napi_env env, napi_callback_info info) { return ReadOrWrite(env, info, Op::kPwrite, false); }
napi_value PreadFast(napi_env env, napi_callback_info info) { return ReadOrWrite(env, info, Op::kPread, true); }
napi_value PwriteFast(napi_env env, napi_callback_info info) { return ReadOrWrite(env, info, Op::kPwrite, true); }

// The calls that take only a file descriptor: fdatasync(fd),
// blockDeviceSize(fd), sectorSize(fd).
napi_value FdOnly(napi_env env, napi_callback_info info, Op op, Result kind, const char *fn) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  auto *job = new Job();
  job->op = op;
  job->result_kind = kind;
  if (argc < 1 || !GetFd(env, argv[0], fn, &job->fd)) {
    if (argc < 1) ThrowType(env, std::string(fn) + "(fd) needs a file descriptor");
    delete job;
    return nullptr;
  }
  return Queue(env, job);
}

napi_value Fdatasync(napi_env env, napi_callback_info info) {
  return FdOnly(env, info, Op::kFdatasync, Result::kUndefined, "fdatasync");
}
napi_value BlockDeviceSize(napi_env env, napi_callback_info info) {
  return FdOnly(env, info, Op::kBlockDeviceSize, Result::kBigInt, "blockDeviceSize");
}
napi_value SectorSize(napi_env env, napi_callback_info info) {
  return FdOnly(env, info, Op::kSectorSize, Result::kNumber, "sectorSize");
}

// seekData(fd, offset) and seekHole(fd, offset) → bigint, or -1n at ENXIO.
napi_value Seek(napi_env env, napi_callback_info info, Op op, const char *fn) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 2) {
    ThrowType(env, std::string(fn) + "(fd, offset) needs two arguments");
    return nullptr;
  }
  auto *job = new Job();
  job->op = op;
  job->result_kind = Result::kBigInt;
  if (!GetFd(env, argv[0], fn, &job->fd) || !GetInt64(env, argv[1], fn, "offset", &job->offset)) {
    delete job;
    return nullptr;
  }
  return Queue(env, job);
}

napi_value SeekData(napi_env env, napi_callback_info info) { return Seek(env, info, Op::kSeekData, "seekData"); }
napi_value SeekHole(napi_env env, napi_callback_info info) { return Seek(env, info, Op::kSeekHole, "seekHole"); }

// The calls on a range: fallocate(fd, mode, offset, length),
// fadvise(fd, offset, length, advice), zeroOut(fd, offset, length).
napi_value Range(napi_env env, napi_callback_info info, Op op, const char *fn) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  size_t needed = op == Op::kZeroOut ? 3 : 4;
  if (argc < needed) {
    ThrowType(env, std::string(fn) +
                       (op == Op::kFallocate ? "(fd, mode, offset, length)"
                        : op == Op::kFadvise ? "(fd, offset, length, advice)"
                                             : "(fd, offset, length)") +
                       " needs " + std::to_string(needed) + " arguments");
    return nullptr;
  }
  auto *job = new Job();
  job->op = op;
  uint32_t mode = 0;
  bool ok = GetFd(env, argv[0], fn, &job->fd);
  if (ok && op == Op::kFallocate) {
    ok = GetUint32(env, argv[1], fn, "mode", &mode) && GetInt64(env, argv[2], fn, "offset", &job->offset) &&
         GetInt64(env, argv[3], fn, "length", &job->count);
  } else if (ok) {
    ok = GetInt64(env, argv[1], fn, "offset", &job->offset) && GetInt64(env, argv[2], fn, "length", &job->count) &&
         (op != Op::kFadvise || GetUint32(env, argv[3], fn, "advice", &mode));
  }
  if (!ok) {
    delete job;
    return nullptr;
  }
  job->mode = static_cast<int>(mode);
  return Queue(env, job);
}

napi_value Fallocate(napi_env env, napi_callback_info info) { return Range(env, info, Op::kFallocate, "fallocate"); }
napi_value Fadvise(napi_env env, napi_callback_info info) { return Range(env, info, Op::kFadvise, "fadvise"); }
napi_value ZeroOut(napi_env env, napi_callback_info info) { return Range(env, info, Op::kZeroOut, "zeroOut"); }

// forgetWrites(fd): drops the file's writes from the eviction window, so that
// a later file given the same descriptor number is not touched. Call it
// before closing a descriptor that was written with the EVICT flag. It is
// synchronous: it only takes a lock and edits the window.
napi_value ForgetWrites(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int fd;
  if (argc < 1 || !GetFd(env, argv[0], "forgetWrites", &fd)) {
    if (argc < 1) ThrowType(env, "forgetWrites(fd) needs a file descriptor");
    return nullptr;
  }
  std::lock_guard<std::mutex> guard(window_lock);
  for (WriteWindow &window : windows) {
    if (window.length > 0 && window.fd == fd) window.length = 0;
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

}  // namespace

// Adds `fileio` to the addon's exports: the functions above and the
// constants their callers pass (from this system's headers).
void InitFileIo(Napi::Env env, Napi::Object exports) {
  Napi::Object fileio = Napi::Object::New(env);
  auto add = [&](const char *name, napi_callback callback) {
    napi_value fn;
    napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, nullptr, &fn);
    fileio.Set(name, Napi::Value(env, fn));
  };
  add("pread", Pread);
  add("pwrite", Pwrite);
  add("preadFast", PreadFast);
  add("pwriteFast", PwriteFast);
  add("fdatasync", Fdatasync);
  add("fallocate", Fallocate);
  add("seekData", SeekData);
  add("seekHole", SeekHole);
  add("fadvise", Fadvise);
  add("blockDeviceSize", BlockDeviceSize);
  add("sectorSize", SectorSize);
  add("zeroOut", ZeroOut);
  add("forgetWrites", ForgetWrites);

  Napi::Object constants = Napi::Object::New(env);
  auto set = [&](const char *name, double value) { constants.Set(name, Napi::Number::New(env, value)); };
  set("READ_EVICT", kReadEvict);
  set("WRITE_SYNC", kWriteSync);
  set("WRITE_EVICT", kWriteEvict);
  set("FALLOC_FL_KEEP_SIZE", FALLOC_FL_KEEP_SIZE);
  set("FALLOC_FL_PUNCH_HOLE", FALLOC_FL_PUNCH_HOLE);
  set("FALLOC_FL_ZERO_RANGE", FALLOC_FL_ZERO_RANGE);
  set("POSIX_FADV_NORMAL", POSIX_FADV_NORMAL);
  set("POSIX_FADV_RANDOM", POSIX_FADV_RANDOM);
  set("POSIX_FADV_SEQUENTIAL", POSIX_FADV_SEQUENTIAL);
  set("POSIX_FADV_WILLNEED", POSIX_FADV_WILLNEED);
  set("POSIX_FADV_DONTNEED", POSIX_FADV_DONTNEED);
  set("POSIX_FADV_NOREUSE", POSIX_FADV_NOREUSE);
  fileio.Set("constants", constants);

  exports.Set("fileio", fileio);
}
