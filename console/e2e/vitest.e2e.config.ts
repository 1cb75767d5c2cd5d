// The end-to-end test: a real `vectron serve` (VECTRON_BIN) and Debian's Chromium driven
// by playwright-core. Run by scripts/test-console.sh.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.test.ts"],
    environment: "node",
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // The steps share one server and one browser, in order.
    sequence: { concurrent: false },
    pool: "forks",
  },
});
