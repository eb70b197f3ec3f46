/**
 * The results file: everything needed to judge a run later: when, on what
 * machine, with which command and versions, and every round's raw number
 * next to the summaries. JSON or TSV, chosen by the file's extension.
 */

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, release, totalmem } from "node:os";
import type { RowResult } from "./runner.js";

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly memoryGiB: number;
  /** The 1-, 5- and 15-minute load averages when the run started and ended: a busy machine shows here. */
  loadAverageStart: readonly number[];
  loadAverageEnd?: readonly number[];
  readonly versions: Readonly<Record<string, string>>;
}

function firstLine(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: "utf8", timeout: 30_000 });
  if (result.error !== undefined || result.status !== 0) return "unavailable";
  return `${result.stdout}${result.stderr}`.trim().split("\n")[0] ?? "unavailable";
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return match?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Facts about the machine and the tools, gathered once at the start of a run. */
export function machineInfo(): MachineInfo {
  const pythonDump = spawnSync("nbdkit", ["python", "--dump-plugin"], { encoding: "utf8", timeout: 30_000 });
  const pythonVersion = /^python_version=(.+)$/m.exec(pythonDump.stdout ?? "")?.[1] ?? "unavailable";
  return {
    nproc: availableParallelism(),
    cpuModel: cpuModel(),
    kernel: release(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverageStart: loadavg().map((l) => Math.round(l * 100) / 100),
    versions: {
      node: process.version,
      nbdkit: firstLine("nbdkit", ["--version"]),
      fio: firstLine("fio", ["--version"]),
      nbdcopy: firstLine("nbdcopy", ["--version"]),
      "nbdkit-python-plugin python": pythonVersion,
    },
  };
}

export interface RunRecord {
  readonly date: string;
  readonly command: string;
  readonly settings: {
    readonly suites: readonly string[];
    readonly rounds: number;
    readonly seconds: number;
    readonly rampSeconds: number;
    readonly quick: boolean;
    readonly cpu: number;
    readonly workloads?: readonly string[];
  };
  readonly machine: MachineInfo;
  readonly rows: readonly RowResult[];
  /** Suites skipped because they cannot run here, with the reason. */
  readonly skipped: ReadonlyArray<{ suite: string; reason: string }>;
}

/** The JSON form: the record as is, with rows reduced to plain data. */
export function toJson(record: RunRecord): string {
  return `${JSON.stringify(
    {
      ...record,
      rows: record.rows.map((result) => ({
        suite: result.suite,
        row: result.row.id,
        title: result.row.title,
        reference: result.row.reference,
        servers: result.row.servers.map((s) => ({ id: s.id, label: s.label, plugin: s.pluginArgs[0] })),
        diskBytes: result.row.diskBytes,
        datasetBytes: result.row.datasetBytes,
        flush: result.row.flush,
        notes: result.row.notes ?? [],
        errors: result.errors,
        targets: result.targets,
        workloads: result.workloads.map((w) => ({
          id: w.workload.id,
          title: w.workload.title,
          metric: w.workload.metric,
          better: w.better,
          pinned: w.workload.pinned,
          summaries: w.summaries,
          rounds: w.runs.map((run) => ({
            round: run.round,
            server: run.server,
            ...(run.value !== undefined ? { value: run.value } : {}),
            ...(run.measurement !== undefined
              ? {
                  mibPerSecond: run.measurement.mibPerSecond,
                  ...(run.measurement.iops !== undefined ? { iops: run.measurement.iops } : {}),
                  ...(run.measurement.meanLatencyUs !== undefined ? { meanLatencyUs: run.measurement.meanLatencyUs } : {}),
                  seconds: run.measurement.seconds,
                  bytes: run.measurement.bytes,
                }
              : {}),
            ...(run.error !== undefined ? { error: run.error } : {}),
          })),
        })),
      })),
    },
    null,
    2,
  )}\n`;
}

function tsvCell(value: string | number | undefined): string {
  if (value === undefined) return "";
  return String(value).replace(/[\t\n\r]/g, " ");
}

/**
 * The TSV form: `#` lines with the date, command and machine, then one line
 * per measurement (round = 1..N) and per summary (round = median, min, max;
 * ratio and target filled on the median line).
 */
export function toTsv(record: RunRecord): string {
  const lines: string[] = [
    `# date\t${record.date}`,
    `# command\t${record.command}`,
    `# settings\t${JSON.stringify(record.settings)}`,
    `# machine\t${JSON.stringify(record.machine)}`,
    ...record.skipped.map((s) => `# skipped\t${s.suite}: ${s.reason}`),
    ["suite", "row", "workload", "metric", "better", "server", "reference", "round", "value", "ratio", "target", "verdict", "error"].join(
      "\t",
    ),
  ];
  for (const result of record.rows) {
    for (const workload of result.workloads) {
      const base = [result.suite, result.row.id, workload.workload.id, workload.workload.metric, workload.better];
      for (const run of workload.runs) {
        lines.push(
          [...base, run.server, result.row.reference, run.round, run.value, undefined, undefined, undefined, run.error?.split("\n")[0]]
            .map(tsvCell)
            .join("\t"),
        );
      }
      for (const summary of workload.summaries) {
        const target = result.targets.find((t) => t.workload === workload.workload.id && t.server === summary.server);
        lines.push(
          [...base, summary.server, result.row.reference, "median", summary.median, summary.ratio, target?.description, target?.verdict]
            .map(tsvCell)
            .join("\t"),
        );
        lines.push([...base, summary.server, result.row.reference, "min", summary.min].map(tsvCell).join("\t"));
        lines.push([...base, summary.server, result.row.reference, "max", summary.max].map(tsvCell).join("\t"));
      }
    }
  }
  return `${lines.join("\n")}\n`;
}

/** Writes the record as JSON or TSV, by the extension of `path`. */
export function writeResults(path: string, record: RunRecord): void {
  writeFileSync(path, path.endsWith(".tsv") ? toTsv(record) : toJson(record));
}
