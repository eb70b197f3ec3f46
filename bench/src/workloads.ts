/**
 * The workloads of issue 4, and how each is measured: fio's `nbd` engine
 * (one NBD connection, libnbd's asynchronous API) for the request-level
 * workloads, nbdcopy (multi-conn when the server allows it) for the copies.
 */

import type { FioJob, Metric, Workload } from "./model.js";

const KiB = 1024;
const MiB = 1024 * KiB;

export const SEQ_WRITE_1M_QD8: Workload = {
  id: "seq-write-1m-qd8",
  title: "sequential write 1 MiB, QD8",
  job: { kind: "fio", rw: "write", blockSize: MiB, queueDepth: 8 },
  metric: "MiB/s",
  pinned: false,
};

export const SEQ_READ_1M_QD8: Workload = {
  id: "seq-read-1m-qd8",
  title: "sequential read 1 MiB, QD8",
  job: { kind: "fio", rw: "read", blockSize: MiB, queueDepth: 8 },
  metric: "MiB/s",
  pinned: false,
};

export const RAND_WRITE_4K_QD16: Workload = {
  id: "rand-write-4k-qd16",
  title: "random write 4 KiB, QD16",
  job: { kind: "fio", rw: "randwrite", blockSize: 4 * KiB, queueDepth: 16 },
  metric: "IOPS",
  pinned: false,
};

export const RAND_READ_4K_QD16: Workload = {
  id: "rand-read-4k-qd16",
  title: "random read 4 KiB, QD16",
  job: { kind: "fio", rw: "randread", blockSize: 4 * KiB, queueDepth: 16 },
  metric: "IOPS",
  pinned: false,
};

export const RAND_READ_4K_QD1_PINNED: Workload = {
  id: "rand-read-4k-qd1-pinned",
  title: "random read 4 KiB, QD1, pinned to one CPU",
  job: { kind: "fio", rw: "randread", blockSize: 4 * KiB, queueDepth: 1 },
  metric: "latency µs",
  pinned: true,
};

export const NBDCOPY_IN: Workload = {
  id: "nbdcopy-in",
  title: "nbdcopy in (random file → disk)",
  job: { kind: "nbdcopy", direction: "in" },
  metric: "MiB/s",
  pinned: false,
};

export const NBDCOPY_OUT: Workload = {
  id: "nbdcopy-out",
  title: "nbdcopy out (disk → null:)",
  job: { kind: "nbdcopy", direction: "out" },
  metric: "MiB/s",
  pinned: false,
};

/**
 * Every workload of issue 4, in the order they run within a round: writes
 * before reads, so that reads always find data.
 */
export const STANDARD_WORKLOADS: readonly Workload[] = [
  NBDCOPY_IN,
  SEQ_WRITE_1M_QD8,
  SEQ_READ_1M_QD8,
  RAND_WRITE_4K_QD16,
  RAND_READ_4K_QD16,
  NBDCOPY_OUT,
  RAND_READ_4K_QD1_PINNED,
];

/** The 1 MiB sequential and 4 KiB random QD16 workloads (the storage plugins' rows). */
export const SEQUENTIAL_AND_RANDOM: readonly Workload[] = [
  SEQ_WRITE_1M_QD8,
  SEQ_READ_1M_QD8,
  RAND_WRITE_4K_QD16,
  RAND_READ_4K_QD16,
];

/** One measurement: the workload's metric plus what else the client reported. */
export interface Measurement {
  /** The workload's metric (MiB/s, IOPS or mean latency in µs). */
  value: number;
  mibPerSecond: number;
  iops?: number;
  meanLatencyUs?: number;
  /** Wall time of the client run in seconds (fio: its own runtime, without ramp). */
  seconds: number;
  /** Bytes moved in the timed part. */
  bytes: number;
}

interface FioDirectionStats {
  io_bytes: number;
  bw_bytes: number;
  iops: number;
  runtime: number;
  lat_ns: { mean: number };
}

interface FioJobResult {
  jobname: string;
  error: number;
  read: FioDirectionStats;
  write: FioDirectionStats;
}

/**
 * Reads fio's `--output-format=json` report. fio (and its nbd engine) may
 * print lines such as "fio: connected to NBD server" before the JSON, so the
 * report starts at the first "{".
 */
export function parseFioReport(output: string, rw: FioJob["rw"], metric: Metric): Measurement {
  const start = output.indexOf("{");
  if (start < 0) throw new Error(`fio printed no JSON report; its output was:\n${output}`);
  let report: { jobs?: FioJobResult[] };
  try {
    report = JSON.parse(output.slice(start)) as { jobs?: FioJobResult[] };
  } catch (error) {
    throw new Error(`fio's JSON report could not be parsed (${(error as Error).message}); its output was:\n${output}`);
  }
  const job = report.jobs?.[0];
  if (job === undefined) throw new Error(`fio's JSON report has no job; its output was:\n${output}`);
  if (job.error !== 0) throw new Error(`fio job ${job.jobname} failed with error ${job.error}:\n${output}`);
  const stats = rw === "read" || rw === "randread" ? job.read : job.write;
  if (stats.io_bytes <= 0) throw new Error(`fio job ${job.jobname} moved no data:\n${output}`);
  const mibPerSecond = stats.bw_bytes / MiB;
  const meanLatencyUs = stats.lat_ns.mean / 1000;
  const value = metric === "IOPS" ? stats.iops : metric === "latency µs" ? meanLatencyUs : mibPerSecond;
  return {
    value,
    mibPerSecond,
    iops: stats.iops,
    meanLatencyUs,
    seconds: stats.runtime / 1000,
    bytes: stats.io_bytes,
  };
}

/** fio's arguments for a job against `uri`. */
export function fioArgs(options: {
  name: string;
  uri: string;
  rw: FioJob["rw"];
  blockSize: number;
  queueDepth: number;
  datasetBytes: number;
  seconds: number;
  rampSeconds: number;
  flushAtEnd: boolean;
}): string[] {
  const args = [
    `--name=${options.name}`,
    "--ioengine=nbd",
    `--uri=${options.uri}`,
    `--rw=${options.rw}`,
    `--bs=${options.blockSize}`,
    `--iodepth=${options.queueDepth}`,
    "--numjobs=1",
    `--size=${options.datasetBytes}`,
    "--time_based=1",
    // fio takes time values with a unit suffix; milliseconds allow --seconds 0.5.
    `--runtime=${Math.max(1, Math.round(options.seconds * 1000))}ms`,
    `--ramp_time=${Math.round(options.rampSeconds * 1000)}ms`,
    "--output-format=json",
  ];
  if (options.rw.startsWith("rand")) args.push("--norandommap=1", "--randrepeat=0");
  if (options.flushAtEnd && (options.rw === "write" || options.rw === "randwrite")) args.push("--end_fsync=1");
  return args;
}
