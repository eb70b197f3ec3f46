import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NbdError, readPassword } from "@nbdts/sdk";
import { installFakeRuntime, type FakeRuntime } from "./support/fake-runtime.js";

// nbdkit_read_password's conventions (nbdkit-api.md §2.1, §3.4).

const OUTSIDE_A_SERVER =
  "readPassword() works only inside a plugin run by nbdkit (nbdkit ts plugin=...); it was called outside a server";

let directory: string;
beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), "nbdts-password-"));
});
afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

function file(name: string, contents: string | Uint8Array): string {
  const path = join(directory, name);
  writeFileSync(path, contents);
  return path;
}

describe("a literal value", () => {
  it.each(["abc", "", "pass word", "p+ss", "x-", "ünïcödé"])("%j is the password itself", async (value) => {
    expect(await readPassword(value)).toBe(value);
  });
});

describe("+FILE", () => {
  it("is the file's first line without its newline", async () => {
    expect(await readPassword(`+${file("newline", "abc\n")}`)).toBe("abc");
  });

  it("is the whole file when it has no newline", async () => {
    expect(await readPassword(`+${file("no-newline", "abc")}`)).toBe("abc");
  });

  it("is the empty string for an empty file", async () => {
    expect(await readPassword(`+${file("empty", "")}`)).toBe("");
  });

  it("is the first line only, keeping a \\r before the \\n as getline does", async () => {
    expect(await readPassword(`+${file("lines", "first\nsecond\n")}`)).toBe("first");
    expect(await readPassword(`+${file("crlf", "dos\r\n")}`)).toBe("dos\r");
  });

  it("reads a first line longer than one read", async () => {
    const long = "x".repeat(10000);
    expect(await readPassword(`+${file("long", `${long}\nrest`)}`)).toBe(long);
  });

  it("decodes UTF-8 and ends at a NUL byte, as nbdkit's C string does", async () => {
    expect(await readPassword(`+${file("utf8", "gänsefüßchen\n")}`)).toBe("gänsefüßchen");
    expect(await readPassword(`+${file("nul", new Uint8Array([0x61, 0x62, 0x00, 0x63, 0x0a]))}`)).toBe("ab");
  });

  it("fails for a missing file, naming the file and the reason, with its errno", async () => {
    const missing = join(directory, "nosuch");
    const failure = readPassword(`+${missing}`);
    await expect(failure).rejects.toBeInstanceOf(NbdError);
    await expect(failure).rejects.toMatchObject({ code: "ENOENT", errno: 2 });
    await expect(failure).rejects.toThrow(`could not read the password from file "${missing}": ENOENT: no such file or directory`);
  });

  it("fails for a directory", async () => {
    await expect(readPassword(`+${directory}`)).rejects.toMatchObject({ code: "EISDIR" });
  });
});

describe("- and -FD, which need the server", () => {
  let fake: FakeRuntime | undefined;
  afterEach(() => {
    fake?.uninstall();
    fake = undefined;
  });

  it("- (prompt on the terminal) throws outside a server", async () => {
    await expect(readPassword("-")).rejects.toThrow(OUTSIDE_A_SERVER);
  });

  it("-FD throws outside a server", async () => {
    await expect(readPassword("-3")).rejects.toThrow(OUTSIDE_A_SERVER);
    await expect(readPassword("-0x10")).rejects.toThrow(OUTSIDE_A_SERVER);
  });

  it("-0, -1 and -2 are refused, as nbdkit refuses stdin, stdout and stderr", async () => {
    for (const value of ["-0", "-1", "-2", "- 2", "-00"]) {
      await expect(readPassword(value)).rejects.toThrow(
        `cannot read a password from ${JSON.stringify(value)}: file descriptors 0, 1 and 2 are stdin, stdout and stderr`,
      );
    }
  });

  it("-FD with something other than a descriptor number fails without quoting the value, which may be the secret", async () => {
    for (const value of ["-abc", "-3x", "--3", "-s3cr3t!"]) {
      const error = await readPassword(value).then(
        () => undefined,
        (thrown: unknown) => thrown as Error,
      );
      expect(error?.message).toMatch(/needs a file descriptor number after "-".*must come from a file \(\+FILE\)/);
      expect(error?.message).not.toContain(value.slice(1));
    }
  });

  it("- and -FD go to the server's nbdkit_read_password, with the value as given", async () => {
    fake = installFakeRuntime();
    expect(await readPassword("-")).toBe("from the server");
    expect(await readPassword("-7")).toBe("from the server");
    expect(fake.calls).toEqual(["readPassword -", "readPassword -7"]);
  });

  it("-1 is refused even in a server, without asking it", async () => {
    fake = installFakeRuntime();
    await expect(readPassword("-1")).rejects.toThrow(/stdin, stdout and stderr/);
    expect(fake.calls).toEqual([]);
  });
});

describe("argument checks", () => {
  it.each([undefined, 42, null])("rejects the non-string %s with a TypeError that does not echo it", async (value) => {
    await expect(readPassword(value as unknown as string)).rejects.toThrow(TypeError);
    await expect(readPassword(value as unknown as string)).rejects.toThrow(/^readPassword: expected the value as a string, got /);
  });
});
