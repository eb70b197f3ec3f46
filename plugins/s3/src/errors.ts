import { NbdError, type ErrnoName } from "@nbdts/sdk";

/**
 * How failures of S3 requests are classified (retry or not) and reported
 * (errno and message). Messages name the operation, the object and what S3
 * or the network said; they never contain credentials, because nothing here
 * reads the request's headers or the client's configuration.
 */

/** What the SDK's errors carry, read defensively. */
interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $retryable?: unknown;
  Code?: unknown;
}

/** Network errors worth another attempt. */
const RETRYABLE_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
]);

/** S3 error names worth another attempt (throttling, server trouble, slow transfers). */
const RETRYABLE_NAMES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "TooManyRequests",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "InternalError",
  "ServiceUnavailable",
  "PriorRequestNotComplete",
]);

/** Error names that mean the credentials were refused. */
const CREDENTIAL_NAMES = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "TokenRefreshRequired",
  "InvalidClientTokenId",
  "AuthorizationHeaderMalformed",
]);

function shape(error: unknown): SdkErrorShape {
  return typeof error === "object" && error !== null ? (error as SdkErrorShape) : {};
}

/** The HTTP status of a failed S3 request, if a response arrived. */
export function httpStatus(error: unknown): number | undefined {
  const status = shape(error).$metadata?.httpStatusCode;
  return typeof status === "number" ? status : undefined;
}

/** The S3 error code (`NoSuchKey`, `SlowDown`, ...) or the error's name. */
export function errorName(error: unknown): string {
  const e = shape(error);
  if (typeof e.Code === "string" && e.Code !== "") return e.Code;
  if (typeof e.name === "string" && e.name !== "" && e.name !== "Error") return e.name;
  if (typeof e.code === "string" && e.code !== "") return e.code;
  return "Error";
}

/** Whether another attempt may succeed: throttling, 5xx, timeouts and dropped connections. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof NbdError) return false;
  const e = shape(error);
  const status = httpStatus(error);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (typeof e.name === "string" && RETRYABLE_NAMES.has(e.name)) return true;
  if (typeof e.code === "string" && RETRYABLE_CODES.has(e.code)) return true;
  // A response body cut short surfaces as a plain "aborted" error from Node.
  if (typeof e.message === "string" && /^(aborted|socket hang up)$/.test(e.message)) return true;
  // The SDK's own verdict (transient and throttling errors).
  return Boolean(e.$retryable);
}

/** Whether the error means that the object (or bucket) does not exist. */
export function isNotFound(error: unknown): boolean {
  const name = errorName(error);
  return name === "NoSuchKey" || name === "NotFound" || (httpStatus(error) === 404 && name !== "NoSuchBucket");
}

/** Whether the error is a refused conditional request (If-None-Match, If-Match). */
export function isPreconditionFailed(error: unknown): boolean {
  return httpStatus(error) === 412 || errorName(error) === "PreconditionFailed";
}

/** The errno a failed S3 request stands for. */
function errnoFor(error: unknown): ErrnoName {
  const name = errorName(error);
  const status = httpStatus(error);
  if (name === "QuotaExceeded" || name === "EntityTooLarge") return "ENOSPC";
  if (status === 403 || CREDENTIAL_NAMES.has(name) || name === "AccessDenied" || name === "CredentialsProviderError") {
    return "EPERM";
  }
  return "EIO";
}

/** One line saying what S3 or the network said. */
export function describeError(error: unknown): string {
  const e = shape(error);
  const name = errorName(error);
  const status = httpStatus(error);
  let message = typeof e.message === "string" ? e.message.trim() : "";
  // The SDK uses the code or "UnknownError" as the message when the body had none.
  if (message === name || message === "UnknownError" || message === "Unknown") message = "";
  if (name === "CredentialsProviderError") {
    message =
      "no AWS credentials were found: give access-key and secret-key, or profile, or set AWS_ACCESS_KEY_ID and " +
      "AWS_SECRET_ACCESS_KEY, or configure ~/.aws/credentials";
  }
  const parts = [name];
  if (status !== undefined) parts[0] = `${name} (HTTP ${status})`;
  if (message !== "") parts.push(message);
  return parts.join(": ");
}

/**
 * The NbdError a failed operation is reported with: `what` names the
 * operation and object ("GET s3://bucket/disk/0000000000000003"); attempts
 * are mentioned when there were retries.
 */
export function toNbdError(error: unknown, what: string, attempts = 1): NbdError {
  if (error instanceof NbdError) return error;
  const after = attempts > 1 ? ` (after ${attempts} attempts)` : "";
  let hint = "";
  const name = errorName(error);
  if (CREDENTIAL_NAMES.has(name)) hint = "; check access-key, secret-key, session-token or profile";
  else if (name === "AccessDenied") hint = "; the credentials lack permission for this bucket or key";
  else if (name === "NoSuchBucket") hint = "; the bucket does not exist: create it, or check bucket, endpoint-url and region";
  return new NbdError(errnoFor(error), `${what}: ${describeError(error)}${after}${hint}`, { cause: error });
}
