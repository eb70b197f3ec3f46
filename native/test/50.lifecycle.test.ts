import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  findHostPid,
  nbdkitPluginArgs,
  processRunning,
  python,
  pythonScript,
  run,
  runNbdkit,
  startNbdkit,
  waitForProcessExit,
  withNbdkit,
  type ExitStatus,
  type NbdkitServer,
  type RunResult,
} from "@nbdts/native/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fixture, startupError } from "./fixtures/part2/support.js";

// The life of a server: how it starts (foreground, -s, daemon, --run), how it
// ends (shutdown(), signals, the death of either process), and what it
// reports when configuration or a callback fails. Every wait is bounded.

let scratch: string;
beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), "nbdts-lifecycle-"));
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

/** Resolves with nbdkit's exit status, or with "still running" after `ms`. */
function exitWithin(server: NbdkitServer, ms: number): Promise<ExitStatus | "still running"> {
  return Promise.race([server.exited, new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), ms))]);
}

/**
 * Reads `count` bytes at `offset` in a client of its own and prints "ok" and
 * the bytes' sum, or "error" and the errno: for reads that are meant to fail
 * or to lose their server.
 */
function readAndReport(uri: string, offset: number, count = 512): Promise<RunResult> {
  return pythonScript(
    `import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
try:
    data = h.pread(${count}, ${offset})
    print("ok", sum(data))
except nbd.Error as error:
    print("error", error.errno)
sys.stdout.flush()`,
    [uri],
    90_000,
  );
}

describe("shutdown()", () => {
  it("called from a callback makes nbdkit exit with status 0, running cleanup and unload", async () => {
    const events = join(scratch, "events");
    const server = await startNbdkit({ plugin: fixture("events.ts"), params: { events } });
    try {
      const client = await readAndReport(server.uri, 4096);
      expect(client.stdout).toMatch(/^(ok 0|error \w+)$/m);
      expect(await exitWithin(server, 20_000)).toEqual({ code: 0, signal: null });
      // nbdkit does not wait for a connection still open at shutdown, so
      // whether close runs before cleanup is a race (as for a C plugin).
      const recorded = readFileSync(events, "utf8").split("\n").filter((line) => line !== "close");
      expect(recorded).toEqual(["configComplete", "getReady", "afterFork", "open", "shutdown", "cleanup", "unload", ""]);
    } finally {
      await server.stop();
    }
  });
});

describe("cleanup and unload", () => {
  it("run, in that order and after the last connection closed, when nbdkit is stopped with SIGTERM", async () => {
    const events = join(scratch, "events");
    await withNbdkit({ plugin: fixture("events.ts"), params: { events } }, async (server) => {
      expect(await python(server.uri, "print(len(h.pread(512, 0)))")).toBe("512\n");
    });
    expect(readFileSync(events, "utf8")).toBe(
      ["configComplete", "getReady", "afterFork", "open", "close", "cleanup", "unload", ""].join("\n"),
    );
  });
});

describe("nbdkit -s (the NBD connection on stdin and stdout)", () => {
  it("works although the plugin writes to stdout in every callback; the text goes to stderr", async () => {
    const command = ["nbdkit", "-s", ...nbdkitPluginArgs(fixture("chatty.ts"))];
    const result = await pythonScript(
      `import json, nbd, sys
h = nbd.NBD()
h.connect_command(json.loads(sys.argv[1]))
print(h.get_size())
print(list(h.pread(6, 249)))
h.shutdown()`,
      [JSON.stringify(command)],
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("1048576\n[249, 250, 0, 1, 2, 3]\n");
    for (const callback of ["module", "load", "configComplete", "threadModel", "getReady", "afterFork", "open", "getSize", "pread"]) {
      expect(result.stderr).toContain(`chatty: console.log in ${callback}\n`);
      expect(result.stderr).toContain(`chatty: process.stdout.write in ${callback}\n`);
    }
  });
});

describe("nbdkit --run", () => {
  it("runs the command against the plugin and exits with its status", async () => {
    const result = await runNbdkit({
      plugin: fixture("pattern.ts"),
      params: { size: "3M" },
      nbdkitArgs: ["-U", "-", "--run", 'nbdinfo --size "$uri" && exit 3'],
    });
    expect(result.stdout).toBe(`${3 * 1024 * 1024}\n`);
    expect(result.code).toBe(3);
  });

  it("prints nbdinfo's description of the export, and exits 0 when the command succeeds", async () => {
    const result = await runNbdkit({
      plugin: fixture("pattern.ts"),
      params: { size: "1M" },
      nbdkitArgs: ["-U", "-", "--run", 'nbdinfo "$uri"'],
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/export-size: 1048576\b/);
  });

  it("the command inherits none of the channel's descriptors (they are close-on-exec)", async () => {
    // The command's parent ($PPID) is the nbdkit process that holds the
    // channel: list its descriptors and the command's own, as "who fd target".
    const list = 'for f in /proc/$1/fd/*; do echo "$2 ${f##*/} $(readlink "$f")"; done';
    const result = await runNbdkit({
      plugin: fixture("pattern.ts"),
      params: { size: "1M" },
      nbdkitArgs: ["-U", "-", "--run", `list() { ${list}; }; list $PPID nbdkit; list $$ command; nbdinfo --size "$uri"`],
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("1048576\n");
    const descriptors = (who: string) =>
      result.stdout
        .split("\n")
        .filter((line) => line.startsWith(`${who} `))
        .map((line) => {
          const [, fd, target] = /^\S+ (\d+) (.*)$/.exec(line)!;
          return { fd: Number(fd), target: target! };
        });
    const nbdkitFds = descriptors("nbdkit");
    const commandTargets = new Set(descriptors("command").map((d) => d.target));
    // Copies of nbdkit's stdin, stdout and stderr are inherited on purpose.
    const standard = new Set(nbdkitFds.filter((d) => d.fd <= 2).map((d) => d.target));
    // nbdkit holds the ring, the doorbell and the control socket...
    const channel = nbdkitFds.filter(
      (d) =>
        !standard.has(d.target) &&
        (d.target.startsWith("/memfd:nbdts-ring") || d.target === "anon_inode:[eventfd]" || d.target.startsWith("socket:")),
    );
    expect(channel.some((d) => d.target.startsWith("/memfd:nbdts-ring"))).toBe(true);
    expect(channel.some((d) => d.target === "anon_inode:[eventfd]")).toBe(true);
    expect(channel.some((d) => d.target.startsWith("socket:"))).toBe(true);
    // ...and the command has none of them.
    expect(channel.filter((d) => commandTargets.has(d.target))).toEqual([]);
    expect(descriptors("command").length).toBeGreaterThanOrEqual(3);
  });
});

/** The pid in `pidfile`, once it has been written (at most 20 s). */
async function pidFromFile(pidfile: string): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = existsSync(pidfile) ? readFileSync(pidfile, "utf8") : "";
    if (/^\d+\n$/.test(text)) return Number(text);
    if (Date.now() > deadline) throw new Error(`${pidfile} holds no pid after 20 s: ${JSON.stringify(text)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("daemon mode (no -f)", () => {
  it("serves after nbdkit forks into the background; killing the daemon by its pid file also ends the Node host", async () => {
    const socket = join(scratch, "nbd.sock");
    const pidfile = join(scratch, "nbdkit.pid");
    const log = join(scratch, "nbdkit.log");
    let daemon: number | undefined;
    let host: number | undefined;
    try {
      // The foreground nbdkit exits once the daemon serves; its output goes
      // to a file, since the daemon and the host keep it open.
      const started = await run("sh", [
        "-c",
        'log="$1"; shift; exec nbdkit "$@" >"$log" 2>&1',
        "sh",
        log,
        "-U",
        socket,
        "-P",
        pidfile,
        ...nbdkitPluginArgs(fixture("pattern.ts"), { size: "1M" }),
      ]);
      expect({ code: started.code, log: readFileSync(log, "utf8") }).toEqual({ code: 0, log: "" });
      // The daemon writes its pid file after the foreground process has gone.
      daemon = await pidFromFile(pidfile);
      expect(processRunning(daemon)).toBe(true);
      host = findHostPid(daemon);
      expect(host).toBeDefined();
      expect(processRunning(host!)).toBe(true);

      expect(await python(`nbd+unix:///?socket=${encodeURIComponent(socket)}`, "print(list(h.pread(4, 500)))")).toBe(
        "[249, 250, 0, 1]\n",
      );

      process.kill(daemon, "SIGTERM");
      expect(await waitForProcessExit(daemon, 20_000)).toBe(true);
      expect(await waitForProcessExit(host!, 20_000)).toBe(true);
    } finally {
      for (const pid of [daemon, host]) if (pid !== undefined && processRunning(pid)) process.kill(pid, "SIGKILL");
    }
  });
});

describe("when the Node host dies", () => {
  it("killed with SIGKILL during a read: the client gets EIO, nbdkit logs the signal and exits on its own", async () => {
    const server = await startNbdkit({ plugin: fixture("hang.ts") });
    try {
      const reading = readAndReport(server.uri, 0);
      await server.waitForLog("hang: read started");
      const host = server.hostPid();
      expect(host).toBeDefined();
      process.kill(host!, "SIGKILL");

      expect((await reading).stdout.trim()).toBe("error EIO");
      await server.waitForLog(`the Node host process (pid ${host}) was killed by signal 9`);
      expect(await exitWithin(server, 20_000)).not.toBe("still running");
    } finally {
      await server.stop();
    }
  });

  it("later requests fail with EIO rather than hang, until nbdkit has shut down", async () => {
    const server = await startNbdkit({ plugin: fixture("hang.ts") });
    try {
      const host = server.hostPid();
      expect(host).toBeDefined();
      // A connection opened before the death reads fine, then fails.
      const client = await pythonScript(
        `import nbd, os, sys, time
h = nbd.NBD()
h.connect_uri(sys.argv[1])
print(len(h.pread(512, 4096)))
os.kill(${host}, 9)
deadline = time.monotonic() + 20
result = "no error within 20 s"
while time.monotonic() < deadline:
    try:
        h.pread(512, 4096)
        time.sleep(0.05)
    except nbd.Error as error:
        result = error.errno
        break
print(result)`,
        [server.uri],
      );
      const [first, after] = client.stdout.trim().split("\n");
      expect(first).toBe("512");
      // EIO from the shim, or the connection closed as nbdkit shut down.
      expect(["EIO", "ESHUTDOWN", "ENOTCONN"]).toContain(after);
      expect(await exitWithin(server, 20_000)).not.toBe("still running");
    } finally {
      await server.stop();
    }
  });
});

describe("when nbdkit dies", () => {
  it("killed with SIGKILL, its Node host sees the channel close and exits within seconds", async () => {
    const server = await startNbdkit({ plugin: fixture("pattern.ts"), params: { size: "1M" } });
    try {
      const host = server.hostPid();
      expect(host).toBeDefined();
      expect(processRunning(host!)).toBe(true);
      process.kill(server.pid, "SIGKILL");
      expect(await server.exited).toEqual({ code: null, signal: "SIGKILL" });
      expect(await waitForProcessExit(host!, 10_000)).toBe(true);
    } finally {
      await server.stop();
    }
  });
});

describe("SIGTERM during nanosleep", () => {
  it("ends the sleep early with ESHUTDOWN, and nbdkit exits long before the sleep would have", async () => {
    const server = await startNbdkit({ plugin: fixture("hang.ts"), params: { wait: "nanosleep" } });
    try {
      const reading = readAndReport(server.uri, 0);
      await server.waitForLog("hang: read started");
      const start = Date.now();
      process.kill(server.pid, "SIGTERM");
      const status = await exitWithin(server, 30_000);
      expect(status).not.toBe("still running");
      expect(Date.now() - start).toBeLessThan(30_000);
      // The client lost its read: an error, or the connection closed under it.
      expect((await reading).stdout).not.toMatch(/^ok/);
      await server.waitForLog("hang: nanosleep ended early with ESHUTDOWN");
    } finally {
      await server.stop();
    }
  });
});

describe("configuration errors stop nbdkit at start-up", () => {
  it("configComplete throwing an NbdError: its message, and a non-zero exit", async () => {
    const stderr = await startupError({ plugin: fixture("faults.ts"), params: { size: "1M", failIn: "configComplete" } });
    expect(stderr).toContain("faults: size=1048576 is refused on purpose: configComplete was told to fail");
  });

  it("a required parameter missing: the message names it and its syntax", async () => {
    const stderr = await startupError({ plugin: fixture("faults.ts") });
    expect(stderr).toContain("missing required parameter size (size=<SIZE>: Size of the disk.)");
  });
});

describe("an exception in a callback", () => {
  it("fails the request with EIO and logs the callback's name, the message and the stack", async () => {
    await withNbdkit({ plugin: fixture("faults.ts"), params: { size: "1M" } }, async (server) => {
      const client = await readAndReport(server.uri, 8192);
      expect(client.stdout.trim()).toBe("error EIO");
      const log = await server.waitForLog("deliberate failure reading offset 8192");
      expect(log).toContain("faults: pread: Error: deliberate failure reading offset 8192");
      expect(log).toMatch(/at explode \(.*faults\.ts:\d+:\d+\)/);
      // The server carries on.
      expect((await readAndReport(server.uri, 0)).stdout.trim()).toBe("ok 0");
    });
  });
});

describe("debug()", () => {
  it("prints its formatted message in nbdkit's log under -v", async () => {
    await withNbdkit({ plugin: fixture("debug-marker.ts"), nbdkitArgs: ["-v"] }, async (server) => {
      expect(await python(server.uri, "print(len(h.pread(512, 0)))")).toBe("512\n");
      const log = await server.waitForLog("open marker");
      // Once from configComplete, once from the read.
      expect(log.match(/marker 42/g)?.length).toBeGreaterThanOrEqual(2);
    });
  });

  it("prints nothing without -v", async () => {
    await withNbdkit({ plugin: fixture("debug-marker.ts") }, async (server) => {
      expect(await python(server.uri, "print(len(h.pread(512, 0)))")).toBe("512\n");
      await server.stop();
      expect(server.log()).not.toContain("marker");
    });
  });
});
