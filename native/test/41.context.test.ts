import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { python, pythonScript, withNbdkit } from "@nbdts/native/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RUN_AIO, fixture, startupError } from "./fixtures/part2/support.js";

// The connection functions of the SDK (exportName, isTls, peerPid, peerUid,
// peerGid) answer for the connection whose callback is running: in open, in
// pread, after an await, and for each of several connections at once. The
// fixture reports what they return as JSON from a read at offset 0.

type Fact<T> = T | { error: string };

interface Facts {
  exportName: Fact<string>;
  tls: Fact<boolean>;
  pid: Fact<number>;
  uid: Fact<number>;
  gid: Fact<number>;
}

interface Report {
  open: { requested: string; tls: boolean; facts: Facts };
  before: Facts;
  after: Facts;
  met: boolean;
}

const plugin = fixture("context.ts");

/** Python printing the client's own credentials and the fixture's report. */
const REPORT_WITH_CLIENT = `import json
print(json.dumps({
    "client": {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid()},
    "report": json.loads(h.pread(4096, 0).decode()),
}))`;

async function reportOf(uri: string, options: { setup?: string } = {}) {
  return JSON.parse(await python(uri, REPORT_WITH_CLIENT, options)) as {
    client: { pid: number; uid: number; gid: number };
    report: Report;
  };
}

describe("over a Unix domain socket", () => {
  it("open and pread see the export name, no TLS, and the client's pid, uid and gid", async () => {
    await withNbdkit({ plugin }, async (server) => {
      const { client, report } = await reportOf(server.uriFor("disk-one"));
      const expected: Facts = { exportName: "disk-one", tls: false, ...client };
      expect(report.open).toEqual({ requested: "disk-one", tls: false, facts: expected });
      expect(report.before).toEqual(expected);
      expect(report.after).toEqual(expected);
    });
  });

  it("the default export is named \"\"", async () => {
    await withNbdkit({ plugin }, async (server) => {
      const { report } = await reportOf(server.uri);
      expect(report.open.requested).toBe("");
      expect(report.before.exportName).toBe("");
    });
  });
});

describe("the context of a connection", () => {
  it("survives awaits and stays with its own connection while two connections' reads interleave", async () => {
    await withNbdkit({ plugin, params: { meet: true, delay: 50 } }, async (server) => {
      // Each connection reads its report 8 times at once; each read waits (in
      // the plugin) until a read of the other export is in progress too.
      const readReports = `${RUN_AIO}
import json
_, data = run_aio([("read", 0, 4096) for _ in range(8)])
print(json.dumps({"pid": os.getpid(), "reports": [json.loads(d.decode()) for d in data]}))`;
      const outputs = await Promise.all(
        ["alpha", "beta"].map((name) => python(server.uriFor(name), readReports, { timeoutMs: 120_000 })),
      );
      const [alpha, beta] = outputs.map((out) => JSON.parse(out) as { pid: number; reports: Report[] });
      for (const [name, seen] of [["alpha", alpha!], ["beta", beta!]] as const) {
        expect(seen.reports).toHaveLength(8);
        // A straggling read may find the other connection done already; most meet it.
        expect(seen.reports.filter((report) => report.met).length).toBeGreaterThanOrEqual(1);
        for (const report of seen.reports) {
          expect(report.open.requested).toBe(name);
          expect(report.before).toMatchObject({ exportName: name, pid: seen.pid });
          expect(report.after).toMatchObject({ exportName: name, pid: seen.pid });
        }
      }
    });
  });
});

describe("TLS", () => {
  let dir: string;
  let pskFile: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "nbdts-psk-"));
    pskFile = join(dir, "keys.psk");
    writeFileSync(pskFile, `alice:${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("isTls() is true in open and pread under --tls=require with a pre-shared key", async () => {
    await withNbdkit({ plugin, nbdkitArgs: ["--tls=require", `--tls-psk=${pskFile}`] }, async (server) => {
      const uri = `nbds+unix://alice@/secure?socket=${encodeURIComponent(server.socket)}&tls-psk-file=${encodeURIComponent(pskFile)}`;
      const { client, report } = await reportOf(uri, { setup: "h.set_uri_allow_local_file(True)" });
      const expected: Facts = { exportName: "secure", tls: true, ...client };
      expect(report.open).toEqual({ requested: "secure", tls: true, facts: expected });
      expect(report.before).toEqual(expected);
      expect(report.after).toEqual(expected);
    });
  });

  it("a client without TLS is refused", async () => {
    await withNbdkit({ plugin, nbdkitArgs: ["--tls=require", `--tls-psk=${pskFile}`] }, async (server) => {
      const result = await pythonScript(
        `import nbd, sys
h = nbd.NBD()
try:
    h.connect_uri(sys.argv[1])
    h.pread(4096, 0)
    print("connected")
except nbd.Error as error:
    print("refused")`,
        [server.uri],
      );
      expect(result.stdout.trim()).toBe("refused");
    });
  });
});

describe("outside a connection", () => {
  it("peerPid() called from configComplete stops nbdkit at start-up with a message saying where it works", async () => {
    const stderr = await startupError({ plugin, params: { probe: "configComplete" } });
    expect(stderr).toContain("peerPid() works only inside a connection callback (open, pread, ...), not here");
    expect(stderr).toContain("configComplete");
  });
});

describe("over TCP", () => {
  it("peerPid(), peerUid() and peerGid() throw ENOTSUP while exportName() and isTls() still answer", async () => {
    await withNbdkit({ plugin, tcp: true }, async (server) => {
      expect(server.port).toBeGreaterThan(0);
      const { report } = await reportOf(server.uriFor("over-tcp"));
      for (const facts of [report.open.facts, report.before, report.after]) {
        expect(facts.exportName).toBe("over-tcp");
        expect(facts.tls).toBe(false);
        for (const [name, fact] of [["peerPid", facts.pid], ["peerUid", facts.uid], ["peerGid", facts.gid]] as const) {
          expect(fact).toEqual({ error: `ENOTSUP: ${name}(): the client is not connected over a Unix domain socket` });
        }
      }
    });
  });

  it("a read whose callback lets peerPid()'s error escape fails for the client, and nbdkit logs why", async () => {
    await withNbdkit({ plugin, tcp: true }, async (server) => {
      const out = await python(
        server.uri,
        `try:
    h.pread(512, 4096)
    print("read succeeded")
except nbd.Error as error:
    print(error.errno)
print(len(h.pread(4096, 0)))`,
      );
      // ENOTSUP travels as EINVAL: NBD has no ENOTSUP except for fast zeroes.
      expect(out.trim().split("\n")).toEqual(["EINVAL", "4096"]);
      await server.waitForLog("context: pread: peerPid(): the client is not connected over a Unix domain socket");
    });
  });
});
