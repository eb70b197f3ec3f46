import { describe, expect, it } from "vitest";
import { overlappingConnections, python, withNbdkit } from "@nbdts/native/testing";

const PLUGIN = "@nbdts/memory";

describe("connections", () => {
  it("shares one disk between connections: each sees the other's writes after a flush", async () => {
    await withNbdkit({ plugin: PLUGIN, params: ["1G"] }, async (server) => {
      const out = await python(
        server.uri,
        [
          "h2 = nbd.NBD()",
          "h2.connect_uri(sys.argv[1])",
          "assert h.can_multi_conn() and h2.can_multi_conn()",
          "h.pwrite(b'first' * 1000, 12345)",
          "h.flush()",
          "assert h2.pread(5000, 12345) == b'first' * 1000",
          "h2.pwrite(b'second' * 1000, 1 << 29)",
          "h2.flush()",
          "assert h.pread(6000, 1 << 29) == b'second' * 1000",
          "h2.shutdown()",
          "print('ok')",
        ].join("\n"),
      );
      expect(out.trim()).toBe("ok");
    });
  });

  it("keeps the disk after its writer disconnects, until nbdkit exits", async () => {
    await withNbdkit({ plugin: PLUGIN, params: ["1G"] }, async (server) => {
      await python(server.uri, "h.pwrite(b'kept' * 100, 4096)");
      const out = await python(server.uri, "print(h.pread(400, 4096) == b'kept' * 100)");
      expect(out.trim()).toBe("True");
    });
  });

  it("acknowledges flush, FUA writes and cache requests (the data is already in memory)", async () => {
    await withNbdkit({ plugin: PLUGIN, params: ["1G"] }, async (server) => {
      const out = await python(
        server.uri,
        [
          "assert h.can_flush() and h.can_fua() and h.can_cache()",
          "h.pwrite(b'durable' * 100, 0, nbd.CMD_FLAG_FUA)",
          "h.flush()",
          "h.cache(1 << 20, 0)",
          "assert h.pread(700, 0) == b'durable' * 100",
          "print('ok')",
        ].join("\n"),
      );
      expect(out.trim()).toBe("ok");
    });
  });

  it("serves overlapping requests from several connections without mixing them up", async () => {
    await withNbdkit({ plugin: PLUGIN, params: ["1G"] }, async (server) => {
      await overlappingConnections(server.uri);
    });
  });
});
