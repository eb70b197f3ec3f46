#!/usr/bin/env node
// Builds nbdkit-ts-plugin.so and the addon with node-gyp, offline: it passes
// the directory holding Node's headers (two levels above the node binary, as
// in distribution packages, official tarballs and nvm) instead of letting
// node-gyp download them from nodejs.org.

import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const nodeGyp = join(dirname(require.resolve("node-gyp/package.json")), "bin", "node-gyp.js");

const prefix = dirname(dirname(process.execPath));
const nodedir = process.env.npm_config_nodedir ?? (existsSync(join(prefix, "include", "node", "common.gypi")) ? prefix : undefined);
const common = ["--release", "--loglevel=warn", ...(nodedir !== undefined ? [`--nodedir=${nodedir}`] : [])];

function nodeGypStep(step) {
  return spawnSync(process.execPath, [nodeGyp, step, ...common], { cwd: root, stdio: "inherit" });
}

// Configure only when needed, then build in place: unlike `rebuild`, this
// never deletes build/, so nbdkit processes running tests keep their .so.
const makefile = join(root, "build", "Makefile");
const configured = existsSync(makefile) && statSync(makefile).mtimeMs >= statSync(join(root, "binding.gyp")).mtimeMs;
let result = configured ? { status: 0 } : nodeGypStep("configure");
if (result.status === 0) result = nodeGypStep("build");
if (result.status !== 0) {
  console.error(`
@nbdts/native: building the native parts failed (see above). They need:
  - a C/C++ compiler, make and python3:   apt-get install g++ make python3
  - nbdkit's plugin headers (pkg-config): apt-get install nbdkit-plugin-dev pkg-config
  - Node's headers, found at ${nodedir ?? "(not found; set npm_config_nodedir)"}`);
  process.exit(result.status ?? 1);
}
