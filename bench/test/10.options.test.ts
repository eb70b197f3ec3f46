import { describe, expect, it } from "vitest";
import { parseOptions, UsageError } from "../src/options.js";

const SUITE_ROWS = new Map<string, readonly string[]>([
  ["transport", ["null", "ramdisk"]],
  ["memory", ["memory"]],
  ["s3", ["s3-sequential", "s3-sparse"]],
]);

function parse(...argv: string[]) {
  return parseOptions(argv, SUITE_ROWS, "/home/user/checkout");
}

describe("the command line", () => {
  it("runs every suite with 5 rounds of 10 s when nothing is given", () => {
    const options = parse();
    expect(options.suites).toEqual(["transport", "memory", "s3"]);
    expect(options.suitesNamed).toBe(false);
    expect(options.rounds).toBe(5);
    expect(options.seconds).toBe(10);
    expect(options.rampSeconds).toBe(1);
    expect(options.out).toBeUndefined();
  });

  it("--quick means one round of half a second, unless rounds and seconds are given", () => {
    expect(parse("--quick")).toMatchObject({ quick: true, rounds: 1, seconds: 0.5, rampSeconds: 0 });
    expect(parse("--quick", "--rounds", "3", "--seconds=2")).toMatchObject({ quick: true, rounds: 3, seconds: 2 });
  });

  it("an unknown suite is an error that lists the suites", () => {
    expect(() => parse("transprot")).toThrow(new UsageError('unknown suite "transprot"; the suites are: transport, memory, s3'));
  });

  it("SUITE/ROW selects rows, and naming the suite alone selects all of its rows again", () => {
    expect(parse("transport/null").rows.get("transport")).toEqual(new Set(["null"]));
    expect(parse("transport/null", "transport").rows.has("transport")).toBe(false);
    expect(() => parse("transport/nul")).toThrow('suite transport has no row "nul"; its rows are: null, ramdisk');
  });

  it("--out is resolved from the directory npm was started in and must be .json or .tsv", () => {
    expect(parse("--out", "r.json").out).toBe("/home/user/checkout/r.json");
    expect(parse("--out=/tmp/r.tsv").out).toBe("/tmp/r.tsv");
    expect(() => parse("--out", "r.csv")).toThrow('--out "r.csv" is not valid: the file name must end in .json or .tsv');
  });

  it("bad numbers and unknown options name the option and the value", () => {
    expect(() => parse("--rounds", "0")).toThrow('--rounds "0" is not valid: expected a whole number of at least 1');
    expect(() => parse("--seconds", "fast")).toThrow('--seconds "fast" is not valid');
    expect(() => parse("--rounds")).toThrow("--rounds needs a value");
    expect(() => parse("--round", "3")).toThrow('unknown option "--round"');
  });

  it("--workloads keeps a set of workload ids", () => {
    expect(parse("--workloads", "seq-read-1m-qd8, nbdcopy-in").workloads).toEqual(new Set(["seq-read-1m-qd8", "nbdcopy-in"]));
  });
});
