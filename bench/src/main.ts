/**
 * `npm run bench -- [SUITE[/ROW]...] [--rounds N] [--seconds S] [--out FILE] [--quick]`
 *
 * Exit status: 0 when every measurement ran (whether or not the targets
 * hold: a benchmark reports, it does not judge), 1 when a measurement,
 * a server or a suite failed, 2 for a mistake on the command line.
 */

import { existsSync, mkdtempSync, rmSync, statfsSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { Row, Suite, SuiteContext } from "./model.js";
import { parseOptions, UsageError, USAGE, type Options } from "./options.js";
import { installExitHandlers } from "./processes.js";
import { formatRow, formatTargets } from "./report.js";
import { machineInfo, writeResults, type RunRecord } from "./results.js";
import { DatasetFiles, phases, runRow, type RowResult, type RunSettings } from "./runner.js";
import { programMissing } from "./servers.js";
import { SUITES } from "./suites/index.js";
import { STANDARD_WORKLOADS } from "./workloads.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Where the random dataset files go: tmpfs when it has room (so nbdcopy in reads from RAM), else the scratch directory. */
function dataDirectory(scratchDir: string, bytesNeeded: number): string {
  try {
    if (existsSync("/dev/shm")) {
      const stats = statfsSync("/dev/shm");
      if (stats.bavail * stats.bsize > 2 * bytesNeeded) return mkdtempSync("/dev/shm/nbdts-bench-");
    }
  } catch {
    // Not usable; fall back.
  }
  return scratchDir;
}

function listSuites(): string {
  const lines: string[] = [];
  for (const suite of SUITES) {
    const reason = suite.unavailable();
    lines.push(`${suite.name}: ${suite.description}${reason === undefined ? "" : `  [cannot run here: ${reason}]`}`);
    lines.push(`  rows: ${suite.rowIds.join(", ")}`);
  }
  lines.push("workloads:");
  for (const w of STANDARD_WORKLOADS) lines.push(`  ${w.id}: ${w.title} (${w.metric})`);
  lines.push("  sparse-read: nbdcopy out, mostly-empty disk (MiB/s of the whole disk; s3 suite)");
  return lines.join("\n");
}

async function main(argv: readonly string[]): Promise<number> {
  const suiteRows = new Map(SUITES.map((s) => [s.name, s.rowIds] as const));
  let options: Options;
  try {
    options = parseOptions(argv, suiteRows, process.env.INIT_CWD ?? process.cwd());
  } catch (error) {
    if (error instanceof UsageError) {
      log(`bench: ${error.message}\n`);
      log(USAGE.replace("SUITES", SUITES.map((s) => s.name).join(", ")));
      return 2;
    }
    throw error;
  }
  if (options.help) {
    process.stdout.write(`${USAGE.replace("SUITES", SUITES.map((s) => s.name).join(", "))}\n`);
    return 0;
  }
  if (options.list) {
    process.stdout.write(`${listSuites()}\n`);
    return 0;
  }

  for (const [program, pkg] of [
    ["nbdkit", "nbdkit"],
    ["fio", "fio"],
    ["nbdcopy", "libnbd-bin"],
    ["taskset", "util-linux"],
  ] as const) {
    const missing = programMissing(program, pkg);
    if (missing !== undefined) {
      log(`bench: ${missing}; \`npm run bench\` installs it (node scripts/setup.mjs --for=bench)`);
      return 1;
    }
  }

  // Which suites run: a named suite that cannot run is an error; by default such a suite is skipped.
  const selected: Suite[] = [];
  const skipped: Array<{ suite: string; reason: string }> = [];
  for (const name of options.suites) {
    const suite = SUITES.find((s) => s.name === name)!;
    const reason = suite.unavailable();
    if (reason === undefined) selected.push(suite);
    else if (options.suitesNamed) {
      log(`bench: suite ${name} cannot run: ${reason}`);
      return 1;
    } else {
      skipped.push({ suite: name, reason });
      log(`bench: skipping suite ${name}: ${reason}`);
    }
  }

  const quickSizes = { diskBytes: 64 * MiB, datasetBytes: 32 * MiB };
  const sizes = options.quick ? quickSizes : { diskBytes: GiB, datasetBytes: 512 * MiB };
  const scratchDir = mkdtempSync(join(tmpdir(), "nbdts-bench-"));
  const dataDir = dataDirectory(scratchDir, sizes.datasetBytes);
  installExitHandlers(() => {
    rmSync(scratchDir, { recursive: true, force: true });
    if (dataDir !== scratchDir) rmSync(dataDir, { recursive: true, force: true });
  });
  const datasets = new DatasetFiles(dataDir);

  const machine = machineInfo();
  log(
    `bench: ${machine.nproc} CPUs (${machine.cpuModel}), kernel ${machine.kernel}, load average ${machine.loadAverageStart.join(" ")}; ` +
      `${options.rounds} round(s) × ${options.seconds} s${options.quick ? " (quick)" : ""}`,
  );
  if (options.cpu >= machine.nproc) {
    log(`bench: --cpu ${options.cpu} is not valid: this machine has CPUs 0 to ${machine.nproc - 1}`);
    return 2;
  }

  const settings = (suiteScratch: string): RunSettings => ({
    rounds: options.rounds,
    seconds: options.seconds,
    rampSeconds: options.rampSeconds,
    cpu: options.cpu,
    workloadFilter: options.workloads,
    scratchDir: suiteScratch,
    dataDir,
    log,
  });
  const results: RowResult[] = [];
  let failed = false;
  for (const suite of selected) {
    const context: SuiteContext = {
      quick: options.quick,
      ...sizes,
      scratchDir: mkdtempSync(join(scratchDir, `${suite.name}-`)),
      log,
    };
    let prepared;
    try {
      prepared = await suite.prepare(context);
    } catch (error) {
      log(`bench: suite ${suite.name} could not be prepared: ${(error as Error).message}`);
      failed = true;
      continue;
    }
    try {
      const wanted = options.rows.get(suite.name);
      const rows: Row[] = prepared.rows.filter((row) => wanted === undefined || wanted.has(row.id));
      for (const row of rows) {
        if (phases(row, options.workloads).length === 0) {
          log(`bench: ${suite.name}/${row.id}: none of --workloads applies to this row; skipped`);
          continue;
        }
        log(`bench: ${suite.name}/${row.id}: ${row.title}`);
        const result = await runRow(suite.name, row, settings(context.scratchDir), datasets);
        results.push(result);
        if (result.errors.length > 0 || result.workloads.some((w) => w.runs.some((r) => r.error !== undefined))) failed = true;
      }
    } catch (error) {
      log(`bench: suite ${suite.name} failed: ${(error as Error).stack ?? String(error)}`);
      failed = true;
    } finally {
      await prepared.cleanup();
    }
  }
  machine.loadAverageEnd = loadavg().map((l) => Math.round(l * 100) / 100);

  const known = new Set(results.flatMap((r) => r.row.workloads.map((w) => w.id)));
  const unknown = [...(options.workloads ?? [])].filter((w) => !known.has(w));
  if (unknown.length > 0) log(`bench: warning: --workloads named ${unknown.join(", ")}, which no selected row has (see --list)`);

  const lines: string[] = [""];
  for (const result of results) lines.push(...formatRow(result, options), "");
  lines.push(...formatTargets(results));
  lines.push(
    "",
    `load average: ${machine.loadAverageStart.join(" ")} at the start, ${machine.loadAverageEnd.join(" ")} at the end ` +
      `(${machine.nproc} CPUs); ratios are medians of interleaved rounds.`,
  );
  process.stdout.write(`${lines.join("\n")}\n`);

  if (options.out !== undefined) {
    const record: RunRecord = {
      date: new Date().toISOString(),
      command: `npm run bench --${argv.length > 0 ? ` ${argv.join(" ")}` : ""}`,
      settings: {
        suites: selected.map((s) => s.name),
        rounds: options.rounds,
        seconds: options.seconds,
        rampSeconds: options.rampSeconds,
        quick: options.quick,
        cpu: options.cpu,
        ...(options.workloads !== undefined ? { workloads: [...options.workloads] } : {}),
      },
      machine,
      rows: results,
      skipped,
    };
    writeResults(options.out, record);
    log(`bench: results written to ${options.out}`);
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    log(`bench: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  },
);
