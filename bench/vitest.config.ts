import { defaultServerConditions } from "vite";
import { defineProject } from "vitest/config";

// The smoke test runs the real harness (tsx src/main.ts), which starts real
// nbdkit processes with the built shim and host, so `npm test` builds first.
// It never runs the benchmarks themselves: only a --quick run of one row.
export default defineProject({
  resolve: { conditions: ["@nbdts/source"] },
  // Vite takes the conditions for test-time (SSR) imports from here.
  ssr: { resolve: { conditions: ["@nbdts/source", ...defaultServerConditions] } },
  test: {
    name: "bench",
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
