import { defaultServerConditions } from "vite";
import { defineProject } from "vitest/config";

// Tests import "@nbdts/sdk" as a plugin would, resolved to the TypeScript
// sources through the "@nbdts/source" export condition. Vitest runs tests in
// Vite's server (SSR) environment, which since Vite 6 reads its conditions
// from `ssr.resolve.conditions`, not `resolve.conditions`.
export default defineProject({
  resolve: { conditions: ["@nbdts/source"] },
  ssr: { resolve: { conditions: ["@nbdts/source", ...defaultServerConditions] } },
  test: {
    name: "sdk",
    include: ["test/**/*.test.ts"],
    typecheck: { enabled: true, include: ["test/**/*.test-d.ts"], tsconfig: "./tsconfig.json" },
  },
});
