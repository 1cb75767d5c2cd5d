"""End-to-end tests of authentication and TLS in `vectron serve`, over real loopback
sockets against a real server process started with its secure defaults (TLS with a
self-signed certificate, auth on). Run by meson with VECTRON_BIN set."""
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_serve import BIN, Server, recv_all  # noqa: E402

ADMIN_PASSWORD = "correct horse battery staple"


def secure_server(tmp_path, *extra, env_password=ADMIN_PASSWORD, name="srv", data=None):
    env = dict(os.environ)
    env.pop("VECTRON_ADMIN_PASSWORD", None)
    if env_password is not None:
        env["VECTRON_ADMIN_PASSWORD"] = env_password
    return Server(tmp_path, *extra, secure=True, env=env, name=name, data=data)


def tls_context(srv):
    """Trusts exactly the server's generated certificate and checks the host name."""
    ctx = ssl.create_default_context(cafile=os.path.join(srv.data, "tls", "cert.pem"))
    ctx.check_hostname = True
    return ctx


def call(srv, method, path, body=None, token=None, raw=None):
    c = http.client.HTTPSConnection(srv.host, srv.port, timeout=30, context=tls_context(srv))
    headers = {}
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    ctype = r.getheader("Content-Type", "")
    return r.status, (json.loads(text) if ctype.startswith("application/json") else text), r


def login(srv, user="admin", password=ADMIN_PASSWORD):
    st, body, _ = call(srv, "POST", "/v1/auth/login", {"username": user, "password": password})
    assert st == 200, body
    assert body["token_type"] == "Bearer" and body["expires_at"] > 0
    return body["token"]


def make_key(srv, token, scopes, collections=None, name="k", expires_in=None):
    req = {"name": name, "scopes": scopes}
    if collections is not None:
        req["collections"] = collections
    if expires_in is not None:
        req["expires_in"] = expires_in
    st, body, _ = call(srv, "POST", "/v1/keys", req, token=token)
    assert st == 201, body
    assert body["key_id"].startswith("vk_") and body["token"].count(".") == 2
    return body


def assert_error(st, body, want_status, want_code, fragment=""):
    assert st == want_status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == want_code, body
    assert fragment in body["error"]["message"], body


@pytest.fixture
def srv(tmp_path):
    s = secure_server(tmp_path)
    yield s
    assert s.stop() == 0


# ---------------------------------------------------------------- TLS and flags

def test_tls_is_on_by_default_with_a_generated_certificate_that_is_reused(tmp_path):
    s = secure_server(tmp_path)
    try:
        assert s.scheme == "https"
        out = "".join(s.lines)
        assert "generated a self-signed TLS certificate" in out and "auth on" in out
        cert = os.path.join(s.data, "tls", "cert.pem")
        key = os.path.join(s.data, "tls", "key.pem")
        assert os.stat(key).st_mode & 0o077 == 0  # The private key is not readable by others.
        first = open(cert).read()
        # Verified against the generated certificate, host name checked (SAN 127.0.0.1).
        assert call(s, "GET", "/healthz")[:2] == (200, {"status": "ok"})
        # The RPC port speaks TLS too.
        tls = tls_context(s).wrap_socket(socket.create_connection(s.rpc, timeout=30), server_hostname="127.0.0.1")
        tls.close()
        # Plain HTTP on the TLS port gets no HTTP answer.
        raw = socket.create_connection((s.host, s.port), timeout=30)
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not recv_all(raw).startswith(b"HTTP/1.1")
    finally:
        assert s.stop() == 0
    s2 = secure_server(tmp_path, name="srv2")
    try:
        assert "generated a self-signed" not in "".join(s2.lines)
        assert open(cert).read() == first
        assert call(s2, "GET", "/readyz")[0] == 200
    finally:
        assert s2.stop() == 0


def test_insecure_http_and_no_auth_print_warnings(tmp_path):
    s = Server(tmp_path, "--insecure-http", secure=True, env=dict(os.environ, VECTRON_ADMIN_PASSWORD=ADMIN_PASSWORD))
    try:
        assert s.scheme == "http"
        c = http.client.HTTPConnection(s.host, s.port, timeout=30)
        c.request("GET", "/v1/collections")
        assert c.getresponse().status == 401  # Auth stays on.
    finally:
        assert s.stop() == 0
    log = open(s.log_path).read()
    assert "WARNING: --insecure-http" in log and "--no-auth" not in log
    s = Server(tmp_path, "--no-auth", "--insecure-http", secure=True, name="open")
    try:
        c = http.client.HTTPConnection(s.host, s.port, timeout=30)
        c.request("GET", "/v1/collections")
        r = c.getresponse()
        r.read()
        assert r.status == 200
        c.request("POST", "/v1/auth/login", body="{}")
        assert c.getresponse().status == 404  # No auth routes without auth.
        assert "auth OFF" in "".join(s.lines)
    finally:
        assert s.stop() == 0
    assert "WARNING: --no-auth" in open(s.log_path).read()
    p = subprocess.run([BIN, "serve", "--db", str(tmp_path / "x"), "--insecure-http", "--tls-cert", "a.pem",
                        "--tls-key", "b.pem"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--insecure-http contradicts" in p.stderr


def test_generated_admin_password_is_printed_once_and_works(tmp_path):
    # A first start that fails (its port is taken) must not create the admin: its
    # generated password would never be shown.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    env = {k: v for k, v in os.environ.items() if k != "VECTRON_ADMIN_PASSWORD"}
    p = subprocess.run([BIN, "serve", "--db", str(tmp_path / "data"), "--http", f"127.0.0.1:{blocker.getsockname()[1]}",
                        "--rpc", "127.0.0.1:0"], capture_output=True, text=True, timeout=120, env=env)
    blocker.close()
    assert p.returncode == 1 and "address already in use" in p.stderr and "password" not in p.stdout
    s = secure_server(tmp_path, env_password=None)
    try:
        m = re.search(r'created admin user "admin" with generated password (\S+) \(shown only this once\)',
                      "".join(s.lines))
        assert m, s.lines
        login(s, "admin", m.group(1))
    finally:
        assert s.stop() == 0
    s = secure_server(tmp_path, env_password="something-else", name="again")
    try:
        assert "created admin user" not in "".join(s.lines)
        login(s, "admin", m.group(1))  # The env var only applies on first start.
    finally:
        assert s.stop() == 0


def test_admin_password_file(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("from-a-file-123\n")
    s = secure_server(tmp_path, "--admin-password-file", str(pw), env_password=None)
    try:
        assert 'created admin user "admin" with the given password' in "".join(s.lines)
        login(s, "admin", "from-a-file-123")
    finally:
        assert s.stop() == 0


# ---------------------------------------------------------------- login

def test_login_wrong_password_refresh_and_me(srv):
    st, body, r = call(srv, "POST", "/v1/auth/login", {"username": "admin", "password": "nope"})
    assert_error(st, body, 401, "unauthenticated", "wrong user name or password")
    assert r.getheader("WWW-Authenticate").startswith("Bearer")
    assert_error(*call(srv, "POST", "/v1/auth/login", {"username": "ghost", "password": "nope"})[:2], 401,
                 "unauthenticated")
    assert_error(*call(srv, "POST", "/v1/auth/login", {"username": "admin"})[:2], 400, "invalid_argument",
                 '"password" is required')
    token = login(srv)
    st, body, _ = call(srv, "GET", "/v1/auth/me", token=token)
    assert st == 200 and body["user"] == "admin" and body["role"] == "admin"
    st, body, _ = call(srv, "POST", "/v1/auth/refresh", token=token)
    assert st == 200 and body["token"] != token
    assert call(srv, "GET", "/v1/auth/me", token=body["token"])[0] == 200


def test_failed_logins_are_rate_limited_with_retry_after(srv):
    for _ in range(5):
        assert call(srv, "POST", "/v1/auth/login", {"username": "admin", "password": "wrong"})[0] == 401
    st, body, r = call(srv, "POST", "/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})
    assert_error(st, body, 429, "rate_limited", "too many failed logins")
    assert int(r.getheader("Retry-After")) > 0
    # Another user name from the same address is not locked out (the per-address limit is higher).
    assert call(srv, "POST", "/v1/auth/login", {"username": "other", "password": "x"})[0] == 401


def test_bad_tokens_get_401_with_a_clear_message(srv):
    token = login(srv)
    head, payload, sig = token.split(".")
    cases = {
        None: "missing token",
        "garbage": "not a JWT",
        f"{head}.{payload}.{sig[:-4]}AAAA": "signature is invalid",
        f"{head}.{payload[:-2]}.{sig}": "invalid token",
        "eyJhbGciOiJub25lIiwia2lkIjoieCJ9.e30.": 'alg "none" is not accepted',
    }
    for tok, fragment in cases.items():
        st, body, r = call(srv, "GET", "/v1/collections", token=tok)
        assert_error(st, body, 401, "unauthenticated", fragment)
    c = http.client.HTTPSConnection(srv.host, srv.port, timeout=30, context=tls_context(srv))
    c.request("GET", "/v1/collections", headers={"Authorization": "Basic YWRtaW46eA=="})
    r = c.getresponse()
    assert r.status == 401 and "Bearer" in json.loads(r.read())["error"]["message"]


# ---------------------------------------------------------------- keys

def test_sdk_token_works_and_revocation_applies_on_the_next_request(srv):
    admin = login(srv)
    key = make_key(srv, admin, ["read", "write", "admin"])
    sdk = key["token"]
    assert call(srv, "POST", "/v1/collections", {"name": "docs", "dim": 2}, token=sdk)[0] == 201
    assert call(srv, "PUT", "/v1/collections/docs/points", {"points": [{"id": "a", "vector": [1, 2]}]},
                token=sdk)[:2] == (200, {"upserted": 1})
    st, body, _ = call(srv, "POST", "/v1/collections/docs/search", {"vector": [1, 2], "k": 1}, token=sdk)
    assert st == 200 and body["hits"][0]["id"] == "a"
    st, body, _ = call(srv, "GET", "/v1/keys", token=admin)
    assert st == 200 and [k["key_id"] for k in body["keys"]] == [key["key_id"]]
    assert "token" not in body["keys"][0] and body["keys"][0]["revoked"] is False
    assert call(srv, "DELETE", f"/v1/keys/{key['key_id']}", token=admin)[:2] == (
        200, {"key_id": key["key_id"], "revoked": True})
    st, body, _ = call(srv, "POST", "/v1/collections/docs/search", {"vector": [1, 2], "k": 1}, token=sdk)
    assert_error(st, body, 401, "unauthenticated", "was revoked")
    assert call(srv, "GET", "/v1/keys", token=admin)[1]["keys"][0]["revoked"] is True
    assert_error(*call(srv, "DELETE", "/v1/keys/vk_nope", token=admin)[:2], 404, "not_found")
    assert_error(*call(srv, "POST", "/v1/keys", {"name": "x", "scopes": ["root"]}, token=admin)[:2], 400,
                 "invalid_argument", "scopes")


def test_sdk_tokens_cannot_manage_keys_or_users(srv):
    admin = login(srv)
    sdk = make_key(srv, admin, ["read", "write", "admin"])["token"]
    for method, path, body in [("POST", "/v1/keys", {"name": "x", "scopes": ["read"]}), ("GET", "/v1/keys", None),
                               ("GET", "/v1/users", None), ("POST", "/v1/users", {"username": "x", "password": "y" * 8}),
                               ("DELETE", "/v1/users/admin", None), ("GET", "/v1/audit", None)]:
        st, out, _ = call(srv, method, path, body, token=sdk)
        assert_error(st, out, 403, "permission_denied", "login token")


def test_feedback_scope_rates_but_reads_and_writes_nothing(srv):
    """A "feedback" key (for an end-user application) may rate points and do nothing else;
    a write key may rate too; a read key may not. A user's write grant covers feedback."""
    admin = login(srv)
    everything = make_key(srv, admin, ["read", "write", "admin"])["token"]
    assert call(srv, "POST", "/v1/collections", {"name": "docs", "dim": 2}, token=everything)[0] == 201
    assert call(srv, "PUT", "/v1/collections/docs/points", {"points": [{"id": "p", "vector": [1, 2]}]},
                token=everything)[0] == 200
    fb = make_key(srv, admin, ["feedback"], ["docs"])
    assert fb["scopes"] == ["feedback"]
    rate = {"point_id": "p", "rating": 5}
    assert call(srv, "POST", "/v1/collections/docs/feedback", rate, token=fb["token"])[0] == 201
    assert_error(*call(srv, "PUT", "/v1/collections/docs/points", {"points": [{"id": "q", "vector": [1, 2]}]},
                       token=fb["token"])[:2], 403, "permission_denied", 'lacks the "write" scope (it has: feedback)')
    assert_error(*call(srv, "POST", "/v1/collections/docs/search", {"vector": [1, 2]}, token=fb["token"])[:2], 403,
                 "permission_denied", 'lacks the "read" scope')
    assert_error(*call(srv, "GET", "/v1/collections/docs/feedback?point_id=p", token=fb["token"])[:2], 403,
                 "permission_denied", 'lacks the "read" scope')
    reader = make_key(srv, admin, ["read"])["token"]
    assert_error(*call(srv, "POST", "/v1/collections/docs/feedback", rate, token=reader)[:2], 403,
                 "permission_denied", 'lacks the "feedback" (or "write") scope (it has: read)')
    writer = make_key(srv, admin, ["write"])["token"]
    assert call(srv, "POST", "/v1/collections/docs/feedback", rate, token=writer)[0] == 201
    st, body, _ = call(srv, "GET", "/v1/collections/docs/feedback?point_id=p", token=everything)
    assert st == 200 and body["count"] == 2, body
    # A non-admin user: a read grant gives no feedback key; a write grant does.
    assert call(srv, "POST", "/v1/users", {"username": "dan", "password": "dan-password",
                                           "grants": {"docs": ["read"]}}, token=admin)[0] == 201
    dan = login(srv, "dan", "dan-password")
    assert_error(*call(srv, "POST", "/v1/keys", {"name": "x", "scopes": ["feedback"], "collections": ["docs"]},
                       token=dan)[:2], 403, "permission_denied", 'no "feedback" grant on collection "docs"')
    assert call(srv, "PUT", "/v1/users/dan/grants/docs", {"scopes": ["read", "write"]}, token=admin)[0] == 200
    dan = login(srv, "dan", "dan-password")
    dan_fb = make_key(srv, dan, ["feedback"], ["docs"])["token"]
    assert call(srv, "POST", "/v1/collections/docs/feedback", rate, token=dan_fb)[0] == 201
    assert_error(*call(srv, "POST", "/v1/keys", {"name": "x", "scopes": ["rate"]}, token=admin)[:2], 400,
                 "invalid_argument", '"feedback"')


def test_users_admin_only_and_deletion_revokes_keys(srv):
    admin = login(srv)
    assert call(srv, "POST", "/v1/users", {"username": "bob", "password": "bob-password"}, token=admin)[:2] == (
        201, {"username": "bob", "role": "user"})
    assert_error(*call(srv, "POST", "/v1/users", {"username": "bob", "password": "bob-password"}, token=admin)[:2],
                 409, "already_exists")
    bob = login(srv, "bob", "bob-password")
    assert_error(*call(srv, "GET", "/v1/users", token=bob)[:2], 403, "permission_denied", "admin user")
    assert_error(*call(srv, "POST", "/v1/keys", {"name": "x", "scopes": ["read", "admin"]}, token=bob)[:2], 403,
                 "permission_denied", "only admin users")
    bob_key = make_key(srv, bob, ["read"])
    assert call(srv, "GET", "/v1/collections", token=bob_key["token"])[0] == 200
    # bob sees only his keys; the admin sees all.
    assert [k["owner"] for k in call(srv, "GET", "/v1/keys", token=bob)[1]["keys"]] == ["bob"]
    st, body, _ = call(srv, "GET", "/v1/users", token=admin)
    assert st == 200 and sorted(u["name"] for u in body["users"]) == ["admin", "bob"]
    assert all("hash" not in u for u in body["users"])
    assert call(srv, "DELETE", "/v1/users/bob", token=admin)[0] == 200
    assert_error(*call(srv, "GET", "/v1/collections", token=bob_key["token"])[:2], 401, "unauthenticated")
    assert_error(*call(srv, "GET", "/v1/auth/me", token=bob)[:2], 401, "unauthenticated", "no longer exists")
    assert_error(*call(srv, "DELETE", "/v1/users/admin", token=admin)[:2], 409, "failed_precondition", "last admin")


def test_restricted_key_sees_and_touches_only_its_collections(srv):
    admin = login(srv)
    full = make_key(srv, admin, ["read", "write", "admin"])["token"]
    for n in ("docs", "other"):
        assert call(srv, "POST", "/v1/collections", {"name": n, "dim": 2}, token=full)[0] == 201
    docs_only = make_key(srv, admin, ["read", "write", "admin"], collections=["docs"])["token"]
    st, body, _ = call(srv, "GET", "/v1/collections", token=docs_only)
    assert st == 200 and [c["name"] for c in body["collections"]] == ["docs"]
    assert_error(*call(srv, "POST", "/v1/collections/other/count", {}, token=docs_only)[:2], 403,
                 "permission_denied", 'may not access collection "other"')
    assert_error(*call(srv, "POST", "/v1/collections", {"name": "third", "dim": 2}, token=docs_only)[:2], 403,
                 "permission_denied", "third")
    assert_error(*call(srv, "GET", "/metrics", token=docs_only)[:2], 403, "permission_denied", "every collection")
    assert call(srv, "POST", "/v1/collections/docs/count", {}, token=docs_only)[0] == 200


def test_signing_key_rotation_over_the_api(srv):
    admin = login(srv)
    sdk = make_key(srv, admin, ["read"])["token"]
    st, body, _ = call(srv, "GET", "/v1/auth/signing-keys", token=admin)
    assert st == 200 and len(body["signing_keys"]) == 1
    old = body["signing_keys"][0]
    assert old["alg"] == "EdDSA" and old["current"] and "private_key" not in old and "secret" not in old
    st, body, _ = call(srv, "POST", "/v1/auth/signing-keys", token=admin)
    assert st == 201
    new_kid = body["kid"]
    assert call(srv, "GET", "/v1/collections", token=sdk)[0] == 200  # Old key still verifies.
    admin2 = login(srv)
    assert_error(*call(srv, "DELETE", f"/v1/auth/signing-keys/{new_kid}", token=admin2)[:2], 409,
                 "failed_precondition", "current")
    assert call(srv, "DELETE", f"/v1/auth/signing-keys/{old['kid']}", token=admin2)[0] == 200
    assert_error(*call(srv, "GET", "/v1/collections", token=sdk)[:2], 401, "unauthenticated", "retired key id")
    assert_error(*call(srv, "GET", "/v1/auth/me", token=admin)[:2], 401, "unauthenticated")
    assert call(srv, "GET", "/v1/auth/me", token=admin2)[0] == 200


def test_audit_log_records_auth_events(srv):
    admin = login(srv)
    call(srv, "POST", "/v1/auth/login", {"username": "admin", "password": "bad"})
    key = make_key(srv, admin, ["read"])
    call(srv, "DELETE", f"/v1/keys/{key['key_id']}", token=admin)
    call(srv, "POST", "/v1/users", {"username": "bob", "password": "bob-password"}, token=admin)
    call(srv, "DELETE", "/v1/users/bob", token=admin)
    st, body, _ = call(srv, "GET", "/v1/audit?limit=50", token=admin)
    assert st == 200
    events = [e["event"] for e in body["events"]]
    for e in ("login_ok", "login_failed", "key_created", "key_revoked", "user_created", "user_deleted",
              "signing_key_created"):
        assert e in events, events
    assert events[0] == "user_deleted"  # Newest first.
    assert all(e["peer"].startswith("127.0.0.1:") for e in body["events"] if e["event"] == "login_failed")
    assert len(call(srv, "GET", "/v1/audit?limit=2", token=admin)[1]["events"]) == 2
    assert call(srv, "GET", "/v1/audit?limit=0", token=admin)[0] == 400


# ---------------------------------------------------------------- the route table

def test_every_route_enforces_its_access_rule(srv):
    """Table-driven over the server's own route table (each operation's x-vectron-access
    in /openapi.json): every route × every kind of caller → 401, 403 or let through."""
    st, spec, _ = call(srv, "GET", "/openapi.json")
    assert st == 200
    admin = login(srv)
    # bob may read "docs": a non-admin user's console sees only the collections granted to it.
    assert call(srv, "POST", "/v1/users", {"username": "bob", "password": "bob-password",
                                           "grants": {"docs": ["read"]}}, token=admin)[0] == 201
    bob = login(srv, "bob", "bob-password")
    everything = make_key(srv, admin, ["read", "write", "admin"])["token"]
    assert call(srv, "POST", "/v1/collections", {"name": "docs", "dim": 2}, token=everything)[0] == 201

    class Caller:
        def __init__(self, name, token, kind=None, admin=False, scopes=(), collections=None, password=None):
            self.name, self.token, self.kind, self.admin = name, token, kind, admin
            self.scopes, self.collections, self.password = set(scopes), collections, password

    callers = [
        Caller("anonymous", None),
        Caller("garbage", "not.a.token"),
        Caller("admin-login", admin, "login", admin=True, password=ADMIN_PASSWORD),
        Caller("user-login", bob, "login", password="bob-password"),
        Caller("sdk-read", make_key(srv, admin, ["read"])["token"], "sdk", scopes=["read"]),
        Caller("sdk-write", make_key(srv, admin, ["write"])["token"], "sdk", scopes=["write"]),
        Caller("sdk-admin", make_key(srv, admin, ["admin"])["token"], "sdk", scopes=["admin"]),
        Caller("sdk-feedback", make_key(srv, admin, ["feedback"])["token"], "sdk", scopes=["feedback"]),
        Caller("sdk-all-docs", make_key(srv, admin, ["read", "write", "admin"], ["docs"])["token"], "sdk",
               scopes=["read", "write", "admin"], collections=["docs"]),
        Caller("sdk-read-other", make_key(srv, admin, ["read"], ["other"])["token"], "sdk", scopes=["read"],
               collections=["other"]),
    ]

    def expected(method, pattern, rule, c):
        a = rule["access"]
        if a == "public":
            return "through"
        if c.kind is None:
            return 401
        if a in ("login", "login-admin"):
            if c.kind != "login" or (a == "login-admin" and not c.admin):
                return 403
            return "through"
        if c.kind == "login":
            # A non-admin user (limited by grants) may not see what spans every collection.
            return "through" if rule["console"] and (c.admin or not rule["all_collections"]) else 403
        # Rating points takes the feedback or the write scope; other scopes imply nothing.
        if a not in c.scopes and not (a == "feedback" and "write" in c.scopes):
            return 403
        if rule["all_collections"] and c.collections is not None:
            return 403
        names_collection = "{name}" in pattern and pattern.startswith("/v1/collections") or (
            method == "POST" and pattern == "/v1/collections")
        if names_collection and c.collections is not None and "docs" not in c.collections:
            return 403
        return "through"

    def body_for(method, pattern, c):
        if pattern == "/v1/auth/login":
            return {"username": "admin", "password": ADMIN_PASSWORD}
        if pattern == "/v1/auth/password":
            return {"old_password": c.password or "x", "new_password": c.password or "xxxxxxxx"}
        if pattern == "/v1/collections" and method == "POST":
            return {"name": "docs", "dim": 2}
        if pattern == "/v1/keys" and method == "POST":
            return {"name": "matrix", "scopes": ["read"]}
        if pattern == "/v1/users" and method == "POST":
            return {"username": "carol", "password": "carol-password"}
        if pattern.endswith("/points") and method == "PUT":
            return {"points": [{"id": "p", "vector": [1, 2]}]}
        if pattern.endswith("/search"):
            return {"vector": [1, 2], "k": 1}
        if pattern.endswith("/points/get") or pattern.endswith("/points/delete"):
            return {"ids": ["p"]}
        if pattern.endswith("/indexes") and method == "POST":
            return {"field": "genre", "type": "keyword"}
        return {} if method in ("POST", "PUT") else None

    params = {"{name}": "docs", "{field}": "genre", "{key_id}": "vk_none", "{kid}": "k-none", "{collection}": "docs"}
    checked = 0
    routes = [(p, m, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
    assert len(routes) >= 30
    for pattern, method, op in routes:
        rule = op["x-vectron-access"]  # Every route states its rule.
        path = pattern
        for k, v in params.items():
            path = path.replace(k, v)
        if pattern == "/v1/users/{name}":
            path = "/v1/users/ghost"
        for c in callers:
            want = expected(method.upper(), pattern, rule, c)
            st, body, _ = call(srv, method.upper(), path, body_for(method.upper(), pattern, c), token=c.token)
            where = f"{method.upper()} {pattern} as {c.name}: {st} {body}"
            if want == "through":
                assert st not in (401, 403), where
                if pattern in ("/v1/auth/password", "/v1/auth/logout-all"):
                    c.token = login(srv, "admin" if c.admin else "bob", c.password)  # That ended its session.
            else:
                assert st == want, where
                assert body["error"]["code"] == ("unauthenticated" if want == 401 else "permission_denied"), where
            checked += 1
    assert checked == len(routes) * len(callers)
