import {
  NbdError,
  ParamParser,
  THREAD_MODELS,
  flagsFromBits,
  definedCallbacks,
  CALLBACKS,
  type ConnectionContext,
  type DumpLines,
  type Export,
  type Extent,
  type Flags,
  type Plugin,
  type RequestContext,
  type Size,
} from "@nbdts/sdk";
import { availableParallelism } from "node:os";
import type { NativeAddon } from "../addon.js";
import { newRequest, requests } from "./context.js";
import { describeFailure } from "./errors.js";
import { loadPlugin, type LoadedPlugin } from "./load.js";
import {
  ARG_PEER,
  ARG_READONLY,
  ARG_TLS,
  EXTENT_SIZE,
  DATA_STRIDE,
  OPS,
  Op,
  SLOTS_OFFSET,
  SLOT_ARG_LEN,
  SLOT_COUNT,
  SLOT_DISCONNECT,
  SLOT_ERROR,
  SLOT_FLAGS,
  SLOT_HANDLE,
  SLOT_OFFSET,
  SLOT_OP,
  SLOT_REPLY_LEN,
  SLOT_RESULT,
  SLOT_SIZE,
  callbackOfOp,
} from "./protocol.js";

/** An open connection: the plugin's handle and what the shim told us of the client. */
interface Connection {
  readonly handle: unknown;
  readonly context: ConnectionContext;
}

/** The facts the shim passes in the LOAD request. */
export interface ServerFacts {
  verbose: boolean;
  nbdkitVersion: string;
  canDisconnect: boolean;
  stdioSafe: boolean;
}

const MAX_EXPORT_NAME = 4096;
/** The longest the host works through submissions before letting the event loop run. */
const BUSY_LIMIT_MS = 2;

/**
 * How long the host polls for the next request before it sleeps. Polling
 * only pays when the host has a CPU to itself: on one CPU it would only delay
 * the nbdkit thread it waits for. NBDTS_POLL_US overrides it.
 */
function pollMicroseconds(): number {
  const setting = process.env.NBDTS_POLL_US;
  if (setting !== undefined && /^\d+$/.test(setting)) return Math.min(Number(setting), 1000);
  return availableParallelism() > 1 ? 100 : 0;
}

/**
 * Polling trades idle CPU for latency: a request arriving while the host
 * polls is served without two context switches. When the host is busy, the
 * CPUs are too, and polling would take time from the nbdkit threads and the
 * client. So the host polls only while, over the last window, it spent less
 * than this fraction of its time serving requests.
 */
const POLL_BELOW_UTILISATION = 0.25;
const UTILISATION_WINDOW_MS = 20;
const INT64_MAX = (1n << 63n) - 1n;
const FUA_MODES = ["none", "emulate", "native"] as const;

type DataCall = (plugin: Plugin, handle: unknown, buf: Buffer, offset: bigint, flags: Flags) => unknown;

function callPread(plugin: Plugin, handle: unknown, buf: Buffer, offset: bigint, flags: Flags): unknown {
  return plugin.pread(handle, buf, offset, flags);
}

function callPwrite(plugin: Plugin, handle: unknown, buf: Buffer, offset: bigint, flags: Flags): unknown {
  return plugin.pwrite!(handle, buf, offset, flags);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

/**
 * Serves the shim's requests: takes submitted slots from the ring, runs the
 * plugin's callbacks, writes the replies and completes the slots.
 *
 * Synchronous callbacks complete in a batch at the end of each doorbell;
 * asynchronous ones complete when they settle, so under `parallel` many
 * requests are in flight at once.
 */
export class Host {
  readonly #addon: NativeAddon;
  readonly #u32: Uint32Array;
  readonly #i32: Int32Array;
  readonly #u64: BigUint64Array;
  readonly #taken: Uint32Array;
  readonly #batch: Uint32Array;
  #batchLength = 0;
  #inDoorbell = false;
  /** Set when the runtime forbids views of external memory: data is copied. */
  #copyMode = process.env.NBDTS_COPY_MODE === "1";

  #loaded: LoadedPlugin | undefined;
  #parser: ParamParser | undefined;
  #params: Readonly<Record<string, unknown>> = Object.freeze({});
  readonly #connections = new Map<number, Connection>();
  #nextConnection = 1;
  #facts: ServerFacts | undefined;
  #forked = false;
  /** How long to poll for the next request before sleeping (0: never). */
  readonly #pollMicroseconds = pollMicroseconds();
  /** The host's own utilisation: work time in the current window. */
  #windowStart = performance.now();
  #windowWork = 0;
  #pollAllowed = true;

  /** Called with the facts of the LOAD request, before the plugin is imported. */
  onLoad: (facts: ServerFacts) => void = () => {};

  constructor(addon: NativeAddon, header: ArrayBuffer, nslots: number) {
    this.#addon = addon;
    this.#u32 = new Uint32Array(header);
    this.#i32 = new Int32Array(header);
    this.#u64 = new BigUint64Array(header);
    this.#taken = new Uint32Array(nslots);
    this.#batch = new Uint32Array(nslots);
  }

  get pluginName(): string {
    return this.#loaded?.plugin.name ?? "ts";
  }

  get facts(): ServerFacts | undefined {
    return this.#facts;
  }

  /** Whether .after_fork has run: the shim's threads serve nanosleep from then on. */
  get forked(): boolean {
    return this.#forked;
  }

  /**
   * Handles a ring of the doorbell: every submitted slot, until none is left.
   * Between batches it polls briefly for the next submission (see `poll` in
   * ring.cc) when it has a CPU to spare, but never holds the event loop
   * longer than BUSY_LIMIT_MS: asynchronous callbacks need it to finish.
   */
  readonly onDoorbell = (): void => {
    this.#inDoorbell = true;
    const start = performance.now();
    let more = false;
    try {
      do {
        const batchStart = performance.now();
        const n = this.#addon.take(this.#taken);
        for (let i = 0; i < n; i++) this.#dispatch(this.#taken[i]!);
        this.#flushBatch();
        const now = performance.now();
        this.#windowWork += now - batchStart;
        if (now - start > BUSY_LIMIT_MS) {
          more = true;
          break;
        }
      } while ((this.#shouldPoll() && this.#addon.poll(this.#pollMicroseconds)) || this.#addon.idle());
    } finally {
      this.#inDoorbell = false;
      this.#flushBatch();
    }
    // Still marked busy, so the shim will not ring: come back after the
    // event loop has run I/O callbacks.
    if (more) setImmediate(this.onDoorbell);
  };

  /** Whether to poll now: see POLL_BELOW_UTILISATION. */
  #shouldPoll(): boolean {
    if (this.#pollMicroseconds === 0) return false;
    const now = performance.now();
    const elapsed = now - this.#windowStart;
    if (elapsed >= UTILISATION_WINDOW_MS) {
      this.#pollAllowed = this.#windowWork / elapsed < POLL_BELOW_UTILISATION;
      this.#windowStart = now;
      this.#windowWork = 0;
    }
    return this.#pollAllowed;
  }

  // ---- Slot access ---------------------------------------------------------

  #field32(slot: number, field: number): number {
    return this.#u32[(SLOTS_OFFSET + slot * SLOT_SIZE + field) >> 2]!;
  }

  #offsetOf(slot: number): bigint {
    return this.#u64[(SLOTS_OFFSET + slot * SLOT_SIZE + SLOT_OFFSET) >> 3]!;
  }

  #setResult(slot: number, value: bigint | number | boolean): void {
    this.#u64[(SLOTS_OFFSET + slot * SLOT_SIZE + SLOT_RESULT) >> 3] =
      typeof value === "bigint" ? value : BigInt(Number(value));
  }

  #setReplyLength(slot: number, length: number): void {
    this.#u32[(SLOTS_OFFSET + slot * SLOT_SIZE + SLOT_REPLY_LEN) >> 2] = length;
  }

  #writeReplyString(slot: number, text: string): void {
    this.#setReplyLength(slot, this.#addon.writeString(slot, 0, text));
  }

  #args(slot: number, offset = 0): string[] {
    const length = this.#field32(slot, SLOT_ARG_LEN) - offset;
    if (length <= 0) return [];
    const text = this.#addon.readString(slot, offset, length);
    const parts = text.split("\0");
    parts.pop(); // after the last NUL
    return parts;
  }

  /** A view of the slot's first `count` bytes (or a copy, in copy mode). */
  #view(slot: number, count: number, fill: boolean): Buffer {
    if (!this.#copyMode) {
      const memory = this.#addon.window(slot, count);
      if (memory !== undefined) return Buffer.from(memory, 0, count);
      this.#copyMode = true;
    }
    return fill ? this.#addon.copyOut(slot, 0, count) : Buffer.alloc(count);
  }

  /** Ends the plugin's access to a view; in copy mode, a pread's data is copied in. */
  #release(slot: number, view: Buffer, copyBack: boolean): void {
    if (this.#copyMode) {
      if (copyBack) this.#addon.copyIn(slot, 0, view);
    } else {
      this.#addon.detach(view);
    }
  }

  #complete(slot: number): void {
    if (this.#inDoorbell) this.#batch[this.#batchLength++] = slot;
    else this.#addon.complete(slot);
  }

  #flushBatch(): void {
    if (this.#batchLength === 0) return;
    this.#addon.completeMany(this.#batch, this.#batchLength);
    this.#batchLength = 0;
  }

  #finish(slot: number, request: RequestContext): void {
    if (request.disconnect !== 0) this.#u32[(SLOTS_OFFSET + slot * SLOT_SIZE + SLOT_DISCONNECT) >> 2] = request.disconnect;
    this.#complete(slot);
  }

  #fail(slot: number, callback: string, request: RequestContext, error: unknown): void {
    const failure = describeFailure(this.pluginName, callback, error, request.errno);
    this.#i32[(SLOTS_OFFSET + slot * SLOT_SIZE + SLOT_ERROR) >> 2] = failure.errno;
    if (failure.message !== "") this.#writeReplyString(slot, failure.message);
    this.#finish(slot, request);
  }

  /**
   * Runs one callback for a slot: `call` inside the request's context, then
   * `reply` with its value (which may throw to fail the request), then
   * completes the slot. `release` runs first in every outcome.
   */
  #run<T>(
    slot: number,
    callback: string,
    request: RequestContext,
    call: () => T | PromiseLike<T>,
    reply?: (value: T) => void,
    release?: () => void,
  ): void {
    let value: T | PromiseLike<T>;
    try {
      value = requests.run(request, call);
    } catch (error) {
      release?.();
      this.#fail(slot, callback, request, error);
      return;
    }
    if (isThenable(value)) {
      value.then(
        (settled) => {
          release?.();
          this.#reply(slot, callback, request, settled, reply);
        },
        (error: unknown) => {
          release?.();
          this.#fail(slot, callback, request, error);
        },
      );
      return;
    }
    release?.();
    this.#reply(slot, callback, request, value, reply);
  }

  #reply<T>(slot: number, callback: string, request: RequestContext, value: T, reply?: (value: T) => void): void {
    if (reply !== undefined) {
      try {
        reply(value);
      } catch (error) {
        this.#fail(slot, callback, request, error);
        return;
      }
    }
    this.#finish(slot, request);
  }

  // ---- Dispatch ------------------------------------------------------------

  #dispatch(slot: number): void {
    const op = this.#field32(slot, SLOT_OP);
    switch (op) {
      case Op.PREAD:
        return this.#pread(slot);
      case Op.PWRITE:
        return this.#pwrite(slot);
      case Op.LOAD:
        return this.#load(slot);
      default:
        return this.#other(slot, op);
    }
  }

  #connection(slot: number): Connection {
    const id = this.#field32(slot, SLOT_HANDLE);
    const connection = this.#connections.get(id);
    if (connection === undefined) throw new NbdError("EINVAL", `unknown connection ${id}`);
    return connection;
  }

  #plugin(): Plugin {
    if (this.#loaded === undefined) throw new NbdError("EINVAL", "no plugin is loaded");
    return this.#loaded.plugin;
  }

  #pread(slot: number): void {
    this.#dataRequest(slot, "pread", callPread, false);
  }

  #pwrite(slot: number): void {
    this.#dataRequest(slot, "pwrite", callPwrite, true);
  }

  /**
   * pread and pwrite, the hot path: the plugin gets a view of the slot's data
   * (for pwrite filled with the client's data), and the view is released
   * before the slot is completed. Written without per-request closures on
   * the synchronous path.
   */
  #dataRequest(slot: number, callback: "pread" | "pwrite", call: DataCall, write: boolean): void {
    let connection: Connection;
    try {
      connection = this.#connection(slot);
    } catch (error) {
      return this.#fail(slot, callback, newRequest(null), error);
    }
    const plugin = this.#loaded!.plugin;
    const view = this.#view(slot, this.#field32(slot, SLOT_COUNT), write);
    const offset = this.#offsetOf(slot);
    const flags = flagsFromBits(this.#field32(slot, SLOT_FLAGS));
    const request = newRequest(connection.context);
    let value: unknown;
    try {
      value = requests.run(request, call, plugin, connection.handle, view, offset, flags);
    } catch (error) {
      this.#release(slot, view, !write);
      return this.#fail(slot, callback, request, error);
    }
    if (isThenable(value)) {
      value.then(
        () => {
          this.#release(slot, view, !write);
          this.#finish(slot, request);
        },
        (error: unknown) => {
          this.#release(slot, view, !write);
          this.#fail(slot, callback, request, error);
        },
      );
      return;
    }
    this.#release(slot, view, !write);
    this.#finish(slot, request);
  }

  /** LOAD: the handshake. Imports the plugin and reports what it defines. */
  #load(slot: number): void {
    const args = this.#args(slot);
    const pairs = new Map<string, string>();
    for (let i = 0; i + 1 < args.length; i += 2) pairs.set(args[i]!, args[i + 1]!);
    const spec = pairs.get("plugin") ?? "";
    this.#facts = {
      verbose: pairs.get("verbose") === "1",
      nbdkitVersion: pairs.get("nbdkit_version") ?? "",
      canDisconnect: pairs.get("disconnect") === "1",
      stdioSafe: pairs.get("stdio_safe") === "1",
    };
    this.onLoad(this.#facts);

    const request = newRequest(null);
    this.#run(
      slot,
      "load",
      request,
      async () => {
        this.#loaded = await loadPlugin(spec);
        const plugin = this.#loaded.plugin;
        await plugin.load?.();
        this.#parser = new ParamParser({
          pluginName: plugin.name,
          ...(plugin.params !== undefined ? { schema: plugin.params } : {}),
          ...(plugin.magicConfigKey !== undefined ? { magicConfigKey: plugin.magicConfigKey } : {}),
          ...(plugin.config !== undefined ? { config: plugin.config.bind(plugin) } : {}),
        });
      },
      () => {
        const plugin = this.#plugin();
        let defined = 0n;
        OPS.forEach((name, index) => {
          const callback = callbackOfOp(name);
          const value = (plugin as unknown as Record<string, unknown>)[callback];
          if (value !== undefined && (typeof value === "function" || callback === "threadModel")) {
            defined |= 1n << BigInt(index);
          }
        });
        this.#setResult(slot, defined);
        const reply: string[] = ["name", plugin.name];
        if (plugin.version !== undefined) reply.push("version", plugin.version);
        if (plugin.longname !== undefined) reply.push("longname", plugin.longname);
        if (plugin.magicConfigKey !== undefined) reply.push("magic_config_key", plugin.magicConfigKey);
        this.#writeReplyString(slot, reply.join("\0") + "\0");
      },
    );
  }

  /** Every other op: lifecycle, exports, connection questions and the rest of the data path. */
  #other(slot: number, op: number): void {
    const name = OPS[op];
    if (name === undefined) {
      return this.#fail(slot, "dispatch", newRequest(null), new NbdError("EINVAL", `unknown operation ${op}`));
    }
    const callback = callbackOfOp(name);
    let connection: Connection | undefined;
    let plugin: Plugin;
    try {
      plugin = this.#plugin();
      if (op >= Op.CLOSE) connection = this.#connection(slot);
    } catch (error) {
      return this.#fail(slot, callback, newRequest(null), error);
    }
    const flags = this.#field32(slot, SLOT_FLAGS);
    const readonly = (flags & ARG_READONLY) !== 0;
    const tls = (flags & ARG_TLS) !== 0;
    const handle = connection?.handle;
    const request = newRequest(connection?.context ?? null);
    const run = <T>(call: () => T | PromiseLike<T>, reply?: (value: T) => void) =>
      this.#run(slot, callback, request, call, reply);
    const bool = (value: unknown) => this.#setResult(slot, checkBoolean(callback, value));
    const count = () => this.#field32(slot, SLOT_COUNT);
    const offset = () => this.#offsetOf(slot);
    const dataFlags = () => flagsFromBits(flags);

    switch (op) {
      case Op.CONFIG: {
        const [key = "", value = ""] = this.#args(slot);
        return run(() => this.#parser!.accept(key, value));
      }
      case Op.CONFIG_COMPLETE:
        return run(async () => {
          this.#params = this.#parser!.complete();
          await plugin.configComplete?.(this.#params as never);
        });
      case Op.THREAD_MODEL:
        return run(
          () => (typeof plugin.threadModel === "function" ? plugin.threadModel() : plugin.threadModel),
          (model) => this.#setResult(slot, threadModelIndex(model)),
        );
      case Op.DUMP_PLUGIN:
        return run(
          () => plugin.dumpPlugin?.(),
          (lines) => this.#writeReplyString(slot, this.#dumpLines(lines)),
        );
      case Op.GET_READY:
        return run(async () => {
          await plugin.getReady?.(this.#params as never);
          // nbdkit_stdio_safe() is false once the server is ready.
          if (this.#facts !== undefined) this.#facts.stdioSafe = false;
        });
      case Op.AFTER_FORK:
        this.#forked = true;
        return run(() => plugin.afterFork?.(this.#params as never));
      case Op.CLEANUP:
        return run(() => plugin.cleanup?.());
      case Op.UNLOAD:
        return run(() => plugin.unload?.());
      case Op.PRECONNECT:
        return run(() => plugin.preconnect!({ readonly }));
      case Op.LIST_EXPORTS:
        return run(
          () => plugin.listExports!({ readonly, tls, params: this.#params as never }),
          (exports) => this.#writeReplyString(slot, encodeExports(exports)),
        );
      case Op.DEFAULT_EXPORT:
        return run(
          () => plugin.defaultExport!({ readonly, tls, params: this.#params as never }),
          (name) => this.#replyOptionalString(slot, callback, name),
        );
      case Op.OPEN:
        return this.#open(slot, plugin, flags);
      case Op.CLOSE: {
        const id = this.#field32(slot, SLOT_HANDLE);
        return this.#run(slot, callback, request, () => plugin.close?.(handle), undefined, () =>
          this.#connections.delete(id),
        );
      }
      case Op.GET_SIZE:
        return run(
          () => plugin.getSize(handle),
          (size) => this.#setResult(slot, checkSize("getSize", size)),
        );
      case Op.EXPORT_DESCRIPTION:
        return run(
          () => plugin.exportDescription!(handle),
          (text) => this.#replyOptionalString(slot, callback, text),
        );
      case Op.BLOCK_SIZE:
        return run(
          () => plugin.blockSize!(handle),
          (sizes) => {
            const data = Buffer.alloc(12);
            data.writeUInt32LE(checkUint32("blockSize minimum", sizes?.minimum), 0);
            data.writeUInt32LE(checkUint32("blockSize preferred", sizes?.preferred), 4);
            data.writeUInt32LE(checkUint32("blockSize maximum", sizes?.maximum), 8);
            this.#addon.copyIn(slot, 0, data);
            this.#setReplyLength(slot, 12);
          },
        );
      case Op.CAN_WRITE:
        return run(() => plugin.canWrite!(handle), bool);
      case Op.CAN_FLUSH:
        return run(() => plugin.canFlush!(handle), bool);
      case Op.IS_ROTATIONAL:
        return run(() => plugin.isRotational!(handle), bool);
      case Op.CAN_TRIM:
        return run(() => plugin.canTrim!(handle), bool);
      case Op.CAN_ZERO:
        return run(() => plugin.canZero!(handle), bool);
      case Op.CAN_FAST_ZERO:
        return run(() => plugin.canFastZero!(handle), bool);
      case Op.CAN_EXTENTS:
        return run(() => plugin.canExtents!(handle), bool);
      case Op.CAN_MULTI_CONN:
        return run(() => plugin.canMultiConn!(handle), bool);
      case Op.CAN_FUA:
        return run(
          () => plugin.canFua!(handle),
          (mode) => this.#setResult(slot, checkMode("canFua", mode)),
        );
      case Op.CAN_CACHE:
        return run(
          () => plugin.canCache!(handle),
          (mode) => this.#setResult(slot, checkMode("canCache", mode)),
        );
      case Op.FLUSH:
        return run(() => plugin.flush!(handle, dataFlags()));
      case Op.TRIM:
        return run(() => plugin.trim!(handle, count(), offset(), dataFlags()));
      case Op.ZERO:
        return run(() => plugin.zero!(handle, count(), offset(), dataFlags()));
      case Op.CACHE:
        return run(() => plugin.cache!(handle, count(), offset(), dataFlags()));
      case Op.EXTENTS:
        return run(
          () => plugin.extents!(handle, count(), offset(), dataFlags()),
          (extents) => this.#replyExtents(slot, extents),
        );
      default:
        return this.#fail(slot, callback, request, new NbdError("EINVAL", `operation ${name} is not handled here`));
    }
  }

  /** OPEN: the connection's facts arrive with it and stay with its handle. */
  #open(slot: number, plugin: Plugin, flags: number): void {
    let offset = 0;
    let peer: ConnectionContext["peer"] = null;
    if ((flags & ARG_PEER) !== 0) {
      const creds = this.#addon.copyOut(slot, 0, 12);
      peer = { pid: creds.readInt32LE(0), uid: creds.readInt32LE(4), gid: creds.readInt32LE(8) };
      offset = 12;
    }
    const [exportName = ""] = this.#args(slot, offset);
    const context: ConnectionContext = Object.freeze({ exportName, tls: (flags & ARG_TLS) !== 0, peer });
    const readonly = (flags & ARG_READONLY) !== 0;
    this.#run(
      slot,
      "open",
      newRequest(context),
      () => plugin.open({ readonly, exportName, tls: context.tls, params: this.#params as never }),
      (handle) => {
        const id = this.#nextConnection++;
        this.#connections.set(id, { handle, context });
        this.#setResult(slot, id);
      },
    );
  }

  #replyOptionalString(slot: number, callback: string, value: unknown): void {
    if (value === null || value === undefined) {
      this.#setResult(slot, 0);
      return;
    }
    if (typeof value !== "string") {
      throw new NbdError("EINVAL", `${callback} returned a ${typeof value}; expected a string or null`);
    }
    if (value.includes("\0")) throw new NbdError("EINVAL", `${callback} returned a string containing a NUL character`);
    this.#setResult(slot, 1);
    this.#writeReplyString(slot, value);
  }

  #replyExtents(slot: number, extents: readonly Extent[]): void {
    if (!Array.isArray(extents)) {
      throw new NbdError("EINVAL", `extents returned ${typeof extents}; expected an array of { offset, length, hole, zero }`);
    }
    const n = Math.min(extents.length, Math.floor(DATA_STRIDE / EXTENT_SIZE));
    const data = this.#view(slot, n * EXTENT_SIZE, false);
    try {
      for (let i = 0; i < n; i++) {
        const extent = extents[i] as Extent;
        const at = i * EXTENT_SIZE;
        data.writeBigUInt64LE(checkSize("extent offset", extent.offset), at);
        data.writeBigUInt64LE(checkSize("extent length", extent.length), at + 8);
        data.writeUInt32LE((extent.hole === true ? 1 : 0) | (extent.zero === true ? 2 : 0), at + 16);
      }
    } finally {
      this.#release(slot, data, true);
    }
    this.#setResult(slot, n);
  }

  #dumpLines(extra: DumpLines | undefined): string {
    const loaded = this.#loaded!;
    const plugin = loaded.plugin;
    const lines = [`ts_plugin=${loaded.path}`, `ts_name=${plugin.name}`];
    if (plugin.version !== undefined) lines.push(`ts_plugin_version=${plugin.version}`);
    if (plugin.longname !== undefined) lines.push(`ts_longname=${plugin.longname}`);
    if (plugin.magicConfigKey !== undefined) lines.push(`ts_magic_config_key=${plugin.magicConfigKey}`);
    if (typeof plugin.threadModel === "string") lines.push(`ts_thread_model=${plugin.threadModel}`);
    lines.push(`ts_node_version=${process.version}`);
    for (const info of CALLBACKS) {
      if (definedCallbacks(plugin, [info.name]).length > 0) lines.push(`ts_has_${info.cName}=1`);
    }
    if (Array.isArray(extra)) {
      for (const line of extra as readonly string[]) lines.push(String(line));
    } else if (extra !== undefined && extra !== null) {
      for (const [key, value] of Object.entries(extra)) lines.push(`${key}=${String(value)}`);
    }
    return lines.map((line) => line.replace(/\n/g, " ")).join("\n") + "\n";
  }
}

function checkBoolean(callback: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new NbdError("EINVAL", `${callback} returned ${describe(value)}; expected true or false`);
  return value;
}

function checkSize(what: string, value: Size | undefined): bigint {
  let size: bigint;
  if (typeof value === "bigint") size = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) size = BigInt(value);
  else throw new NbdError("EINVAL", `${what} is ${describe(value)}; expected a bigint or a safe integer`);
  if (size < 0n || size > INT64_MAX) {
    throw new NbdError("EINVAL", `${what} is ${size}; expected 0 to 2^63−1`);
  }
  return size;
}

function checkUint32(what: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new NbdError("EINVAL", `${what} is ${describe(value)}; expected an integer from 0 to 4294967295`);
  }
  return value;
}

function checkMode(callback: string, value: unknown): number {
  const index = FUA_MODES.indexOf(value as (typeof FUA_MODES)[number]);
  if (index === -1) throw new NbdError("EINVAL", `${callback} returned ${describe(value)}; expected "none", "emulate" or "native"`);
  return index;
}

function threadModelIndex(value: unknown): number {
  if (value === undefined) return THREAD_MODELS.indexOf("serialize_all_requests");
  const index = THREAD_MODELS.indexOf(value as (typeof THREAD_MODELS)[number]);
  if (index === -1) {
    throw new NbdError("EINVAL", `threadModel is ${describe(value)}; expected one of ${THREAD_MODELS.join(", ")}`);
  }
  return index;
}

function encodeExports(exports: readonly (string | Export)[]): string {
  if (!Array.isArray(exports)) {
    throw new NbdError("EINVAL", `listExports returned ${describe(exports)}; expected an array of names or { name, description }`);
  }
  let text = "";
  for (const entry of exports) {
    const name = typeof entry === "string" ? entry : entry?.name;
    const description = typeof entry === "string" ? undefined : entry?.description;
    if (typeof name !== "string") throw new NbdError("EINVAL", `listExports returned an export without a name: ${describe(entry)}`);
    if (Buffer.byteLength(name) > MAX_EXPORT_NAME || name.includes("\0")) {
      throw new NbdError("EINVAL", `export name ${JSON.stringify(name.slice(0, 40))}... is too long or contains NUL`);
    }
    if (description !== undefined && (typeof description !== "string" || description.includes("\0"))) {
      throw new NbdError("EINVAL", `listExports: the description of ${JSON.stringify(name)} is not a string without NUL`);
    }
    text += `${name}\0${description ?? ""}\0`;
  }
  return text;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || value === undefined || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}
