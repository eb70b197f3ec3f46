/**
 * Helpers for the @nbdts/sqlite suites: temporary disk files, servers of the
 * built plugin, and direct looks into the database (with SQLite itself, only
 * while no server holds the file's lock).
 */

import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, startNbdkit, withNbdkit, type NbdkitOptions, type NbdkitServer, type PluginParams } from "@nbdts/native/testing";
import { afterEach } from "vitest";
import { openDatabase } from "../../src/sqlite.js";

/** The plugin as nbdkit is given it: the package, resolved to plugins/sqlite/dist. */
export const PLUGIN = "@nbdts/sqlite";

/** The built command-line tool. */
export const CLI = join(import.meta.dirname, "..", "..", "dist", "cli.js");

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "nbdts-sqlite-test-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** What a test file gets from {@link testScope}. */
export interface TestScope {
  /** Runs `step` after the current test, whatever happens (steps run last first). */
  defer(step: () => Promise<unknown> | void): void;
  /** A temporary directory for the current test. */
  dir(): string;
  /** A path for a disk file (not created) in a temporary directory of the current test. */
  file(name?: string): string;
}

/** Registers an afterEach that undoes what each test of the file set up through the returned scope. */
export function testScope(): TestScope {
  let steps: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    const pending = steps.reverse();
    steps = [];
    for (const step of pending) await step();
  });
  const scope: TestScope = {
    defer: (step) => void steps.push(step),
    dir() {
      const { dir, remove } = tempDir();
      steps.push(remove);
      return dir;
    },
    file: (name = "disks.db") => join(scope.dir(), name),
  };
  return scope;
}

/** Starts nbdkit serving the plugin with `params`. */
export function serve(
  params: PluginParams,
  options: Omit<NbdkitOptions, "plugin" | "params"> = {},
): Promise<NbdkitServer> {
  return startNbdkit({ plugin: PLUGIN, params, ...options });
}

/** Runs `body` with a server of the plugin, stopping it afterwards whatever happens. */
export function withServer<T>(
  params: PluginParams,
  body: (server: NbdkitServer) => Promise<T>,
  options: Omit<NbdkitOptions, "plugin" | "params"> = {},
): Promise<T> {
  return withNbdkit({ plugin: PLUGIN, params, ...options }, body);
}

/** Runs one query on a disk file with SQLite and returns its rows (the file must not be served). */
export function query<Row = Record<string, unknown>>(file: string, sql: string, ...params: unknown[]): Row[] {
  const db = openDatabase(file, { fileMustExist: true });
  try {
    return db.prepare<Row>(sql).all(...params);
  } finally {
    db.close();
  }
}

/** The number of stored blocks of the disk called `name`. */
export function storedBlocks(file: string, name = ""): number {
  const [disk] = query<{ id: number }>(file, "SELECT id FROM disks WHERE name = ?", name);
  if (disk === undefined) throw new Error(`no disk named ${JSON.stringify(name)} in ${file}`);
  const [row] = query<{ n: number }>(file, `SELECT count(*) AS n FROM blocks_${disk.id}`);
  return row!.n;
}

/** `PRAGMA integrity_check` of the file, by the sqlite3 command-line shell: "ok" when healthy. */
export async function integrityCheck(file: string): Promise<string> {
  if (!existsSync(file)) throw new Error(`${file} does not exist`);
  const result = await run("sqlite3", [file, "PRAGMA integrity_check;"], { timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(`sqlite3 failed (code ${result.code}): ${result.stderr}`);
  return result.stdout.trim();
}

/** Whether process `pid` has gone (or is a zombie, dead but not yet reaped). */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** Waits (at most `timeoutMs`) until process `pid` has gone. */
export async function waitGone(pid: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!processGone(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not exit within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
