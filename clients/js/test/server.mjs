// Starts a real `vectron serve` for the tests: TLS with its generated self-signed
// certificate, auth on, ports chosen by the kernel on 127.0.0.1.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const BIN = process.env.VECTRON_BIN || path.join(ROOT, "build/tools/vectron");
export const ADMIN_PASSWORD = "correct horse battery staple";
const START_TIMEOUT_MS = 120000;

// Servers still running when this process exits (a crash, a timeout) are stopped with it.
const live = new Set();
process.on("exit", () => {
  for (const p of live) p.kill("SIGTERM");
});

/** Resolves with {url, data, caPath, ca, log, stop()} once the server prints "ready". */
export function startServer(...extra) {
  const data = mkdtempSync(path.join(tmpdir(), "vectron-js-"));
  const env = { ...process.env, VECTRON_ADMIN_PASSWORD: ADMIN_PASSWORD };
  const proc = spawn(
    BIN,
    ["serve", "--db", data, "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--no-request-log", ...extra],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  live.add(proc);
  let out = "";
  let err = "";
  proc.stderr.setEncoding("utf8").on("data", (c) => (err += c));
  const exited = new Promise((resolve) =>
    proc.on("exit", (code, signal) => {
      live.delete(proc);
      resolve(code ?? signal);
    }),
  );
  const cleanup = () => rmSync(data, { recursive: true, force: true });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      exited.then(cleanup);
      reject(new Error(`vectron serve did not get ready in ${START_TIMEOUT_MS} ms:\n${out}\n${err}`));
    }, START_TIMEOUT_MS);
    proc.on("error", (e) => {
      clearTimeout(timer);
      live.delete(proc);
      cleanup();
      reject(new Error(`cannot run ${BIN} (set VECTRON_BIN): ${e.message}`));
    });
    exited.then((code) => {
      clearTimeout(timer);
      cleanup();
      reject(new Error(`vectron serve exited (${code}) before it was ready:\n${out}\n${err}`));
    });
    proc.stdout.setEncoding("utf8").on("data", (chunk) => {
      out += chunk;
      const m = out.match(/http listening on (https:\/\/[\d.]+:\d+)/);
      if (!m || !/^vectron serve: ready$/m.test(out)) return;
      clearTimeout(timer);
      const caPath = path.join(data, "tls", "cert.pem");
      resolve({
        url: m[1],
        data,
        caPath,
        ca: readFileSync(caPath, "utf8"),
        log: () => out + err,
        async stop() {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
          const code = await exited;
          cleanup();
          return code;
        },
      });
    });
  });
}

/** One raw HTTPS request (for the debug routes and metrics): resolves {status, headers, body}. */
export function raw(server, method, route, { body, token } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const data = body === undefined ? undefined : JSON.stringify(body);
    const r = https.request(new URL(route, server.url), { method, headers, ca: server.ca, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    r.on("error", reject);
    r.end(data);
  });
}

/** Polls `check` until it returns a truthy value, or throws after `timeoutMs`. */
export async function waitFor(what, check, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
