import { NbdError, errnoOf, ERRNO } from "@nbdts/sdk";

/**
 * How a failed callback is reported: the errno the client gets and the line
 * nbdkit logs. An NbdError is a deliberate failure, logged by its message; any
 * other exception is unexpected, logged with its stack so it can be fixed.
 * `setErrno` is what the callback gave setError (0 if nothing).
 */
export interface Failure {
  errno: number;
  /** The log line, or "" for a silent failure. */
  message: string;
}

export function describeFailure(pluginName: string, callback: string, error: unknown, setErrno: number): Failure {
  const errno = errnoOf(error, setErrno);
  // zero's "not supported" asks nbdkit to fall back; it is not an error.
  if (callback === "zero" && (errno === ERRNO.EOPNOTSUPP || errno === ERRNO.ENOTSUP)) {
    return { errno, message: "" };
  }
  return { errno, message: `${pluginName}: ${callback}: ${errorText(error)}` };
}

/** The text of an error: the message of an NbdError, the stack of anything else. */
export function errorText(error: unknown): string {
  if (error instanceof NbdError || (error instanceof Error && error.name === "NbdError")) {
    return error.message;
  }
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return `a non-Error value was thrown: ${String(error)}`;
}
