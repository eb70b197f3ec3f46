import { readFileSync } from "node:fs";
import { python, run } from "./index.js";

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

/**
 * Several connections to `uri`, each with `requests` writes of `length`
 * bytes in flight at once, every write a pattern of its own on a stripe of
 * its own (stripes interleave across connections and do not start on block
 * boundaries); then a flush on each, and the same reads in flight at once,
 * each checked against its pattern. Throws, naming the connection and
 * request, if any read comes back with another's data. The disk needs
 * `connections × requests × length` bytes (4 × 16 × 70001 ≈ 4.3 MiB by
 * default) and must allow multi-conn for the flushes to make the writes
 * visible to every connection.
 */
export async function overlappingConnections(
  uri: string,
  { connections = 4, requests = 16, length = 70001 }: { connections?: number; requests?: number; length?: number } = {},
): Promise<void> {
  const out = await python(
    uri,
    [
      `C, N, L = ${connections}, ${requests}, ${length}`,
      "handles = [h] + [nbd.NBD() for _ in range(C - 1)]",
      "for other in handles[1:]: other.connect_uri(sys.argv[1])",
      "def stripe(c, i): return (i * C + c) * L",
      "def pattern(c, i): return bytearray([(c * N + i) % 255 + 1]) * L",
      "for c, conn in enumerate(handles):",
      "    for i in range(N): conn.aio_pwrite(nbd.Buffer.from_bytearray(pattern(c, i)), stripe(c, i))",
      "for conn in handles:",
      "    while conn.aio_in_flight() > 0: conn.poll(-1)",
      "    conn.flush()",
      "bufs = [[nbd.Buffer(L) for i in range(N)] for c in range(C)]",
      "for c, conn in enumerate(handles):",
      "    for i in range(N): conn.aio_pread(bufs[c][i], stripe(c, i))",
      "for conn in handles:",
      "    while conn.aio_in_flight() > 0: conn.poll(-1)",
      "bad = [(c, i) for c in range(C) for i in range(N) if bufs[c][i].to_bytearray() != pattern(c, i)]",
      "for other in handles[1:]: other.shutdown()",
      "print('ok' if not bad else f'wrong data in (connection, request) {bad}')",
    ].join("\n"),
  );
  if (out.trim() !== "ok") throw new Error(`overlapping requests from ${connections} connections: ${out.trim()}`);
}
