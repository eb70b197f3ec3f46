#!/usr/bin/env node
// `npm start`: serves the disks of a SQLite database in the working directory
// (./nbdts.db, the embedded default, @nbdts/sqlite) on the loopback
// interface, and prints how to connect once nbdkit accepts connections.
// The default disk, 1 GiB, is created on first use and kept between runs.
// Ctrl-C stops it. Runs after scripts/setup.mjs has installed and built
// everything.
//
// Environment: NBDTS_PORT (default 10809, or the next free port).

import { spawn } from "node:child_process";
import { createConnection, createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const shim = join(root, "native", "build", "Release", "nbdkit-ts-plugin.so");

function isFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function choosePort() {
  const wanted = Number(process.env.NBDTS_PORT ?? 10809);
  for (let port = wanted; port < wanted + 100; port++) {
    if (await isFree(port)) return port;
  }
  throw new Error(`no free TCP port from ${wanted} to ${wanted + 99} on 127.0.0.1`);
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const port = await choosePort();
const uri = `nbd://127.0.0.1:${port}`;
// npm runs scripts in the repository's root; INIT_CWD is where `npm start` was typed.
const database = resolve(process.env.INIT_CWD ?? process.cwd(), "nbdts.db");
const args = ["-f", "-i", "127.0.0.1", "-p", String(port), shim, "plugin=@nbdts/sqlite", `file=${database}`, "size=1G"];

// nbdkit resolves @nbdts/sqlite from its working directory: the repository.
const nbdkit = spawn("nbdkit", args, { cwd: root, stdio: "inherit" });
let exited = false;
nbdkit.on("exit", (code, signal) => {
  exited = true;
  process.exit(code ?? (signal === "SIGINT" || signal === "SIGTERM" ? 0 : 1));
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => nbdkit.kill(signal));

// Print how to connect only once nbdkit listens, so that the commands work at once.
const deadline = Date.now() + 60_000;
while (!exited && !(await accepts(port))) {
  if (Date.now() > deadline) {
    console.error(`nbdts: nbdkit did not accept connections on ${uri} within 60 s; stopping it`);
    nbdkit.kill("SIGTERM");
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}
if (!exited && Date.now() <= deadline) {
  console.log(`nbdts: serving the disks in ${database} (@nbdts/sqlite) at ${uri}
The default disk is 1 GiB, created on first use; the file keeps it between runs.

Connect with:
  nbdinfo ${uri}
  qemu-img info ${uri}
  nbd-client 127.0.0.1 ${port} /dev/nbd0      (as root, with the nbd kernel module)

Manage the disks when it is stopped: npx nbdts-sqlite list ${database}
Press Ctrl-C to stop.`);
}
