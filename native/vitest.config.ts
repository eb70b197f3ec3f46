import { defaultServerConditions } from "vite";
import { defineProject } from "vitest/config";

// The suites start real nbdkit processes running the built shim and host
// (dist/ and build/), so `npm test` builds before it runs them.
export default defineProject({
  resolve: { conditions: ["@nbdts/source"] },
  // Vite takes the conditions for test-time (SSR) imports from here.
  ssr: { resolve: { conditions: ["@nbdts/source", ...defaultServerConditions] } },
  test: {
    name: "native",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
