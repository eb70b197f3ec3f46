#!/usr/bin/env node
/**
 * The `nbdts` command:
 *   nbdts path            print the absolute path of nbdkit-ts-plugin.so
 *   nbdts link [--force]  symlink it into nbdkit's plugin directory (`nbdkit ts ...`)
 *   nbdts unlink          remove that symlink
 *   nbdts doctor          check nbdkit, Node, the shim, the addon and the host
 *   nbdts help PLUGIN     show a TypeScript plugin's parameters
 */

import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, readFileSync, readlinkSync, symlinkSync, unlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { ParamParser } from "@nbdts/sdk";
import { loadAddon, packageRoot, shimPath } from "../addon.js";
import { loadPlugin } from "../host/load.js";
import { hostScriptPath } from "../paths.js";

const SHIM_NAME = "nbdkit-ts-plugin.so";

const USAGE = `Usage: nbdts COMMAND

Commands:
  path            Print the absolute path of ${SHIM_NAME}, so that
                  nbdkit $(nbdts path) plugin=PLUGIN ...   works without root.
  link [--force]  Symlink ${SHIM_NAME} into nbdkit's plugin directory, so that
                  nbdkit ts plugin=PLUGIN ...   works (usually needs root).
  unlink          Remove that symlink.
  doctor          Check nbdkit, Node, the shim, the addon and the host, and
                  print the fix for each problem found.
  help PLUGIN     Show the parameters of a TypeScript plugin (an npm package
                  or a .js/.mjs/.ts file).

Options:
  --help, -h      Show this help.
  --version       Show the version of @nbdts/native.`;

class UsageError extends Error {}

function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
}

/** nbdkit's plugin directory, from `nbdkit --dump-config`. */
function pluginDir(): string {
  const result = spawnSync("nbdkit", ["--dump-config"], { encoding: "utf8" });
  if (result.error !== undefined || result.status !== 0) {
    throw new Error("cannot run `nbdkit --dump-config`: is nbdkit installed? (apt-get install nbdkit)");
  }
  const line = result.stdout.split("\n").find((l) => l.startsWith("plugindir="));
  if (line === undefined) throw new Error("`nbdkit --dump-config` printed no plugindir");
  return line.slice("plugindir=".length);
}

function explainFsError(error: unknown, path: string, verb: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EACCES" || code === "EPERM") {
    return new Error(`cannot ${verb} ${path}: permission denied. nbdkit's plugin directory belongs to root: run it as root (sudo npx nbdts ${verb}), or use nbdkit $(npx nbdts path) plugin=... instead`);
  }
  return new Error(`cannot ${verb} ${path}: ${(error as Error).message}`);
}

function link(force: boolean): void {
  const target = shimPath();
  if (!existsSync(target)) throw new Error(`${target} does not exist: build @nbdts/native first (npm run build)`);
  const link = join(pluginDir(), SHIM_NAME);
  let existing: ReturnType<typeof lstatSync> | undefined;
  try {
    existing = lstatSync(link);
  } catch {
    existing = undefined;
  }
  if (existing !== undefined) {
    if (existing.isSymbolicLink() && resolve(pluginDir(), readlinkSync(link)) === target) {
      console.log(`${link} already points to ${target}`);
      return;
    }
    if (!existing.isSymbolicLink() && !force) {
      throw new Error(`${link} exists and is not a symlink (another nbdts install?); use --force to replace it`);
    }
    try {
      unlinkSync(link);
    } catch (error) {
      throw explainFsError(error, link, "link");
    }
  }
  try {
    symlinkSync(target, link);
  } catch (error) {
    throw explainFsError(error, link, "link");
  }
  console.log(`${link} -> ${target}\nnbdkit ts plugin=PLUGIN ... now works.`);
}

function unlink(): void {
  const link = join(pluginDir(), SHIM_NAME);
  let stat;
  try {
    stat = lstatSync(link);
  } catch {
    console.log(`${link} does not exist; nothing to do`);
    return;
  }
  if (!stat.isSymbolicLink()) throw new Error(`${link} is not a symlink made by nbdts link; leaving it alone`);
  try {
    unlinkSync(link);
  } catch (error) {
    throw explainFsError(error, link, "unlink");
  }
  console.log(`removed ${link}`);
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

function doctor(): boolean {
  const checks: Check[] = [];
  const nbdkit = spawnSync("nbdkit", ["--version"], { encoding: "utf8" });
  const nbdkitVersion = nbdkit.status === 0 ? nbdkit.stdout.trim() : undefined;
  const versionMatch = /(\d+)\.(\d+)/.exec(nbdkitVersion ?? "");
  const nbdkitOk = versionMatch !== null && (Number(versionMatch[1]) > 1 || Number(versionMatch[2]) >= 32);
  checks.push({
    name: "nbdkit",
    ok: nbdkitOk,
    detail: nbdkitVersion ?? "not found on PATH",
    fix: "install nbdkit 1.32 or later: apt-get install nbdkit",
  });

  const [major] = process.versions.node.split(".").map(Number);
  checks.push({
    name: "node",
    ok: (major ?? 0) >= 20,
    detail: `${process.execPath} ${process.version}`,
    fix: "install Node.js 20 or later; set NBDTS_NODE to choose which node nbdkit runs",
  });

  const shim = shimPath();
  const dump = existsSync(shim) ? spawnSync("nbdkit", ["--dump-plugin", shim], { encoding: "utf8" }) : undefined;
  checks.push({
    name: "shim",
    ok: dump?.status === 0 && dump.stdout.includes("name=ts"),
    detail:
      dump === undefined
        ? `${shim} is missing`
        : dump.status === 0
          ? shim
          : `nbdkit cannot load ${shim}: ${dump.error?.message ?? (dump.stderr ?? "").trim()}`,
    fix: "build it: npm run build --workspace @nbdts/native (needs g++, make, python3, nbdkit-plugin-dev)",
  });

  let addonDetail = "";
  let addonOk = true;
  try {
    loadAddon();
    addonDetail = "loads";
  } catch (error) {
    addonOk = false;
    addonDetail = (error as Error).message.split("\n")[1]?.trim() ?? (error as Error).message;
  }
  checks.push({ name: "addon", ok: addonOk, detail: addonDetail, fix: "rebuild it: npm run build --workspace @nbdts/native" });

  const host = hostScriptPath();
  checks.push({
    name: "host",
    ok: existsSync(host),
    detail: existsSync(host) ? host : `${host} is missing`,
    fix: "build it: npm run build --workspace @nbdts/native",
  });

  const linked = spawnSync("nbdkit", ["--dump-plugin", "ts"], { encoding: "utf8" });
  checks.push({
    name: "nbdkit ts",
    ok: linked.status === 0,
    detail: linked.status === 0 ? "nbdkit finds the ts plugin" : "nbdkit ts ... does not work yet",
    fix: "run `sudo npx nbdts link`, or use nbdkit $(npx nbdts path) plugin=... instead",
  });

  let healthy = true;
  for (const check of checks) {
    console.log(`${check.ok ? "ok  " : "FAIL"} ${check.name.padEnd(10)} ${check.detail}`);
    if (!check.ok && check.fix !== undefined) console.log(`     ${"".padEnd(10)} fix: ${check.fix}`);
    // `nbdkit ts` is a convenience; everything works without it.
    if (!check.ok && check.name !== "nbdkit ts") healthy = false;
  }
  return healthy;
}

async function pluginHelp(spec: string | undefined): Promise<void> {
  if (spec === undefined) throw new UsageError("nbdts help: name a plugin, e.g. nbdts help @nbdts/memory");
  const { plugin, path } = await loadPlugin(spec);
  const lines = [`${plugin.name}${plugin.version !== undefined ? ` ${plugin.version}` : ""} (${path})`];
  if (plugin.longname !== undefined) lines.push(plugin.longname);
  if (plugin.description !== undefined) lines.push("", plugin.description);
  lines.push("", `Usage: nbdkit ts plugin=${spec} [key=value ...]`, "");
  lines.push(ParamParser.help(plugin));
  console.log(lines.join("\n").trimEnd());
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "path":
      console.log(shimPath());
      return existsSync(shimPath()) ? 0 : 1;
    case "link":
      link(rest.includes("--force"));
      return 0;
    case "unlink":
      unlink();
      return 0;
    case "doctor":
      return doctor() ? 0 : 1;
    case "help":
      await pluginHelp(rest[0]);
      return 0;
    case "--version":
    case "-V":
      console.log(version());
      return 0;
    case undefined:
    case "--help":
    case "-h":
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`nbdts: unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof UsageError ? error.message : `nbdts: ${(error as Error).message}`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
