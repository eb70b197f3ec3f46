import { describe, expect, it } from "vitest";
import { median, summarise, verdict } from "../src/stats.js";
import { fioArgs, parseFioReport } from "../src/workloads.js";

describe("summaries of the rounds", () => {
  it("the median is the middle value, or the mean of the two middle values", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow("median of no values");
  });

  it("each server gets median, min, max, its ratio of medians to the reference, and per-round ratios", () => {
    const values = new Map([
      ["c", [100, 200, 150]],
      ["ts", [50, 220, 120]],
    ]);
    const [c, ts] = summarise("c", ["c", "ts"], values);
    expect(c).toMatchObject({ server: "c", median: 150, min: 100, max: 200, ratio: 1 });
    expect(ts).toMatchObject({ server: "ts", median: 120, min: 50, max: 220, ratio: 0.8 });
    expect(ts!.roundRatios).toEqual([0.5, 1.1, 0.8]);
  });

  it("a failed round is left out of the medians and of the per-round ratios", () => {
    const values = new Map<string, (number | undefined)[]>([
      ["c", [100, undefined, 300]],
      ["ts", [50, 80, 150]],
    ]);
    const [c, ts] = summarise("c", ["c", "ts"], values);
    expect(c!.median).toBe(200);
    expect(ts!.median).toBe(80);
    expect(ts!.roundRatios).toEqual([0.5, 0.5]);
  });

  it("a throughput target passes at or above its bound, a latency target at or below it", () => {
    expect(verdict({ workload: "w", server: "s", bound: 0.9 }, "higher", 0.9)).toBe("PASS");
    expect(verdict({ workload: "w", server: "s", bound: 0.9 }, "higher", 0.89)).toBe("MISS");
    expect(verdict({ workload: "w", server: "s", bound: 1.5 }, "lower", 1.5)).toBe("PASS");
    expect(verdict({ workload: "w", server: "s", bound: 1.5 }, "lower", 1.6)).toBe("MISS");
    expect(verdict({ workload: "w", server: "s", bound: 1.5 }, "lower", undefined)).toBe("not measured");
  });
});

describe("fio", () => {
  const report = {
    jobs: [
      {
        jobname: "rand-read-4k-qd1-pinned",
        error: 0,
        read: { io_bytes: 4096 * 1000, bw_bytes: 8 * 1024 * 1024, iops: 2048, runtime: 500, lat_ns: { mean: 450_000 } },
        write: { io_bytes: 0, bw_bytes: 0, iops: 0, runtime: 0, lat_ns: { mean: 0 } },
      },
    ],
  };

  it("its JSON report is found after text fio prints first, and the metric is taken from the right direction", () => {
    const output = `fio: connected to NBD server\n${JSON.stringify(report)}`;
    expect(parseFioReport(output, "randread", "latency µs")).toMatchObject({
      value: 450,
      mibPerSecond: 8,
      iops: 2048,
      meanLatencyUs: 450,
      seconds: 0.5,
    });
    expect(parseFioReport(output, "randread", "IOPS").value).toBe(2048);
    expect(() => parseFioReport(output, "randwrite", "IOPS")).toThrow("moved no data");
  });

  it("output without a report is an error that quotes it", () => {
    expect(() => parseFioReport("fio: engine nbd not loadable\n", "read", "MiB/s")).toThrow(
      "fio printed no JSON report; its output was:\nfio: engine nbd not loadable",
    );
  });

  it("random jobs disable the random map, and writes end with a flush only under the 'end' flush policy", () => {
    const base = { name: "w", uri: "nbd+unix:///?socket=/s", blockSize: 4096, queueDepth: 16, datasetBytes: 1 << 20, seconds: 0.5, rampSeconds: 0 };
    const randwrite = fioArgs({ ...base, rw: "randwrite", flushAtEnd: true });
    expect(randwrite).toEqual(expect.arrayContaining(["--ioengine=nbd", "--iodepth=16", "--runtime=500ms", "--norandommap=1", "--end_fsync=1"]));
    expect(fioArgs({ ...base, rw: "read", flushAtEnd: true })).not.toContain("--end_fsync=1");
    expect(fioArgs({ ...base, rw: "write", flushAtEnd: false })).not.toContain("--end_fsync=1");
  });
});
