/**
 * Typed plugin parameters. A plugin declares
 *
 * ```ts
 * params: {
 *   size: params.size({ required: true, description: "size of the disk" }),
 *   file: params.path({ mustExist: true }),
 * }
 * ```
 *
 * and receives `{ size: bigint; file: string | undefined }`, parsed with
 * nbdkit's own grammars and validated before `configComplete`.
 *
 * CONTRACT (implemented in this file):
 * - Each builder returns a {@link ParamSpec}. Its type is `ParamSpec<T>` when
 *   `required: true` or a `default` is given, else `ParamSpec<T | undefined>`.
 * - {@link ParamParser} applies a schema to the `key=value` pairs nbdkit
 *   passes to `config`, in order.
 */

import { realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { distance } from "fastest-levenshtein";
import {
  BOOL_EXPECTED,
  INTEGER_TYPES,
  MAX_SIZE,
  SIZE_EXPECTED,
  describeType,
  quote,
  scanBool,
  scanSize,
  scanTypedInteger,
} from "./parse.js";
import { readPassword } from "./password.js";

/** How one parameter is parsed and documented. */
export interface ParamSpec<T> {
  /**
   * The kind of value, e.g. "size", "bool", "path"; shown in help as
   * `key=<KIND>` (a kind that is not one word, such as `fast|safe`, is shown
   * as written: `key=<fast|safe>`).
   */
  readonly kind: string;
  /** Whether configuration fails without it. */
  readonly required: boolean;
  /** One line for the generated help text. */
  readonly description: string | undefined;
  /** Never show the value in messages (passwords). */
  readonly secret: boolean;
  /** The value when the parameter is not given (already parsed), if any. */
  readonly defaultValue: T | undefined;
  /**
   * Parses one value. Throws an Error whose message names the value (unless
   * `secret`) and says what was expected, without the key (the parser adds
   * it), e.g. `"1.5G" is not a valid size: expected a whole number ...`.
   */
  parse(value: string): T | Promise<T>;
  /** Phantom field carrying `T` for inference. */
  readonly __type?: T;
}

/** A schema: parameter name → spec. */
export type ParamSchema = { readonly [key: string]: ParamSpec<unknown> };

/** The parsed values of a schema. */
export type ParsedParams<S extends ParamSchema> = {
  readonly [K in keyof S]: S[K] extends ParamSpec<infer T> ? T : never;
};

/** Common options of every builder. */
export interface ParamOptions<T> {
  /** Configuration fails without this parameter. */
  required?: boolean;
  /** The value used when the parameter is not given, as on the command line (e.g. "1G") or already parsed. */
  default?: T | string;
  /** One line for the help text. */
  description?: string;
}

// ---------------------------------------------------------------------------
// The builders

/**
 * A parameter builder such as `params.size`. The spec's type says whether the
 * plugin always gets a value: `ParamSpec<T>` with `required: true` or a
 * `default`, otherwise `ParamSpec<T | undefined>`.
 */
export interface ParamBuilder<T, Extra extends object = {}> {
  (options: ParamOptions<T> & Extra & { required: true; default?: never }): ParamSpec<T>;
  (options: ParamOptions<T> & Extra & { default: T | string; required?: false }): ParamSpec<T>;
  (options?: ParamOptions<T> & Extra & ({ default?: never } | { required?: false })): ParamSpec<T | undefined>;
}

/** Options of `params.string`. */
export interface StringParamOptions {
  /** The value must match; it is tested against the whole value, so anchor it (`/^[a-z]+$/`). */
  pattern?: RegExp;
  /** The empty string is refused. */
  nonEmpty?: boolean;
}

/** Options of `params.int`: inclusive bounds, safe integers. */
export interface IntParamOptions {
  min?: number;
  max?: number;
}

/** Options of `params.path`. */
export interface PathParamOptions {
  /** The path must exist; the value is then its real path, with symlinks resolved. */
  mustExist?: boolean;
  /**
   * What the path must be when it exists: `"file"` is anything but a
   * directory (regular files and devices), `"directory"` a directory.
   * Default `"any"`.
   */
  type?: "file" | "directory" | "any";
}

/** Options of `params.oneOf`: a default must be one of the values. */
export interface OneOfParamOptions<V extends string> {
  required?: boolean;
  default?: V;
  description?: string;
}

/** The builder `params.oneOf`; the values are kept as literal types. */
export interface OneOfBuilder {
  <const V extends readonly string[]>(
    values: V,
    options: OneOfParamOptions<V[number]> & { required: true; default?: never },
  ): ParamSpec<V[number]>;
  <const V extends readonly string[]>(
    values: V,
    options: OneOfParamOptions<V[number]> & { default: V[number]; required?: false },
  ): ParamSpec<V[number]>;
  <const V extends readonly string[]>(
    values: V,
    options?: OneOfParamOptions<V[number]> & ({ default?: never } | { required?: false }),
  ): ParamSpec<V[number] | undefined>;
}

/** Options of `params.password`; a password has no default. */
export type PasswordParamOptions = Omit<ParamOptions<string>, "default">;

/** The builder `params.password`. */
export interface PasswordBuilder {
  (options: PasswordParamOptions & { required: true }): ParamSpec<string>;
  (options?: PasswordParamOptions): ParamSpec<string | undefined>;
}

/** How a builder reads values: the part that differs between builders. */
interface Grammar<T> {
  /** The builder's name, for TypeErrors about its options. */
  readonly builder: string;
  readonly kind: string;
  readonly secret: boolean;
  /** Parses a value; the thrown Error's message names the value and says what was expected. */
  parse(value: string): T | Promise<T>;
  /** Checks a default given already parsed (not as a string); throws an Error saying what was expected. */
  checkDefault(value: unknown): T;
}

const COMMON_OPTIONS = ["required", "default", "description"] as const;

/** The default as the plugin author wrote it, for the help text. */
const defaultTexts = new WeakMap<object, string>();

function buildSpec<T>(grammar: Grammar<T>, options: unknown, optionNames: readonly string[]): ParamSpec<T | undefined> {
  const { builder } = grammar;
  if (options !== undefined && (typeof options !== "object" || options === null || Array.isArray(options))) {
    throw new TypeError(`${builder}: expected an options object, got ${describeType(options)}`);
  }
  const record = (options ?? {}) as Record<string, unknown>;
  for (const name of Object.keys(record)) {
    if (!optionNames.includes(name)) {
      throw new TypeError(
        `${builder}: unknown option ${quote(name)}${didYouMean(name, optionNames)}; it takes: ${optionNames.join(", ")}`,
      );
    }
  }
  const { required, description } = record;
  if (required !== undefined && typeof required !== "boolean") {
    throw new TypeError(`${builder}: option "required" must be a boolean, got ${describeType(required)}`);
  }
  if (description !== undefined && typeof description !== "string") {
    throw new TypeError(`${builder}: option "description" must be a string, got ${describeType(description)}`);
  }
  let defaultValue: T | undefined;
  let defaultText: string | undefined;
  if (record["default"] !== undefined) {
    const given = record["default"];
    if (required === true) {
      throw new TypeError(`${builder}: a parameter cannot be both required and have a default; drop one of them`);
    }
    try {
      if (typeof given === "string") {
        const parsed = grammar.parse(given);
        if (parsed instanceof Promise) {
          throw new Error("this kind of parameter is parsed asynchronously, so it cannot have a default");
        }
        defaultValue = parsed;
        defaultText = given === "" ? '""' : given;
      } else {
        defaultValue = grammar.checkDefault(given);
        defaultText = String(given);
      }
    } catch (error) {
      throw new TypeError(`${builder}: invalid default: ${messageOf(error)}`, { cause: error });
    }
  }
  const spec: ParamSpec<T | undefined> = Object.freeze({
    kind: grammar.kind,
    required: required === true,
    description,
    secret: grammar.secret,
    defaultValue,
    parse(value: string): T | Promise<T> {
      if (typeof value !== "string") {
        throw new TypeError(`${builder}: expected the value as a string, got ${describeType(value)}`);
      }
      return grammar.parse(value);
    },
  });
  if (defaultText !== undefined) defaultTexts.set(spec, defaultText);
  return spec;
}

/**
 * Makes a builder from its grammar and the names of its own options. The
 * implementation returns `ParamSpec<T | undefined>`; the overloads of
 * {@link ParamBuilder} narrow that to `ParamSpec<T>` exactly when `buildSpec`
 * guarantees a value (required, or a default), which TypeScript cannot see
 * through the options object.
 */
function builderOf<T, Extra extends object = {}>(
  extraOptions: readonly (keyof Extra & string)[],
  grammarFor: (options: Partial<Extra>) => Grammar<T>,
): ParamBuilder<T, Extra> {
  const optionNames = [...COMMON_OPTIONS, ...extraOptions];
  const build = (options?: unknown) => {
    // buildSpec rejects options that are not an object; the grammar gets {} meanwhile.
    const own = typeof options === "object" && options !== null ? (options as Partial<Extra>) : {};
    return buildSpec(grammarFor(own), options, optionNames);
  };
  return build as unknown as ParamBuilder<T, Extra>;
}

const sizeGrammar: Grammar<bigint> = {
  builder: "params.size",
  kind: "size",
  secret: false,
  parse(value) {
    const result = scanSize(value);
    if ("size" in result) return result.size;
    switch (result.problem) {
      case "syntax":
        throw new Error(`${quote(value)} is not a valid size: ${SIZE_EXPECTED}`);
      case "negative":
        throw new Error(`${quote(value)} is not a valid size: a size cannot be negative`);
      case "too-large":
        throw new Error(`${quote(value)} is too large: the largest size is 2^63−1 bytes (${MAX_SIZE})`);
    }
  },
  checkDefault(value) {
    if (typeof value === "bigint" && value >= 0n && value <= MAX_SIZE) return value;
    const shown = typeof value === "bigint" ? `${value}n` : describeType(value);
    throw new Error(
      `${shown} is not a valid size: expected a bigint from 0 to 2^63−1, or a size string such as "1G"`,
    );
  },
};

const boolGrammar: Grammar<boolean> = {
  builder: "params.bool",
  kind: "bool",
  secret: false,
  parse(value) {
    const result = scanBool(value);
    if (result === undefined) throw new Error(`${quote(value)} is not a valid boolean: ${BOOL_EXPECTED}`);
    return result;
  },
  checkDefault(value) {
    if (typeof value === "boolean") return value;
    throw new Error(`${describeType(value)} is not a valid boolean: expected true, false or a string such as "yes"`);
  },
};

function requireStringDefault(value: unknown): never {
  throw new Error(`${describeType(value)} is not valid: expected a string`);
}

function stringGrammar(options: StringParamOptions): Grammar<string> {
  const { pattern, nonEmpty } = options;
  if (pattern !== undefined && !(pattern instanceof RegExp)) {
    throw new TypeError(`params.string: option "pattern" must be a RegExp, got ${describeType(pattern)}`);
  }
  if (nonEmpty !== undefined && typeof nonEmpty !== "boolean") {
    throw new TypeError(`params.string: option "nonEmpty" must be a boolean, got ${describeType(nonEmpty)}`);
  }
  // A copy without the g and y flags: those make test() stateful (lastIndex).
  const matcher = pattern === undefined ? undefined : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
  return {
    builder: "params.string",
    kind: "string",
    secret: false,
    parse(value) {
      if (nonEmpty === true && value === "") throw new Error(`"" is empty: expected a non-empty string`);
      if (matcher !== undefined && !matcher.test(value)) {
        throw new Error(`${quote(value)} is not valid: expected a string matching ${String(pattern)}`);
      }
      return value;
    },
    checkDefault: requireStringDefault,
  };
}

function intGrammar(options: IntParamOptions): Grammar<number> {
  const { min, max } = options;
  for (const [name, bound] of [["min", min], ["max", max]] as const) {
    if (bound !== undefined && !Number.isSafeInteger(bound)) {
      const shown = typeof bound === "number" ? String(bound) : describeType(bound);
      throw new TypeError(`params.int: option "${name}" must be a safe integer, got ${shown}`);
    }
  }
  if (min !== undefined && max !== undefined && min > max) {
    throw new TypeError(`params.int: option "min" (${min}) is greater than "max" (${max})`);
  }
  const lowest = min ?? -Number.MAX_SAFE_INTEGER;
  const highest = max ?? Number.MAX_SAFE_INTEGER;
  const expected = `expected an integer from ${lowest} to ${highest}`;
  return {
    builder: "params.int",
    kind: "int",
    secret: false,
    parse(value) {
      const result = scanTypedInteger(value, INTEGER_TYPES.int64);
      if ("problem" in result && result.problem !== "range") {
        throw new Error(
          `${quote(value)} is not a valid integer: expected a whole number (decimal, 0x hex or 0-prefixed octal)`,
        );
      }
      if ("value" in result && result.value >= BigInt(lowest) && result.value <= BigInt(highest)) {
        return Number(result.value);
      }
      throw new Error(`${quote(value)} is out of range: ${expected}`);
    },
    checkDefault(value) {
      if (typeof value === "number" && Number.isSafeInteger(value) && value >= lowest && value <= highest) return value;
      throw new Error(`${typeof value === "number" ? String(value) : describeType(value)} is not allowed: ${expected}`);
    },
  };
}

function pathGrammar(options: PathParamOptions): Grammar<string> {
  const { mustExist, type = "any" } = options;
  if (mustExist !== undefined && typeof mustExist !== "boolean") {
    throw new TypeError(`params.path: option "mustExist" must be a boolean, got ${describeType(mustExist)}`);
  }
  if (type !== "file" && type !== "directory" && type !== "any") {
    throw new TypeError(`params.path: option "type" must be "file", "directory" or "any", got ${quote(String(type))}`);
  }
  return {
    builder: "params.path",
    kind: "path",
    secret: false,
    parse(value) {
      if (value === "") {
        throw new Error(`"" is not a valid path: expected the name of a ${type === "any" ? "file or directory" : type}`);
      }
      const absolute = resolve(process.cwd(), value);
      // Name the absolute path too when the value was relative: the plugin
      // runs from the directory nbdkit was started in, which may surprise.
      const shown = absolute === value ? quote(value) : `${quote(value)} (${absolute})`;
      let result = absolute;
      if (mustExist === true) {
        try {
          result = realpathSync(absolute);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "ENOENT" || code === "ENOTDIR") throw new Error(`${shown} does not exist`);
          throw new Error(`${shown} cannot be resolved: ${messageOf(error)}`);
        }
      }
      if (type !== "any") {
        const stats = statSync(result, { throwIfNoEntry: false });
        if (stats !== undefined && type === "file" && stats.isDirectory()) {
          throw new Error(`${shown} is a directory: expected a file`);
        }
        if (stats !== undefined && type === "directory" && !stats.isDirectory()) {
          throw new Error(`${shown} is not a directory: expected a directory`);
        }
      }
      return result;
    },
    checkDefault: requireStringDefault,
  };
}

function oneOfGrammar(values: readonly string[]): Grammar<string> {
  if (!Array.isArray(values) || values.length === 0 || !values.every((value) => typeof value === "string")) {
    const shown = Array.isArray(values) && values.length === 0 ? "an empty array" : describeType(values);
    throw new TypeError(`params.oneOf: expected a non-empty array of strings, got ${shown}`);
  }
  const duplicate = values.find((value, index) => values.indexOf(value) !== index);
  if (duplicate !== undefined) {
    throw new TypeError(`params.oneOf: the value ${quote(duplicate)} is listed twice`);
  }
  const choices = Object.freeze([...values]);
  return {
    builder: "params.oneOf",
    kind: choices.join("|"),
    secret: false,
    parse(value) {
      if (choices.includes(value)) return value;
      throw new Error(`${quote(value)} is not valid: expected one of: ${choices.join(", ")}${didYouMean(value, choices)}`);
    },
    checkDefault: requireStringDefault,
  };
}

const passwordGrammar: Grammar<string> = {
  builder: "params.password",
  kind: "password",
  secret: true,
  parse: readPassword,
  checkDefault: requireStringDefault,
};

const size = builderOf<bigint>([], () => sizeGrammar);
const bool = builderOf<boolean>([], () => boolGrammar);
const string = builderOf<string, StringParamOptions>(["pattern", "nonEmpty"], stringGrammar);
const int = builderOf<number, IntParamOptions>(["min", "max"], intGrammar);
const path = builderOf<string, PathParamOptions>(["mustExist", "type"], pathGrammar);

const oneOf = ((values: readonly string[], options?: OneOfParamOptions<string>) =>
  buildSpec(oneOfGrammar(values), options, COMMON_OPTIONS)) as unknown as OneOfBuilder;

const password = ((options?: PasswordParamOptions) =>
  buildSpec(passwordGrammar, options, ["required", "description"])) as unknown as PasswordBuilder;

/**
 * The parameter builders. Each takes the common options `required`,
 * `default` (a string is parsed like a command-line value, when the plugin
 * is defined, so a bad default fails at once) and `description` (for the help
 * text), plus its own:
 *
 * - `size()`: a `bigint`, nbdkit's size grammar (`512`, `64k`, `10G`, `2s`).
 * - `bool()`: a `boolean`, nbdkit's words (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`).
 * - `string({ pattern, nonEmpty })`: a `string`.
 * - `int({ min, max })`: a `number`, read like strtoll (so `0x10` is 16 and
 *   `010` is 8), which must be a safe integer within the bounds.
 * - `path({ mustExist, type })`: an absolute path, resolved against the
 *   directory nbdkit was started in; with `mustExist`, the real path.
 * - `oneOf(["a", "b"])`: one of the listed strings, typed as their union.
 * - `password()`: a `string` read with nbdkit's password conventions (`-`,
 *   `-FD`, `+FILE` or the literal value); never shown in messages; no default.
 */
export const params = Object.freeze({ size, bool, string, int, path, oneOf, password });

// ---------------------------------------------------------------------------
// ConfigError and ParamParser

/**
 * A configuration mistake by whoever runs the plugin: an unknown or repeated
 * parameter, an invalid value, a missing required one. The message is meant
 * for them; `key` names the parameter when there is exactly one.
 */
export class ConfigError extends Error {
  readonly key: string | undefined;

  constructor(message: string, key?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
    this.key = key;
  }
}

/** What a {@link ParamParser} needs to know about the plugin. */
export interface ParamParserOptions<S extends ParamSchema = ParamSchema> {
  /** The plugin's name, for messages. */
  pluginName: string;
  /** The declared parameters. */
  schema?: S | undefined;
  /** The parameter that bare words on the command line stand for, for messages. */
  magicConfigKey?: string | undefined;
  /** The plugin's own `config`, which receives every key the schema does not declare. */
  config?: ((key: string, value: string) => void | Promise<void>) | undefined;
}

/** nbdkit's grammar for keys: anything else on the command line is a bare word. */
const KEY_PATTERN = /^[A-Za-z][A-Za-z0-9._-]*$/;

/**
 * Applies a schema to the `key=value` pairs of one configuration:
 *
 * ```ts
 * const parser = new ParamParser({ pluginName: "memory", schema: plugin.params });
 * await parser.accept("size", "1G");   // for each key=value, in order
 * const values = parser.complete();    // { size: 1073741824n }
 * ```
 *
 * Every mistake is a {@link ConfigError} whose message names the parameter,
 * the value (never that of a secret parameter) and what was expected.
 */
export class ParamParser<S extends ParamSchema = ParamSchema> {
  readonly #pluginName: string;
  readonly #schema: ParamSchema;
  readonly #magicConfigKey: string | undefined;
  readonly #config: ((key: string, value: string) => void | Promise<void>) | undefined;
  /** The raw value of each declared key given so far (the key is reserved before it is parsed). */
  readonly #given = new Map<string, string>();
  readonly #values = new Map<string, unknown>();
  #parsing = 0;
  #result: ParsedParams<S> | undefined;

  constructor(options: ParamParserOptions<S>) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`ParamParser: expected an options object, got ${describeType(options)}`);
    }
    const { pluginName, schema = {}, magicConfigKey, config } = options;
    if (typeof pluginName !== "string" || pluginName === "") {
      throw new TypeError(`ParamParser: expected pluginName as a non-empty string, got ${describeType(pluginName)}`);
    }
    if (typeof schema !== "object" || schema === null) {
      throw new TypeError(
        `ParamParser: expected the schema of plugin ${pluginName} as an object, got ${describeType(schema)}`,
      );
    }
    for (const [key, spec] of Object.entries(schema)) {
      if (!KEY_PATTERN.test(key)) {
        throw new TypeError(
          `ParamParser: plugin ${pluginName} declares parameter ${quote(key)}, which nbdkit cannot pass: a key is a letter followed by letters, digits, ".", "_" or "-"`,
        );
      }
      const isSpec = typeof spec === "object" && spec !== null && typeof spec.parse === "function";
      if (!isSpec || typeof spec.kind !== "string") {
        throw new TypeError(
          `ParamParser: parameter ${quote(key)} of plugin ${pluginName} is not a parameter spec: build it with params.size(), params.string() and the like`,
        );
      }
    }
    if (config !== undefined && typeof config !== "function") {
      throw new TypeError(`ParamParser: expected config to be a function, got ${describeType(config)}`);
    }
    if (magicConfigKey !== undefined && !Object.hasOwn(schema, magicConfigKey) && config === undefined) {
      throw new TypeError(
        `ParamParser: magicConfigKey ${quote(String(magicConfigKey))} of plugin ${pluginName} is not one of its parameters (${Object.keys(schema).join(", ")})`,
      );
    }
    this.#pluginName = pluginName;
    this.#schema = options.schema ?? {};
    this.#magicConfigKey = magicConfigKey;
    this.#config = config;
  }

  /**
   * Takes one `key=value`. A declared key is parsed (asynchronously for
   * passwords); a key given twice is an error; any other key goes to the
   * plugin's `config` if it has one and is an error if not.
   */
  async accept(key: string, value: string): Promise<void> {
    if (typeof key !== "string" || typeof value !== "string") {
      throw new TypeError(
        `ParamParser.accept: expected a key and a value as strings, got ${describeType(key)} and ${describeType(value)}`,
      );
    }
    if (this.#result !== undefined) {
      throw new Error(`ParamParser.accept: ${quote(key)} arrived after complete(); parameters must all come first`);
    }
    const spec = Object.hasOwn(this.#schema, key) ? this.#schema[key] : undefined;
    if (spec === undefined) {
      if (this.#config !== undefined) {
        await this.#config(key, value);
        return;
      }
      throw new ConfigError(this.#unknownKeyMessage(key), key);
    }
    const previous = this.#given.get(key);
    if (previous !== undefined) {
      throw new ConfigError(this.#duplicateMessage(key, spec, previous, value), key);
    }
    this.#given.set(key, value);
    this.#parsing++;
    try {
      this.#values.set(key, await spec.parse(value));
    } catch (error) {
      this.#given.delete(key);
      let message = messageOf(error);
      if (spec.secret) message = hideValue(message, value);
      throw new ConfigError(`${key}: ${message}`, key, { cause: error });
    } finally {
      this.#parsing--;
    }
  }

  /**
   * Ends the configuration: checks that every required parameter was given
   * (all missing ones are named in one error), applies defaults and returns
   * the values, frozen, with every declared key present.
   */
  complete(): ParsedParams<S> {
    if (this.#result !== undefined) return this.#result;
    if (this.#parsing > 0) {
      throw new Error("ParamParser.complete: a value is still being parsed; await every accept() first");
    }
    const missing = Object.entries(this.#schema).filter(([key, spec]) => spec.required && !this.#values.has(key));
    if (missing.length > 0) {
      const described = missing.map(([key, spec]) => {
        const syntax = usage(key, spec, key === this.#magicConfigKey);
        return `${key} (${spec.description === undefined ? syntax : `${syntax}: ${spec.description}`})`;
      });
      const [first] = missing[0] ?? [];
      throw new ConfigError(
        `missing required parameter${missing.length === 1 ? "" : "s"} ${joinWithAnd(described)}`,
        missing.length === 1 ? first : undefined,
      );
    }
    const result: Record<string, unknown> = {};
    for (const [key, spec] of Object.entries(this.#schema)) {
      result[key] = this.#values.has(key) ? this.#values.get(key) : spec.defaultValue;
    }
    this.#result = Object.freeze(result) as ParsedParams<S>;
    return this.#result;
  }

  /**
   * Help text in nbdkit's style: one line per parameter, aligned, with its
   * syntax (the magic key's name in brackets, as it may be left out),
   * `(required)` or its default, and its description; then the plugin's own
   * `configHelp`.
   *
   * ```text
   * [size=]<SIZE>               (required) Size of the disk.
   * allocator=<sparse|malloc|zstd|mlock>
   *                             (default: sparse) How memory is allocated.
   * ```
   *
   * Syntax longer than 26 characters puts its text on the next line.
   */
  static help(plugin: {
    params?: ParamSchema | undefined;
    configHelp?: string | undefined;
    magicConfigKey?: string | undefined;
  }): string {
    const rows = Object.entries(plugin.params ?? {}).map(([key, spec]) => {
      const defaultText = spec.secret ? undefined : (defaultTexts.get(spec) ?? formatDefault(spec.defaultValue));
      const notes = [
        spec.required ? "(required)" : undefined,
        defaultText === undefined ? undefined : `(default: ${defaultText})`,
        spec.description,
      ].filter((note) => note !== undefined && note !== "");
      return { syntax: usage(key, spec, key === plugin.magicConfigKey), text: notes.join(" ") };
    });
    const widest = Math.max(0, ...rows.map((row) => row.syntax.length));
    const column = Math.min(widest, HELP_SYNTAX_WIDTH) + 2;
    const lines: string[] = [];
    for (const { syntax, text } of rows) {
      if (text === "") lines.push(syntax);
      else if (syntax.length > column - 2) lines.push(syntax, " ".repeat(column) + text);
      else lines.push(syntax.padEnd(column) + text);
    }
    if (plugin.configHelp !== undefined && plugin.configHelp !== "") lines.push(plugin.configHelp.replace(/\n+$/, ""));
    return lines.join("\n");
  }

  #unknownKeyMessage(key: string): string {
    const keys = Object.keys(this.#schema);
    // The value is left out: a mistyped key may well be "pasword".
    if (keys.length === 0) return `plugin ${this.#pluginName} takes no parameters, but got ${quote(key)}`;
    const suggestion = didYouMean(key, keys);
    return `unknown parameter ${quote(key)} for plugin ${this.#pluginName}${suggestion}; it takes: ${keys.join(", ")}`;
  }

  #duplicateMessage(key: string, spec: ParamSpec<unknown>, previous: string, value: string): string {
    const values = spec.secret ? "" : ` (${quote(previous)}, then ${quote(value)})`;
    const hint =
      key === this.#magicConfigKey ? `; note that a bare word on the command line, such as 1G, means ${key}=1G` : "";
    return `${key}: given twice${values}; give each parameter once${hint}`;
  }
}

/** The width beyond which help text moves to its own line, as in nbdkit's own help. */
const HELP_SYNTAX_WIDTH = 26;

/** `key=<KIND>`, or `[key=]<KIND>` for the magic key, which may be written alone. */
function usage(key: string, spec: ParamSpec<unknown>, magic: boolean): string {
  const placeholder = /^[a-z][a-z0-9]*$/i.test(spec.kind) ? `<${spec.kind.toUpperCase()}>` : `<${spec.kind}>`;
  return magic ? `[${key}=]${placeholder}` : `${key}=${placeholder}`;
}

function formatDefault(value: unknown): string | undefined {
  if (value === "") return '""';
  const printable = ["string", "bigint", "number", "boolean"].includes(typeof value);
  return printable ? String(value) : undefined;
}

/**
 * A safety net for secret parameters whose parser named the value anyway:
 * replaces the value, quoted or (when long enough not to match ordinary
 * words) bare, with "(value hidden)".
 */
function hideValue(message: string, value: string): string {
  if (value === "") return message;
  let hidden = message.split(quote(value)).join("(value hidden)");
  if (value.length >= 4) hidden = hidden.split(value).join("(value hidden)");
  return hidden;
}

/**
 * The candidate a mistyped word most likely meant: one that differs only in
 * case, else the nearest within two edits (and not so short that two edits
 * would turn any word into it).
 */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const lowered = word.toLowerCase();
  const sameLetters = candidates.find((candidate) => candidate.toLowerCase() === lowered);
  if (sameLetters !== undefined) return sameLetters;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const edits = distance(lowered, candidate.toLowerCase());
    if (edits < bestDistance) {
      best = candidate;
      bestDistance = edits;
    }
  }
  if (best === undefined) return undefined;
  return bestDistance <= 2 && bestDistance <= Math.max(word.length, best.length) - 2 ? best : undefined;
}

/** ` (did you mean "X"?)` when a candidate is close to the word, else "". */
function didYouMean(word: string, candidates: readonly string[]): string {
  const suggestion = closest(word, candidates);
  return suggestion === undefined ? "" : ` (did you mean ${quote(suggestion)}?)`;
}

function joinWithAnd(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
