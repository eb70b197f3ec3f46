import { inspect } from "node:util";
import { NbdError, errnoOf, ERRNO } from "@nbdts/sdk";

/**
 * How a failed callback is reported: the errno the client gets and the line
 * nbdkit logs. Errors written for the user (an NbdError, a configuration
 * error, a plugin that failed to load) are logged by their message; any other
 * exception is unexpected, logged with its stack so it can be fixed.
 * `setErrno` is what the callback gave setError (0 if nothing).
 */
export interface Failure {
  errno: number;
  /** The log line, or "" for a silent failure. */
  message: string;
}

/** Error names whose message is the whole story; their stacks are the host's, not the plugin's. */
const WRITTEN_FOR_USERS = new Set(["NbdError", "ConfigError", "LoadError"]);

export function describeFailure(pluginName: string, callback: string, error: unknown, setErrno: number): Failure {
  const errno = errnoOf(error, setErrno);
  // zero's "not supported" asks nbdkit to fall back; it is not an error.
  if (callback === "zero" && (errno === ERRNO.EOPNOTSUPP || errno === ERRNO.ENOTSUP)) {
    return { errno, message: "" };
  }
  return { errno, message: `${pluginName}: ${callback}: ${errorText(error)}` };
}

/** The text of an error: the message of one written for users, the stack of anything else. */
export function errorText(error: unknown): string {
  if (error instanceof NbdError || (error instanceof Error && WRITTEN_FOR_USERS.has(error.name))) {
    return error.message;
  }
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  const text = typeof error === "string" ? error : inspect(error, { depth: 4, breakLength: Infinity });
  return `a non-Error value was thrown: ${text}`;
}
