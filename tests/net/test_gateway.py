"""The gateway's public API as real processes on loopback (a 3-PD, 3-worker cluster from
test_cluster.py): the operation table with `vectron serve`'s limits and messages, partial
updates and paging, the client port's limits and connection caps, and reranking that
answers what serve answers. Run by meson with VECTRON_BIN set."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cluster import BIN, DIM, cluster, vec  # noqa: E402,F401  (cluster: the fixture)
from test_serve import Server  # noqa: E402


def test_partial_updates_and_search_paging_through_the_gateway(cluster):
    # Partial updates are replicated write commands: each shard group applies them as a
    # read-modify-write inside its logged transaction (issue 22).
    def create():
        st, body = cluster.call("POST", "/v1/collections", {"name": "upd", "dim": DIM, "shards": 2, "replication": 3,
                                                            "quantization": "sq8", "hnsw": {"m": 8}})
        return st == 201 and body
    created = cluster.wait_for("the collection", create)
    # The gateway reads a create body as `vectron serve` does (one parser, CollectionConfigOf).
    assert created["config"]["quantization"] == "sq8" and created["config"]["hnsw"]["m"] == 8, created
    st, body = cluster.call("POST", "/v1/collections", {"name": "bad", "dim": DIM, "quantization": "pq"})
    assert st == 400 and 'unknown quantization "pq"' in body["error"]["message"], body
    pts = [{"id": f"p{i}", "vector": vec(i), "metadata": {"v": i}} for i in range(6)]
    cluster.wait_for("the upsert", lambda: cluster.call("PUT", "/v1/collections/upd/points", {"points": pts})[0] == 200)
    st, body = cluster.call("POST", "/v1/collections/upd/points/metadata",
                            {"points": [{"id": "p1", "metadata": {"tag": "x"}}, {"id": "p4", "metadata": {"v": None}}]})
    assert (st, body) == (200, {"updated": 2})
    st, body = cluster.call("POST", "/v1/collections/upd/points/vectors", {"points": [{"id": "p2", "vector": vec(50)}]})
    assert (st, body) == (200, {"updated": 1})
    st, body = cluster.call("POST", "/v1/collections/upd/points/get", {"ids": ["p1", "p2", "p4"], "include": ["metadata", "vector"]})
    got = {p["id"]: p for p in body["points"]}
    assert got["p1"]["metadata"] == {"v": 1, "tag": "x"}
    assert got["p2"]["vector"] == vec(50) and got["p2"]["metadata"] == {"v": 2}
    assert got["p4"]["metadata"] == {}
    # A missing id: the shard group refuses its command (nothing written there).
    st, body = cluster.call("POST", "/v1/collections/upd/points/vectors", {"points": [{"id": "ghost", "vector": vec(1)}]})
    assert st == 404 and "ghost" in body["error"]["message"], body
    st, body = cluster.call("POST", "/v1/collections/upd/search", {"vector": vec(0), "k": 2, "offset": 1, "exact": True})
    st2, all_hits = cluster.call("POST", "/v1/collections/upd/search", {"vector": vec(0), "k": 3, "exact": True})
    assert st == 200 and [h["id"] for h in body["hits"]] == [h["id"] for h in all_hits["hits"][1:3]]
    st, body = cluster.call("POST", "/v1/collections/upd/search", {"vector": vec(0), "k": 5, "score_threshold": 0.25})  # cosine: p1 is at 0.5
    assert st == 200 and [h["id"] for h in body["hits"]] == ["p0"]


def test_gateway_serves_the_operation_table_with_serves_limits(cluster):
    """The gateway routes the same operation table and REST codec as `vectron serve`:
    batch search, scroll and points/list across shards, the same limits and messages."""
    def create():
        st, body = cluster.call("POST", "/v1/collections", {"name": "tbl", "dim": DIM, "shards": 3, "replication": 3})
        return st == 201 and body
    created = cluster.wait_for("the collection", create)
    assert created["metadata"] is None and created["name"] == "tbl", created
    pts = [{"id": f"p{i:03d}", "vector": vec(i), "metadata": {"v": i, "odd": i % 2 == 1}} for i in range(40)]
    cluster.wait_for("the upsert", lambda: cluster.call("PUT", "/v1/collections/tbl/points", {"points": pts})[0] == 200)
    st, info = cluster.call("GET", "/v1/collections/tbl")
    assert st == 200 and info["stats"]["count"] == 40 and info["replication"] == 3 and info["metadata"] is None, info

    # Batch search: one result list per query, each as the single search answers it.
    queries = [vec(3), vec(17), vec(30)]
    st, batch = cluster.call("POST", "/v1/collections/tbl/search", {"vectors": queries, "k": 4, "exact": True})
    assert st == 200 and len(batch["results"]) == 3, batch
    for q, res in zip(queries, batch["results"]):
        st, one = cluster.call("POST", "/v1/collections/tbl/search", {"vector": q, "k": 4, "exact": True})
        assert st == 200 and [h["id"] for h in res["hits"]] == [h["id"] for h in one["hits"]]

    # The table's limits, with serve's messages; nothing is asked of the shards.
    st, body = cluster.call("POST", "/v1/collections/tbl/search", {"vector": vec(1), "k": 10001})
    assert st == 400 and body["error"]["message"] == '"k" must be an integer in 1..10000, got 10001', body
    st, body = cluster.call("POST", "/v1/collections/tbl/search", {"vectors": [vec(1)] * 4097, "k": 1})
    assert st == 400 and body["error"]["message"] == '"vectors" holds 4097 queries; the limit is 4096', body
    st, body = cluster.call("POST", "/v1/collections/tbl/scroll", {"limit": 10001})
    assert st == 400 and "limit" in body["error"]["message"], body
    st, body = cluster.call("POST", "/v1/collections/tbl/search", {"vectors": [vec(1), [1, 2]], "k": 1})
    assert st == 400 and "vectors[1] has 2 numbers" in body["error"]["message"], body
    st, body = cluster.call("POST", "/v1/collections/tbl/search", {"vector": [1, 2], "k": 1})
    assert st == 400 and "dimension 2" in body["error"]["message"], body
    # Payload indexes: created, listed and dropped on every shard, as serve answers them.
    s = "/v1/collections/tbl/indexes"
    assert cluster.call("POST", s, {"field": "v", "type": "integer"})[0] == 201
    assert cluster.call("POST", s, {"field": "odd", "type": "bool"})[0] == 201
    st, body = cluster.call("POST", s, {"field": "v", "type": "integer"})
    assert st == 409 and body["error"]["code"] == "already_exists", body
    st, body = cluster.call("GET", s)
    assert (st, body) == (200, {"indexes": [{"field": "odd", "type": "bool"}, {"field": "v", "type": "integer"}]}), body
    assert cluster.call("DELETE", s + "/odd")[0] == 200
    st, body = cluster.call("GET", s)
    assert (st, body) == (200, {"indexes": [{"field": "v", "type": "integer"}]}), body
    st, body = cluster.call("POST", "/v1/collections/tbl/count", {"where": {"v": {"$gte": 30}}})
    assert (st, body) == (200, {"count": 10}), body
    st, body = cluster.call("GET", "/v1/collections/nope/indexes")
    assert st == 404, body
    # Collection metadata: stored in the PD's map with the collection, as serve stores it.
    st, body = cluster.call("POST", "/v1/collections", {"name": "m", "dim": DIM, "metadata": {"owner": "me"}})
    assert st == 201 and body["metadata"] == {"owner": "me"}, body
    st, body = cluster.call("PUT", "/v1/collections/tbl/metadata", {"metadata": {"desc": "table", "n": [1, 2]}})
    assert (st, body) == (200, {"name": "tbl", "metadata": {"desc": "table", "n": [1, 2]}}), body
    cluster.wait_for("the metadata in the map",
                     lambda: cluster.call("GET", "/v1/collections/tbl")[1].get("metadata") == {"desc": "table", "n": [1, 2]})
    st, body = cluster.call("PUT", "/v1/collections/tbl/metadata", {"metadata": [1]})
    assert st == 400 and "metadata" in body["error"]["message"], body
    st, body = cluster.call("PUT", "/v1/collections/nope/metadata", {"metadata": None})
    assert st == 404, body

    # Scroll across shards: every point once, in id order, pages of 7, with a filter.
    seen, cursor = [], None
    for _ in range(20):
        st, page = cluster.call("POST", "/v1/collections/tbl/scroll",
                                {"limit": 7, "cursor": cursor, "include": ["metadata"]})
        assert st == 200 and len(page["points"]) <= 7, page
        seen += [p["id"] for p in page["points"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [p["id"] for p in pts]
    st, page = cluster.call("POST", "/v1/collections/tbl/scroll", {"limit": 100, "where": {"odd": True}})
    assert st == 200 and [p["id"] for p in page["points"]] == [p["id"] for p in pts if p["metadata"]["odd"]]
    assert page["next_cursor"] is None
    assert all(p["metadata"]["odd"] for p in page["points"])

    # points/list: offset and limit over the whole collection, in id order.
    st, body = cluster.call("POST", "/v1/collections/tbl/points/list", {"offset": 5, "limit": 10})
    assert st == 200 and [p["id"] for p in body["points"]] == [p["id"] for p in pts[5:15]], body
    st, body = cluster.call("POST", "/v1/collections/tbl/points/list", {"where": {"odd": False}, "offset": 18, "limit": 10})
    assert st == 200 and [p["id"] for p in body["points"]] == ["p036", "p038"], body
    st, body = cluster.call("POST", "/v1/collections/tbl/points/list", {"limit": 10001})
    assert st == 400 and "limit" in body["error"]["message"], body
    st, body = cluster.call("POST", "/v1/collections/tbl/points/list", {"offset": 100001})
    assert st == 400 and "offset" in body["error"]["message"] and "scroll" in body["error"]["message"], body
    st, body = cluster.call("POST", "/v1/collections/nope/points/list", {})
    assert st in (404, 503), body

    # Rename: one PD map change; the shard groups (and their data) answer under the new name.
    st, body = cluster.call("POST", "/v1/collections/tbl/rename", {"name": "tbl2"})
    assert (st, body) == (200, {"name": "tbl2", "renamed_from": "tbl"}), body
    st, body = cluster.call("POST", "/v1/collections/tbl2/count", {})
    assert (st, body) == (200, {"count": 40}), body
    st, body = cluster.call("POST", "/v1/collections/tbl2/points/get", {"ids": ["p007"]})
    assert st == 200 and body["points"][0]["metadata"] == {"v": 7, "odd": True}, body
    st, body = cluster.call("POST", "/v1/collections/tbl/count", {})
    assert st == 404, body
    st, body = cluster.call("GET", "/v1/collections")
    assert "tbl2" in [c["name"] for c in body["collections"]] and "tbl" not in [c["name"] for c in body["collections"]]
    cluster.wait_for("a second collection", create)  # "tbl" again, empty
    st, body = cluster.call("POST", "/v1/collections/tbl2/rename", {"name": "tbl"})
    assert st == 409, body
    st, body = cluster.call("POST", "/v1/collections/tbl2/rename", {"name": "bad name"})
    assert st == 400, body
    st, body = cluster.call("POST", "/v1/collections/tbl/count", {})
    assert (st, body) == (200, {"count": 0}), body
    # The metadata moved with the name; null removes it.
    st, body = cluster.call("GET", "/v1/collections/tbl2")
    assert st == 200 and body["metadata"] == {"desc": "table", "n": [1, 2]}, body
    st, body = cluster.call("PUT", "/v1/collections/tbl2/metadata", {"metadata": None})
    assert (st, body) == (200, {"name": "tbl2", "metadata": None}), body
    cluster.wait_for("the metadata removed",
                     lambda: cluster.call("GET", "/v1/collections/tbl2")[1].get("metadata", 0) is None)


def read_http_response(sock):
    """(status, headers with lower-case names, body) of one response read from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l))
    want = int(headers.get("content-length", "0"))
    while len(body) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_gateway_port_has_serves_limits_and_connection_caps(cluster, tmp_path):
    """The gateway's client port takes `vectron serve`'s limit flags: body and header
    sizes, request timeouts and connection caps, with serve's answers."""
    r = subprocess.run([BIN, "gateway", "--pd", cluster.pd_list, *cluster.sec, "--db", str(tmp_path / "bad"),
                        "--insecure-http", "--max-header-bytes", "10"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--max-header-bytes must be at least 64" in r.stderr, r.stderr
    g = cluster.add_gateway(tmp_path, 9, "--max-connections-per-ip", "1", "--max-body-bytes", "1000",
                            "--request-timeout-ms", "300", "--max-header-bytes", "2048")
    socks = []

    def connect(source):
        s = socket.create_connection((g.host, g.port), timeout=20, source_address=(source, 0))
        socks.append(s)
        return s

    try:
        # One connection per address: a second from the same one gets serve's 503.
        held = connect("127.0.0.1")
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_http_response(held)[0] == 200
        st, headers, body = read_http_response(connect("127.0.0.1"))
        assert st == 503 and headers["retry-after"] == "1" and b"too many open connections" in body, (st, body)
        # A body over --max-body-bytes: 413 from the declared length, the body never read.
        big = connect("127.0.0.2")
        big.sendall(b"POST /v1/collections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + cluster.token.encode() +
                    b"\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n")
        st, _, body = read_http_response(big)
        assert st == 413, (st, body)
        # Headers over --max-header-bytes: 431.
        fat = connect("127.0.0.3")
        fat.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 4096 + b"\r\n\r\n")
        assert read_http_response(fat)[0] == 431
        # A request that does not finish within --request-timeout-ms: 408.
        slow = connect("127.0.0.4")
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        st, _, body = read_http_response(slow)
        assert st == 408, (st, body)
        # The held connection still works.
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_http_response(held)[0] == 200
    finally:
        for s in socks:
            s.close()


def test_gateway_reranks_as_serve_does(cluster, tmp_path):
    """A reranked search through the gateway (candidates from every shard, the pipeline
    run at the gateway, the candidates' ratings read from their shards for a feedback
    stage) answers what `vectron serve` answers on the same points and ratings."""
    serve = Server(tmp_path)
    try:
        pts = [{"id": f"p{i:02d}", "vector": [i * 0.1, 0.0],
                "metadata": {"i": i, "promoted": i % 2 == 1, "pop": i * 10, "ts": 1000 * i}} for i in range(40)]
        st, body, _ = serve.call("POST", "/v1/collections", {"name": "rr", "dim": 2, "metric": "l2", "shards": 2})
        assert st == 201, body
        assert serve.call("PUT", "/v1/collections/rr/points", {"points": pts})[0] == 200
        cluster.wait_for("the collection", lambda: cluster.call(
            "POST", "/v1/collections", {"name": "rr", "dim": 2, "metric": "l2", "shards": 2})[0] == 201)
        cluster.wait_for("the upsert", lambda: cluster.call("PUT", "/v1/collections/rr/points", {"points": pts})[0] == 200)
        searches = [
            {"vector": [0, 0], "k": 3, "rerank": {"boosts": [{"where": {"promoted": True}, "weight": 100}]}},
            {"vector": [0, 0], "k": 3, "explain": True, "include": ["metadata"],
             "rerank": {"candidates": 10, "fields": [{"field": "pop", "weight": 1, "transform": "log1p"}]}},
            {"vector": [0.5, 0], "k": 4, "offset": 2, "rerank": {"candidates": 30, "mmr": {"lambda": 0.5}},
             "include": ["vector"]},
            {"vector": [0, 0], "k": 3, "explain": True},
            {"vectors": [[0, 0], [3.9, 0]], "k": 1, "rerank": {"mmr": {"lambda": 0.5}}},
        ]
        for body in searches:
            st, want, _ = serve.call("POST", "/v1/collections/rr/search", {**body, "cache": False})
            assert st == 200, want
            st, got = cluster.call("POST", "/v1/collections/rr/search", body)
            assert st == 200, (body, got)
            for w, g in zip(want.get("results", [want]), got.get("results", [got])):
                assert len(g["query_id"]) == 32 and g["query_id"] != w["query_id"]
                assert [h["id"] for h in g["hits"]] == [h["id"] for h in w["hits"]], (body, w, g)
                for hw, hg in zip(w["hits"], g["hits"]):
                    assert abs(hw["relevance"] - hg["relevance"]) < 1e-6 and set(hw) == set(hg), (hw, hg)
                    assert hw.get("components", {}).keys() == hg.get("components", {}).keys()
        # Bad pipelines: serve's 400 and message; "rerank": false is a plain search.
        for rerank, frag in [({"rocket": {}}, 'unknown key "rocket"'), ({"candidates": 2}, "2 is fewer than the 3 hits"),
                             ({"mmr": {"lambda": -1}}, "mmr: lambda"), ([1], "must be a pipeline object")]:
            st, body = cluster.call("POST", "/v1/collections/rr/search", {"vector": [0, 0], "k": 3, "rerank": rerank})
            assert st == 400 and frag in body["error"]["message"], body
        st, body = cluster.call("POST", "/v1/collections/rr/search", {"vector": [0, 0], "k": 2, "rerank": False})
        assert st == 200 and [h["id"] for h in body["hits"]] == ["p00", "p01"] and "relevance" not in body["hits"][0]
        # The feedback stage: the candidates' ratings come from their shards (one read per
        # shard), and move the hits as on serve.
        for pid, rating in [("p05", 5), ("p05", 5), ("p05", 4), ("p00", 1), ("p01", 1), ("p11", 5), ("p38", 5)]:
            assert serve.call("POST", "/v1/collections/rr/feedback", {"point_id": pid, "rating": rating})[0] == 201
            st, body = cluster.call("POST", "/v1/collections/rr/feedback", {"point_id": pid, "rating": rating})
            assert st == 201, body
        feedback_searches = [
            {"vector": [0, 0], "k": 3, "explain": True, "rerank": {"candidates": 20, "feedback": {"weight": 2}}},
            {"vector": [0, 0], "k": 2, "offset": 1,
             "rerank": {"candidates": 12, "feedback": {"weight": 1, "prior_count": 1, "prior_mean": 2},
                        "boosts": [{"where": {"promoted": True}, "weight": 2}]}},
            {"vectors": [[0, 0], [3.9, 0]], "k": 2, "explain": True,
             "rerank": {"candidates": 15, "feedback": {"weight": 3}, "mmr": {"lambda": 0.8}}},
        ]
        for body in feedback_searches:
            st, want, _ = serve.call("POST", "/v1/collections/rr/search", {**body, "cache": False})
            assert st == 200, want
            st, got = cluster.call("POST", "/v1/collections/rr/search", body)
            assert st == 200, (body, got)
            for w, g in zip(want.get("results", [want]), got.get("results", [got])):
                assert [h["id"] for h in g["hits"]] == [h["id"] for h in w["hits"]], (body, w, g)
                for hw, hg in zip(w["hits"], g["hits"]):
                    assert abs(hw["relevance"] - hg["relevance"]) < 1e-6, (hw, hg)
                    for k, v in hw.get("components", {}).items():
                        assert abs(v - hg["components"][k]) < 1e-6, (k, hw, hg)
        st, body = cluster.call("POST", "/v1/collections/rr/search", feedback_searches[0])
        assert body["hits"][0]["id"] == "p05" and body["hits"][0]["components"]["feedback"] > 0, body
        st, body = cluster.call("POST", "/v1/collections/rr/search",
                                {"vector": [0, 0], "k": 2, "rerank": {"feedback": {"weight": "x"}}})
        assert st == 400 and "feedback" in body["error"]["message"], body
        st, body = cluster.call("POST", "/v1/collections/rr/search", {"vector": [0, 0, 1], "rerank": {}})
        assert st == 400 and "dimension 3" in body["error"]["message"], body
    finally:
        serve.stop()


def gateway_raw(cluster, method, path, token=True):
    """One call to the gateway answering (status, text, response): for JSON-lines bodies."""
    g = cluster.gateway
    c = http.client.HTTPConnection(g.host, g.port, timeout=60)
    c.request(method, path, headers={"Authorization": f"Bearer {cluster.token if token is True else token}"})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    return r.status, text, r


def without_time(text):
    """An export's ratings without their time_ms (each side stamps its own clock)."""
    out = []
    for line in text.splitlines():
        j = json.loads(line)
        t = j.pop("time_ms")
        assert isinstance(t, int) and t > 0, line
        out.append(j)
    return out


def export_pages(call, limit):
    """Every page of an export with ?limit=: [(ratings without time_ms, cursor)]."""
    pages, cursor = [], None
    for _ in range(100):
        q = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        st, text, r = call("GET", "/v1/collections/fb/feedback/export" + q)
        assert st == 200, text
        cursor = r.getheader("X-Vectron-Next-Cursor")
        assert (r.getheader("X-Vectron-Truncated") == "true") == (cursor is not None)
        assert int(r.getheader("X-Vectron-Ratings")) == len(text.splitlines())
        pages.append((without_time(text), cursor))
        if not cursor:
            return pages
    raise AssertionError("the export did not end")


def test_gateway_feedback_is_logged_and_answers_as_serve_does(cluster, tmp_path):
    """Ratings through the gateway go through the point's shard's Raft log: the same
    answers, errors, stats and export pages (cursors included) as `vectron serve` on the
    same points; a kill -9 of a group's leader loses no acknowledged rating; a deleted
    point's ratings are gone; a key with only the feedback scope rates but cannot read."""
    serve = Server(tmp_path)
    try:
        pts = [{"id": f"p{i:02d}", "vector": vec(i), "metadata": {"i": i}} for i in range(30)]
        st, body, _ = serve.call("POST", "/v1/collections", {"name": "fb", "dim": DIM, "shards": 3})
        assert st == 201, body
        assert serve.call("PUT", "/v1/collections/fb/points", {"points": pts})[0] == 200
        cluster.wait_for("the collection", lambda: cluster.call(
            "POST", "/v1/collections", {"name": "fb", "dim": DIM, "shards": 3, "replication": 3})[0] == 201)
        cluster.wait_for("the upsert", lambda: cluster.call("PUT", "/v1/collections/fb/points", {"points": pts})[0] == 200)

        def both(method, path, body=None):
            st, want, _ = serve.call(method, path, body)
            got_st, got = cluster.call(method, path, body)
            assert (got_st, got) == (st, want), (method, path, body, st, want, got_st, got)
            return st, want

        ratings = [("p01", 5, "q" * 32, "great"), ("p01", 4, None, None), ("p02", 1, None, "off topic"),
                   ("p17", 3, "abc", None), ("p29", 2, None, "x" * 4096), ("p01", 5, None, "\u00e9t\u00e9"),
                   ("p05", 4, "q" * 128, None)]
        for pid, rating, qid, comment in ratings:
            body = {"point_id": pid, "rating": rating}
            if qid is not None:
                body["query_id"] = qid
            if comment is not None:
                body["comment"] = comment
            st, ans = both("POST", "/v1/collections/fb/feedback", body)
            assert st == 201 and ans == {"point_id": pid, "rating": rating, "stored": True}, ans
        # Bad ratings: serve's status and message, and nothing stored.
        for body in [{"point_id": "p01", "rating": 0}, {"point_id": "p01", "rating": 2.5}, {"point_id": "p01"},
                     {"rating": 3}, {"point_id": "p01", "rating": 3, "comment": "x" * 4097},
                     {"point_id": "p01", "rating": 3, "query_id": "q" * 129}, {"point_id": "p01", "rating": 3, "extra": 1},
                     {"point_id": "", "rating": 3}, {"point_id": "ghost", "rating": 3}]:
            st, ans = both("POST", "/v1/collections/fb/feedback", body)
            assert st in (400, 404), ans
        assert both("POST", "/v1/collections/nope/feedback", {"point_id": "p01", "rating": 3})[0] == 404
        # Stats, and their errors.
        for pid in ["p01", "p02", "p17", "p29", "p05", "p03", "ghost"]:
            st, ans = both("GET", f"/v1/collections/fb/feedback?point_id={pid}")
            assert st == 200
        st, ans = both("GET", "/v1/collections/fb/feedback?point_id=p01")
        assert ans["count"] == 3 and ans["histogram"]["5"] == 2, ans
        for q in ["", "?point_id=", "?point_id=p1&bogus=1"]:
            assert both("GET", "/v1/collections/fb/feedback" + q)[0] == 400
        assert both("GET", "/v1/collections/nope/feedback?point_id=p01")[0] == 404

        # The export: the same ratings in the same order, the same pages and cursors.
        def serve_raw(method, path):
            return serve.call(method, path)
        st, want, _ = serve.call("GET", "/v1/collections/fb/feedback/export")
        st2, got, r = gateway_raw(cluster, "GET", "/v1/collections/fb/feedback/export")
        assert st == st2 == 200 and r.getheader("Content-Type").startswith("application/x-ndjson")
        assert without_time(got) == without_time(want) and len(want.splitlines()) == len(ratings)
        for limit in (1, 2, 3, 7, 100):
            assert export_pages(lambda m, p: gateway_raw(cluster, m, p), limit) == export_pages(serve_raw, limit)
        for q in ["?limit=0", "?limit=1000001", "?limit=x", "?cursor=7.00", "?cursor=0.zz&limit=3", "?bogus=1"]:
            st, want, _ = serve.call("GET", "/v1/collections/fb/feedback/export" + q)
            got_st, got, _ = gateway_raw(cluster, "GET", "/v1/collections/fb/feedback/export" + q)
            assert st == got_st == 400 and json.loads(got) == want, (q, want, got)

        # A key with only the feedback scope rates, and reads nothing.
        st, key = cluster.call("POST", "/v1/keys", {"name": "rater", "scopes": ["feedback"]}, token=cluster.login_token)
        assert st == 201, key
        st, body = cluster.call("POST", "/v1/collections/fb/feedback", {"point_id": "p03", "rating": 2}, token=key["token"])
        assert st == 201, body
        assert serve.call("POST", "/v1/collections/fb/feedback", {"point_id": "p03", "rating": 2})[0] == 201
        st, body = cluster.call("GET", "/v1/collections/fb/feedback?point_id=p03", token=key["token"])
        assert st == 403, body
        assert gateway_raw(cluster, "GET", "/v1/collections/fb/feedback/export", token=key["token"])[0] == 403
        st, body = cluster.call("POST", "/v1/collections/fb/points/get", {"ids": ["p03"]}, token=key["token"])
        assert st == 403, body

        # Kill -9 a group's leader after acknowledged ratings: none is lost.
        def leaders():
            st, m = cluster.call("GET", "/v1/cluster")
            ls = [g["leader"] for g in m["shards"] if g["collection"] == "fb"]
            return st == 200 and len(ls) == 3 and all(ls) and ls
        leader_ids = cluster.wait_for("group leaders", leaders)
        acked = {}
        for i in range(12):
            pid = f"p{i:02d}"
            st, body = cluster.call("POST", "/v1/collections/fb/feedback", {"point_id": pid, "rating": 1 + i % 5})
            assert st == 201, body
            acked[pid] = acked.get(pid, 0) + 1
        before = {pid: cluster.call("GET", f"/v1/collections/fb/feedback?point_id={pid}")[1]["count"] for pid in acked}
        victim = cluster.workers[leader_ids[0] - 1]
        victim.kill9()
        for pid, n in before.items():
            st, body = cluster.call("GET", f"/v1/collections/fb/feedback?point_id={pid}")
            assert st == 200 and body["count"] == n, (pid, body)
        # Ratings go on while the group elects a new leader (the gateway retries).
        st, body = cluster.call("POST", "/v1/collections/fb/feedback", {"point_id": "p01", "rating": 5})
        assert st == 201, body
        victim.start()
        cluster.wait_for("the restarted worker to be live", lambda: all(
            w["alive"] for w in cluster.call("GET", "/v1/cluster")[1]["workers"]))
        st, body = cluster.call("GET", "/v1/collections/fb/feedback?point_id=p01")
        assert body["count"] == before["p01"] + 1, body

        # A deleted point's ratings are gone (by id and by filter), on both.
        both("POST", "/v1/collections/fb/points/delete", {"ids": ["p01"]})
        both("POST", "/v1/collections/fb/points/delete", {"where": {"i": 2}})
        for pid in ("p01", "p02"):
            st, body = cluster.call("GET", f"/v1/collections/fb/feedback?point_id={pid}")
            assert st == 200 and body["count"] == 0 and body["mean"] is None, body
        st, text, _ = gateway_raw(cluster, "GET", "/v1/collections/fb/feedback/export")
        assert st == 200 and not {"p01", "p02"} & {j["point_id"] for j in without_time(text)}, text
        assert both("POST", "/v1/collections/fb/feedback", {"point_id": "p01", "rating": 3})[0] == 404
        # A collection just created through this gateway (maybe not in its cached map yet)
        # is found: the answer is about the point, not the collection.
        st, body = cluster.call("POST", "/v1/collections", {"name": "fresh", "dim": DIM, "shards": 2})
        assert st == 201, body
        st, body = cluster.call("POST", "/v1/collections/fresh/feedback", {"point_id": "a", "rating": 3})
        assert st == 404 and 'point "a" does not exist' in body["error"]["message"], body
        st, text, r = gateway_raw(cluster, "GET", "/v1/collections/fresh/feedback/export")
        assert st == 200 and text == "" and r.getheader("X-Vectron-Ratings") == "0", text
    finally:
        serve.stop()


def test_gateway_stores_a_default_rerank_pipeline_as_serve_does(cluster, tmp_path):
    """GET/PUT/DELETE .../rerank through the gateway (kept in the collection's record in
    the PD's map) answer as `vectron serve` does, searches without "rerank" use the
    stored pipeline ("rerank": false skips it), a second gateway sees it after a map
    refresh, and it moves with a rename."""
    serve = Server(tmp_path)
    try:
        pts = [{"id": f"p{i:02d}", "vector": [i * 0.1, 0.0], "metadata": {"promoted": i % 2 == 1}} for i in range(20)]
        st, body, _ = serve.call("POST", "/v1/collections", {"name": "dr", "dim": 2, "metric": "l2", "shards": 2})
        assert st == 201, body
        assert serve.call("PUT", "/v1/collections/dr/points", {"points": pts})[0] == 200
        cluster.wait_for("the collection", lambda: cluster.call(
            "POST", "/v1/collections", {"name": "dr", "dim": 2, "metric": "l2", "shards": 2})[0] == 201)
        cluster.wait_for("the upsert", lambda: cluster.call("PUT", "/v1/collections/dr/points", {"points": pts})[0] == 200)

        def both(method, path, body=None):
            st, want, _ = serve.call(method, path, body)
            got_st, got = cluster.call(method, path, body)
            assert (got_st, got) == (st, want), (method, path, body, st, want, got_st, got)
            return st, want

        assert both("GET", "/v1/collections/dr/rerank") == (200, {"rerank": None})
        pipeline = {"candidates": 10, "boosts": [{"where": {"promoted": True}, "weight": 50}]}
        st, stored = both("PUT", "/v1/collections/dr/rerank", pipeline)
        assert st == 200 and stored["rerank"]["candidates"] == 10, stored
        assert both("GET", "/v1/collections/dr/rerank") == (200, stored)
        # Bad pipelines and unknown collections: serve's status and message, nothing stored.
        for bad in [{"rocket": {}}, {"mmr": {"lambda": 2}}, [1], {"boosts": [{"where": {"$bogus": 1}, "weight": 1}]}]:
            assert both("PUT", "/v1/collections/dr/rerank", bad)[0] == 400
        assert both("PUT", "/v1/collections/nope/rerank", pipeline)[0] == 404
        assert both("GET", "/v1/collections/nope/rerank")[0] == 404
        assert both("DELETE", "/v1/collections/nope/rerank")[0] == 404
        assert both("GET", "/v1/collections/dr/rerank") == (200, stored)
        # A search without "rerank" uses it; "rerank": false is a plain search.
        for body in [{"vector": [0, 0], "k": 3}, {"vector": [0, 0], "k": 3, "explain": True},
                     {"vectors": [[0, 0], [1.5, 0]], "k": 2}]:
            st, want, _ = serve.call("POST", "/v1/collections/dr/search", {**body, "cache": False})
            st2, got = cluster.call("POST", "/v1/collections/dr/search", body)
            assert st == st2 == 200, got
            for w, g in zip(want.get("results", [want]), got.get("results", [got])):
                assert [h["id"] for h in g["hits"]] == [h["id"] for h in w["hits"]], (body, w, g)
                assert all(abs(a["relevance"] - b["relevance"]) < 1e-6 for a, b in zip(w["hits"], g["hits"]))
        st, got = cluster.call("POST", "/v1/collections/dr/search", {"vector": [0, 0], "k": 3})
        assert [h["id"] for h in got["hits"]] == ["p01", "p03", "p05"], got
        st, got = cluster.call("POST", "/v1/collections/dr/search", {"vector": [0, 0], "k": 2, "rerank": False})
        assert [h["id"] for h in got["hits"]] == ["p00", "p01"] and "relevance" not in got["hits"][0], got
        # Another gateway reads it from the PD's map; a rename keeps it; DELETE removes it.
        g2 = cluster.add_gateway(tmp_path, 7)
        cluster.gateways.append(g2)
        cluster.wait_for("the pipeline on gateway 2", lambda: cluster.call(
            "GET", "/v1/collections/dr/rerank", gateway=len(cluster.gateways) - 1) == (200, stored))
        cluster.gateways.pop()
        assert cluster.call("POST", "/v1/collections/dr/rename", {"name": "dr2"})[0] == 200
        cluster.wait_for("the renamed collection's pipeline",
                         lambda: cluster.call("GET", "/v1/collections/dr2/rerank") == (200, stored))
        assert cluster.call("DELETE", "/v1/collections/dr2/rerank") == (200, {"rerank": None})
        assert cluster.call("GET", "/v1/collections/dr2/rerank") == (200, {"rerank": None})
        st, got = cluster.call("POST", "/v1/collections/dr2/search", {"vector": [0, 0], "k": 2})
        assert [h["id"] for h in got["hits"]] == ["p00", "p01"] and "relevance" not in got["hits"][0], got
    finally:
        serve.stop()


def test_gateway_result_cache_never_serves_an_answer_older_than_an_acknowledged_write(cluster, tmp_path):
    """A reranked search is cached on gateway A with each shard's applied index; a repeat
    is answered from the cache only if every shard still is at that index, so a write or
    rating acknowledged by gateway B shows in A's next answer. "cache": false bypasses
    the cache, and a cached answer is the uncached one with another query id. Counters in
    GET /v1/cluster."""
    pts = [{"id": f"p{i:02d}", "vector": [i * 0.1, 0.0], "metadata": {"promoted": i % 3 == 1}} for i in range(30)]
    cluster.wait_for("the collection", lambda: cluster.call(
        "POST", "/v1/collections", {"name": "rc", "dim": 2, "metric": "l2", "shards": 2})[0] == 201)
    cluster.wait_for("the upsert", lambda: cluster.call("PUT", "/v1/collections/rc/points", {"points": pts})[0] == 200)
    g2 = cluster.add_gateway(tmp_path, 8)
    cluster.gateways.append(g2)
    b = len(cluster.gateways) - 1
    try:
        cluster.wait_for("the collection on gateway B", lambda: cluster.call(
            "POST", "/v1/collections/rc/count", {}, gateway=b)[0] == 200)

        def stats():
            st, body = cluster.call("GET", "/v1/cluster")
            assert st == 200, body
            return body["result_cache"]

        def search(body, gateway=0):
            st, got = cluster.call("POST", "/v1/collections/rc/search", body, gateway=gateway)
            assert st == 200, (body, got)
            return got

        def without_id(answer):
            return {k: v for k, v in answer.items() if k != "query_id"}

        body = {"vector": [0, 0], "k": 3, "explain": True, "include": ["metadata"],
                "rerank": {"candidates": 10, "boosts": [{"where": {"promoted": True}, "weight": 100}],
                           "feedback": {"weight": 1}}}
        s0 = stats()
        assert s0["capacity_bytes"] == 64 << 20, s0
        first = search(body)
        s1 = stats()
        assert (s1["misses"], s1["hits"]) == (s0["misses"] + 1, s0["hits"]) and s1["entries"] == s0["entries"] + 1, s1
        second = search(body)
        s2 = stats()
        assert (s2["misses"], s2["hits"]) == (s1["misses"], s1["hits"] + 1), s2
        uncached = search({**body, "cache": False})
        assert stats() == s2  # "cache": false neither reads nor fills the cache.
        assert len({first["query_id"], second["query_id"], uncached["query_id"]}) == 3
        assert without_id(first) == without_id(second) == without_id(uncached), (first, second, uncached)
        assert [h["id"] for h in first["hits"]] == ["p01", "p04", "p07"], first

        # A write acknowledged by gateway B: A's next answer has it (a miss that replaces the entry).
        st, got = cluster.call("PUT", "/v1/collections/rc/points",
                               {"points": [{"id": "new", "vector": [0.01, 0], "metadata": {"promoted": True}}]}, gateway=b)
        assert st == 200, got
        third = search(body)
        assert [h["id"] for h in third["hits"]] == ["new", "p01", "p04"], third
        s3 = stats()
        assert (s3["misses"], s3["hits"], s3["invalidations"]) == (s2["misses"] + 1, s2["hits"],
                                                                   s2["invalidations"] + 1), s3
        assert without_id(search(body)) == without_id(third)
        assert stats()["hits"] == s3["hits"] + 1
        # A rating through B moves the feedback component.
        st, got = cluster.call("POST", "/v1/collections/rc/feedback", {"point_id": "p04", "rating": 5}, gateway=b)
        assert st == 201, got
        fourth = search(body)
        assert fourth != third and without_id(fourth) == without_id(search({**body, "cache": False})), fourth
        by_id = {h["id"]: h for h in fourth["hits"]}
        assert by_id["p04"]["components"]["feedback"] > 0, fourth
        # A delete through B.
        st, got = cluster.call("POST", "/v1/collections/rc/points/delete", {"ids": ["new"]}, gateway=b)
        assert st == 200, got
        assert "new" not in [h["id"] for h in search(body)["hits"]]
    finally:
        cluster.gateways.pop()


PROBE = os.environ.get("VECTRON_RPC_PROBE", "")


def rpc(addr, *args, token=None):
    """One RPC call through tests/net/rpc_probe: (exit status, its JSON answer)."""
    argv = [PROBE, f"{addr[0]}:{addr[1]}"] + (["--token", token] if token else []) + [str(a) for a in args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout)


def csv(v):
    return ",".join(str(x) for x in v)


def test_the_gateway_rpc_port_serves_the_cluster_with_the_same_rules(cluster, tmp_path):
    """`vectron gateway --rpc`: the binary RPC of `vectron serve`, over the cluster: writes
    through the shard groups' logs, reads and searches across shards, the same token
    checks (scopes, revocation held by the PD) and the same errors."""
    assert PROBE, "VECTRON_RPC_PROBE is not set (meson sets it)"
    g = cluster.add_gateway(tmp_path, 2, "--rpc", "127.0.0.1:0")
    m = re.search(r"rpc listening on ([\d.]+):(\d+)", "".join(g.lines))
    assert m, g.lines
    addr = (m.group(1), int(m.group(2)))
    # No token, or a bad one: refused before anything runs.
    code, out = rpc(addr, "count", "r")
    assert code == 1 and out["error"] == "unauthenticated" and "token" in out["message"], out
    code, out = rpc(addr, "count", "r", token="vk_not_a_token")
    assert code == 1 and out["error"] == "unauthenticated", out
    t = cluster.token
    code, out = rpc(addr, "count", "nope", token=t)
    assert code == 1 and out["error"] == "not_found" and "nope" in out["message"], out
    cluster.wait_for("the collection", lambda: cluster.call(
        "POST", "/v1/collections", {"name": "r", "dim": DIM, "shards": 2, "replication": 3})[0] == 201)
    points = [f"p{i}={csv(vec(i))}" for i in range(12)]
    cluster.wait_for("the upsert", lambda: rpc(addr, "upsert", "r", *points, token=t) == (0, {"count": 12}))
    # What RPC wrote, REST reads (the same shard groups), and the other way round.
    assert rpc(addr, "count", "r", token=t) == (0, {"count": 12})
    assert cluster.call("POST", "/v1/collections/r/count", {})[:2] == (200, {"count": 12})
    st, _ = cluster.call("PUT", "/v1/collections/r/points", {"points": [{"id": "q", "vector": vec(40)}]})
    assert st == 200
    code, out = rpc(addr, "get", "r", "q", "p3", "ghost", token=t)
    assert code == 0 and out["points"] == [{"id": "q", "found": True, "vector": vec(40)},
                                           {"id": "p3", "found": True, "vector": vec(3)},
                                           {"id": "ghost", "found": False, "vector": []}], out
    # Search scatters to both shards and merges: the same answer as REST's.
    code, out = rpc(addr, "search", "r", 4, csv(vec(5)), token=t)
    st, body = cluster.call("POST", "/v1/collections/r/search", {"vector": vec(5), "k": 4})
    assert code == 0 and st == 200 and [h[0] for h in out["hits"]] == [h["id"] for h in body["hits"]], (out, body)
    assert out["hits"][0][0] == "p5"
    assert rpc(addr, "delete", "r", "p0", "p1", token=t) == (0, {"count": 2})
    assert rpc(addr, "count", "r", token=t) == (0, {"count": 11})
    # Bad input gets the error serve gives, and changes nothing.
    code, out = rpc(addr, "upsert", "r", "bad=1,2", token=t)
    assert code == 1 and out["error"] == "invalid_argument" and "dimension" in out["message"], out
    code, out = rpc(addr, "search", "r", 0, csv(vec(1)), token=t)
    assert code == 1 and out["error"] == "invalid_argument" and '"k"' in out["message"], out
    assert rpc(addr, "count", "r", token=t) == (0, {"count": 11})
    code, out = rpc(addr, "list", token=t)
    # (The gateway's map holds no counts: ListCollections answers 0, as its REST list omits them.)
    assert code == 0 and [(c["name"], c["dim"]) for c in out["collections"]] == [("r", DIM)], out
    # A read key reads and is refused writes; once revoked (in the PD), RPC refuses it too.
    st, body = cluster.call("POST", "/v1/keys", {"name": "reader", "scopes": ["read"]}, token=cluster.login_token)
    assert st == 201, body
    reader, reader_id = body["token"], body["key_id"]
    # (Made through gateway 1: gateway 2 learns of it from the PD.)
    cluster.wait_for("the key on gateway 2", lambda: rpc(addr, "count", "r", token=reader) == (0, {"count": 11}))
    code, out = rpc(addr, "upsert", "r", f"x={csv(vec(1))}", token=reader)
    assert code == 1 and out["error"] == "permission_denied", out
    assert cluster.call("DELETE", f"/v1/keys/{reader_id}", token=cluster.login_token)[0] == 200
    cluster.wait_for("the revocation on gateway 2",
                     lambda: rpc(addr, "count", "r", token=reader)[1].get("error") == "unauthenticated")
    assert rpc(addr, "count", "r", token=t) == (0, {"count": 11})
