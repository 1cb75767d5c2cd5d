// Both transports (fetch, and node:https for a custom CA): connection errors and their
// retries, certificate checks, and the example run end to end with each.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";

import { ConnectionError, VectronClient } from "@vectron/client";

import { ADMIN_PASSWORD, ROOT, startServer } from "./server.mjs";

let srv;
let other; // a second server: its certificate is not the first one's CA

before(async () => {
  [srv, other] = await Promise.all([startServer(), startServer()]);
});

after(async () => {
  for (const s of [srv, other]) if (s) assert.equal(await s.stop(), 0, s.log());
});

/** A loopback port with nothing listening on it. */
async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

const fast = { initialMs: 5, maxMs: 20 };

test("connection refused: idempotent calls are retried with backoff, then ConnectionError; others are not retried", async () => {
  const port = await closedPort();
  for (const [transport, options] of [
    ["fetch", { url: `http://127.0.0.1:${port}` }],
    ["node:https", { url: `https://127.0.0.1:${port}`, ca: srv.ca }],
  ]) {
    const retries = [];
    const c = new VectronClient({ ...options, token: "t", retries: 2, backoff: fast, onRetry: (i) => retries.push(i) });
    const e = await c.collection("x").count().catch((x) => x);
    assert.ok(e instanceof ConnectionError, `${transport}: ${e}`);
    assert.equal(e.code, "connection_error");
    assert.equal(e.httpStatus, 0);
    assert.equal(e.transient, true);
    assert.match(e.message, /ECONNREFUSED/, transport);
    assert.deepEqual(retries.map((r) => r.attempt), [1, 2], transport);
    for (const r of retries) assert.ok(r.delayMs >= 2.5 && r.delayMs <= 20, `${transport}: delay ${r.delayMs}`);
    retries.length = 0;
    await assert.rejects(c.createCollection({ name: "x", dim: 2 }), ConnectionError);
    await assert.rejects(c.collection("x").deleteWhere({ a: 1 }), ConnectionError);
    assert.deepEqual(retries, [], transport);
    c.close();
  }
});

test("a certificate from another CA fails at once (not retried); the right CA is trusted with the host name checked", async () => {
  const retries = [];
  const c = new VectronClient({ url: srv.url, ca: other.ca, onRetry: (i) => retries.push(i) });
  const e = await c.health().catch((x) => x);
  assert.ok(e instanceof ConnectionError, String(e));
  assert.equal(e.transient, false);
  assert.match(e.message, /certificate|CERT/i);
  assert.deepEqual(retries, []);
  // Without `ca` the system store does not know the self-signed certificate (fetch).
  const f = await new VectronClient({ url: srv.url, retries: 0 }).health().catch((x) => x);
  assert.ok(f instanceof ConnectionError, String(f));
  assert.equal(f.transient, false, f.message);
  // The certificate names 127.0.0.1 and localhost.
  const host = new VectronClient({ url: srv.url.replace("127.0.0.1", "localhost"), ca: srv.ca });
  assert.deepEqual(await host.health(), { status: "ok" });
  c.close();
  host.close();
});

/** Runs examples/js/quickstart.mjs with the package linked in as @vectron/client. */
function runExample(env) {
  const dir = mkdtempSync(path.join(tmpdir(), "vectron-js-example-"));
  mkdirSync(path.join(dir, "node_modules", "@vectron"), { recursive: true });
  symlinkSync(path.join(ROOT, "clients", "js"), path.join(dir, "node_modules", "@vectron", "client"), "dir");
  copyFileSync(path.join(ROOT, "examples", "js", "quickstart.mjs"), path.join(dir, "quickstart.mjs"));
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["quickstart.mjs"], { cwd: dir, env: { ...process.env, ...env } });
    let out = "";
    p.stdout.setEncoding("utf8").on("data", (c) => (out += c));
    p.stderr.setEncoding("utf8").on("data", (c) => (out += c));
    p.on("error", reject);
    p.on("exit", (code) => {
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, out });
    });
  });
}

function checkExampleOutput({ code, out }) {
  assert.equal(code, 0, out);
  for (const line of [
    /^created API key vk_/m,
    /^points: 6$/m,
    /^hit earth /m,
    /^planets with moons near phobos: mars, earth$/m,
    /^moons: 2$/m,
    /^get: earth; not found: pluto$/m,
    /^scroll: earth, mars, mercury, moon, phobos, venus$/m,
    /^error: 400 invalid_argument: query vector has dimension 2, the collection's is 4$/m,
    /^deleted by id: 1$/m,
    /^deleted by filter: 2$/m,
    /^left: 3$/m,
    /^done$/m,
  ]) {
    assert.match(out, line);
  }
}

test("examples/js/quickstart.mjs runs against the server with the custom CA (node:https transport)", async () => {
  checkExampleOutput(await runExample({ VECTRON_URL: srv.url, VECTRON_CA: srv.caPath, VECTRON_PASSWORD: ADMIN_PASSWORD }));
});

test("examples/js/quickstart.mjs runs over fetch when Node trusts the certificate (NODE_EXTRA_CA_CERTS)", async () => {
  checkExampleOutput(
    await runExample({ VECTRON_URL: srv.url, VECTRON_CA: "", NODE_EXTRA_CA_CERTS: srv.caPath, VECTRON_PASSWORD: ADMIN_PASSWORD }),
  );
});
