import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pythonPath, run } from "@nbdts/native/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PYTHON_PRELUDE, SHIM, expectSuccess, fixture } from "./fixtures/part1/kit.js";

// nbdkit-api.md §1: what nbdkit does when a plugin leaves a callback out.
// The shim must reproduce it for TypeScript plugins, so every row is
// checked differentially: nbdkit serving a C plugin compiled with exactly
// that set of callbacks (fixtures/part1/defaults.c) against nbdkit serving
// the TypeScript twin with the same set (fixtures/part1/defaults.ts). The
// two must look identical to clients; each row also states what that is.

/**
 * A set of optional callbacks: tokens of defaults.ts, each the camelCase of
 * a HAVE_* macro of defaults.c (canZeroFalse is HAVE_CAN_ZERO_FALSE).
 */
type Callbacks = readonly string[];

let work: string;
/** The compiled C plugin of each callback set, by the set's key (compiled once, on first use). */
const compiled = new Map<string, Promise<string>>();
let scripts = 0;

const keyOf = (callbacks: Callbacks): string => [...callbacks].sort().join(",");
const macro = (token: string): string => `-DHAVE_${token.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

function compile(callbacks: Callbacks): Promise<string> {
  const key = keyOf(callbacks);
  let output = compiled.get(key);
  if (output === undefined) {
    output = compileNew(callbacks, join(work, `defaults-${compiled.size}.so`));
    compiled.set(key, output);
  }
  return output;
}

async function compileNew(callbacks: Callbacks, output: string): Promise<string> {
  const cflags = (await run("pkg-config", ["--cflags", "nbdkit"])).stdout.trim().split(/\s+/).filter((flag) => flag !== "");
  expectSuccess(
    await run("gcc", ["-shared", "-fPIC", "-Wall", ...cflags, ...callbacks.map(macro), "-o", output, fixture("defaults.c")]),
    `gcc ${callbacks.map(macro).join(" ")}`,
  );
  return output;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "nbdts-part1-defaults-"));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

type Side = "C" | "TypeScript";

/**
 * Serves the callback set from one side with nbdkit and runs a Python
 * script against it (`sys.argv[1]` is the URI); returns the JSON the script
 * printed last.
 */
async function probe(side: Side, callbacks: Callbacks, script: string, nbdkitArgs: readonly string[] = []): Promise<unknown> {
  const file = join(work, `probe-${scripts++}.py`);
  writeFileSync(file, `${PYTHON_PRELUDE}\n${script}\n`);
  const plugin = side === "C" ? [await compile(callbacks)] : [SHIM, `plugin=${fixture("defaults.ts")}`];
  const result = expectSuccess(
    await run("nbdkit", ["-U", "-", ...nbdkitArgs, ...plugin, "--run", `${pythonPath()} ${file} "$uri"`], {
      env: { NBDTS_FIXTURE_CALLBACKS: callbacks.join(",") },
    }),
    `${side} plugin with ${callbacks.join(",") || "no optional callbacks"}`,
  );
  const lines = result.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1] ?? "null");
}

/** Probes both sides concurrently: [C, TypeScript]. */
function probeBoth(callbacks: Callbacks, script: string, nbdkitArgs: readonly string[] = []): Promise<[unknown, unknown]> {
  return Promise.all([probe("C", callbacks, script, nbdkitArgs), probe("TypeScript", callbacks, script, nbdkitArgs)]);
}

/**
 * What a client sees of an export: nbdinfo --json (without the URI, which
 * names nbdkit's private socket) and the extents of the whole disk.
 */
const DESCRIBE_EXPORT = `
import subprocess
info = json.loads(subprocess.run(['nbdinfo', '--json', sys.argv[1]], check=True, capture_output=True).stdout)['exports'][0]
del info['uri']
h = nbd.NBD()
h.add_meta_context('base:allocation')
h.connect_uri(sys.argv[1])
extents = []
h.block_status(h.get_size(), 0, lambda ctx, off, entries, err: extents.extend(entries))
h.shutdown()
print(json.dumps({'info': info, 'extents': extents}))
`;

interface ExportView {
  info: Record<string, unknown>;
  extents: number[];
}

const MIB = 1048576;
const ONE_DATA_EXTENT = [MIB, 0];
const DATA_THEN_HOLE = [65536, 0, MIB - 65536, 3];

interface Row {
  title: string;
  callbacks: Callbacks;
  nbdkitArgs?: readonly string[];
  /** What nbdinfo reports (a subset of the fields). */
  info: Record<string, unknown>;
  extents?: number[];
}

const NOTHING_WRITABLE = {
  is_read_only: true,
  can_flush: false,
  can_trim: false,
  can_zero: false,
  can_fast_zero: false,
  can_fua: false,
  can_multi_conn: false,
  can_cache: false,
  is_rotational: false,
};

const ROWS: Row[] = [
  { title: "pread only: read-only, nothing else advertised", callbacks: [], info: NOTHING_WRITABLE, extents: ONE_DATA_EXTENT },
  {
    title: "pwrite: writable; write-zeroes (emulated) and fast zero advertised; no flush, FUA or trim",
    callbacks: ["pwrite"],
    info: { is_read_only: false, can_zero: true, can_fast_zero: true, can_flush: false, can_fua: false, can_trim: false },
  },
  {
    title: "pwrite and flush: flush advertised, and FUA (emulated with flush)",
    callbacks: ["pwrite", "flush"],
    info: { is_read_only: false, can_flush: true, can_fua: true },
  },
  { title: "pwrite and trim: trim advertised", callbacks: ["pwrite", "trim"], info: { can_trim: true, can_flush: false } },
  {
    title: "pwrite and zero: write-zeroes advertised, fast zero not (nbdkit 1.32)",
    callbacks: ["pwrite", "zero"],
    info: { can_zero: true, can_fast_zero: false },
  },
  {
    title: "pwrite and zero with canZero false: write-zeroes still advertised, fast zero not (nbdkit 1.32's tri-state)",
    callbacks: ["pwrite", "zero", "canZeroFalse"],
    info: { can_zero: true, can_fast_zero: false },
  },
  { title: "cache: cache advertised, even read-only", callbacks: ["cache"], info: { can_cache: true, is_read_only: true } },
  { title: "extents: the plugin's extents reach the client", callbacks: ["extents"], info: NOTHING_WRITABLE, extents: DATA_THEN_HOLE },
  {
    title: 'canFua "native" with flush: FUA and flush advertised',
    callbacks: ["pwrite", "flush", "canFuaNative"],
    info: { can_fua: true, can_flush: true },
  },
  {
    title: 'canFua "native" without flush: FUA advertised, flush not',
    callbacks: ["pwrite", "canFuaNative"],
    info: { can_fua: true, can_flush: false },
  },
  { title: 'canFua "native" on a read-only disk: FUA not advertised', callbacks: ["canFuaNative"], info: { can_fua: false, is_read_only: true } },
  {
    title: 'canFua "emulate" without flush: FUA advertised, flush not',
    callbacks: ["pwrite", "canFuaEmulate"],
    info: { can_fua: true, can_flush: false },
  },
  {
    title: "canZero true without zero: write-zeroes and fast zero advertised",
    callbacks: ["pwrite", "canZeroTrue"],
    info: { can_zero: true, can_fast_zero: true },
  },
  { title: "canMultiConn true: multi-conn advertised", callbacks: ["canMultiConnTrue"], info: { can_multi_conn: true } },
  { title: 'canCache "emulate" without cache: cache advertised', callbacks: ["canCacheEmulate"], info: { can_cache: true } },
  { title: 'canCache "native" without cache: cache advertised', callbacks: ["canCacheNative"], info: { can_cache: true } },
  { title: "isRotational true: rotational", callbacks: ["isRotationalTrue"], info: { is_rotational: true } },
  {
    title: "blockSize: the block sizes reach the client",
    callbacks: ["blockSize"],
    info: { block_size_minimum: 512, block_size_preferred: 4096, block_size_maximum: MIB },
  },
  {
    title: "canWrite true without pwrite: writable, with emulated write-zeroes",
    callbacks: ["canWriteTrue"],
    info: { is_read_only: false, can_zero: true, can_fast_zero: true },
  },
  { title: "canFlush true without flush: flush advertised, FUA not", callbacks: ["pwrite", "canFlushTrue"], info: { can_flush: true, can_fua: false } },
  { title: "canTrim true without trim: trim advertised", callbacks: ["pwrite", "canTrimTrue"], info: { can_trim: true } },
  { title: "canTrim true on a read-only disk: trim not advertised", callbacks: ["canTrimTrue"], info: { can_trim: false } },
  {
    title: "zero that is not supported, with canFastZero true: fast zero advertised",
    callbacks: ["pwrite", "zeroNotSupported", "canFastZeroTrue"],
    info: { can_zero: true, can_fast_zero: true },
  },
  { title: "canFastZero true on a read-only disk: fast zero not advertised", callbacks: ["canFastZeroTrue"], info: { can_fast_zero: false } },
  {
    title: "every data callback: everything advertised but multi-conn and rotation",
    callbacks: ["pwrite", "flush", "trim", "zero", "extents", "cache"],
    info: {
      is_read_only: false,
      can_flush: true,
      can_fua: true,
      can_trim: true,
      can_zero: true,
      can_fast_zero: false,
      can_cache: true,
      can_multi_conn: false,
      is_rotational: false,
    },
    extents: DATA_THEN_HOLE,
  },
  {
    title: "every data callback under nbdkit -r: read-only, so no write, trim, zero or FUA",
    callbacks: ["pwrite", "flush", "trim", "zero", "extents", "cache"],
    nbdkitArgs: ["-r"],
    info: { is_read_only: true, can_trim: false, can_zero: false, can_fast_zero: false, can_fua: false },
  },
];

describe("what a client sees when callbacks are absent: the TypeScript plugin matches the C plugin", () => {
  for (const row of ROWS) {
    it(row.title, async () => {
      const [c, ts] = (await probeBoth(row.callbacks, DESCRIBE_EXPORT, row.nbdkitArgs)) as [ExportView, ExportView];
      expect(ts).toEqual(c);
      expect(c.info).toMatchObject({ "export-size": MIB, ...row.info });
      if (row.extents !== undefined) expect(c.extents).toEqual(row.extents);
    });
  }
});

/** The body of a behaviour probe: `h` is connected (`attempt(f)` comes from the prelude). */
function behaviour(body: string): string {
  return [
    "h = nbd.NBD()",
    "h.connect_uri(sys.argv[1])",
    body,
    "h.shutdown()",
  ].join("\n");
}

/** Writes 8 KiB of 'x', zeroes the first 4 KiB with `zeroFlags`; reports the outcome and what the disk then holds. */
const ZERO_AND_READ = (zeroFlags: string) =>
  behaviour(
    [
      "h.pwrite(b'x' * 8192, 0)",
      `outcome = attempt(lambda: h.zero(4096, 0, ${zeroFlags}))`,
      "data = h.pread(8192, 0)",
      "first = 'zeroes' if data[:4096] == bytes(4096) else 'x' if data[:4096] == b'x' * 4096 else 'mixed'",
      "print(json.dumps([outcome, first, data[4096:] == b'x' * 4096]))",
    ].join("\n"),
  );

interface Behaviour {
  title: string;
  callbacks: Callbacks;
  script: string;
  expected: unknown;
}

const BEHAVIOURS: Behaviour[] = [
  {
    title: "without zero, a write-zeroes is done with pwrite: the range reads back as zeroes",
    callbacks: ["pwrite"],
    script: ZERO_AND_READ("0"),
    expected: ["ok", "zeroes", true],
  },
  {
    title: "without zero, a FAST_ZERO write-zeroes fails with ENOTSUP and leaves the data alone",
    callbacks: ["pwrite"],
    script: ZERO_AND_READ("nbd.CMD_FLAG_FAST_ZERO"),
    expected: ["ENOTSUP", "x", true],
  },
  {
    title: "zero throwing NbdError.notSupported() falls back to pwrite: the range reads back as zeroes",
    callbacks: ["pwrite", "zeroNotSupported", "canFastZeroTrue"],
    script: ZERO_AND_READ("0"),
    expected: ["ok", "zeroes", true],
  },
  {
    title: "zero throwing NbdError.notSupported() fails a FAST_ZERO write-zeroes with ENOTSUP and leaves the data alone",
    callbacks: ["pwrite", "zeroNotSupported", "canFastZeroTrue"],
    script: ZERO_AND_READ("nbd.CMD_FLAG_FAST_ZERO"),
    expected: ["ENOTSUP", "x", true],
  },
  {
    title: "with canZero false, zero is not called: a write-zeroes is done with pwrite",
    callbacks: ["pwrite", "zeroNotSupported", "canZeroFalse"],
    script: ZERO_AND_READ("nbd.CMD_FLAG_NO_HOLE"),
    expected: ["ok", "zeroes", true],
  },
  {
    title: "canZero true without zero: a write-zeroes is done with pwrite, and a FAST_ZERO one fails with ENOTSUP",
    callbacks: ["pwrite", "canZeroTrue"],
    script: behaviour(
      [
        "h.pwrite(b'x' * 8192, 0)",
        "fast = attempt(lambda: h.zero(4096, 4096, nbd.CMD_FLAG_FAST_ZERO))",
        "slow = attempt(lambda: h.zero(4096, 0))",
        "print(json.dumps([fast, slow, h.pread(4096, 0) == bytes(4096), h.pread(4096, 4096) == b'x' * 4096]))",
      ].join("\n"),
    ),
    expected: ["ENOTSUP", "ok", true, true],
  },
  {
    title: "trim absent but canTrim true: a trim fails with EINVAL",
    callbacks: ["pwrite", "canTrimTrue"],
    script: behaviour("print(json.dumps(attempt(lambda: h.trim(4096, 0))))"),
    expected: "EINVAL",
  },
  {
    title: "flush absent but canFlush true: a flush fails with EINVAL",
    callbacks: ["pwrite", "canFlushTrue"],
    script: behaviour("print(json.dumps(attempt(lambda: h.flush())))"),
    expected: "EINVAL",
  },
  {
    title: "pwrite absent but canWrite true: a write fails with EPERM (nbdkit fails it with EROFS, which the wire carries as EPERM), and so does an emulated write-zeroes",
    callbacks: ["canWriteTrue"],
    script: behaviour(
      "print(json.dumps([attempt(lambda: h.pwrite(b'x' * 512, 0)), attempt(lambda: h.zero(512, 0)), h.pread(512, 0) == bytes(512)]))",
    ),
    expected: ["EPERM", "EPERM", true],
  },
  {
    title: 'canFua "emulate" without flush: a FUA write is written, then fails with EINVAL from the missing flush',
    callbacks: ["pwrite", "canFuaEmulate"],
    script: behaviour(
      "print(json.dumps([attempt(lambda: h.pwrite(b'f' * 512, 0, nbd.CMD_FLAG_FUA)), attempt(lambda: h.pwrite(b'g' * 512, 512)), h.pread(1024, 0) == b'f' * 512 + b'g' * 512]))",
    ),
    expected: ["EINVAL", "ok", true],
  },
  {
    title: 'cache absent but canCache "native": a cache request succeeds at once',
    callbacks: ["canCacheNative"],
    script: behaviour("print(json.dumps(attempt(lambda: h.cache(65536, 0))))"),
    expected: "ok",
  },
  {
    title: 'canCache "emulate": a cache request succeeds (nbdkit reads the range)',
    callbacks: ["canCacheEmulate"],
    script: behaviour("print(json.dumps(attempt(lambda: h.cache(65536, 0))))"),
    expected: "ok",
  },
  {
    title: "FUA emulated with flush: a FUA write succeeds and the data reads back",
    callbacks: ["pwrite", "flush"],
    script: behaviour(
      "print(json.dumps([attempt(lambda: h.pwrite(b'f' * 512, 512, nbd.CMD_FLAG_FUA)), h.pread(512, 512) == b'f' * 512]))",
    ),
    expected: ["ok", true],
  },
  {
    title: "extents absent: a REQ_ONE block status still gets one allocated extent covering the request",
    callbacks: [],
    script: [
      "h = nbd.NBD()",
      "h.add_meta_context('base:allocation')",
      "h.connect_uri(sys.argv[1])",
      "seen = []",
      "h.block_status(4096, 8192, lambda ctx, off, entries, err: seen.extend(entries), nbd.CMD_FLAG_REQ_ONE)",
      "h.shutdown()",
      "print(json.dumps(seen))",
    ].join("\n"),
    expected: [4096, 0],
  },
];

describe("what a client gets when it uses a callback that is absent: the TypeScript plugin matches the C plugin", () => {
  for (const { title, callbacks, script, expected } of BEHAVIOURS) {
    it(title, async () => {
      const [c, ts] = await probeBoth(callbacks, script);
      expect(ts).toEqual(c);
      expect(c).toEqual(expected);
    });
  }
});
