import type { CallbackName } from "./callbacks.js";
import { REQUIRED_CALLBACKS } from "./callbacks.js";
import type { ParamSchema, ParsedParams } from "./params.js";
import type {
  BlockSize,
  CacheMode,
  DumpLines,
  Export,
  ExportsArgs,
  Extent,
  Flags,
  FuaMode,
  MaybePromise,
  OpenArgs,
  PreconnectArgs,
  Size,
  ThreadModel,
} from "./types.js";

/**
 * A TypeScript nbdkit plugin: a plain object with nbdkit's callbacks, named in
 * camelCase (nbdkit-plugin(3) documents each one).
 *
 * - `name`, `open`, `getSize` and `pread` are required; leaving one out is a
 *   compile error.
 * - `H` is the connection handle, inferred from what `open` returns and passed
 *   to every connection callback. **Write `open` before the callbacks that take
 *   the handle**: TypeScript infers `H` from the object's properties in order,
 *   so callbacks written above `open` see `h` as `unknown` (a compile error on
 *   first use, never a silent `any`).
 * - `S` is the parameter schema declared in `params`; its parsed values reach
 *   `configComplete`, `getReady`, `afterFork`, `open`, `listExports` and
 *   `defaultExport`.
 * - Every callback may return a Promise. With `threadModel: "parallel"`, the
 *   requests of all connections overlap at each `await`.
 * - Callbacks signal failure by throwing: an `NbdError` carries its errno, a
 *   Node `SystemError` maps by its `code`, anything else is EIO.
 */
export interface PluginSpec<H, S extends ParamSchema = {}> {
  /** Short name, `[A-Za-z0-9][A-Za-z0-9-]*`, used in messages. */
  readonly name: string;
  /** Longer descriptive name. */
  readonly longname?: string;
  /** The plugin's version, shown by `--dump-plugin`. */
  readonly version?: string;
  /** One paragraph describing the plugin. */
  readonly description?: string;
  /**
   * The parameter that receives bare words from the command line, so that
   * `nbdkit ts @nbdts/memory 1G` means `size=1G`.
   */
  readonly magicConfigKey?: string;
  /** Help text for parameters handled by `config`; declared `params` document themselves. */
  readonly configHelp?: string;
  /** Typed parameters, parsed and validated before `configComplete`. */
  readonly params?: S;
  /** The thread model, or a function choosing it after configuration. Default `"serialize_all_requests"`. */
  readonly threadModel?: ThreadModel | (() => MaybePromise<ThreadModel>);

  /** Runs once, right after the plugin module is imported. */
  load?(): MaybePromise<void>;
  /** Runs once as the server exits; not guaranteed to run. */
  unload?(): MaybePromise<void>;
  /** Extra lines for `nbdkit --dump-plugin`. */
  dumpPlugin?(): MaybePromise<DumpLines>;
  /** Receives each `key=value` that is not a declared parameter, in order. */
  config?(key: string, value: string): MaybePromise<void>;
  /** Runs after all parameters; throw to reject the configuration. */
  configComplete?(params: ParsedParams<S>): MaybePromise<void>;
  /** Runs before the server forks into the background; errors are shown to the user. */
  getReady?(params: ParsedParams<S>): MaybePromise<void>;
  /** Runs in the serving process, after any fork. */
  afterFork?(params: ParsedParams<S>): MaybePromise<void>;
  /** Runs when the server shuts down, after every connection has closed. */
  cleanup?(): MaybePromise<void>;

  /** Runs when a client connects, before the NBD handshake; throw to refuse it. */
  preconnect?(args: PreconnectArgs): MaybePromise<void>;
  /** The exports a client may list. Without it, the default export is listed. */
  listExports?(args: ExportsArgs<ParsedParams<S>>): MaybePromise<readonly (string | Export)[]>;
  /** The canonical name of the export `""`; `null` refuses the default export. */
  defaultExport?(args: ExportsArgs<ParsedParams<S>>): MaybePromise<string | null>;

  /** Opens a connection and returns its handle. */
  open(args: OpenArgs<ParsedParams<S>>): MaybePromise<H>;
  /** Closes a connection; errors are only logged. */
  close?(h: H): MaybePromise<void>;
  /** The size of the export in bytes, at most 2^63−1. */
  getSize(h: H): MaybePromise<Size>;
  /** A human-readable description of the export. */
  exportDescription?(h: H): MaybePromise<string | null | undefined>;
  /** Block size constraints for clients. */
  blockSize?(h: H): MaybePromise<BlockSize>;
  canWrite?(h: H): MaybePromise<boolean>;
  canFlush?(h: H): MaybePromise<boolean>;
  isRotational?(h: H): MaybePromise<boolean>;
  canTrim?(h: H): MaybePromise<boolean>;
  /** `false` makes nbdkit emulate write-zeroes with `pwrite`. */
  canZero?(h: H): MaybePromise<boolean>;
  canFastZero?(h: H): MaybePromise<boolean>;
  canExtents?(h: H): MaybePromise<boolean>;
  canFua?(h: H): MaybePromise<FuaMode>;
  /** Whether several connections see one consistent disk (each flush covers all). */
  canMultiConn?(h: H): MaybePromise<boolean>;
  canCache?(h: H): MaybePromise<CacheMode>;

  /** Fills all of `buf` with the data at `offset`. */
  pread(h: H, buf: Buffer, offset: bigint, flags: Flags): MaybePromise<void>;
  /** Writes all of `buf` at `offset`; `flags.fua` when `canFua` is `"native"`. */
  pwrite?(h: H, buf: Buffer, offset: bigint, flags: Flags): MaybePromise<void>;
  /** Makes every completed write durable. */
  flush?(h: H, flags: Flags): MaybePromise<void>;
  /** Discards a range; reading it afterwards may return anything. */
  trim?(h: H, count: number, offset: bigint, flags: Flags): MaybePromise<void>;
  /**
   * Makes a range read as zeroes. `flags.mayTrim` allows a hole. Throw
   * `NbdError.notSupported()` to have nbdkit fall back to writing zeroes
   * (or, under `flags.fastZero`, to fail fast).
   */
  zero?(h: H, count: number, offset: bigint, flags: Flags): MaybePromise<void>;
  /** Describes allocation from `offset` on; `flags.reqOne` asks for one extent. */
  extents?(h: H, count: number, offset: bigint, flags: Flags): MaybePromise<readonly Extent[]>;
  /** Prefetches a range into a cache. */
  cache?(h: H, count: number, offset: bigint, flags: Flags): MaybePromise<void>;
}

/** Marks the objects made by {@link definePlugin}; shared by every copy of the SDK. */
export const PLUGIN_BRAND: unique symbol = Symbol.for("nbdts.plugin") as never;

/** A plugin made by {@link definePlugin}: the spec, branded. */
export type Plugin<H = unknown, S extends ParamSchema = ParamSchema> = Readonly<PluginSpec<H, S>> & {
  readonly [PLUGIN_BRAND]: true;
};

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

/**
 * Declares a plugin. Export the result as the module's default export:
 *
 * ```ts
 * export default definePlugin({
 *   name: "hello",
 *   params: { size: params.size({ default: "1M" }) },
 *   open({ params }) { return { size: params.size }; },
 *   getSize(h) { return h.size; },
 *   pread(h, buf) { buf.fill(0); },
 * });
 * ```
 *
 * It checks the spec at run time too (for plugins written in JavaScript) and
 * throws a TypeError naming what is wrong.
 */
export function definePlugin<H, S extends ParamSchema = {}>(spec: PluginSpec<H, S>): Plugin<H, S> {
  if (spec === null || typeof spec !== "object") {
    throw new TypeError(`definePlugin: expected a plugin object, got ${describe(spec)}`);
  }
  if (typeof spec.name !== "string" || !NAME_PATTERN.test(spec.name)) {
    throw new TypeError(
      `definePlugin: name ${describe(spec.name)} is not valid: expected letters, digits and "-", starting with a letter or digit`,
    );
  }
  for (const name of REQUIRED_CALLBACKS) {
    if (typeof (spec as unknown as Record<string, unknown>)[name] !== "function") {
      throw new TypeError(`definePlugin: plugin "${spec.name}" has no ${name} callback, which every plugin needs`);
    }
  }
  if (spec.magicConfigKey !== undefined && spec.params !== undefined && spec.config === undefined) {
    if (!Object.hasOwn(spec.params, spec.magicConfigKey)) {
      throw new TypeError(
        `definePlugin: magicConfigKey "${spec.magicConfigKey}" of plugin "${spec.name}" is not one of its params (${Object.keys(spec.params).join(", ")})`,
      );
    }
  }
  // The spec itself is the plugin, so a class instance keeps its `this`; the
  // brand is a hidden property. A frozen spec is copied instead.
  if (Object.isExtensible(spec)) {
    Object.defineProperty(spec, PLUGIN_BRAND, { value: true });
    return spec as Plugin<H, S>;
  }
  const copy = Object.assign(Object.create(Object.getPrototypeOf(spec) as object | null) as object, spec);
  Object.defineProperty(copy, PLUGIN_BRAND, { value: true });
  return copy as Plugin<H, S>;
}

/** Whether a value is a plugin made by {@link definePlugin} (by any copy of the SDK). */
export function isPlugin(value: unknown): value is Plugin {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[PLUGIN_BRAND] === true;
}

/**
 * The callbacks a plugin defines. A callback counts as defined when the
 * property is a function, found on the object or its prototype chain, so a
 * class instance works too (as long as no base class defines stubs).
 */
export function definedCallbacks(plugin: object, names: readonly CallbackName[]): CallbackName[] {
  const record = plugin as Record<string, unknown>;
  return names.filter((name) => typeof record[name] === "function");
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null) return "null";
  return typeof value;
}
