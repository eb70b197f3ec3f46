import { describe, expect, it } from "vitest";
import {
  parseInt,
  parseInt8,
  parseInt16,
  parseInt32,
  parseInt64,
  parseUint8,
  parseUint16,
  parseUint32,
  parseUint64,
  parseUnsigned,
} from "@nbdts/sdk";

// nbdkit-api.md §3.3: strtol with base 0, range-checked per C type (Linux:
// int is 32 bits). Every vector is run through every parser whose type it
// concerns; a value outside a type's range must be refused by that parser.

interface Parser {
  readonly name: string;
  readonly parse: (what: string, str: string) => number | bigint;
  readonly min: bigint;
  readonly max: bigint;
  readonly returns: "number" | "bigint";
}

function integerParser(name: string, parse: Parser["parse"], type: "signed" | "unsigned", bits: bigint): Parser {
  const returns = bits === 64n ? "bigint" : "number";
  if (type === "unsigned") return { name, parse, min: 0n, max: 2n ** bits - 1n, returns };
  return { name, parse, min: -(2n ** (bits - 1n)), max: 2n ** (bits - 1n) - 1n, returns };
}

const SIGNED: readonly Parser[] = [
  integerParser("parseInt", parseInt, "signed", 32n),
  integerParser("parseInt8", parseInt8, "signed", 8n),
  integerParser("parseInt16", parseInt16, "signed", 16n),
  integerParser("parseInt32", parseInt32, "signed", 32n),
  integerParser("parseInt64", parseInt64, "signed", 64n),
];
const UNSIGNED: readonly Parser[] = [
  integerParser("parseUnsigned", parseUnsigned, "unsigned", 32n),
  integerParser("parseUint8", parseUint8, "unsigned", 8n),
  integerParser("parseUint16", parseUint16, "unsigned", 16n),
  integerParser("parseUint32", parseUint32, "unsigned", 32n),
  integerParser("parseUint64", parseUint64, "unsigned", 64n),
];
const ALL = [...SIGNED, ...UNSIGNED];

/** Upstream's int OK vectors, with their values. */
const SIGNED_NUMBERS: readonly [string, bigint][] = [
  ["0", 0n],
  [" 0", 0n],
  ["  0", 0n],
  ["   0", 0n],
  ["1", 1n],
  [" 1", 1n],
  ["  1", 1n],
  ["   1", 1n],
  ["99", 99n],
  ["0x1", 1n],
  ["0xf", 15n],
  ["0x10", 16n],
  ["0xff", 255n],
  ["0Xff", 255n],
  ["01", 1n],
  ["07", 7n],
  ["010", 8n],
  ["+0", 0n],
  [" +0", 0n],
  ["+99", 99n],
  ["+0xf", 15n],
  ["+010", 8n],
  ["-0", 0n],
  [" -0", 0n],
  ["  -0", 0n],
  ["-99", -99n],
  ["-0xf", -15n],
  ["-0XF", -15n],
  ["-010", -8n],
  ["2147483647", 2147483647n],
  ["-2147483648", -2147483648n],
  ["0x7fffffff", 2147483647n],
  ["-0x80000000", -2147483648n],
  // Upstream's int BAD vectors that are bad only because of int's range.
  ["2147483648", 2147483648n],
  ["-2147483649", -2147483649n],
  ["999999999999999999999999", 999999999999999999999999n],
  ["-999999999999999999999999", -999999999999999999999999n],
];

/** Upstream's unsigned OK vectors, with their values. */
const UNSIGNED_NUMBERS: readonly [string, bigint][] = [
  ["0", 0n],
  [" 0", 0n],
  ["1", 1n],
  ["99", 99n],
  ["0x1", 1n],
  ["0xf", 15n],
  ["0x10", 16n],
  ["0xff", 255n],
  ["01", 1n],
  ["07", 7n],
  ["010", 8n],
  ["+0", 0n],
  ["+99", 99n],
  ["+0xf", 15n],
  ["+010", 8n],
  ["2147483647", 2147483647n],
  ["0x7fffffff", 2147483647n],
  ["4294967295", 4294967295n],
  ["4294967296", 4294967296n],
  ["18446744073709551615", 18446744073709551615n],
  ["18446744073709551616", 18446744073709551616n],
];

/** Upstream's int BAD vectors that no integer type accepts. */
const NOT_NUMBERS = [
  "",
  "-",
  "- 0",
  "+",
  "++",
  "++0",
  "--0",
  "0x",
  "0xg",
  "08",
  "0x1p1",
  "42x",
  "42e42",
  "42-",
  "garbage",
  "inf",
  "nan",
  "0.0",
  "1,000",
];

/** Upstream's unsigned BAD vectors: any leading '-', even before a zero. */
const NEGATIVE = ["-0", " -0", "-99", "-0xf", "-010", "-2147483648", "-0x80000000", " -1", "-1"];

/** The boundaries of each fixed width: [parser, good inputs, bad inputs]. */
const BOUNDARIES: readonly [Parser, readonly string[], readonly string[]][] = [
  [SIGNED[1]!, ["0", "0x7f", "-0x80"], ["0x80", "-0x81"]],
  [UNSIGNED[1]!, ["0", "0xff"], ["0x100", "-1"]],
  [SIGNED[2]!, ["0", "0x7fff", "-0x8000"], ["0x8000", "-0x8001"]],
  [UNSIGNED[2]!, ["0", "0xffff"], ["0x10000", "-1"]],
  [SIGNED[3]!, ["0", "0x7fffffff", "-0x80000000"], ["0x80000000", "-0x80000001"]],
  [UNSIGNED[3]!, ["0", "0xffffffff"], ["0x100000000", "-1"]],
  [SIGNED[4]!, ["0", "0x7fffffffffffffff", "-0x8000000000000000"], ["0x8000000000000000", "-0x8000000000000001"]],
  [UNSIGNED[4]!, ["0", "0xffffffffffffffff", "18446744073709551615"], ["0x10000000000000000", "18446744073709551616", "-1", " -1"]],
  [SIGNED[0]!, ["2147483647", "-2147483648"], ["2147483648", "-2147483649"]],
  [UNSIGNED[0]!, ["4294967295"], ["4294967296"]],
];

function expectParsed(parser: Parser, input: string, value: bigint): void {
  const result = parser.parse("n", input);
  expect(typeof result).toBe(parser.returns);
  expect(BigInt(result)).toBe(value);
}

describe.each(SIGNED.map((parser) => [parser.name, parser] as const))("%s", (_, parser) => {
  it.each(SIGNED_NUMBERS)("reads %j as %s when it fits", (input, value) => {
    if (value >= parser.min && value <= parser.max) expectParsed(parser, input, value);
    else expect(() => parser.parse("n", input)).toThrow(/numerical result out of range/);
  });
});

describe.each(UNSIGNED.map((parser) => [parser.name, parser] as const))("%s", (_, parser) => {
  it.each(UNSIGNED_NUMBERS)("reads %j as %s when it fits", (input, value) => {
    if (value <= parser.max) expectParsed(parser, input, value);
    else expect(() => parser.parse("n", input)).toThrow(/numerical result out of range/);
  });

  it.each(NEGATIVE)("refuses the leading '-' of %j", (input) => {
    expect(() => parser.parse("n", input)).toThrow(/negative numbers are not allowed/);
  });
});

describe.each(ALL.map((parser) => [parser.name, parser] as const))("%s", (_, parser) => {
  it.each(NOT_NUMBERS)("refuses %j", (input) => {
    expect(() => parser.parse("n", input)).toThrow(RangeError);
  });
});

describe("each fixed width stops exactly at its limits", () => {
  for (const [parser, good, bad] of BOUNDARIES) {
    it.each(good)(`${parser.name} accepts %j`, (input) => {
      const value = parser.parse("n", input);
      expect(BigInt(value) >= parser.min && BigInt(value) <= parser.max).toBe(true);
      expect(BigInt(value)).toBe(input.trim().startsWith("-") ? -BigInt(input.trim().slice(1)) : BigInt(input));
    });
    it.each(bad)(`${parser.name} refuses %j`, (input) => {
      expect(() => parser.parse("n", input)).toThrow(RangeError);
    });
  }
});

describe("the integer parsers explain what was wrong, as nbdkit does", () => {
  it("out of range: 'could not parse number', with the type's range", () => {
    expect(() => parseInt("count", "2147483648")).toThrow(
      'count: could not parse number: "2147483648": numerical result out of range: expected -2147483648 to 2147483647 (int)',
    );
    expect(() => parseUint8("level", "0x100")).toThrow(
      'level: could not parse number: "0x100": numerical result out of range: expected 0 to 255 (uint8_t)',
    );
  });

  it("nothing at all: 'empty string where we expected a number'", () => {
    expect(() => parseInt("count", "")).toThrow("count: empty string where we expected a number");
    expect(() => parseInt64("count", "  ")).toThrow("count: empty string where we expected a number");
  });

  it("no digits: names the value and the accepted notations", () => {
    expect(() => parseInt("count", "garbage")).toThrow(
      'count: could not parse number: "garbage": no digits where we expected a number (decimal, 0x hex or 0-prefixed octal)',
    );
  });

  it("something after the number: 'trailing garbage'", () => {
    expect(() => parseInt("count", "42x")).toThrow('count: could not parse number: "42x": trailing garbage after the number');
    // "08" is the octal 0 followed by an 8, and "0x" a 0 followed by an x.
    expect(() => parseInt("count", "08")).toThrow(/trailing garbage/);
    expect(() => parseInt("count", "0x")).toThrow(/trailing garbage/);
  });

  it("a '-' given to an unsigned parser: 'negative numbers are not allowed'", () => {
    expect(() => parseUnsigned("count", "-0")).toThrow('count: could not parse number: "-0": negative numbers are not allowed');
  });

  it("range is checked before trailing garbage, in nbdkit's order", () => {
    expect(() => parseInt("count", "2147483648x")).toThrow(/numerical result out of range/);
  });

  it("refuses \\v-1 for unsigned types, where nbdkit 1.32 wrongly returns 2^64−1", () => {
    // nbdkit looks for the '-' after skipping whitespace without \v, then
    // strtoull skips the \v and negates. The intent, refusing negatives, wins.
    expect(() => parseUint64("n", "\v-1")).toThrow(/negative numbers are not allowed/);
    expect(parseInt64("n", "\v-1")).toBe(-1n);
  });

  it("returns numbers for widths up to 32 bits and bigints for 64", () => {
    expect(parseUint32("n", "0xffffffff")).toBe(4294967295);
    expect(parseInt64("n", "-0x8000000000000000")).toBe(-9223372036854775808n);
    expect(parseUint64("n", "0xffffffffffffffff")).toBe(18446744073709551615n);
  });

  it.each(ALL.map((parser) => [parser.name, parser] as const))("%s checks the types of its arguments", (name, parser) => {
    expect(() => parser.parse("n", 5 as unknown as string)).toThrow(TypeError);
    expect(() => parser.parse("n", 5 as unknown as string)).toThrow(`${name}: expected the number to parse as a string, got a number`);
    expect(() => parser.parse(undefined as unknown as string, "5")).toThrow(
      `${name}: expected what (the name used in error messages) as a string, got undefined`,
    );
  });
});
