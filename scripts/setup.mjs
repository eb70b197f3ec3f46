#!/usr/bin/env node
// Brings a checkout to the point where `npm start` and `npm test` work:
//   1. the Debian/Ubuntu packages they need (installed with apt-get when run
//      as root, otherwise one message with the exact command);
//   2. `npm ci` when node_modules is missing or older than package-lock.json;
//   3. the build (turbo; cached, so a second run costs a second).
// It uses nothing outside Node's standard library, because it runs before
// node_modules exists.
//
// Usage: node scripts/setup.mjs [--for=start|test|bench] [--no-build]

import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const purpose = (args.find((a) => a.startsWith("--for="))?.slice(6)) ?? "test";
const build = !args.includes("--no-build");

// What each command needs from the system. `start` serves a disk; `test`
// also drives every client and starts a real S3 server; `bench` adds the
// peers it compares against.
const PACKAGES = {
  start: ["nbdkit", "nbdkit-plugin-dev", "libnbd-bin", "python3", "make", "g++", "pkg-config"],
  test: [
    "python3-libnbd",
    "qemu-utils",
    "fio",
    "nbdkit-plugin-python",
    "python3-boto3",
    "radosgw",
    "ceph-mon",
    "ceph-osd",
    "uuid-runtime",
    "curl",
    "sqlite3",
  ],
  bench: [],
};
const wanted = [
  ...PACKAGES.start,
  ...(purpose === "test" || purpose === "bench" ? PACKAGES.test : []),
  ...(purpose === "bench" ? PACKAGES.bench : []),
];

function run(command, commandArgs, options = {}) {
  const result = spawnSync(command, commandArgs, { stdio: "inherit", cwd: root, ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function fail(message) {
  console.error(`\nnbdts setup: ${message}`);
  process.exit(1);
}

function installSystemPackages() {
  if (process.platform !== "linux") fail(`nbdkit plugins run on Linux; this is ${process.platform}.`);
  const hasDpkg = spawnSync("dpkg-query", ["--version"], { stdio: "ignore" }).status === 0;
  if (!hasDpkg) {
    const nbdkit = spawnSync("nbdkit", ["--version"], { stdio: "ignore" }).status === 0;
    if (!nbdkit) fail("nbdkit is not installed, and this is not a Debian/Ubuntu system; install nbdkit and its plugin headers with your package manager.");
    console.error("nbdts setup: not a Debian/Ubuntu system; assuming the system packages are present.");
    return;
  }
  const missing = wanted.filter((name) => {
    const query = spawnSync("dpkg-query", ["-W", "-f=${Status}", name], { encoding: "utf8" });
    return !query.stdout?.includes("install ok installed");
  });
  if (missing.length === 0) return;
  const command = `apt-get install -y --no-install-recommends ${missing.join(" ")}`;
  if (process.getuid?.() !== 0) {
    fail(`missing system packages: ${missing.join(", ")}\nInstall them with:\n\n  sudo apt-get update && sudo ${command}\n`);
  }
  console.error(`nbdts setup: installing ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (run("apt-get", ["update", "-qq"], { env }) !== 0) fail("apt-get update failed (see above).");
  if (run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env }) !== 0) {
    fail(`apt-get install failed (see above). The command was:\n\n  ${command}\n`);
  }
}

// node-gyp needs Node's headers. Distribution packages, official tarballs and
// nvm all keep them two levels above the node binary; pointing node-gyp there
// keeps builds offline (it would otherwise download them from nodejs.org).
function nodeDir() {
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, "include", "node", "common.gypi")) ? prefix : undefined;
}

function buildEnv() {
  const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", TURBO_NO_UPDATE_NOTIFIER: "1", DO_NOT_TRACK: "1" };
  const dir = nodeDir();
  if (dir !== undefined && env.npm_config_nodedir === undefined) env.npm_config_nodedir = dir;
  return env;
}

function installNodeModules() {
  const lock = join(root, "package-lock.json");
  const marker = join(root, "node_modules", ".package-lock.json");
  const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs;
  if (!stale) return;
  console.error("nbdts setup: npm ci");
  if (run("npm", ["ci", "--no-audit", "--no-fund"], { env: buildEnv() }) !== 0) fail("npm ci failed (see above).");
}

function buildWorkspace() {
  if (run("npx", ["turbo", "run", "build", "--output-logs=errors-only"], { env: buildEnv() }) !== 0) {
    fail("the build failed (see above).");
  }
}

installSystemPackages();
installNodeModules();
if (build) buildWorkspace();
