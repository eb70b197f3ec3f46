/**
 * A test kit for plugin authors: runs a plugin under real nbdkit, loading the
 * real nbdkit-ts-plugin.so, on a private Unix socket, and always tears it
 * down.
 *
 * ```ts
 * import { startNbdkit, python } from "@nbdts/native/testing";
 *
 * const server = await startNbdkit({ plugin: "./my-plugin.ts", params: { size: "1M" } });
 * try {
 *   const out = await python(server.uri, "print(h.get_size())");
 * } finally {
 *   await server.stop();
 * }
 * ```
 *
 * Every wait is bounded, every process is stopped by PID, and servers still
 * running when the test process exits are killed.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shimPath } from "../addon.js";

/** Parameters for the plugin: `key=value` pairs, or raw words (bare words allowed). */
export type PluginParams = Readonly<Record<string, string | number | bigint | boolean>> | readonly string[];

export interface NbdkitOptions {
  /** The plugin: an npm package or a path, as for `nbdkit ts plugin=...`. */
  plugin: string;
  /** The plugin's parameters. */
  params?: PluginParams;
  /** nbdkit options placed before the plugin (e.g. ["-r"], ["--filter=cow"], ["-v"]). */
  nbdkitArgs?: readonly string[];
  /** Extra environment for nbdkit (and the Node host it starts). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Working directory of nbdkit (relative plugin paths resolve from here). */
  cwd?: string;
  /** How long nbdkit may take to get ready. Default 30 s. */
  readyTimeoutMs?: number;
  /**
   * Listen on TCP, on a free port of 127.0.0.1, instead of a private Unix
   * socket (to test what differs over TCP: peerPid() and friends fail there).
   */
  tcp?: boolean;
}

export interface NbdkitServer {
  /** The NBD URI of the default export. */
  readonly uri: string;
  /** The Unix socket nbdkit listens on; "" when it listens on TCP (`tcp: true`). */
  readonly socket: string;
  /** The TCP port nbdkit listens on (on 127.0.0.1) with `tcp: true`, else undefined. */
  readonly port: number | undefined;
  /** nbdkit's process ID. */
  readonly pid: number;
  /** The URI of a named export. */
  uriFor(exportName: string): string;
  /** Everything nbdkit (and the host) printed so far on stdout and stderr. */
  log(): string;
  /**
   * Waits until the log matches `pattern` (a substring or a RegExp) and
   * returns the log; throws, with the log, after `timeoutMs` (default 30 s)
   * or if nbdkit exits first without having printed it.
   */
  waitForLog(pattern: string | RegExp, timeoutMs?: number): Promise<string>;
  /** The Node host's process ID, read from /proc. */
  hostPid(): number | undefined;
  /** Resolves when nbdkit exits, with its status. */
  readonly exited: Promise<ExitStatus>;
  /** Stops nbdkit (SIGTERM, then SIGKILL after `timeoutMs`) and removes its directory. */
  stop(timeoutMs?: number): Promise<ExitStatus>;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The result of running nbdkit (or a client) to completion. */
export interface RunResult extends ExitStatus {
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** The command-line words for a plugin's parameters. */
export function paramWords(params: PluginParams | undefined): string[] {
  if (params === undefined) return [];
  if (Array.isArray(params)) return [...(params as readonly string[])];
  return Object.entries(params).map(([key, value]) => `${key}=${String(value)}`);
}

/** nbdkit's arguments to run `plugin` through the shim. */
export function nbdkitPluginArgs(plugin: string, params?: PluginParams): string[] {
  return [shimPath(), `plugin=${plugin}`, ...paramWords(params)];
}

/** The `nbd+unix://` URI of an export on a socket. */
export function unixUri(socket: string, exportName = ""): string {
  const path = exportName === "" ? "" : encodeURIComponent(exportName);
  return `nbd+unix:///${path}?socket=${encodeURIComponent(socket)}`;
}

function environment(extra: NbdkitOptions["env"]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(extra ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error(`could not find a free TCP port: the server's address is ${String(address)}`));
      });
    });
  });
}

/** Starts nbdkit with the plugin and waits until it accepts connections. */
export async function startNbdkit(options: NbdkitOptions): Promise<NbdkitServer> {
  if (options.tcp !== true) return startNbdkitOnce(options, undefined);
  // Another process may take the port between freePort() and nbdkit's bind:
  // then nbdkit fails with EADDRINUSE, and a new port is tried.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await startNbdkitOnce(options, port);
    } catch (error) {
      if (attempt >= 3 || !/Address already in use/.test((error as Error).message)) throw error;
    }
  }
}

async function startNbdkitOnce(options: NbdkitOptions, port: number | undefined): Promise<NbdkitServer> {
  const dir = mkdtempSync(join(tmpdir(), "nbdts-test-"));
  const socket = port === undefined ? join(dir, "nbd.sock") : "";
  const pidfile = join(dir, "nbdkit.pid");
  const listen = port === undefined ? ["-U", socket] : ["-p", String(port), "-i", "127.0.0.1"];
  const args = [
    "-f",
    "--exit-with-parent",
    ...listen,
    "-P",
    pidfile,
    ...(options.nbdkitArgs ?? []),
    ...nbdkitPluginArgs(options.plugin, options.params),
  ];
  const child = spawn("nbdkit", args, {
    cwd: options.cwd ?? process.cwd(),
    env: environment(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<ExitStatus>((resolve) => {
    child.on("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  let exitStatus: ExitStatus | undefined;
  void exited.then((status) => (exitStatus = status));
  // Output may still arrive after "exit": "close" is when every writer of
  // the pipes (nbdkit and the Node host) has gone.
  let outputClosed = false;
  child.on("close", () => (outputClosed = true));

  const stop = async (timeoutMs = 10_000): Promise<ExitStatus> => {
    if (exitStatus === undefined) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
    return exited;
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (existsSync(pidfile) && readFileSync(pidfile, "utf8").trim() !== "") break;
    if (exitStatus !== undefined) {
      await stop();
      throw new Error(
        `nbdkit exited before it was ready (code ${exitStatus.code}, signal ${exitStatus.signal}):\n` +
          `  nbdkit ${args.join(" ")}\n${output}`,
      );
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nbdkit was not ready within ${options.readyTimeoutMs ?? 30_000} ms:\n  nbdkit ${args.join(" ")}\n${output}`);
    }
    await sleep(20);
  }

  const uriFor = (exportName: string): string =>
    port === undefined
      ? unixUri(socket, exportName)
      : `nbd://127.0.0.1:${port}/${exportName === "" ? "" : encodeURIComponent(exportName)}`;
  const waitForLog = async (pattern: string | RegExp, timeoutMs = 30_000): Promise<string> => {
    const matches = () => (typeof pattern === "string" ? output.includes(pattern) : pattern.test(output));
    const deadline = Date.now() + timeoutMs;
    while (!matches()) {
      if (outputClosed || Date.now() > deadline) {
        const why = outputClosed ? `nbdkit exited (code ${exitStatus?.code}, signal ${exitStatus?.signal})` : `${timeoutMs} ms passed`;
        throw new Error(`${why} before its log matched ${String(pattern)}; the log:\n${output}`);
      }
      await sleep(20);
    }
    return output;
  };

  return {
    uri: uriFor(""),
    socket,
    port,
    pid: child.pid!,
    uriFor,
    log: () => output,
    waitForLog,
    hostPid: () => findHostPid(child.pid!),
    exited,
    stop,
  };
}

/** Runs `body` with a server, stopping it afterwards whatever happens. */
export async function withNbdkit<T>(options: NbdkitOptions, body: (server: NbdkitServer) => Promise<T>): Promise<T> {
  const server = await startNbdkit(options);
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

/**
 * The Node host serving the nbdkit process `nbdkitPid`: its direct child
 * when nbdkit started it in the same process, else (after nbdkit forked, as
 * when it daemonises) the host process that maps the same channel memory.
 */
export function findHostPid(nbdkitPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${nbdkitPid}/task/${nbdkitPid}/children`, "utf8").trim().split(/\s+/);
    for (const pid of children) {
      if (pid === "") continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmdline.includes("host/main.js")) return Number(pid);
    }
  } catch {
    // The process has gone.
  }
  const rings = channelRings(nbdkitPid);
  if (rings.size === 0) return undefined;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === nbdkitPid) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("host/main.js")) continue;
    } catch {
      continue;
    }
    for (const ring of channelRings(Number(entry))) if (rings.has(ring)) return Number(entry);
  }
  return undefined;
}

/**
 * The channel memory (memfd "nbdts-ring") a process has mapped, as
 * "device inode" keys from /proc/PID/maps (the host closes the descriptor
 * once it has mapped the ring).
 */
function channelRings(pid: number): Set<string> {
  const rings = new Set<string>();
  let maps: string;
  try {
    maps = readFileSync(`/proc/${pid}/maps`, "utf8");
  } catch {
    return rings;
  }
  for (const line of maps.split("\n")) {
    // address perms offset device inode path
    const fields = line.split(/\s+/);
    if (fields[5]?.startsWith("/memfd:nbdts-ring")) rings.add(`${fields[3]} ${fields[4]}`);
  }
  return rings;
}

/**
 * Whether process `pid` is running. A zombie (exited, not yet reaped by its
 * parent) counts as gone.
 */
export function processRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state follows the command name, which is in parentheses and may contain any character.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Waits up to `timeoutMs` for process `pid` to be gone; resolves whether it went. */
export async function waitForProcessExit(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (processRunning(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/**
 * Runs a command to completion with bounded time, capturing its output.
 * Used for nbdkit runs that are meant to end (`--dump-plugin`, `--run`,
 * configuration errors) and for clients (nbdinfo, nbdcopy, qemu-img).
 */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NbdkitOptions["env"]; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? process.cwd(),
      env: environment(options.env),
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    running.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    if (options.input !== undefined) child.stdin!.end(options.input);
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} did not finish within ${timeoutMs} ms\n${stdout}${stderr}`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs nbdkit with the plugin to completion (e.g. with `--dump-plugin` or `--run`). */
export function runNbdkit(
  options: NbdkitOptions & { timeoutMs?: number },
): Promise<RunResult> {
  return run("nbdkit", [...(options.nbdkitArgs ?? []), ...nbdkitPluginArgs(options.plugin, options.params)], {
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
}

/**
 * The Python with libnbd's `nbd` module: Debian's /usr/bin/python3 (a
 * python3 earlier on PATH, from pyenv say, lacks it). NBDTS_PYTHON overrides.
 */
export function pythonPath(): string {
  return process.env.NBDTS_PYTHON ?? "/usr/bin/python3";
}

/**
 * Runs Python code with `h`, an `nbd.NBD()` handle connected to `uri`, and
 * returns what it printed. Throws (with the output) if the script fails.
 * `nbd`, `os` and `sys` are imported; `h.shutdown()` runs at the end.
 * `setup` runs before the connection is made, to configure `h` (TLS, say:
 * `h.set_tls(nbd.TLS_REQUIRE)`).
 */
export async function python(uri: string, code: string, options: { timeoutMs?: number; setup?: string } = {}): Promise<string> {
  const script = ["import nbd, os, sys", "h = nbd.NBD()", options.setup ?? "", "h.connect_uri(sys.argv[1])", code, "h.shutdown()"].join("\n");
  const result = await run(pythonPath(), ["-c", script, uri], { timeoutMs: options.timeoutMs ?? 60_000 });
  if (result.code !== 0) {
    throw new Error(`python failed (code ${result.code}):\n${script}\n--- output ---\n${result.stdout}${result.stderr}`);
  }
  return result.stdout;
}

/** Runs Python code with the `nbd` module (no connection made) and returns its stdout. */
export async function pythonScript(code: string, args: readonly string[] = [], timeoutMs = 60_000): Promise<RunResult> {
  return run(pythonPath(), ["-c", code, ...args], { timeoutMs });
}

export { nbdinfo, nbdcopy, qemuIo, extentMap, overlappingConnections, residentBytes } from "./clients.js";
