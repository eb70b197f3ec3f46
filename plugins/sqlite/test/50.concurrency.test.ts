/**
 * Concurrency: many connections share one disk consistently (multi-conn),
 * requests in flight at once are each atomic, and a second nbdkit on the same
 * file is refused at start-up rather than allowed to corrupt it.
 */

import { python, run, runNbdkit } from "@nbdts/native/testing";
import { describe, expect, test } from "vitest";
import { PLUGIN, serve, testScope, waitGone } from "./support/disks.js";

const scope = testScope();

describe("several connections", () => {
  test("see each other's writes at once, and one connection's flush makes all of them durable", async () => {
    const file = scope.file();
    const server = await serve({ file, size: "8M" });
    scope.defer(() => server.stop());
    const hostPid = server.hostPid()!;
    const out = await python(
      server.uri,
      `
import hashlib
h2 = nbd.NBD()
h2.connect_uri(sys.argv[1])
print(h.can_multi_conn(), h2.can_multi_conn())
a = os.urandom(300000)
h.pwrite(a, 70000)
print(h2.pread(300000, 70000) == a)
b = os.urandom(5000)
h2.pwrite(b, 65530)
print(h.pread(5000, 65530) == b)
h2.flush()
print(hashlib.sha256(h.pread(${8 * 1024 * 1024}, 0)).hexdigest())
h2.shutdown()
`,
    );
    const [canMultiConn, seesA, seesB, hash] = out.trim().split("\n");
    expect([canMultiConn, seesA, seesB]).toEqual(["True True", "True", "True"]);

    process.kill(server.pid, "SIGKILL");
    await server.exited;
    await waitGone(hostPid);
    const again = await serve({ file });
    try {
      const after = await python(again.uri, `import hashlib\nprint(hashlib.sha256(h.pread(${8 * 1024 * 1024}, 0)).hexdigest())`);
      expect(after.trim()).toBe(hash);
    } finally {
      await again.stop();
    }
  });

  test("fio random writes of mixed sizes from 4 connections, 16 requests in flight each, verify", async () => {
    const file = scope.file();
    const server = await serve({ file, size: "64M" });
    scope.defer(() => server.stop());
    const result = await run(
      "fio",
      [
        "--name=verify",
        "--ioengine=nbd",
        `--uri=${server.uri}`,
        "--rw=randwrite",
        "--bsrange=512-130k",
        "--verify=crc32c",
        // fio would otherwise leave a state file per job in the working directory.
        "--verify_state_save=0",
        "--iodepth=16",
        "--numjobs=4",
        "--size=16M",
        "--offset_increment=16M",
        "--group_reporting",
      ],
      { timeoutMs: 300_000 },
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/err= 0/);
    expect(result.stdout + result.stderr).not.toMatch(/verify: bad/);
  });
});

describe("a second nbdkit on the same file", () => {
  test("fails at start-up with a message that the file is in use, and the first keeps serving", async () => {
    const file = scope.file();
    const first = await serve({ file, size: "1M" });
    scope.defer(() => first.stop());
    await python(first.uri, "h.pwrite(b'first', 0)\nh.flush()");

    const second = await runNbdkit({
      plugin: PLUGIN,
      params: { file, size: "1M" },
      nbdkitArgs: ["-U", "-", "--run", "true"],
      timeoutMs: 60_000,
    });
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`file: "${file}" is in use by another process (another nbdkit serving it, or nbdts-sqlite)`);

    expect(await python(first.uri, "print(h.pread(5, 0).decode())")).toBe("first\n");
  });
});
