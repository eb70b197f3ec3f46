/**
 * Proves that the RGW launcher gives a working S3 endpoint: starts N gateways
 * at once (default 1), runs the S3 operations the plugin relies on against
 * each with @aws-sdk/client-s3, stops them and checks that no daemon and no
 * directory is left. Prints one line per check and exits non-zero if any
 * failed. Not part of the vitest suite.
 *
 *     npx tsx plugins/s3/test/support/rgw-probe.ts [--instances N]
 *     npx tsx plugins/s3/test/support/rgw-probe.ts --dir DIR   # a gateway started by rgw-cli.ts; left running
 */

import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { readRgwState, startRgw, type RgwServer } from "./rgw.js";

interface Endpoint {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
}

let failures = 0;

function report(label: string, ok: boolean, detail: string): void {
  if (!ok) failures++;
  process.stdout.write(`${ok ? "PASS" : "FAIL"} ${label}: ${detail}\n`);
}

function s3ClientFor(target: Endpoint): S3Client {
  return new S3Client({
    endpoint: target.endpoint,
    region: target.region,
    forcePathStyle: true,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    maxAttempts: 1,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true, maxSockets: 64 }) }),
  });
}

/** Runs `fn`; an S3 error becomes "Name/HTTP status" for the expectation to inspect. */
async function outcome<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: string; status?: number }> {
  try {
    return { value: await fn() };
  } catch (error) {
    if (error instanceof S3ServiceException) {
      return { error: error.name, status: error.$metadata.httpStatusCode ?? 0 };
    }
    return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

async function probe(label: string, target: Endpoint): Promise<void> {
  const s3 = s3ClientFor(target);
  const Bucket = `probe-${crypto.randomBytes(4).toString("hex")}`;
  const check = async (name: string, fn: () => Promise<string | undefined>): Promise<void> => {
    const t = performance.now();
    try {
      const problem = await fn();
      const ms = `${(performance.now() - t).toFixed(0)} ms`;
      report(`${label} ${name}`, problem === undefined, problem ?? ms);
    } catch (error) {
      report(`${label} ${name}`, false, error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    }
  };

  await check("CreateBucket", async () => {
    await s3.send(new CreateBucketCommand({ Bucket }));
    return undefined;
  });

  const body = crypto.randomBytes(1 << 20);
  await check("PutObject 1 MiB, ETag is the MD5", async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket, Key: "data", Body: body }));
    const md5 = `"${crypto.createHash("md5").update(body).digest("hex")}"`;
    return put.ETag === md5 ? undefined : `ETag ${put.ETag}, expected ${md5}`;
  });

  await check("GetObject Range bytes=1000-5095 -> 206 and the right bytes", async () => {
    const get = await s3.send(new GetObjectCommand({ Bucket, Key: "data", Range: "bytes=1000-5095" }));
    const got = Buffer.from(await get.Body!.transformToByteArray());
    const status = get.$metadata.httpStatusCode;
    if (status !== 206) return `HTTP ${status}`;
    if (get.ContentRange !== `bytes 1000-5095/${body.length}`) return `Content-Range ${get.ContentRange}`;
    return got.equals(body.subarray(1000, 5096)) ? undefined : `wrong ${got.length} bytes`;
  });

  const keys = Array.from({ length: 7 }, (_, i) => `list/${i.toString(16).padStart(16, "0")}`);
  await check("ListObjectsV2 MaxKeys=2 pages through 7 keys in order", async () => {
    await Promise.all(keys.map((Key) => s3.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.from(Key) }))));
    const seen: string[] = [];
    let pages = 0;
    let ContinuationToken: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: "list/", MaxKeys: 2, ContinuationToken }));
      pages++;
      seen.push(...(page.Contents ?? []).map((o) => o.Key!));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken !== undefined && pages < 20);
    if (pages !== 4) return `${pages} pages, expected 4`;
    return JSON.stringify(seen) === JSON.stringify(keys) ? undefined : `keys ${JSON.stringify(seen)}`;
  });

  await check("DeleteObjects (7 keys + 1 missing), then the prefix lists empty", async () => {
    const del = await s3.send(
      new DeleteObjectsCommand({
        Bucket,
        Delete: { Objects: [...keys, "list/missing"].map((Key) => ({ Key })), Quiet: false },
      }),
    );
    if ((del.Errors ?? []).length > 0) return `errors ${JSON.stringify(del.Errors)}`;
    if ((del.Deleted ?? []).length !== 8) return `${(del.Deleted ?? []).length} Deleted entries, expected 8`;
    const after = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: "list/" }));
    return (after.KeyCount ?? 0) === 0 ? undefined : `${after.KeyCount} keys left`;
  });

  await check("PutObject IfNoneMatch=* on a new key succeeds", async () => {
    const r = await outcome(() => s3.send(new PutObjectCommand({ Bucket, Key: "lock", Body: Buffer.from("a"), IfNoneMatch: "*" })));
    return r.error === undefined ? undefined : `${r.error} ${r.status ?? ""}`;
  });

  await check("PutObject IfNoneMatch=* on an existing key -> 412 PreconditionFailed", async () => {
    const r = await outcome(() => s3.send(new PutObjectCommand({ Bucket, Key: "lock", Body: Buffer.from("b"), IfNoneMatch: "*" })));
    if (r.error !== "PreconditionFailed" || r.status !== 412) return `got ${r.error ?? "success"} ${r.status ?? ""}`;
    const get = await s3.send(new GetObjectCommand({ Bucket, Key: "lock" }));
    const text = await get.Body!.transformToString();
    return text === "a" ? undefined : `lock object was overwritten: ${JSON.stringify(text)}`;
  });

  await check("HeadObject of a missing key -> 404", async () => {
    const r = await outcome(() => s3.send(new HeadObjectCommand({ Bucket, Key: "no/such/key" })));
    return r.status === 404 ? undefined : `got ${r.error ?? "success"} ${r.status ?? ""}`;
  });

  await check("GetObject of a missing key -> NoSuchKey 404", async () => {
    const r = await outcome(() => s3.send(new GetObjectCommand({ Bucket, Key: "no/such/key" })));
    return r.error === "NoSuchKey" && r.status === 404 ? undefined : `got ${r.error ?? "success"} ${r.status ?? ""}`;
  });

  await check("a wrong secret -> 403 SignatureDoesNotMatch", async () => {
    const bad = s3ClientFor({ ...target, secretAccessKey: "wrong" });
    const r = await outcome(() => bad.send(new HeadObjectCommand({ Bucket, Key: "lock" })));
    bad.destroy();
    // HEAD has no body, so the SDK only sees the status code.
    return r.status === 403 ? undefined : `got ${r.error ?? "success"} ${r.status ?? ""}`;
  });

  s3.destroy();
}

/** PIDs of live processes whose command line mentions `dir`. */
function processesUsing(dir: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(dir)) found.push(Number(entry));
    } catch {
      // Exited meanwhile.
    }
  }
  return found;
}

async function main(argv: string[]): Promise<void> {
  const dirIndex = argv.indexOf("--dir");
  if (dirIndex >= 0) {
    const state = await readRgwState(argv[dirIndex + 1] ?? "");
    if (state === undefined) throw new Error(`no rgw.json in ${argv[dirIndex + 1]}; start one with rgw-cli.ts start DIR`);
    await probe(state.endpoint, state);
    return;
  }
  const countIndex = argv.indexOf("--instances");
  const count = countIndex >= 0 ? Number(argv[countIndex + 1]) : 1;
  if (!Number.isInteger(count) || count < 1) throw new Error(`--instances needs a positive integer`);

  const t0 = performance.now();
  const servers: RgwServer[] = await Promise.all(
    Array.from({ length: count }, (_, i) => startRgw({ log: (line) => process.stderr.write(`[${i}] ${line}\n`) })),
  );
  const startMs = performance.now() - t0;
  for (const s of servers) {
    report(
      `start ${s.endpoint}`,
      true,
      `${s.startupMs.toFixed(0)} ms; mon 127.0.0.1:${s.monPort}; pids ${JSON.stringify(s.pids)}; dir ${s.dir}`,
    );
  }
  if (count > 1) {
    const distinct = new Set(servers.flatMap((s) => [s.port, s.monPort])).size === 2 * count;
    report(`${count} instances started at once`, distinct, `in ${startMs.toFixed(0)} ms, all ports distinct: ${distinct}`);
  }

  await Promise.all(servers.map((s) => probe(s.endpoint, s)));

  const t1 = performance.now();
  await Promise.all(servers.map((s) => s.stop()));
  const stopMs = performance.now() - t1;
  for (const s of servers) {
    const left = processesUsing(s.dir);
    const dirGone = !fs.existsSync(s.dir);
    report(
      `stop ${s.endpoint}`,
      left.length === 0 && dirGone,
      `${stopMs.toFixed(0)} ms; processes left: ${left.length === 0 ? "none" : left.join(", ")}; dir removed: ${dirGone}`,
    );
  }
}

main(process.argv.slice(2))
  .catch((error: unknown) => {
    report("probe", false, error instanceof Error ? (error.stack ?? error.message) : String(error));
  })
  .finally(() => {
    process.stdout.write(failures === 0 ? "all checks passed\n" : `${failures} check(s) failed\n`);
    process.exitCode = failures === 0 ? 0 : 1;
  });
