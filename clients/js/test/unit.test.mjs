// Pure pieces without a server: backoff bounds, Retry-After parsing, error mapping.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as vectron from "@vectron/client";

import { parseRetryAfterMs, retryDelayMs } from "../dist/retry.js";

const backoff = { initialMs: 100, maxMs: 5000 };

test("backoff doubles up to its cap with equal jitter; Retry-After is a floor", () => {
  for (const [attempt, d] of [[0, 100], [1, 200], [2, 400], [5, 3200], [6, 5000], [40, 5000]]) {
    assert.equal(retryDelayMs(attempt, undefined, backoff, () => 0), d / 2);
    assert.equal(retryDelayMs(attempt, undefined, backoff, () => 0.999999), d / 2 + 0.999999 * (d / 2));
  }
  assert.equal(retryDelayMs(0, 3000, backoff, () => 0), 3000);
  assert.equal(retryDelayMs(2, 3000, backoff, () => 1), 3000 + 200);
});

test("Retry-After: delay-seconds or an HTTP date; anything else is ignored", () => {
  assert.equal(parseRetryAfterMs("3"), 3000);
  assert.equal(parseRetryAfterMs(" 0 "), 0);
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfterMs("Thu, 01 Jan 2026 00:00:05 GMT", now), 5000);
  assert.equal(parseRetryAfterMs("Wed, 31 Dec 2025 23:00:00 GMT", now), 0);
  for (const bad of [null, undefined, "", "soon", "-1", "1.5"]) assert.equal(parseRetryAfterMs(bad), undefined, String(bad));
});

test("every server error code maps to its class, with code, message and HTTP status", () => {
  const codes = {
    invalid_argument: [400, "InvalidArgumentError"], not_found: [404, "NotFoundError"],
    already_exists: [409, "AlreadyExistsError"], failed_precondition: [409, "FailedPreconditionError"],
    aborted: [409, "AbortedError"], resource_exhausted: [429, "ResourceExhaustedError"],
    unavailable: [503, "UnavailableError"], cancelled: [503, "CancelledError"], corruption: [500, "CorruptionError"],
    io_error: [500, "IoError"], internal: [500, "InternalError"], unauthenticated: [401, "UnauthenticatedError"],
    permission_denied: [403, "PermissionDeniedError"], rate_limited: [429, "RateLimitedError"],
    bad_request: [400, "BadRequestError"], method_not_allowed: [405, "MethodNotAllowedError"],
    request_timeout: [408, "RequestTimeoutError"], payload_too_large: [413, "PayloadTooLargeError"],
    header_too_large: [431, "HeaderTooLargeError"], not_implemented: [501, "NotImplementedError"],
  };
  assert.deepEqual(Object.keys(vectron.ERROR_CLASSES).sort(), Object.keys(codes).sort());
  for (const [code, [status, name]] of Object.entries(codes)) {
    const e = vectron.errorFromResponse(status, JSON.stringify({ error: { code, message: `m ${code}` } }), 1000);
    assert.ok(e instanceof vectron[name], code);
    assert.ok(e instanceof vectron.VectronError && e instanceof Error);
    assert.equal(e.name, name);
    assert.deepEqual([e.code, e.message, e.httpStatus, e.retryAfterMs], [code, `m ${code}`, status, 1000]);
  }
  // An unknown code stays a VectronError with that code; a body that is not the server's guesses from the status.
  const u = vectron.errorFromResponse(418, '{"error": {"code": "teapot", "message": "short and stout"}}');
  assert.equal(u.constructor, vectron.VectronError);
  assert.equal(u.code, "teapot");
  const p = vectron.errorFromResponse(502, "<html>Bad Gateway</html>");
  assert.ok(p instanceof vectron.UnavailableError);
  assert.equal(p.message, "HTTP 502: <html>Bad Gateway</html>");
});
