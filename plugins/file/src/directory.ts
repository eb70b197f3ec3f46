import { open as openCallback, close as closeCallback, constants as fsConstants } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { blockDeviceSize } from "@nbdts/native/fileio";
import { NbdError, debug, type Export } from "@nbdts/sdk";

/**
 * Directory mode (`dir=`): every regular file and block device directly in
 * the directory is an export named by its file name.
 *
 * Contract: an export name resolves to a file inside the directory or is
 * refused with an NbdError whose message says why:
 * - "" (the default export): there is no default file;
 * - a name containing "/", ".", "..": it would name something other than a
 *   file directly in the directory;
 * - a symbolic link whose target lies outside the directory (its real path
 *   is not under the directory's real path);
 * - anything but a regular file or a block device (checked when opened).
 * Symbolic links to files inside the directory are followed.
 */

const fsOpen = promisify(openCallback);
const fsClose = promisify(closeCallback);

/** nbdkit's limit on the number of exports in one list. */
const MAX_EXPORTS = 10_000;

/** The prefix every real path inside `directory` starts with. */
function insidePrefix(directory: string): string {
  return directory.endsWith("/") ? directory : `${directory}/`;
}

/**
 * The real path of the file that export `name` names in `directory` (itself a
 * real path), or an NbdError saying why the name is refused.
 */
export async function resolveExport(directory: string, name: string): Promise<string> {
  if (name === "") {
    throw new NbdError(
      "ENOENT",
      `dir=${directory}: the client asked for the default export (""), but in directory mode each export is a file ` +
        `of the directory: ask for one by name (nbdinfo --list shows them)`,
    );
  }
  if (name.includes("/") || name.includes("\0")) {
    throw new NbdError(
      "EINVAL",
      `export ${JSON.stringify(name)} is refused: an export name may not contain "/", since only files directly in ${directory} are served`,
    );
  }
  if (name === "." || name === "..") {
    throw new NbdError(
      "EINVAL",
      `export ${JSON.stringify(name)} is refused: it names ${name === "." ? "the directory itself" : "the parent directory"}, not a file in ${directory}`,
    );
  }
  let real: string;
  try {
    real = await realpath(join(directory, name));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new NbdError("ENOENT", `export ${JSON.stringify(name)} does not exist: there is no such file in ${directory}`);
    }
    throw error;
  }
  if (!real.startsWith(insidePrefix(directory))) {
    throw new NbdError(
      "EACCES",
      `export ${JSON.stringify(name)} is refused: it is a symbolic link to ${real}, which is outside ${directory}`,
    );
  }
  return real;
}

/** The file name as UTF-8 text, or undefined when it is not valid UTF-8 (no client could name it). */
function decodeName(raw: Buffer): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    return undefined;
  }
}

/** "regular file, 1048576 bytes" or "block device, 10737418240 bytes". */
async function describeFile(path: string): Promise<string | undefined> {
  const stats = await stat(path, { bigint: true });
  if (stats.isFile()) return `regular file, ${stats.size} bytes`;
  if (!stats.isBlockDevice()) return undefined;
  // A block device's st_size is 0: ask the device. Listing must not fail
  // because one device cannot be opened, so that is reported, not thrown.
  try {
    const fd = await fsOpen(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
    try {
      return `block device, ${await blockDeviceSize(fd)} bytes`;
    } finally {
      await fsClose(fd);
    }
  } catch (error) {
    debug("list_exports: cannot read the size of %s: %s", path, (error as Error).message);
    return "block device";
  }
}

/**
 * The exports of `directory`: its regular files and block devices (symbolic
 * links to them followed when they stay inside the directory), sorted by
 * name, each described by its kind and size.
 */
export async function listDirectory(directory: string): Promise<Export[]> {
  const names: string[] = [];
  for (const raw of await readdir(directory, { encoding: "buffer" })) {
    const name = decodeName(raw);
    if (name === undefined) {
      debug("list_exports: skipping a file name that is not valid UTF-8 in %s", directory);
      continue;
    }
    names.push(name);
  }
  names.sort();
  const exports: Export[] = [];
  for (const name of names) {
    let description: string | undefined;
    try {
      description = await describeFile(await resolveExport(directory, name));
    } catch (error) {
      debug("list_exports: skipping %s: %s", name, (error as Error).message);
      continue;
    }
    if (description === undefined) continue;
    if (exports.length === MAX_EXPORTS) {
      debug("list_exports: %s has more than %d files; listing the first %d", directory, MAX_EXPORTS, MAX_EXPORTS);
      break;
    }
    exports.push({ name, description });
  }
  return exports;
}
