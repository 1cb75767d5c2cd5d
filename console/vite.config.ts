// Builds the console into static files served by `vectron serve` at /console/ (embedded
// into the binary by scripts/embed-console.py). No Vite plugin: esbuild compiles TSX.
//   npm run dev    development server; VECTRON_URL (default https://127.0.0.1:7700) is
//                  proxied for /v1, /metrics, /healthz and /readyz
//   npm run build  type check, then dist/ (or VECTRON_CONSOLE_OUT)
import { defineConfig } from "vite";

const target = process.env.VECTRON_URL ?? "https://127.0.0.1:7700";
const proxy = { target, changeOrigin: true, secure: false };

export default defineConfig({
  base: "/console/",
  esbuild: { jsx: "automatic" },
  build: {
    outDir: process.env.VECTRON_CONSOLE_OUT ?? "dist",
    emptyOutDir: true,
    // Nothing inlined as data: URIs and no inline polyfill: the CSP allows only 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
    reportCompressedSize: false,
  },
  server: {
    proxy: { "/v1": proxy, "/metrics": proxy, "/healthz": proxy, "/readyz": proxy },
  },
});
