import { realpathSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { format } from "node:util";
import { NbdError, errnoFromCode } from "./errors.js";
import { currentRuntime, requireConnection, requireRuntime } from "./runtime.js";

/**
 * nbdkit's server functions (nbdkit-plugin(3) "SERVER FUNCTIONS"). Those that
 * need a running server throw a clear error when called outside one, e.g. in
 * a unit test; `debug` is then a no-op.
 */

/** The plugin API version this SDK implements (nbdkit's `NBDKIT_API_VERSION`). */
export const API_VERSION = 2;

/**
 * Prints a debug message, `printf`-style like `console.log`, through nbdkit's
 * log. Only under `nbdkit -v`; otherwise the arguments are not even formatted.
 */
export function debug(message: string, ...args: unknown[]): void {
  const runtime = currentRuntime();
  if (runtime === undefined || !runtime.verbose) return;
  runtime.debug(args.length === 0 ? message : format(message, ...args));
}

/** The nbdkit version the native loader was built against, e.g. `"1.32.5"`. */
export function version(): string {
  return requireRuntime("version()").nbdkitVersion;
}

/** The plugin API version: always 2. */
export function apiVersion(): number {
  return API_VERSION;
}

/** The export name the client asked for, after `defaultExport` resolved `""`. */
export function exportName(): string {
  return requireConnection("exportName()").exportName;
}

/** Whether the current connection uses TLS. */
export function isTls(): boolean {
  return requireConnection("isTls()").tls;
}

function peer(what: string) {
  const credentials = requireConnection(what).peer;
  if (credentials === null) {
    throw new NbdError("ENOTSUP", `${what}: the client is not connected over a Unix domain socket`);
  }
  return credentials;
}

/** The process ID of a client connected over a Unix domain socket. */
export function peerPid(): number {
  return peer("peerPid()").pid;
}

/** The user ID of a client connected over a Unix domain socket. */
export function peerUid(): number {
  return peer("peerUid()").uid;
}

/** The group ID of a client connected over a Unix domain socket. */
export function peerGid(): number {
  return peer("peerGid()").gid;
}

/** Asks nbdkit to shut down, as on SIGTERM. Requests may still arrive meanwhile. */
export function shutdown(): void {
  requireRuntime("shutdown()").shutdown();
}

/**
 * Disconnects the current client when the current request completes: with
 * `force`, at once; otherwise later requests fail with ESHUTDOWN. Needs nbdkit
 * 1.34 or later (`nbdkit_disconnect`); on older servers it throws ENOTSUP.
 */
export function disconnect(force = false): void {
  const runtime = requireRuntime("disconnect()");
  const request = runtime.currentRequest();
  if (request?.connection == null) {
    throw new Error("disconnect() works only inside a connection callback (open, pread, ...), not here");
  }
  if (!runtime.canDisconnect) {
    throw new NbdError("ENOTSUP", "disconnect() needs nbdkit 1.34 or later (nbdkit_disconnect)");
  }
  request.disconnect = force ? 2 : 1;
}

/**
 * Sleeps for `seconds` plus `nanoseconds` (nbdkit_nanosleep). Ends early,
 * rejecting with an ESHUTDOWN `NbdError`, when the server shuts down: a plugin
 * that waits (to retry, say) does not hold up nbdkit's exit. Like nbdkit, the
 * server logs "aborting sleep to shut down" when that happens.
 */
export function nanosleep(seconds: number, nanoseconds = 0): Promise<void> {
  if (!Number.isInteger(seconds) || seconds < 0 || !Number.isInteger(nanoseconds) || nanoseconds < 0) {
    return Promise.reject(
      new NbdError("EINVAL", `nanosleep: expected non-negative integers, got ${seconds} s and ${nanoseconds} ns`),
    );
  }
  if (seconds >= 2 ** 31 - 1 - Math.floor(nanoseconds / 1e9)) {
    return Promise.reject(new NbdError("EINVAL", "nanosleep: sleep request is too long"));
  }
  // Outside a server this rejects too, rather than throwing: callers await it.
  try {
    return requireRuntime("nanosleep()").nanosleep(seconds, nanoseconds);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Whether the plugin may use stdin and stdout (false under `nbdkit -s`). */
export function stdioSafe(): boolean {
  return requireRuntime("stdioSafe()").stdioSafe();
}

/**
 * Resolves a path against the directory nbdkit was started in, without
 * touching the file system (nbdkit_absolute_path).
 */
export function absolutePath(path: string): string {
  if (typeof path !== "string" || path === "") {
    throw new NbdError("EINVAL", "absolutePath: cannot convert a null or empty path to an absolute path");
  }
  return isAbsolute(path) ? path : resolve(process.cwd(), path);
}

/**
 * Resolves a path to its canonical absolute form, following symlinks; throws
 * if it does not exist (nbdkit_realpath).
 */
export function realpath(path: string): string {
  if (typeof path !== "string" || path === "") {
    throw new NbdError("EINVAL", "realpath: cannot resolve a null or empty path");
  }
  try {
    return realpathSync(path);
  } catch (error) {
    // A code that is not an errno name (Node's ERR_INVALID_ARG_VALUE for a
    // path with a NUL byte, say) maps to EIO rather than making NbdError throw.
    const code = (error as NodeJS.ErrnoException).code ?? "EIO";
    throw new NbdError(errnoFromCode(code), `realpath: ${path}: ${(error as Error).message}`, { cause: error });
  }
}
