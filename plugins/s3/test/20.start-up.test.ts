// Start-up: every mistake in the parameters, and every problem S3 reports
// before serving (no such bucket, refused credentials, no such object),
// makes nbdkit exit non-zero with a message that says what was wrong.

import { describe, expect, it } from "vitest";
import { gatewayParams, newBucket, putObject, rgw, runS3, scratchDir, writeFile } from "./support/s3.js";

/** Runs nbdkit with the plugin and expects it to fail at start-up; returns its output. */
async function failsToStart(params: Record<string, string>): Promise<string> {
  const result = await runS3(params);
  expect(result.code, `nbdkit should have failed:\n${result.stdout}${result.stderr}`).not.toBe(0);
  return result.stdout + result.stderr;
}

describe("parameters", () => {
  it("bucket is required", async () => {
    const output = await failsToStart({ "endpoint-url": rgw().endpoint, key: "disk", size: "1M" });
    expect(output).toMatch(/missing required parameter bucket/);
  });

  it("a parameter error is one line, without a stack trace", async () => {
    const missing = await failsToStart({ "endpoint-url": rgw().endpoint, key: "disk", size: "1M" });
    expect(missing).not.toMatch(/^\s+at /m);
    const malformed = await failsToStart({ ...gatewayParams("b"), key: "disk", size: "1.5G" });
    expect(malformed).toMatch(/size: "1.5G" is not a valid size/);
    expect(malformed).not.toMatch(/^\s+at /m);
  });

  it("key is required", async () => {
    const output = await failsToStart({ ...gatewayParams("b"), size: "1M" });
    expect(output).toMatch(/missing required parameter key/);
  });

  it("object-size must be a power of two", async () => {
    const output = await failsToStart({ ...gatewayParams("b"), key: "disk", size: "3000k", "object-size": "3000" });
    expect(output).toMatch(/object-size is 3000, which is not a power of two from 512 to 32M/);
  });

  it("object-size above 32M is refused", async () => {
    const output = await failsToStart({ ...gatewayParams("b"), key: "disk", size: "1G", "object-size": "64M" });
    expect(output).toMatch(/object-size is 67108864, which is not a power of two from 512 to 32M/);
  });

  it("object-size below 512 is refused", async () => {
    const output = await failsToStart({ ...gatewayParams("b"), key: "disk", size: "1M", "object-size": "256" });
    expect(output).toMatch(/object-size is 256, which is not a power of two from 512 to 32M/);
  });

  it("size must be a whole number of objects, and the message says what size would do", async () => {
    const output = await failsToStart({ ...gatewayParams("b"), key: "disk", size: "1000000", "object-size": "64k" });
    expect(output).toMatch(/size=1000000 is not a positive multiple of the object size 65536 \(object-size\): .*use size=1048576/);
  });

  it("object-size without size is refused, since without size key names one object", async () => {
    const output = await failsToStart({ ...gatewayParams("b"), key: "disk", "object-size": "64k" });
    expect(output).toMatch(/object-size was given without size/);
  });

  it("a malformed endpoint-url is refused", async () => {
    const output = await failsToStart({ ...gatewayParams("b"), "endpoint-url": "127.0.0.1:7480", key: "disk", size: "1M" });
    expect(output).toMatch(/endpoint-url: "127.0.0.1:7480" is not an http:\/\/ or https:\/\/ URL/);
  });

  it("access-key without secret-key is refused", async () => {
    const output = await failsToStart({ "endpoint-url": rgw().endpoint, bucket: "b", key: "disk", size: "1M", "access-key": "AKIATEST" });
    expect(output).toMatch(/access-key was given without secret-key/);
  });

  it("force-unlock=true with lock=false is refused as contradictory", async () => {
    const output = await failsToStart({ ...gatewayParams("b"), key: "disk", size: "1M", lock: "false", "force-unlock": "true" });
    expect(output).toMatch(/force-unlock=true takes the writer lock, and lock=false says not to take it/);
  });

  it("an unknown parameter is refused with a suggestion", async () => {
    const output = await failsToStart({ ...gatewayParams("b"), key: "disk", size: "1M", objectsize: "64k" });
    expect(output).toMatch(/unknown parameter "objectsize" for plugin s3 \(did you mean "object-size"\?\)/);
  });

  it("the underscore spellings of nbdkit's S3 plugin are accepted", async () => {
    const bucket = await newBucket("alias");
    const server = rgw();
    const result = await runS3(
      {
        endpoint_url: server.endpoint,
        access_key: server.accessKeyId,
        secret_key: server.secretAccessKey,
        bucket,
        key: "disk",
        size: "1M",
        object_size: "64k",
      },
      { nbdkitArgs: ["-U", "-", "--run", 'nbdinfo --json "$uri"'] },
    );
    expect(result.code, result.stderr).toBe(0);
    const info = JSON.parse(result.stdout) as { exports: { "export-size": number; block_size_preferred: number }[] };
    expect(info.exports[0]!["export-size"]).toBe(1024 * 1024);
    expect(info.exports[0]!.block_size_preferred).toBe(65536);
  });

  it("a parameter given in both spellings is refused", async () => {
    const output = await failsToStart({ ...gatewayParams("b"), key: "disk", size: "1M", "object-size": "64k", object_size: "64k" });
    expect(output).toMatch(/object-size and object_size are the same parameter/);
  });

  it("a bad timeout is refused", async () => {
    const output = await failsToStart({ ...gatewayParams("b"), key: "disk", size: "1M", timeout: "0" });
    expect(output).toMatch(/timeout: "0" is out of range/);
  });
});

describe("problems S3 reports at start-up", () => {
  it("an unknown bucket stops nbdkit with NoSuchBucket", async () => {
    const output = await failsToStart({ ...gatewayParams("no-such-bucket-here"), key: "disk", size: "1M" });
    expect(output).toMatch(/s3:\/\/no-such-bucket-here\/disk\/nbdts\.lock: NoSuchBucket \(HTTP 404\).*the bucket does not exist/);
  });

  it("an unknown bucket stops nbdkit without the lock too, and in single-object mode", async () => {
    const disk = await failsToStart({ ...gatewayParams("no-such-bucket-here"), key: "disk", size: "1M", lock: "false" });
    expect(disk).toMatch(/LIST s3:\/\/no-such-bucket-here\/disk\/: NoSuchBucket/);
    const object = await failsToStart({ ...gatewayParams("no-such-bucket-here"), key: "image.raw" });
    expect(object).toMatch(/NoSuchBucket \(HTTP 404\)/);
  });

  it("a wrong secret key stops nbdkit with SignatureDoesNotMatch", async () => {
    const bucket = await newBucket("badsecret");
    const output = await failsToStart({ ...gatewayParams(bucket), "secret-key": "not-the-secret", key: "disk", size: "1M" });
    expect(output).toMatch(/SignatureDoesNotMatch \(HTTP 403\).*check access-key, secret-key, session-token or profile/);
  });

  it("an unknown access key stops nbdkit with InvalidAccessKeyId", async () => {
    const bucket = await newBucket("badkey");
    const output = await failsToStart({ ...gatewayParams(bucket), "access-key": "AKIANOBODY", key: "disk", size: "1M" });
    expect(output).toMatch(/InvalidAccessKeyId \(HTTP 403\)/);
  });

  it("refused credentials are explained in single-object mode too, although HEAD has no error body", async () => {
    const bucket = await newBucket("badsingle");
    await putObject(bucket, "image.raw", Buffer.alloc(4096, 1));
    const output = await failsToStart({ ...gatewayParams(bucket), "secret-key": "not-the-secret", key: "image.raw" });
    expect(output).toMatch(/SignatureDoesNotMatch \(HTTP 403\)/);
  });

  it("a missing object in single-object mode stops nbdkit and says how to make a disk instead", async () => {
    const bucket = await newBucket("noobject");
    const output = await failsToStart({ ...gatewayParams(bucket), key: "image.raw" });
    expect(output).toMatch(/s3:\/\/.*\/image\.raw does not exist: .*to make a new disk, give size/);
  });

  it("an endpoint where nothing listens fails after the retries, within bounded time", async () => {
    const started = Date.now();
    const output = await failsToStart({ ...gatewayParams("b"), "endpoint-url": "http://127.0.0.1:1", key: "disk", size: "1M", retries: "2" });
    expect(output).toMatch(/ECONNREFUSED.*\(after 3 attempts\)/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("objects that all have another size than object-size stop nbdkit, naming the size they have", async () => {
    const bucket = await newBucket("othersize");
    await putObject(bucket, "disk/0000000000000000", Buffer.alloc(65536, 1));
    await putObject(bucket, "disk/0000000000000003", Buffer.alloc(65536, 2));
    const output = await failsToStart({ ...gatewayParams(bucket), key: "disk", size: "1M", "object-size": "128k" });
    expect(output).toMatch(/object-size=131072, but the 2 objects under s3:\/\/.*\/disk\/ are 65536 bytes: .*use that/);
  });

  it("a start-up failure after the lock was taken releases the lock", async () => {
    const bucket = await newBucket("releaseonfail");
    await putObject(bucket, "disk/0000000000000000", Buffer.alloc(65536, 1));
    await failsToStart({ ...gatewayParams(bucket), key: "disk", size: "1M", "object-size": "128k" });
    const result = await runS3({ ...gatewayParams(bucket), key: "disk", size: "1M", "object-size": "64k" });
    expect(result.code, result.stderr).toBe(0);
  });
});

describe("secrets from files", () => {
  it("secret-key=+FILE reads the secret from the file", async () => {
    const bucket = await newBucket("secretfile");
    const file = writeFile(scratchDir(), "secret", `${rgw().secretAccessKey}\n`);
    const result = await runS3({ ...gatewayParams(bucket), "secret-key": `+${file}`, key: "disk", size: "1M" });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe("1048576");
  });
});
