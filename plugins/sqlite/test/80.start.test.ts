/**
 * `npm start` (scripts/start.mjs) serves this plugin: a database in the
 * working directory with a 1 GiB default disk, on a local TCP port, and
 * stops cleanly on Ctrl-C.
 */

import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { run } from "@nbdts/native/testing";
import { expect, test } from "vitest";
import { integrityCheck, processGone, query, testScope, waitGone } from "./support/disks.js";

const START = join(import.meta.dirname, "..", "..", "..", "scripts", "start.mjs");

const scope = testScope();

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** The processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

test("npm start serves ./nbdts.db with a 1 GiB default disk on a local port, prints how to connect, and stops on SIGINT", async () => {
  const dir = scope.dir();
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, NBDTS_PORT: String(port) };
  delete env["INIT_CWD"]; // as when run outside npm: the database goes in the working directory
  const child = spawn(process.execPath, [START], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  let nbdkitPids: number[] = [];
  scope.defer(async () => {
    for (const pid of [...nbdkitPids, child.pid!]) {
      if (!processGone(pid)) process.kill(pid, "SIGKILL");
    }
    await exited;
  });

  const deadline = Date.now() + 60_000;
  while (!output.includes("Press Ctrl-C to stop.")) {
    if (child.exitCode !== null) throw new Error(`start.mjs exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`start.mjs printed no URI within 60 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  nbdkitPids = childrenOf(child.pid!);
  const database = join(dir, "nbdts.db");
  const uri = `nbd://127.0.0.1:${port}`;
  expect(output).toContain(`serving the disks in ${database} (@nbdts/sqlite) at ${uri}`);
  expect(output).toContain(`  nbdinfo ${uri}\n`);
  expect(output).toContain(`  qemu-img info ${uri}\n`);
  expect(output).toContain(`  nbd-client 127.0.0.1 ${port} /dev/nbd0`);

  const info = await run("nbdinfo", ["--json", uri]);
  expect(info.code, info.stderr).toBe(0);
  expect(JSON.parse(info.stdout).exports[0]["export-size"]).toBe(1024 ** 3);

  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const status = await exited;
  clearTimeout(timer);
  expect(status, output).toEqual({ code: 0, signal: null });
  for (const pid of nbdkitPids) await waitGone(pid);

  expect(existsSync(database)).toBe(true);
  expect(await integrityCheck(database)).toBe("ok");
  expect(query<{ name: string; size: number }>(database, "SELECT name, size FROM disks")).toEqual([{ name: "", size: 1024 ** 3 }]);
});
