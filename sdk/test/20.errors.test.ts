import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ERRNO, NbdError, errnoFromCode, errnoName, errnoNumber, errnoOf, setError, type ErrnoName } from "@nbdts/sdk";
import { installFakeRuntime, requestOn, type FakeRuntime } from "./support/fake-runtime.js";

/** Runs `action` and returns what it threw. */
function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error("expected the action to throw");
}

describe("the errno table", () => {
  it("has Linux's numbers for the errnos NBD carries", () => {
    expect(ERRNO.EPERM).toBe(1);
    expect(ERRNO.EIO).toBe(5);
    expect(ERRNO.ENOMEM).toBe(12);
    expect(ERRNO.EINVAL).toBe(22);
    expect(ERRNO.ENOSPC).toBe(28);
    expect(ERRNO.EOVERFLOW).toBe(75);
    expect(ERRNO.ENOTSUP).toBe(95);
    expect(ERRNO.ESHUTDOWN).toBe(108);
  });

  it("has ESHUTDOWN, which Node's os.constants.errno lacks", () => {
    expect((constants.errno as Record<string, number | undefined>)["ESHUTDOWN"]).toBeUndefined();
    expect(errnoNumber("ESHUTDOWN")).toBe(108);
  });

  it("gives ENOTSUP and EOPNOTSUPP the same number, 95, and names it EOPNOTSUPP", () => {
    expect(ERRNO.ENOTSUP).toBe(95);
    expect(ERRNO.EOPNOTSUPP).toBe(95);
    expect(errnoName(95)).toBe("EOPNOTSUPP");
    expect(errnoName(11)).toBe("EAGAIN");
    expect(errnoName(35)).toBe("EDEADLK");
    expect(errnoName(4000)).toBeUndefined();
  });

  it("agrees with every errno Node knows on this system", () => {
    const known = Object.entries(constants.errno);
    expect(known.length).toBeGreaterThan(50);
    for (const [name, value] of known) {
      expect([name, (ERRNO as Record<string, number>)[name]]).toEqual([name, value]);
    }
  });

  it("maps Node error codes to errnos, and anything else to EIO", () => {
    expect(errnoFromCode("ENOENT")).toBe(2);
    expect(errnoFromCode("EDQUOT")).toBe(122);
    expect(errnoFromCode("ERR_INVALID_ARG_TYPE")).toBe(5);
  });

  it("refuses numbers that are not errnos and names that are not Linux's", () => {
    expect(() => errnoNumber(0)).toThrow(RangeError);
    expect(() => errnoNumber(-28)).toThrow(RangeError);
    expect(() => errnoNumber(1.5)).toThrow(RangeError);
    expect(() => errnoNumber("ENOPE" as ErrnoName)).toThrow(RangeError);
  });
});

describe("NbdError", () => {
  it("is made from an errno name, and carries name, number and message", () => {
    const error = new NbdError("ENOSPC", "the disk is full");
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("NbdError");
    expect(error.code).toBe("ENOSPC");
    expect(error.errno).toBe(28);
    expect(error.message).toBe("the disk is full");
  });

  it("is made from an errno number, and finds its name", () => {
    const error = new NbdError(28);
    expect(error.code).toBe("ENOSPC");
    expect(error.errno).toBe(28);
    expect(error.message).toBe("ENOSPC");
  });

  it("keeps an alias it was given by name, and names a number without one E<number>", () => {
    expect(new NbdError("ENOTSUP").code).toBe("ENOTSUP");
    expect(new NbdError("ENOTSUP").errno).toBe(95);
    expect(new NbdError(4000).code).toBe("E4000");
  });

  it("throws a RangeError for an unknown errno name, naming it", () => {
    const error = thrownBy(() => new NbdError("ENOSUCHTHING" as ErrnoName));
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(
      'unknown errno name "ENOSUCHTHING": expected a Linux name such as "EIO" or "ENOSPC"',
    );
  });

  it("keeps the cause it is given", () => {
    const cause = new Error("socket closed");
    expect(new NbdError("EIO", "read failed", { cause }).cause).toBe(cause);
  });

  it("notSupported() is EOPNOTSUPP, which asks nbdkit to fall back", () => {
    const error = NbdError.notSupported();
    expect(error.errno).toBe(95);
    expect(error.code).toBe("EOPNOTSUPP");
    expect(error.message).toBe("operation not supported");
    expect(NbdError.notSupported("no holes here").message).toBe("no holes here");
  });
});

describe("errnoOf", () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), "nbdts-errors-"));
  });
  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it("is the errno of an NbdError", () => {
    expect(errnoOf(new NbdError("EROFS"))).toBe(30);
  });

  it("is the errno of an NbdError made by another copy of the SDK", () => {
    const foreign = Object.assign(new Error("full"), { name: "NbdError", errno: 28, code: "ENOSPC" });
    expect(errnoOf(foreign)).toBe(28);
  });

  it("maps a Node SystemError by its code, not by Node's negative errno: ENOENT", () => {
    const error = thrownBy(() => readFileSync(join(directory, "missing")));
    expect((error as NodeJS.ErrnoException).errno).toBe(-2);
    expect(errnoOf(error)).toBe(2);
  });

  it("maps a Node SystemError by its code: EACCES from executing a file without x bits", () => {
    // execve refuses a file with no execute bit even for root, so this is a
    // real EACCES wherever the test runs.
    const script = join(directory, "not-executable");
    writeFileSync(script, "#!/bin/sh\n");
    chmodSync(script, 0o644);
    const { error } = spawnSync(script);
    expect((error as NodeJS.ErrnoException).code).toBe("EACCES");
    expect(errnoOf(error)).toBe(13);
  });

  it("maps a Node SystemError by its code: ENOSPC from writing to /dev/full", () => {
    const error = thrownBy(() => writeFileSync("/dev/full", "data"));
    expect((error as NodeJS.ErrnoException).code).toBe("ENOSPC");
    expect(errnoOf(error)).toBe(28);
  });

  it("maps any error whose code is an errno name, such as one from an AWS or database client", () => {
    expect(errnoOf(Object.assign(new Error("quota"), { code: "EDQUOT" }))).toBe(122);
  });

  it("is the fallback given for an error without an errno of its own", () => {
    expect(errnoOf(new Error("failed"), 28)).toBe(28);
    expect(errnoOf(new NbdError("EPERM"), 28)).toBe(1);
  });

  it("is EIO for a plain Error, an unknown code, and things that are not errors", () => {
    expect(errnoOf(new Error("something broke"))).toBe(5);
    expect(errnoOf(Object.assign(new Error("bad"), { code: "ERR_INVALID_ARG_TYPE" }))).toBe(5);
    expect(errnoOf("a string")).toBe(5);
    expect(errnoOf(undefined)).toBe(5);
    expect(errnoOf(null)).toBe(5);
  });
});

describe("setError", () => {
  let fake: FakeRuntime | undefined;
  afterEach(() => {
    fake?.uninstall();
    fake = undefined;
  });

  it("throws outside a server", () => {
    expect(() => setError("ENOSPC")).toThrow("setError() works only inside a callback of a plugin run by nbdkit");
  });

  it("throws in a server outside a callback", () => {
    fake = installFakeRuntime();
    expect(() => setError("ENOSPC")).toThrow("setError() works only inside a callback of a plugin run by nbdkit");
  });

  it("sets the errno that a plain Error then fails the request with", () => {
    fake = installFakeRuntime();
    fake.request = requestOn({ exportName: "disk" });
    expect(errnoOf(new Error("failed"))).toBe(5);
    setError("ENOSPC");
    expect(fake.request.errno).toBe(28);
    expect(errnoOf(new Error("failed"))).toBe(28);
    setError(1);
    expect(errnoOf(new Error("failed"))).toBe(1);
  });

  it("does not override the errno an error carries itself", () => {
    fake = installFakeRuntime();
    fake.request = requestOn(null);
    setError("ENOSPC");
    expect(errnoOf(new NbdError("EPERM"))).toBe(1);
    expect(errnoOf(Object.assign(new Error("gone"), { code: "ENOENT" }))).toBe(2);
  });

  it("refuses an unknown errno", () => {
    fake = installFakeRuntime();
    fake.request = requestOn(null);
    expect(() => setError("EWHATEVER" as ErrnoName)).toThrow(RangeError);
    expect(fake.request.errno).toBe(0);
  });
});
