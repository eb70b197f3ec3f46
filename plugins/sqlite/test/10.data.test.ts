/**
 * Data integrity through real clients: what nbdcopy and qemu-io write is what
 * they read back, byte for byte, through nbdkit and after a restart on the
 * same file.
 */

import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { python, run } from "@nbdts/native/testing";
import { describe, expect, test } from "vitest";
import { serve, testScope, withServer } from "./support/disks.js";

const scope = testScope();

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function nbdcopy(from: string, to: string): Promise<void> {
  const result = await run("nbdcopy", [from, to], { timeoutMs: 300_000 });
  expect(result.code, `nbdcopy ${from} ${to}: ${result.stderr}`).toBe(0);
}

describe("nbdcopy", () => {
  test.each([
    ["64k (the default)", undefined, 64 * 1024 * 1024 + 12345],
    ["4k", "4k", 16 * 1024 * 1024 + 777],
    ["1M", "1M", 16 * 1024 * 1024 + 4097],
  ])("random data copied onto a disk with %s blocks reads back identical, also after a restart", async (_, blockSize, size) => {
    const dir = scope.dir();
    const file = join(dir, "disks.db");
    const source = join(dir, "source.img");
    const copy = join(dir, "copy.img");
    const data = randomBytes(size);
    writeFileSync(source, data);
    const params = { file, size, ...(blockSize !== undefined ? { "block-size": blockSize } : {}) };

    await withServer(params, async (server) => {
      await nbdcopy(source, server.uri);
      await nbdcopy(server.uri, copy);
      expect(sha256(readFileSync(copy))).toBe(sha256(data));
    });
    // A new server on the same file serves the same bytes.
    await withServer({ file }, async (server) => {
      await nbdcopy(server.uri, copy);
      expect(sha256(readFileSync(copy))).toBe(sha256(data));
    });
  });
});

describe("qemu-io", () => {
  test.each(["4k", "64k"])("unaligned writes across %s block boundaries read back with their patterns, zeroes around them", async (blockSize) => {
    const file = scope.file();
    const bs = blockSize === "4k" ? 4096 : 65536;
    // Each write straddles at least one block boundary; the zero cuts into written data.
    const commands = [
      `write -P 0x11 ${bs - 100} 200`,
      `write -P 0x22 ${2 * bs - 3} 7`,
      `write -P 0x33 ${3 * bs + 1} ${3 * bs + 5}`,
      `write -z ${4 * bs - 50} 100`,
      `write -P 0x44 ${8 * bs - 1} 2`,
      `read -P 0 0 ${bs - 100}`,
      `read -P 0x11 ${bs - 100} 200`,
      `read -P 0 ${bs + 100} ${bs - 103}`,
      `read -P 0x22 ${2 * bs - 3} 7`,
      `read -P 0 ${2 * bs + 4} ${bs - 3}`,
      `read -P 0x33 ${3 * bs + 1} ${bs - 51}`,
      `read -P 0 ${4 * bs - 50} 100`,
      `read -P 0x33 ${4 * bs + 50} ${2 * bs - 44}`,
      `read -P 0 ${6 * bs + 6} ${2 * bs - 7}`,
      `read -P 0x44 ${8 * bs - 1} 2`,
      `read -P 0 ${8 * bs + 1} ${bs - 1}`,
    ];
    const qemuIo = async (uri: string, selected: readonly string[]): Promise<void> => {
      const result = await run("qemu-io", ["-f", "raw", ...selected.flatMap((command) => ["-c", command]), uri]);
      expect(result.stdout).not.toContain("Pattern verification failed");
      expect(result.code, result.stdout + result.stderr).toBe(0);
    };
    await withServer({ file, size: 16 * bs, "block-size": blockSize }, (server) => qemuIo(server.uri, commands));
    // The reads again, from a new server on the same file.
    const reads = commands.filter((command) => command.startsWith("read"));
    await withServer({ file }, (server) => qemuIo(server.uri, reads));
  });
});

describe("libnbd", () => {
  test("random unaligned writes and zeroes from two connections match a model of the disk", async () => {
    const file = scope.file();
    const size = 4096 * 300 + 1000;
    const server = await serve({ file, size, "block-size": "4k" });
    scope.defer(() => server.stop());
    const out = await python(
      server.uri,
      `
import random
random.seed(6)
size = ${size}
model = bytearray(size)
h2 = nbd.NBD()
h2.connect_uri(sys.argv[1])
for step in range(800):
    c = random.choice((h, h2))
    offset = random.randrange(size)
    count = 1 + random.randrange(min(20000, size - offset))
    op = random.randrange(4)
    if op < 2:
        data = os.urandom(count) if random.randrange(5) else bytes(count)
        c.pwrite(data, offset)
        model[offset:offset + count] = data
    elif op == 2:
        c.zero(count, offset, nbd.CMD_FLAG_NO_HOLE if random.randrange(2) else 0)
        model[offset:offset + count] = bytes(count)
    else:
        assert c.pread(count, offset) == model[offset:offset + count], (step, offset, count)
    if random.randrange(40) == 0:
        c.flush()
h.flush()
assert h2.pread(size, 0) == model
h2.shutdown()
print(model.hex())
`,
      { timeoutMs: 300_000 },
    );
    const model = Buffer.from(out.trim(), "hex");
    await server.stop();
    await withServer({ file }, async (again) => {
      const check = await python(again.uri, `print(h.pread(${size}, 0).hex())`);
      expect(Buffer.from(check.trim(), "hex").equals(model)).toBe(true);
    });
  });
});
