/**
 * A smoke test of the harness itself: `npm run bench` in --quick mode on
 * the transport suite's null row (real nbdkit, real shim, real fio and
 * nbdcopy), checking the shape of what it prints and writes. It measures
 * nothing worth keeping and asserts no speed: CI runs tests, never
 * benchmarks.
 */

import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STANDARD_WORKLOADS } from "../src/workloads.js";

const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..");

interface BenchRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tsx src/main.ts ARGS` as `npm run bench` does, killed by PID after `timeoutMs`. */
function runBench(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<BenchRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
      cwd: benchDir,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`bench ${args.join(" ")} did not finish within ${timeoutMs} ms\n${stdout}${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Processes whose command line mentions `text`. */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmdline.includes(text)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // Gone.
    }
  }
  return found;
}

interface JsonRound {
  round: number;
  server: string;
  value?: number;
  error?: string;
}
interface JsonWorkload {
  id: string;
  metric: string;
  better: string;
  summaries: Array<{ server: string; median: number; min: number; max: number; ratio: number }>;
  rounds: JsonRound[];
}
interface JsonResults {
  date: string;
  command: string;
  settings: { rounds: number; quick: boolean };
  machine: { nproc: number; cpuModel: string; kernel: string; versions: Record<string, string> };
  rows: Array<{ suite: string; row: string; reference: string; errors: string[]; workloads: JsonWorkload[] }>;
}

let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "nbdts-bench-test-"));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe("npm run bench --quick", () => {
  it("measures every workload on both null servers and writes a JSON results file with each round's numbers", async () => {
    const out = join(scratch, "results.json");
    // TMPDIR moves the harness's scratch directory (sockets, pidfiles) here, so we can check it is removed.
    const run = await runBench(["transport/null", "--quick", "--seconds", "0.3", "--out", out], { TMPDIR: scratch });
    expect(run.code, run.stderr).toBe(0);

    const results = JSON.parse(readFileSync(out, "utf8")) as JsonResults;
    expect(Number.isNaN(Date.parse(results.date))).toBe(false);
    expect(results.command).toBe(`npm run bench -- transport/null --quick --seconds 0.3 --out ${out}`);
    expect(results.settings).toMatchObject({ rounds: 1, quick: true });
    expect(results.machine.nproc).toBeGreaterThan(0);
    expect(results.machine.cpuModel).not.toBe("");
    expect(results.machine.versions.nbdkit).toMatch(/^nbdkit \d/);
    expect(results.machine.versions.fio).toMatch(/^fio-\d/);

    expect(results.rows.map((r) => `${r.suite}/${r.row}`)).toEqual(["transport/null"]);
    const [row] = results.rows;
    expect(row!.reference).toBe("c-null");
    expect(row!.errors).toEqual([]);
    expect(row!.workloads.map((w) => w.id).sort()).toEqual(STANDARD_WORKLOADS.map((w) => w.id).sort());
    for (const workload of row!.workloads) {
      expect(workload.better).toBe(workload.metric === "latency µs" ? "lower" : "higher");
      expect(workload.rounds.map((r) => r.server).sort()).toEqual(["c-null", "ts-null"]);
      for (const round of workload.rounds) {
        expect({ workload: workload.id, server: round.server, error: round.error }).toEqual({
          workload: workload.id,
          server: round.server,
          error: undefined,
        });
        expect(round.value).toBeGreaterThan(0);
      }
      for (const summary of workload.summaries) {
        expect(summary.median).toBeGreaterThan(0);
        expect(summary.min).toBeLessThanOrEqual(summary.max);
        expect(Number.isFinite(summary.ratio) && summary.ratio > 0).toBe(true);
      }
      expect(workload.summaries.find((s) => s.server === "c-null")?.ratio).toBe(1);
    }

    // The table: one line per server and workload, with the ratio to the reference.
    expect(run.stdout).toContain("== transport/null: null plugin: TypeScript vs nbdkit null (C) ==");
    expect(run.stdout).toContain("× C null");
    expect(run.stdout).toMatch(/random read 4 KiB, QD1, pinned to one CPU\s+C null\s+[\d.]+/);
    expect(run.stdout).toMatch(/\(mean latency µs, lower is better\)\s+TS null\s+[\d.]+/);

    // Every process stopped and the scratch directory removed.
    expect(readdirSync(scratch).filter((name) => name.startsWith("nbdts-bench-"))).toEqual([]);
    expect(processesMentioning(scratch)).toEqual([]);
  });

  it("writes TSV when --out ends in .tsv: raw rounds, then median, min and max with the ratio", async () => {
    const out = join(scratch, "results.tsv");
    const run = await runBench(["transport/null", "--quick", "--workloads", "rand-read-4k-qd16", "--out", out], { TMPDIR: scratch });
    expect(run.code, run.stderr).toBe(0);
    const lines = readFileSync(out, "utf8").trimEnd().split("\n");
    expect(lines[0]).toMatch(/^# date\t\d{4}-\d\d-\d\dT/);
    expect(lines.some((line) => line.startsWith("# machine\t{"))).toBe(true);
    const header = lines.find((line) => line.startsWith("suite\t"))!.split("\t");
    expect(header).toEqual(["suite", "row", "workload", "metric", "better", "server", "reference", "round", "value", "ratio", "target", "verdict", "error"]);
    const data = lines.filter((line) => !line.startsWith("#") && !line.startsWith("suite\t")).map((line) => line.split("\t"));
    const cell = (fields: string[], name: string): string => fields[header.indexOf(name)] ?? "";
    expect(data.map((f) => `${cell(f, "server")} ${cell(f, "round")}`).sort()).toEqual(
      ["c-null 1", "c-null max", "c-null median", "c-null min", "ts-null 1", "ts-null max", "ts-null median", "ts-null min"],
    );
    for (const fields of data) {
      expect(cell(fields, "workload")).toBe("rand-read-4k-qd16");
      expect(Number(cell(fields, "value"))).toBeGreaterThan(0);
    }
    const tsMedian = data.find((f) => cell(f, "server") === "ts-null" && cell(f, "round") === "median")!;
    expect(Number(cell(tsMedian, "ratio"))).toBeGreaterThan(0);
  });

  it("an unknown suite exits with status 2 and lists the suites", async () => {
    const run = await runBench(["transprot"], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown suite "transprot"; the suites are: transport, memory, file, sqlite, s3');
  });
});
