import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  parseBool,
  parseInt,
  parseInt8,
  parseInt16,
  parseInt32,
  parseInt64,
  parseSize,
  parseUint8,
  parseUint16,
  parseUint32,
  parseUint64,
  parseUnsigned,
} from "@nbdts/sdk";

// The ports are compared with nbdkit itself: a small C plugin
// (support/parse-probe.c) runs nbdkit's parsers on every vector below, and
// each TypeScript parser must accept exactly the same strings and return the
// same values.

const PARSERS: Readonly<Record<string, (str: string) => bigint | number | boolean>> = {
  size: parseSize,
  bool: parseBool,
  int: (str) => parseInt("probe", str),
  unsigned: (str) => parseUnsigned("probe", str),
  int8: (str) => parseInt8("probe", str),
  uint8: (str) => parseUint8("probe", str),
  int16: (str) => parseInt16("probe", str),
  uint16: (str) => parseUint16("probe", str),
  int32: (str) => parseInt32("probe", str),
  uint32: (str) => parseUint32("probe", str),
  int64: (str) => parseInt64("probe", str),
  uint64: (str) => parseUint64("probe", str),
};

/** Hand-picked strings near every edge of the grammars. */
const CHOSEN = [
  "", " ", "0", "-0", "+0", "1", "-1", "08", "010", "0x", "0x10", "0X1f", "0xg", "-0x80", "0x7f", "0x80", "0xff",
  "0x100", "0x7fff", "0x8000", "0xffff", "0x10000", "0x7fffffff", "-0x80000000", "0x80000000", "0xffffffff",
  "0x100000000", "0x7fffffffffffffff", "-0x8000000000000000", "0x8000000000000000", "0xffffffffffffffff",
  "0x10000000000000000", "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
  "9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551615",
  "18446744073709551616", "999999999999999999999999", "-999999999999999999999999", "-99999999999999999999",
  "1k", "1K", "1M", "1G", "1T", "1P", "1E", "1s", "1S", "1b", "1B", "2e", "7E", "8E", "8191P", "8192P",
  "9007199254740991k", "9007199254740992k", "18014398509481983s", "18014398509481984s", "17592186044415t",
  "1.5M", "1MB", "1MiB", "1 M", "1M ", " 1M", "\t5", "\v9", "\n\f\r 12", "-0k", "- 1", "+-1", "++0", "--0",
  "1x", "1k1", "42e42", "0x1p1", "1,000", "inf", "nan", "garbage", "M", "\u0663", "\uff11", "o\u212A",
  "true", "TRUE", "t", "yes", "Y", "on", "On", "false", "F", "no", "N", "off", "oFF", "01", "00", "2", "tr", "ja",
  " 1", "1 ", "yes ", " -0", "\v-1", "\v-0", "\t-1", " \v -5",
];

/** A small deterministic generator (mulberry32), so a failure can be reproduced. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Short strings over the characters the grammars care about, and long numbers near the limits. */
function generated(count: number): string[] {
  const next = random(20240611);
  const pick = (choices: string) => choices[Math.floor(next() * choices.length)] ?? "";
  const strings: string[] = [];
  for (let i = 0; i < count; i++) {
    let str = "";
    if (i % 2 === 0) {
      const length = 1 + Math.floor(next() * 7);
      for (let j = 0; j < length; j++) str += pick(" \t\v+-0178xXafgkKMsSeEbBtTy.");
    } else {
      const digits = next() < 0.3 ? "0123456789abcdef" : "0123456789";
      str = pick(" +-") + (digits.length === 16 ? "0x" : "");
      const length = 1 + Math.floor(next() * 21);
      for (let j = 0; j < length; j++) str += pick(digits);
      if (next() < 0.3) str += pick("bkMGTPEs");
    }
    strings.push(str);
  }
  return strings;
}

/**
 * nbdkit looks for an unsigned number's '-' after skipping whitespace other
 * than \v, and strtoul then skips the \v and negates: nbdkit 1.32 accepts
 * "\v-1" as 2^64−1. The SDK refuses every leading '-', as nbdkit means to.
 */
function isVerticalTabQuirk(str: string): boolean {
  return /^[ \t\n\f\r]*\v[ \t\n\v\f\r]*-/.test(str);
}

interface Verdict {
  readonly accepted: boolean;
  readonly value?: bigint;
}

let directory: string;
const VECTORS = [...CHOSEN, ...generated(6000)];
const NBDKIT: Map<string, Verdict> = new Map();

beforeAll(() => {
  for (const [command, hint] of [
    ["nbdkit", "nbdkit"],
    ["cc", "a C compiler"],
  ] as const) {
    const probe = spawnSync(command, ["--version"], { stdio: "ignore" });
    if (probe.error !== undefined || probe.status !== 0) {
      throw new Error(
        `this test compares the parsers with nbdkit itself and needs ${hint} (${command}) and nbdkit's headers; run "npm run setup" to install them`,
      );
    }
  }
  directory = mkdtempSync(join(tmpdir(), "nbdts-parse-probe-"));
  const source = fileURLToPath(new URL("./support/parse-probe.c", import.meta.url));
  const plugin = join(directory, "parse-probe.so");
  execFileSync("cc", ["-shared", "-fPIC", "-O1", "-o", plugin, source], { stdio: "pipe" });
  const input = join(directory, "vectors");
  writeFileSync(input, VECTORS.map((vector) => `${vector}\0`).join(""));
  // nbdkit logs every parse error on stderr: several megabytes.
  execFileSync("nbdkit", [plugin, `vectors=${input}`, "--dump-plugin"], { stdio: "pipe", maxBuffer: 256 << 20 });
  for (const line of readFileSync(`${input}.out`, "utf8").split("\n")) {
    if (line === "") continue;
    const [parser, index, status, value] = line.split("\t");
    NBDKIT.set(`${parser} ${index}`, status === "OK" ? { accepted: true, value: BigInt(value ?? "") } : { accepted: false });
  }
}, 60_000);

afterAll(() => {
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
});

function ours(parse: (str: string) => bigint | number | boolean, str: string): Verdict {
  try {
    const value = parse(str);
    return { accepted: true, value: typeof value === "boolean" ? (value ? 1n : 0n) : BigInt(value) };
  } catch (error) {
    expect(error).toBeInstanceOf(RangeError);
    return { accepted: false };
  }
}

describe.each(Object.entries(PARSERS))("%s agrees with nbdkit", (name, parse) => {
  it(`on ${VECTORS.length} strings`, () => {
    const disagreements: string[] = [];
    let compared = 0;
    VECTORS.forEach((str, index) => {
      const theirs = NBDKIT.get(`${name} ${index}`);
      const mine = ours(parse, str);
      const expected = name.startsWith("u") && isVerticalTabQuirk(str) ? { accepted: false } : theirs;
      if (expected === theirs) compared++;
      if (JSON.stringify(mine, bigints) !== JSON.stringify(expected, bigints)) {
        disagreements.push(`${JSON.stringify(str)}: nbdkit ${JSON.stringify(theirs, bigints)}, ours ${JSON.stringify(mine, bigints)}`);
      }
    });
    expect(disagreements).toEqual([]);
    expect(compared).toBeGreaterThan(VECTORS.length - 50);
  });
});

function bigints(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? `${value}n` : value;
}
