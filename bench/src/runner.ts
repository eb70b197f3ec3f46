/**
 * Runs the rows of a suite, interleaving servers so that a slow minute of
 * a shared machine hits every server alike:
 *
 *   for each round:
 *     for each phase (the unpinned workloads, then the pinned ones):
 *       start every server of the row (under taskset for the pinned phase)
 *       write the dataset into each (precondition; not timed)
 *       for each workload: for each server (order rotated by round): measure
 *       stop every server
 *
 * Servers restart every round, so each round starts from the same state. A
 * server that fails to start, or a measurement that fails, is recorded as
 * an error for that round and the run goes on.
 */

import { randomFillSync } from "node:crypto";
import { closeSync, existsSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { better, type Better, type Row, type Target, type Workload } from "./model.js";
import { runChecked, startServer, type RunningServer } from "./processes.js";
import { describeTarget, summarise, verdict, type ServerSummary, type Verdict } from "./stats.js";
import { fioArgs, parseFioReport, type Measurement } from "./workloads.js";

const MiB = 1024 * 1024;

export interface RunSettings {
  readonly rounds: number;
  /** fio's timed runtime per measurement. */
  readonly seconds: number;
  /** fio's untimed warm-up before each measurement. */
  readonly rampSeconds: number;
  /** The CPU of pinned workloads. */
  readonly cpu: number;
  /** Only these workload ids, when given. */
  readonly workloadFilter: ReadonlySet<string> | undefined;
  /** Where servers' sockets and pidfiles go. */
  readonly scratchDir: string;
  /** Where the random dataset files go (tmpfs when available). */
  readonly dataDir: string;
  log(line: string): void;
}

/** One measurement of one server in one round. */
export interface RoundResult {
  readonly round: number;
  readonly server: string;
  readonly value?: number;
  readonly measurement?: Measurement;
  readonly error?: string;
}

export interface TargetResult {
  readonly server: string;
  readonly workload: string;
  readonly bound: number;
  readonly better: Better;
  /** "≥ 0.90×" or "≤ 1.50×". */
  readonly description: string;
  readonly ratio: number | undefined;
  readonly verdict: Verdict;
}

export interface WorkloadResult {
  readonly workload: Workload;
  readonly better: Better;
  readonly runs: readonly RoundResult[];
  readonly summaries: readonly ServerSummary[];
}

export interface RowResult {
  readonly suite: string;
  readonly row: Row;
  readonly workloads: readonly WorkloadResult[];
  readonly targets: readonly TargetResult[];
  /** Errors outside a single measurement (a server that did not start...). */
  readonly errors: readonly string[];
}

/** The workloads of a row that the filter keeps, in two phases: unpinned, then pinned. */
export function phases(row: Row, filter: ReadonlySet<string> | undefined): Workload[][] {
  const kept = row.workloads.filter((w) => filter === undefined || filter.has(w.id));
  return [kept.filter((w) => !w.pinned), kept.filter((w) => w.pinned)].filter((phase) => phase.length > 0);
}

/** `items` rotated left by `by`: round 1 runs A B C, round 2 B C A, ... */
function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

function formatValue(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/** Random files of given sizes, written once per run and shared by every row. */
export class DatasetFiles {
  private readonly files = new Map<number, string>();
  constructor(private readonly dir: string) {}

  /** A file of `bytes` random bytes. */
  get(bytes: number): string {
    const known = this.files.get(bytes);
    if (known !== undefined && existsSync(known)) return known;
    const path = join(this.dir, `random-${bytes}.bin`);
    const fd = openSync(path, "w", 0o600);
    try {
      const chunk = Buffer.allocUnsafe(Math.min(bytes, 4 * MiB));
      for (let written = 0; written < bytes; ) {
        const length = Math.min(chunk.length, bytes - written);
        randomFillSync(chunk, 0, length);
        writeSync(fd, chunk, 0, length);
        written += length;
      }
    } finally {
      closeSync(fd);
    }
    this.files.set(bytes, path);
    return path;
  }
}

/** Runs one row for every round and summarises it. */
export async function runRow(suite: string, row: Row, settings: RunSettings, datasets: DatasetFiles): Promise<RowResult> {
  const rowPhases = phases(row, settings.workloadFilter);
  const runs = new Map<string, RoundResult[]>(row.workloads.map((w) => [w.id, []]));
  const errors: string[] = [];
  const name = `${suite}/${row.id}`;
  if (!row.servers.some((s) => s.id === row.reference)) {
    throw new Error(`row ${name}: the reference "${row.reference}" is not one of its servers`);
  }

  for (let round = 1; round <= settings.rounds; round++) {
    for (const phase of rowPhases) {
      const pinned = phase[0]!.pinned;
      const servers: RunningServer[] = [];
      try {
        for (const spec of row.servers) {
          try {
            const server = await startServer(spec, {
              dir: join(settings.scratchDir, "servers", `${suite}-${row.id}-${spec.id}`),
              cpu: pinned ? settings.cpu : undefined,
              readyTimeoutMs: 60_000,
            });
            servers.push(server);
            if (row.precondition) {
              await runChecked("nbdcopy", [datasets.get(row.datasetBytes), server.uri], { timeoutMs: 600_000 });
            }
          } catch (error) {
            const message = `round ${round}: ${spec.label} could not be started and preconditioned: ${(error as Error).message}`;
            errors.push(message);
            settings.log(`[${name}] ${message}`);
          }
        }
        for (const workload of phase) {
          for (const server of rotate(servers, round - 1)) {
            const result = await measureOnce(row, workload, server, settings, datasets, round);
            runs.get(workload.id)!.push(result);
            settings.log(
              `[round ${round}/${settings.rounds}] ${name}  ${workload.id}  ${server.spec.label}: ` +
                (result.value !== undefined ? `${formatValue(result.value)} ${workload.metric}` : `FAILED ${result.error}`),
            );
          }
        }
      } finally {
        for (const server of servers) await server.stop();
      }
    }
  }

  const serverIds = row.servers.map((s) => s.id);
  const workloads: WorkloadResult[] = rowPhases.flat().map((workload) => {
    const workloadRuns = runs.get(workload.id)!;
    const byServer = new Map<string, (number | undefined)[]>(serverIds.map((id) => [id, []]));
    for (const run of workloadRuns) byServer.get(run.server)![run.round - 1] = run.value;
    return {
      workload,
      better: better(workload.metric),
      runs: workloadRuns,
      summaries: summarise(row.reference, serverIds, byServer),
    };
  });
  const targets = (row.targets ?? []).map((target) => judge(target, workloads));
  return { suite, row, workloads, targets, errors };
}

function judge(target: Target, workloads: readonly WorkloadResult[]): TargetResult {
  const result = workloads.find((w) => w.workload.id === target.workload);
  const direction = result?.better ?? "higher";
  const ratio = result?.summaries.find((s) => s.server === target.server)?.ratio;
  return {
    server: target.server,
    workload: target.workload,
    bound: target.bound,
    better: direction,
    description: describeTarget(target, direction),
    ratio,
    verdict: verdict(target, direction, ratio),
  };
}

async function measureOnce(
  row: Row,
  workload: Workload,
  server: RunningServer,
  settings: RunSettings,
  datasets: DatasetFiles,
  round: number,
): Promise<RoundResult> {
  try {
    const measurement = await measure(row, workload, server.uri, settings, datasets);
    if (!(measurement.value > 0) || !Number.isFinite(measurement.value)) {
      throw new Error(`the measured ${workload.metric} was ${measurement.value}`);
    }
    return { round, server: server.spec.id, value: measurement.value, measurement };
  } catch (error) {
    return {
      round,
      server: server.spec.id,
      error: `${(error as Error).message}\n--- nbdkit log (tail) ---\n${server.log().slice(-2000)}`,
    };
  }
}

/** Runs one workload once against `uri` and returns what it measured. */
export async function measure(
  row: Row,
  workload: Workload,
  uri: string,
  settings: Pick<RunSettings, "seconds" | "rampSeconds" | "cpu">,
  datasets: DatasetFiles,
): Promise<Measurement> {
  const pin = (command: string, args: string[]): [string, string[]] =>
    workload.pinned ? ["taskset", ["-c", String(settings.cpu), command, ...args]] : [command, args];
  const job = workload.job;
  if (job.kind === "fio") {
    const [command, args] = pin(
      "fio",
      fioArgs({
        name: workload.id,
        uri,
        rw: job.rw,
        blockSize: job.blockSize,
        queueDepth: job.queueDepth,
        datasetBytes: row.datasetBytes,
        seconds: settings.seconds,
        rampSeconds: settings.rampSeconds,
        flushAtEnd: row.flush === "end",
      }),
    );
    const timeoutMs = (settings.seconds + settings.rampSeconds + 120) * 1000;
    const result = await runChecked(command, args, { timeoutMs });
    return parseFioReport(result.stdout, job.rw, workload.metric);
  }
  const flush = row.flush === "end" ? ["--flush"] : [];
  const [command, args] =
    job.direction === "in"
      ? pin("nbdcopy", [...flush, datasets.get(row.datasetBytes), uri])
      : pin("nbdcopy", [...(row.nbdcopyOutOptions ?? []), uri, "null:"]);
  const result = await runChecked(command, args, { timeoutMs: 900_000 });
  const bytes = job.direction === "out" && row.nbdcopyOutCounts === "disk" ? row.diskBytes : row.datasetBytes;
  const mibPerSecond = bytes / MiB / result.seconds;
  return { value: mibPerSecond, mibPerSecond, seconds: result.seconds, bytes };
}
