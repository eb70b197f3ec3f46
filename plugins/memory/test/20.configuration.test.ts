import { describe, expect, it } from "vitest";
import { runNbdkit, withNbdkit, nbdinfo } from "@nbdts/native/testing";

const PLUGIN = "@nbdts/memory";

/** Runs nbdkit with `params` until it is ready, then stops it: configuration errors end it first. */
function configure(params: Record<string, string> | string[]) {
  return runNbdkit({ plugin: PLUGIN, params, nbdkitArgs: ["-U", "-", "--run", "true"] });
}

describe("configuration", () => {
  it("serves a disk of the size given as size=", async () => {
    await withNbdkit({ plugin: PLUGIN, params: { size: "1G" } }, async (server) => {
      expect((await nbdinfo(["--size", server.uri])).trim()).toBe(String(1024 ** 3));
    });
  });

  it("takes a bare word as the size, as in `nbdkit ts @nbdts/memory 1G`", async () => {
    await withNbdkit({ plugin: PLUGIN, params: ["100M"] }, async (server) => {
      expect((await nbdinfo(["--size", server.uri])).trim()).toBe(String(100 * 1024 ** 2));
    });
  });

  it("accepts the largest size nbdkit allows, 2^63-1 bytes", async () => {
    await withNbdkit({ plugin: PLUGIN, params: [String((1n << 63n) - 1n)] }, async (server) => {
      expect((await nbdinfo(["--size", server.uri])).trim()).toBe(String((1n << 63n) - 1n));
    });
  });

  it("refuses to start without a size, naming the parameter", async () => {
    const result = await configure([]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("missing required parameter size");
  });

  it.each([
    ["1.5G", /size: "1\.5G" is not a valid size: expected a whole number with an optional suffix/],
    ["1MB", /size: "1MB" is not a valid size/],
    ["-1", /size: "-1"/],
    ["8E", /size: "8E" is too large: the largest size is 2\^63−1 bytes/],
  ])("refuses the size %s with a message naming the value and what was expected", async (size, message) => {
    const result = await configure({ size });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });

  it("refuses a size given twice", async () => {
    const result = await configure(["1G", "size=2G"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('size: given twice ("1G", then "2G")');
  });

  it("refuses an unknown parameter, suggesting the right one", async () => {
    const result = await configure({ sise: "1G" });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('unknown parameter "sise" for plugin memory (did you mean "size"?)');
  });

  it("runs its requests in parallel and says so in --dump-plugin", async () => {
    const result = await runNbdkit({ plugin: PLUGIN, params: ["1M"], nbdkitArgs: ["--dump-plugin"] });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("ts_name=memory");
    expect(result.stdout).toContain("ts_thread_model=parallel");
    expect(result.stdout).toContain("ts_magic_config_key=size");
  });
});
