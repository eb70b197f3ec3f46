import { describe, expectTypeOf, it } from "vitest";
import {
  ParamParser,
  definePlugin,
  params,
  type BlockSize,
  type CacheMode,
  type CallbackName,
  type Extent,
  type Flags,
  type FuaMode,
  type ParamSpec,
  type ParsedParams,
  type Plugin,
  type PluginSpec,
} from "@nbdts/sdk";

// These tests are only type-checked (vitest's typecheck mode): they pin the
// types a plugin author sees.

interface Disk {
  bytes: Uint8Array<ArrayBuffer>;
  readonly: boolean;
}

describe("required callbacks", () => {
  it("a spec without pread, open or getSize does not compile", () => {
    // @ts-expect-error pread is required
    definePlugin({ name: "x", open: () => ({}), getSize: () => 0n });
    // @ts-expect-error open is required
    definePlugin({ name: "x", getSize: () => 0n, pread: () => undefined });
    // @ts-expect-error getSize is required
    definePlugin({ name: "x", open: () => ({}), pread: () => undefined });
    // @ts-expect-error name is required
    definePlugin({ open: () => ({}), getSize: () => 0n, pread: () => undefined });
  });

  it("a callback with the wrong result does not compile", () => {
    definePlugin({
      name: "x",
      open: () => ({}),
      // @ts-expect-error a size is a bigint or a number, not a string
      getSize: () => "1G",
      pread: () => undefined,
    });
    definePlugin({
      name: "x",
      open: () => ({}),
      getSize: () => 0n,
      pread: () => undefined,
      // @ts-expect-error canFua answers "none", "emulate" or "native"
      canFua: () => true,
    });
  });
});

describe("the handle type flows from open to every connection callback", () => {
  it("when open is written first", () => {
    const plugin = definePlugin({
      name: "x",
      open({ readonly }) {
        return { bytes: new Uint8Array(1), readonly };
      },
      close(h) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
      },
      getSize(h) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        return BigInt(h.bytes.length);
      },
      exportDescription(h) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        return "a disk";
      },
      blockSize(h): BlockSize {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        return { minimum: 1, preferred: 4096, maximum: 0xffffffff };
      },
      canWrite(h) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        return !h.readonly;
      },
      canFlush: (h) => (expectTypeOf(h).toEqualTypeOf<Disk>(), true),
      isRotational: (h) => (expectTypeOf(h).toEqualTypeOf<Disk>(), false),
      canTrim: (h) => (expectTypeOf(h).toEqualTypeOf<Disk>(), true),
      canZero: (h) => (expectTypeOf(h).toEqualTypeOf<Disk>(), true),
      canFastZero: (h) => (expectTypeOf(h).toEqualTypeOf<Disk>(), true),
      canExtents: (h) => (expectTypeOf(h).toEqualTypeOf<Disk>(), true),
      canFua(h): FuaMode {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        return "native";
      },
      canMultiConn: (h) => (expectTypeOf(h).toEqualTypeOf<Disk>(), true),
      canCache(h): CacheMode {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        return "emulate";
      },
      pread(h, buf, offset, flags) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        expectTypeOf(buf).toEqualTypeOf<Buffer>();
        expectTypeOf(offset).toEqualTypeOf<bigint>();
        expectTypeOf(flags).toEqualTypeOf<Flags>();
      },
      pwrite(h, buf, offset, flags) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        expectTypeOf(buf).toEqualTypeOf<Buffer>();
        expectTypeOf(offset).toEqualTypeOf<bigint>();
        expectTypeOf(flags.fua).toEqualTypeOf<boolean>();
      },
      flush(h, flags) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        expectTypeOf(flags).toEqualTypeOf<Flags>();
      },
      trim(h, count, offset) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        expectTypeOf(count).toEqualTypeOf<number>();
        expectTypeOf(offset).toEqualTypeOf<bigint>();
      },
      zero(h, count, offset, flags) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        expectTypeOf(count).toEqualTypeOf<number>();
        expectTypeOf(offset).toEqualTypeOf<bigint>();
        expectTypeOf(flags.mayTrim).toEqualTypeOf<boolean>();
      },
      extents(h, count, offset, flags): Extent[] {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        expectTypeOf(count).toEqualTypeOf<number>();
        expectTypeOf(offset).toEqualTypeOf<bigint>();
        expectTypeOf(flags.reqOne).toEqualTypeOf<boolean>();
        return [{ offset, length: count, hole: true, zero: true }];
      },
      cache(h, count, offset) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        expectTypeOf(count).toEqualTypeOf<number>();
        expectTypeOf(offset).toEqualTypeOf<bigint>();
      },
    });
    expectTypeOf(plugin).toEqualTypeOf<Plugin<Disk, {}>>();
  });

  it("a misspelt property of the handle does not compile", () => {
    definePlugin({
      name: "x",
      open: () => ({ bytes: new Uint8Array(1) }),
      // @ts-expect-error the handle has `bytes`, not `data`
      getSize: (h) => BigInt(h.data.length),
      pread: () => undefined,
    });
  });

  it("is unknown when open is written after the callbacks (write open first)", () => {
    // TypeScript infers the handle from the properties in order; callbacks
    // that come before a context-sensitive open see `unknown`, so using the
    // handle there is a compile error, never a silent `any`.
    definePlugin({
      name: "x",
      getSize(h) {
        expectTypeOf(h).toBeUnknown();
        return 0n;
      },
      pread(h) {
        expectTypeOf(h).toBeUnknown();
      },
      open({ readonly }) {
        return { readonly };
      },
    });
  });

  it("comes from the explicit type argument when there is one", () => {
    definePlugin<Disk>({
      name: "x",
      getSize(h) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        return 0n;
      },
      pread(h) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
      },
      open: ({ readonly }) => ({ bytes: new Uint8Array(0), readonly }),
    });
  });

  it("with params, comes from explicit type arguments for both the handle and the schema", () => {
    const schema = { size: params.size({ required: true }) };
    definePlugin<{ size: bigint }, typeof schema>({
      name: "x",
      params: schema,
      getSize(h) {
        expectTypeOf(h).toEqualTypeOf<{ size: bigint }>();
        return h.size;
      },
      pread: () => undefined,
      open: ({ params: values }) => ({ size: values.size }),
    });
  });

  it("comes from the class that implements PluginSpec", () => {
    class RamDisk implements PluginSpec<Disk> {
      readonly name = "ramdisk";
      open(): Disk {
        return { bytes: new Uint8Array(1), readonly: false };
      }
      getSize(h: Disk) {
        return h.bytes.length;
      }
      pread(h: Disk, buf: Buffer) {
        buf.set(h.bytes);
      }
    }
    expectTypeOf(definePlugin(new RamDisk())).toEqualTypeOf<Plugin<Disk, {}>>();
  });
});

describe("any callback may return a Promise", () => {
  it("and the handle is what the promise of open resolves to", () => {
    definePlugin({
      name: "x",
      async load() {},
      async configComplete() {},
      async open() {
        return { bytes: new Uint8Array(1), readonly: false };
      },
      async getSize(h) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        return 1n;
      },
      async canFua() {
        return "emulate" as const;
      },
      async pread(h, buf) {
        expectTypeOf(h).toEqualTypeOf<Disk>();
        buf.fill(0);
      },
      async extents(h, count, offset) {
        return [{ offset, length: count }];
      },
      async listExports() {
        return ["a", { name: "b", description: "the second" }];
      },
      async defaultExport() {
        return null;
      },
      async dumpPlugin() {
        return { "ts_example": 1 };
      },
      async close() {},
    });
  });

  it("but threadModel as a function must return a thread model", () => {
    definePlugin({
      name: "x",
      // @ts-expect-error "fast" is not a thread model
      threadModel: () => "fast",
      open: () => ({}),
      getSize: () => 0n,
      pread: () => undefined,
    });
  });
});

describe("parameter types", () => {
  it("builders give T when a value is certain and T | undefined when not", () => {
    expectTypeOf(params.size({ required: true })).toEqualTypeOf<ParamSpec<bigint>>();
    expectTypeOf(params.size({ default: "1G" })).toEqualTypeOf<ParamSpec<bigint>>();
    expectTypeOf(params.size({ default: 512n })).toEqualTypeOf<ParamSpec<bigint>>();
    expectTypeOf(params.size()).toEqualTypeOf<ParamSpec<bigint | undefined>>();
    expectTypeOf(params.size({ required: false })).toEqualTypeOf<ParamSpec<bigint | undefined>>();
    expectTypeOf(params.size({ description: "size" })).toEqualTypeOf<ParamSpec<bigint | undefined>>();
    expectTypeOf(params.bool({ default: true })).toEqualTypeOf<ParamSpec<boolean>>();
    expectTypeOf(params.bool()).toEqualTypeOf<ParamSpec<boolean | undefined>>();
    expectTypeOf(params.string({ required: true, pattern: /^a/ })).toEqualTypeOf<ParamSpec<string>>();
    expectTypeOf(params.int({ min: 0, default: 4 })).toEqualTypeOf<ParamSpec<number>>();
    expectTypeOf(params.int({ max: 10 })).toEqualTypeOf<ParamSpec<number | undefined>>();
    expectTypeOf(params.path({ mustExist: true, type: "directory" })).toEqualTypeOf<ParamSpec<string | undefined>>();
    expectTypeOf(params.password({ required: true })).toEqualTypeOf<ParamSpec<string>>();
    expectTypeOf(params.password()).toEqualTypeOf<ParamSpec<string | undefined>>();
  });

  it("oneOf gives the union of its values", () => {
    expectTypeOf(params.oneOf(["sparse", "malloc"], { required: true })).toEqualTypeOf<ParamSpec<"sparse" | "malloc">>();
    expectTypeOf(params.oneOf(["sparse", "malloc"], { default: "malloc" })).toEqualTypeOf<ParamSpec<"sparse" | "malloc">>();
    expectTypeOf(params.oneOf(["sparse", "malloc"])).toEqualTypeOf<ParamSpec<"sparse" | "malloc" | undefined>>();
    // @ts-expect-error the default must be one of the values
    params.oneOf(["sparse", "malloc"], { default: "zstd" });
  });

  it("contradictory or unknown options do not compile", () => {
    // @ts-expect-error a required parameter has no default
    params.size({ required: true, default: "1G" });
    // @ts-expect-error a password has no default
    params.password({ default: "secret" });
    // @ts-expect-error a bool's default is a boolean or a word
    params.bool({ default: 1 });
    // @ts-expect-error a misspelt option
    params.size({ requried: true });
    // @ts-expect-error an option of another builder
    params.size({ mustExist: true });
    // @ts-expect-error type is "file", "directory" or "any"
    params.path({ type: "socket" });
  });

  it("reach configComplete, getReady, afterFork, open, listExports and defaultExport, typed", () => {
    type Expected = {
      readonly size: bigint;
      readonly file: string | undefined;
      readonly sparse: boolean;
      readonly allocator: "sparse" | "malloc";
      readonly retries: number | undefined;
      readonly password: string;
    };
    definePlugin({
      name: "x",
      params: {
        size: params.size({ required: true }),
        file: params.path(),
        sparse: params.bool({ default: "true" }),
        allocator: params.oneOf(["sparse", "malloc"], { default: "sparse" }),
        retries: params.int({ min: 0 }),
        password: params.password({ required: true }),
      },
      configComplete(values) {
        expectTypeOf(values).toEqualTypeOf<Expected>();
        expectTypeOf(values.size).toEqualTypeOf<bigint>();
        expectTypeOf(values.file).toEqualTypeOf<string | undefined>();
        expectTypeOf(values.sparse).toEqualTypeOf<boolean>();
      },
      getReady(values) {
        expectTypeOf(values).toEqualTypeOf<Expected>();
      },
      afterFork(values) {
        expectTypeOf(values).toEqualTypeOf<Expected>();
      },
      listExports({ params: values }) {
        expectTypeOf(values).toEqualTypeOf<Expected>();
        return [];
      },
      defaultExport({ params: values }) {
        expectTypeOf(values.allocator).toEqualTypeOf<"sparse" | "malloc">();
        return "";
      },
      open({ params: values, exportName, tls }) {
        expectTypeOf(values).toEqualTypeOf<Expected>();
        expectTypeOf(exportName).toEqualTypeOf<string>();
        expectTypeOf(tls).toEqualTypeOf<boolean>();
        return { size: values.size };
      },
      getSize(h) {
        expectTypeOf(h).toEqualTypeOf<{ size: bigint }>();
        return h.size;
      },
      pread: () => undefined,
    });
  });

  it("a parameter that is not declared is not there", () => {
    definePlugin({
      name: "x",
      params: { size: params.size({ required: true }) },
      // @ts-expect-error only `size` is declared
      configComplete: (values) => values.sise,
      open: () => ({}),
      getSize: () => 0n,
      pread: () => undefined,
    });
  });

  it("ParamParser.complete returns the schema's values", () => {
    const schema = { size: params.size({ required: true }), file: params.path() };
    const parser = new ParamParser({ pluginName: "x", schema });
    expectTypeOf(parser.complete()).toEqualTypeOf<ParsedParams<typeof schema>>();
    expectTypeOf(parser.complete().size).toEqualTypeOf<bigint>();
    expectTypeOf(parser.complete().file).toEqualTypeOf<string | undefined>();
  });
});

describe("the callback table and PluginSpec agree", () => {
  /** The properties of T that are, or may be, functions. */
  type CallbackKeys<T> = {
    [K in keyof T]-?: [Extract<NonNullable<T[K]>, (...args: never[]) => unknown>] extends [never] ? never : K;
  }[keyof T];

  it("every callback in CALLBACKS is a callback of PluginSpec, and no other", () => {
    expectTypeOf<CallbackName>().toEqualTypeOf<CallbackKeys<PluginSpec<unknown>>>();
  });
});
