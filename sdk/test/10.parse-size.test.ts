import { describe, expect, it } from "vitest";
import { parseSize } from "@nbdts/sdk";

// The vectors of nbdkit-api.md §3.1: upstream's server/test-public.c, then
// the additional ones verified against nbdkit 1.32.5.

const INT64_MAX = 9223372036854775807n;

describe("parseSize accepts what nbdkit_parse_size accepts", () => {
  it.each<[string, bigint]>([
    ["-0", 0n],
    ["0", 0n],
    ["+0", 0n],
    [" 08", 8n],
    ["1", 1n],
    ["+1", 1n],
    ["1234567890", 1234567890n],
    ["+1234567890", 1234567890n],
    ["9223372036854775807", INT64_MAX],
    ["1s", 512n],
    ["2S", 1024n],
    ["1b", 1n],
    ["1B", 1n],
    ["1k", 1024n],
    ["1K", 1024n],
    ["1m", 1048576n],
    ["1M", 1048576n],
    ["+1M", 1048576n],
    ["1g", 1073741824n],
    ["1G", 1073741824n],
    ["1t", 1099511627776n],
    ["1T", 1099511627776n],
    ["1p", 1125899906842624n],
    ["1P", 1125899906842624n],
    ["8191p", 8191n * 1125899906842624n],
    ["1e", 1152921504606846976n],
    ["1E", 1152921504606846976n],
  ])("upstream vector %j is %s", (input, expected) => {
    expect(parseSize(input)).toBe(expected);
  });

  it.each<[string, bigint]>([
    ["\t5", 5n],
    ["\v9", 9n],
    [" 1M", 1048576n],
    ["010", 10n],
    ["0s", 0n],
    ["00000000000000000000000000001", 1n],
    ["2e", 2n ** 61n],
    ["9007199254740993", 9007199254740993n],
    ["7E", 8070450532247928832n],
    ["-0k", 0n],
    ["\n\f\r 12", 12n],
  ])("additional vector %j is %s", (input, expected) => {
    expect(parseSize(input)).toBe(expected);
  });

  it("returns sizes beyond 2^53 exactly, as a bigint", () => {
    const size = parseSize("9007199254740993");
    expect(typeof size).toBe("bigint");
    expect(size).not.toBe(BigInt(Number(size)));
  });
});

describe("parseSize rejects what nbdkit_parse_size rejects", () => {
  it.each([
    "",
    "0x0",
    "garbage",
    "0garbage",
    "8E",
    "8192P",
    "9223372036854775808",
    "18446744073709551614",
    "18446744073709551615",
    "18446744073709551616",
    "999999999999999999999999",
    "-1",
    "-2",
    "-9223372036854775809",
    "-9223372036854775808",
    "-9223372036854775807",
    "-18446744073709551616",
    "-18446744073709551615",
    "-18446744073709551614",
    "M",
    "1MB",
    "1MiB",
    "1.5M",
  ])("upstream vector %j", (input) => {
    expect(() => parseSize(input)).toThrow(RangeError);
  });

  it.each(["17592186044415t", "1x", "1k1", "1 ", "\u0663", "1 M", "1M ", "1s1", "0x10", "+", "-", "- 1", "+-1", " ", "1\u0000"])(
    "additional vector %j",
    (input) => {
      expect(() => parseSize(input)).toThrow(RangeError);
    },
  );
});

describe("parseSize at the 2^63−1 boundary", () => {
  it.each<[string, bigint]>([
    ["9223372036854775807", INT64_MAX],
    ["9007199254740991k", 9223372036854774784n],
    ["7E", 7n << 60n],
    ["8191P", 8191n << 50n],
    ["18014398509481983s", 18014398509481983n * 512n],
    ["8388607T", 8388607n << 40n],
    ["8589934591G", 8589934591n << 30n],
    ["8796093022207M", 8796093022207n << 20n],
  ])("%j is the largest of its unit: %s", (input, expected) => {
    expect(parseSize(input)).toBe(expected);
    expect(expected <= INT64_MAX).toBe(true);
  });

  it.each(["9223372036854775808", "9007199254740992k", "8E", "8192P", "18014398509481984s", "8388608T", "8589934592G", "8796093022208M"])(
    "%j is one too many",
    (input) => {
      expect(() => parseSize(input)).toThrow(RangeError);
    },
  );

  it("rejects 17592186044415t, whose digits fit but whose product does not", () => {
    // 17592186044415 × 2^40 = 2^84 − 2^40, far beyond 2^63−1.
    expect(() => parseSize("17592186044415t")).toThrow(/too large/);
  });
});

describe("parseSize explains what was wrong", () => {
  it("says what a size looks like when the syntax is wrong", () => {
    expect(() => parseSize("1.5M")).toThrow(
      'could not parse size string "1.5M": expected a whole number with an optional suffix b, k, M, G, T, P, E or s (e.g. 512, 64k, 10G)',
    );
  });

  it("calls a negative number negative, even one too large for int64", () => {
    expect(() => parseSize("-1")).toThrow('size cannot be negative: "-1"');
    expect(() => parseSize("-99999999999999999999")).toThrow('size cannot be negative: "-99999999999999999999"');
  });

  it("names the largest size when the value overflows", () => {
    expect(() => parseSize("8E")).toThrow('size "8E" is too large: the largest is 2^63−1 bytes');
    expect(() => parseSize("99999999999999999999")).toThrow(/too large/);
  });

  it("makes invisible characters visible in the message", () => {
    expect(() => parseSize("1 ")).toThrow('"1 "');
    expect(() => parseSize("\t")).toThrow('"\\t"');
  });

  it.each([17, 17n, undefined, null, {}, ["1"]])("throws a TypeError for the non-string %s", (input) => {
    expect(() => parseSize(input as unknown as string)).toThrow(TypeError);
    expect(() => parseSize(input as unknown as string)).toThrow(/parseSize: expected the size to parse as a string/);
  });
});
