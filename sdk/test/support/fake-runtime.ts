import { currentRuntime, installRuntime, type ConnectionContext, type RequestContext, type Runtime } from "@nbdts/sdk";

/**
 * A stand-in for the host's runtime, for tests of the functions that need a
 * server. Every call is recorded; `request` is the request being served,
 * which a test may point at a connection or clear.
 */
export interface FakeRuntime {
  readonly runtime: Runtime;
  request: RequestContext | undefined;
  readonly calls: string[];
  /** Removes the runtime again, so later tests run "outside a server". */
  uninstall(): void;
}

const RUNTIME_KEY = Symbol.for("nbdts.runtime");

export function installFakeRuntime(overrides: Partial<Runtime> = {}): FakeRuntime {
  const fake: FakeRuntime = {
    request: undefined,
    calls: [],
    runtime: {
      verbose: true,
      nbdkitVersion: "1.32.5",
      canDisconnect: true,
      debug: (message) => void fake.calls.push(`debug ${message}`),
      shutdown: () => void fake.calls.push("shutdown"),
      currentRequest: () => fake.request,
      nanosleep: async (seconds, nanoseconds) => void fake.calls.push(`nanosleep ${seconds} ${nanoseconds}`),
      readPassword: async (value) => {
        fake.calls.push(`readPassword ${value}`);
        return "from the server";
      },
      stdioSafe: () => true,
      ...overrides,
    },
    uninstall() {
      delete (globalThis as Record<symbol, unknown>)[RUNTIME_KEY];
      if (currentRuntime() !== undefined) throw new Error("the fake runtime is still installed");
    },
  };
  installRuntime(fake.runtime);
  return fake;
}

/** A request on a connection, as the host would create for a data callback. */
export function requestOn(connection: Partial<ConnectionContext> | null): RequestContext {
  return {
    connection: connection === null ? null : { exportName: "", tls: false, peer: null, ...connection },
    errno: 0,
    disconnect: 0,
  };
}
