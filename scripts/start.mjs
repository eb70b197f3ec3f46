#!/usr/bin/env node
// `npm start`: serves a disk on the loopback interface with the embedded
// default and prints how to connect. Ctrl-C stops it. Runs after
// scripts/setup.mjs has installed and built everything.
//
// Environment: NBDTS_PORT (default 10809, or the next free port).

import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
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

const port = await choosePort();
const uri = `nbd://127.0.0.1:${port}`;
const plugin = "./examples/ramdisk.ts";
const args = ["-f", "-i", "127.0.0.1", "-p", String(port), shim, `plugin=${plugin}`, "size=1G"];

console.log(`nbdts: serving a 1 GiB RAM disk (${plugin}) at ${uri}

Connect with:
  nbdinfo ${uri}
  qemu-img info ${uri}
  nbd-client 127.0.0.1 ${port} /dev/nbd0      (as root, with the nbd kernel module)

Press Ctrl-C to stop.`);

const nbdkit = spawn("nbdkit", args, { cwd: root, stdio: "inherit" });
nbdkit.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" || signal === "SIGTERM" ? 0 : 1)));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => nbdkit.kill(signal));
