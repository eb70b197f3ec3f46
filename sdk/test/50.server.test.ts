import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  API_VERSION,
  NbdError,
  absolutePath,
  apiVersion,
  debug,
  disconnect,
  exportName,
  isTls,
  nanosleep,
  peerGid,
  peerPid,
  peerUid,
  realpath,
  shutdown,
  stdioSafe,
  version,
} from "@nbdts/sdk";
import { installFakeRuntime, requestOn, type FakeRuntime } from "./support/fake-runtime.js";

const outside = (what: string) =>
  `${what} works only inside a plugin run by nbdkit (nbdkit ts plugin=...); it was called outside a server`;

describe("outside a server", () => {
  it.each<[string, () => unknown]>([
    ["version()", version],
    ["exportName()", exportName],
    ["isTls()", isTls],
    ["peerPid()", peerPid],
    ["peerUid()", peerUid],
    ["peerGid()", peerGid],
    ["shutdown()", shutdown],
    ["disconnect()", disconnect],
    ["stdioSafe()", stdioSafe],
  ])("%s throws, saying it needs a server", (what, call) => {
    expect(call).toThrow(outside(what));
  });

  it("nanosleep() rejects, saying it needs a server", async () => {
    await expect(nanosleep(1)).rejects.toThrow(outside("nanosleep()"));
  });

  it("debug() does nothing", () => {
    expect(debug("no one is listening: %d", 1)).toBeUndefined();
  });

  it("apiVersion() is 2", () => {
    expect(apiVersion()).toBe(2);
    expect(API_VERSION).toBe(2);
  });
});

describe("absolutePath and realpath, which work anywhere", () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), "nbdts-server-"));
    writeFileSync(join(directory, "target"), "");
    symlinkSync(join(directory, "target"), join(directory, "link"));
  });
  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it("absolutePath keeps an absolute path and resolves a relative one against the current directory", () => {
    expect(absolutePath("/a/b")).toBe("/a/b");
    expect(absolutePath("disk.img")).toBe(resolve(process.cwd(), "disk.img"));
  });

  it("absolutePath refuses the empty string with EINVAL", () => {
    expect(() => absolutePath("")).toThrow(NbdError);
    expect(() => absolutePath("")).toThrow("absolutePath: cannot convert a null or empty path to an absolute path");
  });

  it("realpath follows symlinks", () => {
    expect(realpath(join(directory, "link"))).toBe(join(directory, "target"));
  });

  it("realpath fails with the errno of the failure", () => {
    const missing = join(directory, "missing");
    expect(() => realpath(missing)).toThrow(expect.objectContaining({ code: "ENOENT", errno: 2 }));
    expect(() => realpath("")).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => realpath("a\u0000b")).toThrow(expect.objectContaining({ errno: 5 }));
  });
});

describe("in a server", () => {
  let fake: FakeRuntime;
  afterEach(() => {
    fake.uninstall();
  });

  it("version() is the server's", () => {
    fake = installFakeRuntime();
    expect(version()).toBe("1.32.5");
  });

  it("debug() formats like console.log, only under -v", () => {
    fake = installFakeRuntime();
    debug("read %d bytes at %s", 512, 4096n);
    debug("plain");
    expect(fake.calls).toEqual(["debug read 512 bytes at 4096n", "debug plain"]);
    fake.uninstall();
    fake = installFakeRuntime({ verbose: false });
    debug("unseen %d", 1);
    expect(fake.calls).toEqual([]);
  });

  it("connection functions need a connection", () => {
    fake = installFakeRuntime();
    expect(exportName).toThrow("exportName() works only inside a connection callback (open, pread, ...), not here");
    fake.request = requestOn(null);
    expect(isTls).toThrow("isTls() works only inside a connection callback (open, pread, ...), not here");
  });

  it("exportName() and isTls() describe the current connection", () => {
    fake = installFakeRuntime();
    fake.request = requestOn({ exportName: "web1", tls: true });
    expect(exportName()).toBe("web1");
    expect(isTls()).toBe(true);
  });

  it("peerPid/Uid/Gid() need a Unix domain socket, else ENOTSUP", () => {
    fake = installFakeRuntime();
    fake.request = requestOn({});
    expect(peerPid).toThrow(expect.objectContaining({ code: "ENOTSUP" }));
    fake.request = requestOn({ peer: { pid: 42, uid: 1000, gid: 100 } });
    expect([peerPid(), peerUid(), peerGid()]).toEqual([42, 1000, 100]);
  });

  it("disconnect() marks the request, politely or by force", () => {
    fake = installFakeRuntime();
    const request = requestOn({});
    fake.request = request;
    disconnect();
    expect(request.disconnect).toBe(1);
    disconnect(true);
    expect(request.disconnect).toBe(2);
  });

  it("disconnect() is ENOTSUP on a server without nbdkit_disconnect", () => {
    fake = installFakeRuntime({ canDisconnect: false });
    fake.request = requestOn({});
    expect(() => disconnect()).toThrow(expect.objectContaining({ code: "ENOTSUP" }));
    expect(fake.request.disconnect).toBe(0);
  });

  it("shutdown() asks the server", () => {
    fake = installFakeRuntime();
    shutdown();
    expect(fake.calls).toEqual(["shutdown"]);
  });

  it("nanosleep() passes seconds and nanoseconds to the server, and refuses bad ones with EINVAL", async () => {
    fake = installFakeRuntime();
    await nanosleep(1, 500_000_000);
    await nanosleep(0);
    expect(fake.calls).toEqual(["nanosleep 1 500000000", "nanosleep 0 0"]);
    await expect(nanosleep(-1)).rejects.toMatchObject({ code: "EINVAL" });
    await expect(nanosleep(1.5)).rejects.toMatchObject({ code: "EINVAL" });
    await expect(nanosleep(2 ** 31)).rejects.toThrow("nanosleep: sleep request is too long");
  });

  it("stdioSafe() is the server's answer", () => {
    fake = installFakeRuntime({ stdioSafe: () => false });
    expect(stdioSafe()).toBe(false);
  });
});
