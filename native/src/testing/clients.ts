import { readFileSync } from "node:fs";
import { run } from "./index.js";

/**
 * The NBD clients the suites drive, each run to completion with a bounded
 * time; a client that fails throws with its output.
 */

async function client(command: string, args: readonly string[], timeoutMs = 120_000): Promise<string> {
  const result = await run(command, args, { timeoutMs });
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (code ${result.code}):\n${result.stdout}${result.stderr}`);
  }
  return result.stdout;
}

/** nbdinfo with `args` (e.g. ["--map", uri]). */
export function nbdinfo(args: readonly string[]): Promise<string> {
  return client("nbdinfo", args);
}

/** nbdcopy from `source` to `destination` (files or NBD URIs). */
export function nbdcopy(source: string, destination: string, extra: readonly string[] = []): Promise<string> {
  return client("nbdcopy", [...extra, source, destination]);
}

/**
 * qemu-io on a raw NBD export, one `-c` per command. qemu-io exits 0 even
 * when a `read -P` finds other bytes, so its "Pattern verification failed"
 * is turned into an error here.
 */
export async function qemuIo(uri: string, commands: readonly string[]): Promise<string> {
  const output = await client("qemu-io", ["-f", "raw", ...commands.flatMap((command) => ["-c", command]), uri]);
  if (/verification failed|error|failed/i.test(output)) throw new Error(`qemu-io reported a failure:\n${output}`);
  return output;
}

/** The lines of `nbdinfo --map` as [offset, length, type description]. */
export async function extentMap(uri: string): Promise<[bigint, bigint, string][]> {
  const output = await nbdinfo(["--map", uri]);
  return output
    .trim()
    .split("\n")
    .map((line) => {
      const [offset = "", length = "", , ...description] = line.trim().split(/\s+/);
      return [BigInt(offset), BigInt(length), description.join(" ")];
    });
}

/** A process's resident memory (VmRSS) in bytes. */
export function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}
