"""Regression tests of issue 15's auth findings and the auth features closing its gaps,
end to end over TLS against a real `vectron serve` with its secure defaults: huge user
names cannot fill the credential store (the audit log is separate, bounded, paged),
deleted users stay deleted, a password change ends sessions, per-collection grants bound
every key, `vectron backup` keeps users, keys and certificate, `vectron audit` reads the
log. Run by meson with VECTRON_BIN set."""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_auth import ADMIN_PASSWORD, assert_error, call, login, make_key, secure_server  # noqa: E402
from test_serve import BIN  # noqa: E402


@pytest.fixture
def srv(tmp_path):
    s = secure_server(tmp_path)
    yield s
    assert s.stop() == 0


def audit_events(srv, token, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    st, body, _ = call(srv, "GET", "/v1/audit" + (f"?{q}" if q else ""), token=token)
    assert st == 200, body
    return body


def make_user(srv, admin, name, password, grants=None):
    req = {"username": name, "password": password}
    if grants is not None:
        req["grants"] = grants
    st, body, _ = call(srv, "POST", "/v1/users", req, token=admin)
    assert st == 201, body


# ---------------------------------------------------------------- item 2: denial of revocation

def test_huge_user_names_leave_revocation_users_and_passwords_working(srv):
    admin = login(srv)
    key = make_key(srv, admin, ["read"])
    auth_file = os.path.join(srv.data, "auth", "data.mdb")
    before = os.path.getsize(auth_file)
    # Just under the login route's 64 KiB body limit (a bigger body is refused with 413
    # before it is read: test_hardening.py).
    huge = "x" * 60000
    for i in range(24):
        st, body, _ = call(srv, "POST", "/v1/auth/login", {"username": huge + str(i), "password": "whatever-1"})
        # The name's form is checked before anything else: refused, not audited.
        assert_error(st, body, 400, "invalid_argument", "username")
    # A flood of well-formed failures: after the user's burst of 5 (one more per 60 s) the
    # attempts are refused with 429, and a refused attempt leaves no audit record.
    codes = [call(srv, "POST", "/v1/auth/login", {"username": "victim", "password": "wrong-pw"})[0] for _ in range(15)]
    assert codes == [401] * 5 + [429] * 10, codes
    # The credential store did not grow with the attack (1.4 MB of names; 24 MiB with the
    # 1 MiB names possible before the body limit).
    assert os.path.getsize(auth_file) - before < (256 << 10)
    # Everything that needs a write to it still works.
    assert call(srv, "DELETE", f"/v1/keys/{key['key_id']}", token=admin)[0] == 200
    assert_error(*call(srv, "GET", "/v1/collections", token=key["token"])[:2], 401, "unauthenticated", "revoked")
    make_user(srv, admin, "bob", "bob-password")
    assert call(srv, "DELETE", "/v1/users/bob", token=admin)[0] == 200
    st, body, _ = call(srv, "POST", "/v1/auth/password",
                       {"old_password": ADMIN_PASSWORD, "new_password": "a new admin password"}, token=admin)
    assert st == 200 and body["password_changed"], body
    admin = body["token"]
    events = audit_events(srv, admin, limit=1000)["events"]
    kinds = [e["event"] for e in events]
    assert "login_rate_limited" not in kinds and kinds.count("login_failed") == 5, kinds
    assert all(len(json.dumps(e)) <= 4096 for e in events)


def test_audit_is_paged_with_a_cursor_and_bounded(srv):
    admin = login(srv)
    for i in range(12):
        make_key(srv, admin, ["read"], name=f"k{i}")
    page = audit_events(srv, admin, limit=5)
    assert len(page["events"]) == 5 and page["next_cursor"] is not None
    seen = [e["seq"] for e in page["events"]]
    while page["next_cursor"] is not None:
        page = audit_events(srv, admin, limit=5, cursor=page["next_cursor"])
        seen += [e["seq"] for e in page["events"]]
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) and seen[-1] == 1
    assert sum(1 for _ in seen) >= 14  # The signing key, the admin, a login, 12 keys.
    newest_ts = audit_events(srv, admin, limit=1)["events"][0]["ts"]
    assert all(e["ts"] >= newest_ts for e in audit_events(srv, admin, since=newest_ts)["events"])
    for bad in ("limit=0", "limit=10001", "cursor=abc", "since=-1", "colour=red"):
        st, body, _ = call(srv, "GET", f"/v1/audit?{bad}", token=admin)
        assert_error(st, body, 400, "invalid_argument")


def test_audit_cli_reads_the_log_while_the_server_runs(srv):
    admin = login(srv)
    make_key(srv, admin, ["read"], name="for-the-cli")
    p = subprocess.run([BIN, "audit", "--data", srv.data, "--limit", "3", "--json"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(events) == 3 and events[0]["event"] == "key_created" and events[0]["detail"]["name"] == "for-the-cli"
    assert "--cursor" in p.stderr  # More pages.
    p = subprocess.run([BIN, "audit", "--data", srv.data, "--since", "1h"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "login_ok" in p.stdout and "user=admin" in p.stdout, p.stderr
    p = subprocess.run([BIN, "audit", "--data", srv.data, "--since", "yesterday"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "--since" in p.stderr


# ---------------------------------------------------------------- item 3: deleted users stay deleted

def test_token_of_a_deleted_user_stays_refused_after_the_name_is_recreated(srv):
    admin = login(srv)
    make_user(srv, admin, "bob", "bob-password")
    old_bob = login(srv, "bob", "bob-password")
    assert call(srv, "DELETE", "/v1/users/bob", token=admin)[0] == 200
    # An admin re-creates the name, as an admin this time.
    st, body, _ = call(srv, "POST", "/v1/users", {"username": "bob", "password": "other-password", "role": "admin"},
                       token=admin)
    assert st == 201, body
    for method, path in (("GET", "/v1/auth/me"), ("GET", "/v1/users"), ("POST", "/v1/auth/refresh")):
        assert_error(*call(srv, method, path, token=old_bob)[:2], 401, "unauthenticated", "no longer exists")
    new_bob = login(srv, "bob", "other-password")
    assert call(srv, "GET", "/v1/users", token=new_bob)[0] == 200


# ---------------------------------------------------------------- item 4: a password change ends sessions

def test_password_change_ends_every_session_and_keeps_keys(srv):
    admin = login(srv)
    make_user(srv, admin, "bob", "bob-password")
    stolen = login(srv, "bob", "bob-password")
    bob = login(srv, "bob", "bob-password")
    key = make_key(srv, bob, ["read"])
    st, body, _ = call(srv, "POST", "/v1/auth/password",
                       {"old_password": "bob-password", "new_password": "new-bob-password"}, token=bob)
    assert st == 200 and body["password_changed"], body
    for tok in (stolen, bob):
        assert_error(*call(srv, "GET", "/v1/auth/me", token=tok)[:2], 401, "unauthenticated", "session ended")
        assert_error(*call(srv, "POST", "/v1/auth/refresh", token=tok)[:2], 401, "unauthenticated")
        assert_error(*call(srv, "POST", "/v1/keys", {"name": "x", "scopes": ["read"]}, token=tok)[:2], 401,
                     "unauthenticated")
    assert body["token_type"] == "Bearer"
    fresh = body["token"]
    assert call(srv, "GET", "/v1/auth/me", token=fresh)[0] == 200
    # API keys are credentials of their own: they survive a password change.
    assert call(srv, "GET", "/v1/collections", token=key["token"])[0] == 200
    assert_error(*call(srv, "POST", "/v1/auth/login", {"username": "bob", "password": "bob-password"})[:2], 401,
                 "unauthenticated")
    login(srv, "bob", "new-bob-password")


def test_logout_everywhere_ends_sessions_and_optionally_revokes_keys(srv):
    admin = login(srv)
    make_user(srv, admin, "bob", "bob-password", grants={"*": ["read"]})
    other_device = login(srv, "bob", "bob-password")
    bob = login(srv, "bob", "bob-password")
    key = make_key(srv, bob, ["read"])
    st, body, _ = call(srv, "POST", "/v1/auth/logout-all", token=bob)
    assert st == 200 and body == {"user": "bob", "sessions_ended": True, "keys_revoked": 0}, body
    for tok in (bob, other_device):
        assert_error(*call(srv, "GET", "/v1/keys", token=tok)[:2], 401, "unauthenticated", "session ended")
    assert call(srv, "GET", "/v1/collections", token=key["token"])[0] == 200
    bob = login(srv, "bob", "bob-password")
    st, body, _ = call(srv, "POST", "/v1/auth/logout-all", {"revoke_keys": True}, token=bob)
    assert st == 200 and body["keys_revoked"] == 1, body
    assert_error(*call(srv, "GET", "/v1/collections", token=key["token"])[:2], 401, "unauthenticated", "revoked")
    assert call(srv, "GET", "/v1/auth/me", token=admin)[0] == 200  # Another user's session is untouched.


# ---------------------------------------------------------------- per-collection grants

def test_grants_bound_every_key_at_creation_and_on_each_request(srv):
    admin = login(srv)
    full = make_key(srv, admin, ["read", "write", "admin"])["token"]
    for name in ("docs", "other"):
        assert call(srv, "POST", "/v1/collections", {"name": name, "dim": 2}, token=full)[0] == 201
    make_user(srv, admin, "bob", "bob-password", grants={"docs": ["read"]})
    bob = login(srv, "bob", "bob-password")
    st, body, _ = call(srv, "GET", "/v1/auth/me", token=bob)
    assert body["grants"] == {"docs": ["read"]}
    # At creation: a key cannot exceed its owner's grants.
    assert_error(*call(srv, "POST", "/v1/keys", {"name": "x", "scopes": ["read", "write"], "collections": ["docs"]},
                       token=bob)[:2], 403, "permission_denied", '"write" grant on collection "docs"')
    assert_error(*call(srv, "POST", "/v1/keys", {"name": "x", "scopes": ["read"], "collections": ["other"]},
                       token=bob)[:2], 403, "permission_denied", 'collection "other"')
    docs_key = make_key(srv, bob, ["read"], collections=["docs"])["token"]
    any_key = make_key(srv, bob, ["read", "write"])["token"]  # No allow-list: bounded by the grants.
    # On each request.
    assert call(srv, "POST", "/v1/collections/docs/count", {}, token=docs_key)[0] == 200
    assert call(srv, "POST", "/v1/collections/docs/count", {}, token=any_key)[0] == 200
    assert_error(*call(srv, "POST", "/v1/collections/other/count", {}, token=any_key)[:2], 403, "permission_denied",
                 'no "read" grant on collection "other"')
    assert_error(*call(srv, "PUT", "/v1/collections/docs/points", {"points": [{"id": "a", "vector": [1, 2]}]},
                       token=any_key)[:2], 403, "permission_denied", 'no "write" grant')
    st, body, _ = call(srv, "GET", "/v1/collections", token=any_key)
    assert st == 200 and [c["name"] for c in body["collections"]] == ["docs"]
    # The console view of a non-admin user shows only its collections.
    assert [c["name"] for c in call(srv, "GET", "/v1/collections", token=bob)[1]["collections"]] == ["docs"]
    assert_error(*call(srv, "GET", "/v1/collections/other", token=bob)[:2], 403, "permission_denied", "no grant")
    # Granting write lets the existing key write; revoking the grant narrows both keys at once.
    st, body, _ = call(srv, "PUT", "/v1/users/bob/grants/docs", {"scopes": ["read", "write"]}, token=admin)
    assert st == 200 and body == {"username": "bob", "collection": "docs", "scopes": ["read", "write"]}, body
    assert call(srv, "PUT", "/v1/collections/docs/points", {"points": [{"id": "a", "vector": [1, 2]}]},
                token=any_key)[0] == 200
    assert call(srv, "GET", "/v1/users/bob/grants", token=admin)[1] == {
        "username": "bob", "grants": {"docs": ["read", "write"]}}
    assert call(srv, "DELETE", "/v1/users/bob/grants/docs", token=admin)[0] == 200
    for tok in (docs_key, any_key):
        assert_error(*call(srv, "POST", "/v1/collections/docs/count", {}, token=tok)[:2], 403, "permission_denied",
                     "grant")
    # "*" grants every collection; admins need (and take) no grants; bad grants are refused.
    assert call(srv, "PUT", "/v1/users/bob/grants/*", {"scopes": ["read"]}, token=admin)[0] == 200
    assert call(srv, "POST", "/v1/collections/other/count", {}, token=any_key)[0] == 200
    assert_error(*call(srv, "PUT", "/v1/users/admin/grants/docs", {"scopes": ["read"]}, token=admin)[:2], 409,
                 "failed_precondition", "admin")
    assert_error(*call(srv, "PUT", "/v1/users/bob/grants/docs", {"scopes": ["admin"]}, token=admin)[:2], 400,
                 "invalid_argument")
    assert_error(*call(srv, "PUT", "/v1/users/bob/grants/bad%20name", {"scopes": ["read"]}, token=admin)[:2], 400,
                 "invalid_argument")
    assert_error(*call(srv, "PUT", "/v1/users/ghost/grants/docs", {"scopes": ["read"]}, token=admin)[:2], 404,
                 "not_found")
    assert_error(*call(srv, "GET", "/v1/users/bob/grants", token=bob)[:2], 403, "permission_denied", "admin user")
    kinds = [e["event"] for e in audit_events(srv, admin, limit=50)["events"]]
    assert "grant_set" in kinds and "grant_revoked" in kinds


# ---------------------------------------------------------------- backup and restore

def test_backup_restores_a_server_with_its_users_keys_and_certificate(tmp_path):
    s = secure_server(tmp_path)
    try:
        admin = login(s)
        key = make_key(s, admin, ["read", "write", "admin"])["token"]
        assert call(s, "POST", "/v1/collections", {"name": "docs", "dim": 2}, token=key)[0] == 201
        assert call(s, "PUT", "/v1/collections/docs/points", {"points": [{"id": "a", "vector": [1, 2]}]},
                    token=key)[0] == 200
        # While the server runs.
        dest = tmp_path / "restored"
        p = subprocess.run([BIN, "backup", "--data", s.data, str(dest)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        old_cert = open(os.path.join(s.data, "tls", "cert.pem")).read()
    finally:
        assert s.stop() == 0
    assert os.stat(dest / "tls" / "key.pem").st_mode & 0o077 == 0
    assert os.stat(dest / "auth").st_mode & 0o077 == 0
    r = secure_server(tmp_path, env_password="not used: the admin exists", name="restored", data=dest)
    try:
        assert "generated a self-signed" not in "".join(r.lines)
        assert open(dest / "tls" / "cert.pem").read() == old_cert  # Clients keep trusting it.
        login(r)  # The old password.
        st, body, _ = call(r, "POST", "/v1/collections/docs/search", {"vector": [1, 2], "k": 1}, token=key)
        assert st == 200 and body["hits"][0]["id"] == "a", body  # The old key.
        kinds = [e["event"] for e in audit_events(r, login(r), limit=100)["events"]]
        assert "key_created" in kinds  # The audit log came along.
    finally:
        assert r.stop() == 0
