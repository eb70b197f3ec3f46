import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pread } from "@nbdts/native/fileio";
import { python, withNbdkit, nbdinfo } from "@nbdts/native/testing";
import { system, tmpfsDirectory } from "./support/files.js";

const PLUGIN = "@nbdts/file";
// tmpfs holds sparse files up to 2^63-1 bytes (ext4 stops at 16 TiB).
const tmpfs = tmpfsDirectory();
afterAll(() => tmpfs.remove());

const SIZE = 1n << 60n;

/** Reads `length` bytes of the file at an exact 64-bit offset, without nbdkit. */
async function readFileAt(path: string, offset: bigint, length: number): Promise<Buffer> {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(length);
    await pread(fd, buffer, offset);
    return buffer;
  } finally {
    closeSync(fd);
  }
}

describe("files larger than 2^53 bytes", () => {
  it("serves a 2^60-byte sparse file at its exact size, writing and reading near its end exactly", async () => {
    const path = join(tmpfs.path, "huge.img");
    // Node's truncate stops at 2^53; truncate(1) takes any size.
    system("truncate", ["-s", String(SIZE), path]);
    await withNbdkit({ plugin: PLUGIN, params: { file: path } }, async (server) => {
      expect((await nbdinfo(["--size", server.uri])).trim()).toBe(String(SIZE));
      const out = await python(
        server.uri,
        [
          "size = h.get_size()",
          "assert size == 2**60, size",
          // Offsets a float cannot hold: 2^60 - 4097 and 2^53 + 1.
          "tail = bytes((i * 31 + 7) % 256 for i in range(4097))",
          "h.pwrite(tail, size - 4097)",
          "h.pwrite(b'odd', 2**53 + 1)",
          "h.flush()",
          "assert h.pread(4097, size - 4097) == tail",
          "assert h.pread(5, 2**53) == b'\\0odd\\0'",
          "assert h.pread(511, size - 4097 - 511) == bytes(511)",
          "print('ok')",
        ].join("\n"),
      );
      expect(out.trim()).toBe("ok");
    });
    // The bytes landed at exactly those offsets in the file.
    const tail = Buffer.from(Array.from({ length: 4097 }, (_, i) => (i * 31 + 7) % 256));
    expect((await readFileAt(path, SIZE - 4097n, 4097)).equals(tail)).toBe(true);
    expect((await readFileAt(path, (1n << 53n) + 1n, 3)).toString()).toBe("odd");
  });

  it("reports extents near the end of a 2^60-byte file exactly", async () => {
    const path = join(tmpfs.path, "huge-extents.img");
    system("truncate", ["-s", String(SIZE), path]);
    await withNbdkit({ plugin: PLUGIN, params: { file: path } }, async (server) => {
      const out = await python(
        server.uri,
        [
          "h.pwrite(b'x' * 8192, 2**60 - (1 << 20))",
          "h.flush()",
          "h2 = nbd.NBD()",
          "h2.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)",
          "h2.connect_uri(sys.argv[1])",
          "seen = []",
          "def cb(context, offset, entries, err): seen.append(list(entries)); return 0",
          "h2.block_status(2 << 20, 2**60 - (2 << 20), cb)",
          "print(seen)",
          "h2.shutdown()",
        ].join("\n"),
      );
      // [length, flags]: a 1 MiB hole, the 8 KiB written, then a hole to the end.
      expect(out.trim()).toBe(`[[${1 << 20}, 3, 8192, 0, ${(1 << 20) - 8192}, 3]]`);
    });
  });
});
