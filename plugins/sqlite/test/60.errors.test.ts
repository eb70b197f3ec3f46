/**
 * Bad input: a mistake in the configuration stops nbdkit at start-up with a
 * message naming the parameter, the value and what was expected; a file that
 * is not a disk file of this version is refused without being changed; a
 * request that fails returns the right errno and keeps the data.
 */

import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { python, runNbdkit, type RunResult } from "@nbdts/native/testing";
import { describe, expect, test } from "vitest";
import { openDatabase } from "../src/sqlite.js";
import { PLUGIN, integrityCheck, serve, testScope } from "./support/disks.js";

const scope = testScope();

/** Starts nbdkit with the plugin as a user would, expecting it to refuse to start. */
async function start(params: Record<string, string | number> | string[]): Promise<RunResult> {
  return runNbdkit({ plugin: PLUGIN, params, nbdkitArgs: ["-U", "-", "--run", "true"], timeoutMs: 60_000 });
}

async function expectRefused(params: Record<string, string | number> | string[], message: string): Promise<void> {
  const result = await start(params);
  expect(result.code, result.stderr).not.toBe(0);
  expect(result.stderr).toContain(message);
}

describe("the file", () => {
  test("in a directory where files cannot be created is refused at start-up", async () => {
    await expectRefused({ file: "/proc/nbdts-test.db", size: "1M" }, 'file: cannot create "/proc/nbdts-test.db": ENOENT: no such file or directory');
  });

  test("in a directory that does not exist is refused at start-up", async () => {
    const dir = scope.dir();
    await expectRefused(
      { file: join(dir, "no", "such", "x.db") },
      `file: cannot create "${join(dir, "no", "such", "x.db")}": the directory "${join(dir, "no", "such")}" does not exist; create it first`,
    );
  });

  test("that is a directory is refused at start-up", async () => {
    const dir = scope.dir();
    mkdirSync(join(dir, "d"));
    await expectRefused({ file: join(dir, "d") }, `file: "${join(dir, "d")}" is a directory: give the path of a database file`);
  });

  test("that is not a SQLite database is refused at start-up and left as it was", async () => {
    const dir = scope.dir();
    const path = join(dir, "photo.jpg");
    const bytes = randomBytes(100_000);
    writeFileSync(path, bytes);
    await expectRefused({ file: path, size: "1M" }, `file: "${path}" is not a SQLite database (SQLite: file is not a database)`);
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  test("that is another application's SQLite database is refused at start-up", async () => {
    const dir = scope.dir();
    const path = join(dir, "app.db");
    const db = openDatabase(path);
    db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
    db.close();
    await expectRefused(
      { file: path, size: "1M" },
      `file: "${path}" is a SQLite database of another application (it has tables "users"), not a disk file of @nbdts/sqlite`,
    );
    const check = openDatabase(path);
    expect(check.prepare("SELECT name FROM sqlite_schema").pluck().all()).toEqual(["users"]);
    check.close();
  });

  test("from a newer schema version is refused at start-up", async () => {
    const dir = scope.dir();
    const path = join(dir, "future.db");
    const server = await serve({ file: path, size: "1M" });
    await python(server.uri, "h.pwrite(b'x', 0)");
    await server.stop();
    const db = openDatabase(path);
    db.pragma("user_version = 2");
    db.close();
    await expectRefused(
      { file: path },
      `file: "${path}" has schema version 2, newer than this @nbdts/sqlite understands (1): upgrade @nbdts/sqlite to use it`,
    );
  });

  test("is required", async () => {
    await expectRefused({ size: "1M" }, "missing required parameter file");
  });
});

describe("parameters", () => {
  test.each([
    ["3000", 'block-size: "3000" is not a valid block size: expected a power of two from 4k to 4M'],
    ["2k", 'block-size: "2k" is not a valid block size: expected a power of two from 4k to 4M'],
    ["8M", 'block-size: "8M" is not a valid block size: expected a power of two from 4k to 4M'],
    ["big", 'block-size: could not parse size string "big": expected a whole number'],
  ])("block-size=%s is refused at start-up", async (value, message) => {
    const dir = scope.dir();
    await expectRefused({ file: join(dir, "x.db"), size: "1M", "block-size": value }, message);
  });

  test("sync= takes full or normal", async () => {
    const dir = scope.dir();
    await expectRefused({ file: join(dir, "x.db"), sync: "always" }, 'sync: "always" is not valid: expected one of: full, normal');
  });

  test("max-size= below 1M is refused at start-up", async () => {
    const dir = scope.dir();
    await expectRefused({ file: join(dir, "x.db"), "max-size": "64k" }, "max-size: 65536 bytes is too small: expected at least 1M");
  });

  test("a bare word is the file", async () => {
    const dir = scope.dir();
    const path = join(dir, "bare.db");
    const server = await serve([path, "size=1M"]);
    try {
      expect(await python(server.uri, "print(h.get_size())")).toBe("1048576\n");
    } finally {
      await server.stop();
    }
  });
});

describe("requests", () => {
  test("a write past max-size fails with ENOSPC, a flush reports unflushed writes lost with it, and trimming makes room", async () => {
    const dir = scope.dir();
    const path = join(dir, "capped.db");
    const server = await serve({ file: path, size: "64M", "max-size": "2M" });
    try {
      const out = await python(
        server.uri,
        `
def attempt(call, *args):
    try:
        call(*args)
        print("ok")
    except nbd.Error as e:
        print(e.errno)

a = os.urandom(1 << 20)
h.pwrite(a, 0)
h.flush()
# Nothing unflushed: the failed write loses nothing else, and the flush succeeds.
attempt(h.pwrite, os.urandom(4 << 20), 1 << 20)
attempt(h.flush)
# An acknowledged, unflushed write goes with the batch SQLite rolls back: the flush says so, once.
h.pwrite(b"b" * 65536, 16 << 20)
attempt(h.pwrite, os.urandom(4 << 20), 1 << 20)
attempt(h.flush)
print(h.pread(65536, 16 << 20) == bytes(65536), h.pread(1 << 20, 0) == a)
attempt(h.flush)
# Trimming frees space that later writes reuse.
h.trim(1 << 20, 0)
h.flush()
c = os.urandom(1 << 20)
h.pwrite(c, 8 << 20)
h.flush()
print(h.pread(1 << 20, 8 << 20) == c)
`,
      );
      expect(out).toBe("ENOSPC\nok\nENOSPC\nEIO\nTrue True\nok\nTrue\n");
      expect(server.log()).toContain("SQLite: database or disk is full (SQLITE_FULL)");
      expect(server.log()).toContain("writes since the last flush were lost: SQLite rolled back the uncommitted writes");
    } finally {
      await server.stop();
    }
    expect(await integrityCheck(path)).toBe("ok");
  });
});
