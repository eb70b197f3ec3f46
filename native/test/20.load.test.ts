import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { python, withNbdkit } from "@nbdts/native/testing";
import { FIXTURES, errorLines, expectSuccess, fixture, nbdinfo, serveWhile } from "./fixtures/part1/kit.js";

// The host names a plugin on nbdkit's command line as an npm package or a
// file, imports it, and checks that it is a plugin. Each test runs real
// nbdkit with the built shim and reads the disk with a real client, so a
// plugin counts as loaded only when its own bytes come back.

const PROJECT = fixture("project");

/** The first `count` bytes of the default export, as hex. */
async function firstBytes(uri: string, count = 4): Promise<string> {
  return (await python(uri, `print(h.pread(${count}, 0).hex())`)).trim();
}

describe("plugins named as npm packages", () => {
  it("a package in the node_modules of nbdkit's working directory is found through its exports map", async () => {
    await withNbdkit({ plugin: "@part1/exports-disk", cwd: PROJECT }, async (server) => {
      expect(await firstBytes(server.uri)).toBe("e1e1e1e1");
      expect((await nbdinfo(server.uri))["export-size"]).toBe(65536);
    });
  });

  it("a package whose package.json has only a main field is found through it", async () => {
    await withNbdkit({ plugin: "part1-main-disk", cwd: PROJECT }, async (server) => {
      expect(await firstBytes(server.uri)).toBe("3a3a3a3a");
      expect((await nbdinfo(server.uri))["export-size"]).toBe(131072);
    });
  });

  it("a package in a parent directory's node_modules is found from a working directory below it", async () => {
    const workdir = fixture("project/workdir");
    await withNbdkit({ plugin: "@part1/exports-disk", cwd: workdir }, async (server) => {
      expect(await firstBytes(server.uri)).toBe("e1e1e1e1");
    });
    await withNbdkit({ plugin: "part1-main-disk", cwd: workdir }, async (server) => {
      expect(await firstBytes(server.uri)).toBe("3a3a3a3a");
    });
  });
});

describe("plugins named as files", () => {
  it("a .js file is imported as an ES module", async () => {
    await withNbdkit({ plugin: fixture("plain.js") }, async (server) => {
      expect(await firstBytes(server.uri)).toBe("4a4a4a4a");
      expect((await nbdinfo(server.uri))["export-size"]).toBe(4096);
    });
  });

  it("a .mjs file is imported as an ES module", async () => {
    await withNbdkit({ plugin: fixture("plain.mjs") }, async (server) => {
      expect(await firstBytes(server.uri)).toBe("4d4d4d4d");
      expect((await nbdinfo(server.uri))["export-size"]).toBe(8192);
    });
  });

  it("a .ts file is transpiled at load, since Node 20 cannot strip types itself", async () => {
    // ram.ts has an interface, annotations and `satisfies`: Node 20 would
    // refuse it as JavaScript.
    await withNbdkit({ plugin: fixture("ram.ts"), params: { size: "1M" } }, async (server) => {
      expect(await firstBytes(server.uri, 2)).toBe("5200");
      const info = await nbdinfo(server.uri);
      expect(info["export-size"]).toBe(1048576);
      expect(info.is_read_only).toBe(false);
    });
  });

  it("a relative path written ./x.ts resolves from nbdkit's working directory", async () => {
    await withNbdkit({ plugin: "./ram.ts", params: { size: "64k" }, cwd: FIXTURES }, async (server) => {
      expect((await nbdinfo(server.uri))["export-size"]).toBe(65536);
    });
  });

  it("a relative path without ./ that ends in .ts is a file, not a package name", async () => {
    await withNbdkit({ plugin: "ram.ts", params: { size: "128k" }, cwd: FIXTURES }, async (server) => {
      expect(await firstBytes(server.uri, 1)).toBe("52");
      expect((await nbdinfo(server.uri))["export-size"]).toBe(131072);
    });
  });

  it("data written through the loaded plugin reads back", async () => {
    await withNbdkit({ plugin: fixture("ram.ts"), params: { size: "1M" } }, async (server) => {
      const out = await python(
        server.uri,
        ["h.pwrite(b'loaded!' * 100, 4096)", "print(h.pread(700, 4096) == b'loaded!' * 100)"].join("\n"),
      );
      expect(out.trim()).toBe("True");
    });
  });
});

describe("plugins that cannot be loaded stop nbdkit with a message that says why", () => {
  /** Serves `plugin` as the first bare word; a load failure ends nbdkit before `true` runs. */
  async function failToLoad(plugin: string, cwd = FIXTURES) {
    const result = await serveWhile([plugin], "true", { cwd });
    const errors = errorLines(result.stderr);
    return { code: result.code, errors, stderr: result.stderr };
  }

  it("a package that is not installed: the message names it and says how to install it", async () => {
    const { code, errors } = await failToLoad("@part1/not-installed", PROJECT);
    expect(code).not.toBe(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('cannot find plugin "@part1/not-installed"');
    expect(errors[0]).toContain("npm install @part1/not-installed");
    expect(errors[0]).toContain(PROJECT);
  });

  it("a file that does not exist: the message names the path", async () => {
    const { code, errors } = await failToLoad("./no-such-plugin.ts");
    expect(code).not.toBe(0);
    expect(errors[0]).toContain(`cannot find plugin file ${fixture("no-such-plugin.ts")}`);
  });

  it("a module with a syntax error: the message says it failed to load and shows the parser's error", async () => {
    const { code, errors } = await failToLoad("./broken-syntax.mjs");
    expect(code).not.toBe(0);
    expect(errors[0]).toContain('failed to load plugin "./broken-syntax.mjs"');
    expect(errors[0]).toContain("SyntaxError: Unexpected token ')'");
  });

  it("a TypeScript module with a syntax error: the message shows the file, line and column", async () => {
    // Written at test time, so that the suite's type check never sees it.
    const dir = mkdtempSync(join(tmpdir(), "nbdts-part1-"));
    try {
      writeFileSync(`${dir}/broken.ts`, 'export default {\n  name: "broken",,\n};\n');
      const { code, errors, stderr } = await failToLoad(`${dir}/broken.ts`);
      expect(code).not.toBe(0);
      expect(errors[0]).toContain(`failed to load plugin "${dir}/broken.ts"`);
      expect(stderr).toContain(`${dir}/broken.ts:2:`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a plugin object without pread: the message names the missing callback", async () => {
    const { code, errors } = await failToLoad("./no-pread.mjs");
    expect(code).not.toBe(0);
    expect(errors[0]).toContain(`plugin no-pread (${fixture("no-pread.mjs")}) has no pread callback`);
  });

  it("a definePlugin call without pread: definePlugin's own error names the missing callback", async () => {
    const { code, errors } = await failToLoad("./no-pread-defined.mjs");
    expect(code).not.toBe(0);
    expect(errors[0]).toContain('failed to load plugin "./no-pread-defined.mjs"');
    expect(errors[0]).toContain('plugin "no-pread" has no pread callback');
  });

  it("a module without a default export: the message says to export the plugin as default", async () => {
    const { code, errors } = await failToLoad("./no-default.mjs");
    expect(code).not.toBe(0);
    expect(errors[0]).toContain(`${fixture("no-default.mjs")} has no default export`);
    expect(errors[0]).toContain("export default definePlugin");
  });

  // Fails with the host as it is (native/src/host/errors.ts logs every error
  // but an NbdError with its stack); see the report for the proposed fix.
  it("a load failure that the loader explains is reported by its message alone, without the loader's stack", async () => {
    // The LoadError's text is written for the user; frames inside the host
    // (load.ts, dispatch.ts) say nothing to them.
    const { stderr } = await failToLoad("@part1/not-installed", PROJECT);
    expect(stderr).toContain('cannot find plugin "@part1/not-installed"');
    expect(stderr).not.toMatch(/^\s+at .*host\/(load|dispatch|main)\.[jt]s/m);
  });

  it("a plugin that loads fine is served: the failure cases above are not the fixtures' fault", async () => {
    const result = expectSuccess(
      await serveWhile(["./ram.ts", "size=4k"], 'nbdinfo --size "$uri"', { cwd: FIXTURES }),
      "nbdkit ./ram.ts",
    );
    expect(result.stdout.trim()).toBe("4096");
  });
});

describe("NBDTS_NODE chooses the node that runs the host", () => {
  /** A directory holding `name`: a script that records that it ran, then runs this node. */
  function wrapper(name: string): { dir: string; marker: string; cleanup: () => void } {
    const dir = mkdtempSync(join(tmpdir(), "nbdts-node-"));
    const marker = join(dir, "ran");
    const script = join(dir, name);
    writeFileSync(script, `#!/bin/sh\ntouch '${marker}'\nexec '${process.execPath}' "$@"\n`);
    chmodSync(script, 0o755);
    return { dir, marker, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }

  it("a path is run as it is", async () => {
    const node = wrapper("my-node");
    try {
      const result = await serveWhile(["./ram.ts", "size=4k"], 'nbdinfo --size "$uri"', {
        cwd: FIXTURES,
        env: { NBDTS_NODE: join(node.dir, "my-node") },
      });
      expect(expectSuccess(result, "nbdkit with NBDTS_NODE=PATH").stdout.trim()).toBe("4096");
      expect(existsSync(node.marker)).toBe(true);
    } finally {
      node.cleanup();
    }
  });

  it("a bare name is looked up on PATH, as a shell would", async () => {
    const node = wrapper("nbdts-test-node");
    try {
      const result = await serveWhile(["./ram.ts", "size=8k"], 'nbdinfo --size "$uri"', {
        cwd: FIXTURES,
        env: { NBDTS_NODE: "nbdts-test-node", PATH: `${node.dir}:${process.env.PATH ?? ""}` },
      });
      expect(expectSuccess(result, "nbdkit with NBDTS_NODE=NAME").stdout.trim()).toBe("8192");
      expect(existsSync(node.marker)).toBe(true);
    } finally {
      node.cleanup();
    }
  });

  it("a name that is not on PATH stops nbdkit with a message naming it", async () => {
    const result = await serveWhile(["./ram.ts", "size=4k"], "true", {
      cwd: FIXTURES,
      env: { NBDTS_NODE: "nbdts-no-such-node" },
    });
    expect(result.code).not.toBe(0);
    expect(errorLines(result.stderr)).toEqual([expect.stringContaining("NBDTS_NODE=nbdts-no-such-node: no such program on PATH")]);
  });
});
