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
]


class Error(Exception):
    """Base class of every error vectron raises for an engine status."""

    #: The engine's status code name, e.g. ``"invalid_argument"``.
    code: str = "unknown"

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
    )
}
