import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNbdkit, type NbdkitServer } from "@nbdts/native/testing";
import { afterEach, describe, expect, it } from "vitest";
import { fixture, nbdinfo, py, pyJson } from "./fixtures/part1/kit.js";

// Every callback is reached, with the arguments nbdkit gave the shim. The
// recorder fixture defines all of them and appends one JSON line per call to
// its log; the tests drive it with libnbd in /usr/bin/python3 and nbdinfo,
// then read the log back.

/** One line of the recorder's log. */
type Call = { callback: string; id?: number } & Record<string, unknown>;

interface Recorder {
  server: NbdkitServer;
  /** Every call recorded so far, in order. */
  calls(): Call[];
  /** Stops nbdkit (so close, cleanup and unload run) and returns every call. */
  stop(): Promise<Call[]>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startRecorder(
  params: Readonly<Record<string, string>> = {},
  nbdkitArgs: readonly string[] = [],
): Promise<Recorder> {
  const dir = mkdtempSync(join(tmpdir(), "nbdts-part1-"));
  const log = join(dir, "calls.jsonl");
  const server = await startNbdkit({ plugin: fixture("recorder.ts"), params: { log, ...params }, nbdkitArgs });
  const calls = (): Call[] =>
    readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Call);
  let stopped = false;
  const stop = async (): Promise<Call[]> => {
    if (!stopped) {
      stopped = true;
      await server.stop();
    }
    return calls();
  };
  cleanups.push(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, calls, stop };
}

const names = (calls: readonly Call[]): string[] => calls.map((call) => call.callback);

/** The calls of the data path (what a request reaches), without their connection id. */
const DATA = new Set(["pread", "pwrite", "flush", "trim", "zero", "extents", "cache"]);
function dataCalls(calls: readonly Call[]): Record<string, unknown>[] {
  return calls.filter((call) => DATA.has(call.callback)).map(({ id: _id, ...rest }) => rest);
}

/** The flags fields of a recorded data call, from the raw bits. */
function flags(raw: number): Record<string, unknown> {
  return { fua: (raw & 2) !== 0, mayTrim: (raw & 1) !== 0, reqOne: (raw & 4) !== 0, fastZero: (raw & 8) !== 0, raw };
}

/** nbdkit's order of per-connection questions (nbdkit-api.md §1, "Per-connection negotiation order"). */
const NEGOTIATION = [
  "getSize",
  "canWrite",
  "canZero",
  "canFastZero",
  "canTrim",
  "canFua",
  "canFlush",
  "isRotational",
  "canMultiConn",
  "canCache",
  "canExtents",
];

describe("the server's lifecycle", () => {
  it("load, config, configComplete, threadModel, getReady and afterFork run once each, in that order, then cleanup and unload at shutdown", async () => {
    const recorder = await startRecorder({ size: "2M", fua: "emulate" });
    const calls = await recorder.stop();
    const log = calls.find((call) => call.callback === "config")?.value;
    expect(calls).toEqual([
      { callback: "load" },
      { callback: "config", key: "log", value: log },
      { callback: "configComplete", size: "2097152", fua: "emulate" },
      { callback: "threadModel" },
      { callback: "getReady", size: "2097152" },
      { callback: "afterFork", size: "2097152" },
      { callback: "cleanup" },
      { callback: "unload" },
    ]);
  });

  it("cleanup and unload come after the last connection has closed", async () => {
    const recorder = await startRecorder();
    await py("h = nbd.NBD()\nh.connect_uri(sys.argv[1])\nh.pread(512, 0)\nh.shutdown()", [recorder.server.uri]);
    const calls = names(await recorder.stop());
    expect(calls.slice(-3)).toEqual(["close", "cleanup", "unload"]);
  });
});

describe("a connection", () => {
  it("preconnect, defaultExport and open come first; open gets the canonical export name; then every question once, in nbdkit's order; close last", async () => {
    const recorder = await startRecorder();
    await py("h = nbd.NBD()\nh.connect_uri(sys.argv[1])\nh.shutdown()", [recorder.server.uri]);
    const calls = (await recorder.stop()).filter((call) => !["load", "config", "configComplete", "threadModel", "getReady", "afterFork", "cleanup", "unload"].includes(call.callback));
    expect(calls.slice(0, 3)).toEqual([
      { callback: "preconnect", readonly: false },
      { callback: "defaultExport", readonly: false, tls: false },
      {
        callback: "open",
        id: 1,
        readonly: false,
        exportName: "first",
        tls: false,
        helperExportName: "first",
        helperIsTls: false,
        fua: "native",
      },
    ]);
    const questions = names(calls.slice(3)).filter((name) => name !== "blockSize" && name !== "close");
    expect(questions).toEqual(NEGOTIATION);
    // libnbd asks for block sizes during the handshake; nbdkit answers after the can_* questions.
    expect(names(calls).indexOf("blockSize")).toBeGreaterThan(names(calls).indexOf("canExtents"));
    expect(calls.at(-1)).toEqual({ callback: "close", id: 1 });
    expect(calls.every((call) => call.id === undefined || call.id === 1)).toBe(true);
  });

  it("under nbdkit -r, preconnect and open are told readonly, and canWrite is never asked", async () => {
    const recorder = await startRecorder({}, ["-r"]);
    const info = await nbdinfo(recorder.server.uri);
    expect(info.is_read_only).toBe(true);
    const calls = await recorder.stop();
    expect(calls.find((call) => call.callback === "preconnect")).toEqual({ callback: "preconnect", readonly: true });
    expect(calls.find((call) => call.callback === "open")).toMatchObject({ readonly: true, exportName: "first" });
    expect(names(calls)).not.toContain("canWrite");
  });

  it("over TLS, defaultExport, listExports and open are told so, and isTls() agrees", async () => {
    // A pre-shared key: nbdkit needs no certificates for it.
    const dir = mkdtempSync(join(tmpdir(), "nbdts-part1-tls-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const keys = join(dir, "keys.psk");
    writeFileSync(keys, `alice:${"5a".repeat(32)}\n`, { mode: 0o600 });
    const recorder = await startRecorder({}, ["--tls=require", `--tls-psk=${keys}`]);
    const script = [
      "def connect(opt_mode):",
      "    h = nbd.NBD()",
      "    h.set_tls(nbd.TLS_REQUIRE)",
      "    h.set_tls_psk_file(sys.argv[2])",
      "    h.set_tls_username('alice')",
      "    h.set_opt_mode(opt_mode)",
      "    h.connect_unix(sys.argv[1])",
      "    return h",
      "h = connect(True)",
      "listed = []",
      "h.opt_list(lambda name, description: listed.append(name))",
      "h.opt_abort()",
      "h = connect(False)",
      "negotiated = h.get_tls_negotiated()",
      "h.shutdown()",
      "print(json.dumps([listed, negotiated]))",
    ].join("\n");
    expect(await pyJson(script, [recorder.server.socket, keys])).toEqual([["first", "second"], true]);
    const calls = await recorder.stop();
    expect(calls).toContainEqual({ callback: "listExports", readonly: false, tls: true });
    expect(calls).toContainEqual({ callback: "defaultExport", readonly: false, tls: true });
    expect(calls.find((call) => call.callback === "open")).toMatchObject({ tls: true, helperIsTls: true, exportName: "first" });
  });

  it("the answers of isRotational, canMultiConn, blockSize and exportDescription reach the client", async () => {
    const recorder = await startRecorder();
    const info = await nbdinfo(recorder.server.uri);
    expect(info).toMatchObject({
      "export-name": "first",
      description: "recorded export first",
      is_rotational: true,
      can_multi_conn: true,
      can_cache: true,
      can_fast_zero: true,
      can_flush: true,
      can_fua: true,
      can_trim: true,
      can_zero: true,
      block_size_minimum: 1,
      block_size_preferred: 4096,
      block_size_maximum: 4294967295,
      "export-size": 1048576,
    });
    expect(names(await recorder.stop())).toContain("exportDescription");
  });

  it("each connection's callbacks get that connection's own handle", async () => {
    const recorder = await startRecorder();
    const script = [
      "a = nbd.NBD(); a.connect_uri(sys.argv[1])",
      "b = nbd.NBD(); b.connect_uri(sys.argv[1])",
      "a.pwrite(b'A' * 512, 0)",
      "b.pwrite(b'B' * 512, 512)",
      "print(json.dumps([a.pread(1, 512).decode(), b.pread(1, 0).decode()]))",
      "a.shutdown(); b.shutdown()",
    ].join("\n");
    // The disk is shared: each connection reads what the other wrote.
    expect(await pyJson(script, [recorder.server.uri])).toEqual(["B", "A"]);
    const calls = await recorder.stop();
    expect(calls.filter((call) => call.callback === "open").map((call) => call.id)).toEqual([1, 2]);
    expect(dataCalls(calls.filter((call) => call.id === 1))).toEqual([
      { callback: "pwrite", count: 512, offset: "0", ...flags(0) },
      { callback: "pread", count: 1, offset: "512", ...flags(0) },
    ]);
    expect(dataCalls(calls.filter((call) => call.id === 2))).toEqual([
      { callback: "pwrite", count: 512, offset: "512", ...flags(0) },
      { callback: "pread", count: 1, offset: "0", ...flags(0) },
    ]);
    expect(calls.filter((call) => call.callback === "close").map((call) => call.id).sort()).toEqual([1, 2]);
  });
});

describe("listing exports", () => {
  it("listExports is asked (with readonly and tls) and the client sees its names and descriptions", async () => {
    const recorder = await startRecorder();
    const script = [
      "h = nbd.NBD()",
      "h.set_opt_mode(True)",
      "h.connect_uri(sys.argv[1])",
      "seen = []",
      "h.opt_list(lambda name, description: seen.append([name, description]))",
      "h.opt_abort()",
      "print(json.dumps(seen))",
    ].join("\n");
    expect(await pyJson(script, [recorder.server.uri])).toEqual([
      ["first", "the first export"],
      ["second", ""],
    ]);
    const calls = await recorder.stop();
    expect(calls).toContainEqual({ callback: "listExports", readonly: false, tls: false });
    expect(names(calls)).not.toContain("open");
  });
});

describe("the data path", () => {
  it("pread, pwrite, trim, zero, cache, flush and extents get the client's exact counts and offsets", async () => {
    const recorder = await startRecorder();
    const script = [
      "h = nbd.NBD()",
      "h.add_meta_context('base:allocation')",
      "h.connect_uri(sys.argv[1])",
      "h.pwrite(b'\\x5a' * 4096, 8192)",
      "data = h.pread(1024, 8192 + 1536)",
      "h.trim(4096, 12288)",
      "h.zero(2048, 20480, nbd.CMD_FLAG_NO_HOLE)",
      "h.cache(8192, 65536)",
      "h.flush()",
      "entries = []",
      "h.block_status(131072, 1024, lambda ctx, off, e, err: entries.extend(e))",
      "h.shutdown()",
      "print(json.dumps([data == b'\\x5a' * 1024, entries]))",
    ].join("\n");
    const [readBack, entries] = await pyJson<[boolean, number[]]>(script, [recorder.server.uri]);
    expect(readBack).toBe(true);
    // The plugin's two extents, as the client sees them from offset 1024.
    expect(entries).toEqual([65536 - 1024, 0, 1048576 - 65536, 3]);
    expect(dataCalls(await recorder.stop())).toEqual([
      { callback: "pwrite", count: 4096, offset: "8192", ...flags(0) },
      { callback: "pread", count: 1024, offset: "9728", ...flags(0) },
      { callback: "trim", count: 4096, offset: "12288", ...flags(0) },
      { callback: "zero", count: 2048, offset: "20480", ...flags(0) },
      { callback: "cache", count: 8192, offset: "65536", ...flags(0) },
      { callback: "flush", ...flags(0) },
      { callback: "extents", count: 131072, offset: "1024", ...flags(0) },
    ]);
  });

  it("offsets beyond 4 GiB arrive exactly", async () => {
    const recorder = await startRecorder({ size: "8G" });
    const offset = 2 ** 32 + 3 * 4096;
    const script = [
      "h = nbd.NBD()",
      "h.connect_uri(sys.argv[1])",
      `h.pwrite(b'high' * 1024, ${offset})`,
      `print(json.dumps([h.pread(4, ${offset}).decode(), h.pread(4, ${offset - 4096}).hex()]))`,
      "h.shutdown()",
    ].join("\n");
    expect(await pyJson(script, [recorder.server.uri])).toEqual(["high", "00000000"]);
    expect(dataCalls(await recorder.stop())).toEqual([
      { callback: "pwrite", count: 4096, offset: String(offset), ...flags(0) },
      { callback: "pread", count: 4, offset: String(offset), ...flags(0) },
      { callback: "pread", count: 4, offset: String(offset - 4096), ...flags(0) },
    ]);
  });
});

describe("flags", () => {
  const FUA_SCRIPT = [
    "h = nbd.NBD()",
    "h.connect_uri(sys.argv[1])",
    "h.pwrite(b'f' * 512, 0, nbd.CMD_FLAG_FUA)",
    "h.trim(512, 1024, nbd.CMD_FLAG_FUA)",
    "h.zero(512, 2048, nbd.CMD_FLAG_FUA)",
    "h.shutdown()",
  ].join("\n");

  it('with canFua "native", pwrite, trim and zero receive flags.fua and nbdkit adds no flush', async () => {
    const recorder = await startRecorder({ fua: "native" });
    await py(FUA_SCRIPT, [recorder.server.uri]);
    expect(dataCalls(await recorder.stop())).toEqual([
      { callback: "pwrite", count: 512, offset: "0", ...flags(2) },
      { callback: "trim", count: 512, offset: "1024", ...flags(2) },
      { callback: "zero", count: 512, offset: "2048", ...flags(2 | 1) },
    ]);
  });

  it('with canFua "emulate", the writes arrive without fua and nbdkit calls flush after each', async () => {
    const recorder = await startRecorder({ fua: "emulate" });
    await py(FUA_SCRIPT, [recorder.server.uri]);
    expect(dataCalls(await recorder.stop())).toEqual([
      { callback: "pwrite", count: 512, offset: "0", ...flags(0) },
      { callback: "flush", ...flags(0) },
      { callback: "trim", count: 512, offset: "1024", ...flags(0) },
      { callback: "flush", ...flags(0) },
      { callback: "zero", count: 512, offset: "2048", ...flags(1) },
      { callback: "flush", ...flags(0) },
    ]);
  });

  it("zero gets mayTrim unless the client sends NO_HOLE, and fastZero when it sends FAST_ZERO", async () => {
    const recorder = await startRecorder();
    const script = [
      "h = nbd.NBD()",
      "h.connect_uri(sys.argv[1])",
      "h.zero(4096, 0)",
      "h.zero(4096, 4096, nbd.CMD_FLAG_NO_HOLE)",
      "h.zero(4096, 8192, nbd.CMD_FLAG_FAST_ZERO)",
      "h.zero(4096, 12288, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE)",
      "h.shutdown()",
    ].join("\n");
    await py(script, [recorder.server.uri]);
    expect(dataCalls(await recorder.stop())).toEqual([
      { callback: "zero", count: 4096, offset: "0", ...flags(1) },
      { callback: "zero", count: 4096, offset: "4096", ...flags(0) },
      { callback: "zero", count: 4096, offset: "8192", ...flags(8 | 1) },
      { callback: "zero", count: 4096, offset: "12288", ...flags(8) },
    ]);
  });

  it("extents gets reqOne when the client sends REQ_ONE, and the client then sees one extent", async () => {
    const recorder = await startRecorder();
    const script = [
      "h = nbd.NBD()",
      "h.add_meta_context('base:allocation')",
      "h.connect_uri(sys.argv[1])",
      "every, one = [], []",
      "h.block_status(1048576, 0, lambda ctx, off, e, err: every.extend(e))",
      "h.block_status(1048576, 0, lambda ctx, off, e, err: one.extend(e), nbd.CMD_FLAG_REQ_ONE)",
      "h.shutdown()",
      "print(json.dumps([every, one]))",
    ].join("\n");
    const [every, one] = await pyJson<[number[], number[]]>(script, [recorder.server.uri]);
    expect(every).toEqual([65536, 0, 1048576 - 65536, 3]);
    expect(one).toEqual([65536, 0]);
    expect(dataCalls(await recorder.stop())).toEqual([
      { callback: "extents", count: 1048576, offset: "0", ...flags(0) },
      { callback: "extents", count: 1048576, offset: "0", ...flags(4) },
    ]);
  });
});
