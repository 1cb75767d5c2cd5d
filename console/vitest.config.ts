// Unit tests of the console's logic (no browser): where-filter positions, token refresh
// timing, the Prometheus parser and the cluster view adapter.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
