import { defaultServerConditions } from "vite";
import { defineProject } from "vitest/config";

// The end-to-end suites run real nbdkit, which loads the plugin's built
// dist/ (through node_modules/@nbdts/memory), so build before testing. Tests
// import the sources through the "@nbdts/source" condition.
export default defineProject({
  resolve: { conditions: ["@nbdts/source"] },
  ssr: { resolve: { conditions: ["@nbdts/source", ...defaultServerConditions] } },
  test: {
    name: "memory",
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
