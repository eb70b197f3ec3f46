import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { python, withNbdkit, nbdinfo } from "@nbdts/native/testing";
import { scratchDirectory } from "./support/files.js";

const PLUGIN = "@nbdts/file";
const scratch = scratchDirectory();
const dir = join(scratch.path, "images");
const outside = join(scratch.path, "outside.img");

beforeAll(() => {
  mkdirSync(dir);
  writeFileSync(join(dir, "a.img"), Buffer.alloc(1024 * 1024, 0xaa));
  writeFileSync(join(dir, "b.img"), Buffer.alloc(2 * 1024 * 1024 + 1, 0xbb));
  writeFileSync(outside, Buffer.alloc(4096, 0xee));
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "sub", "deep.img"), Buffer.alloc(4096, 0xdd));
  execFileSync("mkfifo", [join(dir, "fifo")]);
  symlinkSync("a.img", join(dir, "alias.img"));
  symlinkSync(outside, join(dir, "escape.img"));
  symlinkSync("/etc/passwd", join(dir, "passwd"));
});
afterAll(() => scratch.remove());

describe("directory mode (dir=)", () => {
  it("lists each regular file directly in the directory, with its size, and symbolic links that stay inside", async () => {
    await withNbdkit({ plugin: PLUGIN, params: { dir } }, async (server) => {
      const out = await nbdinfo(["--list", "--json", server.uri]);
      const exports = (JSON.parse(out) as { exports: { "export-name": string; description?: string; "export-size": number }[] }).exports;
      expect(exports.map((e) => [e["export-name"], e.description, e["export-size"]])).toEqual([
        ["a.img", "regular file, 1048576 bytes", 1048576],
        ["alias.img", "regular file, 1048576 bytes", 1048576],
        ["b.img", "regular file, 2097153 bytes", 2097153],
      ]);
    });
  });

  it("serves the file the export name names, and follows a symbolic link inside the directory", async () => {
    await withNbdkit({ plugin: PLUGIN, params: { dir } }, async (server) => {
      const b = await python(server.uriFor("b.img"), "print(h.get_size(), h.pread(4, 2097149) == b'\\xbb' * 4)");
      expect(b.trim()).toBe("2097153 True");
      const alias = await python(server.uriFor("alias.img"), "h.pwrite(b'via alias', 0); print(h.get_size())");
      expect(alias.trim()).toBe("1048576");
      const a = await python(server.uriFor("a.img"), "print(bytes(h.pread(9, 0)))");
      expect(a.trim()).toBe("b'via alias'");
    });
  });

  it.each([
    ["", 'the client asked for the default export (""), but in directory mode each export is a file of the directory'],
    ["../outside.img", 'export "../outside.img" is refused: an export name may not contain "/"'],
    ["sub/deep.img", 'export "sub/deep.img" is refused: an export name may not contain "/"'],
    ["..", 'export ".." is refused: it names the parent directory'],
    [".", 'export "." is refused: it names the directory itself'],
    ["escape.img", `export "escape.img" is refused: it is a symbolic link to ${outside}, which is outside ${dir}`],
    ["passwd", `export "passwd" is refused: it is a symbolic link to /etc/passwd, which is outside ${dir}`],
    ["sub", `${join(dir, "sub")} is a directory: expected a regular file or a block device`],
    ["fifo", `${join(dir, "fifo")} is a FIFO: expected a regular file or a block device`],
    ["missing.img", `export "missing.img" does not exist: there is no such file in ${dir}`],
  ])("refuses the export %j with an error that says why", async (name, message) => {
    await withNbdkit({ plugin: PLUGIN, params: { dir } }, async (server) => {
      const out = await python(
        server.uriFor("a.img"),
        [
          "h2 = nbd.NBD()",
          `h2.set_export_name(${JSON.stringify(name)})`,
          "try:",
          `    h2.connect_unix(${JSON.stringify(server.socket)})`,
          "    print('opened', h2.get_size())",
          "except nbd.Error as e:",
          "    print('refused')",
        ].join("\n"),
      );
      expect(out.trim()).toBe("refused");
      expect(server.log()).toContain(message);
    });
  });
});
