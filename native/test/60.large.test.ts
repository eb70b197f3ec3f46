import { python, run, withNbdkit } from "@nbdts/native/testing";
import { describe, expect, it } from "vitest";
import { fixture } from "./fixtures/part2/support.js";

// Large requests and large offsets. The fixture is a sparse disk of 2^63−1
// bytes whose unwritten bytes follow a pattern of their exact offset, so a
// request whose offset was rounded anywhere on its way returns the wrong
// bytes; it also logs every request at or beyond 2^53 with its offset.

const plugin = fixture("bigdisk.ts");
const MAX_SIZE = (1n << 63n) - 1n;
const MiB = 1024 * 1024;

/** Python: `pattern(offset, length)`, the fixture's bytes for never-written offsets. */
const PATTERN = `
import hashlib

def pattern(offset, length):
    out = bytearray()
    while length > 0:
        piece = min(length, (1 << 32) - offset % (1 << 32))
        lo = offset % 251
        hi = (offset >> 32) % 241
        period = bytes((((lo + k) % 251) + hi) & 0xff for k in range(251))
        out += (period * (piece // 251 + 1))[:piece]
        offset += piece
        length -= piece
    return bytes(out)

def sha(data):
    return hashlib.sha256(data).hexdigest()
`;

describe("64 MiB requests (nbdkit's largest)", () => {
  it("a 64 MiB read returns exactly the plugin's data, across a 4 GiB boundary", async () => {
    await withNbdkit({ plugin }, async (server) => {
      const offset = 4 * 1024 * MiB - 32 * MiB + 7;
      const out = await python(
        server.uri,
        `${PATTERN}
data = h.pread(${64 * MiB}, ${offset})
print(len(data), sha(data) == sha(pattern(${offset}, ${64 * MiB})))`,
        { timeoutMs: 180_000 },
      );
      expect(out).toBe(`${64 * MiB} True\n`);
    });
  });

  it("a 64 MiB write is stored exactly, and reads back whole and without touching its neighbours", async () => {
    await withNbdkit({ plugin }, async (server) => {
      const offset = 1024 * MiB + 3;
      const out = await python(
        server.uri,
        `${PATTERN}
import json
data = os.urandom(${64 * MiB})
h.pwrite(data, ${offset})
back = h.pread(${64 * MiB}, ${offset})
before = h.pread(4096, ${offset} - 4096)
after = h.pread(4096, ${offset} + ${64 * MiB})
print(json.dumps({
    "written": sha(data),
    "readBack": sha(back),
    "beforeOk": before == pattern(${offset} - 4096, 4096),
    "afterOk": after == pattern(${offset} + ${64 * MiB}, 4096),
}))`,
        { timeoutMs: 180_000 },
      );
      const result = JSON.parse(out) as { written: string; readBack: string; beforeOk: boolean; afterOk: boolean };
      expect(result.readBack).toBe(result.written);
      expect(result.beforeOk).toBe(true);
      expect(result.afterOk).toBe(true);
    });
  });
});

describe("a disk of 2^63−1 bytes", () => {
  it("nbdinfo reports its size as 9223372036854775807", async () => {
    await withNbdkit({ plugin }, async (server) => {
      const size = await run("nbdinfo", ["--size", server.uri]);
      expect(size.stdout).toBe(`${MAX_SIZE}\n`);
      const info = await run("nbdinfo", [server.uri]);
      expect(info.stdout).toMatch(/export-size: 9223372036854775807\n/);
    });
  });

  it("its last 511 bytes and its last byte read as the pattern of their exact offsets", async () => {
    await withNbdkit({ plugin }, async (server) => {
      const out = await python(
        server.uri,
        `${PATTERN}
size = h.get_size()
print(size)
print(h.pread(511, size - 511) == pattern(size - 511, 511))
print(h.pread(1, size - 1) == pattern(size - 1, 1))`,
      );
      expect(out).toBe(`${MAX_SIZE}\nTrue\nTrue\n`);
      // The offsets reached the plugin as exact bigints.
      const log = await server.waitForLog(`bigdisk: pread offset=${MAX_SIZE - 1n} count=1`);
      expect(log).toContain(`bigdisk: pread offset=${MAX_SIZE - 511n} count=511`);
    });
  });

  it("a read past its end is refused by nbdkit with EINVAL before it reaches the plugin", async () => {
    await withNbdkit({ plugin }, async (server) => {
      // libnbd would refuse it itself; let it through so that nbdkit sees it.
      const out = await python(
        server.uri,
        `try:
    h.pread(512, h.get_size() - 511)
    print("read past the end")
except nbd.Error as error:
    print(error.errno)`,
        { setup: "h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_BOUNDS)" },
      );
      expect(out).toBe("EINVAL\n");
      const log = await server.waitForLog("offset and count are out of range");
      expect(log).not.toContain("bigdisk: pread");
    });
  });
});

describe("offsets above 2^53 (beyond exact doubles)", () => {
  it("single bytes written at 2^53 and 2^53+1 stay apart and read back", async () => {
    await withNbdkit({ plugin }, async (server) => {
      const base = 1n << 53n;
      const out = await python(
        server.uri,
        `${PATTERN}
h.pwrite(b"\\x11", ${base})
h.pwrite(b"\\x22", ${base + 1n})
h.pwrite(b"\\x33", ${base + 3n})
print(h.pread(4, ${base}) == b"\\x11\\x22" + pattern(${base + 2n}, 1) + b"\\x33")`,
      );
      // 2^53+1 and 2^53+3 are not doubles: rounded, the writes would collide.
      expect(out).toBe("True\n");
      const log = server.log();
      for (const offset of [base, base + 1n, base + 3n]) expect(log).toContain(`bigdisk: pwrite offset=${offset} count=1`);
    });
  });

  it("a 1 MiB write at an odd offset near the end of the disk reads back exactly, and its neighbours keep their pattern", async () => {
    await withNbdkit({ plugin }, async (server) => {
      const offset = MAX_SIZE - 3n * BigInt(MiB) + 12_345n;
      const out = await python(
        server.uri,
        `${PATTERN}
data = os.urandom(${MiB})
h.pwrite(data, ${offset})
print(h.pread(${MiB}, ${offset}) == data)
print(h.pread(100, ${offset} - 100) == pattern(${offset} - 100, 100))
print(h.pread(100, ${offset} + ${MiB}) == pattern(${offset} + ${MiB}, 100))`,
      );
      expect(out).toBe("True\nTrue\nTrue\n");
      await server.waitForLog(`bigdisk: pwrite offset=${offset} count=${MiB}`);
    });
  });
});

describe("extents longer than 2^32−1 bytes", () => {
  it("reach the client cut to 2^32−1 bytes from the request's start, so nbdkit 1.32 does not abort on them", async () => {
    await withNbdkit({ plugin: fixture("one-big-hole.ts") }, async (server) => {
      const output = await python(
        server.uri,
        `
size = h.get_size()
def show(meta, offset, entries, err):
    print(offset, entries)
    return 0
for offset, count in [(size - (2**32 - 1), 2**32 - 1), (0, 2**32 - 1), (size - 4096, 4096)]:
    h.block_status(count, offset, show)
`,
        { setup: "h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)" },
      );
      const size = 64n << 30n;
      expect(output.trim().split("\n")).toEqual([
        `${size - (2n ** 32n - 1n)} [${2n ** 32n - 1n}, 3]`,
        `0 [${2n ** 32n - 1n}, 3]`,
        `${size - 4096n} [4096, 3]`,
      ]);
      expect(server.log()).not.toMatch(/Assertion/);
    });
  });
});
