import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { debug } from "@nbdts/sdk";
import { NodeHttpHandler } from "@smithy/node-http-handler";

/** How to reach S3 and as whom; see the README's PARAMETERS. */
export interface ClientSettings {
  /** `endpoint-url`: an S3-compatible server (RGW, MinIO); absent for AWS. */
  readonly endpoint: string | undefined;
  /** `region`; absent: from the environment or profile, else us-east-1. */
  readonly region: string | undefined;
  readonly forcePathStyle: boolean;
  /** Explicit keys (`access-key`, `secret-key`, `session-token`); absent: the AWS credential chain. */
  readonly credentials:
    | { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }
    | undefined;
  /** `profile`: the profile of ~/.aws/config and ~/.aws/credentials for the credential chain and region. */
  readonly profile: string | undefined;
  /** Sockets of the keep-alive HTTP agent, equal to the bound on requests in flight. */
  readonly concurrency: number;
  /** Per-attempt limit for connecting, for response headers, and for each pause in a transfer. */
  readonly timeoutMs: number;
  /** The SDK's flexible checksums: only when an operation requires one, or whenever supported. */
  readonly checksums: "when-required" | "when-supported";
}

/**
 * Makes the S3 client. Its settings follow reference/s3.md §6:
 *
 * - a keep-alive agent with one socket per permitted request in flight;
 * - timeouts that turn a silent server into an error (TimeoutError) that
 *   the caller retries: connection, response headers, and socket idleness
 *   (which also bounds reading a response body);
 * - no retries in the SDK (`maxAttempts: 1`): ObjectStore retries with
 *   nbdkit's nanosleep, which ends early when the server shuts down;
 * - checksums `WHEN_REQUIRED` by default for S3-compatible servers (with
 *   Buffer bodies the SDK never switches to aws-chunked uploads, which RGW
 *   Pacific refuses); the data is guarded anyway: a PUT's body is signed
 *   with its SHA-256 (SigV4's x-amz-content-sha256), which S3 and RGW check
 *   (XAmzContentSHA256Mismatch), and which costs half the CPU of MD5 here;
 * - no `Expect: 100-continue`: it costs a round trip per large PUT;
 * - region redirects followed when no region was given.
 *
 * Each HTTP exchange is logged under `nbdkit -v` (method, path, range,
 * status, time); headers, and so credentials, never are.
 */
export function createClient(settings: ClientSettings, region: string | undefined): S3Client {
  const agentOptions = {
    keepAlive: true,
    maxSockets: settings.concurrency,
    maxFreeSockets: settings.concurrency,
  };
  const requestHandler = new NodeHttpHandler({
    httpAgent: new HttpAgent(agentOptions),
    httpsAgent: new HttpsAgent(agentOptions),
    connectionTimeout: settings.timeoutMs,
    requestTimeout: settings.timeoutMs,
    throwOnRequestTimeout: true,
    socketTimeout: settings.timeoutMs,
  });
  const checksum = settings.checksums === "when-required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED";
  const config: S3ClientConfig = {
    requestHandler,
    forcePathStyle: settings.forcePathStyle,
    maxAttempts: 1,
    requestChecksumCalculation: checksum,
    responseChecksumValidation: checksum,
    expectContinueHeader: false,
    followRegionRedirects: settings.region === undefined,
    ...(settings.endpoint !== undefined ? { endpoint: settings.endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(settings.profile !== undefined ? { profile: settings.profile } : {}),
    ...(settings.credentials !== undefined ? { credentials: { ...settings.credentials } } : {}),
  };
  const client = withoutNodeVersionWarning(() => new S3Client(config));
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as {
        method?: string;
        path?: string;
        query?: Record<string, unknown>;
        headers?: Record<string, string>;
      };
      const started = performance.now();
      const query = Object.entries(request.query ?? {})
        .map(([key, value]) => (value === null || value === undefined || value === "" ? key : `${key}=${String(value)}`))
        .join("&");
      const range = request.headers?.range;
      const line = `${request.method ?? "?"} ${request.path ?? "?"}${query === "" ? "" : `?${query}`}${range ? ` ${range}` : ""}`;
      try {
        const result = await next(args);
        const status = (result.response as { statusCode?: number } | undefined)?.statusCode;
        debug("request %s -> %s in %d ms", line, status ?? "?", Math.round(performance.now() - started));
        return result;
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        const name = (error as { name?: string }).name;
        debug("request %s -> %s %s in %d ms", line, status ?? "no response", name, Math.round(performance.now() - started));
        throw error;
      }
    },
    { step: "finalizeRequest", name: "nbdtsRequestLog", priority: "low" },
  );
  return client;
}

/**
 * The region the SDK finds without being told (AWS_REGION, the profile), or
 * undefined when it finds none.
 */
export async function defaultRegion(settings: ClientSettings): Promise<string | undefined> {
  const probe = createClient(settings, undefined);
  try {
    return await probe.config.region();
  } catch {
    return undefined;
  } finally {
    probe.destroy();
  }
}

/**
 * Runs `body` without the SDK's NodeVersionSupportWarning, which announces
 * that *future* SDK releases will need Node 22: this package pins its SDK
 * version, so the warning does not apply and would only clutter nbdkit's log.
 */
function withoutNodeVersionWarning<T>(body: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === "string" ? warning : warning.message;
    if (text.startsWith("NodeVersionSupportWarning")) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return body();
  } finally {
    process.emitWarning = emitWarning;
  }
}
