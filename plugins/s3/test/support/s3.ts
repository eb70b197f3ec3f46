/**
 * Helpers for the @nbdts/s3 suites: the shared RADOS Gateway (started once
 * by global-setup.ts), a real S3 client to prepare and inspect buckets, and
 * nbdkit running the built plugin against the gateway.
 */

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  run,
  runNbdkit,
  startNbdkit,
  type NbdkitOptions,
  type NbdkitServer,
  type RunResult,
} from "@nbdts/native/testing";
import { afterAll, inject } from "vitest";
import type { SharedRgw } from "../global-setup.js";

export const PLUGIN = "@nbdts/s3";

/** Where the shared gateway is. */
export function rgw(): SharedRgw {
  return inject("rgw");
}

/** A plain SDK client on the gateway, for preparing and inspecting buckets. */
export function s3Client(server: Pick<SharedRgw, "endpoint" | "accessKeyId" | "secretAccessKey" | "region"> = rgw()): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1,
  });
}

let bucketCount = 0;

/** Creates a fresh bucket on the gateway; `label` makes it recognisable in logs. */
export async function newBucket(label: string, client: S3Client = sharedClient()): Promise<string> {
  const name = `${label}-${process.pid}-${++bucketCount}-${randomBytes(3).toString("hex")}`.toLowerCase().slice(0, 63);
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

let shared: S3Client | undefined;
function sharedClient(): S3Client {
  if (shared === undefined) {
    shared = s3Client();
    afterAll(() => shared?.destroy());
  }
  return shared;
}

/** Every object under `prefix`, with its size, in key order. */
export async function listObjects(bucket: string, prefix = "", client: S3Client = sharedClient()): Promise<Map<string, number>> {
  const objects = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token !== undefined ? { ContinuationToken: token } : {}) }),
    );
    for (const object of page.Contents ?? []) objects.set(object.Key!, object.Size!);
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return objects;
}

/** The content of an object, or undefined when it does not exist. */
export async function getObject(bucket: string, key: string, client: S3Client = sharedClient()): Promise<Buffer | undefined> {
  try {
    const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await output.Body!.transformToByteArray());
  } catch (error) {
    if ((error as { name?: string }).name === "NoSuchKey") return undefined;
    throw error;
  }
}

export async function putObject(bucket: string, key: string, body: Buffer, client: S3Client = sharedClient()): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }));
}

/** The object name of block `n` of the disk under `key`, as both plugins name it. */
export function blockName(key: string, n: number): string {
  return `${key}/${n.toString(16).padStart(16, "0")}`;
}

/** The parameters that point the plugin at the gateway, with the test credentials. */
export function gatewayParams(bucket: string, server: SharedRgw = rgw()): Record<string, string> {
  return {
    "endpoint-url": server.endpoint,
    "access-key": server.accessKeyId,
    "secret-key": server.secretAccessKey,
    bucket,
  };
}

/** Starts nbdkit serving the plugin with `params` (on top of the gateway's). */
export function startS3(
  bucket: string,
  params: Record<string, string>,
  options: Omit<NbdkitOptions, "plugin" | "params"> = {},
): Promise<NbdkitServer> {
  return startNbdkit({ plugin: PLUGIN, params: { ...gatewayParams(bucket), ...params }, ...options });
}

/** Runs nbdkit with the plugin to completion (start-up failures, `--run`). */
export function runS3(
  params: Record<string, string> | readonly string[],
  options: { nbdkitArgs?: readonly string[]; env?: NbdkitOptions["env"]; timeoutMs?: number } = {},
): Promise<RunResult> {
  return runNbdkit({
    plugin: PLUGIN,
    params,
    nbdkitArgs: options.nbdkitArgs ?? ["-U", "-", "--run", 'nbdinfo --size "$uri"'],
    ...(options.env !== undefined ? { env: options.env } : {}),
    timeoutMs: options.timeoutMs ?? 60_000,
  });
}

/** nbdkit's own Python S3 plugin on the same gateway (`nbdkit S3 ...`), run to completion. */
export function runPeer(
  bucket: string,
  params: Record<string, string>,
  command: string,
  options: { filterArgs?: readonly string[]; timeoutMs?: number } = {},
): Promise<RunResult> {
  const server = rgw();
  const words = Object.entries({
    "endpoint-url": server.endpoint,
    "access-key": server.accessKeyId,
    "secret-key": server.secretAccessKey,
    bucket,
    ...params,
  }).map(([key, value]) => `${key}=${value}`);
  return run("nbdkit", ["-U", "-", ...(options.filterArgs ?? []), "S3", ...words, "--run", command], {
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

/** A scratch directory removed after the file's tests. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "nbdts-s3-test-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `data` to a new file in `dir` and returns its path. */
export function writeFile(dir: string, name: string, data: Buffer | string): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

/** One S3 request the plugin logged under `nbdkit -v`. */
export interface LoggedRequest {
  readonly method: string;
  /** The path, /bucket/key, without the query. */
  readonly path: string;
  /** The query string, without "?" ("" when none). */
  readonly query: string;
  readonly line: string;
}

/** The S3 requests the plugin logged under `nbdkit -v` ("s3: request GET /bucket/key?x-id=GetObject ..."). */
export function loggedRequests(log: string): LoggedRequest[] {
  const requests: LoggedRequest[] = [];
  for (const line of log.split("\n")) {
    const match = /s3: request (\S+) ([^\s?]+)(?:\?(\S*))?/.exec(line);
    if (match !== null) requests.push({ method: match[1]!, path: match[2]!, query: match[3] ?? "", line });
  }
  return requests;
}

/** The logged requests for block objects of the disk under `key` (not the lock, not listings). */
export function blockRequests(log: string, bucket: string, key: string, method: string): LoggedRequest[] {
  const pattern = new RegExp(`^/${bucket}/${key}/[0-9a-f]{16}$`);
  return loggedRequests(log).filter((request) => request.method === method && pattern.test(request.path));
}

/** The block objects of the disk under `key` (16-hex-digit names; not the lock), with their sizes. */
export async function listBlocks(bucket: string, key: string, client: S3Client = sharedClient()): Promise<Map<string, number>> {
  const objects = await listObjects(bucket, `${key}/`, client);
  for (const name of objects.keys()) {
    if (!/\/[0-9a-f]{16}$/.test(name)) objects.delete(name);
  }
  return objects;
}

/**
 * Waits until `count(server.log())` reaches `expected` (debug lines travel
 * to nbdkit's log on their own channel and may trail the reply), at most
 * `timeoutMs`; returns the last count.
 */
export async function waitForLogCount(
  server: { log(): string },
  count: (log: string) => number,
  expected: number,
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let seen = count(server.log());
  while (seen < expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    seen = count(server.log());
  }
  return seen;
}
