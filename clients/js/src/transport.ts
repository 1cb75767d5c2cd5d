// How one HTTP exchange is made. The default is `fetch` (browsers, Node 18+, Deno, Bun);
// the Node entry (node.ts) registers a node:https transport used when a custom CA is given.
import { ConnectionError } from "./errors.js";

/** One HTTP request, as the client hands it to a transport. */
export interface TransportRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** Aborts the exchange (the call's deadline or the caller's signal). */
  signal: AbortSignal;
}

/** A complete response: status, headers and the whole body as text. */
export interface TransportResponse {
  status: number;
  header(name: string): string | null;
  text: string;
}

/**
 * Performs one exchange. Resolves with any HTTP status; rejects with a ConnectionError
 * when no response arrived, or with the signal's reason when the signal aborted it.
 */
export type Transport = ((request: TransportRequest) => Promise<TransportResponse>) & {
  /** Releases idle connections, if the transport keeps any. */
  close?: () => void;
};

// Errors a retry cannot fix: certificate and host name checks, unknown host, bad URL.
const PERMANENT = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ERR_TLS|ERR_SSL|ENOTFOUND|ERR_INVALID_URL|ERR_INVALID_PROTOCOL/;

/** Wraps a network-level failure in a ConnectionError that names the request and the cause. */
export function connectionError(cause: unknown, method: string, url: string): ConnectionError {
  let detail = cause instanceof Error ? cause.message : String(cause);
  let code = "";
  // fetch (undici) reports "fetch failed" with the socket or TLS error as its cause.
  for (let e: unknown = cause, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === "string" && !code) code = c;
    if (e !== cause && e.message) detail += `: ${e.message}`;
  }
  const err = new ConnectionError(
    "connection_error",
    `${method} ${url}: no response (${code ? code + ": " : ""}${detail})`,
    0,
    undefined,
    { cause },
  );
  (err as { transient: boolean }).transient = !PERMANENT.test(code);
  return err;
}

/** The default transport: the global `fetch`, or the one given. */
export function fetchTransport(fetchFn?: typeof fetch): Transport {
  return async (req) => {
    const f = fetchFn ?? globalThis.fetch;
    if (typeof f !== "function") throw new Error("no global fetch in this runtime: pass `fetch` in the client options");
    let res: Response;
    let text: string;
    try {
      res = await f(req.url, { method: req.method, headers: req.headers, body: req.body, signal: req.signal });
      text = await res.text();
    } catch (e) {
      if (req.signal.aborted) throw req.signal.reason ?? e;
      throw connectionError(e, req.method, req.url);
    }
    return { status: res.status, header: (name) => res.headers.get(name), text };
  };
}

// Set by the Node entry: builds a transport that trusts the given CA certificates (PEM).
let caTransportFactory: ((ca: string | string[]) => Transport) | undefined;

/** Registers the transport used when a client is given `ca` (the Node entry does this). */
export function registerCaTransport(factory: (ca: string | string[]) => Transport): void {
  caTransportFactory = factory;
}

/** The transport for a custom CA, or an error saying why there is none here. */
export function caTransport(ca: string | string[]): Transport {
  if (!caTransportFactory) {
    throw new Error(
      "the `ca` option needs Node.js (this is the browser build, where the browser's trust store decides " +
        "which certificates are valid)",
    );
  }
  return caTransportFactory(ca);
}
