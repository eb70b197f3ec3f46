import { CALLBACKS } from "@nbdts/sdk";
import { describe, expect, it } from "vitest";
import { loadAddon } from "../src/addon.js";
import * as protocol from "../src/host/protocol.js";

// ring.h is the one definition of the channel; the addon exports its values.
const layout = loadAddon().layout;

describe("the channel layout", () => {
  it("the host's constants equal ring.h's, as compiled into the addon", () => {
    const checked = Object.keys(layout).filter((key) => key !== "ops");
    expect(checked.length).toBeGreaterThan(30);
    for (const key of checked) {
      expect({ key, value: (protocol as Record<string, unknown>)[key] }).toEqual({ key, value: layout[key] });
    }
  });

  it("the host numbers operations as ring.h does", () => {
    expect([...protocol.OPS]).toEqual([...layout.ops]);
  });
});

describe("the callback table", () => {
  it("every SDK callback has an operation of the same name, and every operation but LOAD has a callback", () => {
    const fromOps = protocol.OPS.map(protocol.callbackOfOp).filter((name) => name !== "load");
    const fromSdk = CALLBACKS.map((info) => info.name).filter((name) => name !== "load");
    expect(new Set(fromOps)).toEqual(new Set(fromSdk));
  });

  it("each callback's C name is its operation's name in lower case", () => {
    for (const info of CALLBACKS) {
      const op = protocol.OPS.find((name) => protocol.callbackOfOp(name) === info.name);
      expect(op?.toLowerCase()).toBe(info.cName);
    }
  });
});
