"""How `vectron serve` serves the web console (net/api/console.cc): redirects, the
embedded files with their content types and caching, the security headers on every
console response, gzip, ETags, the console's own paths falling back to index.html,
refusals (404, 405), no file system reachable through the path, no token needed for
the files (only for the API behind them), --no-console, and the collection list's
size fields the console shows. Works whether or not the console was built into the
binary (without Node.js it serves a page saying so). Run by meson with VECTRON_BIN."""
import gzip
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_serve import Server, recv_all  # noqa: E402
from test_auth import ADMIN_PASSWORD, call, login, secure_server  # noqa: E402

CSP_PARTS = ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
             "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]


def built(srv):
    line = next(ln for ln in srv.lines if "vectron serve: console" in ln)
    return "not built" not in line


def get(srv, path, headers=None):
    c = srv.conn()
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body


def check_security_headers(r):
    csp = r.getheader("Content-Security-Policy", "")
    for part in CSP_PARTS:
        assert part in csp, csp
    assert "unsafe" not in csp
    assert r.getheader("X-Content-Type-Options") == "nosniff"
    assert r.getheader("X-Frame-Options") == "DENY"
    assert r.getheader("Referrer-Policy") == "no-referrer"
    assert r.getheader("Cross-Origin-Opener-Policy") == "same-origin"


@pytest.fixture
def srv(tmp_path):
    s = Server(tmp_path)
    yield s
    assert s.stop() == 0


def test_redirects_to_the_console(srv):
    r, _ = get(srv, "/")
    assert r.status == 302 and r.getheader("Location") == "/console/"
    r, _ = get(srv, "/console")
    assert r.status == 308 and r.getheader("Location") == "/console/"
    # Other methods on / are the API's business: no route.
    st, body, _ = srv.call("POST", "/", {})
    assert st == 404 and body["error"]["code"] == "not_found"


def test_index_and_assets_with_security_headers_caching_and_gzip(srv):
    r, index = get(srv, "/console/")
    assert r.getheader("Content-Type") == "text/html; charset=utf-8"
    check_security_headers(r)
    assert r.getheader("Cache-Control") == "no-cache"
    etag = r.getheader("ETag")
    assert re.fullmatch(r'"[0-9a-f]{20}"', etag)
    if not built(srv):
        assert r.status == 404 and b"not in this build" in index
        return
    assert r.status == 200 and b'<div id="root">' in index
    # Conditional GET: unchanged, so 304 without a body.
    r2, body2 = get(srv, "/console/", {"If-None-Match": etag})
    assert r2.status == 304 and body2 == b""
    check_security_headers(r2)
    # Every asset index.html names is served with its type, cacheable for good.
    assets = re.findall(rb'(?:src|href)="(/console/assets/[^"]+)"', index)
    assert any(a.endswith(b".js") for a in assets) and any(a.endswith(b".css") for a in assets)
    for a in assets:
        ra, plain = get(srv, a.decode())
        assert ra.status == 200
        assert ra.getheader("Cache-Control") == "public, max-age=31536000, immutable"
        want = "text/javascript" if a.endswith(b".js") else "text/css"
        assert ra.getheader("Content-Type").startswith(want)
        check_security_headers(ra)
        # gzip for clients that take it, the same bytes once decompressed.
        rz, zipped = get(srv, a.decode(), {"Accept-Encoding": "gzip, deflate"})
        assert rz.getheader("Content-Encoding") == "gzip" and rz.getheader("Vary") == "Accept-Encoding"
        assert gzip.decompress(zipped) == plain and len(zipped) < len(plain)
        rq, body = get(srv, a.decode(), {"Accept-Encoding": "gzip;q=0, identity"})
        assert rq.getheader("Content-Encoding") is None and body == plain
    r3, _ = get(srv, "/console/favicon.svg")
    assert r3.status == 200 and r3.getheader("Content-Type") == "image/svg+xml"


def test_console_paths_fall_back_to_index_and_missing_files_are_404(srv):
    _, index = get(srv, "/console/")
    for path in ["/console/collections", "/console/collections/docs/points", "/console/keys?x=1"]:
        r, body = get(srv, path)
        assert body == index, path
        check_security_headers(r)
    if built(srv):
        r, body = get(srv, "/console/assets/missing-abc.js")
        assert r.status == 404 and b"no file" in body
        check_security_headers(r)


def test_other_methods_are_refused(srv):
    for method in ["POST", "PUT", "DELETE"]:
        st, body, r = srv.call(method, "/console/", {})
        assert st == 405 and body["error"]["code"] == "method_not_allowed", body
        assert r.getheader("Allow") == "GET"


def test_the_path_reaches_no_file_system(srv):
    _, index = get(srv, "/console/")
    for raw in [b"/console/../../../../etc/passwd", b"/console/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                b"/console/..%2f..%2fetc%2fpasswd", b"/console/assets/../../../../etc/hostname",
                b"/console//etc/passwd", b"/console/%00"]:
        s = srv.raw_socket()
        s.sendall(b"GET " + raw + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        resp = recv_all(s)
        s.close()
        head, _, body = resp.partition(b"\r\n\r\n")
        assert b"root:" not in body, raw
        status = int(head.split(b" ")[1])
        # Either the console's index (a path of the console) or a refusal; never a file.
        assert body == index or status in (400, 404), (raw, head)


def test_metrics_label_every_console_path_as_one_route(srv):
    for p in ["/console/", "/console/a", "/console/b/c", "/console/x.js"]:
        get(srv, p)
    st, text, _ = srv.call("GET", "/metrics")
    routes = set(re.findall(r'vectron_http_requests_total\{method="GET",route="([^"]*)"', text))
    assert "/console/" in routes
    assert not any(r.startswith("/console/") and r != "/console/" for r in routes)


def test_no_console_turns_it_off(tmp_path):
    s = Server(tmp_path, "--no-console")
    try:
        assert not any("vectron serve: console" in ln for ln in s.lines)
        st, body, _ = s.call("GET", "/console/")
        assert st == 404 and body["error"]["code"] == "not_found"
    finally:
        assert s.stop() == 0


def test_with_auth_the_files_need_no_token_but_the_api_does(tmp_path):
    s = secure_server(tmp_path)
    try:
        st, body, r = call(s, "GET", "/console/")
        assert st in (200, 404) and "<html" in body
        check_security_headers(r)
        assert call(s, "GET", "/v1/collections")[0] == 401
        # The collection list the console shows: shape, size and index.
        token = login(s)
        key = call(s, "POST", "/v1/keys", {"name": "k", "scopes": ["read", "write", "admin"]}, token=token)[1]["token"]
        assert call(s, "POST", "/v1/collections", {"name": "docs", "dim": 2}, token=key)[0] == 201
        assert call(s, "PUT", "/v1/collections/docs/points", {"points": [{"id": "a", "vector": [1, 2]}]}, token=key)[0] == 200
        st, body, _ = call(s, "GET", "/v1/collections", token=token)  # A login token: the console's view.
        assert st == 200
        (c,) = body["collections"]
        assert c["name"] == "docs" and c["dim"] == 2 and c["count"] == 1 and c["index_kind"] == "flat"
        assert c["index_memory_bytes"] > 0 and c["disk_bytes"] > 0
    finally:
        assert s.stop() == 0
