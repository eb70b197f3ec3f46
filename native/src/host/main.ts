/**
 * The Node host: the program nbdkit-ts-plugin.so starts (one per nbdkit
 * server). It attaches to the channel the shim created, serves its requests
 * with the plugin named on nbdkit's command line, and exits when nbdkit
 * closes the channel (or dies).
 *
 * Its stdout is nbdkit's stderr and its stdin is /dev/null: under `nbdkit -s`
 * nbdkit's stdout is the NBD socket and must never see a byte from here.
 */

import { writeSync } from "node:fs";
import { installRuntime } from "@nbdts/sdk";
import { loadAddon } from "../addon.js";
import { requests } from "./context.js";
import { ControlChannel } from "./control.js";
import { Host } from "./dispatch.js";
import { errorText } from "./errors.js";
import { CONTROL_ERROR, CONTROL_HEADER } from "./protocol.js";

const fds = (process.env.NBDTS_CHANNEL_FDS ?? "").split(",").map(Number);
if (fds.length !== 3 || fds.some((fd) => !Number.isInteger(fd) || fd < 0)) {
  console.error("nbdts host: nbdkit-ts-plugin.so starts this program (nbdkit ts plugin=...); it is not run by hand");
  process.exit(2);
}
delete process.env.NBDTS_CHANNEL_FDS;
const [ringFd, doorbellFd, controlFd] = fds as [number, number, number];

const addon = loadAddon();
const ring = addon.attach(ringFd, doorbellFd);
addon.closeOnExec(controlFd);

// End of file on the control socket: nbdkit has exited (or was killed).
const control = new ControlChannel(controlFd, () => process.exit(0));
const host = new Host(addon, ring.header, ring.nslots);

host.onLoad = (facts) => {
  installRuntime({
    verbose: facts.verbose,
    nbdkitVersion: facts.nbdkitVersion,
    canDisconnect: facts.canDisconnect,
    debug: (message) => control.debug(`${host.pluginName}: ${message}`),
    shutdown: () => control.shutdown(),
    currentRequest: () => requests.getStore(),
    // Before .after_fork the shim has no threads (nbdkit may still fork) and
    // nbdkit cannot be shutting down: a timer does.
    nanosleep: (seconds, nanoseconds) =>
      host.forked
        ? control.nanosleep(seconds, nanoseconds)
        : new Promise((resolve) => setTimeout(resolve, seconds * 1000 + nanoseconds / 1e6)),
    readPassword: (value) => control.readPassword(value),
    stdioSafe: () => host.facts?.stdioSafe ?? false,
  });
};

// An exception no callback caught (a timer, an unawaited promise) leaves the
// plugin in an unknown state: report it through nbdkit's log and exit, which
// nbdkit notices. The line is written synchronously, as the process ends.
function fatal(error: unknown): never {
  const text = Buffer.from(`${host.pluginName}: uncaught exception: ${errorText(error)}`);
  const head = Buffer.alloc(CONTROL_HEADER);
  head.writeUInt32LE(text.length, 0);
  head.writeUInt32LE(CONTROL_ERROR, 4);
  try {
    writeSync(controlFd, Buffer.concat([head, text]));
  } catch {
    console.error(text.toString());
  }
  process.exit(1);
}
process.on("uncaughtException", fatal);

addon.watch(host.onDoorbell);
// The shim may have submitted its first request before we watched.
host.onDoorbell();
