import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { REQUIRED_CALLBACKS, isPlugin, type Plugin } from "@nbdts/sdk";

/**
 * Finds and imports the plugin named on nbdkit's command line:
 * - a path (`./x.ts`, `/abs/y.js`, or a relative name ending in .js, .mjs,
 *   .cjs, .ts, .mts or .cts that exists) is imported from the file; `.ts`
 *   files run natively where Node strips types, through tsx elsewhere;
 * - anything else is an npm package, looked up in node_modules from the
 *   current directory upward, then in the global node_modules.
 */

const SCRIPT_EXTENSION = /\.(?:[cm]?js|[cm]?ts)$/;
const TYPESCRIPT_EXTENSION = /\.[cm]?ts$/;

export interface LoadedPlugin {
  plugin: Plugin;
  /** The file the plugin was imported from. */
  path: string;
}

/** An error that stops the plugin from loading; its message is for the user. */
export class LoadError extends Error {
  override name = "LoadError";
}

function isPath(spec: string, cwd: string): boolean {
  if (spec.startsWith("/") || spec.startsWith("./") || spec.startsWith("../") || spec === "." || spec === "..") {
    return true;
  }
  return SCRIPT_EXTENSION.test(spec) && existsSync(resolve(cwd, spec));
}

/** The global node_modules directories, where `npm install -g` puts packages. */
export function globalModuleDirs(): string[] {
  const dirs: string[] = [];
  const prefix = process.env.npm_config_prefix ?? process.env.NPM_CONFIG_PREFIX;
  if (prefix) dirs.push(join(prefix, "lib", "node_modules"));
  dirs.push(join(dirname(dirname(process.execPath)), "lib", "node_modules"));
  return [...new Set(dirs)];
}

function resolvePackage(spec: string, cwd: string): string {
  const require = createRequire(join(cwd, "__nbdts_resolve__.js"));
  try {
    return require.resolve(spec, { paths: [cwd, ...globalModuleDirs()] });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "MODULE_NOT_FOUND") {
      throw new LoadError(
        `cannot find plugin "${spec}": it is not a file, and no npm package of that name is installed ` +
          `in node_modules of ${cwd} or its parents, nor globally (${globalModuleDirs().join(", ")}). ` +
          `Install it (npm install ${spec}) or give a path such as ./my-plugin.ts`,
      );
    }
    if (code === "ERR_PACKAGE_PATH_NOT_EXPORTED") {
      throw new LoadError(
        `cannot load plugin "${spec}": its package.json "exports" has no "default" (or "require") entry ` +
          `for its main module, so it cannot be located; add one`,
      );
    }
    throw new LoadError(`cannot resolve plugin "${spec}": ${(error as Error).message}`);
  }
}

async function importFile(path: string): Promise<unknown> {
  const url = pathToFileURL(path).href;
  const features = process.features as { typescript?: string | false };
  if (TYPESCRIPT_EXTENSION.test(path) && !features.typescript) {
    // Node 20 cannot run TypeScript: transpile at load with tsx, which also
    // handles the .ts files the plugin imports in turn.
    const { tsImport } = await import("tsx/esm/api");
    return tsImport(url, import.meta.url);
  }
  return import(url);
}

function describeLoadFailure(spec: string, error: unknown): LoadError {
  if (error instanceof LoadError) return error;
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return new LoadError(`failed to load plugin "${spec}": ${detail}`, { cause: error });
}

/** Resolves, imports and checks the plugin named `spec`. */
export async function loadPlugin(spec: string, cwd: string = process.cwd()): Promise<LoadedPlugin> {
  let path: string;
  let namespace: unknown;
  try {
    if (isPath(spec, cwd)) {
      path = isAbsolute(spec) ? spec : resolve(cwd, spec);
      if (!existsSync(path)) throw new LoadError(`cannot find plugin file ${path} (from "${spec}")`);
      if (statSync(path).isDirectory()) path = resolvePackage(path, cwd);
    } else {
      path = resolvePackage(spec, cwd);
    }
    namespace = await importFile(path);
  } catch (error) {
    throw describeLoadFailure(spec, error);
  }

  const candidate = (namespace as { default?: unknown }).default;
  if (candidate === undefined) {
    throw new LoadError(
      `${path} has no default export: a plugin module must \`export default definePlugin({ ... })\``,
    );
  }
  if (!isPlugin(candidate)) checkSpec(candidate, path);
  return { plugin: candidate as Plugin, path };
}

/** Checks a default export that was not made by definePlugin (a plain JS object). */
function checkSpec(candidate: unknown, path: string): void {
  if (typeof candidate !== "object" || candidate === null) {
    throw new LoadError(`${path}: the default export is a ${typeof candidate}, not a plugin made by definePlugin({ ... })`);
  }
  const record = candidate as Record<string, unknown>;
  if (typeof record.name !== "string") {
    throw new LoadError(`${path}: the default export has no name; a plugin needs at least name, open, getSize and pread`);
  }
  for (const name of REQUIRED_CALLBACKS) {
    if (typeof record[name] !== "function") {
      throw new LoadError(`plugin ${record.name} (${path}) has no ${name} callback, which every plugin needs`);
    }
  }
}
