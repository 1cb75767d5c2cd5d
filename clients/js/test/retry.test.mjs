// Retries, deadlines and cancellation against a real server: a 503 from a full queue
// (`--workers 1 --queue 1` and the /v1/_debug/block route hold the only worker), and a
// 429 with Retry-After from the login rate limit.
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import {
  DeadlineExceededError,
  RateLimitedError,
  UnauthenticatedError,
  UnavailableError,
  VectronClient,
} from "@vectron/client";

import { ADMIN_PASSWORD, raw, startServer, waitFor } from "./server.mjs";

let srv;
let token; // SDK token: read, write, admin (also reads /metrics and the debug routes)

before(async () => {
  srv = await startServer("--debug-routes", "--workers", "1", "--queue", "1");
  const admin = new VectronClient({ url: srv.url, ca: srv.ca });
  await admin.login("admin", ADMIN_PASSWORD);
  token = (await admin.createKey({ name: "retry-tests", scopes: ["read", "write", "admin"] })).token;
  admin.close();
  const c = new VectronClient({ url: srv.url, ca: srv.ca, token });
  await c.createCollection({ name: "r", dim: 2 });
  await c.collection("r").upsert([{ id: "a", vector: [1, 1] }]);
  c.close();
});

afterEach(() => release()); // also when a test fails before it releases

after(async () => {
  if (srv) assert.equal(await srv.stop(), 0, srv.log());
});

const state = async () => JSON.parse((await raw(srv, "GET", "/v1/_debug/state", { token })).body);

let pending = null; // the debug/block requests in flight

/** Occupies the only worker (and, with `fill`, the one queue slot); resolves when they are in place. */
async function block(fill) {
  await waitFor("an idle server", async () => {
    const st = await state();
    return st.blocked === 0 && st.queued === 0 && st.running === 0;
  });
  const done = [raw(srv, "POST", "/v1/_debug/block", { body: { ms: 60000 }, token })];
  await waitFor("the worker to block", async () => (await state()).blocked === 1);
  if (fill) {
    done.push(raw(srv, "POST", "/v1/_debug/block", { body: { ms: 60000 }, token }));
    await waitFor("the queue to fill", async () => (await state()).queued === 1);
  }
  pending = done;
}

/** Releases the blocks: the first, then the queued one once it runs and blocks in turn. */
async function release() {
  const done = pending;
  if (!done) return;
  pending = null;
  await raw(srv, "POST", "/v1/_debug/release", { token });
  if (done.length > 1) {
    assert.equal((await done[0]).status, 200);
    await waitFor("the queued block to run", async () => {
      const st = await state();
      return st.blocked === 1 && st.queued === 0;
    });
    await raw(srv, "POST", "/v1/_debug/release", { token });
  }
  for (const r of await Promise.all(done)) assert.equal(r.status, 200, r.body);
}

/** How many responses of `status` the server sent on `route` (from /metrics). */
async function served(route, status) {
  const text = (await raw(srv, "GET", "/metrics", { token })).body;
  const m = text.match(new RegExp(`vectron_http_requests_total\\{[^}]*route="${route.replace(/[{}]/g, "\\$&")}",status="${status}"\\} (\\d+)`));
  return m ? Number(m[1]) : 0;
}

test("an idempotent call (count) is retried after a real 503 with Retry-After and then succeeds", async () => {
  await block(true);
  const retries = [];
  let released;
  const c = new VectronClient({
    url: srv.url,
    ca: srv.ca,
    token,
    onRetry: (info) => {
      retries.push(info);
      if (!released) released = release(); // Frees the worker while the client waits.
    },
  });
  assert.equal(await c.collection("r").count(), 1);
  await released;
  assert.ok(retries.length >= 1);
  const first = retries[0];
  assert.equal(first.attempt, 1);
  assert.equal(first.method, "POST");
  assert.equal(first.path, "/v1/collections/r/count");
  assert.ok(first.error instanceof UnavailableError);
  assert.equal(first.error.httpStatus, 503);
  assert.match(first.error.message, /busy/);
  assert.equal(first.error.retryAfterMs, 1000);
  assert.ok(first.delayMs >= 1000, `waited ${first.delayMs} ms, Retry-After says 1000`);
  // Each 503 the client saw was a real answer from the server.
  assert.equal(await served("/v1/collections/{name}/count", 503), retries.length);
  c.close();
});

test("a non-idempotent call (createCollection) is not retried after a 503", async () => {
  await block(true);
  const retries = [];
  const c = new VectronClient({ url: srv.url, ca: srv.ca, token, onRetry: (i) => retries.push(i) });
  const before = await served("/v1/collections", 503);
  const e = await c.createCollection({ name: "r2", dim: 2 }).catch((x) => x);
  assert.ok(e instanceof UnavailableError, String(e));
  assert.equal(e.httpStatus, 503);
  assert.equal(e.code, "unavailable");
  assert.equal(e.retryAfterMs, 1000);
  assert.deepEqual(retries, []);
  await release();
  assert.equal(await served("/v1/collections", 503), before + 1); // Exactly one attempt reached the server.
  // The server changed nothing, so the caller may retry it itself.
  assert.equal((await c.createCollection({ name: "r2", dim: 2 })).name, "r2");
  c.close();
});

test("retries: 0 turns retrying off", async () => {
  await block(true);
  const retries = [];
  const c = new VectronClient({ url: srv.url, ca: srv.ca, token, retries: 0, onRetry: (i) => retries.push(i) });
  await assert.rejects(c.collection("r").count(), UnavailableError);
  assert.deepEqual(retries, []);
  await release();
  c.close();
});

test("timeoutMs bounds a call stuck in the server's queue: DeadlineExceededError", async () => {
  await block(false);
  const c = new VectronClient({ url: srv.url, ca: srv.ca, token, timeoutMs: 300 });
  const e = await c.collection("r").count().catch((x) => x);
  assert.ok(e instanceof DeadlineExceededError, String(e));
  assert.equal(e.code, "deadline_exceeded");
  assert.equal(e.httpStatus, 0);
  assert.match(e.message, /no answer within 300 ms/);
  // A per-call timeout overrides the client's; a caller's AbortSignal cancels.
  const ctrl = new AbortController();
  const pending = c.collection("r").count(undefined, { timeoutMs: 60000, signal: ctrl.signal });
  ctrl.abort(new Error("caller gave up"));
  await assert.rejects(pending, /caller gave up/);
  await release();
  c.close();
});

// Last in this file: it empties the rate limiter's bucket for 127.0.0.1.
test("429 from the login rate limit: Retry-After is honoured, or reported at once when past the deadline", async () => {
  // Per user name: 5 failures, then one more per 60 s. 60 s is past the deadline: no retry.
  const retries = [];
  const c = new VectronClient({ url: srv.url, ca: srv.ca, timeoutMs: 20000, onRetry: (i) => retries.push(i) });
  for (let i = 0; i < 5; i++) await assert.rejects(c.login("nobody", "wrong-password"), UnauthenticatedError);
  const e = await c.login("nobody", "wrong-password").catch((x) => x);
  assert.ok(e instanceof RateLimitedError, String(e));
  assert.equal(e.httpStatus, 429);
  assert.equal(e.code, "rate_limited");
  assert.ok(e.retryAfterMs > 20000, `Retry-After ${e.retryAfterMs} ms`);
  assert.deepEqual(retries, []);

  // Per address: 20 failures, then one more per 3 s. Fail with fresh names until the
  // address is limited; then a good login gets a 429, waits Retry-After, and succeeds.
  // (Without retries: the client would wait out each 429 and try again.)
  const once = new VectronClient({ url: srv.url, ca: srv.ca, retries: 0 });
  let limited = false;
  for (let i = 0; i < 60 && !limited; i++) {
    const x = await once.login(`ghost${i}`, "wrong-password").catch((err) => err);
    limited = x instanceof RateLimitedError;
    if (!limited) assert.ok(x instanceof UnauthenticatedError, String(x));
  }
  assert.ok(limited, "the address was never rate limited");
  const t = await c.login("admin", ADMIN_PASSWORD);
  assert.equal(t.tokenType, "Bearer");
  assert.ok(retries.length >= 1);
  assert.ok(retries[0].error instanceof RateLimitedError);
  assert.ok(retries[0].error.retryAfterMs >= 1000);
  assert.ok(retries[0].delayMs >= retries[0].error.retryAfterMs);
  c.close();
  once.close();
});
