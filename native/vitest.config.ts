import { defineProject } from "vitest/config";

// The suites start real nbdkit processes running the built shim and host
// (dist/ and build/), so `npm test` builds before it runs them.
export default defineProject({
  resolve: { conditions: ["@nbdts/source"] },
  test: {
    name: "native",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
