// nbdts addon: the host's side of the shared-memory channel (ring.h).
//
// The host maps the ring once for the life of the process (views over it
// must never outlive the mapping), watches the doorbell eventfd on libuv's
// loop (no extra thread), takes submitted slots, hands each request's data
// to the plugin as a Buffer over the slot, and completes slots by storing
// DONE and waking the nbdkit thread's futex.
//
// The synchronising operations (taking pending bits, the idle flag, slot
// completion) are done here with explicit atomics; plain fields of a slot are
// read and written from JavaScript through typed arrays between them.

#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include <fcntl.h>

#include <time.h>

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../include/ring.h"

namespace {

struct Ring {
  char *base = nullptr;
  size_t size = 0;
  nbdts_ring_header *header = nullptr;
  nbdts_slot *slots = nullptr;
  int doorbell_fd = -1;
  uv_poll_t poll;
  bool polling = false;
  Napi::FunctionReference on_doorbell;
  // The doorbell callback runs as this async resource, a plain object: the
  // host's AsyncLocalStorage keeps its per-request store on it, which is
  // fast on a plain object and slow on the global object.
  Napi::ObjectReference doorbell_resource;
  napi_async_context doorbell_context = nullptr;
  napi_env env = nullptr;
};

Ring ring;

void FutexWake(uint32_t *addr) {
  // Not FUTEX_PRIVATE_FLAG: the waiter is in another process.
  syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

char *SlotData(uint32_t index) {
  return ring.base + ring.header->data_offset + static_cast<size_t>(index) * ring.header->data_stride;
}

bool CheckSlot(const Napi::Env &env, const Napi::Value &value, uint32_t *index) {
  if (ring.base == nullptr) {
    Napi::Error::New(env, "the ring is not attached").ThrowAsJavaScriptException();
    return false;
  }
  if (!value.IsNumber()) {
    Napi::TypeError::New(env, "expected a slot index").ThrowAsJavaScriptException();
    return false;
  }
  uint32_t i = value.As<Napi::Number>().Uint32Value();
  if (i >= ring.header->nslots) {
    Napi::RangeError::New(env, "slot index out of range").ThrowAsJavaScriptException();
    return false;
  }
  *index = i;
  return true;
}

bool CheckRange(const Napi::Env &env, uint64_t offset, uint64_t length) {
  if (offset > NBDTS_DATA_STRIDE || length > NBDTS_DATA_STRIDE - offset) {
    Napi::RangeError::New(env, "range exceeds the slot's data area").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// attach(ringFd, doorbellFd) → { header: ArrayBuffer, nslots, dataOffset, dataStride }
// `header` covers the ring header and every slot header, not the data.
Napi::Value Attach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (ring.base != nullptr) {
    Napi::Error::New(env, "the ring is already attached").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int doorbell = info[1].As<Napi::Number>().Int32Value();
  struct stat st;
  if (fstat(fd, &st) == -1) {
    Napi::Error::New(env, std::string("fstat of the ring: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  void *base = mmap(nullptr, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    Napi::Error::New(env, std::string("mmap of the ring: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto *header = static_cast<nbdts_ring_header *>(base);
  if (header->magic != NBDTS_RING_MAGIC || header->version != NBDTS_RING_VERSION ||
      header->slot_size != sizeof(nbdts_slot)) {
    munmap(base, st.st_size);
    Napi::Error::New(env, "the ring was made by a different version of nbdkit-ts-plugin.so")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ring.base = static_cast<char *>(base);
  ring.size = st.st_size;
  ring.header = header;
  ring.slots = reinterpret_cast<nbdts_slot *>(ring.base + NBDTS_SLOTS_OFFSET);
  ring.doorbell_fd = doorbell;
  close(fd);
  // Processes the plugin starts must not inherit the channel.
  fcntl(doorbell, F_SETFD, fcntl(doorbell, F_GETFD) | FD_CLOEXEC);

  // The mapping lives as long as the process, so the header view needs no
  // finalizer.
  napi_value header_buffer;
  napi_status status = napi_create_external_arraybuffer(env, ring.base, header->data_offset, nullptr,
                                                        nullptr, &header_buffer);
  if (status != napi_ok) {
    Napi::Error::New(env, "cannot create a view of the ring header").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("header", Napi::Value(env, header_buffer));
  result.Set("nslots", Napi::Number::New(env, header->nslots));
  result.Set("dataOffset", Napi::Number::New(env, static_cast<double>(header->data_offset)));
  result.Set("dataStride", Napi::Number::New(env, static_cast<double>(header->data_stride)));
  return result;
}

void OnDoorbell(uv_poll_t *handle, int status, int events) {
  uint64_t count;
  while (read(ring.doorbell_fd, &count, sizeof count) > 0) {
  }
  Napi::Env env(ring.env);
  Napi::HandleScope scope(env);
  // MakeCallback, not Call: it runs the microtask queue afterwards, so
  // plugin promises that settle at once complete in this same turn.
  ring.on_doorbell.MakeCallback(ring.doorbell_resource.Value(), {}, ring.doorbell_context);
  if (env.IsExceptionPending()) {
    napi_value error;
    napi_get_and_clear_last_exception(ring.env, &error);
    napi_fatal_exception(ring.env, error);
  }
}

// watch(callback): calls `callback` whenever the shim rings the doorbell.
Napi::Value Watch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (ring.base == nullptr || ring.polling) {
    Napi::Error::New(env, "watch: the ring is not attached, or already watched").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ring.on_doorbell = Napi::Persistent(info[0].As<Napi::Function>());
  ring.env = env;
  Napi::Object resource = Napi::Object::New(env);
  ring.doorbell_resource = Napi::Persistent(resource);
  napi_async_init(env, resource, Napi::String::New(env, "nbdts:doorbell"), &ring.doorbell_context);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &ring.poll, ring.doorbell_fd);
  uv_poll_start(&ring.poll, UV_READABLE, OnDoorbell);
  ring.polling = true;
  return env.Undefined();
}

// unwatch(): stops watching, so the event loop can end.
Napi::Value Unwatch(const Napi::CallbackInfo &info) {
  if (ring.polling) {
    uv_poll_stop(&ring.poll);
    uv_close(reinterpret_cast<uv_handle_t *>(&ring.poll), nullptr);
    ring.polling = false;
  }
  return info.Env().Undefined();
}

// take(out: Uint32Array) → n: claims every submitted slot, writing their
// indices to out[0..n).
Napi::Value Take(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Uint32Array out = info[0].As<Napi::Uint32Array>();
  uint32_t *indices = out.Data();
  size_t capacity = out.ElementLength();
  uint32_t n = 0;
  uint32_t words = (ring.header->nslots + 31) / 32;
  for (uint32_t w = 0; w < words; w++) {
    if (__atomic_load_n(&ring.header->pending[w], __ATOMIC_RELAXED) == 0) continue;
    uint32_t bits = __atomic_exchange_n(&ring.header->pending[w], 0, __ATOMIC_SEQ_CST);
    while (bits != 0 && n < capacity) {
      uint32_t bit = __builtin_ctz(bits);
      bits &= bits - 1;
      indices[n++] = w * 32 + bit;
    }
  }
  return Napi::Number::New(env, n);
}

// idle() → boolean: tells the shim the host is going back to its event loop.
// Returns true (and stays busy) when slots were submitted meanwhile.
Napi::Value Idle(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  __atomic_store_n(&ring.header->host_idle, 1, __ATOMIC_SEQ_CST);
  uint32_t words = (ring.header->nslots + 31) / 32;
  for (uint32_t w = 0; w < words; w++) {
    if (__atomic_load_n(&ring.header->pending[w], __ATOMIC_SEQ_CST) != 0) {
      __atomic_store_n(&ring.header->host_idle, 0, __ATOMIC_SEQ_CST);
      return Napi::Boolean::New(env, true);
    }
  }
  return Napi::Boolean::New(env, false);
}

bool AnyPending() {
  uint32_t words = (ring.header->nslots + 31) / 32;
  for (uint32_t w = 0; w < words; w++) {
    if (__atomic_load_n(&ring.header->pending[w], __ATOMIC_ACQUIRE) != 0) return true;
  }
  return false;
}

uint64_t NowNanoseconds() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + ts.tv_nsec;
}

// poll(microseconds) → boolean: waits up to `microseconds`, spinning, for a
// submission, while the shim still sees the host as busy (so it does not ring
// the doorbell). Under load the next request usually arrives within a few
// microseconds, and catching it here saves two context switches; the host
// calls this only when it has more than one CPU.
Napi::Value Poll(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint64_t limit = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()) * 1000u;
  uint64_t start = NowNanoseconds();
  for (uint32_t i = 0;; i++) {
    if (AnyPending()) return Napi::Boolean::New(env, true);
    if ((i & 63) == 63 && NowNanoseconds() - start >= limit) return Napi::Boolean::New(env, false);
    __builtin_ia32_pause();
  }
}

// Publishes a slot's reply. The host owns the slot (SUBMITTED, or SLEEPING
// once its waiter sleeps), so the exchange cannot clobber another state; only
// a sleeping waiter needs the wake-up system call.
void CompleteSlot(uint32_t index) {
  nbdts_slot *slot = &ring.slots[index];
  if (__atomic_exchange_n(&slot->state, NBDTS_SLOT_DONE, __ATOMIC_ACQ_REL) == NBDTS_SLOT_SLEEPING)
    FutexWake(&slot->state);
}

// complete(slot): publishes the reply written into the slot and wakes the
// nbdkit thread waiting for it.
Napi::Value Complete(const Napi::CallbackInfo &info) {
  uint32_t index;
  if (CheckSlot(info.Env(), info[0], &index)) CompleteSlot(index);
  return info.Env().Undefined();
}

// completeMany(slots: Uint32Array, n): complete() for slots[0..n).
Napi::Value CompleteMany(const Napi::CallbackInfo &info) {
  Napi::Uint32Array slots = info[0].As<Napi::Uint32Array>();
  uint32_t n = info[1].As<Napi::Number>().Uint32Value();
  const uint32_t *indices = slots.Data();
  for (uint32_t i = 0; i < n && i < slots.ElementLength(); i++) {
    if (indices[i] < ring.header->nslots) CompleteSlot(indices[i]);
  }
  return info.Env().Undefined();
}

// window(slot, length) → ArrayBuffer | undefined: zero-copy memory over the
// first `length` bytes of the slot's data, or undefined where the runtime
// forbids external memory (the host then copies). The host wraps it in a
// Buffer: making the Buffer here would change its prototype after creation,
// which V8 handles slowly.
Napi::Value Window(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint32_t index;
  if (!CheckSlot(env, info[0], &index)) return env.Undefined();
  uint64_t length = info[1].As<Napi::Number>().Int64Value();
  if (!CheckRange(env, 0, length)) return env.Undefined();
  napi_value arraybuffer;
  napi_status status =
      napi_create_external_arraybuffer(env, SlotData(index), length, nullptr, nullptr, &arraybuffer);
  if (status == napi_no_external_buffers_allowed) return env.Undefined();
  if (status != napi_ok) {
    Napi::Error::New(env, "cannot create a view of the slot").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Value(env, arraybuffer);
}

// detach(view): detaches a view's memory, so a plugin that kept it sees an
// empty buffer rather than a later request's data.
Napi::Value Detach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  napi_value arraybuffer;
  if (napi_get_typedarray_info(env, info[0], nullptr, nullptr, nullptr, &arraybuffer, nullptr) == napi_ok)
    napi_detach_arraybuffer(env, arraybuffer);
  return env.Undefined();
}

// copyIn(slot, offset, source: Uint8Array): copies bytes into the slot.
Napi::Value CopyIn(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint32_t index;
  if (!CheckSlot(env, info[0], &index)) return env.Undefined();
  uint64_t offset = info[1].As<Napi::Number>().Int64Value();
  Napi::Uint8Array source = info[2].As<Napi::Uint8Array>();
  if (!CheckRange(env, offset, source.ByteLength())) return env.Undefined();
  memcpy(SlotData(index) + offset, source.Data(), source.ByteLength());
  return env.Undefined();
}

// copyOut(slot, offset, length) → Buffer: a copy of bytes of the slot.
Napi::Value CopyOut(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint32_t index;
  if (!CheckSlot(env, info[0], &index)) return env.Undefined();
  uint64_t offset = info[1].As<Napi::Number>().Int64Value();
  uint64_t length = info[2].As<Napi::Number>().Int64Value();
  if (!CheckRange(env, offset, length)) return env.Undefined();
  return Napi::Buffer<char>::Copy(env, SlotData(index) + offset, length);
}

// readString(slot, offset, length) → string: UTF-8 text from the slot.
Napi::Value ReadString(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint32_t index;
  if (!CheckSlot(env, info[0], &index)) return env.Undefined();
  uint64_t offset = info[1].As<Napi::Number>().Int64Value();
  uint64_t length = info[2].As<Napi::Number>().Int64Value();
  if (!CheckRange(env, offset, length)) return env.Undefined();
  return Napi::String::New(env, SlotData(index) + offset, length);
}

// writeString(slot, offset, text) → bytes: writes `text` as UTF-8 (cut to fit
// the slot, never in the middle of a character) and returns its length.
Napi::Value WriteString(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint32_t index;
  if (!CheckSlot(env, info[0], &index)) return env.Undefined();
  uint64_t offset = info[1].As<Napi::Number>().Int64Value();
  if (!CheckRange(env, offset, 0)) return env.Undefined();
  size_t room = NBDTS_DATA_STRIDE - offset;
  size_t written = 0;
  // napi writes at most room-1 bytes plus a NUL.
  napi_get_value_string_utf8(env, info[2], SlotData(index) + offset, room, &written);
  return Napi::Number::New(env, static_cast<double>(written));
}

// closeOnExec(fd): keeps a descriptor out of processes the plugin starts.
Napi::Value CloseOnExec(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
  return info.Env().Undefined();
}

// The constants of ring.h, for the host's protocol.ts (and its test).
Napi::Object Layout(Napi::Env env) {
  Napi::Object layout = Napi::Object::New(env);
  auto set = [&](const char *name, double value) { layout.Set(name, Napi::Number::New(env, value)); };
  set("RING_MAGIC", NBDTS_RING_MAGIC);
  set("RING_VERSION", NBDTS_RING_VERSION);
  set("MAX_SLOTS", NBDTS_MAX_SLOTS);
  set("PAGE_SIZE", NBDTS_PAGE_SIZE);
  set("SLOTS_OFFSET", NBDTS_SLOTS_OFFSET);
  set("MAX_REQUEST", NBDTS_MAX_REQUEST);
  set("DATA_STRIDE", NBDTS_DATA_STRIDE);
  set("DATA_RETAIN", NBDTS_DATA_RETAIN);
  set("SLOT_FREE", NBDTS_SLOT_FREE);
  set("SLOT_SUBMITTED", NBDTS_SLOT_SUBMITTED);
  set("SLOT_DONE", NBDTS_SLOT_DONE);
  set("SLOT_ABANDONED", NBDTS_SLOT_ABANDONED);
  set("SLOT_SLEEPING", NBDTS_SLOT_SLEEPING);
  set("ARG_READONLY", NBDTS_ARG_READONLY);
  set("ARG_TLS", NBDTS_ARG_TLS);
  set("ARG_PEER", NBDTS_ARG_PEER);
  set("EXTENT_SIZE", sizeof(nbdts_extent));
  set("HEADER_HOST_IDLE", NBDTS_HEADER_HOST_IDLE);
  set("HEADER_PENDING", NBDTS_HEADER_PENDING);
  set("SLOT_STATE", NBDTS_SLOT_STATE);
  set("SLOT_OP", NBDTS_SLOT_OP);
  set("SLOT_HANDLE", NBDTS_SLOT_HANDLE);
  set("SLOT_OFFSET", NBDTS_SLOT_OFFSET);
  set("SLOT_COUNT", NBDTS_SLOT_COUNT);
  set("SLOT_FLAGS", NBDTS_SLOT_FLAGS);
  set("SLOT_ARG_LEN", NBDTS_SLOT_ARG_LEN);
  set("SLOT_ERROR", NBDTS_SLOT_ERROR);
  set("SLOT_REPLY_LEN", NBDTS_SLOT_REPLY_LEN);
  set("SLOT_DISCONNECT", NBDTS_SLOT_DISCONNECT);
  set("SLOT_RESULT", NBDTS_SLOT_RESULT);
  set("SLOT_SIZE", NBDTS_SLOT_SIZE);
  set("CONTROL_HEADER", NBDTS_CONTROL_HEADER);
  set("CONTROL_MAX", NBDTS_CONTROL_MAX);
  set("CONTROL_DEBUG", NBDTS_CONTROL_DEBUG);
  set("CONTROL_ERROR", NBDTS_CONTROL_ERROR);
  set("CONTROL_SHUTDOWN", NBDTS_CONTROL_SHUTDOWN);
  set("CONTROL_READ_PASSWORD", NBDTS_CONTROL_READ_PASSWORD);
  set("CONTROL_PASSWORD", NBDTS_CONTROL_PASSWORD);
  set("CONTROL_NANOSLEEP", NBDTS_CONTROL_NANOSLEEP);
  set("CONTROL_SLEPT", NBDTS_CONTROL_SLEPT);
  Napi::Array ops = Napi::Array::New(env);
  uint32_t i = 0;
#define NBDTS_OP_NAME(name) ops.Set(i++, Napi::String::New(env, #name));
  NBDTS_OPS(NBDTS_OP_NAME)
#undef NBDTS_OP_NAME
  layout.Set("ops", ops);
  return layout;
}

}  // namespace

// Defined in fileio.cc: adds `fileio`, asynchronous file I/O for plugins.
void InitFileIo(Napi::Env env, Napi::Object exports);

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("attach", Napi::Function::New(env, Attach, "attach"));
  exports.Set("watch", Napi::Function::New(env, Watch, "watch"));
  exports.Set("unwatch", Napi::Function::New(env, Unwatch, "unwatch"));
  exports.Set("take", Napi::Function::New(env, Take, "take"));
  exports.Set("idle", Napi::Function::New(env, Idle, "idle"));
  exports.Set("poll", Napi::Function::New(env, Poll, "poll"));
  exports.Set("complete", Napi::Function::New(env, Complete, "complete"));
  exports.Set("completeMany", Napi::Function::New(env, CompleteMany, "completeMany"));
  exports.Set("window", Napi::Function::New(env, Window, "window"));
  exports.Set("detach", Napi::Function::New(env, Detach, "detach"));
  exports.Set("copyIn", Napi::Function::New(env, CopyIn, "copyIn"));
  exports.Set("copyOut", Napi::Function::New(env, CopyOut, "copyOut"));
  exports.Set("readString", Napi::Function::New(env, ReadString, "readString"));
  exports.Set("writeString", Napi::Function::New(env, WriteString, "writeString"));
  exports.Set("closeOnExec", Napi::Function::New(env, CloseOnExec, "closeOnExec"));
  exports.Set("layout", Layout(env));
  InitFileIo(env, exports);
  return exports;
}

NODE_API_MODULE(nbdts_native, Init)
