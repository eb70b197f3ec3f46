/**
 * How a row names its servers: a C plugin, a TypeScript plugin through the
 * nbdts shim, or a Python script through nbdkit-plugin-python. Also the
 * checks suites use to say why they cannot run.
 */

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { shimPath } from "@nbdts/native";
import type { ServerSpec } from "./model.js";

/** bench/ itself. */
export const benchRoot: string = join(dirname(fileURLToPath(import.meta.url)), "..");
/** The repository (the workspace root). */
export const repoRoot: string = join(benchRoot, "..");

type Params = Readonly<Record<string, string | number>>;

function words(params: Params): string[] {
  return Object.entries(params).map(([key, value]) => `${key}=${value}`);
}

type Extra = Pick<ServerSpec, "nbdkitOptions" | "env">;

/** One of nbdkit's own plugins: `nbdkit PLUGIN key=value ...`. */
export function cPlugin(id: string, label: string, plugin: string, params: Params, extra: Extra = {}): ServerSpec {
  return { id, label, pluginArgs: [plugin, ...words(params)], ...extra };
}

/**
 * A TypeScript plugin through the shim: `nbdkit SHIM plugin=X key=value ...`
 * (what `nbdkit ts plugin=X` runs after `nbdts link`), with the shim of this
 * checkout so the run never depends on what is linked into nbdkit.
 */
export function tsPlugin(id: string, label: string, plugin: string, params: Params, extra: Extra = {}): ServerSpec {
  return { id, label, pluginArgs: [shimPath(), `plugin=${plugin}`, ...words(params)], ...extra };
}

/** A Python script through nbdkit-plugin-python: `nbdkit python SCRIPT key=value ...`. */
export function pythonPlugin(id: string, label: string, script: string, params: Params, extra: Extra = {}): ServerSpec {
  return { id, label, pluginArgs: ["python", script, ...words(params)], ...extra };
}

/** Why the shim cannot be used, or undefined. */
export function shimMissing(): string | undefined {
  return existsSync(shimPath())
    ? undefined
    : `the nbdts shim ${shimPath()} is not built; run \`npm run build\` at the repository root`;
}

/** Why the workspace package `name` (e.g. "@nbdts/memory") cannot be loaded, or undefined. */
export function packageMissing(name: string): string | undefined {
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve(`${name}/package.json`);
  } catch {
    return `${name} is not installed in this workspace`;
  }
  const entry = join(dirname(manifest), "dist", "index.js");
  return existsSync(entry) ? undefined : `${name} is not built (${entry} is missing); run \`npm run build\` at the repository root`;
}

/** Why nbdkit's plugin `plugin` cannot be loaded, or undefined (asks `nbdkit PLUGIN --dump-plugin`). */
export function nbdkitPluginMissing(plugin: string, hint: string): string | undefined {
  const result = spawnSync("nbdkit", [plugin, "--dump-plugin"], { encoding: "utf8", timeout: 30_000 });
  if (result.error !== undefined) return `nbdkit could not be run (${result.error.message})`;
  return result.status === 0 ? undefined : `nbdkit's ${plugin} plugin cannot be loaded (${hint}): ${result.stderr.trim().split("\n")[0]}`;
}

/** Why a program is missing from PATH, or undefined. */
export function programMissing(program: string, packageName: string): string | undefined {
  const result = spawnSync("sh", ["-c", `command -v ${program}`], { encoding: "utf8" });
  return result.status === 0 ? undefined : `${program} is not installed (Debian package ${packageName})`;
}

/** The first reason in the list, or undefined when every check passed. */
export function firstReason(...reasons: Array<() => string | undefined>): string | undefined {
  for (const reason of reasons) {
    const why = reason();
    if (why !== undefined) return why;
  }
  return undefined;
}
