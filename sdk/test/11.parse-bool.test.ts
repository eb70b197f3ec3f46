import { describe, expect, it } from "vitest";
import { parseBool } from "@nbdts/sdk";

// nbdkit-api.md §3.2: "1" and "0" exactly, and five words each way in any
// ASCII case; nothing else.

describe("parseBool accepts nbdkit's words", () => {
  it.each(["1", "true", "t", "yes", "y", "on", "TRUE", "True", "T", "YES", "Yes", "yEs", "Y", "ON", "On", "oN"])(
    "%j is true",
    (input) => {
      expect(parseBool(input)).toBe(true);
    },
  );

  it.each(["0", "false", "f", "no", "n", "off", "FALSE", "False", "F", "NO", "No", "N", "OFF", "Off", "oFf"])(
    "%j is false",
    (input) => {
      expect(parseBool(input)).toBe(false);
    },
  );
});

describe("parseBool rejects everything else", () => {
  it.each(["", " 1", "1 ", "yes ", " yes", "+1", "01", "00", "2", "-1", "tr", "ja", "nein", "yess", "of", "enabled", "1\u0000"])(
    "%j is an error",
    (input) => {
      expect(() => parseBool(input)).toThrow(RangeError);
    },
  );

  it("folds ASCII case only: the KELVIN SIGN is not a k, nor İ an i", () => {
    // "\u212A".toLowerCase() is "k", so a Unicode-aware comparison would
    // wrongly accept words spelled with it; nbdkit compares bytes.
    expect("\u212A".toLowerCase()).toBe("k");
    expect(() => parseBool("o\u212A")).toThrow(RangeError);
    expect(() => parseBool("\u0130")).toThrow(RangeError);
    expect(() => parseBool("ye\u017F")).toThrow(RangeError); // LATIN SMALL LETTER LONG S, which uppercases to S
  });

  it("names the value and lists the accepted words", () => {
    expect(() => parseBool("maybe")).toThrow(
      'could not decipher boolean "maybe": expected true or false (or yes/no, on/off, t/f, y/n, 1/0)',
    );
  });

  it.each([1, true, undefined, null])("throws a TypeError for the non-string %s", (input) => {
    expect(() => parseBool(input as unknown as string)).toThrow(TypeError);
    expect(() => parseBool(input as unknown as string)).toThrow(/parseBool: expected the boolean to parse as a string/);
  });
});
