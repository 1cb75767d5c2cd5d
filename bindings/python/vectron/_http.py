"""The HTTP transport of :func:`vectron.connect`: keep-alive connections over
``http.client`` (TLS with ``ssl``), one deadline per call, retries with backoff and
jitter for idempotent calls, and the server's error answers turned into
:mod:`vectron.errors` exceptions. The policy is the one every client follows
(docs/clients.md, "Retries, timeouts and errors").

Thread-safe: a call takes an idle connection from a small pool (or opens one) for the
length of one request and puts it back afterwards, so threads never share a connection.
"""

from __future__ import annotations

import http.client
import json
import random
import select
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any, Callable

from .errors import (
    ConnectionFailedError,
    DatabaseClosedError,
    DeadlineExceededError,
    Error,
    InvalidArgumentError,
    _from_server,
)

# Answers after which the server did nothing and asks to come back: retried (idempotent
# calls only) after their Retry-After.
_RETRY_STATUSES = (429, 503)


def _parse_retry_after(value: "str | None") -> "float | None":
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # An HTTP date: vectron never sends one; our own backoff applies.
    return seconds if seconds >= 0 else None


class Transport:
    """One server: its URL, token, TLS settings and a pool of keep-alive connections."""

    def __init__(
        self,
        url: str,
        *,
        token: "str | None",
        ca: "str | ssl.SSLContext | None",
        timeout: float,
        retries: int,
        backoff: float,
        backoff_max: float,
        pool_size: int,
        on_retry: "Callable[[int, float, Error], None] | None",
        user_agent: str,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"url must be str, not {type(url).__name__}")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise InvalidArgumentError(f"url must start with http:// or https://, got {url!r}")
        if not parts.hostname:
            raise InvalidArgumentError(f"url names no host: {url!r}")
        if parts.query or parts.fragment:
            raise InvalidArgumentError(f"url must not have a query or fragment: {url!r}")
        try:
            port = parts.port
        except ValueError as e:
            raise InvalidArgumentError(f"url has a bad port: {url!r} ({e})") from None
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        if ca is not None and not self._https:
            raise InvalidArgumentError("ca= is for https:// URLs; this one is http://")
        self._ssl: "ssl.SSLContext | None" = None
        if self._https:
            if isinstance(ca, ssl.SSLContext):
                self._ssl = ca
            elif ca is None or isinstance(ca, str):
                try:
                    self._ssl = ssl.create_default_context(cafile=ca)
                except (OSError, ssl.SSLError) as e:
                    raise InvalidArgumentError(f"ca={ca!r}: cannot load the CA certificates: {e}") from None
            else:
                raise TypeError(f"ca must be a path (str) or an ssl.SSLContext, not {type(ca).__name__}")
        for name, value in (("timeout", timeout), ("backoff", backoff), ("backoff_max", backoff_max)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidArgumentError(f"{name} must be a positive number of seconds, got {value!r}")
        for name, value, low in (("retries", retries, 0), ("pool_size", pool_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidArgumentError(f"{name} must be an int >= {low}, got {value!r}")
        self.token = token
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self.backoff_max = float(backoff_max)
        self.on_retry = on_retry
        self._pool_size = pool_size
        self._user_agent = user_agent
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        #: Connections opened so far (keep-alive shows as few).
        self.connections_opened = 0
        #: Test hooks: how to wait between attempts, and how to draw the jitter.
        self.sleep: Callable[[float], None] = time.sleep
        self.random: Callable[[float, float], float] = random.uniform

    # -- connections

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=self._ssl)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        with self._lock:
            self.connections_opened += 1
        return conn

    @staticmethod
    def _stale(conn: http.client.HTTPConnection) -> bool:
        """An idle keep-alive connection the server has closed (or written to) since:
        readable while no request is pending means EOF or garbage."""
        sock = conn.sock
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _checkout(self, timeout: float) -> http.client.HTTPConnection:
        with self._lock:
            if self._closed:
                raise DatabaseClosedError(f"client for {self.url} is closed")
            while self._idle:
                conn = self._idle.pop()
                if not self._stale(conn):
                    conn.sock.settimeout(timeout)
                    return conn
                conn.close()
        return self._new_connection(timeout)

    def _checkin(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._pool_size:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- one exchange

    def _exchange(self, method: str, path: str, body: "bytes | None", headers: dict[str, str],
                  timeout: float) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = self._checkout(timeout)
        try:
            try:
                conn.request(method, self._prefix + path, body=body, headers=headers)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError) as send_error:
                # A server may answer before the body is in (a 413, a 401) and close
                # while it still arrives: its answer can be waiting to be read.
                try:
                    resp = conn.getresponse()
                except (OSError, http.client.HTTPException):
                    raise send_error from None
            else:
                resp = conn.getresponse()
            data = resp.read()
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        else:
            self._checkin(conn)
        return resp.status, resp.headers, data

    def _delay(self, attempt: int, retry_after: "float | None") -> float:
        """Equal jitter: uniform in [d/2, d], d = min(backoff_max, backoff * 2**attempt);
        after a Retry-After, that long plus up to d/2."""
        d = min(self.backoff_max, self.backoff * (2 ** attempt))
        if retry_after is not None:
            return retry_after + self.random(0.0, d / 2)
        return self.random(d / 2, d)

    def call(self, method: str, path: str, body: Any = None, *, raw: "bytes | None" = None,
             idempotent: bool) -> Any:
        """Sends one request (``body`` encoded as JSON, or ``raw`` JSON bytes as they are)
        and returns the decoded JSON answer.

        One deadline, ``timeout`` seconds from now, covers every attempt and wait. When
        ``idempotent`` (the same request applied twice has the effect of once), a
        connection error, a 429 or a 503 is retried, ``retries`` times at most, after a
        backoff or the answer's Retry-After; a wait that would end past the deadline is
        not started: the error is raised at once. Raises the :mod:`vectron.errors` class
        of the server's code, ConnectionFailedError, or DeadlineExceededError.
        """
        data = raw
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if raw is not None:
            headers["Content-Type"] = "application/json"
        elif body is not None:
            try:
                data = json.dumps(body, allow_nan=False, separators=(",", ":"), ensure_ascii=False).encode()
            except ValueError as e:  # NaN or Inf: JSON cannot carry them.
                raise InvalidArgumentError(f"request is not valid JSON: {e}") from None
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceededError(f"{method} {path}: no answer from {self.url} within {self.timeout:g} s")
            retry_after = None
            try:
                status, resp_headers, raw_answer = self._exchange(method, path, data, headers, remaining)
            except DatabaseClosedError:
                raise
            except ssl.SSLCertVerificationError as e:  # Permanent: never retried.
                raise ConnectionFailedError(f"{self.url}: TLS certificate check failed: {e.verify_message}") from e
            except (socket.timeout, TimeoutError) as e:
                raise DeadlineExceededError(
                    f"{method} {path}: no answer from {self.url} within {self.timeout:g} s") from e
            except socket.gaierror as e:  # A name that does not resolve: a retry cannot help.
                raise ConnectionFailedError(f"{method} {path} on {self.url}: {e}") from e
            except (OSError, http.client.HTTPException) as e:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                err: Error = ConnectionFailedError(f"{method} {path} on {self.url}{tries}: {e!r}")
                err.__cause__ = e
            else:
                if status < 400:
                    return json.loads(raw_answer) if raw_answer.strip() else None
                retry_after = _parse_retry_after(resp_headers.get("Retry-After"))
                err = self._error(status, raw_answer, retry_after)
                if status not in _RETRY_STATUSES:
                    raise err
            if not idempotent or attempt >= self.retries:
                raise err
            wait = self._delay(attempt, retry_after)
            if time.monotonic() + wait >= deadline:
                raise err
            if self.on_retry is not None:
                self.on_retry(attempt + 1, wait, err)
            self.sleep(wait)
            attempt += 1

    @staticmethod
    def _error(status: int, raw: bytes, retry_after: "float | None") -> Error:
        text = raw.decode("utf-8", "replace").strip()
        code, message = None, text[:200] or f"HTTP {status}"
        try:
            body = json.loads(raw)
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                code = body["error"].get("code")
                message = str(body["error"].get("message", message))
        except ValueError:
            pass
        return _from_server(code if isinstance(code, str) else None, message, status, retry_after)
