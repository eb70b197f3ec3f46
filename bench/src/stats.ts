/**
 * Summaries of the rounds. A ratio is always candidate ÷ reference in the
 * workload's own metric, so it reads "higher is better" for throughput and
 * IOPS and "lower is better" for latency; `Summary.better` says which.
 */

import type { Better, Target } from "./model.js";

/** The median of a non-empty list (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface ServerSummary {
  readonly server: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** median ÷ the reference's median; 1 for the reference itself. */
  readonly ratio: number;
  /**
   * This server's value ÷ the reference's value in the same round, for
   * each round both completed: how steady the ratio is while the machine's
   * speed drifts.
   */
  readonly roundRatios: readonly number[];
}

/** Summarises one workload of one row: `values` maps server id → value per round (undefined = failed). */
export function summarise(
  reference: string,
  servers: readonly string[],
  values: ReadonlyMap<string, readonly (number | undefined)[]>,
): ServerSummary[] {
  const referenceValues = values.get(reference) ?? [];
  const referenceMeasured = referenceValues.filter((v): v is number => v !== undefined);
  const referenceMedian = referenceMeasured.length > 0 ? median(referenceMeasured) : Number.NaN;
  const summaries: ServerSummary[] = [];
  for (const server of servers) {
    const rounds = values.get(server) ?? [];
    const measured = rounds.filter((v): v is number => v !== undefined);
    if (measured.length === 0) continue;
    const roundRatios: number[] = [];
    rounds.forEach((value, round) => {
      const ref = referenceValues[round];
      if (value !== undefined && ref !== undefined && ref > 0) roundRatios.push(value / ref);
    });
    const med = median(measured);
    summaries.push({
      server,
      median: med,
      min: Math.min(...measured),
      max: Math.max(...measured),
      ratio: med / referenceMedian,
      roundRatios,
    });
  }
  return summaries;
}

export type Verdict = "PASS" | "MISS" | "not measured";

/** Whether `ratio` meets `target`: ≥ bound when higher is better, ≤ bound when lower is better. */
export function verdict(target: Target, better: Better, ratio: number | undefined): Verdict {
  if (ratio === undefined || !Number.isFinite(ratio)) return "not measured";
  return (better === "higher" ? ratio >= target.bound : ratio <= target.bound) ? "PASS" : "MISS";
}

/** "≥ 0.90×" or "≤ 1.50×". */
export function describeTarget(target: Target, better: Better): string {
  return `${better === "higher" ? "≥" : "≤"} ${target.bound.toFixed(2)}×`;
}
