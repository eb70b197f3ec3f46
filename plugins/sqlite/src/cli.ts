#!/usr/bin/env node
/**
 * The `nbdts-sqlite` command: manages the disks in a disk file without nbdkit.
 *
 *   nbdts-sqlite create FILE NAME SIZE [--block-size=SIZE]
 *   nbdts-sqlite list FILE [--json]
 *   nbdts-sqlite resize FILE NAME SIZE
 *   nbdts-sqlite delete FILE NAME
 *   nbdts-sqlite vacuum FILE
 *
 * It takes the same exclusive lock as the plugin, so it refuses a file that
 * an nbdkit is serving (and an nbdkit cannot start on a file it is changing).
 * Exit status: 0 on success, 1 when the command failed, 2 for a usage error.
 */

import { parseSize } from "@nbdts/sdk";
import { resolve } from "node:path";
import { formatSize, quote } from "./format.js";
import { DEFAULT_BLOCK_SIZE, checkBlockSize } from "./schema.js";
import { DiskFile, DiskFileError } from "./store.js";

const USAGE = `Usage: nbdts-sqlite COMMAND FILE [ARGUMENTS]

Manage the disks in a disk file of @nbdts/sqlite (a SQLite database).

Commands:
  create FILE NAME SIZE [--block-size=SIZE]
                     Add an empty disk (all zeroes) called NAME; creates FILE
                     if it does not exist. The block size defaults to 64k.
  list FILE [--json] List the disks: name, size, block size, space used, creation time.
  resize FILE NAME SIZE
                     Change a disk's size. Shrinking discards the data past
                     the new end; growing adds zeroes.
  delete FILE NAME   Delete a disk and its data.
  vacuum FILE        Give the space of deleted data back to the filesystem
                     (rewrites the whole file).

NAME is the NBD export name; "" is the default export. SIZE takes nbdkit's
suffixes: 512, 64k, 10G, 1T. FILE must not be in use by an nbdkit.

Options:
  --help, -h         Show this help.`;

class UsageError extends Error {}

/** Each command's number of arguments after FILE, and its options. */
const COMMANDS: Readonly<Record<string, { arguments: number; options: readonly string[] }>> = {
  create: { arguments: 2, options: ["block-size"] },
  list: { arguments: 0, options: ["json"] },
  resize: { arguments: 2, options: [] },
  delete: { arguments: 1, options: [] },
  vacuum: { arguments: 0, options: [] },
};

function sizeArgument(what: string, text: string | undefined): bigint {
  if (text === undefined) throw new UsageError(`missing ${what}`);
  try {
    return parseSize(text);
  } catch {
    throw new UsageError(`${what} ${quote(text)} is not a valid size: expected a whole number with an optional suffix k, M, G, T, P or E (e.g. 10G)`);
  }
}

function blockSizeOption(text: string | undefined): number {
  if (text === undefined) return DEFAULT_BLOCK_SIZE;
  const bytes = sizeArgument("--block-size", text);
  const problem = checkBlockSize(bytes);
  if (problem !== undefined) throw new UsageError(`--block-size ${quote(text)} is not a valid block size: ${problem}`);
  return Number(bytes);
}

function table(rows: readonly string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()).join("\n");
}

function main(argv: readonly string[]): number {
  const words: string[] = [];
  const options = new Map<string, string>();
  for (const arg of argv) {
    if (arg === "--help" || arg === "-h") {
      console.log(USAGE);
      return 0;
    }
    const option = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (option !== null) options.set(option[1]!, option[2] ?? "");
    else words.push(arg);
  }
  const [command, fileArg, ...rest] = words;
  if (command === undefined) {
    console.error(USAGE);
    return 2;
  }
  const syntax = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (syntax === undefined) throw new UsageError(`unknown command ${quote(command)}`);
  for (const option of options.keys()) {
    if (!syntax.options.includes(option)) throw new UsageError(`${command} takes no option --${option}`);
  }
  if (fileArg === undefined) throw new UsageError(`${command}: missing FILE`);
  if (rest.length > syntax.arguments) {
    throw new UsageError(`${command}: too many arguments (${rest.slice(syntax.arguments).map(quote).join(" ")})`);
  }
  const name = rest[0];
  if (syntax.arguments >= 1 && name === undefined) throw new UsageError(`${command}: missing NAME`);
  const path = resolve(fileArg);

  // Check the arguments before touching the file.
  const size = command === "create" || command === "resize" ? sizeArgument("SIZE", rest[1]) : 0n;
  const blockSize = command === "create" ? blockSizeOption(options.get("block-size")) : 0;

  const file = DiskFile.open(path, { create: command === "create" });
  try {
    switch (command) {
      case "create": {
        const info = file.create(name!, size, blockSize);
        console.log(`created disk ${quote(info.name)} in ${path}: ${formatSize(info.size)}, block size ${formatSize(info.blockSize)}`);
        break;
      }
      case "list": {
        const disks = file.list().map((info) => ({ ...info, stored: file.storedBlocks(info) }));
        if (options.has("json")) {
          const json = disks.map((disk) => ({
            name: disk.name,
            size: disk.size.toString(),
            blockSize: disk.blockSize,
            storedBytes: (BigInt(disk.stored) * BigInt(disk.blockSize)).toString(),
            created: disk.created,
          }));
          console.log(JSON.stringify(json, null, 2));
        } else if (disks.length === 0) {
          console.log(`${path} has no disks`);
        } else {
          const rows = [["NAME", "SIZE", "BLOCK SIZE", "STORED", "CREATED"]];
          for (const disk of disks) {
            rows.push([
              quote(disk.name),
              formatSize(disk.size),
              formatSize(disk.blockSize),
              formatSize(BigInt(disk.stored) * BigInt(disk.blockSize)),
              disk.created,
            ]);
          }
          console.log(table(rows));
        }
        break;
      }
      case "resize": {
        const info = file.resize(name!, size);
        console.log(`resized disk ${quote(info.name)} in ${path} to ${formatSize(info.size)}`);
        break;
      }
      case "delete":
        file.delete(name!);
        console.log(`deleted disk ${quote(name!)} from ${path}`);
        break;
      case "vacuum":
        file.vacuum();
        console.log(`vacuumed ${path}`);
        break;
    }
  } finally {
    file.close();
  }
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`nbdts-sqlite: ${error.message}\nRun "nbdts-sqlite --help" to see the commands and their arguments.`);
    process.exitCode = 2;
  } else if (error instanceof DiskFileError || error instanceof RangeError) {
    console.error(`nbdts-sqlite: ${error.message}`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
