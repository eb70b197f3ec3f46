/**
 * The command line of `npm run bench -- [suites...] [options]`.
 */

import { isAbsolute, resolve } from "node:path";

export const USAGE = `Usage: npm run bench -- [SUITE[/ROW]...] [options]

Runs each server under test on a private Unix socket, drives it with fio
(nbd engine) and nbdcopy, interleaving the servers round by round, and
prints per workload each server's median and its ratio to the reference.

Suites: SUITES (default: every suite that can run here)
  SUITE/ROW selects one row of a suite, e.g. transport/ramdisk.

Options:
  --rounds N        rounds of every workload on every server (default 5; --quick: 1)
  --seconds S       timed seconds of each fio run (default 10; --quick: 0.5)
  --out FILE        write the results (date, machine, command, every round's
                    numbers, medians, ratios, targets) to FILE: .json or .tsv
  --quick           tiny disks and runs, for smoke tests (numbers mean little)
  --workloads A,B   only these workload ids (see --list)
  --cpu N           the CPU of the pinned workload (default 0)
  --list            list the suites, their rows and workloads, and exit
  --help            print this and exit`;

/** A mistake on the command line: printed with the usage, exit status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface Options {
  /** Suite names in the order given (or every suite when none was). */
  readonly suites: readonly string[];
  /** True when the suites were named on the command line. */
  readonly suitesNamed: boolean;
  /** Selected rows per suite; a suite absent from the map runs every row. */
  readonly rows: ReadonlyMap<string, ReadonlySet<string>>;
  readonly rounds: number;
  readonly seconds: number;
  readonly rampSeconds: number;
  readonly quick: boolean;
  /** Absolute path of the results file, if asked for. */
  readonly out: string | undefined;
  readonly workloads: ReadonlySet<string> | undefined;
  readonly cpu: number;
  readonly list: boolean;
  readonly help: boolean;
}

function positiveInteger(flag: string, text: string): number {
  if (!/^[1-9][0-9]*$/.test(text)) throw new UsageError(`${flag} "${text}" is not valid: expected a whole number of at least 1, e.g. ${flag} 5`);
  return Number(text);
}

function nonNegativeInteger(flag: string, text: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(text)) throw new UsageError(`${flag} "${text}" is not valid: expected a CPU number such as 0`);
  return Number(text);
}

function positiveSeconds(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0.1) {
    throw new UsageError(`${flag} "${text}" is not valid: expected a number of seconds of at least 0.1, e.g. ${flag} 10`);
  }
  return value;
}

/**
 * Parses the arguments. `suiteRows` maps each suite name to its row ids;
 * `baseDir` is where a relative --out is resolved (the directory `npm run`
 * was started in, not bench/).
 */
export function parseOptions(
  argv: readonly string[],
  suiteRows: ReadonlyMap<string, readonly string[]>,
  baseDir: string,
): Options {
  const suites: string[] = [];
  const rows = new Map<string, Set<string>>();
  let rounds: number | undefined;
  let seconds: number | undefined;
  let out: string | undefined;
  let quick = false;
  let workloads: Set<string> | undefined;
  let cpu = 0;
  let list = false;
  let help = false;

  const known = [...suiteRows.keys()];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case "--rounds":
        rounds = positiveInteger(flag, value());
        break;
      case "--seconds":
        seconds = positiveSeconds(flag, value());
        break;
      case "--out": {
        const path = value();
        if (!path.endsWith(".json") && !path.endsWith(".tsv")) {
          throw new UsageError(`--out "${path}" is not valid: the file name must end in .json or .tsv, which chooses the format`);
        }
        out = isAbsolute(path) ? path : resolve(baseDir, path);
        break;
      }
      case "--quick":
        quick = true;
        break;
      case "--workloads":
        workloads = new Set(value().split(",").map((w) => w.trim()).filter((w) => w !== ""));
        if (workloads.size === 0) throw new UsageError("--workloads needs at least one workload id (see --list)");
        break;
      case "--cpu":
        cpu = nonNegativeInteger(flag, value());
        break;
      case "--list":
        list = true;
        break;
      case "--help":
      case "-h":
        help = true;
        break;
      default: {
        if (arg.startsWith("-")) throw new UsageError(`unknown option "${arg}"`);
        const [suite, row] = arg.split("/", 2) as [string, string | undefined];
        const suiteRowIds = suiteRows.get(suite);
        if (suiteRowIds === undefined) {
          throw new UsageError(`unknown suite "${suite}"; the suites are: ${known.join(", ")}`);
        }
        if (!suites.includes(suite)) suites.push(suite);
        if (row !== undefined) {
          if (!suiteRowIds.includes(row)) {
            throw new UsageError(`suite ${suite} has no row "${row}"; its rows are: ${suiteRowIds.join(", ")}`);
          }
          const selected = rows.get(suite) ?? new Set<string>();
          selected.add(row);
          rows.set(suite, selected);
        }
      }
    }
  }
  // A suite named both alone and with a row runs every row.
  for (const suite of suites) {
    if (argv.includes(suite)) rows.delete(suite);
  }

  const finalSeconds = seconds ?? (quick ? 0.5 : 10);
  return {
    suites: suites.length > 0 ? suites : known,
    suitesNamed: suites.length > 0,
    rows,
    rounds: rounds ?? (quick ? 1 : 5),
    seconds: finalSeconds,
    // A warm-up second before each timed run, when the runs are long enough to afford it.
    rampSeconds: finalSeconds >= 5 ? 1 : 0,
    quick,
    out,
    workloads,
    cpu,
    list,
    help,
  };
}
