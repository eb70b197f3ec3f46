import { describe, expect, it } from "vitest";
import {
  CALLBACKS,
  NO_FLAGS,
  ParamParser,
  PLUGIN_BRAND,
  REQUIRED_CALLBACKS,
  definePlugin,
  definedCallbacks,
  flagsFromBits,
  isPlugin,
  type PluginSpec,
} from "@nbdts/sdk";
import ramdisk from "./support/ramdisk.js";

const ALL_CALLBACKS = CALLBACKS.map((callback) => callback.name);

/** The smallest valid spec, as `unknown` so tests can break it freely. */
function minimal(overrides: Record<string, unknown> = {}): PluginSpec<object> {
  return { name: "minimal", open: () => ({}), getSize: () => 0n, pread: () => undefined, ...overrides } as PluginSpec<object>;
}

describe("definePlugin checks the spec at run time, for plugins written in JavaScript", () => {
  it.each(REQUIRED_CALLBACKS)("refuses a plugin without %s", (name) => {
    const spec = minimal({ [name]: undefined });
    expect(() => definePlugin(spec)).toThrow(TypeError);
    expect(() => definePlugin(spec)).toThrow(`definePlugin: plugin "minimal" has no ${name} callback, which every plugin needs`);
  });

  it("refuses a required callback that is not a function", () => {
    expect(() => definePlugin(minimal({ pread: "yes" }))).toThrow('definePlugin: plugin "minimal" has no pread callback');
  });

  it.each<[unknown, string]>([
    ["", '""'],
    ["-memory", '"-memory"'],
    ["my plugin", '"my plugin"'],
    ["mem_ory", '"mem_ory"'],
    [undefined, "undefined"],
    [42, "number"],
  ])("refuses the name %j", (name, shown) => {
    expect(() => definePlugin(minimal({ name }))).toThrow(
      `definePlugin: name ${shown} is not valid: expected letters, digits and "-", starting with a letter or digit`,
    );
  });

  it.each(["memory", "s3", "9p", "file-2"])("accepts the name %j", (name) => {
    expect(definePlugin(minimal({ name })).name).toBe(name);
  });

  it("refuses something that is not an object", () => {
    expect(() => definePlugin(null as never)).toThrow("definePlugin: expected a plugin object, got null");
    expect(() => definePlugin("memory" as never)).toThrow('definePlugin: expected a plugin object, got "memory"');
  });

  it("refuses a magicConfigKey that is not a declared parameter", () => {
    expect(() => definePlugin(minimal({ magicConfigKey: "bytes", params: { size: {} } }))).toThrow(
      'definePlugin: magicConfigKey "bytes" of plugin "minimal" is not one of its params (size)',
    );
  });
});

describe("definePlugin brands the plugin", () => {
  it("returns the spec itself, branded, so a plugin keeps its identity and `this`", () => {
    const spec = minimal();
    const plugin = definePlugin(spec);
    expect(plugin).toBe(spec);
    expect(isPlugin(plugin)).toBe(true);
    expect(Object.keys(plugin)).toEqual(["name", "open", "getSize", "pread"]);
  });

  it("copies a frozen spec and brands the copy", () => {
    const spec = Object.freeze(minimal());
    const plugin = definePlugin(spec);
    expect(plugin).not.toBe(spec);
    expect(isPlugin(plugin)).toBe(true);
    expect(isPlugin(spec)).toBe(false);
    expect(plugin.getSize).toBe(spec.getSize);
  });

  it("recognises only branded objects, including those of another copy of the SDK", () => {
    expect(isPlugin(minimal())).toBe(false);
    expect(isPlugin(null)).toBe(false);
    expect(isPlugin("plugin")).toBe(false);
    expect(isPlugin({ [Symbol.for("nbdts.plugin")]: true })).toBe(true);
    expect(PLUGIN_BRAND).toBe(Symbol.for("nbdts.plugin"));
  });
});

describe("definedCallbacks", () => {
  it("lists the callbacks an object literal defines, ignoring other properties", () => {
    const plugin = definePlugin({
      name: "literal",
      threadModel: "parallel",
      open: () => ({}),
      getSize: () => 0n,
      pread: () => undefined,
      flush: async () => undefined,
    });
    expect(definedCallbacks(plugin, ALL_CALLBACKS)).toEqual(["open", "getSize", "pread", "flush"]);
  });

  it("finds the methods of a class instance on its prototype, and keeps their `this`", () => {
    class RamDisk implements PluginSpec<{ bytes: Uint8Array }> {
      readonly name = "ramdisk";
      readonly bytes = new Uint8Array([1, 2, 3, 4]);
      threadModel(): "parallel" {
        return "parallel";
      }
      open() {
        return { bytes: this.bytes };
      }
      getSize() {
        return BigInt(this.bytes.length);
      }
      pread(h: { bytes: Uint8Array }, buf: Buffer, offset: bigint) {
        buf.set(h.bytes.subarray(Number(offset), Number(offset) + buf.length));
      }
      pwrite(h: { bytes: Uint8Array }, buf: Buffer, offset: bigint) {
        h.bytes.set(buf, Number(offset));
      }
    }
    const instance = new RamDisk();
    const plugin = definePlugin(instance);
    expect(plugin).toBe(instance);
    expect(isPlugin(plugin)).toBe(true);
    expect(definedCallbacks(plugin, ALL_CALLBACKS)).toEqual(["threadModel", "open", "getSize", "pread", "pwrite"]);
    expect(plugin.getSize(plugin.open({ readonly: false, exportName: "", tls: false, params: {} }) as { bytes: Uint8Array })).toBe(4n);
  });

  it("checks only the names it is given", () => {
    expect(definedCallbacks(minimal({ zero: () => undefined }), ["zero", "trim"])).toEqual(["zero"]);
  });
});

describe("the callback table", () => {
  it("names every callback once, in camelCase, with nbdkit's C name", () => {
    expect(new Set(ALL_CALLBACKS).size).toBe(ALL_CALLBACKS.length);
    for (const { name, cName } of CALLBACKS) {
      expect(cName).toBe(name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`));
    }
  });

  it("marks exactly open, getSize and pread as required", () => {
    expect(CALLBACKS.filter((callback) => callback.absent === "required").map((callback) => callback.name)).toEqual([
      ...REQUIRED_CALLBACKS,
    ]);
  });
});

describe("the README's RAM disk, driven as the host drives a plugin", () => {
  it("parses its parameters, opens a connection, writes and reads back", async () => {
    expect(isPlugin(ramdisk)).toBe(true);
    expect(definedCallbacks(ramdisk, ALL_CALLBACKS)).toEqual([
      "configComplete",
      "open",
      "getSize",
      "canMultiConn",
      "pread",
      "pwrite",
      "flush",
      "trim",
      "zero",
    ]);

    const parser = new ParamParser({ pluginName: ramdisk.name, schema: ramdisk.params, magicConfigKey: ramdisk.magicConfigKey });
    await parser.accept("size", "1M");
    const values = parser.complete();
    await ramdisk.configComplete?.(values);

    const h = await ramdisk.open({ readonly: false, exportName: "", tls: false, params: values });
    expect(await ramdisk.getSize(h)).toBe(1048576n);

    await ramdisk.pwrite?.(h, Buffer.from("hello"), 1048571n, flagsFromBits(2));
    const end = Buffer.alloc(5);
    await ramdisk.pread(h, end, 1048571n, NO_FLAGS);
    expect(end.toString()).toBe("hello");

    await ramdisk.zero?.(h, 2, 1048572n, NO_FLAGS);
    await ramdisk.pread(h, end, 1048571n, NO_FLAGS);
    expect([...end]).toEqual([0x68, 0, 0, 0x6c, 0x6f]);
  });

  it("documents itself, its magic key in brackets", () => {
    expect(ParamParser.help(ramdisk)).toBe("[size=]<SIZE>  (required) Size of the disk.");
  });

  it("refuses a size it cannot hold", async () => {
    const parser = new ParamParser({ pluginName: ramdisk.name, schema: ramdisk.params });
    await parser.accept("size", "3G");
    await expect(async () => ramdisk.configComplete?.(parser.complete())).rejects.toThrow(
      "size=3221225472 is too large: this RAM disk holds at most 2 GiB",
    );
  });
});
