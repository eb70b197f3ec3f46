// Credentials: explicit keys, secrets read like nbdkit passwords (+FILE,
// -FD), the standard AWS credential chain (environment, profile), and
// secrets kept out of nbdkit's log, even under -v and on errors.

import { shimPath } from "@nbdts/native";
import { run } from "@nbdts/native/testing";
import { describe, expect, it } from "vitest";
import { PLUGIN, gatewayParams, newBucket, rgw, runS3, scratchDir, writeFile } from "./support/s3.js";

const dir = scratchDir();

/**
 * An environment with no AWS settings of the user's, and no instance
 * metadata lookups (they would leave 127.0.0.1).
 */
function isolatedEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  return {
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    AWS_REGION: undefined,
    AWS_DEFAULT_REGION: undefined,
    AWS_SHARED_CREDENTIALS_FILE: `${dir}/no-credentials`,
    AWS_CONFIG_FILE: `${dir}/no-config`,
    AWS_EC2_METADATA_DISABLED: "true",
    ...extra,
  };
}

/** The gateway parameters without the keys. */
function withoutKeys(bucket: string): Record<string, string> {
  const params = gatewayParams(bucket);
  delete params["access-key"];
  delete params["secret-key"];
  return params;
}

describe("the AWS credential chain", () => {
  it("takes the keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", async () => {
    const bucket = await newBucket("envkeys");
    const result = await runS3(
      { ...withoutKeys(bucket), key: "disk", size: "1M" },
      { env: isolatedEnv({ AWS_ACCESS_KEY_ID: rgw().accessKeyId, AWS_SECRET_ACCESS_KEY: rgw().secretAccessKey }) },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe("1048576");
  });

  it("takes them from a profile of the shared credentials file with profile=", async () => {
    const bucket = await newBucket("profile");
    const credentials = writeFile(
      dir,
      "credentials",
      `[default]\naws_access_key_id = AKIAWRONG\naws_secret_access_key = wrong\n\n` +
        `[nbdtest]\naws_access_key_id = ${rgw().accessKeyId}\naws_secret_access_key = ${rgw().secretAccessKey}\n`,
    );
    const env = isolatedEnv({ AWS_SHARED_CREDENTIALS_FILE: credentials });
    const withProfile = await runS3({ ...withoutKeys(bucket), key: "disk", size: "1M", profile: "nbdtest" }, { env });
    expect(withProfile.code, withProfile.stderr).toBe(0);
    // The default profile has the wrong keys, which proves the profile was used.
    const withDefault = await runS3({ ...withoutKeys(bucket), key: "disk", size: "1M" }, { env });
    expect(withDefault.code).not.toBe(0);
    expect(withDefault.stderr).toMatch(/InvalidAccessKeyId/);
  });

  it("without any credentials, says where credentials can come from", async () => {
    const result = await runS3({ ...withoutKeys("b"), key: "disk", size: "1M" }, { env: isolatedEnv() });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/no AWS credentials were found: give access-key and secret-key, or profile/);
  });
});

describe("secrets read like nbdkit passwords", () => {
  it("secret-key=-FD reads the secret from an inherited file descriptor", async () => {
    const bucket = await newBucket("secretfd");
    const file = writeFile(dir, "secret-fd", `${rgw().secretAccessKey}\n`);
    const words = Object.entries({ ...gatewayParams(bucket), "secret-key": "-3", key: "disk", size: "1M" }).map(
      ([key, value]) => `'${key}=${value}'`,
    );
    const result = await run("bash", [
      "-c",
      `exec nbdkit -U - ${shimPath()} plugin=${PLUGIN} ${words.join(" ")} --run 'nbdinfo --size "$uri"' 3<'${file}'`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe("1048576");
  });
});

describe("secrets in nbdkit's log", () => {
  // A secret that starts with "-" reads as -FD and fails to parse. nbdkit's
  // own message quotes the rest of it; the plugin's must not.
  for (const spelling of ["secret_key", "secret-key"]) {
    it(`never appear in the error for a secret that starts with "-" (${spelling})`, async () => {
      const dashed = "-Dashed-secret-0d5e21";
      const params: Record<string, string> = { ...gatewayParams("b"), key: "disk", size: "1M" };
      delete params["secret-key"];
      params[spelling] = dashed;
      const result = await runS3(params);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(new RegExp(`${spelling}: `));
      expect(result.stdout + result.stderr).not.toContain(dashed.slice(1));
    });
  }


  // The gateway's secret appears in no bucket, key or path of these tests.
  const secret = rgw().secretAccessKey;
  const token = "SESSION-TOKEN-6f1d0c9e7b";

  it("never appear under -v when given as +FILE, through start-up, I/O and shutdown", async () => {
    const bucket = await newBucket("nolog");
    const secretFile = writeFile(dir, "secret-v", `${secret}\n`);
    const tokenFile = writeFile(dir, "token-v", `${token}\n`);
    const result = await runS3(
      { ...gatewayParams(bucket), "secret-key": `+${secretFile}`, "session-token": `+${tokenFile}`, key: "disk", size: "4M" },
      {
        nbdkitArgs: [
          "-v",
          "-U",
          "-",
          "--run",
          `/usr/bin/python3 -c 'import nbd, sys; h = nbd.NBD(); h.connect_uri(sys.argv[1]); h.pwrite(b"x" * 100000, 5); h.pread(200000, 0); h.zero(65536, 0); h.trim(1048576, 1048576)' "$uri"`,
        ],
      },
    );
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const log = result.stdout + result.stderr;
    // The run did reach S3 (so the log would show a leak if there were one).
    expect(log).toMatch(/s3: request PUT /);
    expect(log).not.toContain(secret);
    expect(log).not.toContain(token);
  });

  it("never appear in the errors of refused credentials, under -v, with +FILE", async () => {
    const bucket = await newBucket("nologerr");
    const wrong = "WRONG-secret-8c2e55a1d4";
    const secretFile = writeFile(dir, "secret-wrong", `${wrong}\n`);
    const result = await runS3(
      { ...gatewayParams(bucket), "secret-key": `+${secretFile}`, key: "disk", size: "1M" },
      { nbdkitArgs: ["-v", "-U", "-", "--run", 'nbdinfo --size "$uri"'] },
    );
    expect(result.code).not.toBe(0);
    const log = result.stdout + result.stderr;
    expect(log).toMatch(/SignatureDoesNotMatch/);
    expect(log).not.toContain(wrong);
  });

  it("never appear in the plugin's messages when given literally, on errors", async () => {
    const wrong = "WRONG-literal-3b9f0e77aa";
    const bucket = await newBucket("nologlit");
    const refused = await runS3({ ...gatewayParams(bucket), "secret-key": wrong, key: "disk", size: "1M" });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/SignatureDoesNotMatch/);
    expect(refused.stdout + refused.stderr).not.toContain(wrong);
    // A bad secret file names the file, not its content.
    const unreadable = await runS3({ ...gatewayParams(bucket), "secret-key": `+${dir}/missing-file`, key: "disk", size: "1M" });
    expect(unreadable.code).not.toBe(0);
    expect(unreadable.stderr).toMatch(/secret-key/);
  });
});
