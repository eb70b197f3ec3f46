/**
 * A throwaway single-node Ceph RADOS Gateway for tests and benchmarks.
 *
 * `startRgw()` brings up one monitor (`mon.a`), one memstore OSD (`osd.0`) and
 * one gateway (`client.rgw.a`) from Debian's `ceph-mon`, `ceph-osd` and
 * `radosgw` packages, bound to 127.0.0.1 only, with every file under one
 * scratch directory. It creates an S3 user with fixed test credentials and
 * resolves once the gateway answers HTTP. On this machine class (2 vCPUs)
 * that takes about 1.1 s, and stopping about 0.4 s.
 *
 * Contract:
 * - Every wait is bounded. A step that fails or times out throws
 *   `RgwStartError`, naming the step and quoting the tail of the daemon's log.
 * - Every daemon is recorded by PID (in memory and in `<dir>/rgw.json`) and
 *   stopped by PID: SIGTERM in reverse start order, up to 20 s in total, then
 *   SIGKILL for survivors. A PID is only signalled while its command line
 *   still names this cluster's ceph.conf, so a recycled PID is never hit.
 * - A start that fails half-way stops what it started and removes the
 *   directory.
 * - Unless `detach` is set, handlers for `exit`, SIGINT, SIGTERM and SIGHUP
 *   SIGKILL every daemon not yet stopped and remove its directory, so a test
 *   process that ends without calling `stop()` leaves nothing behind. A
 *   process killed by SIGKILL cannot run handlers; the next `startRgw()`
 *   stops the clusters such dead owners left in `os.tmpdir()`.
 *
 * No test-framework imports: this module is shared by vitest global setups,
 * the benchmark harness and `rgw-cli.ts`. Linux only (it reads /proc).
 *
 * Example:
 *
 *     const rgw = await startRgw();
 *     const s3 = new S3Client({ endpoint: rgw.endpoint, region: rgw.region,
 *       forcePathStyle: true, credentials: rgw });
 *     ...
 *     await rgw.stop();
 */

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/** The S3 credentials of the user that `startRgw()` creates. */
export const RGW_ACCESS_KEY_ID = "AKIATEST";
export const RGW_SECRET_ACCESS_KEY = "secrettest";
/** RGW's default zonegroup accepts any region name in SigV4; use the SDK's usual one. */
export const RGW_REGION = "us-east-1";

export interface RgwOptions {
  /**
   * Scratch directory holding every file of the cluster; removed by `stop()`.
   * It may be missing or empty. A non-empty directory is only accepted (and
   * wiped) if it contains a ceph.conf, i.e. it is a leftover of an earlier
   * run. Default: a fresh `mkdtemp` under `os.tmpdir()`.
   */
  dir?: string | undefined;
  /** Gateway HTTP port on 127.0.0.1. Default: a free port chosen at start. */
  port?: number | undefined;
  /** Monitor (msgr v2) port on 127.0.0.1. Default: a free port chosen at start. */
  monPort?: number | undefined;
  /** Receives one progress line per start/stop step, with elapsed times. */
  log?: ((line: string) => void) | undefined;
  /** Upper bound for each start step (mkfs, monitor up, OSD up, ...). Default 30 000 ms. */
  stepTimeoutMs?: number | undefined;
  /**
   * Start the daemons in their own session and leave them running when this
   * process exits (for `rgw-cli.ts start`). They are then stopped only by
   * `stop()` or `stopRgwDir(dir)`. Default false: an `exit` handler kills them.
   */
  detach?: boolean | undefined;
}

/** One daemon of the cluster, in start order. */
export interface RgwDaemon {
  /** Ceph name: `mon.a`, `osd.0` or `client.rgw.a`. */
  readonly name: string;
  readonly pid: number;
  /** Ceph's own log file of this daemon. */
  readonly logFile: string;
}

/** Where a cluster is and how to reach it. */
export interface RgwDescription {
  /** `http://127.0.0.1:PORT`; use with `forcePathStyle: true`. */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: typeof RGW_REGION;
  readonly dir: string;
  readonly port: number;
  readonly monPort: number;
  /** The daemons in start order (monitor, OSD, gateway). */
  readonly daemons: readonly RgwDaemon[];
}

export interface RgwServer extends RgwDescription {
  /** PIDs by role, the same processes as `daemons`. */
  readonly pids: { readonly mon: number; readonly osd: number; readonly rgw: number };
  /** Wall time from the call of `startRgw()` until it resolved. */
  readonly startupMs: number;
  /** Stops the daemons (SIGTERM, then SIGKILL after 20 s) and removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

/** The contents of `<dir>/rgw.json`, written while starting, read by `stopRgwDir()`. */
export interface RgwState extends RgwDescription {
  /**
   * The process whose exit should end these daemons; absent when detached.
   * `startRgw()` stops clusters in `os.tmpdir()` whose owner has died.
   */
  readonly ownerPid?: number;
}

/** Thrown when a start step fails or times out; `step` names it. */
export class RgwStartError extends Error {
  override readonly name = "RgwStartError";
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(`RGW start failed at step "${step}": ${message}`);
  }
}

const STOP_GRACE_MS = 20_000;
const KILL_WAIT_MS = 5_000;
const POLL_MS = 25;
const STATE_FILE = "rgw.json";
const DEFAULT_DIR_PREFIX = "nbdts-rgw-";
const LOG_TAIL_LINES = 25;
const MAX_START_ATTEMPTS = 3;
// sun_path is 108 bytes; the longest socket is <dir>/run/client.rgw.a.asok.
const MAX_SOCKET_PATH = 107;

/**
 * Starts a throwaway Ceph cluster with one S3 gateway; see the module comment.
 *
 * A port chosen here can be taken by another process before the daemon binds
 * it. When that happens to a port that was not given in `options`, the whole
 * start is retried with fresh ports, up to three attempts.
 */
export async function startRgw(options: RgwOptions = {}): Promise<RgwServer> {
  const t0 = performance.now();
  const log = options.log ?? (() => {});
  validatePort("port", options.port);
  validatePort("monPort", options.monPort);
  await stopOrphans(log);
  for (let attempt = 1; ; attempt++) {
    const free = await pickFreePorts((options.port === undefined ? 1 : 0) + (options.monPort === undefined ? 1 : 0));
    const picked = [...free];
    const port = options.port ?? free.shift()!;
    const monPort = options.monPort ?? free.shift()!;
    try {
      return await startOnce(options, port, monPort, t0, log);
    } catch (error) {
      const message = error instanceof RgwStartError ? error.message : "";
      const lostPortRace = picked.some((p) =>
        message.split("\n").some((line) => line.includes("Address already in use") && new RegExp(`127\\.0\\.0\\.1:${p}\\b`).test(line)),
      );
      if (!lostPortRace || attempt === MAX_START_ATTEMPTS) throw error;
      log(`rgw: a port chosen for it was taken before the daemon bound it; retrying with new ports`);
    }
  }
}

async function startOnce(
  options: RgwOptions,
  port: number,
  monPort: number,
  t0: number,
  log: (line: string) => void,
): Promise<RgwServer> {
  const stepTimeoutMs = options.stepTimeoutMs ?? 30_000;
  const detach = options.detach ?? false;
  const dir = await prepareDir(options.dir, log);
  const conf = path.join(dir, "ceph.conf");
  const daemons: Daemon[] = [];
  const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(2)} s`;

  const describe = (): RgwDescription => ({
    endpoint: `http://127.0.0.1:${port}`,
    accessKeyId: RGW_ACCESS_KEY_ID,
    secretAccessKey: RGW_SECRET_ACCESS_KEY,
    region: RGW_REGION,
    dir,
    port,
    monPort,
    daemons: daemons.map(({ name, pid, logFile }) => ({ name, pid, logFile })),
  });
  const writeState = (): void => {
    const state: RgwState = { ...describe(), ...(detach ? {} : { ownerPid: process.pid }) };
    fs.writeFileSync(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2) + "\n");
  };

  const startDaemon = (name: string, command: string, args: string[]): Daemon => {
    const daemon = spawnDaemon(dir, name, command, args, detach);
    daemons.push(daemon);
    if (!detach) killOnExit(dir, conf, daemon.pid);
    writeState();
    return daemon;
  };

  try {
    const fsid = randomUUID();
    await fsp.writeFile(conf, cephConf({ dir, fsid, port, monPort }));
    for (const sub of ["run", "log", "mon.a", "osd.0", "rgw.a"]) {
      await fsp.mkdir(path.join(dir, sub));
    }
    log(`rgw: ${dir}: monitor on 127.0.0.1:${monPort}, gateway on 127.0.0.1:${port}`);

    const keyring = path.join(dir, "keyring");
    const monmap = path.join(dir, "monmap");
    await runStep("create keyring", stepTimeoutMs, "ceph-authtool", [
      "--create-keyring", keyring, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *",
    ]);
    await runStep("create keyring", stepTimeoutMs, "ceph-authtool", [
      keyring, "--gen-key", "-n", "client.admin",
      "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mgr", "allow *",
    ]);
    await runStep("create monitor map", stepTimeoutMs, "monmaptool", [
      "--create", "--fsid", fsid, "--addv", "a", `[v2:127.0.0.1:${monPort}]`, monmap,
    ]);
    await runStep("initialise monitor store", stepTimeoutMs, "ceph-mon", [
      "-c", conf, "--mkfs", "-i", "a", "--monmap", monmap, "--keyring", keyring,
    ]);

    const mon = startDaemon("mon.a", "ceph-mon", ["-c", conf, "-i", "a", "-f"]);
    await waitUntil("monitor up (mon_status: leader)", mon, stepTimeoutMs, async () => {
      const status = await adminSocketCommand(mon.adminSocket, "mon_status");
      return (status as { state?: unknown } | undefined)?.state === "leader";
    });
    log(`rgw: monitor up at ${elapsed()}`);

    const osdUuid = randomUUID();
    const osdId = (
      await runStep("register OSD (ceph osd new)", stepTimeoutMs, "ceph", [
        "-c", conf, "--connect-timeout", String(Math.ceil(stepTimeoutMs / 1000)), "osd", "new", osdUuid,
      ], mon)
    ).trim();
    if (osdId !== "0") {
      throw new RgwStartError("register OSD (ceph osd new)", `expected OSD id 0 on a fresh cluster, got ${JSON.stringify(osdId)}`);
    }
    await runStep("initialise OSD store", stepTimeoutMs, "ceph-osd", [
      "-c", conf, "-i", "0", "--mkfs", "--osd-uuid", osdUuid,
    ]);
    const osd = startDaemon("osd.0", "ceph-osd", ["-c", conf, "-i", "0", "-f"]);
    await waitUntil("OSD up (status: active)", osd, stepTimeoutMs, async () => {
      const status = await adminSocketCommand(osd.adminSocket, "status");
      return (status as { state?: unknown } | undefined)?.state === "active";
    });
    log(`rgw: OSD up at ${elapsed()}`);

    const rgw = startDaemon("client.rgw.a", "radosgw", ["-c", conf, "-n", "client.rgw.a", "-f"]);
    await waitUntil(`gateway answering on http://127.0.0.1:${port}/`, rgw, stepTimeoutMs, () =>
      httpAnswers(port),
    );
    log(`rgw: gateway answering at ${elapsed()}`);

    await runStep("create S3 user (radosgw-admin user create)", stepTimeoutMs, "radosgw-admin", [
      "-c", conf, "user", "create", "--uid=test", "--display-name=test",
      `--access-key=${RGW_ACCESS_KEY_ID}`, `--secret=${RGW_SECRET_ACCESS_KEY}`,
    ], rgw);
    log(`rgw: S3 user created at ${elapsed()}`);
  } catch (error) {
    log(`rgw: start failed at ${elapsed()}; stopping what was started`);
    await stopDaemons(daemons, conf, log).catch(() => {});
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
    clustersToKillOnExit.delete(dir);
    throw error;
  }

  const [mon, osd, rgw] = daemons as [Daemon, Daemon, Daemon];
  if (detach) {
    for (const daemon of daemons) daemon.child.unref();
  }
  let stopping: Promise<void> | undefined;
  const server: RgwServer = {
    ...describe(),
    pids: { mon: mon.pid, osd: osd.pid, rgw: rgw.pid },
    startupMs: performance.now() - t0,
    stop: () => {
      stopping ??= (async () => {
        await stopDaemons(daemons, conf, log);
        await fsp.rm(dir, { recursive: true, force: true });
        clustersToKillOnExit.delete(dir);
      })();
      return stopping;
    },
  };
  log(`rgw: ready at ${server.endpoint} after ${elapsed()}`);
  return server;
}

/**
 * Stops the cluster recorded in `<dir>/rgw.json` (as written by `startRgw()`,
 * possibly from another process) and removes `dir`. Refuses a directory
 * without a ceph.conf. A directory whose daemons are already gone is just
 * removed.
 */
export async function stopRgwDir(
  dir: string,
  options: { log?: ((line: string) => void) | undefined } = {},
): Promise<void> {
  const abs = path.resolve(dir);
  const conf = path.join(abs, "ceph.conf");
  if (!fs.existsSync(conf)) {
    throw new Error(
      `refusing to stop or remove ${abs}: it has no ceph.conf, so it is not an RGW test directory`,
    );
  }
  const daemons = await readRecordedDaemons(abs);
  await stopDaemons(daemons, conf, options.log ?? (() => {}));
  await fsp.rm(abs, { recursive: true, force: true });
  clustersToKillOnExit.delete(abs);
}

/** Reads `<dir>/rgw.json`; returns undefined when it is missing or unreadable. */
export async function readRgwState(dir: string): Promise<RgwState | undefined> {
  try {
    return JSON.parse(await fsp.readFile(path.join(path.resolve(dir), STATE_FILE), "utf8")) as RgwState;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Cluster configuration

/**
 * The ceph.conf of reference/s3.md §3.1. Three settings are not obvious:
 * `ms mon client mode = crc` (radosgw defaults to "secure", which auth=none
 * cannot offer, and then hangs), the short paxos intervals (every lazy pool
 * creation otherwise waits 1 s: 13 s start-up instead of 2 s), and
 * `tcp_nodelay=1` (without it small GETs stall ~45 ms on Nagle/delayed ACK).
 */
function cephConf(p: { dir: string; fsid: string; port: number; monPort: number }): string {
  return `[global]
fsid = ${p.fsid}
mon host = v2:127.0.0.1:${p.monPort}
# bind every messenger (public, cluster, heartbeats) to loopback, msgr v2 only
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
# fail at once on a taken port instead of retrying 3 times 5 s apart
ms bind retry count = 1
auth cluster required = none
auth service required = none
auth client required = none
run dir = ${p.dir}/run
admin socket = ${p.dir}/run/$name.asok
log file = ${p.dir}/log/$name.log
pid file = ${p.dir}/run/$name.pid
osd data = ${p.dir}/$name
mon data = ${p.dir}/$name
keyring = ${p.dir}/keyring
# memstore keeps all objects in RAM: fastest, and nothing is fsynced
osd objectstore = memstore
memstore device bytes = 8G
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 1
osd pool default pgp num = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# the default 1 s paxos interval makes every pool creation slow (13 s start-up -> ~2 s)
paxos propose interval = 0.05
paxos min wait = 0.01

[client.rgw.a]
# tcp_nodelay avoids ~40 ms Nagle/delayed-ACK stalls on small responses
rgw frontends = beast endpoint=127.0.0.1:${p.port} tcp_nodelay=1
rgw data = ${p.dir}/rgw.a
rgw thread pool size = 64
# radosgw defaults ms_mon_client_mode to "secure", which auth=none cannot provide
ms mon client mode = crc
`;
}

async function prepareDir(requested: string | undefined, log: (line: string) => void): Promise<string> {
  let dir: string;
  if (requested === undefined) {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), DEFAULT_DIR_PREFIX));
  } else {
    dir = path.resolve(requested);
    let entries: string[] | undefined;
    try {
      entries = await fsp.readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    if (entries === undefined) {
      await fsp.mkdir(dir, { recursive: true });
    } else if (entries.length > 0) {
      if (!entries.includes("ceph.conf")) {
        throw new Error(
          `refusing to use ${dir} for RGW: it is not empty and has no ceph.conf, so it is not ` +
            `a leftover RGW test directory and wiping it could delete unrelated data; ` +
            `pass a new or empty directory`,
        );
      }
      // A leftover of an earlier run: its daemons may still hold ports.
      log(`rgw: ${dir} holds an earlier cluster; stopping it and wiping the directory`);
      await stopRgwDir(dir, { log });
      await fsp.mkdir(dir, { recursive: true });
    }
  }
  const longest = path.join(dir, "run", "client.rgw.a.asok");
  if (Buffer.byteLength(longest) > MAX_SOCKET_PATH) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw new Error(
      `RGW directory path ${dir} is too long: its admin socket ${longest} would exceed the ` +
        `${MAX_SOCKET_PATH}-byte limit of Unix socket paths; use a shorter directory`,
    );
  }
  return dir;
}

function validatePort(name: string, port: number | undefined): void {
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new RangeError(`RGW option ${name} must be an integer port in 1..65535, got ${port}`);
  }
}

/** Asks the kernel for `count` distinct free ports on 127.0.0.1. */
async function pickFreePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", resolve);
      });
      ports.push((server.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

// ---------------------------------------------------------------------------
// Daemons and commands

interface Daemon extends RgwDaemon {
  readonly child: ChildProcess;
  readonly adminSocket: string;
  /** stdout+stderr of the process (early errors before Ceph's log is open). */
  readonly outputFile: string;
  /** Set once the process has exited or failed to spawn. */
  exit?: string;
}

function spawnDaemon(
  dir: string,
  name: string,
  command: string,
  args: string[],
  detach: boolean,
): Daemon {
  const outputFile = path.join(dir, "log", `${name}.out`);
  const fd = fs.openSync(outputFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ["ignore", fd, fd], detached: detach });
  } finally {
    fs.closeSync(fd);
  }
  let spawnError: Error | undefined;
  let daemon: Daemon | undefined;
  // Listen at once: an 'error' event without a listener would crash the process.
  child.on("error", (error) => {
    spawnError = error;
    if (daemon !== undefined) daemon.exit ??= `failed: ${error.message}`;
  });
  if (child.pid === undefined) {
    throw new RgwStartError(
      `start ${name}`,
      `could not spawn ${command}${spawnError === undefined ? "" : ` (${spawnError.message})`}; ` +
        `is Debian package ${debianPackage(command)} installed?`,
    );
  }
  const started: Daemon = {
    name,
    pid: child.pid,
    child,
    logFile: path.join(dir, "log", `${name}.log`),
    outputFile,
    adminSocket: path.join(dir, "run", `${name}.asok`),
  };
  daemon = started;
  child.on("exit", (code, signal) => {
    started.exit ??= signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
  });
  return started;
}

function debianPackage(command: string): string {
  if (command === "radosgw" || command === "radosgw-admin") return "radosgw";
  if (command === "ceph-osd") return "ceph-osd";
  return "ceph-mon";
}

/** Polls `probe` every 25 ms until it returns true, the daemon exits, or `timeoutMs` passes. */
async function waitUntil(
  step: string,
  daemon: Daemon,
  timeoutMs: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (daemon.exit !== undefined) {
      throw new RgwStartError(step, `${daemon.name} (pid ${daemon.pid}) ${daemon.exit}.\n${logTail(daemon)}`);
    }
    if (await probe().catch(() => false)) return;
    if (performance.now() > deadline) {
      throw new RgwStartError(
        step,
        `timed out after ${(timeoutMs / 1000).toFixed(1)} s; ${daemon.name} (pid ${daemon.pid}) is still running.\n${logTail(daemon)}`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** Runs a command to completion within `timeoutMs`; returns its stdout or throws `RgwStartError`. */
function runStep(
  step: string,
  timeoutMs: number,
  command: string,
  args: string[],
  relatedDaemon?: Daemon,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error === null) {
        resolve(stdout);
        return;
      }
      const err = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: number | string };
      const why =
        err.code === "ENOENT"
          ? `${command} not found; install Debian package ${debianPackage(command)}`
          : err.killed
            ? `timed out after ${(timeoutMs / 1000).toFixed(1)} s`
            : typeof err.signal === "string"
              ? `was killed by ${err.signal}`
              : `exited with code ${String(err.code)}`;
      const related = relatedDaemon === undefined ? "" : `\n${logTail(relatedDaemon)}`;
      reject(
        new RgwStartError(
          step,
          `${command} ${args.join(" ")}: ${why}\n--- stderr ---\n${tailLines(stderr, LOG_TAIL_LINES)}${related}`,
        ),
      );
    });
  });
}

function logTail(daemon: Daemon): string {
  const parts: string[] = [];
  for (const file of [daemon.logFile, daemon.outputFile]) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    if (text.trim() !== "") parts.push(`--- tail of ${file} ---\n${tailLines(text, LOG_TAIL_LINES)}`);
  }
  return parts.length > 0 ? parts.join("\n") : `(${daemon.logFile} is empty or missing)`;
}

/**
 * The last `lines` non-blank lines of `text`, leaving out the monitor's audit
 * entries for our own admin-socket polls, which would otherwise fill the tail.
 */
function tailLines(text: string, lines: number): string {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.includes("from='admin socket'"))
    .slice(-lines)
    .join("\n");
}

/**
 * One command over a Ceph admin socket: the JSON command followed by NUL; the
 * reply is a 4-byte big-endian length and that many bytes of JSON.
 */
function adminSocketCommand(socketPath: string, prefix: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.createConnection(socketPath);
    socket.setTimeout(2000, () => socket.destroy(new Error(`admin socket ${socketPath}: no reply in 2 s`)));
    socket.on("connect", () => socket.write(JSON.stringify({ prefix, format: "json" }) + "\0"));
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const reply = Buffer.concat(chunks);
      if (reply.length < 4 || reply.length < 4 + reply.readUInt32BE(0)) {
        reject(new Error(`admin socket ${socketPath}: short reply`));
        return;
      }
      try {
        resolve(JSON.parse(reply.subarray(4, 4 + reply.readUInt32BE(0)).toString("utf8")));
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}

/** True once anything answers an HTTP GET / on 127.0.0.1:port. */
function httpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ host: "127.0.0.1", port, path: "/", timeout: 1000, agent: false }, (response) => {
      response.resume();
      resolve(true);
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(false));
  });
}

// ---------------------------------------------------------------------------
// Stopping

/**
 * True while `pid` is a live process whose command line names `conf`. Exited
 * (even unreaped) and recycled PIDs read as not alive.
 */
function isCephDaemon(pid: number, conf: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(conf);
  } catch {
    return false;
  }
}

function signal(pid: number, conf: string, sig: NodeJS.Signals): void {
  if (!isCephDaemon(pid, conf)) return;
  try {
    process.kill(pid, sig);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

async function waitGone(pid: number, conf: string, deadline: number): Promise<boolean> {
  while (isCephDaemon(pid, conf)) {
    if (performance.now() > deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/**
 * SIGTERM each daemon in reverse start order and wait for it, within one
 * 20 s budget; then SIGKILL whatever is left and wait up to 5 s for that.
 */
async function stopDaemons(
  daemons: readonly RgwDaemon[],
  conf: string,
  log: (line: string) => void,
): Promise<void> {
  const t0 = performance.now();
  const deadline = t0 + STOP_GRACE_MS;
  const survivors: RgwDaemon[] = [];
  for (const daemon of [...daemons].reverse()) {
    signal(daemon.pid, conf, "SIGTERM");
    if (!(await waitGone(daemon.pid, conf, deadline))) survivors.push(daemon);
  }
  for (const daemon of survivors) {
    log(`rgw: ${daemon.name} (pid ${daemon.pid}) ignored SIGTERM for ${STOP_GRACE_MS / 1000} s; sending SIGKILL`);
    signal(daemon.pid, conf, "SIGKILL");
  }
  const killDeadline = performance.now() + KILL_WAIT_MS;
  const stuck: string[] = [];
  for (const daemon of survivors) {
    if (!(await waitGone(daemon.pid, conf, killDeadline))) stuck.push(`${daemon.name} (pid ${daemon.pid})`);
  }
  if (stuck.length > 0) {
    throw new Error(`RGW stop: ${stuck.join(", ")} still running ${KILL_WAIT_MS / 1000} s after SIGKILL`);
  }
  log(`rgw: stopped ${daemons.length} daemon(s) in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
}

/**
 * Stops the clusters left in `os.tmpdir()` by test processes that died
 * without running their 'exit' handler (SIGKILL, a crash of Node itself).
 * Clusters of live processes and detached ones (no owner) are left alone.
 */
async function stopOrphans(log: (line: string) => void): Promise<void> {
  let entries: string[];
  try {
    entries = await fsp.readdir(os.tmpdir());
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(DEFAULT_DIR_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), entry);
    const state = await readRgwState(dir);
    if (state?.ownerPid === undefined || processExists(state.ownerPid)) continue;
    log(`rgw: stopping ${dir}, left behind by process ${state.ownerPid}, which has died`);
    await stopRgwDir(dir, { log }).catch((error: unknown) => {
      log(`rgw: could not clean up ${dir}: ${error instanceof Error ? error.message : String(error)}`);
    });
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readRecordedDaemons(dir: string): Promise<RgwDaemon[]> {
  const state = await readRgwState(dir);
  if (state !== undefined) return [...state.daemons];
  // No state file (start crashed before writing it): fall back to Ceph's pid files.
  const daemons: RgwDaemon[] = [];
  for (const name of ["mon.a", "osd.0", "client.rgw.a"]) {
    try {
      const pid = Number.parseInt(await fsp.readFile(path.join(dir, "run", `${name}.pid`), "utf8"), 10);
      if (Number.isInteger(pid) && pid > 0) daemons.push({ name, pid, logFile: path.join(dir, "log", `${name}.log`) });
    } catch {
      // Not started.
    }
  }
  return daemons;
}

// ---------------------------------------------------------------------------
// Kill on exit

/** Directory -> ceph.conf and PIDs of every non-detached cluster not yet stopped. */
const clustersToKillOnExit = new Map<string, { conf: string; pids: number[] }>();
let exitHandlersInstalled = false;

function killOnExit(dir: string, conf: string, pid: number): void {
  const cluster = clustersToKillOnExit.get(dir) ?? { conf, pids: [] };
  cluster.pids.push(pid);
  clustersToKillOnExit.set(dir, cluster);
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on("exit", killClustersSync);
  // A fatal signal ends Node without 'exit'. Kill the daemons, then let the
  // signal take its course: re-raise it when nobody else handles it, so the
  // process still dies of it; otherwise leave the exit to the other handler.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      killClustersSync();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

/** SIGKILLs the daemons of every cluster not yet stopped and removes its directory; synchronous, for 'exit'. */
function killClustersSync(): void {
  for (const [dir, { conf, pids }] of clustersToKillOnExit) {
    for (const pid of pids) signal(pid, conf, "SIGKILL");
    // A SIGKILLed process writes nothing more, so the directory can go at once.
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort: the process is exiting anyway.
    }
  }
  clustersToKillOnExit.clear();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
