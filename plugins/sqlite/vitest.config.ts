import { defaultServerConditions } from "vite";
import { defineProject } from "vitest/config";

// The suites run real nbdkit processes that load the built plugin (dist/),
// so build before running them. Tests import "@nbdts/*" packages from their
// TypeScript sources through the "@nbdts/source" export condition.
export default defineProject({
  resolve: { conditions: ["@nbdts/source"] },
  ssr: { resolve: { conditions: ["@nbdts/source", ...defaultServerConditions] } },
  test: {
    name: "sqlite",
    include: ["test/**/*.test.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
  },
});
