import { python, withNbdkit, type NbdkitOptions } from "@nbdts/native/testing";
import { describe, expect, it } from "vitest";
import { RUN_AIO, fixture, startupError } from "./fixtures/part2/support.js";

// Thread models: under "parallel" the requests of a connection overlap at
// each await in the plugin; under the default, serialize_all_requests, nbdkit
// hands the plugin one request at a time. Timings are measured against the
// plugin's own delay with wide margins (the machine is shared), and the
// plugin's count of reads in progress at once is checked as well.

const STATS_OFFSET = (1 << 20) - 4096;

interface SlowReads {
  /** Seconds from the first submission to the last completion. */
  elapsed: number;
  /** Every read returned its offset's pattern. */
  dataOk: boolean;
  /** The most reads the plugin had in progress at once. */
  maxInFlight: number;
}

/** Ten 512-byte reads submitted at once on one connection. */
async function tenConcurrentReads(uri: string): Promise<SlowReads> {
  const out = await python(
    uri,
    `${RUN_AIO}
import json
elapsed, data = run_aio([("read", i * 4096, 512) for i in range(10)])
expected = [bytes(((i * 4096 + k) & 0xff) for k in range(512)) for i in range(10)]
stats = json.loads(h.pread(4096, ${STATS_OFFSET}).decode())
print(json.dumps({"elapsed": elapsed, "dataOk": data == expected, "maxInFlight": stats["maxInFlight"]}))`,
    { timeoutMs: 120_000 },
  );
  return JSON.parse(out) as SlowReads;
}

function slow(plugin: string, params: Record<string, string | number>, nbdkitArgs: string[] = []): NbdkitOptions {
  return { plugin: fixture(plugin), params, nbdkitArgs };
}

describe("threadModel \"parallel\"", () => {
  it("ten reads that each sleep 1 s with nanosleep overlap: together they take far less than 10 s", async () => {
    await withNbdkit(slow("slow-parallel.ts", { delay: 1000, sleep: "nanosleep" }), async (server) => {
      const reads = await tenConcurrentReads(server.uri);
      expect(reads.dataOk).toBe(true);
      expect(reads.maxInFlight).toBe(10);
      expect(reads.elapsed).toBeGreaterThanOrEqual(0.95);
      expect(reads.elapsed).toBeLessThan(5);
    });
  });

  it("nbdkit itself runs the plugin under the parallel thread model", async () => {
    await withNbdkit(slow("slow-parallel.ts", { delay: 0 }, ["-v"]), async (server) => {
      expect(server.log()).toContain("using thread model: parallel");
    });
  });
});

describe("the default thread model, serialize_all_requests", () => {
  it("ten reads submitted at once run one after another: together they take at least ten times one", async () => {
    await withNbdkit(slow("slow-serial.ts", { delay: 500 }, ["-v"]), async (server) => {
      const reads = await tenConcurrentReads(server.uri);
      expect(reads.dataOk).toBe(true);
      expect(reads.maxInFlight).toBe(1);
      expect(reads.elapsed).toBeGreaterThanOrEqual(10 * 0.5 - 0.05);
      expect(server.log()).toContain("using thread model: serialize_all_requests");
    });
  });
});

describe("threadModel as a function", () => {
  it("is called after configuration, so a parameter can choose parallel and reads overlap", async () => {
    await withNbdkit(slow("slow-chosen.ts", { delay: 1000, model: "parallel" }, ["-v"]), async (server) => {
      const reads = await tenConcurrentReads(server.uri);
      expect(server.log()).toContain("using thread model: parallel");
      expect(reads.dataOk).toBe(true);
      expect(reads.maxInFlight).toBe(10);
      expect(reads.elapsed).toBeLessThan(5);
    });
  });

  it("can choose serialize_requests, which nbdkit then uses", async () => {
    await withNbdkit(slow("slow-chosen.ts", { delay: 0, model: "serialize_requests" }, ["-v"]), async (server) => {
      expect(server.log()).toContain("using thread model: serialize_requests");
      const reads = await tenConcurrentReads(server.uri);
      expect(reads.dataOk).toBe(true);
      expect(reads.maxInFlight).toBe(1);
    });
  });
});

describe("an invalid thread model", () => {
  it("returned by threadModel() stops nbdkit at start-up with a message naming the value and the valid ones", async () => {
    const stderr = await startupError({ plugin: fixture("slow-chosen.ts"), params: { model: "bogus" } });
    expect(stderr).toContain('threadModel is "bogus"');
    expect(stderr).toContain("serialize_connections, serialize_all_requests, serialize_requests, parallel");
  });

  it("given as a string (a JavaScript plugin's typo) stops nbdkit at start-up the same way", async () => {
    const stderr = await startupError({ plugin: fixture("misspelt-thread-model.ts") });
    expect(stderr).toContain('threadModel is "paralel"');
    expect(stderr).toContain("misspelt-thread-model");
  });
});

describe("many requests in flight across connections", () => {
  // Each connection writes 8 blocks of its own 2 MiB region while reading 8
  // untouched blocks, then reads its 8 blocks back; all 16 requests of a
  // phase are submitted at once, and the plugin delays each by 50–150 ms.
  const oneConnection = (index: number) => `${RUN_AIO}
import array, json, random
base = ${index} * 2 * 1024 * 1024
block = 64 * 1024
def pattern(offset, length):
    return array.array("I", range(offset, offset + length, 4)).tobytes()
written = [random.randbytes(block) for _ in range(8)]
requests = [("write", base + i * block, written[i]) for i in range(8)]
requests += [("read", base + (8 + i) * block + 4 * i, block) for i in range(8)]
_, data = run_aio(requests)
untouched_ok = all(data[8 + i] == pattern(base + (8 + i) * block + 4 * i, block) for i in range(8))
_, back = run_aio([("read", base + i * block, block) for i in range(8)])
import hashlib
print(json.dumps({"untouchedOk": untouched_ok, "writtenOk": back == written, "sha256": hashlib.sha256(b"".join(written)).hexdigest()}))`;

  /** Runs the four connections at once; returns the plugin's most requests in progress at once. */
  async function fourBusyConnections(options: NbdkitOptions): Promise<number> {
    return withNbdkit(options, async (server) => {
      const results = await Promise.all(
        [0, 1, 2, 3].map((index) => python(server.uri, oneConnection(index), { timeoutMs: 120_000 })),
      );
      const hashes: string[] = [];
      for (const out of results) {
        const result = JSON.parse(out) as { untouchedOk: boolean; writtenOk: boolean; sha256: string };
        expect(result).toMatchObject({ untouchedOk: true, writtenOk: true });
        hashes.push(result.sha256);
      }
      // A fifth connection sees each region exactly as its writer left it.
      const check = await python(
        server.uri,
        `import hashlib, json
print(json.dumps({
    "sha256": [hashlib.sha256(h.pread(8 * 65536, index * 2 * 1024 * 1024)).hexdigest() for index in range(4)],
    "maxInFlight": json.loads(h.pread(4096, 16 * 1024 * 1024 - 4096).decode())["maxInFlight"],
}))`,
      );
      const seen = JSON.parse(check) as { sha256: string[]; maxInFlight: number };
      expect(seen.sha256).toEqual(hashes);
      return seen.maxInFlight;
    });
  }

  it("4 connections × 16 asynchronous requests all complete with the right data", async () => {
    const maxInFlight = await fourBusyConnections({ plugin: fixture("busy-disk.ts") });
    // 16 requests of one connection alone overlap; more when connections do.
    expect(maxInFlight).toBeGreaterThanOrEqual(8);
  });

  it("with only 4 channel slots (NBDTS_SLOTS=4) the same requests wait for a slot and all complete correctly", async () => {
    const maxInFlight = await fourBusyConnections({ plugin: fixture("busy-disk.ts"), env: { NBDTS_SLOTS: "4" } });
    expect(maxInFlight).toBeGreaterThanOrEqual(2);
    expect(maxInFlight).toBeLessThanOrEqual(4);
  });
});
