/**
 * nbdkit's parsers, ported to TypeScript (nbdkit-plugin(3) "PARSING SIZE
 * PARAMETERS", "PARSING BOOLEAN PARAMETERS", "PARSING NUMBERS").
 *
 * They accept exactly the strings nbdkit 1.32 accepts and return the same
 * values (server/public.c; the grammars and test vectors are in
 * nbdkit-api.md §3). They run in the plugin's process, without a server, so
 * they also work in unit tests. Sizes and 64-bit integers are `bigint`,
 * because nbdkit's results go up to 2^63−1 and 2^64−1.
 *
 * Failures throw a RangeError whose message names the value and says what was
 * expected; a non-string argument throws a TypeError.
 *
 * The grammars are implemented once, as functions that return either a value
 * or the kind of problem; `params.ts` uses the same functions and words its
 * own messages, so a parameter and a direct call can never disagree.
 */

/** `isspace` in the C locale, which is what `strtol` and `strtoimax` skip. */
function isCSpace(char: string | undefined): boolean {
  return char === " " || char === "\t" || char === "\n" || char === "\v" || char === "\f" || char === "\r";
}

const DIGITS_BY_RADIX: Readonly<Record<8 | 10 | 16, RegExp>> = {
  8: /[0-7]/,
  10: /[0-9]/,
  16: /[0-9A-Fa-f]/,
};

function isDigit(char: string | undefined, radix: 8 | 10 | 16): boolean {
  return char !== undefined && DIGITS_BY_RADIX[radix].test(char);
}

/** What `strtol` and its relatives read from the start of a string. */
interface ScannedInteger {
  /** The value with its sign applied, exact (no clamping on overflow). */
  readonly value: bigint;
  /** The index just past the last digit; 0 when no digits were read (C's `end == str`). */
  readonly end: number;
}

/**
 * Reads an integer the way glibc's `strtol` family does: leading C-locale
 * whitespace, an optional sign, then digits. With base 0, `0x`/`0X` followed by
 * a hex digit selects hexadecimal and a leading `0` selects octal; `0x` not
 * followed by a hex digit reads as `0` and stops at the `x`, as glibc does.
 */
function scanInteger(str: string, base: 0 | 10): ScannedInteger {
  let index = 0;
  while (isCSpace(str[index])) index++;
  let negative = false;
  if (str[index] === "+" || str[index] === "-") {
    negative = str[index] === "-";
    index++;
  }
  let radix: 8 | 10 | 16 = 10;
  if (base === 0 && str[index] === "0") {
    const next = str[index + 1];
    if ((next === "x" || next === "X") && isDigit(str[index + 2], 16)) {
      radix = 16;
      index += 2;
    } else {
      // The leading 0 is itself an octal digit, so "0" alone reads as 0.
      radix = 8;
    }
  }
  const start = index;
  while (isDigit(str[index], radix)) index++;
  if (index === start) return { value: 0n, end: 0 };
  const digits = str.slice(start, index);
  const prefix = radix === 16 ? "0x" : radix === 8 ? "0o" : "";
  const magnitude = BigInt(prefix + digits);
  return { value: negative ? -magnitude : magnitude, end: index };
}

// ---------------------------------------------------------------------------
// Sizes

/** The largest size nbdkit accepts: INT64_MAX, 2^63−1. */
export const MAX_SIZE = 2n ** 63n - 1n;

const SIZE_SCALES: Readonly<Record<string, bigint>> = {
  b: 1n,
  k: 1n << 10n,
  m: 1n << 20n,
  g: 1n << 30n,
  t: 1n << 40n,
  p: 1n << 50n,
  e: 1n << 60n,
  s: 512n,
};

/** Why a string is not a size. */
export type SizeProblem = "syntax" | "negative" | "too-large";

/** What the size grammar expects, for messages. */
export const SIZE_EXPECTED =
  "expected a whole number with an optional suffix b, k, M, G, T, P, E or s (e.g. 512, 64k, 10G)";

/**
 * The size grammar of nbdkit_parse_size, returning the size or the problem.
 * The checks run in nbdkit's order: no digits, then negative (so a huge
 * negative number is "negative", not "too large"), then int64 overflow of the
 * number, then the suffix, then overflow of number × suffix.
 */
export function scanSize(str: string): { readonly size: bigint } | { readonly problem: SizeProblem } {
  const scanned = scanInteger(str, 10);
  if (scanned.end === 0) return { problem: "syntax" };
  // strtoimax turns "-0" into 0, which is not negative, so "-0" and "-0k" are sizes.
  if (scanned.value < 0n) return { problem: "negative" };
  if (scanned.value > MAX_SIZE) return { problem: "too-large" };
  const suffix = str.slice(scanned.end);
  let scale = 1n;
  if (suffix !== "") {
    const found = suffix.length === 1 ? SIZE_SCALES[asciiLower(suffix)] : undefined;
    if (found === undefined) return { problem: "syntax" };
    scale = found;
  }
  // Integer division, as in C: INT64_MAX / scale < size.
  if (MAX_SIZE / scale < scanned.value) return { problem: "too-large" };
  return { size: scanned.value * scale };
}

/**
 * Parses a size the way nbdkit_parse_size does: a decimal number with an
 * optional one-letter suffix, `b` (bytes), `k`, `M`, `G`, `T`, `P`, `E`
 * (powers of 1024, either case) or `s` (512-byte sectors).
 *
 * ```ts
 * parseSize("64k");  // 65536n
 * parseSize("10G");  // 10737418240n
 * parseSize("1.5M"); // throws: nbdkit has no fractions
 * ```
 *
 * @throws RangeError when the string is not a size or is more than 2^63−1.
 */
export function parseSize(str: string): bigint {
  requireString("parseSize", "the size to parse", str);
  const result = scanSize(str);
  if ("size" in result) return result.size;
  switch (result.problem) {
    case "syntax":
      throw new RangeError(`could not parse size string ${quote(str)}: ${SIZE_EXPECTED}`);
    case "negative":
      throw new RangeError(`size cannot be negative: ${quote(str)}`);
    case "too-large":
      throw new RangeError(`size ${quote(str)} is too large: the largest is 2^63−1 bytes`);
  }
}

// ---------------------------------------------------------------------------
// Booleans

const TRUE_WORDS: ReadonlySet<string> = new Set(["true", "t", "yes", "y", "on"]);
const FALSE_WORDS: ReadonlySet<string> = new Set(["false", "f", "no", "n", "off"]);

/** What the boolean grammar expects, for messages. */
export const BOOL_EXPECTED = "expected true or false (or yes/no, on/off, t/f, y/n, 1/0)";

/**
 * Lowers A–Z only. `toLowerCase()` would also map non-ASCII letters, such as
 * U+212A KELVIN SIGN to "k", which nbdkit's ascii_strcasecmp does not.
 */
function asciiLower(str: string): string {
  return str.replace(/[A-Z]/g, (letter) => String.fromCharCode(letter.charCodeAt(0) + 32));
}

/** The boolean grammar of nbdkit_parse_bool, returning undefined for anything else. */
export function scanBool(str: string): boolean | undefined {
  if (str === "1") return true;
  if (str === "0") return false;
  const lowered = asciiLower(str);
  if (TRUE_WORDS.has(lowered)) return true;
  if (FALSE_WORDS.has(lowered)) return false;
  return undefined;
}

/**
 * Parses a boolean the way nbdkit_parse_bool does: `1`, `true`, `t`, `yes`,
 * `y`, `on` are true and `0`, `false`, `f`, `no`, `n`, `off` are false, the
 * words in any ASCII case. Nothing else is accepted, not even surrounding
 * spaces.
 *
 * @throws RangeError for any other string.
 */
export function parseBool(str: string): boolean {
  requireString("parseBool", "the boolean to parse", str);
  const value = scanBool(str);
  if (value === undefined) throw new RangeError(`could not decipher boolean ${quote(str)}: ${BOOL_EXPECTED}`);
  return value;
}

// ---------------------------------------------------------------------------
// Integers

/** A C integer type that nbdkit_parse_* fills. */
export interface IntegerType {
  /** The C name, for messages. */
  readonly cName: string;
  readonly min: bigint;
  readonly max: bigint;
  readonly unsigned: boolean;
}

function signedType(cName: string, bits: bigint): IntegerType {
  return { cName, min: -(2n ** (bits - 1n)), max: 2n ** (bits - 1n) - 1n, unsigned: false };
}

function unsignedType(cName: string, bits: bigint): IntegerType {
  return { cName, min: 0n, max: 2n ** bits - 1n, unsigned: true };
}

/** The types of the nbdkit_parse_* family on Linux, where `int` is 32 bits. */
export const INTEGER_TYPES = Object.freeze({
  int: signedType("int", 32n),
  unsigned: unsignedType("unsigned", 32n),
  int8: signedType("int8_t", 8n),
  uint8: unsignedType("uint8_t", 8n),
  int16: signedType("int16_t", 16n),
  uint16: unsignedType("uint16_t", 16n),
  int32: signedType("int32_t", 32n),
  uint32: unsignedType("uint32_t", 32n),
  int64: signedType("int64_t", 64n),
  uint64: unsignedType("uint64_t", 64n),
});

/**
 * Why a string is not an integer of a type. nbdkit reports the first three:
 * - `range`: out of the type's range (strtol's ERANGE, "could not parse number");
 * - `empty`: no digits ("empty string where we expected a number");
 * - `trailing`: something after the number ("trailing garbage");
 * - `negative`: a leading `-` given to an unsigned type.
 */
export type IntegerProblem = "range" | "empty" | "trailing" | "negative";

/**
 * The integer grammar of nbdkit_parse_int and its relatives (strtol with base
 * 0), returning the value or the problem, in nbdkit's order: a leading `-`
 * for unsigned types, then range, then no digits, then trailing characters.
 *
 * One deliberate difference: nbdkit skips whitespace before looking for the
 * `-` with its own `ascii_isspace`, which lacks `\v`, and then strtoul skips
 * `\v` and negates, so nbdkit accepts "\v-1" as 2^64−1. Here every
 * whitespace character is skipped first, so "\v-1" is rejected like " -1".
 */
export function scanTypedInteger(
  str: string,
  type: IntegerType,
): { readonly value: bigint } | { readonly problem: IntegerProblem } {
  if (type.unsigned) {
    let index = 0;
    while (isCSpace(str[index])) index++;
    if (str[index] === "-") return { problem: "negative" };
  }
  const scanned = scanInteger(str, 0);
  if (scanned.value < type.min || scanned.value > type.max) return { problem: "range" };
  if (scanned.end === 0) return { problem: "empty" };
  if (scanned.end !== str.length) return { problem: "trailing" };
  return { value: scanned.value };
}

function parseTyped(fn: string, type: IntegerType, what: string, str: string): bigint {
  requireString(fn, "what (the name used in error messages)", what);
  requireString(fn, "the number to parse", str);
  const result = scanTypedInteger(str, type);
  if ("value" in result) return result.value;
  switch (result.problem) {
    case "negative":
      throw new RangeError(`${what}: could not parse number: ${quote(str)}: negative numbers are not allowed`);
    case "range":
      throw new RangeError(
        `${what}: could not parse number: ${quote(str)}: numerical result out of range: expected ${type.min} to ${type.max} (${type.cName})`,
      );
    case "empty":
      if (/^[ \t\n\v\f\r]*$/.test(str)) throw new RangeError(`${what}: empty string where we expected a number`);
      throw new RangeError(
        `${what}: could not parse number: ${quote(str)}: no digits where we expected a number (decimal, 0x hex or 0-prefixed octal)`,
      );
    case "trailing":
      throw new RangeError(`${what}: could not parse number: ${quote(str)}: trailing garbage after the number`);
  }
}

/*
 * The public integer parsers. Each takes `what`, the name nbdkit puts at the
 * start of its error message (usually the parameter), and the string. They
 * read numbers as C's strtol does with base 0: optional whitespace and sign,
 * then decimal, `0x` hexadecimal, or octal with a leading `0` (so "010" is 8
 * and "08" is an error). The unsigned ones reject any leading `-`, even "-0".
 */

/**
 * Parses a C `int` (−2^31 to 2^31−1) as nbdkit_parse_int does.
 *
 * ```ts
 * parseInt("retries", "0x10"); // 16
 * ```
 *
 * @throws RangeError naming `what` when `str` is not such a number.
 */
export function parseInt(what: string, str: string): number {
  return Number(parseTyped("parseInt", INTEGER_TYPES.int, what, str));
}

/** Parses a C `unsigned` (0 to 2^32−1) as nbdkit_parse_unsigned does. */
export function parseUnsigned(what: string, str: string): number {
  return Number(parseTyped("parseUnsigned", INTEGER_TYPES.unsigned, what, str));
}

/** Parses an `int8_t` (−128 to 127) as nbdkit_parse_int8_t does. */
export function parseInt8(what: string, str: string): number {
  return Number(parseTyped("parseInt8", INTEGER_TYPES.int8, what, str));
}

/** Parses a `uint8_t` (0 to 255) as nbdkit_parse_uint8_t does. */
export function parseUint8(what: string, str: string): number {
  return Number(parseTyped("parseUint8", INTEGER_TYPES.uint8, what, str));
}

/** Parses an `int16_t` (−32768 to 32767) as nbdkit_parse_int16_t does. */
export function parseInt16(what: string, str: string): number {
  return Number(parseTyped("parseInt16", INTEGER_TYPES.int16, what, str));
}

/** Parses a `uint16_t` (0 to 65535) as nbdkit_parse_uint16_t does. */
export function parseUint16(what: string, str: string): number {
  return Number(parseTyped("parseUint16", INTEGER_TYPES.uint16, what, str));
}

/** Parses an `int32_t` (−2^31 to 2^31−1) as nbdkit_parse_int32_t does. */
export function parseInt32(what: string, str: string): number {
  return Number(parseTyped("parseInt32", INTEGER_TYPES.int32, what, str));
}

/** Parses a `uint32_t` (0 to 2^32−1) as nbdkit_parse_uint32_t does. */
export function parseUint32(what: string, str: string): number {
  return Number(parseTyped("parseUint32", INTEGER_TYPES.uint32, what, str));
}

/** Parses an `int64_t` (−2^63 to 2^63−1) as nbdkit_parse_int64_t does; a `bigint`, as most do not fit a number. */
export function parseInt64(what: string, str: string): bigint {
  return parseTyped("parseInt64", INTEGER_TYPES.int64, what, str);
}

/** Parses a `uint64_t` (0 to 2^64−1) as nbdkit_parse_uint64_t does; a `bigint`. */
export function parseUint64(what: string, str: string): bigint {
  return parseTyped("parseUint64", INTEGER_TYPES.uint64, what, str);
}

// ---------------------------------------------------------------------------
// Shared helpers

/** A value quoted for a message: JSON escapes make spaces, tabs and empty strings visible. */
export function quote(value: string): string {
  return JSON.stringify(value);
}

/** A short description of a value's type, for TypeErrors. */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function requireString(fn: string, what: string, value: unknown): asserts value is string {
  if (typeof value !== "string") {
    throw new TypeError(`${fn}: expected ${what} as a string, got ${describeType(value)}`);
  }
}
