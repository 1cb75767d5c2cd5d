"""Concurrent auth and data traffic on two gateways of a real cluster (3 PDs, 3 workers):
logins (password hashing on each gateway's worker pool), key creation and revocation
(commits to the PD from the pool), per-key data calls, and the auth records each
gateway reloads from the PD meanwhile. In the ThreadSanitizer step of scripts/test.sh
the daemons are the TSan build, run with halt_on_error=1: a data race in any of them
ends that process, and the test fails on its exit status and log. Run by meson (suite
concurrency) with VECTRON_BIN set."""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cluster import ADMIN_PASSWORD, DIM, Cluster, http_call, vec  # noqa: E402

THREADS = 4
ROUNDS = 3


def test_concurrent_logins_keys_and_data_on_two_gateways(tmp_path):
    c = Cluster(tmp_path, gateways=2)
    stopped = False
    try:
        c.wait_for("three live workers", lambda: (lambda r: r[0] == 200 and len(
            [w for w in r[1]["workers"] if w["alive"]]) == 3)(c.call("GET", "/v1/cluster")))
        st, body = c.call("POST", "/v1/collections", {"name": "docs", "dim": DIM, "shards": 2})
        assert st == 201, body
        errors = []

        def client(t):
            try:
                gw = c.gateways[t % 2]
                for r in range(ROUNDS):
                    st, body = http_call(gw.host, gw.port, "POST", "/v1/auth/login",
                                         {"username": "admin", "password": ADMIN_PASSWORD})
                    assert st == 200, body
                    login = body["token"]
                    st, body = http_call(gw.host, gw.port, "POST", "/v1/keys",
                                         {"name": f"k{t}-{r}", "scopes": ["read", "write"]}, login)
                    assert st == 201, body
                    key, key_id = body["token"], body["key_id"]
                    pts = [{"id": f"t{t}-r{r}-{i}", "vector": vec(i)} for i in range(10)]
                    st, body = http_call(gw.host, gw.port, "PUT", "/v1/collections/docs/points", {"points": pts}, key)
                    assert st == 200 and body["upserted"] == 10, body
                    st, body = http_call(gw.host, gw.port, "POST", "/v1/collections/docs/search",
                                         {"vector": vec(3), "k": 3}, key)
                    assert st == 200 and len(body["hits"]) == 3, body
                    st, body = http_call(gw.host, gw.port, "GET", "/v1/keys", None, login)
                    assert st == 200 and any(k["key_id"] == key_id for k in body["keys"]), body
                    st, body = http_call(gw.host, gw.port, "DELETE", f"/v1/keys/{key_id}", None, login)
                    assert st == 200, body
                    st, body = http_call(gw.host, gw.port, "POST", "/v1/collections/docs/count", {}, key)
                    assert st == 401 and "revoked" in body["error"]["message"], body
            except BaseException as e:  # noqa: BLE001  (reported below, with the thread)
                errors.append(f"client {t}: {e!r}")

        threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        st, body = c.call("POST", "/v1/collections/docs/count", {})
        assert st == 200 and body["count"] == THREADS * ROUNDS * 10, body
        c.stop()
        stopped = True
        # Every daemon ended cleanly on SIGTERM: no sanitizer report, no crash.
        for n in c.nodes:
            log = open(n.log_path).read()
            assert "ThreadSanitizer" not in log and "AddressSanitizer" not in log, f"{n.name}:\n{log[-4000:]}"
            assert n.proc.returncode == 0, f"{n.name} exited with {n.proc.returncode}:\n{log[-4000:]}"
    finally:
        if not stopped:
            c.stop()
