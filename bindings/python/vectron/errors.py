"""Exceptions raised by vectron.

Every engine error is a :class:`Error`. Its subclass tells what to do, following the
engine's status codes; the message is the engine's own and names the problem. Classes
also derive from the built-in exception a Python programmer would expect:

========================  ===================  ===========================================
engine status             exception            also a
========================  ===================  ===========================================
invalid_argument          InvalidArgumentError ValueError  (bad input: fix the call)
not_found                 NotFoundError        KeyError    (unknown collection or id)
already_exists            AlreadyExistsError   ValueError
failed_precondition       FailedPreconditionError          (fix state first)
(database closed)         DatabaseClosedError  (a FailedPreconditionError)
resource_exhausted        ResourceExhaustedError
unavailable               UnavailableError                 (retry later)
aborted                   AbortedError                     (retry the operation)
corruption                CorruptionError
io_error                  StorageIOError       OSError
internal                  InternalError                    (a bug: please report)
cancelled                 CancelledError
========================  ===================  ===========================================

A server (:func:`vectron.connect`) answers with the same codes, plus its own:

========================  ===========================  ===================================
server code (HTTP)        exception                    also a
========================  ===========================  ===================================
unauthenticated (401)     UnauthenticatedError         (no, bad, expired or revoked token)
permission_denied (403)   PermissionDeniedError        (token lacks the scope/collection)
rate_limited (429)        RateLimitedError             ResourceExhaustedError
bad_request, payload_too_large, header_too_large, method_not_allowed
                          InvalidArgumentError
request_timeout (408)     DeadlineExceededError        UnavailableError, TimeoutError
(no answer in time)       DeadlineExceededError        UnavailableError, TimeoutError
(no connection)           ConnectionFailedError        UnavailableError, ConnectionError
========================  ===========================  ===================================

An answer without the server's JSON error body (a proxy's page) gets the class its HTTP
status implies (502, 503, 504: UnavailableError).

Errors from a server carry ``code`` (the server's code name), ``http_status`` and
``retry_after`` (seconds, from a ``Retry-After`` header, else ``None``).
"""

from __future__ import annotations

__all__ = [
    "Error",
    "InvalidArgumentError",
    "NotFoundError",
    "AlreadyExistsError",
    "FailedPreconditionError",
    "DatabaseClosedError",
    "ResourceExhaustedError",
    "UnavailableError",
    "AbortedError",
    "CorruptionError",
    "StorageIOError",
    "InternalError",
    "CancelledError",
    "UnauthenticatedError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ConnectionFailedError",
    "DeadlineExceededError",
]


class Error(Exception):
    """Base class of every error vectron raises for an engine status."""

    #: The engine's (or server's) status code name, e.g. ``"invalid_argument"``.
    code: str = "unknown"
    #: From a server: the HTTP status of the answer; ``None`` for the embedded engine.
    http_status: "int | None" = None
    #: From a server: seconds its ``Retry-After`` header asked to wait, else ``None``.
    retry_after: "float | None" = None

    def __str__(self) -> str:
        # KeyError would quote its message; every vectron error prints it as is.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class InvalidArgumentError(Error, ValueError):
    """The request is malformed (wrong dimension, NaN, bad id, bad metadata, k <= 0...)."""

    code = "invalid_argument"


class NotFoundError(Error, KeyError):
    """A named collection (or a required id) does not exist."""

    code = "not_found"


class AlreadyExistsError(Error, ValueError):
    """Creating a collection (or payload index) that already exists."""

    code = "already_exists"


class FailedPreconditionError(Error):
    """The database is not in a state for this call (e.g. config mismatch)."""

    code = "failed_precondition"


class DatabaseClosedError(FailedPreconditionError):
    """The database (or the collection's database) was closed."""


class ResourceExhaustedError(Error):
    """Out of space, memory or quota (e.g. the LMDB map is full)."""

    code = "resource_exhausted"


class UnavailableError(Error):
    """Transient failure; retry later."""

    code = "unavailable"


class AbortedError(Error):
    """Interrupted or conflicted; retry the whole operation."""

    code = "aborted"


class CorruptionError(Error):
    """Stored data failed a checksum or format check."""

    code = "corruption"


class StorageIOError(Error, OSError):
    """The operating system refused a file operation."""

    code = "io_error"


class InternalError(Error):
    """An engine invariant did not hold: a bug."""

    code = "internal"


class CancelledError(Error):
    """The operation was cancelled."""

    code = "cancelled"


class UnauthenticatedError(Error):
    """The server needs a valid token: none was given, or it is bad, expired or revoked."""

    code = "unauthenticated"


class PermissionDeniedError(Error):
    """The token is valid but may not do this (scope, collection allow-list, token kind)."""

    code = "permission_denied"


class RateLimitedError(ResourceExhaustedError):
    """Too many requests of this kind (e.g. failed logins); wait ``retry_after`` seconds."""

    code = "rate_limited"


class ConnectionFailedError(UnavailableError, ConnectionError):
    """No answer: the server could not be reached or the connection broke (after any
    retries), or its TLS certificate failed the check (never retried)."""

    code = "connection_error"


class DeadlineExceededError(UnavailableError, TimeoutError):
    """The call's ``timeout`` passed before an answer (also the server's 408,
    ``request_timeout``: the request did not arrive in time)."""

    code = "deadline_exceeded"


# Used by the extension module to pick the class for a status code.
_BY_CODE = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        ResourceExhaustedError,
        UnavailableError,
        AbortedError,
        CorruptionError,
        StorageIOError,
        InternalError,
        CancelledError,
        UnauthenticatedError,
        PermissionDeniedError,
        RateLimitedError,
        DeadlineExceededError,
    )
}

# Codes of the server's HTTP layer (docs/server.md) that are not engine codes.
_SERVER_CODES = {
    "bad_request": InvalidArgumentError,
    "method_not_allowed": InvalidArgumentError,
    "payload_too_large": InvalidArgumentError,
    "header_too_large": InvalidArgumentError,
    "request_timeout": DeadlineExceededError,
}

# For an answer whose body names no code we know: by HTTP status.
_BY_HTTP_STATUS = {
    400: InvalidArgumentError,
    401: UnauthenticatedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: DeadlineExceededError,
    409: FailedPreconditionError,
    413: InvalidArgumentError,
    429: ResourceExhaustedError,
    431: InvalidArgumentError,
    502: UnavailableError,
    503: UnavailableError,
    504: UnavailableError,
}


def _from_server(code: "str | None", message: str, http_status: int, retry_after: "float | None" = None) -> Error:
    """The exception for a server's error answer: by its code, else by HTTP status."""
    cls = _BY_CODE.get(code or "") or _SERVER_CODES.get(code or "")
    if cls is None:
        cls = _BY_HTTP_STATUS.get(http_status, InternalError if http_status >= 500 else Error)
    err = cls(message)
    err.code = code or cls.code
    err.http_status = http_status
    err.retry_after = retry_after
    return err
