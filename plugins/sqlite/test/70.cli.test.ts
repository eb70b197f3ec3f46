/**
 * The nbdts-sqlite command: create, list, resize, delete and vacuum disks
 * without nbdkit, and what nbdkit then serves.
 */

import { statSync } from "node:fs";
import { join } from "node:path";
import { python, run } from "@nbdts/native/testing";
import { describe, expect, test } from "vitest";
import { CLI, serve, testScope, withServer } from "./support/disks.js";

const scope = testScope();

function cli(...args: string[]) {
  return run(process.execPath, [CLI, ...args]);
}

async function ok(...args: string[]): Promise<string> {
  const result = await cli(...args);
  expect(result.code, `nbdts-sqlite ${args.join(" ")}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

interface Listed {
  name: string;
  size: string;
  blockSize: number;
  storedBytes: string;
  created: string;
}

async function list(file: string): Promise<Listed[]> {
  return JSON.parse(await ok("list", file, "--json")) as Listed[];
}

describe("nbdts-sqlite", () => {
  test("creates disks that nbdkit then serves, and lists them", async () => {
    const file = scope.file();
    expect(await ok("create", file, "", "10G")).toBe(`created disk "" in ${file}: 10 GiB, block size 64 KiB\n`);
    await ok("create", file, "small", "1M", "--block-size=4k");

    const disks = await list(file);
    expect(disks.map(({ created, ...rest }) => rest)).toEqual([
      { name: "", size: "10737418240", blockSize: 65536, storedBytes: "0" },
      { name: "small", size: "1048576", blockSize: 4096, storedBytes: "0" },
    ]);
    for (const disk of disks) expect(disk.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    await withServer({ file }, async (server) => {
      expect(await python(server.uri, "print(h.get_size())")).toBe("10737418240\n");
      await python(server.uriFor("small"), "h.pwrite(b'x' * 5000, 0)\nh.flush()");
    });
    expect((await list(file))[1]!.storedBytes).toBe(String(2 * 4096));
    const table = await ok("list", file);
    expect(table.split("\n")[0]).toMatch(/^NAME\s+SIZE\s+BLOCK SIZE\s+STORED\s+CREATED$/);
    expect(table).toMatch(/^"small"\s+1 MiB\s+4 KiB\s+8 KiB\s+\d{4}-/m);
  });

  test("resizes a disk: shrinking cuts its data, growing again reads zeroes past the old end", async () => {
    const file = scope.file();
    await ok("create", file, "d", "1M", "--block-size=4k");
    await withServer({ file }, (server) => python(server.uriFor("d"), "h.pwrite(b'\\x07' * (1 << 20), 0)\nh.flush()"));
    expect(await ok("resize", file, "d", "10000")).toBe(`resized disk "d" in ${file} to 10000 bytes\n`);
    expect((await list(file))[0]!.storedBytes).toBe(String(3 * 4096));
    await ok("resize", file, "d", "2M");
    const out = await withServer({ file }, (server) =>
      python(
        server.uriFor("d"),
        "print(h.get_size(), h.pread(10000, 0) == b'\\x07' * 10000, h.pread((2 << 20) - 10000, 10000) == bytes((2 << 20) - 10000))",
      ),
    );
    expect(out).toBe("2097152 True True\n");
  });

  test("deletes a disk and its data, and vacuum returns the space", async () => {
    const file = scope.file();
    await ok("create", file, "keep", "1M");
    await ok("create", file, "drop", "8M");
    await withServer({ file }, async (server) => {
      await python(server.uriFor("drop"), "h.pwrite(os.urandom(8 << 20), 0)\nh.flush()");
      await python(server.uriFor("keep"), "h.pwrite(b'k', 0)\nh.flush()");
    });
    const before = statSync(file).size;
    expect(await ok("delete", file, "drop")).toBe(`deleted disk "drop" from ${file}\n`);
    expect((await list(file)).map((disk) => disk.name)).toEqual(["keep"]);
    await ok("vacuum", file);
    expect(statSync(file).size).toBeLessThan(before - 7 * 1024 * 1024);

    const kept = await withServer({ file }, (server) => python(server.uriFor("keep"), "print(h.pread(1, 0).decode())"));
    expect(kept).toBe("k\n");
  });

  test("refuses a file that nbdkit is serving, with a message that says so", async () => {
    const file = scope.file();
    const server = await serve({ file, size: "1M" });
    scope.defer(() => server.stop());
    const result = await cli("list", file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`nbdts-sqlite: "${file}" is in use by another process (another nbdkit serving it, or nbdts-sqlite)`);
  });

  test.each([
    [["create", "FILE", "x"], 2, "nbdts-sqlite: missing SIZE"],
    [["create", "FILE", "x", "1.5G"], 2, 'nbdts-sqlite: SIZE "1.5G" is not a valid size'],
    [["create", "FILE", "x", "1G", "--block-size=1000"], 2, '--block-size "1000" is not a valid block size: expected a power of two from 4k to 4M'],
    [["list", "FILE", "--block-size=4k"], 2, "nbdts-sqlite: list takes no option --block-size"],
    [["resize", "FILE", "x", "1G", "extra"], 2, 'nbdts-sqlite: resize: too many arguments ("extra")'],
    [["frobnicate", "FILE"], 2, 'nbdts-sqlite: unknown command "frobnicate"'],
    [["list", "FILE"], 1, 'nbdts-sqlite: "FILE" does not exist'],
    [["resize", "EXISTING", "nope", "1G"], 1, 'has no disk named "nope": its disks are "a"'],
    [["create", "EXISTING", "a", "1G"], 1, 'already has a disk named "a"'],
  ])("%j exits with %i and says what was wrong", async (args, code, message) => {
    const existing = scope.file();
    await ok("create", existing, "a", "1M");
    const missing = join(existing, "..", "missing.db");
    const words = args.map((arg) => (arg === "FILE" ? missing : arg === "EXISTING" ? existing : arg));
    const result = await cli(...words);
    expect(result.code).toBe(code);
    expect(result.stderr).toContain(message.replace('"FILE"', JSON.stringify(missing)));
  });

  test("without arguments prints its usage and exits with 2", async () => {
    const result = await cli();
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Usage: nbdts-sqlite COMMAND FILE [ARGUMENTS]");
  });
});
