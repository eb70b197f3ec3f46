/**
 * What a benchmark is made of. A suite (transport, memory, file, sqlite, s3)
 * prepares rows; a row compares several servers, one of them the reference,
 * on a list of workloads; each workload is measured once per server per
 * round, interleaved (see runner.ts). A new suite is one file in suites/
 * that returns rows built from these types, plus one line in suites/index.ts.
 */

/** What a workload's number is. Throughput and IOPS: higher is better; latency: lower is better. */
export type Metric = "MiB/s" | "IOPS" | "latency µs";

/** Whether a bigger number is better (throughput) or worse (latency). */
export type Better = "higher" | "lower";

/** A fio job against the NBD disk (fio's `nbd` engine, one connection). */
export interface FioJob {
  readonly kind: "fio";
  /** fio's `rw`: read, write, randread, randwrite. */
  readonly rw: "read" | "write" | "randread" | "randwrite";
  /** Request size in bytes. */
  readonly blockSize: number;
  /** Requests in flight (fio's `iodepth`). */
  readonly queueDepth: number;
}

/** An nbdcopy run: the dataset file into the disk ("in"), or the disk to `null:` ("out"). */
export interface NbdcopyJob {
  readonly kind: "nbdcopy";
  readonly direction: "in" | "out";
}

export interface Workload {
  /** Stable identifier used in results files and targets, e.g. "rand-read-4k-qd16". */
  readonly id: string;
  /** What a reader of the table sees, e.g. "random read 4 KiB, QD16". */
  readonly title: string;
  readonly job: FioJob | NbdcopyJob;
  readonly metric: Metric;
  /**
   * Run server and client on one CPU (taskset -c CPU for nbdkit, and so for
   * the Node host it starts, and for fio): measures the round trip without
   * the help of a second core.
   */
  readonly pinned: boolean;
}

/** One server under test: an nbdkit plugin with its parameters. */
export interface ServerSpec {
  /** Stable identifier, e.g. "c-memory", "ts-ramdisk". */
  readonly id: string;
  /** What a reader of the table sees, e.g. "C memory". */
  readonly label: string;
  /** nbdkit's words after its own options: the plugin and its parameters. */
  readonly pluginArgs: readonly string[];
  /** Extra nbdkit options placed before the plugin (filters, -r ...). */
  readonly nbdkitOptions?: readonly string[];
  /** Extra environment for nbdkit and whatever it starts. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * A target: the candidate's ratio to the reference on one workload must be
 * at least `bound` (throughput, IOPS) or at most `bound` (latency).
 */
export interface Target {
  readonly workload: string;
  readonly server: string;
  readonly bound: number;
}

/** Whether the client asks the server to flush what it wrote. */
export type FlushPolicy =
  /** No flush requests: fio and nbdcopy only read and write. */
  | "none"
  /** One flush at the end of each write workload (fio end_fsync=1, nbdcopy --flush), inside the timing. */
  | "end";

export interface Row {
  /** Identifier within its suite, e.g. "ramdisk"; select it with `suite/row`. */
  readonly id: string;
  readonly title: string;
  /** The servers; `reference` names the one every ratio is taken against. */
  readonly servers: readonly ServerSpec[];
  readonly reference: string;
  readonly workloads: readonly Workload[];
  /** Size of each disk in bytes (what the servers are started with). */
  readonly diskBytes: number;
  /**
   * The region the workloads use, from offset 0: fio's `size`, the size of
   * the random file nbdcopy copies in, and what `precondition` writes.
   */
  readonly datasetBytes: number;
  /**
   * Write the dataset's random data into each disk (with nbdcopy, not timed)
   * after the servers start, so that reads read data rather than holes.
   */
  readonly precondition: boolean;
  readonly flush: FlushPolicy;
  /** Extra nbdcopy options for "out" (e.g. --no-extents, to read a disk that reports itself as a hole). */
  readonly nbdcopyOutOptions?: readonly string[];
  /**
   * What nbdcopy "out" counts as copied: the dataset (default; holes beyond
   * it are skipped through extents) or the whole disk (a sparse-disk read).
   */
  readonly nbdcopyOutCounts?: "dataset" | "disk";
  readonly targets?: readonly Target[];
  /** Sentences printed under the row's table and stored in the results. */
  readonly notes?: readonly string[];
}

/** What a suite is given to build its rows. */
export interface SuiteContext {
  /** `--quick`: tiny disks and runs, for smoke tests. */
  readonly quick: boolean;
  /** Default disk size of a row (1 GiB; 64 MiB with --quick). */
  readonly diskBytes: number;
  /** Default dataset of a row (512 MiB; 32 MiB with --quick). */
  readonly datasetBytes: number;
  /** A private directory for the suite's files (removed after the run). */
  readonly scratchDir: string;
  /** Progress output (stderr). */
  log(line: string): void;
}

/** A suite ready to run: its rows, and how to undo what preparing it did. */
export interface PreparedSuite {
  readonly rows: readonly Row[];
  /** Stops what `prepare` started (an S3 server, say). Called once, whatever happened. */
  cleanup(): Promise<void>;
}

export interface Suite {
  readonly name: string;
  readonly description: string;
  /** The ids of the rows `prepare` returns, for `--list` and for `suite/row` selection before anything starts. */
  readonly rowIds: readonly string[];
  /**
   * Why this suite cannot run here (a package not built, a program not
   * installed), or undefined when it can. Checked before anything starts.
   */
  unavailable(): string | undefined;
  prepare(context: SuiteContext): Promise<PreparedSuite>;
}

export function better(metric: Metric): Better {
  return metric === "latency µs" ? "lower" : "higher";
}

/**
 * Issue 5's targets for a storage plugin against its C peer: 1 MiB
 * sequential read and write at least 0.9×, 4 KiB random QD16 at least 0.5×.
 */
export function storageTargets(server: string): Target[] {
  return [
    { workload: "seq-write-1m-qd8", server, bound: 0.9 },
    { workload: "seq-read-1m-qd8", server, bound: 0.9 },
    { workload: "rand-write-4k-qd16", server, bound: 0.5 },
    { workload: "rand-read-4k-qd16", server, bound: 0.5 },
  ];
}
