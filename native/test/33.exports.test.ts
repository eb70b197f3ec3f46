import { withNbdkit, type NbdkitServer } from "@nbdts/native/testing";
import { describe, expect, it } from "vitest";
import { fixture, nbdinfo, nbdinfoReport, pyJson } from "./fixtures/part1/kit.js";

// Exports: listExports and its descriptions, defaultExport's canonical name
// for "", exportDescription, and export names that must survive the trip
// from the client through nbdkit, the shim and the host to the plugin
// unchanged. The exports fixture answers every read with a JSON report of
// the name that open() got and the name exportName() gave inside it.

const EXPORTS = fixture("exports.ts");

/** What the exports fixture saw when it opened a connection. */
interface OpenReport {
  open: string;
  exportName: string;
}

/** Lists the exports in option mode (NBD_OPT_LIST), as [name, description] pairs. */
function listExports(server: NbdkitServer): Promise<[string, string][]> {
  return pyJson(
    [
      "h = nbd.NBD()",
      "h.set_opt_mode(True)",
      "h.connect_unix(sys.argv[1])",
      "seen = []",
      "h.opt_list(lambda name, description: seen.append([name, description]))",
      "h.opt_abort()",
      "print(json.dumps(seen))",
    ].join("\n"),
    [server.socket],
  );
}

/**
 * Connects to each export name (passed in hex, so that any byte survives the
 * command line) and returns what the fixture reported, or the error.
 */
function openEach(server: NbdkitServer, names: readonly string[]): Promise<(OpenReport | { error: string })[]> {
  return pyJson(
    [
      "results = []",
      "for hexname in sys.argv[2:]:",
      "    h = nbd.NBD()",
      "    h.set_export_name(bytes.fromhex(hexname).decode('utf-8'))",
      "    try:",
      "        h.connect_unix(sys.argv[1])",
      "    except nbd.Error as e:",
      "        results.append({'error': str(e)})",
      "        continue",
      "    report = bytes(h.pread(h.get_size(), 0)).rstrip(b'\\0').decode('utf-8')",
      "    results.append(json.loads(report))",
      "    h.shutdown()",
      "print(json.dumps(results))",
    ].join("\n"),
    [server.socket, ...names.map((name) => Buffer.from(name, "utf8").toString("hex"))],
  );
}

describe("listing exports", () => {
  it("a client in option mode lists the names and descriptions listExports returns", async () => {
    await withNbdkit({ plugin: EXPORTS }, async (server) => {
      expect(await listExports(server)).toEqual([
        ["disk-a", "the first disk"],
        ["disk-b", "the second disk"],
        ["plain", ""],
      ]);
    });
  });

  it("nbdinfo --list shows every export, with the descriptions from the list", async () => {
    await withNbdkit({ plugin: EXPORTS }, async (server) => {
      const report = await nbdinfoReport(server.uri, ["--list"]);
      expect(report.exports.map((info) => [info["export-name"], info.description])).toEqual([
        ["disk-a", "the first disk"],
        ["disk-b", "the second disk"],
        ["plain", undefined],
      ]);
    });
  });

  it("without listExports, the list is the default export under the canonical name defaultExport gives", async () => {
    await withNbdkit({ plugin: fixture("default-only.ts") }, async (server) => {
      expect(await listExports(server)).toEqual([["the-default", ""]]);
    });
  });
});

describe("the default export", () => {
  it('defaultExport gives the canonical name of "", which open() and exportName() then see', async () => {
    await withNbdkit({ plugin: EXPORTS }, async (server) => {
      expect(await openEach(server, [""])).toEqual([{ open: "disk-a", exportName: "disk-a" }]);
    });
    await withNbdkit({ plugin: EXPORTS, params: { default: "disk-b" } }, async (server) => {
      expect(await openEach(server, [""])).toEqual([{ open: "disk-b", exportName: "disk-b" }]);
    });
  });

  it("nbdinfo reports the default export under its canonical name", async () => {
    await withNbdkit({ plugin: EXPORTS }, async (server) => {
      expect((await nbdinfo(server.uri))["export-name"]).toBe("disk-a");
    });
  });

  it("defaultExport returning null refuses the default export, while named exports still open", async () => {
    await withNbdkit({ plugin: EXPORTS, params: { default: "none" } }, async (server) => {
      const [refused, named] = await openEach(server, ["", "disk-b"]);
      expect(refused).toEqual({ error: expect.stringContaining("server has no export named ''") });
      expect(named).toEqual({ open: "disk-b", exportName: "disk-b" });
    });
  });
});

describe("export descriptions", () => {
  it("nbdinfo shows what exportDescription returns for the export it opened", async () => {
    await withNbdkit({ plugin: EXPORTS }, async (server) => {
      expect((await nbdinfo(server.uriFor("disk-b"))).description).toBe("the export called disk-b");
      expect((await nbdinfo(server.uriFor("plain"))).description).toBe("the export called plain");
      expect((await nbdinfo(server.uri)).description).toBe("the export called disk-a");
    });
  });
});

describe("export names make the round trip intact", () => {
  const NAMES: [title: string, name: string][] = [
    ["a name that is a slash", "/"],
    ["a name in UTF-8, in three scripts and with an emoji", "Grüße/диск/🙂"],
    ["a name with a newline", "first line\nsecond line"],
    ["a name with quotes, a backslash and a tab", "\"it's\"\\\tthere"],
    ["a name of 4096 bytes, the longest NBD allows", "n".repeat(4000) + "é".repeat(48)],
    ["a name of 4096 bytes in four-byte characters", "🙂".repeat(1024)],
  ];

  for (const [title, name] of NAMES) {
    it(`${title} reaches open() and exportName() unchanged`, async () => {
      if (title.includes("4096 bytes")) expect(Buffer.byteLength(name, "utf8")).toBe(4096);
      await withNbdkit({ plugin: EXPORTS }, async (server) => {
        expect(await openEach(server, [name])).toEqual([{ open: name, exportName: name }]);
      });
    });
  }

  it('when defaultExport returns "", open() and exportName() see the empty name', async () => {
    await withNbdkit({ plugin: EXPORTS, params: { default: "" } }, async (server) => {
      expect(await openEach(server, [""])).toEqual([{ open: "", exportName: "" }]);
    });
  });

  it("every name above, through one server, each on its own connection", async () => {
    await withNbdkit({ plugin: EXPORTS }, async (server) => {
      const names = NAMES.map(([, name]) => name);
      expect(await openEach(server, names)).toEqual(names.map((name) => ({ open: name, exportName: name })));
    });
  });
});
