// Error classes: one per error code the server sends (`{"error": {"code", "message"}}`,
// docs/server.md and docs/auth.md), plus two raised by the client itself
// (ConnectionError, DeadlineExceededError). Every one is a VectronError.

/** Base class of every error this package throws (except a caller's own abort reason). */
export class VectronError extends Error {
  /** The server's error code (`not_found`, `invalid_argument`, ...), or a client-side one. */
  readonly code: string;
  /** The HTTP status of the response; 0 when no response arrived. */
  readonly httpStatus: number;
  /** The server's `Retry-After`, in milliseconds, when it sent one (429, 503). */
  readonly retryAfterMs: number | undefined;

  constructor(code: string, message: string, httpStatus = 0, retryAfterMs?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = httpStatus;
    this.retryAfterMs = retryAfterMs;
  }
}

/** 400 `invalid_argument`: bad input (wrong dimension, malformed filter, unknown field...); nothing was changed. */
export class InvalidArgumentError extends VectronError {}
/** 404 `not_found`: unknown collection, payload index, API key, or route. */
export class NotFoundError extends VectronError {}
/** 409 `already_exists`: the collection or payload index exists. */
export class AlreadyExistsError extends VectronError {}
/** 409 `failed_precondition`: the state does not allow this (e.g. retiring the current signing key). */
export class FailedPreconditionError extends VectronError {}
/** 409 `aborted`: a conflicting concurrent change; retry the operation. */
export class AbortedError extends VectronError {}
/** 429 `resource_exhausted`: the server ran out of a resource for this request. */
export class ResourceExhaustedError extends VectronError {}
/** 503 `unavailable`: queue full or shutting down; `retryAfterMs` says when to come back. */
export class UnavailableError extends VectronError {}
/** 503 `cancelled`: the server cancelled the operation (e.g. on shutdown). */
export class CancelledError extends VectronError {}
/** 500 `corruption`: the server found damaged data. */
export class CorruptionError extends VectronError {}
/** 500 `io_error`: the server's disk failed (full, unreadable). */
export class IoError extends VectronError {}
/** 500 `internal`: a server bug. */
export class InternalError extends VectronError {}
/** 401 `unauthenticated`: no, malformed, expired or revoked token; wrong user name or password. */
export class UnauthenticatedError extends VectronError {}
/** 403 `permission_denied`: a valid token without the right (scope, collection, token kind). */
export class PermissionDeniedError extends VectronError {}
/** 429 `rate_limited`: too many failed logins; `retryAfterMs` says when to try again. */
export class RateLimitedError extends VectronError {}
/** 400 `bad_request`: malformed HTTP (from the HTTP layer, not the API). */
export class BadRequestError extends VectronError {}
/** 405 `method_not_allowed`. */
export class MethodNotAllowedError extends VectronError {}
/** 408 `request_timeout`: the request did not arrive in time (slow upload). */
export class RequestTimeoutError extends VectronError {}
/** 413 `payload_too_large`: the body is over the server's `--max-body-bytes`. */
export class PayloadTooLargeError extends VectronError {}
/** 431 `header_too_large`: the request line and headers are over `--max-header-bytes`. */
export class HeaderTooLargeError extends VectronError {}
/** 501 `not_implemented`. */
export class NotImplementedError extends VectronError {}

/** No response: connection refused or reset, DNS failure, TLS handshake or certificate failure. `cause` holds the underlying error. */
export class ConnectionError extends VectronError {
  /** False when a retry cannot help: certificate or host name check failed, unknown host, bad URL. */
  readonly transient: boolean = true;
}
/** The call's `timeoutMs` passed (including any retries and waits) before an answer arrived. */
export class DeadlineExceededError extends VectronError {}

type ErrorClass = new (code: string, message: string, httpStatus?: number, retryAfterMs?: number) => VectronError;

/** The class for each server error code. Codes not listed become a plain VectronError. */
export const ERROR_CLASSES: Readonly<Record<string, ErrorClass>> = {
  invalid_argument: InvalidArgumentError,
  not_found: NotFoundError,
  already_exists: AlreadyExistsError,
  failed_precondition: FailedPreconditionError,
  aborted: AbortedError,
  resource_exhausted: ResourceExhaustedError,
  unavailable: UnavailableError,
  cancelled: CancelledError,
  corruption: CorruptionError,
  io_error: IoError,
  internal: InternalError,
  unauthenticated: UnauthenticatedError,
  permission_denied: PermissionDeniedError,
  rate_limited: RateLimitedError,
  bad_request: BadRequestError,
  method_not_allowed: MethodNotAllowedError,
  request_timeout: RequestTimeoutError,
  payload_too_large: PayloadTooLargeError,
  header_too_large: HeaderTooLargeError,
  not_implemented: NotImplementedError,
};

// A response without the server's error body (a proxy's page, say): the code is guessed from the status.
const CODE_FOR_STATUS: Readonly<Record<number, string>> = {
  400: "bad_request",
  401: "unauthenticated",
  403: "permission_denied",
  404: "not_found",
  405: "method_not_allowed",
  408: "request_timeout",
  409: "already_exists",
  413: "payload_too_large",
  429: "resource_exhausted",
  431: "header_too_large",
  500: "internal",
  501: "not_implemented",
  502: "unavailable",
  503: "unavailable",
  504: "unavailable",
};

/** Builds the error for a non-2xx response from its status and body text. */
export function errorFromResponse(httpStatus: number, bodyText: string, retryAfterMs?: number): VectronError {
  let code: string | undefined;
  let message: string | undefined;
  try {
    const body = JSON.parse(bodyText) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body?.error?.code === "string") code = body.error.code;
    if (typeof body?.error?.message === "string") message = body.error.message;
  } catch {
    // Not the server's JSON error: fall through to the status.
  }
  if (code === undefined) {
    code = CODE_FOR_STATUS[httpStatus] ?? "http_error";
    const excerpt = bodyText.length > 200 ? bodyText.slice(0, 200) + "..." : bodyText;
    message = `HTTP ${httpStatus}` + (excerpt.trim() ? `: ${excerpt.trim()}` : "");
  }
  const Class = ERROR_CLASSES[code];
  return Class
    ? new Class(code, message ?? code, httpStatus, retryAfterMs)
    : new VectronError(code, message ?? code, httpStatus, retryAfterMs);
}
