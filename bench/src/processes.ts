/**
 * Every process the harness starts: nbdkit servers (and the Node hosts they
 * start), fio and nbdcopy. Contract:
 * - every wait is bounded, and a timeout is an error that names the command;
 * - every process is stopped by its PID: servers with SIGTERM and then
 *   SIGKILL, their Node host (a child of nbdkit) by its own PID if it
 *   outlives nbdkit, clients with SIGKILL on timeout;
 * - if the harness exits or is interrupted, `killAll()` (installed by
 *   `installExitHandlers`) SIGKILLs whatever is still running, by PID.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ServerSpec } from "./model.js";

/** A process recorded by PID with its command line: signalled only while the command line still matches. */
interface RecordedProcess {
  readonly pid: number;
  readonly cmdline: string;
}

/**
 * How to SIGKILL each process still running, by PID. Direct children are
 * killed through their ChildProcess (Node knows when they have exited, so
 * a recycled PID is never hit); grandchildren (Node hosts) through
 * `RecordedProcess`.
 */
const killers = new Map<number, () => void>();
const exitCleanups: Array<() => void> = [];

function readCmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return undefined;
  }
}

function record(pid: number): RecordedProcess | undefined {
  const cmdline = readCmdline(pid);
  return cmdline === undefined ? undefined : { pid, cmdline };
}

/** Whether the recorded process is still running (not exited, not recycled, not a zombie). */
function stillRunning(entry: RecordedProcess): boolean {
  if (readCmdline(entry.pid) !== entry.cmdline) return false;
  try {
    const stat = readFileSync(`/proc/${entry.pid}/stat`, "utf8");
    // The state letter follows the command name in parentheses; Z is a zombie.
    const close = stat.lastIndexOf(")");
    return stat.slice(close + 2, close + 3) !== "Z";
  } catch {
    return false;
  }
}

function signal(entry: RecordedProcess, sig: NodeJS.Signals): void {
  if (!stillRunning(entry)) return;
  try {
    process.kill(entry.pid, sig);
  } catch {
    // It exited between the check and the signal.
  }
}

/** SIGKILLs every process the harness started that is still running, by PID. Synchronous. */
export function killAll(): void {
  for (const kill of killers.values()) kill();
  killers.clear();
}

/**
 * On exit, and on SIGINT, SIGTERM or SIGHUP, kill every process still
 * running and run `cleanup` (synchronous: remove scratch files).
 */
export function installExitHandlers(cleanup: () => void): void {
  exitCleanups.push(cleanup);
  const onExit = (): void => {
    killAll();
    for (const fn of exitCleanups.splice(0)) {
      try {
        fn();
      } catch {
        // Best effort while exiting.
      }
    }
  };
  process.on("exit", onExit);
  // The shell's convention: 128 + the signal's number.
  const statuses = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
  for (const [sig, status] of Object.entries(statuses)) {
    process.once(sig, () => {
      process.stderr.write(`\nbench: ${sig} received; stopping every process started\n`);
      onExit();
      process.exit(status);
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(condition: () => boolean, timeoutMs: number, pollMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (condition()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
}

/** Keeps the last `limit` characters of a stream, so a chatty server cannot grow memory without bound. */
class OutputTail {
  private text = "";
  constructor(private readonly limit = 64 * 1024) {}
  append(chunk: Buffer): void {
    this.text += chunk.toString();
    if (this.text.length > this.limit) this.text = this.text.slice(-this.limit);
  }
  toString(): string {
    return this.text;
  }
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  seconds: number;
}

/**
 * Runs a client (fio, nbdcopy, nbdkit --version ...) to completion, killing
 * it by PID after `timeoutMs`. Rejects if it cannot start or times out;
 * resolves with its status otherwise (the caller judges the status).
 */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // A process group of its own: fio forks its jobs (as it does by default,
    // and as users run it), so stopping a client means stopping its group.
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: options.env ?? process.env,
      detached: true,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    });
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // The group has gone.
      }
    };
    if (child.pid !== undefined) killers.set(child.pid, killGroup);
    let stdout = "";
    const stderr = new OutputTail();
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => stderr.append(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      if (child.pid !== undefined) killers.delete(child.pid);
      reject(new Error(`could not run ${command}: ${error.message}`));
    });
    child.on("close", (code, sig) => {
      clearTimeout(timer);
      if (child.pid !== undefined) killers.delete(child.pid);
      const seconds = (performance.now() - started) / 1000;
      if (timedOut) {
        reject(
          new Error(
            `${command} ${args.join(" ")} did not finish within ${options.timeoutMs / 1000} s and was killed\n` +
              `${stdout.slice(-2000)}${stderr.toString().slice(-2000)}`,
          ),
        );
        return;
      }
      resolve({ code, signal: sig, stdout, stderr: stderr.toString(), seconds });
    });
  });
}

/** Runs a client and returns its result, or throws with its output if it exits non-zero. */
export async function runChecked(
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<CommandResult> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed (exit code ${result.code}, signal ${result.signal}):\n` +
        `${result.stdout.slice(-3000)}${result.stderr.slice(-3000)}`,
    );
  }
  return result;
}

/** The `nbd+unix://` URI of the default export on a socket. */
export function unixUri(socket: string): string {
  return `nbd+unix:///?socket=${encodeURIComponent(socket)}`;
}

/** The direct children of `pid`, from every thread's children list. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      for (const word of list.split(/\s+/)) if (word !== "") children.push(Number(word));
    }
  } catch {
    // The process has gone.
  }
  return children;
}

export interface RunningServer {
  readonly spec: ServerSpec;
  readonly uri: string;
  readonly pid: number;
  /** The processes nbdkit started (the Node host of a TypeScript plugin), by PID. */
  readonly childPids: readonly number[];
  /** What nbdkit printed (the last 64 KiB). */
  log(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; then the same for any child that outlived nbdkit. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** Directory for the socket and the pidfile; created, and removed by `stop()`. */
  readonly dir: string;
  /** Pin nbdkit (and so the Node host it starts, which inherits the affinity) to this CPU. */
  readonly cpu?: number | undefined;
  /** How long nbdkit may take to write its pidfile. */
  readonly readyTimeoutMs: number;
}

/**
 * Starts `nbdkit -f --exit-with-parent -U SOCKET -P PIDFILE ...` (under
 * `taskset -c CPU` when pinned; taskset execs nbdkit, so the PID is
 * nbdkit's) and resolves once the pidfile is written, which nbdkit does when
 * it is ready to accept connections.
 */
export async function startServer(spec: ServerSpec, options: StartOptions): Promise<RunningServer> {
  mkdirSync(options.dir, { recursive: true });
  const socket = join(options.dir, "nbd.sock");
  const pidfile = join(options.dir, "nbdkit.pid");
  const nbdkitArgs = [
    "-f",
    "--exit-with-parent",
    "-U",
    socket,
    "-P",
    pidfile,
    ...(spec.nbdkitOptions ?? []),
    ...spec.pluginArgs,
  ];
  const [command, args] =
    options.cpu === undefined
      ? ["nbdkit", nbdkitArgs]
      : ["taskset", ["-c", String(options.cpu), "nbdkit", ...nbdkitArgs]];
  const child: ChildProcess = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...spec.env },
  });
  const output = new OutputTail();
  child.stdout!.on("data", (chunk: Buffer) => output.append(chunk));
  child.stderr!.on("data", (chunk: Buffer) => output.append(chunk));
  let exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on("exit", (code, sig) => {
      exitStatus = { code, signal: sig };
      resolve();
    });
    child.on("error", (error) => {
      spawnError = error;
      resolve();
    });
  });
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    throw new Error(`could not start ${command} for ${spec.label}: ${spawnError?.message ?? "no PID"}`);
  }
  // From now on the exit handler can kill it, whatever happens next.
  killers.set(pid, () => child.kill("SIGKILL"));
  let hosts: RecordedProcess[] = [];

  const stop = async (graceMs = 10_000): Promise<void> => {
    if (exitStatus === undefined && spawnError === undefined) {
      child.kill("SIGTERM");
      if (!(await settlesWithin(exited, graceMs))) {
        child.kill("SIGKILL");
        await settlesWithin(exited, 5_000);
      }
    }
    killers.delete(pid);
    // The host exits when nbdkit's end of its control socket closes; give it
    // a moment, then kill it by PID if it is still there.
    for (const host of hosts) {
      if (!(await waitUntil(() => !stillRunning(host), 5_000))) {
        signal(host, "SIGKILL");
        await waitUntil(() => !stillRunning(host), 5_000);
      }
      killers.delete(host.pid);
    }
    rmSync(options.dir, { recursive: true, force: true });
  };

  const ready = await waitUntil(
    () => exitStatus !== undefined || (existsSync(pidfile) && readFileSync(pidfile, "utf8").trim() !== ""),
    options.readyTimeoutMs,
  );
  if (exitStatus !== undefined || !ready) {
    const why =
      exitStatus !== undefined
        ? `exited before it was ready (exit code ${exitStatus.code}, signal ${exitStatus.signal})`
        : `was not ready within ${options.readyTimeoutMs / 1000} s`;
    await stop();
    throw new Error(`nbdkit for ${spec.label} ${why}:\n  ${command} ${args.join(" ")}\n${output.toString()}`);
  }
  hosts = childrenOf(pid).flatMap((childPid) => record(childPid) ?? []);
  for (const host of hosts) killers.set(host.pid, () => signal(host, "SIGKILL"));

  return {
    spec,
    uri: unixUri(socket),
    pid,
    childPids: hosts.map((host) => host.pid),
    log: () => output.toString(),
    stop,
  };
}

async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const result = await Promise.race([promise.then(() => true), timeout]);
  clearTimeout(timer);
  return result;
}
