/**
 * Many disks in one file: every disk is an export, listed with its size,
 * block size and creation time; `size=` creates disks on first open;
 * `export=` names the default export.
 */

import { python, run } from "@nbdts/native/testing";
import { describe, expect, test } from "vitest";
import { query, testScope, withServer } from "./support/disks.js";

const scope = testScope();

interface ListedExport {
  "export-name": string;
  description?: string;
  "export-size": number;
  block_size_preferred?: number;
}

async function list(uri: string): Promise<ListedExport[]> {
  const result = await run("nbdinfo", ["--list", "--json", uri]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { exports: ListedExport[] }).exports;
}

/** Serves `file` with `params` just long enough to run `code` (Python, with `h`) on each named export. */
async function prepare(file: string, params: Record<string, string>, code: Record<string, string>): Promise<void> {
  await withServer({ file, ...params }, async (server) => {
    for (const [name, script] of Object.entries(code)) await python(server.uriFor(name), script);
  });
}

const ISO_TIME = /created \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

describe("exports", () => {
  test("every disk in the file is listed with its size, block size and creation time", async () => {
    const file = scope.file();
    await prepare(file, { size: "1M" }, { alpha: "h.pwrite(b'a', 0)", "": "h.pwrite(b'd', 0)" });
    await prepare(file, { size: "3M", "block-size": "4k" }, { "beta gamma": "h.pwrite(b'b', 0)" });

    await withServer({ file }, async (server) => {
      const exports = await list(server.uri);
      expect(exports.map((entry) => entry["export-name"])).toEqual(["", "alpha", "beta gamma"]);
      const described = Object.fromEntries(exports.map((entry) => [entry["export-name"], entry]));
      expect(described[""]!.description).toMatch(/^1 MiB disk, block size 64 KiB, /);
      expect(described["alpha"]!["export-size"]).toBe(1024 * 1024);
      expect(described["beta gamma"]!.description).toMatch(/^3 MiB disk, block size 4 KiB, /);
      expect(described["beta gamma"]!["export-size"]).toBe(3 * 1024 * 1024);
      expect(described["beta gamma"]!.block_size_preferred).toBe(4096);
      for (const entry of exports) expect(entry.description).toMatch(ISO_TIME);

      // Each disk kept its own data.
      const bytes = await Promise.all(
        ["", "alpha", "beta gamma"].map((name) => python(server.uriFor(name), "print(h.pread(1, 0).decode())")),
      );
      expect(bytes).toEqual(["d\n", "a\n", "b\n"]);
    });
    expect(query<{ name: string }>(file, "SELECT name FROM disks ORDER BY name").map((row) => row.name)).toEqual([
      "",
      "alpha",
      "beta gamma",
    ]);
  });

  test("size= creates a disk on first open, is listed before that, and does not resize existing disks", async () => {
    const file = scope.file();
    await withServer({ file, size: "2M" }, async (server) => {
      const before = await list(server.uri);
      expect(before).toHaveLength(1);
      expect(before[0]!["export-name"]).toBe("");
      expect(before[0]!.description).toBe("2 MiB disk, block size 64 KiB, created on first open");
      expect(await python(server.uri, "print(h.get_size())")).toBe(`${2 * 1024 * 1024}\n`);
    });
    await withServer({ file, size: "5M" }, async (server) => {
      expect(await python(server.uri, "print(h.get_size())")).toBe(`${2 * 1024 * 1024}\n`);
      expect(await python(server.uriFor("new"), "print(h.get_size())")).toBe(`${5 * 1024 * 1024}\n`);
    });
  });

  test("export= makes another disk the default export", async () => {
    const file = scope.file();
    await prepare(file, { size: "1M" }, { web1: "h.pwrite(b'w', 0)" });
    await withServer({ file, export: "web1" }, async (server) => {
      expect(await python(server.uri, "print(h.get_export_name(), h.pread(1, 0).decode())")).toBe(" w\n");
      const info = await run("nbdinfo", ["--json", server.uri]);
      expect(info.code, info.stderr).toBe(0);
      expect(JSON.parse(info.stdout).exports[0]["export-name"]).toBe("web1");
    });
  });

  test("an export the file does not have is refused without size=, with a message naming the disks there are", async () => {
    const file = scope.file();
    await prepare(file, { size: "1M" }, { only: "pass" });
    await withServer({ file }, async (server) => {
      const result = await run("nbdinfo", [server.uriFor("missing")]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/No such file or directory/);
      expect(server.log()).toContain(`has no disk named "missing": its disks are "only" (give size= to create disks on first open`);
    });
  });

  test("a read-only server serves the disks there are and creates none", async () => {
    const file = scope.file();
    await prepare(file, { size: "1M" }, { ro: "h.pwrite(b'r', 0)\nh.flush()" });
    await withServer(
      { file, size: "1M" },
      async (server) => {
        expect(await python(server.uriFor("ro"), "print(h.is_read_only(), h.pread(1, 0).decode())")).toBe("True r\n");
        // Listing does not offer a disk that a read-only server would not create.
        expect((await list(server.uri)).map((entry) => entry["export-name"])).toEqual(["ro"]);
        const result = await run("nbdinfo", [server.uriFor("other")]);
        expect(result.code).not.toBe(0);
        expect(server.log()).toContain("a read-only connection does not create one");
      },
      { nbdkitArgs: ["-r"] },
    );
    expect(query(file, "SELECT name FROM disks")).toEqual([{ name: "ro" }]);
  });
});
