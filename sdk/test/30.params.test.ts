import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, ParamParser, definePlugin, params, type ParamSchema, type ParamSpec } from "@nbdts/sdk";

/** Parses `key=value` pairs with a schema, as the host does, and completes. */
async function parse<S extends ParamSchema>(schema: S, pairs: Record<string, string> = {}) {
  const parser = new ParamParser({ pluginName: "test", schema });
  for (const [key, value] of Object.entries(pairs)) await parser.accept(key, value);
  return parser.complete();
}

/** The ConfigError that parsing fails with. */
async function failure(schema: ParamSchema, pairs: Record<string, string>, pluginName = "test"): Promise<ConfigError> {
  const parser = new ParamParser({ pluginName, schema });
  try {
    for (const [key, value] of Object.entries(pairs)) await parser.accept(key, value);
    parser.complete();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected the configuration to fail");
}

let directory: string;
beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), "nbdts-params-"));
  writeFileSync(join(directory, "disk.img"), "");
  mkdirSync(join(directory, "exports"));
  symlinkSync(join(directory, "disk.img"), join(directory, "link.img"));
  writeFileSync(join(directory, "password"), "sesame\n");
});
afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

describe("params.size", () => {
  it("parses nbdkit's size grammar into a bigint", async () => {
    expect(await parse({ size: params.size() }, { size: "1G" })).toEqual({ size: 1073741824n });
    expect(await parse({ size: params.size() }, { size: "9223372036854775807" })).toEqual({ size: 2n ** 63n - 1n });
  });

  it("names the key, the value and what a size looks like", async () => {
    const error = await failure({ size: params.size() }, { size: "1.5G" });
    expect(error.message).toBe(
      'size: "1.5G" is not a valid size: expected a whole number with an optional suffix b, k, M, G, T, P, E or s (e.g. 512, 64k, 10G)',
    );
    expect(error.key).toBe("size");
    expect(error.cause).toBeInstanceOf(Error);
  });

  it("says a negative size is negative and a huge one too large", async () => {
    expect((await failure({ size: params.size() }, { size: "-1" })).message).toBe(
      'size: "-1" is not a valid size: a size cannot be negative',
    );
    expect((await failure({ size: params.size() }, { size: "8E" })).message).toBe(
      'size: "8E" is too large: the largest size is 2^63−1 bytes (9223372036854775807)',
    );
  });

  it("takes a default as a string, parsed when the plugin is defined, or as a bigint", async () => {
    expect(params.size({ default: "1M" }).defaultValue).toBe(1048576n);
    expect(await parse({ size: params.size({ default: "1M" }) })).toEqual({ size: 1048576n });
    expect(await parse({ size: params.size({ default: 4096n }) })).toEqual({ size: 4096n });
  });

  it("refuses a bad default at once, with a TypeError naming the builder", () => {
    expect(() => params.size({ default: "lots" })).toThrow(TypeError);
    expect(() => params.size({ default: "lots" })).toThrow('params.size: invalid default: "lots" is not a valid size');
    expect(() => params.size({ default: -1n })).toThrow(
      'params.size: invalid default: -1n is not a valid size: expected a bigint from 0 to 2^63−1, or a size string such as "1G"',
    );
    expect(() => params.size({ default: 512 as unknown as bigint })).toThrow(
      "params.size: invalid default: a number is not a valid size",
    );
    expect(() => params.bool({ default: 1 as unknown as boolean })).toThrow(
      'params.bool: invalid default: a number is not a valid boolean: expected true, false or a string such as "yes"',
    );
    expect(() => params.path({ default: 5 as unknown as string })).toThrow(
      "params.path: invalid default: a number is not valid: expected a string",
    );
  });
});

describe("params.bool", () => {
  it("parses nbdkit's words", async () => {
    expect(await parse({ sparse: params.bool() }, { sparse: "Yes" })).toEqual({ sparse: true });
    expect(await parse({ sparse: params.bool() }, { sparse: "0" })).toEqual({ sparse: false });
  });

  it("names the key, the value and the accepted words", async () => {
    expect((await failure({ sparse: params.bool() }, { sparse: "maybe" })).message).toBe(
      'sparse: "maybe" is not a valid boolean: expected true or false (or yes/no, on/off, t/f, y/n, 1/0)',
    );
  });

  it("takes a default as a word or a boolean", () => {
    expect(params.bool({ default: "off" }).defaultValue).toBe(false);
    expect(params.bool({ default: true }).defaultValue).toBe(true);
    expect(() => params.bool({ default: "perhaps" })).toThrow('params.bool: invalid default: "perhaps" is not a valid boolean');
  });
});

describe("params.string", () => {
  it("passes any string through, even an empty one", async () => {
    expect(await parse({ name: params.string() }, { name: " spaced out " })).toEqual({ name: " spaced out " });
    expect(await parse({ name: params.string() }, { name: "" })).toEqual({ name: "" });
  });

  it("with nonEmpty, refuses the empty string", async () => {
    expect((await failure({ name: params.string({ nonEmpty: true }) }, { name: "" })).message).toBe(
      'name: "" is empty: expected a non-empty string',
    );
  });

  it("with a pattern, refuses what does not match, showing the pattern", async () => {
    const bucket = params.string({ pattern: /^[a-z0-9.-]{3,63}$/ });
    expect(await parse({ bucket }, { bucket: "vm-images" })).toEqual({ bucket: "vm-images" });
    expect((await failure({ bucket }, { bucket: "VM Images" })).message).toBe(
      'bucket: "VM Images" is not valid: expected a string matching /^[a-z0-9.-]{3,63}$/',
    );
  });

  it("is not fooled by a global pattern's lastIndex", async () => {
    const word = params.string({ pattern: /^abc$/g });
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(await parse({ word }, { word: "abc" })).toEqual({ word: "abc" });
    }
  });

  it("checks its default and its options", () => {
    expect(params.string({ default: "x" }).defaultValue).toBe("x");
    expect(() => params.string({ default: "", nonEmpty: true })).toThrow('params.string: invalid default: "" is empty');
    expect(() => params.string({ pattern: "^a$" as unknown as RegExp })).toThrow(
      'params.string: option "pattern" must be a RegExp, got a string',
    );
  });
});

describe("params.int", () => {
  it("reads numbers as strtoll does: decimal, 0x hex, 0-prefixed octal, a sign", async () => {
    const schema = { n: params.int() };
    expect(await parse(schema, { n: "42" })).toEqual({ n: 42 });
    expect(await parse(schema, { n: "0x10" })).toEqual({ n: 16 });
    expect(await parse(schema, { n: "010" })).toEqual({ n: 8 });
    expect(await parse(schema, { n: " -7" })).toEqual({ n: -7 });
  });

  it("names the key, the value and the notation when it is not a number", async () => {
    expect((await failure({ n: params.int() }, { n: "12x" })).message).toBe(
      'n: "12x" is not a valid integer: expected a whole number (decimal, 0x hex or 0-prefixed octal)',
    );
    expect((await failure({ n: params.int() }, { n: "" })).message).toBe(
      'n: "" is not a valid integer: expected a whole number (decimal, 0x hex or 0-prefixed octal)',
    );
  });

  it("must be a safe integer", async () => {
    expect(await parse({ n: params.int() }, { n: "9007199254740991" })).toEqual({ n: 9007199254740991 });
    expect((await failure({ n: params.int() }, { n: "9007199254740992" })).message).toBe(
      'n: "9007199254740992" is out of range: expected an integer from -9007199254740991 to 9007199254740991',
    );
    expect((await failure({ n: params.int() }, { n: "99999999999999999999999" })).message).toMatch(/is out of range/);
  });

  it("keeps within min and max, inclusive", async () => {
    const port = params.int({ min: 1, max: 65535 });
    expect(await parse({ port }, { port: "1" })).toEqual({ port: 1 });
    expect(await parse({ port }, { port: "65535" })).toEqual({ port: 65535 });
    expect((await failure({ port }, { port: "0" })).message).toBe('port: "0" is out of range: expected an integer from 1 to 65535');
    expect((await failure({ port }, { port: "65536" })).message).toBe(
      'port: "65536" is out of range: expected an integer from 1 to 65535',
    );
    expect((await failure({ count: params.int({ min: 0 }) }, { count: "-1" })).message).toBe(
      'count: "-1" is out of range: expected an integer from 0 to 9007199254740991',
    );
  });

  it("checks its default against the bounds, and the bounds themselves", () => {
    expect(params.int({ default: "0x20", min: 0 }).defaultValue).toBe(32);
    expect(params.int({ default: 3, max: 3 }).defaultValue).toBe(3);
    expect(() => params.int({ default: 4, max: 3 })).toThrow(
      "params.int: invalid default: 4 is not allowed: expected an integer from -9007199254740991 to 3",
    );
    expect(() => params.int({ default: 1.5 })).toThrow(/1.5 is not allowed/);
    expect(() => params.int({ min: 5, max: 1 })).toThrow('params.int: option "min" (5) is greater than "max" (1)');
    expect(() => params.int({ min: 0.5 })).toThrow('params.int: option "min" must be a safe integer, got 0.5');
  });
});

describe("params.path", () => {
  it("resolves a relative path against the current directory, without requiring it to exist", async () => {
    expect(await parse({ file: params.path() }, { file: "some/where.img" })).toEqual({
      file: resolve(process.cwd(), "some/where.img"),
    });
    expect(await parse({ file: params.path() }, { file: "/a/../b" })).toEqual({ file: "/b" });
  });

  it("with mustExist, returns the real path, following symlinks", async () => {
    const schema = { file: params.path({ mustExist: true }) };
    expect(await parse(schema, { file: join(directory, "link.img") })).toEqual({ file: join(directory, "disk.img") });
  });

  it("with mustExist, says that a missing path does not exist", async () => {
    const schema = { file: params.path({ mustExist: true }) };
    expect((await failure(schema, { file: "/x/y" })).message).toBe('file: "/x/y" does not exist');
    expect((await failure(schema, { file: "nope.img" })).message).toBe(
      `file: "nope.img" (${resolve(process.cwd(), "nope.img")}) does not exist`,
    );
  });

  it("with type, checks what an existing path is", async () => {
    const file = params.path({ type: "file" });
    const dir = params.path({ type: "directory", mustExist: true });
    expect(await parse({ file }, { file: join(directory, "disk.img") })).toEqual({ file: join(directory, "disk.img") });
    expect(await parse({ file }, { file: join(directory, "not-yet.img") })).toEqual({ file: join(directory, "not-yet.img") });
    expect((await failure({ file }, { file: directory })).message).toBe(`file: "${directory}" is a directory: expected a file`);
    expect(await parse({ dir }, { dir: join(directory, "exports") })).toEqual({ dir: join(directory, "exports") });
    expect((await failure({ dir }, { dir: join(directory, "disk.img") })).message).toBe(
      `dir: "${join(directory, "disk.img")}" is not a directory: expected a directory`,
    );
  });

  it("refuses the empty string", async () => {
    expect((await failure({ dir: params.path({ type: "directory" }) }, { dir: "" })).message).toBe(
      'dir: "" is not a valid path: expected the name of a directory',
    );
  });

  it("checks its options and resolves its default when defined", () => {
    expect(params.path({ default: "/var/../tmp" }).defaultValue).toBe("/tmp");
    expect(() => params.path({ default: "/no/such/dir", mustExist: true })).toThrow(
      'params.path: invalid default: "/no/such/dir" does not exist',
    );
    expect(() => params.path({ type: "socket" as "file" })).toThrow(
      'params.path: option "type" must be "file", "directory" or "any", got "socket"',
    );
  });
});

describe("params.oneOf", () => {
  const allocator = params.oneOf(["sparse", "malloc", "zstd"], { default: "sparse" });

  it("accepts one of the values, exactly", async () => {
    expect(await parse({ allocator }, { allocator: "zstd" })).toEqual({ allocator: "zstd" });
    expect(await parse({ allocator })).toEqual({ allocator: "sparse" });
  });

  it("lists the values, and suggests the one that was probably meant", async () => {
    expect((await failure({ allocator }, { allocator: "spares" })).message).toBe(
      'allocator: "spares" is not valid: expected one of: sparse, malloc, zstd (did you mean "sparse"?)',
    );
    expect((await failure({ allocator }, { allocator: "MALLOC" })).message).toBe(
      'allocator: "MALLOC" is not valid: expected one of: sparse, malloc, zstd (did you mean "malloc"?)',
    );
    expect((await failure({ allocator }, { allocator: "jemalloc-huge" })).message).toBe(
      'allocator: "jemalloc-huge" is not valid: expected one of: sparse, malloc, zstd',
    );
  });

  it("refuses an empty or repeated list and a default that is not listed", () => {
    expect(() => params.oneOf([])).toThrow("params.oneOf: expected a non-empty array of strings, got an empty array");
    expect(() => params.oneOf(["a", "b", "a"])).toThrow('params.oneOf: the value "a" is listed twice');
    expect(() => params.oneOf(["a", "b"], { default: "c" as "a" })).toThrow(
      'params.oneOf: invalid default: "c" is not valid: expected one of: a, b',
    );
  });
});

describe("params.password", () => {
  it("is a secret, read with nbdkit's conventions", async () => {
    const password = params.password({ required: true });
    expect(password.secret).toBe(true);
    expect(await parse({ password }, { password: "sesame" })).toEqual({ password: "sesame" });
    expect(await parse({ password }, { password: `+${join(directory, "password")}` })).toEqual({ password: "sesame" });
  });

  it("reports a file it cannot read by the file's name", async () => {
    const missing = join(directory, "missing");
    expect((await failure({ password: params.password() }, { password: `+${missing}` })).message).toMatch(
      `password: could not read the password from file "${missing}": ENOENT`,
    );
  });

  it("says that - needs a server when there is none", async () => {
    expect((await failure({ password: params.password() }, { password: "-" })).message).toBe(
      "password: readPassword() works only inside a plugin run by nbdkit (nbdkit ts plugin=...); it was called outside a server",
    );
  });

  it("never shows the value when it is given twice", async () => {
    const parser = new ParamParser({ pluginName: "test", schema: { password: params.password() } });
    await parser.accept("password", "hunter22");
    const error = await parser.accept("password", "hunter23").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe("password: given twice; give each parameter once");
    expect(String(error)).not.toMatch(/hunter/);
  });

  it("has no default", () => {
    expect(() => params.password({ default: "x" } as never)).toThrow(
      'params.password: unknown option "default"; it takes: required, description',
    );
  });
});

describe("secret values never appear in messages", () => {
  it("hides the value even when a secret parameter's parser names it", async () => {
    const token: ParamSpec<string> = {
      kind: "token",
      required: false,
      description: undefined,
      secret: true,
      defaultValue: undefined,
      parse(value) {
        throw new Error(`${JSON.stringify(value)} is not a valid token; ${value} has the wrong prefix`);
      },
    };
    const error = await failure({ token }, { token: "tok_abcdef" });
    expect(error.message).toBe("token: (value hidden) is not a valid token; (value hidden) has the wrong prefix");
  });

  it("never shows the value of an unknown key, which may be a mistyped password", async () => {
    const error = await failure({ password: params.password() }, { pasword: "hunter22" });
    expect(error.message).not.toContain("hunter22");
  });
});

describe("the options of every builder are checked", () => {
  it("names a mistyped option and suggests the right one", () => {
    expect(() => params.size({ requried: true } as never)).toThrow(
      'params.size: unknown option "requried" (did you mean "required"?); it takes: required, default, description',
    );
    expect(() => params.path({ mustexist: true } as never)).toThrow(
      'params.path: unknown option "mustexist" (did you mean "mustExist"?); it takes: required, default, description, mustExist, type',
    );
  });

  it("refuses a parameter that is both required and has a default", () => {
    expect(() => params.size({ required: true, default: "1G" } as never)).toThrow(
      "params.size: a parameter cannot be both required and have a default; drop one of them",
    );
  });

  it("refuses options of the wrong type", () => {
    expect(() => params.bool("yes" as never)).toThrow("params.bool: expected an options object, got a string");
    expect(() => params.bool({ required: "yes" } as never)).toThrow('params.bool: option "required" must be a boolean, got a string');
    expect(() => params.bool({ description: 1 } as never)).toThrow(
      'params.bool: option "description" must be a string, got a number',
    );
  });

  it("a bad default fails when the plugin is defined", () => {
    expect(() =>
      definePlugin({
        name: "broken",
        params: { size: params.size({ default: "1.5G" }) },
        open: () => ({}),
        getSize: () => 0n,
        pread: () => undefined,
      }),
    ).toThrow('params.size: invalid default: "1.5G" is not a valid size');
  });

  it("builds frozen specs that describe themselves", () => {
    const size = params.size({ required: true, description: "size of the disk" });
    expect(Object.isFrozen(size)).toBe(true);
    expect(size).toMatchObject({ kind: "size", required: true, description: "size of the disk", secret: false, defaultValue: undefined });
    expect(Object.isFrozen(params)).toBe(true);
  });
});

describe("ParamParser", () => {
  const memory = {
    size: params.size({ required: true, description: "size of the disk" }),
    file: params.path(),
  };

  it("returns every declared key, frozen, with defaults applied and absent ones undefined", async () => {
    const values = await parse({ ...memory, sparse: params.bool({ default: "true" }) }, { size: "1M" });
    expect(values).toEqual({ size: 1048576n, file: undefined, sparse: true });
    expect(Object.keys(values)).toEqual(["size", "file", "sparse"]);
    expect(Object.isFrozen(values)).toBe(true);
  });

  it("refuses a key given twice, showing both values", async () => {
    const parser = new ParamParser({ pluginName: "memory", schema: memory });
    await parser.accept("size", "1G");
    const error = await parser.accept("size", "2G").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe('size: given twice ("1G", then "2G"); give each parameter once');
    expect((error as ConfigError).key).toBe("size");
  });

  it("explains a repeated magic key, which a bare word may have set", async () => {
    const parser = new ParamParser({ pluginName: "memory", schema: memory, magicConfigKey: "size" });
    await parser.accept("size", "1G");
    await expect(parser.accept("size", "2G")).rejects.toThrow(
      'size: given twice ("1G", then "2G"); give each parameter once; note that a bare word on the command line, such as 1G, means size=1G',
    );
  });

  it("lets a key whose value failed to parse be given again", async () => {
    const parser = new ParamParser({ pluginName: "memory", schema: memory });
    await expect(parser.accept("size", "big")).rejects.toThrow(ConfigError);
    await parser.accept("size", "1k");
    expect(parser.complete().size).toBe(1024n);
  });

  it("suggests the declared key that an unknown one probably meant", async () => {
    expect((await failure(memory, { sise: "1G" }, "memory")).message).toBe(
      'unknown parameter "sise" for plugin memory (did you mean "size"?); it takes: size, file',
    );
    expect((await failure(memory, { SIZE: "1G" }, "memory")).message).toBe(
      'unknown parameter "SIZE" for plugin memory (did you mean "size"?); it takes: size, file',
    );
    expect((await failure(memory, { fiel: "x" }, "memory")).message).toMatch(/did you mean "file"\?/);
  });

  it("suggests nothing when no key is close", async () => {
    const error = await failure(memory, { allocator: "sparse" }, "memory");
    expect(error.message).toBe('unknown parameter "allocator" for plugin memory; it takes: size, file');
    expect(error.key).toBe("allocator");
  });

  it("says so when the plugin takes no parameters at all", async () => {
    const parser = new ParamParser({ pluginName: "memory" });
    await expect(parser.accept("sise", "1G")).rejects.toThrow('plugin memory takes no parameters, but got "sise"');
    const empty = new ParamParser({ pluginName: "memory", schema: {} });
    await expect(empty.accept("sise", "1G")).rejects.toThrow('plugin memory takes no parameters, but got "sise"');
  });

  it("passes undeclared keys to the plugin's config, in order, and keeps declared ones", async () => {
    const seen: string[] = [];
    const parser = new ParamParser({
      pluginName: "memory",
      schema: memory,
      config: async (key, value) => {
        await Promise.resolve();
        seen.push(`${key}=${value}`);
      },
    });
    await parser.accept("allocator", "zstd");
    await parser.accept("size", "1M");
    await parser.accept("sise", "2M");
    expect(seen).toEqual(["allocator=zstd", "sise=2M"]);
    expect(parser.complete()).toEqual({ size: 1048576n, file: undefined });
  });

  it("lets an error from the plugin's config through unchanged", async () => {
    const refusal = new Error("allocator zstd is not compiled in");
    const parser = new ParamParser({
      pluginName: "memory",
      config: () => {
        throw refusal;
      },
    });
    await expect(parser.accept("allocator", "zstd")).rejects.toBe(refusal);
  });

  it("names a missing required parameter with its syntax and description", async () => {
    const error = await failure(memory, {}, "memory");
    expect(error.message).toBe("missing required parameter size (size=<SIZE>: size of the disk)");
    expect(error.key).toBe("size");
  });

  it("names every missing required parameter in one error, the magic key in brackets", async () => {
    const parser = new ParamParser({
      pluginName: "s3",
      magicConfigKey: "bucket",
      schema: {
        bucket: params.string({ required: true, description: "the bucket" }),
        key: params.string({ required: true }),
        size: params.size({ required: true }),
        region: params.string(),
      },
    });
    const error = (() => {
      try {
        parser.complete();
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("expected complete() to fail");
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(
      "missing required parameters bucket ([bucket=]<STRING>: the bucket), key (key=<STRING>) and size (size=<SIZE>)",
    );
    expect(error.key).toBeUndefined();
  });

  it("refuses complete() while a value is still being parsed, and accept() after complete()", async () => {
    const parser = new ParamParser({ pluginName: "test", schema: { password: params.password() } });
    const pending = parser.accept("password", `+${join(directory, "password")}`);
    expect(() => parser.complete()).toThrow("ParamParser.complete: a value is still being parsed; await every accept() first");
    await pending;
    expect(parser.complete()).toEqual({ password: "sesame" });
    expect(parser.complete()).toBe(parser.complete());
    await expect(parser.accept("password", "x")).rejects.toThrow(
      'ParamParser.accept: "password" arrived after complete(); parameters must all come first',
    );
  });

  it("checks its options", async () => {
    expect(() => new ParamParser({ pluginName: "" })).toThrow("ParamParser: expected pluginName as a non-empty string, got a string");
    expect(() => new ParamParser({ pluginName: "x", schema: { "my key": params.bool() } })).toThrow(
      'ParamParser: plugin x declares parameter "my key", which nbdkit cannot pass',
    );
    expect(() => new ParamParser({ pluginName: "x", schema: { size: 5 as never } })).toThrow(
      'ParamParser: parameter "size" of plugin x is not a parameter spec',
    );
    expect(() => new ParamParser({ pluginName: "x", schema: memory, magicConfigKey: "bytes" })).toThrow(
      'ParamParser: magicConfigKey "bytes" of plugin x is not one of its parameters (size, file)',
    );
    const parser = new ParamParser({ pluginName: "x", schema: memory });
    await expect(parser.accept("size", 5 as never)).rejects.toThrow(TypeError);
  });
});

describe("ParamParser.help", () => {
  it("writes one aligned line per parameter, the magic key in brackets, then configHelp", () => {
    const help = ParamParser.help({
      magicConfigKey: "size",
      params: {
        size: params.size({ required: true, description: "Size of the disk." }),
        file: params.path({ default: "disk.img", description: "Where to keep it." }),
        sparse: params.bool(),
        mode: params.oneOf(["fast", "safe"], { default: "safe" }),
      },
      configHelp: "cache=<MODE>   How to cache (see the manual).",
    });
    expect(help).toBe(
      [
        "[size=]<SIZE>     (required) Size of the disk.",
        "file=<PATH>       (default: disk.img) Where to keep it.",
        "sparse=<BOOL>",
        "mode=<fast|safe>  (default: safe)",
        "cache=<MODE>   How to cache (see the manual).",
      ].join("\n"),
    );
  });

  it("moves the text of a long parameter to its own line", () => {
    const help = ParamParser.help({
      params: {
        size: params.size({ description: "Size." }),
        allocator: params.oneOf(["sparse", "malloc", "zstd", "mlock"], { description: "How memory is allocated." }),
      },
    });
    expect(help).toBe(
      [
        "size=<SIZE>                 Size.",
        "allocator=<sparse|malloc|zstd|mlock>",
        "                            How memory is allocated.",
      ].join("\n"),
    );
  });

  it("shows defaults given as values, and never a secret's", () => {
    const help = ParamParser.help({
      params: {
        size: params.size({ default: 4096n }),
        enabled: params.bool({ default: false }),
        retries: params.int({ default: 3 }),
        prefix: params.string({ default: "" }),
        password: params.password({ description: "The password." }),
      },
    });
    expect(help.split("\n")).toEqual([
      "size=<SIZE>          (default: 4096)",
      "enabled=<BOOL>       (default: false)",
      "retries=<INT>        (default: 3)",
      'prefix=<STRING>      (default: "")',
      "password=<PASSWORD>  The password.",
    ]);
  });

  it("is only the plugin's configHelp without params, and empty without either", () => {
    expect(ParamParser.help({ configHelp: "file=<FILENAME>  The file to serve.\n" })).toBe("file=<FILENAME>  The file to serve.");
    expect(ParamParser.help({})).toBe("");
  });
});
