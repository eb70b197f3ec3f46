/**
 * The printed table: per row, per workload, each server's median, min and
 * max over the rounds, its ratio to the reference, the spread of the
 * per-round ratios, and the target with PASS or MISS.
 */

import type { RowResult, TargetResult } from "./runner.js";

const MiB = 1024 * 1024;

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "—";
  if (value >= 1000) return value.toFixed(0);
  if (value >= 100) return value.toFixed(1);
  return value.toFixed(2);
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * MiB && bytes % (1024 * MiB) === 0 ? `${bytes / (1024 * MiB)} GiB` : `${(bytes / MiB).toFixed(0)} MiB`;
}

function pad(text: string, width: number, right = false): string {
  const length = [...text].length;
  if (length >= width) return text;
  return right ? " ".repeat(width - length) + text : text + " ".repeat(width - length);
}

/** The table of one row, as lines. */
export function formatRow(result: RowResult, settings: { rounds: number; seconds: number }): string[] {
  const { row } = result;
  const label = (id: string): string => row.servers.find((s) => s.id === id)?.label ?? id;
  const reference = label(row.reference);
  const lines: string[] = [];
  lines.push(`== ${result.suite}/${row.id}: ${row.title} ==`);
  lines.push(
    `   reference: ${reference}; disk ${formatBytes(row.diskBytes)}, data ${formatBytes(row.datasetBytes)}; ` +
      `${settings.rounds} round(s) × ${settings.seconds} s per fio run; flush: ${row.flush === "end" ? "one flush at the end of each write workload" : "none"}`,
  );
  const header = [
    pad("workload", 42),
    pad("server", 16),
    pad("median", 10, true),
    pad("min", 10, true),
    pad("max", 10, true),
    pad(`× ${reference}`, 14, true),
    pad("round ratios", 14, true),
    "  target",
  ].join(" ");
  lines.push(header);
  lines.push("-".repeat([...header].length + 12));
  for (const workload of result.workloads) {
    const unit =
      workload.workload.metric === "latency µs" ? "mean latency µs, lower is better" : `${workload.workload.metric}, higher is better`;
    workload.summaries.forEach((summary, index) => {
      const isReference = summary.server === row.reference;
      const target = result.targets.find((t) => t.workload === workload.workload.id && t.server === summary.server);
      const ratios = summary.roundRatios;
      const spread =
        isReference || ratios.length === 0
          ? ""
          : ratios.length === 1
            ? `${ratios[0]!.toFixed(2)}`
            : `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
      const ratio = isReference ? "1.00× (ref)" : `${summary.ratio.toFixed(2)}×${workload.better === "lower" ? " lat" : ""}`;
      // The title goes on a workload's first line and its unit on the second.
      const first = index === 0 ? workload.workload.title : index === 1 ? `  (${unit})` : "";
      lines.push(
        [
          pad(first, 42),
          pad(label(summary.server), 16),
          pad(formatNumber(summary.median), 10, true),
          pad(formatNumber(summary.min), 10, true),
          pad(formatNumber(summary.max), 10, true),
          pad(ratio, 14, true),
          pad(spread, 14, true),
          target === undefined ? "" : `  ${target.description} ${target.verdict}`,
        ].join(" ").trimEnd(),
      );
    });
    if (workload.summaries.length < 2) lines.push(`  (${unit})`);
    const failed = workload.runs.filter((r) => r.error !== undefined);
    for (const run of failed) {
      lines.push(`  FAILED round ${run.round} ${label(run.server)}: ${run.error!.split("\n")[0]}`);
    }
  }
  for (const error of result.errors) lines.push(`  ERROR ${error.split("\n")[0]}`);
  for (const note of row.notes ?? []) lines.push(`  note: ${note}`);
  return lines;
}

/** The targets of every row with PASS/MISS, as lines. */
export function formatTargets(results: readonly RowResult[]): string[] {
  const all: Array<{ result: RowResult; target: TargetResult }> = results.flatMap((result) =>
    result.targets.map((target) => ({ result, target })),
  );
  if (all.length === 0) return [];
  const lines = ["== targets (ratio of medians to the reference) =="];
  for (const { result, target } of all) {
    const server = result.row.servers.find((s) => s.id === target.server)?.label ?? target.server;
    const workload = result.row.workloads.find((w) => w.id === target.workload)?.title ?? target.workload;
    const measured = target.ratio === undefined ? "not measured" : `${target.ratio.toFixed(2)}×`;
    const what = target.better === "lower" ? "latency" : "throughput";
    lines.push(
      `${pad(target.verdict, 12)} ${result.suite}/${result.row.id}  ${server}  ${workload}: ${what} ${measured} of ` +
        `${result.row.servers.find((s) => s.id === result.row.reference)?.label ?? result.row.reference} (target ${target.description})`,
    );
  }
  return lines;
}
