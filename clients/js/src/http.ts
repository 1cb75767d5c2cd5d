// The request loop shared by every call: deadline, retries with backoff, error mapping.
import { ConnectionError, DeadlineExceededError, VectronError, errorFromResponse } from "./errors.js";
import { BackoffOptions, parseRetryAfterMs, retryDelayMs, sleep } from "./retry.js";
import { Transport, caTransport, fetchTransport } from "./transport.js";

/** Options of `new VectronClient(...)`. */
export interface ClientOptions {
  /** Base URL of `vectron serve`, e.g. `https://127.0.0.1:7700`. */
  url: string;
  /** An SDK token (from an API key) for the data API, or a login token for key management; `login()` sets one. */
  token?: string;
  /**
   * Node only: PEM text of the CA certificate(s) to trust instead of the system store
   * (for the server's generated self-signed certificate: the content of `DATA/tls/cert.pem`).
   * Browsers always use their own trust store.
   */
  ca?: string | string[];
  /** Deadline of one call, retries and waits included (30000 ms). */
  timeoutMs?: number;
  /** Retries of an idempotent call after a 503, a 429 or a connection error (3); 0 turns retrying off. */
  retries?: number;
  backoff?: BackoffOptions;
  /** Called before each retry (for logging or metrics). */
  onRetry?: (info: RetryInfo) => void;
  /** A `fetch` implementation to use instead of the global one. */
  fetch?: typeof fetch;
  /** Replaces the HTTP layer altogether (advanced; `ca` and `fetch` are then ignored). */
  transport?: Transport;
}

/** Per-call options, the last argument of every method. */
export interface CallOptions {
  /** Overrides the client's `timeoutMs` for this call. */
  timeoutMs?: number;
  /** Aborts the call; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface RetryInfo {
  method: string;
  path: string;
  /** 1 for the first retry. */
  attempt: number;
  /** How long the client waits before it. */
  delayMs: number;
  /** Why: the 503/429 response or the connection error. */
  error: VectronError;
}

interface Call {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  body?: unknown;
  /** Whether repeating the call is safe (docs/clients.md lists which are). */
  idempotent: boolean;
  options?: CallOptions | undefined;
}

/** Sends calls to one server. Not exported from the package. */
export class Http {
  readonly baseUrl: string;
  token: string | undefined;
  private readonly transport: Transport;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoff: Required<BackoffOptions>;
  private readonly onRetry: ((info: RetryInfo) => void) | undefined;

  constructor(o: ClientOptions) {
    if (!o || typeof o.url !== "string" || !/^https?:\/\/[^/]/.test(o.url)) {
      throw new TypeError(`url must be an http:// or https:// URL, got ${JSON.stringify(o?.url)}`);
    }
    this.baseUrl = o.url.replace(/\/+$/, "");
    this.token = o.token;
    this.timeoutMs = positive(o.timeoutMs, 30000, "timeoutMs");
    this.retries = nonNegativeInt(o.retries, 3, "retries");
    this.backoff = {
      initialMs: positive(o.backoff?.initialMs, 100, "backoff.initialMs"),
      maxMs: positive(o.backoff?.maxMs, 5000, "backoff.maxMs"),
    };
    this.onRetry = o.onRetry;
    if (o.transport) this.transport = o.transport;
    else if (o.ca !== undefined) this.transport = caTransport(o.ca);
    else this.transport = fetchTransport(o.fetch);
  }

  close(): void {
    this.transport.close?.();
  }

  async call<T>(c: Call): Promise<T> {
    const timeoutMs = positive(c.options?.timeoutMs, this.timeoutMs, "timeoutMs");
    const deadline = Date.now() + timeoutMs;
    const url = this.baseUrl + c.path;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.token) headers["Authorization"] = `Bearer ${this.token}`;
    let body: string | undefined;
    if (c.body !== undefined) {
      body = JSON.stringify(c.body);
      headers["Content-Type"] = "application/json";
    }
    const callerSignal = c.options?.signal;
    if (callerSignal?.aborted) throw callerSignal.reason;
    const ctrl = new AbortController();
    const timedOut = new Error("deadline");
    const timer = setTimeout(() => ctrl.abort(timedOut), timeoutMs);
    const onCallerAbort = () => ctrl.abort(callerSignal?.reason);
    callerSignal?.addEventListener("abort", onCallerAbort, { once: true });
    let last: VectronError | undefined;
    let attempt = 0;
    try {
      for (;; attempt++) {
        let err: VectronError;
        let retryable: boolean;
        try {
          const res = await this.transport({ method: c.method, url, headers, body, signal: ctrl.signal });
          if (res.status >= 200 && res.status < 300) return parseBody<T>(res.text, c);
          err = errorFromResponse(res.status, res.text, parseRetryAfterMs(res.header("retry-after")));
          retryable = res.status === 503 || res.status === 429;
        } catch (e) {
          if (ctrl.signal.aborted) throw e;
          if (!(e instanceof ConnectionError)) throw e;
          err = e;
          retryable = e.transient;
        }
        last = err;
        if (!c.idempotent || !retryable || attempt >= this.retries) throw err;
        const delayMs = retryDelayMs(attempt, err.retryAfterMs, this.backoff);
        // Waiting past the deadline cannot succeed: report the server's answer instead.
        if (Date.now() + delayMs >= deadline) throw err;
        this.onRetry?.({ method: c.method, path: c.path, attempt: attempt + 1, delayMs, error: err });
        await sleep(delayMs, ctrl.signal);
      }
    } catch (e) {
      if (ctrl.signal.aborted && ctrl.signal.reason === timedOut) {
        const tries = attempt + 1;
        throw new DeadlineExceededError(
          "deadline_exceeded",
          `${c.method} ${c.path}: no answer within ${timeoutMs} ms` +
            (last ? ` (${tries} attempts; last error: ${last.message})` : ""),
          0,
          undefined,
          { cause: last },
        );
      }
      throw e;
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener("abort", onCallerAbort);
    }
  }
}

function parseBody<T>(text: string, c: Call): T {
  if (text.trim() === "") return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new VectronError("bad_response", `${c.method} ${c.path}: the server's answer is not JSON: ${text.slice(0, 200)}`);
  }
}

function positive(v: number | undefined, def: number, name: string): number {
  if (v === undefined) return def;
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new TypeError(`${name} must be a positive number, got ${v}`);
  return v;
}

function nonNegativeInt(v: number | undefined, def: number, name: string): number {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || v < 0) throw new TypeError(`${name} must be a non-negative integer, got ${v}`);
  return v;
}

/** Encodes one path segment (a collection name, field or key id). */
export function seg(s: string): string {
  if (typeof s !== "string" || s === "") throw new TypeError(`expected a non-empty string, got ${JSON.stringify(s)}`);
  return encodeURIComponent(s);
}
