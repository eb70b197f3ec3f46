/**
 * Durability: what a client has flushed (or written with FUA) survives
 * SIGKILL of nbdkit and, separately, of the Node host, and the file passes
 * SQLite's integrity check after a crash in the middle of unflushed writes.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { python, pythonPath, type NbdkitServer, type PluginParams } from "@nbdts/native/testing";
import { describe, expect, test } from "vitest";
import { integrityCheck, serve, testScope, waitGone } from "./support/disks.js";

const scope = testScope();

/** A Python libnbd client running in the background until it is killed. */
interface BackgroundClient {
  /** Resolves with the first line of output that matches, within `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  output(): string;
  kill(): Promise<void>;
}

function startClient(uri: string, code: string): BackgroundClient {
  const script = ["import nbd, os, sys, random", "h = nbd.NBD()", "h.connect_uri(sys.argv[1])", code].join("\n");
  const child: ChildProcess = spawn(pythonPath(), ["-u", "-c", script, uri], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const client: BackgroundClient = {
    async waitFor(pattern, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = output.match(pattern);
        if (match !== null) return match;
        if (child.exitCode !== null) throw new Error(`the client exited (code ${child.exitCode}) before printing ${pattern}:\n${output}`);
        if (Date.now() > deadline) throw new Error(`the client did not print ${pattern} within ${timeoutMs} ms:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
  scope.defer(() => client.kill());
  return client;
}

const MiB = 1024 * 1024;

/**
 * The client: 8 MiB of random data and unaligned pieces in the first 16 MiB,
 * a flush, the SHA-256 of those 16 MiB, then unflushed random writes, zeroes
 * and trims in the rest of the disk until it is killed, printing a count.
 */
const FLUSH_THEN_KEEP_WRITING = `
import hashlib
random.seed(40)
h.pwrite(os.urandom(${8 * MiB}), 0)
for i in range(200):
    offset = random.randrange(${16 * MiB} - 70000)
    h.pwrite(os.urandom(random.randrange(1, 70000)), offset)
h.zero(100000, ${3 * MiB} + 12345)
h.flush()
print("flushed", hashlib.sha256(h.pread(${16 * MiB}, 0)).hexdigest(), flush=True)
n = 0
while True:
    offset = ${16 * MiB} + random.randrange(${110 * MiB})
    choice = random.randrange(10)
    if choice == 0:
        h.zero(200000, offset)
    elif choice == 1:
        h.trim(${MiB}, offset - offset % 65536)
    else:
        h.pwrite(os.urandom(${MiB}), offset)
    n += 1
    print("wrote", n, flush=True)
`;

async function hashOfFirst16MiB(uri: string): Promise<string> {
  const out = await python(uri, `import hashlib\nprint(hashlib.sha256(h.pread(${16 * MiB}, 0)).hexdigest())`);
  return out.trim();
}

/** Starts a server for the current test, with the Node host's PID. */
async function start(params: PluginParams): Promise<{ server: NbdkitServer; hostPid: number }> {
  const server = await serve(params);
  scope.defer(() => server.stop());
  const hostPid = server.hostPid();
  if (hostPid === undefined) throw new Error(`no Node host found under nbdkit ${server.pid}`);
  return { server, hostPid };
}

/** Kills nbdkit or its Node host with SIGKILL, then the client; waits until all have gone. */
async function crash(victim: string, server: NbdkitServer, hostPid: number, client: BackgroundClient): Promise<void> {
  process.kill(victim === "nbdkit" ? server.pid : hostPid, "SIGKILL");
  // nbdkit, like any nbdkit, exits only once its clients have gone.
  await client.kill();
  await server.exited;
  await waitGone(hostPid);
}

/**
 * Serves the file again: its first 16 MiB must hash to `hash`, the server
 * must stop cleanly, and SQLite must find the file intact.
 */
async function expectIntact(params: PluginParams & { file: string }, hash: string): Promise<void> {
  const again = await serve(params);
  try {
    expect(await hashOfFirst16MiB(again.uri)).toBe(hash);
  } finally {
    expect((await again.stop()).code).toBe(0);
  }
  expect(await integrityCheck(params.file)).toBe("ok");
}

/** Writes with FUA and no flush, prints the hash of the first 16 MiB, then idles. */
const FUA_THEN_IDLE = `
import hashlib, time
data = os.urandom(${3 * MiB} + 333)
h.pwrite(data, 4097, nbd.CMD_FLAG_FUA)
h.zero(5000, 100000, nbd.CMD_FLAG_FUA)
print("done", hashlib.sha256(h.pread(${16 * MiB}, 0)).hexdigest(), flush=True)
time.sleep(600)
`;

describe.each(["nbdkit", "the Node host"])("after SIGKILL of %s", (victim) => {
  test.each(["full", "normal"])("with sync=%s, writes flushed just before the kill are all there", async (sync) => {
    const file = scope.file();
    const { server, hostPid } = await start({ file, size: 128 * MiB, sync });
    const client = startClient(server.uri, FLUSH_THEN_KEEP_WRITING);
    const [, flushedHash] = await client.waitFor(/flushed ([0-9a-f]{64})/);
    await crash(victim, server, hostPid, client);
    await expectIntact({ file, sync }, flushedHash!);
  });

  test("a kill in the middle of unflushed writes leaves a file that opens, keeps what was flushed and passes integrity_check", async () => {
    const file = scope.file();
    const { server, hostPid } = await start({ file, size: 128 * MiB });
    const client = startClient(server.uri, FLUSH_THEN_KEEP_WRITING);
    const [, flushedHash] = await client.waitFor(/flushed ([0-9a-f]{64})/);
    // Far enough into the unflushed writes that some were committed unasked (every 64 MiB) and a batch is open.
    await client.waitFor(/wrote 80\n/);
    await crash(victim, server, hostPid, client);
    await expectIntact({ file }, flushedHash!);
  });

  test("writes made with FUA survive without a flush", async () => {
    const file = scope.file();
    const { server, hostPid } = await start({ file, size: 16 * MiB });
    const client = startClient(server.uri, FUA_THEN_IDLE);
    const [, hash] = await client.waitFor(/done ([0-9a-f]{64})/);
    await crash(victim, server, hostPid, client);
    await expectIntact({ file }, hash!);
  });
});

describe("without a crash", () => {
  test("writes that were never flushed are committed when the client goes away", async () => {
    const file = scope.file();
    const { server } = await start({ file, size: 16 * MiB });
    const client = startClient(
      server.uri,
      `
import hashlib, time
h.pwrite(os.urandom(${5 * MiB}), 1000)
print("done", hashlib.sha256(h.pread(${16 * MiB}, 0)).hexdigest(), flush=True)
time.sleep(600)
`,
    );
    const [, hash] = await client.waitFor(/done ([0-9a-f]{64})/);
    // The client dies without a flush or a disconnect; nbdkit closes its connection.
    await client.kill();
    expect((await server.stop()).code).toBe(0);
    await expectIntact({ file }, hash!);
  });
});
