import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { runNbdkit, withNbdkit, nbdinfo } from "@nbdts/native/testing";
import { scratchDirectory } from "./support/files.js";

const PLUGIN = "@nbdts/file";
const scratch = scratchDirectory();
afterAll(() => scratch.remove());

const disk = join(scratch.path, "disk.img");
writeFileSync(disk, Buffer.alloc(3 * 1024 * 1024 + 512, 1));

/** Runs nbdkit with `params` until it is ready, then stops it: configuration errors end it first. */
function configure(params: Record<string, string> | string[]) {
  return runNbdkit({ plugin: PLUGIN, params, nbdkitArgs: ["-U", "-", "--run", "true"] });
}

describe("configuration", () => {
  it("serves the file given as file=, at its exact size", async () => {
    await withNbdkit({ plugin: PLUGIN, params: { file: disk } }, async (server) => {
      expect((await nbdinfo(["--size", server.uri])).trim()).toBe(String(3 * 1024 * 1024 + 512));
    });
  });

  it("takes a bare word as the file, as in `nbdkit ts @nbdts/file disk.img`, relative to nbdkit's directory", async () => {
    // From another directory the package is not found by name, so name its built module.
    const plugin = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    await withNbdkit({ plugin, params: ["disk.img"], cwd: scratch.path }, async (server) => {
      expect((await nbdinfo(["--size", server.uri])).trim()).toBe(String(3 * 1024 * 1024 + 512));
    });
  });

  it("refuses to start without file= or dir=, saying which to give", async () => {
    const result = await configure([]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("give either [file=]<FILENAME>");
    expect(result.stderr).toContain("dir=<DIRECTORY>");
  });

  it("refuses a file that does not exist, naming it", async () => {
    const missing = join(scratch.path, "no-such.img");
    const result = await configure({ file: missing });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`file: "${missing}" does not exist`);
  });

  it("refuses file= and dir= together", async () => {
    const result = await configure({ file: disk, dir: scratch.path });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`file=${disk} and dir=${scratch.path} cannot be used together: give one of them`);
  });

  it("refuses a directory given as file=, suggesting dir=", async () => {
    const result = await configure({ file: scratch.path });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`file=${scratch.path} is a directory: to serve the files in it, use dir=${scratch.path}`);
  });

  it("refuses a FIFO given as file=", async () => {
    const fifo = join(scratch.path, "fifo");
    execFileSync("mkfifo", [fifo]);
    const result = await configure({ file: fifo });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`file=${fifo} is not a regular file or a block device`);
  });

  it("refuses a dir= that is not a directory", async () => {
    const result = await configure({ dir: disk });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`dir: "${disk}" is not a directory: expected a directory`);
  });

  it.each([
    ["cache", "nonee", /cache: "nonee" is not valid: expected one of: default, none \(did you mean "none"\?\)/],
    ["fadvise", "fast", /fadvise: "fast" is not valid: expected one of: normal, random, sequential/],
  ])("refuses %s=%s, listing the values it takes", async (key, value, message) => {
    const result = await configure({ file: disk, [key]: value });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });

  it("runs its requests in parallel and says so in --dump-plugin", async () => {
    mkdirSync(join(scratch.path, "d"), { recursive: true });
    const result = await runNbdkit({ plugin: PLUGIN, params: { file: disk }, nbdkitArgs: ["--dump-plugin"] });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("ts_name=file");
    expect(result.stdout).toContain("ts_thread_model=parallel");
    expect(result.stdout).toContain("ts_magic_config_key=file");
  });
});
