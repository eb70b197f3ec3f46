import { open } from "node:fs/promises";
import { NbdError, errnoFromCode } from "./errors.js";
import { describeType, parseInt, quote } from "./parse.js";
import { requireRuntime } from "./runtime.js";

/**
 * Reads a password given on the command line, as nbdkit_read_password does:
 *
 * - `password=SECRET`: the value itself is the password;
 * - `password=+FILE`: the first line of FILE, without its `\n` (an empty file
 *   gives `""`);
 * - `password=-`: prompts on the terminal with echo off;
 * - `password=-FD`: the first line read from inherited file descriptor FD,
 *   which is then closed (0, 1 and 2 are refused).
 *
 * A password that starts with `-` or `+` must therefore come from a file.
 *
 * `-` and `-FD` need nbdkit's terminal and file descriptors, so they run in
 * the server (during configuration) and fail outside one; `+FILE` and
 * literals work anywhere.
 *
 * Error messages never contain a literal password: only values starting with
 * `-` or `+` are ever shown, and those are not passwords.
 *
 * ```ts
 * const secret = await readPassword("+/etc/myplugin/password");
 * ```
 */
export async function readPassword(value: string): Promise<string> {
  if (typeof value !== "string") {
    throw new TypeError(`readPassword: expected the value as a string, got ${describeType(value)}`);
  }
  if (value === "-") return requireRuntime("readPassword()").readPassword(value);
  if (value.startsWith("-")) {
    let fd: number;
    try {
      fd = parseInt("password file descriptor", value.slice(1));
    } catch {
      // The value may be the secret itself: never quote it.
      throw new Error(
        'a password given as -FD needs a file descriptor number after "-"; ' +
          'a password that starts with "-" must come from a file (+FILE)',
      );
    }
    if (fd >= 0 && fd <= 2) {
      throw new Error(
        `cannot read a password from ${quote(value)}: file descriptors 0, 1 and 2 are stdin, stdout and stderr; ` +
          `use "-" to be prompted on the terminal, or pass another descriptor`,
      );
    }
    if (fd < 0) {
      throw new Error(
        'a password given as -FD needs a file descriptor number after "-"; ' +
          'a password that starts with "-" must come from a file (+FILE)',
      );
    }
    return requireRuntime("readPassword()").readPassword(value);
  }
  if (value.startsWith("+")) return readFirstLine(value.slice(1));
  return value;
}

/**
 * The first line of a file, as nbdkit's read_password_from_fd reads it with
 * getline(3): up to the first `\n`, which is dropped (a `\r` before it is
 * kept), or the whole file when it has no `\n`; `""` for an empty file.
 * Reading stops at the first `\n`, so a FIFO works like a regular file. The
 * result is a C string in nbdkit, so it also ends at a NUL byte.
 */
async function readFirstLine(path: string): Promise<string> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw readFailure(path, error);
  }
  try {
    const chunks: Buffer[] = [];
    const chunk = Buffer.alloc(4096);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      const newline = chunk.subarray(0, bytesRead).indexOf(0x0a);
      chunks.push(Buffer.from(chunk.subarray(0, newline === -1 ? bytesRead : newline)));
      if (newline !== -1) break;
    }
    const line = Buffer.concat(chunks);
    const nul = line.indexOf(0);
    return line.subarray(0, nul === -1 ? line.length : nul).toString("utf8");
  } catch (error) {
    throw readFailure(path, error);
  } finally {
    await handle.close();
  }
}

function readFailure(path: string, error: unknown): NbdError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = error instanceof Error ? error.message : String(error);
  return new NbdError(
    typeof code === "string" ? errnoFromCode(code) : "EIO",
    `could not read the password from file ${quote(path)}: ${reason}`,
    { cause: error },
  );
}
