import { existsSync, lstatSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run, type RunResult } from "@nbdts/native/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shimPath } from "../src/addon.js";
import { fixture } from "./fixtures/part2/support.js";

// The nbdts command, run as users run it: node native/dist/cli/main.js.

const cli = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
const packageJson = fileURLToPath(new URL("../package.json", import.meta.url));
const pattern = fixture("pattern.ts");

function nbdts(args: readonly string[], env?: Record<string, string>): Promise<RunResult> {
  return run(process.execPath, [cli, ...args], env === undefined ? {} : { env });
}

describe("nbdts path", () => {
  it("prints the absolute path of the built nbdkit-ts-plugin.so", async () => {
    const result = await nbdts(["path"]);
    expect(result.code).toBe(0);
    const path = result.stdout.trim();
    expect(result.stdout).toBe(`${path}\n`);
    expect(path.startsWith("/")).toBe(true);
    expect(path.endsWith("/nbdkit-ts-plugin.so")).toBe(true);
    expect(existsSync(path)).toBe(true);
    expect(path).toBe(shimPath());
  });

  it("is what nbdkit needs: nbdkit $(nbdts path) plugin=... serves the plugin", async () => {
    const result = await run("sh", [
      "-c",
      'exec nbdkit -U - "$("$0" "$1" path)" plugin="$2" size=5M --run \'nbdinfo --size "$uri"\'',
      process.execPath,
      cli,
      pattern,
    ]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(`${5 * 1024 * 1024}\n`);
    expect(result.code).toBe(0);
  });
});

describe("nbdts link and unlink, in nbdkit's plugin directory", () => {
  let link: string;
  /** What was at `link` before these tests, restored after them. */
  let original: { kind: "symlink"; target: string } | { kind: "file"; content: Buffer } | { kind: "none" };

  const linkState = () => {
    try {
      const stat = lstatSync(link);
      return stat.isSymbolicLink() ? `symlink to ${readlinkSync(link)}` : "a regular file";
    } catch {
      return "absent";
    }
  };

  beforeAll(async () => {
    const config = await run("nbdkit", ["--dump-config"]);
    const plugindir = /^plugindir=(.*)$/m.exec(config.stdout)?.[1];
    expect(plugindir).toBeDefined();
    link = join(plugindir!, "nbdkit-ts-plugin.so");
    const state = linkState();
    if (state === "absent") original = { kind: "none" };
    else if (state === "a regular file") original = { kind: "file", content: readFileSync(link) };
    else original = { kind: "symlink", target: readlinkSync(link) };
  });

  afterAll(() => {
    rmSync(link, { force: true });
    if (original.kind === "symlink") symlinkSync(original.target, link);
    else if (original.kind === "file") writeFileSync(link, original.content, { mode: 0o755 });
  });

  it("unlink removes the symlink, after which nbdkit no longer finds the ts plugin and doctor says how to fix that", async () => {
    if (linkState() === "absent") symlinkSync(shimPath(), link);
    const result = await nbdts(["unlink"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`removed ${link}\n`);
    expect(linkState()).toBe("absent");

    const ts = await run("nbdkit", ["--dump-plugin", "ts"]);
    expect(ts.code).not.toBe(0);
    // `nbdkit ts` is a convenience: doctor flags it but still passes.
    const doctor = await nbdts(["doctor"]);
    expect(doctor.stdout).toMatch(/^FAIL nbdkit ts +nbdkit ts \.\.\. does not work yet$/m);
    expect(doctor.stdout).toContain("fix: run `sudo npx nbdts link`, or use nbdkit $(npx nbdts path) plugin=... instead");
    expect(doctor.code).toBe(0);
  });

  it("unlink with nothing to remove says so and succeeds", async () => {
    rmSync(link, { force: true });
    const result = await nbdts(["unlink"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${link} does not exist; nothing to do\n`);
  });

  it("link makes the symlink, after which nbdkit ts plugin=... works", async () => {
    rmSync(link, { force: true });
    const result = await nbdts(["link"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${link} -> ${shimPath()}`);
    expect(linkState()).toBe(`symlink to ${shimPath()}`);

    const served = await run("nbdkit", ["-U", "-", "ts", `plugin=${pattern}`, "size=7M", "--run", 'nbdinfo --size "$uri"']);
    expect(served.stdout).toBe(`${7 * 1024 * 1024}\n`);
    expect(served.code).toBe(0);
  });

  it("link again leaves the correct symlink alone", async () => {
    const result = await nbdts(["link"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${link} already points to ${shimPath()}\n`);
    expect(linkState()).toBe(`symlink to ${shimPath()}`);
  });

  it("link replaces a symlink that points elsewhere (a stale install)", async () => {
    rmSync(link, { force: true });
    symlinkSync("/nonexistent/old-checkout/nbdkit-ts-plugin.so", link);
    const result = await nbdts(["link"]);
    expect(result.code).toBe(0);
    expect(linkState()).toBe(`symlink to ${shimPath()}`);
  });

  it("unlink refuses to remove a regular file, and link replaces one only with --force", async () => {
    unlinkSync(link);
    writeFileSync(link, "not made by nbdts\n");
    try {
      const unlinked = await nbdts(["unlink"]);
      expect(unlinked.code).toBe(1);
      expect(unlinked.stderr).toBe(`nbdts: ${link} is not a symlink made by nbdts link; leaving it alone\n`);
      expect(readFileSync(link, "utf8")).toBe("not made by nbdts\n");

      const linked = await nbdts(["link"]);
      expect(linked.code).toBe(1);
      expect(linked.stderr).toContain(`${link} exists and is not a symlink (another nbdts install?); use --force to replace it`);
      expect(readFileSync(link, "utf8")).toBe("not made by nbdts\n");

      const forced = await nbdts(["link", "--force"]);
      expect(forced.code).toBe(0);
      expect(linkState()).toBe(`symlink to ${shimPath()}`);
    } finally {
      if (linkState() === "a regular file") unlinkSync(link);
    }
  });
});

describe("nbdts doctor", () => {
  it("prints an ok line for every check and exits 0 on this machine", async () => {
    const result = await nbdts(["doctor"]);
    const lines = result.stdout.trim().split("\n");
    expect(lines.map((line) => line.split(/\s+/)[1])).toEqual(expect.arrayContaining(["nbdkit", "node", "shim", "addon", "host"]));
    for (const check of ["nbdkit", "node", "shim", "addon", "host"]) {
      expect(lines.find((line) => line.split(/\s+/)[1] === check)).toMatch(/^ok {3}/);
    }
    expect(result.stdout).toMatch(/^ok {3}nbdkit {5}nbdkit 1\.\d+\.\d+$/m);
    expect(result.code).toBe(0);
  });

  it("without nbdkit on PATH reports FAIL with the command that fixes it, and exits 1", async () => {
    const result = await nbdts(["doctor"], { PATH: "/nonexistent" });
    expect(result.stdout).toMatch(/^FAIL nbdkit {5}not found on PATH$/m);
    expect(result.stdout).toContain("fix: install nbdkit 1.32 or later: apt-get install nbdkit");
    expect(result.stdout).toMatch(/^ok {3}node /m);
    expect(result.code).toBe(1);
  });
});

describe("nbdts help PLUGIN", () => {
  it("prints the plugin's name, version and generated parameter help, with the required marker and the magic key", async () => {
    const result = await nbdts(["help", pattern]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`pattern 2.0.0 (${pattern})`);
    expect(result.stdout).toContain(`Usage: nbdkit ts plugin=${pattern} [key=value ...]`);
    expect(result.stdout).toMatch(/^\[size=\]<SIZE> +\(required\) Size of the disk, e\.g\. 1M\.$/m);
    expect(result.stdout).toMatch(/^label=<STRING> +\(default: none\) A label that changes nothing\.$/m);
  });

  it("without a plugin is a usage error (exit 2) that shows how to name one", async () => {
    const result = await nbdts(["help"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("nbdts help: name a plugin, e.g. nbdts help @nbdts/memory\n");
  });

  it("with a plugin that does not exist fails (exit 1) naming the file", async () => {
    const missing = fixture("no-such-plugin.ts");
    const result = await nbdts(["help", missing]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot find plugin file ${missing}`);
  });
});

describe("usage", () => {
  it("an unknown command prints the usage on stderr and exits 2", async () => {
    const result = await nbdts(["frobnicate"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain('nbdts: unknown command "frobnicate"');
    expect(result.stderr).toContain("Usage: nbdts COMMAND");
  });

  it("no command prints the usage and exits 2; --help prints it and exits 0", async () => {
    const bare = await nbdts([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toContain("Usage: nbdts COMMAND");
    const help = await nbdts(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toBe(bare.stdout);
  });

  it("--version prints the version of @nbdts/native", async () => {
    const { version } = JSON.parse(readFileSync(packageJson, "utf8")) as { version: string };
    const result = await nbdts(["--version"]);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n` });
  });
});
