"""Exceptions raised by vectron (see errors.py for the status-code table)."""

class Error(Exception):
    """Base class of every error vectron raises for an engine status."""
    code: str
    http_status: int | None
    retry_after: float | None

class InvalidArgumentError(Error, ValueError):
    """The request is malformed (wrong dimension, NaN, bad id, bad metadata, k <= 0...)."""

class NotFoundError(Error, KeyError):
    """A named collection (or a required id) does not exist."""

class AlreadyExistsError(Error, ValueError):
    """Creating a collection (or payload index) that already exists."""

class FailedPreconditionError(Error):
    """The database is not in a state for this call (e.g. config mismatch)."""

class DatabaseClosedError(FailedPreconditionError):
    """The database (or the collection's database) was closed."""

class ResourceExhaustedError(Error):
    """Out of space, memory or quota."""

class UnavailableError(Error):
    """Transient failure; retry later."""

class AbortedError(Error):
    """Interrupted or conflicted; retry the whole operation."""

class CorruptionError(Error):
    """Stored data failed a checksum or format check."""

class StorageIOError(Error, OSError):
    """The operating system refused a file operation."""

class InternalError(Error):
    """An engine invariant did not hold: a bug."""

class CancelledError(Error):
    """The operation was cancelled."""

class UnauthenticatedError(Error):
    """The server needs a valid token."""

class PermissionDeniedError(Error):
    """The token may not do this (scope, collection, token kind)."""

class RateLimitedError(ResourceExhaustedError):
    """Too many requests of this kind; wait `retry_after` seconds."""

class ConnectionFailedError(UnavailableError, ConnectionError):
    """No answer: unreachable, connection broken, or a failed certificate check."""

class DeadlineExceededError(UnavailableError, TimeoutError):
    """The call's timeout passed before an answer."""

_BY_CODE: dict[str, type[Error]]
