"""End-to-end tests of `vectron serve` over real loopback sockets: a real server process
on 127.0.0.1 with free ports (port 0), its addresses read from its "listening" lines.
Run by meson with VECTRON_BIN set."""
import http.client
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

BIN = os.environ.get("VECTRON_BIN", "vectron")


class Server:
    """A `vectron serve` process. These tests are about the API and the HTTP layer, so
    the server runs with --no-auth and (unless a certificate is given) --insecure-http;
    pass secure=True for the defaults (TLS and auth, tested in test_auth.py)."""

    def __init__(self, tmp_path, *extra, data=None, name="srv", secure=False, env=None):
        self.data = str(data or tmp_path / "data")
        self.log_path = tmp_path / f"{name}.log"
        self.log = open(self.log_path, "w")
        flags = []
        if not secure:
            flags = ["--no-auth"] + ([] if "--tls-cert" in extra else ["--insecure-http"])
        self.proc = subprocess.Popen(
            [BIN, "serve", "--db", self.data, "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0", *flags, *extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        self.lines = []
        self.http = self.rpc = None
        self.scheme = "http"
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.search(r"http listening on (https?)://([\d.]+):(\d+)", line)
            if m:
                self.scheme, self.host, self.port = m.group(1), m.group(2), int(m.group(3))
            m = re.search(r"rpc listening on ([\d.]+):(\d+)", line)
            if m:
                self.rpc = (m.group(1), int(m.group(2)))
            if "ready" in line:
                break
        assert self.port, f"server did not start: {self.lines} {open(self.log_path).read()}"

    def conn(self, timeout=30):
        if self.scheme == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def call(self, method, path, body=None, conn=None, raw=None):
        c = conn or self.conn()
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        text = r.read().decode()
        if conn is None:
            c.close()
        ctype = r.getheader("Content-Type", "")
        return r.status, (json.loads(text) if ctype.startswith("application/json") else text), r

    def raw_socket(self):
        s = socket.create_connection((self.host, self.port), timeout=30)
        return s

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rest = self.proc.stdout.read()
        code = self.proc.wait(timeout=60)
        self.lines.append(rest)
        self.log.close()
        return code


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    yield s
    s.stop()


def recv_all(sock):
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out


def recv_to_eof(sock):
    """Everything the server sends until it closes; unlike recv_all, a reset fails the test
    (it can destroy a response the client has not read yet)."""
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def read_one_response(sock):
    """One Content-Length framed response: (status, lower-cased headers, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {buf!r}"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    n = int(headers.get("content-length", 0))
    while len(rest) < n:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response body"
        rest += chunk
    assert len(rest) == n, "bytes after the response"
    return int(lines[0].split()[1]), headers, rest


def parse_responses(data):
    """Splits concatenated HTTP/1.1 responses (Content-Length framed)."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        n = int(headers.get("content-length", 0))
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


def create(server, name="docs", dim=3, metric="l2", **kw):
    st, body, _ = server.call("POST", "/v1/collections", {"name": name, "dim": dim, "metric": metric, **kw})
    assert st == 201, body
    return body


def assert_error(status, body, want_status, want_code, fragment=""):
    assert status == want_status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == want_code, body
    assert fragment in body["error"]["message"], body


# ---------------------------------------------------------------- API

def test_collections_create_list_get_delete(server):
    body = create(server, "docs", dim=4, metric="cosine", hnsw={"m": 8, "ef_search": 32}, shards=2)
    assert body["name"] == "docs" and body["config"]["dim"] == 4 and body["config"]["shards"] == 2
    assert body["config"]["hnsw"]["m"] == 8 and body["config"]["hnsw"]["ef_search"] == 32
    assert_error(*server.call("POST", "/v1/collections", {"name": "docs", "dim": 4})[:2], 409, "already_exists")
    assert_error(*server.call("POST", "/v1/collections", {"name": "bad name", "dim": 4})[:2], 400, "invalid_argument")
    assert_error(*server.call("POST", "/v1/collections", {"name": "x"})[:2], 400, "invalid_argument", '"dim" is required')
    assert_error(*server.call("POST", "/v1/collections", {"name": "x", "dim": 3, "metric": "hamming"})[:2], 400,
                 "invalid_argument", "hamming")
    assert_error(*server.call("POST", "/v1/collections", {"name": "x", "dim": 3, "colour": 1})[:2], 400,
                 "invalid_argument", 'unknown field "colour"')
    st, body, _ = server.call("GET", "/v1/collections")
    assert st == 200 and len(body["collections"]) == 1
    (c,) = body["collections"]
    assert {k: c[k] for k in ("name", "dim", "metric", "shards", "count")} == {
        "name": "docs", "dim": 4, "metric": "cosine", "shards": 2, "count": 0}
    # Size and index too (the console's collection table).
    assert c["index_kind"] == "flat" and c["index_memory_bytes"] >= 0 and c["disk_bytes"] > 0
    st, body, _ = server.call("GET", "/v1/collections/docs")
    assert st == 200 and body["stats"]["count"] == 0 and body["config"]["metric"] == "cosine"
    st, body, _ = server.call("DELETE", "/v1/collections/docs")
    assert st == 200 and body == {"name": "docs", "dropped": True}
    assert_error(*server.call("GET", "/v1/collections/docs")[:2], 404, "not_found")
    assert_error(*server.call("DELETE", "/v1/collections/docs")[:2], 404, "not_found")


def test_points_upsert_get_delete_count_scroll(server):
    create(server)
    pts = [{"id": f"p{i:03d}", "vector": [i, 1, 0], "metadata": {"i": i}} for i in range(250)]
    st, body, _ = server.call("PUT", "/v1/collections/docs/points", {"points": pts})
    assert st == 200 and body == {"upserted": 250}
    st, body, _ = server.call("POST", "/v1/collections/docs/points/get", {"ids": ["p001", "nope", "p002"]})
    assert st == 200 and body["not_found"] == ["nope"]
    assert body["points"] == [{"id": "p001", "vector": [1, 1, 0], "metadata": {"i": 1}},
                              {"id": "p002", "vector": [2, 1, 0], "metadata": {"i": 2}}]
    st, body, _ = server.call("POST", "/v1/collections/docs/points/get", {"ids": ["p001"], "include": ["metadata"]})
    assert body["points"] == [{"id": "p001", "metadata": {"i": 1}}]
    assert server.call("POST", "/v1/collections/docs/count", {})[1] == {"count": 250}
    st, body, _ = server.call("POST", "/v1/collections/docs/points/delete", {"ids": ["p000", "p001", "gone"]})
    assert st == 200 and body == {"deleted": 2}
    assert server.call("POST", "/v1/collections/docs/count")[1] == {"count": 248}
    seen, cursor = [], None
    while True:
        req = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        st, page, _ = server.call("POST", "/v1/collections/docs/scroll", req)
        assert st == 200 and len(page["points"]) <= 100
        seen += [p["id"] for p in page["points"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(p["id"] for p in pts[2:])
    # Integer ids are accepted and stored as their decimal text.
    st, body, _ = server.call("PUT", "/v1/collections/docs/points", {"points": [{"id": 7, "vector": [0, 0, 1]}]})
    assert st == 200
    assert server.call("POST", "/v1/collections/docs/points/get", {"ids": ["7"]})[1]["points"][0]["id"] == "7"


def test_search_single_and_batch(server):
    create(server)
    pts = [{"id": str(i), "vector": [i, 0, 0], "metadata": {"i": i}} for i in range(20)]
    server.call("PUT", "/v1/collections/docs/points", {"points": pts})
    st, body, _ = server.call("POST", "/v1/collections/docs/search", {"vector": [5.1, 0, 0], "k": 3})
    assert st == 200 and [h["id"] for h in body["hits"]] == ["5", "6", "4"]
    assert set(body["hits"][0]) == {"id", "score"} and abs(body["hits"][0]["score"] - 0.01) < 1e-4
    st, body, _ = server.call("POST", "/v1/collections/docs/search",
                              {"vector": [5.1, 0, 0], "k": 1, "include": ["metadata", "vector"], "ef": 32})
    assert body["hits"] == [{"id": "5", "score": pytest.approx(0.01, abs=1e-4), "metadata": {"i": 5}, "vector": [5, 0, 0]}]
    st, body, _ = server.call("POST", "/v1/collections/docs/search",
                              {"vectors": [[0, 0, 0], [19, 0, 0]], "k": 2, "exact": True})
    assert st == 200 and [[h["id"] for h in r["hits"]] for r in body["results"]] == [["0", "1"], ["19", "18"]]


def test_bad_input_gets_a_clear_error_and_changes_nothing(server):
    create(server)
    s = "/v1/collections/docs/search"
    cases = [
        (s, {"vector": [1, 2], "k": 1}, 400, "dimension"),
        (s, {"vector": [1, 2, 3], "k": 0}, 400, '"k"'),
        (s, {"vector": [1, "x", 3]}, 400, "vector[1] is not a number"),
        (s, {"vector": [1, 2, 3], "vectors": [[1, 2, 3]]}, 400, "exactly one"),
        (s, {"vectors": [[1, 2, 3], [1, 2]]}, 400, "vectors[1]"),
        (s, {"vector": [1, 2, 3], "include": ["colour"]}, 400, "include"),
        ("/v1/collections/nope/search", {"vector": [1, 2, 3]}, 404, "nope"),
        ("/v1/collections/docs/points/get", {"ids": "a"}, 400, '"ids"'),
        ("/v1/collections/docs/points/delete", {}, 400, "exactly one"),
        ("/v1/collections/docs/scroll", {"limit": 0}, 400, '"limit"'),
    ]
    for path, body, status, frag in cases:
        st, got, _ = server.call("POST", path, body)
        assert_error(st, got, status, "invalid_argument" if status == 400 else "not_found", frag)
    # A batch with one bad point writes nothing.
    st, body, _ = server.call("PUT", "/v1/collections/docs/points", {"points": [
        {"id": "ok", "vector": [1, 2, 3]}, {"id": "short", "vector": [1, 2]}]})
    assert_error(st, body, 400, "invalid_argument")
    st, body, _ = server.call("PUT", "/v1/collections/docs/points", {"points": [{"id": "m", "vector": [1, 2, 3], "metadata": [1]}]})
    assert_error(st, body, 400, "invalid_argument", "points[0].metadata must be a JSON object")
    assert server.call("POST", "/v1/collections/docs/count")[1] == {"count": 0}
    # Malformed JSON, non-object body, empty body.
    st, body, _ = server.call("POST", s, raw='{"vector": [1, 2')
    assert_error(st, body, 400, "invalid_argument", "not valid JSON")
    st, body, _ = server.call("POST", s, raw="[1, 2, 3]")
    assert_error(st, body, 400, "invalid_argument", "JSON object")
    st, body, _ = server.call("PUT", "/v1/collections/docs/points", raw="")
    assert_error(st, body, 400, "invalid_argument", "empty")
    # Unknown route, wrong method.
    assert_error(*server.call("GET", "/v1/nothing")[:2], 404, "not_found", "no route")
    st, body, r = server.call("PATCH", "/v1/collections/docs")
    assert_error(st, body, 405, "method_not_allowed")
    assert r.getheader("Allow") == "GET, DELETE"


def test_operations_routes_and_metrics(server):
    create(server)
    server.call("PUT", "/v1/collections/docs/points", {"points": [{"id": "a", "vector": [1, 2, 3]}]})
    for _ in range(3):
        server.call("POST", "/v1/collections/docs/search", {"vector": [1, 2, 3]})
    server.call("POST", "/v1/collections/nope/search", {"vector": [1, 2, 3]})
    assert server.call("GET", "/healthz")[:2] == (200, {"status": "ok"})
    assert server.call("GET", "/readyz")[:2] == (200, {"status": "ready"})
    st, text, r = server.call("GET", "/metrics")
    assert st == 200 and r.getheader("Content-Type").startswith("text/plain")
    assert 'vectron_http_requests_total{method="POST",route="/v1/collections/{name}/search",status="200"} 3' in text
    assert 'vectron_http_requests_total{method="POST",route="/v1/collections/{name}/search",status="404"} 1' in text
    assert re.search(r'vectron_http_request_duration_seconds_bucket\{method="POST",'
                     r'route="/v1/collections/\{name\}/search",le="\+Inf"\} 4', text)
    assert 'vectron_collection_points{collection="docs"} 1' in text
    assert re.search(r'vectron_collection_disk_bytes\{collection="docs"\} [1-9]', text)
    assert "vectron_worker_queue_depth 0" in text
    # Every line is a comment or "name{labels} value".
    for line in text.strip().split("\n"):
        assert line.startswith("#") or re.fullmatch(r'[a-z_]+(\{.*\})? [0-9.e+-]+', line), line
    st, doc, _ = server.call("GET", "/openapi.json")
    assert st == 200 and doc["openapi"].startswith("3.")
    for path in ["/v1/collections", "/v1/collections/{name}", "/v1/collections/{name}/points",
                 "/v1/collections/{name}/points/get", "/v1/collections/{name}/points/delete",
                 "/v1/collections/{name}/count", "/v1/collections/{name}/scroll", "/v1/collections/{name}/search",
                 "/v1/collections/{name}/indexes", "/v1/collections/{name}/indexes/{field}", "/healthz", "/readyz",
                 "/metrics"]:
        assert path in doc["paths"], path
    # One log line per request.
    log = open(server.log_path).read()
    assert re.search(r'info http 127\.0\.0\.1:\d+ "POST /v1/collections/nope/search" 404 \d+B [\d.]+ms', log), log


def test_busy_poll_after_loop_run_reads(tmp_path):
    # A lone client's searches run on the loop once it has been the only active
    # connection for 10 ms; after each, the loop polls (here up to 100 ms) instead of
    # sleeping. Searches answer as without it, and /metrics counts the polling passes.
    srv = Server(tmp_path, "--busy-poll-us", "100000")
    try:
        create(srv)
        srv.call("PUT", "/v1/collections/docs/points",
                 {"points": [{"id": f"p{i}", "vector": [i, 0, 1]} for i in range(20)]})
        c = srv.conn()
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < 0.05 or n < 20:  # Past the gate's 10 ms window.
            st, body, _ = srv.call("POST", "/v1/collections/docs/search", {"vector": [n % 20, 0, 1], "k": 1}, conn=c)
            assert st == 200 and body["hits"][0]["id"] == f"p{n % 20}", body
            n += 1
        c.close()
        st, text, _ = srv.call("GET", "/metrics")
        inline = int(re.search(r"^vectron_inline_requests_total (\d+)$", text, re.M).group(1))
        polls = int(re.search(r"^vectron_busy_polls_total (\d+)$", text, re.M).group(1))
        assert inline > 0 and polls > 0, (n, inline, polls)
    finally:
        assert srv.stop() == 0
    bad = subprocess.run([BIN, "serve", "--db", str(tmp_path / "d2"), "--no-auth", "--insecure-http",
                          "--busy-poll-us", "2000000"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--busy-poll-us must be at most" in bad.stderr, bad.stderr


# ---------------------------------------------------------------- HTTP transport

def test_keep_alive_and_pipelining(server):
    create(server)
    c = server.conn()
    for i in range(5):
        st, body, r = server.call("POST", "/v1/collections/docs/count", {}, conn=c)
        assert st == 200 and r.getheader("Connection") == "keep-alive"
    c.close()
    s = server.raw_socket()
    body = b'{"vector": [1, 2, 3], "k": 1}'
    reqs = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /v1/collections/docs/count HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
            b"GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /v1/collections/docs/search HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n\r\n" + body +
            b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    s.sendall(reqs)
    got = parse_responses(recv_all(s))
    assert [g[0] for g in got] == [200, 200, 404, 200, 200]
    assert json.loads(got[1][2]) == {"count": 0} and json.loads(got[3][2])["hits"] == [] and len(json.loads(got[3][2])["query_id"]) == 32
    assert got[4][1]["connection"] == "close"
    # Byte-by-byte delivery parses the same.
    s = server.raw_socket()
    for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n":
        s.send(bytes([b]))
    assert parse_responses(recv_all(s))[0][0] == 200


def test_malformed_http_gets_400_and_close(server):
    s = server.raw_socket()
    s.sendall(b"GARBAGE NONSENSE\r\n\r\n")
    got = parse_responses(recv_all(s))
    assert got[0][0] == 400 and json.loads(got[0][2])["error"]["code"] == "bad_request"
    # A good request pipelined before the bad one is still answered first.
    s = server.raw_socket()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
    got = parse_responses(recv_all(s))
    assert [g[0] for g in got] == [200, 400]


def test_limits_body_and_headers(tmp_path):
    srv = Server(tmp_path, "--max-body-bytes", "1000", "--max-header-bytes", "2048")
    try:
        create(srv)
        # Declared too large: answered 413 before the body is read, then closed.
        s = srv.raw_socket()
        s.sendall(b"PUT /v1/collections/docs/points HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        got = parse_responses(recv_all(s))
        assert got[0][0] == 413 and json.loads(got[0][2])["error"]["code"] == "payload_too_large"
        assert "1000" in json.loads(got[0][2])["error"]["message"]
        # Chunked bodies are counted as they stream.
        s = srv.raw_socket()
        s.sendall(b"PUT /v1/collections/docs/points HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + (b"200\r\n" + b"x" * 512 + b"\r\n") * 3 + b"0\r\n\r\n")
        assert parse_responses(recv_all(s))[0][0] == 413
        s = srv.raw_socket()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n")
        assert parse_responses(recv_all(s))[0][0] == 431
        # Under the limits all is well, and nothing was written by the refused requests.
        assert srv.call("POST", "/v1/collections/docs/count")[1] == {"count": 0}
    finally:
        assert srv.stop() == 0


def test_a_client_sending_an_oversize_body_in_full_reads_the_413(tmp_path):
    # The 413 goes out once the headers are in; the body still arriving is read and
    # dropped, and only then is the connection closed, so the sender neither fails
    # mid-send nor gets a reset that destroys the unread 413.
    srv = Server(tmp_path, "--max-body-bytes", "1000")
    try:
        create(srv)
        body = b"x" * (4 << 20)
        s = srv.raw_socket()
        s.sendall(b"PUT /v1/collections/docs/points HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        s.sendall(body)  # Raises on a reset.
        got = parse_responses(recv_to_eof(s))  # Ends at a clean close, fails on a reset.
        assert len(got) == 1, got
        status, headers, text = got[0]
        assert status == 413 and headers["connection"] == "close", got
        err = json.loads(text)["error"]
        assert err["code"] == "payload_too_large" and "4194304 bytes exceeds the limit of 1000" in err["message"]
        s.close()
        # A request pipelined after the refused body is not read: one answer, then the close.
        s = srv.raw_socket()
        s.sendall(b"PUT /v1/collections/docs/points HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n"
                  + b"y" * 2000 + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert [g[0] for g in parse_responses(recv_to_eof(s))] == [413]
        s.close()
        assert srv.call("POST", "/v1/collections/docs/count")[1] == {"count": 0}
    finally:
        assert srv.stop() == 0


def test_an_oversize_body_is_dropped_only_up_to_the_cap_and_the_request_timeout(tmp_path):
    srv = Server(tmp_path, "--max-body-bytes", "1000", "--max-discard-bytes", "100000",
                 "--request-timeout-ms", "300")
    try:
        create(srv)
        head = b"PUT /v1/collections/docs/points HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (1 << 30)
        # A client that keeps sending past --max-discard-bytes is cut off.
        s = srv.raw_socket()
        s.sendall(head + b"z" * 5000)
        status, headers, _ = read_one_response(s)  # Answered before the body is in.
        assert status == 413 and headers["connection"] == "close"
        sent = 5000
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            while sent < (64 << 20):  # Far past the cap plus both sockets' buffers.
                s.sendall(b"z" * 65536)
                sent += 65536
        s.close()
        # One that stops sending is cut off at the request timeout.
        s = srv.raw_socket()
        s.sendall(head + b"z" * 5000)
        assert read_one_response(s)[0] == 413
        assert recv_all(s) == b""  # Closed (not waiting for the rest of the gigabyte).
        s.close()
        # "Expect: 100-continue": the 413 instead of "100 Continue", and closed at once.
        s = srv.raw_socket()
        s.settimeout(5)  # Far below the request timeout would be needed if it waited.
        s.sendall(b"PUT /v1/collections/docs/points HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
        got = parse_responses(recv_to_eof(s))
        assert [g[0] for g in got] == [413]
        s.close()
        assert srv.call("GET", "/healthz")[0] == 200
    finally:
        assert srv.stop() == 0


def test_slow_request_and_idle_timeouts(tmp_path):
    srv = Server(tmp_path, "--request-timeout-ms", "300", "--idle-timeout-ms", "400")
    try:
        s = srv.raw_socket()
        t0 = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # ... and never finish (slowloris)
        got = parse_responses(recv_all(s))
        assert got[0][0] == 408 and time.monotonic() - t0 >= 0.3
        s = srv.raw_socket()  # Idle keep-alive connection: closed without a response.
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = recv_all(s)
        assert [g[0] for g in parse_responses(data)] == [200]
    finally:
        assert srv.stop() == 0


def test_full_queue_answers_503_with_retry_after(tmp_path):
    srv = Server(tmp_path, "--workers", "1", "--queue", "1", "--debug-routes")
    try:
        create(srv)
        results = []
        def block():
            results.append(srv.call("POST", "/v1/_debug/block", {"ms": 60000})[:2])
        def state():
            return srv.call("GET", "/v1/_debug/state")[1]
        def wait_for(pred):
            deadline = time.monotonic() + 30
            while not pred():
                assert time.monotonic() < deadline, state()
                time.sleep(0.01)
        a = threading.Thread(target=block)
        a.start()
        wait_for(lambda: state()["blocked"] == 1)
        b = threading.Thread(target=block)
        b.start()
        wait_for(lambda: state()["queued"] == 1)
        st, body, r = srv.call("POST", "/v1/collections/docs/count", {})
        assert_error(st, body, 503, "unavailable", "busy")
        assert r.getheader("Retry-After") == "1"
        assert srv.call("GET", "/healthz")[0] == 200  # Loop-thread routes still answer.
        srv.call("POST", "/v1/_debug/release", {})
        a.join(30)
        wait_for(lambda: state()["blocked"] == 1)  # b now runs
        srv.call("POST", "/v1/_debug/release", {})
        b.join(30)
        assert results == [(200, {"released": True})] * 2
        assert srv.call("POST", "/v1/collections/docs/count", {})[:2] == (200, {"count": 0})
        text = srv.call("GET", "/metrics")[1]
        assert 'route="/v1/collections/{name}/count",status="503"} 1' in text
    finally:
        assert srv.stop() == 0


def test_sigterm_finishes_in_flight_requests_then_exits_0(tmp_path):
    srv = Server(tmp_path, "--debug-routes")
    create(srv)
    srv.call("PUT", "/v1/collections/docs/points", {"points": [{"id": "a", "vector": [1, 2, 3]}]})
    results = []
    t = threading.Thread(target=lambda: results.append(srv.call("POST", "/v1/_debug/block", {"ms": 1500})[:2]))
    t.start()
    deadline = time.monotonic() + 30
    while srv.call("GET", "/v1/_debug/state")[1]["blocked"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    srv.proc.send_signal(signal.SIGTERM)
    # New connections are refused once the listener closes.
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection((srv.host, srv.port), timeout=5).close()
        except OSError:
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    t.join(30)
    assert results == [(200, {"released": False})]  # The in-flight request completed.
    # The one SIGTERM ends it: waited for, not sent again (a second one during the final
    # checkpoint, once the handler is gone, would kill it).
    assert srv.proc.wait(timeout=60) == 0
    assert srv.stop() == 0
    assert "vectron serve: stopped" in "".join(srv.lines)
    srv2 = Server(tmp_path, data=srv.data, name="srv2")
    try:
        assert srv2.call("POST", "/v1/collections/docs/count")[1] == {"count": 1}
    finally:
        assert srv2.stop() == 0


def test_kill_9_keeps_acknowledged_writes(tmp_path):
    srv = Server(tmp_path)
    create(srv)
    c = srv.conn()
    acked = []
    for i in range(40):
        st, _, _ = srv.call("PUT", "/v1/collections/docs/points",
                            {"points": [{"id": f"w{i}", "vector": [i, 1, 1], "metadata": {"i": i}}]}, conn=c)
        assert st == 200
        acked.append(f"w{i}")
    srv.proc.kill()
    srv.stop()
    srv2 = Server(tmp_path, data=srv.data, name="srv2")
    try:
        st, body, _ = srv2.call("POST", "/v1/collections/docs/points/get", {"ids": acked})
        assert st == 200 and body["not_found"] == [] and len(body["points"]) == 40
    finally:
        assert srv2.stop() == 0


def test_tls_on_http_port(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    srv = Server(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert srv.scheme == "https"
        assert srv.call("GET", "/healthz")[:2] == (200, {"status": "ok"})
        create(srv)
        c = srv.conn()
        for _ in range(3):  # keep-alive over TLS
            assert srv.call("POST", "/v1/collections/docs/count", {}, conn=c)[:2] == (200, {"count": 0})
        # Verified against the self-signed certificate.
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        vc = http.client.HTTPSConnection(srv.host, srv.port, context=ctx, timeout=30)
        assert srv.call("GET", "/readyz", conn=vc)[0] == 200
        # The RPC port speaks TLS too: a frame that is not a Request gets an error frame.
        raw = socket.create_connection(srv.rpc, timeout=30)
        rs = ssl.create_default_context(cafile=str(cert))
        rs.check_hostname = False
        tls = rs.wrap_socket(raw)
        tls.sendall(struct.pack("<I", 8) + b"notaflat")
        n = struct.unpack("<I", tls.recv(4))[0]
        payload = b""
        while len(payload) < n:
            payload += tls.recv(n - len(payload))
        assert b"invalid_argument" in payload
        tls.close()
        # Plain HTTP on the TLS port does not get an HTTP answer.
        s = srv.raw_socket()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not recv_all(s).startswith(b"HTTP/1.1")
    finally:
        assert srv.stop() == 0
    p = subprocess.run([BIN, "serve", "--db", str(tmp_path / "d2"), "--http", "127.0.0.1:0", "--tls-cert", str(cert),
                        "--tls-key", str(tmp_path / "missing.pem")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--tls-key" in p.stderr


def test_serve_on_host_names(tmp_path):
    p = subprocess.Popen([BIN, "serve", "--db", str(tmp_path / "d"), "--http", "localhost:0", "--rpc", "localhost:0",
                          "--insecure-http", "--no-auth",
                          "--no-request-log"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in p.stdout:
            lines.append(line)
            if "ready" in line:
                break
        text = "".join(lines)
        m = re.search(r"http listening on http://localhost:(\d+)", text)
        assert m, text
        assert re.search(r"rpc listening on localhost:\d+", text), text
        c = http.client.HTTPConnection("localhost", int(m.group(1)), timeout=30)
        c.request("GET", "/healthz")
        assert c.getresponse().status == 200
        c.close()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 0
    bad = subprocess.run([BIN, "serve", "--db", str(tmp_path / "d2"), "--http", "no-such-host.invalid:0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no-such-host.invalid" in bad.stderr


def test_bad_command_line(tmp_path):
    p = subprocess.run([BIN, "serve", "--db", str(tmp_path / "d"), "--http", "localhost"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "HOST:PORT" in p.stderr
    srv = Server(tmp_path)
    try:
        p = subprocess.run([BIN, "serve", "--db", str(tmp_path / "d3"), "--http", f"127.0.0.1:{srv.port}",
                            "--rpc", "127.0.0.1:0", "--no-auth", "--insecure-http"], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 1 and "address already in use" in p.stderr
    finally:
        assert srv.stop() == 0


# ---------------------------------------------------------------- filters

def test_where_on_search_count_scroll_delete_and_payload_indexes(server):
    create(server)
    pts = [{"id": f"p{i:02d}", "vector": [i, 0, 0], "metadata": {"genre": "jazz" if i % 2 else "rock", "year": 1950 + i}}
           for i in range(40)]
    server.call("PUT", "/v1/collections/docs/points", {"points": pts})
    s = "/v1/collections/docs"
    st, body, _ = server.call("POST", s + "/indexes", {"field": "genre", "type": "keyword"})
    assert st == 201 and body == {"field": "genre", "type": "keyword"}
    assert server.call("POST", s + "/indexes", {"field": "year", "type": "integer"})[0] == 201
    assert_error(*server.call("POST", s + "/indexes", {"field": "genre", "type": "keyword"})[:2], 409, "already_exists")
    assert_error(*server.call("POST", s + "/indexes", {"field": "x", "type": "blob"})[:2], 400, "invalid_argument", "blob")
    st, body, _ = server.call("GET", s + "/indexes")
    assert st == 200 and sorted(body["indexes"], key=lambda x: x["field"]) == [
        {"field": "genre", "type": "keyword"}, {"field": "year", "type": "integer"}]
    where = {"genre": "jazz", "year": {"$gte": 1960}}
    st, body, _ = server.call("POST", s + "/search", {"vector": [0, 0, 0], "k": 3, "where": where, "include": ["metadata"]})
    assert st == 200 and [h["id"] for h in body["hits"]] == ["p11", "p13", "p15"]
    assert all(h["metadata"]["genre"] == "jazz" for h in body["hits"])
    st, body, _ = server.call("POST", s + "/search", {"vectors": [[0, 0, 0], [39, 0, 0]], "k": 1, "where": where})
    assert [r["hits"][0]["id"] for r in body["results"]] == ["p11", "p39"]
    assert server.call("POST", s + "/count", {"where": where})[1] == {"count": 15}
    assert server.call("POST", s + "/count", {"where": {"genre": "rock"}})[1] == {"count": 20}
    st, page, _ = server.call("POST", s + "/scroll", {"limit": 100, "where": {"year": {"$lt": 1953}}})
    assert [p["id"] for p in page["points"]] == ["p00", "p01", "p02"] and page["next_cursor"] is None
    st, body, _ = server.call("POST", s + "/search", {"vector": [0, 0, 0], "where": {"year": {"$bogus": 1}}})
    assert_error(st, body, 400, "invalid_argument", "$bogus")
    assert_error(*server.call("POST", s + "/count", {"where": "genre = jazz"})[:2], 400, "invalid_argument", "JSON object")
    st, body, _ = server.call("POST", s + "/points/delete", {"where": {"genre": "rock"}})
    assert st == 200 and body == {"deleted": 20}
    assert server.call("POST", s + "/count")[1] == {"count": 20}
    st, body, _ = server.call("DELETE", s + "/indexes/genre")
    assert st == 200 and body == {"field": "genre", "dropped": True}
    assert_error(*server.call("DELETE", s + "/indexes/genre")[:2], 404, "not_found")
    assert server.call("GET", s + "/indexes")[1] == {"indexes": [{"field": "year", "type": "integer"}]}


def test_large_bodies_and_http_1_0(server):
    create(server, "big", dim=128)
    pts = [{"id": f"b{i}", "vector": [float(i)] + [((i * 7 + j) % 101) / 10.0 for j in range(127)], "metadata": {"i": i}}
           for i in range(3000)]
    body = json.dumps({"points": pts})
    assert len(body) > 2_000_000
    st, got, _ = server.call("PUT", "/v1/collections/big/points", raw=body)
    assert st == 200 and got == {"upserted": 3000}
    st, got, _ = server.call("POST", "/v1/collections/big/search",
                             {"vectors": [p["vector"] for p in pts[:200]], "k": 1, "include": ["vector"]})
    assert st == 200 and [r["hits"][0]["id"] for r in got["results"]] == [p["id"] for p in pts[:200]]
    st, got, _ = server.call("POST", "/v1/collections/big/scroll", {"limit": 3000, "include": ["vector"]})
    assert st == 200 and len(got["points"]) == 3000 and len(got["points"][0]["vector"]) == 128
    # HTTP/1.0 without keep-alive: answered, then closed.
    s = server.raw_socket()
    s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
    got = parse_responses(recv_all(s))
    assert got[0][0] == 200 and got[0][1]["connection"] == "close"


def test_sigterm_under_load_answers_or_refuses_cleanly(tmp_path):
    srv = Server(tmp_path, "--no-request-log")
    create(srv)
    srv.call("PUT", "/v1/collections/docs/points",
             {"points": [{"id": str(i), "vector": [i, 1, 2]} for i in range(500)]})
    statuses, errors, started = [], [], threading.Barrier(5)

    def client():
        c = srv.conn(timeout=30)
        started.wait()
        for i in range(100000):
            try:
                st, body, r = srv.call("POST", "/v1/collections/docs/search", {"vector": [i % 500, 1, 2], "k": 3}, conn=c)
                statuses.append(st)
                if r.getheader("Connection") == "close":
                    c.close()
                    c = srv.conn(timeout=30)
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                errors.append(type(e).__name__)
                return

    ts = [threading.Thread(target=client) for _ in range(4)]
    for t in ts:
        t.start()
    started.wait()
    deadline = time.monotonic() + 30
    while len(statuses) < 200:  # Under load before the signal.
        assert time.monotonic() < deadline
        time.sleep(0.01)
    srv.proc.send_signal(signal.SIGTERM)
    for t in ts:
        t.join(60)
    assert srv.proc.wait(timeout=60) == 0  # The one SIGTERM ends it (see the drain test above).
    assert srv.stop() == 0
    assert set(statuses) <= {200}, set(statuses)  # Every answered request succeeded.
    assert len(errors) == 4  # Each client ended on a refused / closed connection.
