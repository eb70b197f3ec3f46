import { defaultServerConditions } from "vite";
import { defineProject } from "vitest/config";

// The suites start real nbdkit processes that load the built plugin
// (dist/), so build before running them. One Ceph RADOS Gateway serves the
// whole project (test/global-setup.ts); every test uses its own bucket.
export default defineProject({
  resolve: { conditions: ["@nbdts/source"] },
  // Without vite's "module" condition: it picks the AWS SDK's bundler-only
  // dist-es builds (extensionless imports), which Node cannot load.
  ssr: {
    resolve: {
      conditions: ["@nbdts/source", ...defaultServerConditions.filter((condition) => condition !== "module")],
    },
  },
  test: {
    name: "s3",
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
