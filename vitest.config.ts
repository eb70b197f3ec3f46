import { defineConfig } from "vitest/config";

// One run covers every workspace package. End-to-end suites start real nbdkit
// processes, so files run in a small pool: this machine class has two cores.
export default defineConfig({
  test: {
    projects: ["sdk", "native", "plugins/*", "bench"],
  },
});
