import { AsyncLocalStorage } from "node:async_hooks";
import type { ConnectionContext, RequestContext } from "@nbdts/sdk";

/**
 * The request being served, for the SDK's server functions (exportName,
 * setError, disconnect, ...). Each callback runs inside its own context, which
 * follows it across `await`s.
 */
export const requests = new AsyncLocalStorage<RequestContext>();

/** A fresh context for one callback of `connection` (null outside connections). */
export function newRequest(connection: ConnectionContext | null): RequestContext {
  return { connection, errno: 0, disconnect: 0 };
}
