"""vectron.connect against a real `vectron serve` (TLS with its generated certificate,
auth on, loopback): what the remote client adds to the shared API (test_api.py,
test_filters.py and test_errors.py run against both): tokens and scopes, login and key
management, TLS trust, keep-alive and threads, retries (only for idempotent calls, with
backoff and Retry-After), timeouts, and errors carrying the server's code and message.

Waits are on conditions with deadlines; retry delays are checked through the client's
sleep hook (nothing sleeps for real)."""

from __future__ import annotations

import http.server
import json
import os
import pathlib
import select
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import vectron
from conftest import ADMIN_PASSWORD, Serve


EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python" / "quickstart_server.py"


def wait_for(cond, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def client(server):
    c = server.client()
    for name in c.list_collections():
        c.drop_collection(name)
    yield c
    c.close()


def admin(server) -> vectron.Client:
    return server.client(token=server.login_token)


# --- arguments -------------------------------------------------------------------------


def test_connect_checks_its_arguments(server):
    for url in ("ftp://x", "localhost:7700", "https://", "https://h:7700/?q=1"):
        with pytest.raises(vectron.InvalidArgumentError, match="url"):
            vectron.connect(url)
    with pytest.raises(vectron.InvalidArgumentError, match="ca="):
        vectron.connect("http://127.0.0.1:1", ca=server.ca)
    with pytest.raises(vectron.InvalidArgumentError, match="ca="):
        vectron.connect("https://127.0.0.1:1", ca="/no/such/ca.pem")
    with pytest.raises(TypeError, match="ca"):
        vectron.connect("https://127.0.0.1:1", ca=5)
    with pytest.raises(vectron.InvalidArgumentError, match="timeout"):
        vectron.connect(server.url, timeout=0)
    with pytest.raises(vectron.InvalidArgumentError, match="retries"):
        vectron.connect(server.url, retries=-1)
    with server.client() as c:
        assert c.url == server.url and not c.closed and c.health()
        assert server.url in repr(c)
    assert c.closed
    with pytest.raises(vectron.DatabaseClosedError, match="closed"):
        c.list_collections()


def test_the_same_defaults_as_the_embedded_engine(client, tmp_path):
    remote = client.create_collection("defaults", dim=3)
    with vectron.open(tmp_path / "db") as db:
        assert remote.config == db.create_collection("defaults", dim=3).config
    assert remote.config == dict(vectron._vectron.COLLECTION_DEFAULTS, dim=3)


# --- TLS, tokens, scopes ---------------------------------------------------------------


def test_tls_trusts_only_the_given_ca(server):
    c = vectron.connect(server.url, token=server.token)  # The system store: not our self-signed cert.
    with pytest.raises(vectron.ConnectionFailedError, match="certificate") as e:
        c.list_collections()
    assert isinstance(e.value, ConnectionError)
    assert c._t.connections_opened == 1  # A certificate failure is not retried.
    with pytest.raises(vectron.ConnectionFailedError):
        vectron.connect(server.url.replace("https", "http"), token=server.token, retries=0).list_collections()


def test_missing_or_bad_token_is_unauthenticated_with_the_servers_message(server):
    for token in (None, "not.a.token"):
        c = server.client(token=token)
        with pytest.raises(vectron.UnauthenticatedError) as e:
            c.list_collections()
        assert e.value.code == "unauthenticated" and e.value.http_status == 401 and str(e.value)


def test_scopes_and_collection_allow_lists_are_permission_denied(server, client):
    client.create_collection("open", dim=2).upsert(["a"], [[1, 0]])
    client.create_collection("closed", dim=2)
    a = admin(server)
    reader = server.client(token=a.create_key("reader", ["read"], collections=["open"]).token)
    assert reader.list_collections() == ["open"]
    col = reader.get_collection("open")
    assert col.search([1, 0], k=1)[0].id == "a"
    with pytest.raises(vectron.PermissionDeniedError) as e:
        col.upsert(["b"], [[0, 1]])
    assert e.value.code == "permission_denied" and e.value.http_status == 403 and "write" in str(e.value)
    with pytest.raises(vectron.PermissionDeniedError):
        reader.get_collection("closed")
    with pytest.raises(vectron.PermissionDeniedError):
        reader.create_collection("new", dim=2)
    assert client.get_collection("open").count() == 1


def test_login_and_key_management(server):
    c = server.client(token=None)
    with pytest.raises(vectron.UnauthenticatedError):
        c.login("admin", "wrong password")
    token = c.login("admin", ADMIN_PASSWORD)
    assert c.token == token and c.me()["user"] == "admin"
    key = c.create_key("tool", ["read", "write"], expires_in=3600)
    assert key.key_id.startswith("vk_") and key.scopes == ["read", "write"] and key.expires_at
    assert any(k["key_id"] == key.key_id for k in c.list_keys())
    user = server.client(token=key.token)
    assert isinstance(user.list_collections(), list)
    c.revoke_key(key.key_id)
    with pytest.raises(vectron.UnauthenticatedError, match="revoked"):
        user.list_collections()
    fresh = c.refresh()
    assert fresh != token and c.me()["user"] == "admin"


def test_failed_logins_are_rate_limited_with_retry_after(server):
    c = server.client(token=None)
    for _ in range(5):
        with pytest.raises(vectron.UnauthenticatedError):
            c.login("nobody-ratelimited", "x")
    with pytest.raises(vectron.RateLimitedError) as e:
        c.login("nobody-ratelimited", "x")
    assert isinstance(e.value, vectron.ResourceExhaustedError)
    assert e.value.code == "rate_limited" and e.value.http_status == 429 and e.value.retry_after > 0


# --- connections and threads -----------------------------------------------------------


def test_keep_alive_uses_one_connection_for_many_calls(client):
    col = client.create_collection("k", dim=2, metric="l2")
    for i in range(20):
        col.upsert([f"p{i}"], [[i, 0]])
        assert col.search([i, 0], k=1)[0].id == f"p{i}"
    assert client._t.connections_opened == 1


def test_threads_share_one_client(client):
    col = client.create_collection("t", dim=4, metric="l2")
    rng = np.random.default_rng(9)
    vecs = rng.standard_normal((160, 4)).astype(np.float32)
    errors = []

    def work(t):
        try:
            ids = [f"t{t}-{i}" for i in range(20)]
            rows = vecs[t * 20:(t + 1) * 20]
            col.upsert(ids, rows)
            for i, v in zip(ids, rows):
                assert col.search(v, k=1, include=None)[0].id == i
                assert col[i].id == i
        except BaseException as e:  # Reported on the main thread.
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert col.count() == 160
    assert client._t.connections_opened <= 8


# --- retries, timeouts ------------------------------------------------------------------


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory):
    """One worker, a queue of one, debug routes (a request that holds the worker), a
    short idle timeout and a small body limit."""
    s = Serve(tmp_path_factory.mktemp("busy"), "--debug-routes", "--workers", "1", "--queue", "1",
              "--idle-timeout-ms", "300", "--max-body-bytes", "100000")
    yield s
    assert s.stop() == 0


def test_503_from_a_full_queue_is_retried_after_retry_after_for_idempotent_calls_only(busy_server):
    c = busy_server.client()
    col = c.get_or_create_collection("q", dim=2)
    col.upsert(["a"], [[1, 0]])
    control = busy_server.client()

    def state():
        return control._t.call("GET", "/v1/_debug/state", idempotent=True)

    holders = [threading.Thread(target=lambda: busy_server.client()._t.call(
        "POST", "/v1/_debug/block", {"ms": 60000}, idempotent=False)) for _ in range(2)]
    holders[0].start()
    wait_for(lambda: state()["blocked"] == 1, "the worker to be held")
    holders[1].start()
    wait_for(lambda: state()["queued"] == 1, "the queue to fill")

    # Not idempotent: the 503 is raised at once, with the server's Retry-After.
    slept = []
    c._t.sleep = slept.append
    with pytest.raises(vectron.UnavailableError) as e:
        c.create_collection("other", dim=2)
    assert e.value.http_status == 503 and e.value.retry_after == 1.0 and "busy" in str(e.value)
    assert slept == []

    # Idempotent: waits at least Retry-After (1 s), then the retry succeeds. The sleep
    # hook frees the server instead of sleeping.
    def release_all():
        # The queued holder starts blocking only once the first is released: release
        # until nothing is held or queued.
        control._t.call("POST", "/v1/_debug/release", {}, idempotent=False)
        return state() == {"blocked": 0, "queued": 0, "running": 0}

    def free_the_server(seconds):
        slept.append(seconds)
        wait_for(release_all, "the server to drain")

    c._t.sleep = free_the_server
    assert col.count() == 1
    assert len(slept) == 1 and 1.0 <= slept[0] <= 1.0 + c._t.backoff
    for h in holders:
        h.join()


def test_idle_connection_closed_by_the_server_is_not_reused(busy_server):
    c = busy_server.client()
    c.list_collections()
    sock = c._t._idle[0].sock
    # The server closes it after --idle-timeout-ms: the socket turns readable (EOF).
    wait_for(lambda: select.select([sock], [], [], 0)[0], "the server to close the idle connection")
    c.create_collection("after-idle", dim=2)  # Not idempotent: must not hit the dead socket.
    assert c._t.connections_opened == 2
    c.drop_collection("after-idle")


def test_errors_carry_the_servers_code_and_message(busy_server):
    c = busy_server.client()
    with pytest.raises(vectron.NotFoundError) as e:
        c.get_collection("nope")
    assert e.value.code == "not_found" and e.value.http_status == 404 and "nope" in str(e.value)
    col = c.get_or_create_collection("big", dim=64)
    with pytest.raises(vectron.InvalidArgumentError) as e:  # Over --max-body-bytes.
        col.upsert([f"i{i}" for i in range(1000)], np.ones((1000, 64), np.float32))
    assert e.value.code == "payload_too_large" and e.value.http_status == 413
    assert col.count() == 0


def test_an_answer_sent_before_the_body_is_read_even_if_the_send_then_fails():
    # A server (not vectron serve, which reads and drops such a body) that answers 413
    # once the headers are in, then resets the connection while the body still comes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def answer_and_reset():
            conn, _ = listener.accept()
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(65536)
            body = b'{"error": {"code": "payload_too_large", "message": "too big"}}'
            conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # A reset: the client's send fails.

        t = threading.Thread(target=answer_and_reset)
        t.start()
        c = vectron.connect(f"http://127.0.0.1:{listener.getsockname()[1]}", retries=0)
        # 64 MiB: more than the loopback socket buffers hold, so the send is still going.
        with pytest.raises(vectron.InvalidArgumentError) as e:
            c._t.call("PUT", "/v1/collections/x/points", raw=b" " * (64 << 20), idempotent=False)
        t.join()
    assert e.value.code == "payload_too_large" and e.value.http_status == 413


def test_connection_errors_are_retried_with_backoff_for_idempotent_calls_only():
    with socket.socket() as s:  # A free port with nothing listening: connection refused.
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    told = []
    c = vectron.connect(f"http://127.0.0.1:{port}", retries=3, backoff=0.1, backoff_max=0.25,
                        on_retry=lambda attempt, delay, err: told.append((attempt, delay, type(err))))
    slept = []
    c._t.sleep = slept.append
    c._t.random = lambda lo, hi: hi  # The largest delay the jitter may draw.
    with pytest.raises(vectron.ConnectionFailedError, match="after 4 attempts") as e:
        c.list_collections()
    assert isinstance(e.value, vectron.UnavailableError) and isinstance(e.value, ConnectionError)
    assert slept == [0.1, 0.2, 0.25]  # Doubling, capped at backoff_max.
    assert told == [(1, 0.1, vectron.ConnectionFailedError), (2, 0.2, vectron.ConnectionFailedError),
                    (3, 0.25, vectron.ConnectionFailedError)]
    slept.clear()
    with pytest.raises(vectron.ConnectionFailedError):
        c.create_collection("x", dim=2)
    assert slept == []  # Not idempotent: no retry.


def test_a_server_that_does_not_answer_times_out():
    with socket.socket() as listener:  # Accepts connections (backlog) and never answers.
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        c = vectron.connect(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.2)
        slept = []
        c._t.sleep = slept.append
        with pytest.raises(vectron.DeadlineExceededError, match="0.2 s") as e:
            c.list_collections()
        assert isinstance(e.value, TimeoutError) and isinstance(e.value, vectron.UnavailableError)
        assert slept == [] and c._t.connections_opened == 1


class ScriptedServer(http.server.BaseHTTPRequestHandler):
    """Answers from a script: a list of (status, headers, body) per request. A stand-in
    for the server where the real one cannot be made to answer 429 on cue."""

    script: list = []
    seen: list = []

    def _answer(self):
        self.seen.append((self.command, self.path))
        status, headers, body = self.script.pop(0)
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def test_429_is_retried_honouring_retry_after_unless_it_asks_too_much():
    err = {"error": {"code": "resource_exhausted", "message": "slow down"}}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ScriptedServer)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        c = vectron.connect(f"http://127.0.0.1:{httpd.server_address[1]}", retries=2)
        slept = []
        c._t.sleep = slept.append
        c._t.random = lambda lo, hi: 0.0
        ScriptedServer.script[:] = [(429, {"Retry-After": "2"}, err), (200, {}, {"collections": [{"name": "z"}]})]
        assert c.list_collections() == ["z"]
        assert slept == [2.0]
        slept.clear()
        ScriptedServer.script[:] = [(429, {"Retry-After": "3600"}, err)]
        with pytest.raises(vectron.ResourceExhaustedError, match="slow down") as e:
            c.list_collections()
        assert e.value.retry_after == 3600 and slept == []  # Past the call's 30 s deadline: raised at once.
        ScriptedServer.script[:] = [(429, {}, err)] * 3
        with pytest.raises(vectron.ResourceExhaustedError):
            c.list_collections()
        assert slept == [0.0, 0.0]  # retries=2: three attempts in all.
        assert all(p == "/v1/collections" for _, p in ScriptedServer.seen)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_walkthrough_example_runs_against_the_server(server):
    env = dict(os.environ, VECTRON_URL=server.url, VECTRON_CA=server.ca, VECTRON_PASSWORD=ADMIN_PASSWORD)
    env.pop("VECTRON_TOKEN", None)
    out = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for line in ("points: 6", "planets with moons near phobos: mars, earth", "moons: 2", "pluto: None",
                 "scroll: earth, mars, mercury, moon, phobos, venus",
                 "error: 400 invalid_argument: query vector has dimension 2", "deleted by filter: 2", "left: 3",
                 "done"):
        assert line in text, (line, text)
    assert text.splitlines()[2].startswith("hit earth ")
    assert "quickstart" not in server.client().list_collections()
