import type { PeerCredentials } from "./types.js";

/**
 * The bridge between the SDK and the server that runs the plugin. The host of
 * @nbdts/native installs one `Runtime` before it imports a plugin; the SDK's
 * server functions (`exportName`, `shutdown`, `debug`, ...) go through it.
 *
 * It lives on `globalThis` under a registered symbol rather than in a module
 * variable, so that a plugin which resolves its own copy of @nbdts/sdk still
 * reaches the host's runtime.
 */
export interface Runtime {
  /** nbdkit runs with `-v`. */
  readonly verbose: boolean;
  /** The version of nbdkit the shim was built against, e.g. `"1.32.5"`. */
  readonly nbdkitVersion: string;
  /** Whether the server has nbdkit_disconnect (nbdkit 1.34 and later). */
  readonly canDisconnect: boolean;
  /** Sends a debug message to nbdkit (only called when `verbose`). */
  debug(message: string): void;
  /** Asks nbdkit to shut down. */
  shutdown(): void;
  /** The request being served by the caller, if any. */
  currentRequest(): RequestContext | undefined;
  /** Sleeps as nbdkit_nanosleep does; rejects with ESHUTDOWN when the server shuts down first. */
  nanosleep(seconds: number, nanoseconds: number): Promise<void>;
  /** Runs `nbdkit_read_password` in the server. */
  readPassword(value: string): Promise<string>;
  /** Whether the server's stdin and stdout are free for the plugin (`nbdkit_stdio_safe`). */
  stdioSafe(): boolean;
}

/** The connection a request belongs to, captured when it was opened. */
export interface ConnectionContext {
  readonly exportName: string;
  readonly tls: boolean;
  /** Set when the client is connected over a Unix domain socket. */
  readonly peer: PeerCredentials | null;
}

/** The state of one request that server functions read and write. */
export interface RequestContext {
  readonly connection: ConnectionContext | null;
  /** The errno set by `setError`, used if the callback then fails without one. */
  errno: number;
  /** Set by `disconnect`: 1 for a polite disconnect, 2 to drop the connection at once. */
  disconnect: 0 | 1 | 2;
}

const RUNTIME_KEY = Symbol.for("nbdts.runtime");

/** Installs the runtime; called by the host before it imports the plugin. */
export function installRuntime(runtime: Runtime): void {
  (globalThis as Record<symbol, unknown>)[RUNTIME_KEY] = runtime;
}

/** The installed runtime, or undefined outside a server. */
export function currentRuntime(): Runtime | undefined {
  return (globalThis as Record<symbol, unknown>)[RUNTIME_KEY] as Runtime | undefined;
}

/** The installed runtime; throws an error naming `what` outside a server. */
export function requireRuntime(what: string): Runtime {
  const runtime = currentRuntime();
  if (runtime === undefined) {
    throw new Error(
      `${what} works only inside a plugin run by nbdkit (nbdkit ts plugin=...); it was called outside a server`,
    );
  }
  return runtime;
}

/** The current connection; throws an error naming `what` outside one. */
export function requireConnection(what: string): ConnectionContext {
  const connection = requireRuntime(what).currentRequest()?.connection;
  if (connection == null) {
    throw new Error(`${what} works only inside a connection callback (open, pread, ...), not here`);
  }
  return connection;
}
