"""`vectron serve`: reranked search ("rerank", "explain", the default pipeline),
query ids, and feedback (rate, stats, export), over real loopback sockets; ratings and
the default pipeline survive a kill -9 of the server. Run by meson with VECTRON_BIN set."""
import json
import os
import signal
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from test_serve import Server, assert_error, create  # noqa: E402


def make(server, shards=2):
    create(server, "docs", dim=2, metric="l2", shards=shards)
    pts = [{"id": f"p{i:02d}", "vector": [i * 0.1, 0.0],
            "metadata": {"i": i, "promoted": i % 2 == 1, "pop": i * 10, "ts": 1000 * i}}
           for i in range(40)]
    st, body, _ = server.call("PUT", "/v1/collections/docs/points", {"points": pts})
    assert st == 200, body


def search(server, **kw):
    st, body, _ = server.call("POST", "/v1/collections/docs/search", {"vector": [0, 0], "k": 3, **kw})
    assert st == 200, body
    return body


def ids(body):
    return [h["id"] for h in body["hits"]]


def test_every_search_has_a_query_id_and_rerank_reorders(tmp_path):
    server = Server(tmp_path)
    try:
        make(server)
        plain = search(server)
        assert ids(plain) == ["p00", "p01", "p02"]
        assert len(plain["query_id"]) == 32 and plain["query_id"] != search(server)["query_id"]
        st, batch, _ = server.call("POST", "/v1/collections/docs/search", {"vectors": [[0, 0], [1, 0]], "k": 1})
        assert st == 200 and len({r["query_id"] for r in batch["results"]}) == 2
        # A boost lifts the promoted points; relevance is higher-is-better, score stays the distance.
        body = search(server, rerank={"boosts": [{"where": {"promoted": True}, "weight": 100}]})
        assert ids(body) == ["p01", "p03", "p05"]
        assert body["hits"][0]["score"] == 0.010000001 or abs(body["hits"][0]["score"] - 0.01) < 1e-6
        assert body["hits"][0]["relevance"] > body["hits"][1]["relevance"] > body["hits"][2]["relevance"]
        assert "components" not in body["hits"][0] and len(body["query_id"]) == 32
        # explain: the components; fields with log1p.
        body = search(server, rerank={"candidates": 10, "fields": [{"field": "pop", "weight": 1, "transform": "log1p"}]},
                      explain=True, include=["metadata"])
        assert ids(body) == ["p09", "p08", "p07"]
        c = body["hits"][0]["components"]
        assert set(c) == {"similarity", "boost", "fields", "decay", "feedback", "custom", "mmr_redundancy"}
        assert abs(c["fields"] - __import__("math").log1p(90)) < 1e-9 and body["hits"][0]["metadata"]["i"] == 9
        # explain alone: the plain order with components.
        body = search(server, explain=True)
        assert ids(body) == ["p00", "p01", "p02"] and body["hits"][0]["components"]["similarity"] == 1.0
        # Batch queries rerank each.
        st, batch, _ = server.call("POST", "/v1/collections/docs/search",
                                   {"vectors": [[0, 0], [3.9, 0]], "k": 1, "rerank": {"mmr": {"lambda": 0.5}}})
        assert st == 200 and [r["hits"][0]["id"] for r in batch["results"]] == ["p00", "p39"]
    finally:
        server.stop()


def test_bad_pipelines_get_a_400_naming_the_problem(tmp_path):
    server = Server(tmp_path)
    try:
        make(server)
        for rerank, frag in [({"rocket": {}}, 'unknown key "rocket"'),
                             ({"candidates": 2}, "2 is fewer than the 3 hits"),
                             ({"candidates": 5000}, "candidates"),
                             ({"mmr": {"lambda": -1}}, "mmr: lambda"),
                             ({"fields": [{"field": "pop", "weight": "NaN"}]}, "fields[0]: \"weight\" must be a number"),
                             ({"fields": [{"field": "pop", "weight": 1e300}]}, "fields[0]: weight must be within"),
                             ({"boosts": [{"where": {"$nope": 1}, "weight": 2}]}, "boosts[0].where"),
                             ({"decay": {"field": "ts", "weight": 1, "half_life_s": -5}}, "half_life_s"),
                             ([1], "must be a pipeline object")]:
            st, body, _ = server.call("POST", "/v1/collections/docs/search", {"vector": [0, 0], "k": 3, "rerank": rerank})
            assert_error(st, body, 400, "invalid_argument", frag)
        # NaN cannot be sent as JSON: the parser refuses it.
        st, body, _ = server.call("POST", "/v1/collections/docs/search",
                                  raw='{"vector":[0,0],"rerank":{"fields":[{"field":"pop","weight":NaN}]}}')
        assert st == 400
        st, body, _ = server.call("PUT", "/v1/collections/docs/rerank", {"feedback": {}})
        assert_error(st, body, 400, "invalid_argument", "feedback: \"weight\" is required")
    finally:
        server.stop()


def test_feedback_is_stored_summarised_exported_and_moves_results(tmp_path):
    server = Server(tmp_path)
    try:
        make(server)
        qid = search(server)["query_id"]
        st, body, _ = server.call("POST", "/v1/collections/docs/feedback",
                                  {"point_id": "p12", "rating": 5, "query_id": qid, "comment": "spot on"})
        assert (st, body) == (201, {"point_id": "p12", "rating": 5, "stored": True})
        for _ in range(29):
            assert server.call("POST", "/v1/collections/docs/feedback", {"point_id": "p12", "rating": 5})[0] == 201
        assert server.call("POST", "/v1/collections/docs/feedback", {"point_id": "p00", "rating": 1})[0] == 201
        st, body, _ = server.call("GET", "/v1/collections/docs/feedback?point_id=p12")
        assert st == 200 and body == {"point_id": "p12", "count": 30, "mean": 5.0,
                                      "histogram": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 30}}
        st, body, _ = server.call("GET", "/v1/collections/docs/feedback?point_id=p01")
        assert body["count"] == 0 and body["mean"] is None
        # Bad feedback: 400 naming it, 404 for a missing point or collection.
        for req, frag in [({"point_id": "p01", "rating": 0}, "from 1 to 5"),
                          ({"point_id": "p01", "rating": 2.5}, "integer from 1 to 5"),
                          ({"point_id": "p01"}, "rating"),
                          ({"rating": 3}, "point_id"),
                          ({"point_id": "p01", "rating": 3, "comment": "x" * 4097}, "comment is 4097 bytes"),
                          ({"point_id": "p01", "rating": 3, "query_id": "q" * 129}, "query_id is 129 bytes"),
                          ({"point_id": "p01", "rating": 3, "extra": 1}, "extra")]:
            st, body, _ = server.call("POST", "/v1/collections/docs/feedback", req)
            assert_error(st, body, 400, "invalid_argument", frag)
        st, body, _ = server.call("POST", "/v1/collections/docs/feedback", {"point_id": "ghost", "rating": 3})
        assert_error(st, body, 404, "not_found", "ghost")
        st, body, _ = server.call("POST", "/v1/collections/nope/feedback", {"point_id": "p01", "rating": 3})
        assert st == 404
        st, body, _ = server.call("GET", "/v1/collections/docs/feedback")
        assert_error(st, body, 400, "invalid_argument", "point_id")
        st, body, _ = server.call("GET", "/v1/collections/docs/feedback?point_id=p1&bogus=1")
        assert_error(st, body, 400, "invalid_argument", "bogus")
        # The ratings lift p12 over its nearer neighbours.
        body = search(server, k=1, rerank={"candidates": 20, "feedback": {"weight": 2}}, explain=True)
        assert ids(body) == ["p12"] and body["hits"][0]["components"]["feedback"] > 1
        # Export: JSON lines, every rating.
        st, text, r = server.call("GET", "/v1/collections/docs/feedback/export")
        assert st == 200 and r.getheader("Content-Type").startswith("application/x-ndjson")
        lines = [json.loads(l) for l in text.strip().split("\n")]
        assert len(lines) == 31 and r.getheader("X-Vectron-Ratings") == "31"
        first = [l for l in lines if l["comment"] == "spot on"]
        assert len(first) == 1 and first[0]["query_id"] == qid and first[0]["point_id"] == "p12"
        st, text, r = server.call("GET", "/v1/collections/docs/feedback/export?limit=2")
        assert len(text.strip().split("\n")) == 2 and r.getheader("X-Vectron-Truncated") == "true"
        assert server.call("GET", "/v1/collections/docs/feedback/export?limit=0")[0] == 400
        # Pages of 4 with the cursor give every rating once, in the export's order.
        paged, cursor, pages = [], None, 0
        while True:
            q = "?limit=4" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
            st, text, r = server.call("GET", "/v1/collections/docs/feedback/export" + q)
            assert st == 200, text
            paged += [json.loads(l) for l in text.strip().split("\n") if l]
            pages += 1
            cursor = r.getheader("X-Vectron-Next-Cursor")
            assert (cursor is None) == (r.getheader("X-Vectron-Truncated") is None)
            if cursor is None:
                break
        assert paged == lines and pages == 8
        st, body, _ = server.call("GET", "/v1/collections/docs/feedback/export?cursor=7.00")
        assert_error(st, body, 400, "invalid_argument", "cursor")
        st, body, _ = server.call("GET", "/v1/collections/docs/feedback/export?cursor=0.zz&limit=3")
        assert_error(st, body, 400, "invalid_argument", "cursor")
        # Deleting a point deletes its ratings.
        assert server.call("POST", "/v1/collections/docs/points/delete", {"where": {"i": 12}})[0] == 200
        st, body, _ = server.call("GET", "/v1/collections/docs/feedback?point_id=p12")
        assert body["count"] == 0
        st, text, _ = server.call("GET", "/v1/collections/docs/feedback/export")
        assert len(text.strip().split("\n")) == 1
    finally:
        server.stop()


def test_default_pipeline_and_ratings_survive_kill_9(tmp_path):
    server = Server(tmp_path)
    try:
        make(server)
        st, body, _ = server.call("GET", "/v1/collections/docs/rerank")
        assert (st, body) == (200, {"rerank": None})
        st, body, _ = server.call("PUT", "/v1/collections/docs/rerank",
                                  {"boosts": [{"where": {"promoted": True}, "weight": 100}]})
        assert st == 200 and body["rerank"]["boosts"][0]["weight"] == 100
        assert server.call("POST", "/v1/collections/docs/feedback", {"point_id": "p03", "rating": 4})[0] == 201
    finally:
        server.stop(signal.SIGKILL)
    server = Server(tmp_path, data=tmp_path / "data", name="srv2")
    try:
        assert ids(search(server)) == ["p01", "p03", "p05"]  # the default applies
        assert ids(search(server, rerank=False)) == ["p00", "p01", "p02"]  # opted out
        st, body, _ = server.call("GET", "/v1/collections/docs/feedback?point_id=p03")
        assert body["count"] == 1 and body["histogram"]["4"] == 1
        st, body, _ = server.call("DELETE", "/v1/collections/docs/rerank")
        assert (st, body) == (200, {"rerank": None})
        assert ids(search(server)) == ["p00", "p01", "p02"]
    finally:
        server.stop()


def test_result_cache_counts_in_metrics_and_can_be_skipped(tmp_path):
    server = Server(tmp_path)
    try:
        make(server)
        pipeline = {"boosts": [{"where": {"promoted": True}, "weight": 100}]}
        a = search(server, rerank=pipeline)
        b = search(server, rerank=pipeline)
        assert ids(a) == ids(b) and a["query_id"] != b["query_id"]
        search(server, rerank=pipeline, cache=False)
        st, text, _ = server.call("GET", "/metrics")

        def metric(name):
            m = [l for l in text.split("\n") if l.startswith(name + '{collection="docs"}')]
            return int(m[0].split()[-1])

        assert metric("vectron_rerank_cache_hits_total") == 1
        assert metric("vectron_rerank_cache_misses_total") == 1
        assert metric("vectron_rerank_cache_entries") == 1 and metric("vectron_rerank_cache_bytes") > 0
        # A write makes the cached answer stale.
        assert server.call("PUT", "/v1/collections/docs/points",
                           {"points": [{"id": "new", "vector": [0, 0], "metadata": {"promoted": True}}]})[0] == 200
        assert ids(search(server, rerank=pipeline))[0] == "new"
        st, text, _ = server.call("GET", "/metrics")
        assert metric("vectron_rerank_cache_invalidations_total") == 1
        assert server.call("POST", "/v1/collections/docs/search", {"vector": [0, 0], "cache": "no"})[0] == 400
    finally:
        server.stop()


def test_an_export_page_ends_at_4_mib_whatever_its_limit(tmp_path):
    # 1,100 ratings with 4,000-byte comments: about 4.5 MB of JSON lines. A page (no
    # limit, or the largest) stops once past 4 MiB and gives a cursor; the pages hold
    # every rating once.
    server = Server(tmp_path)
    try:
        make(server)
        conn = server.conn()
        for i in range(1100):
            st, body, _ = server.call("POST", "/v1/collections/docs/feedback",
                                      {"point_id": f"p{i % 40:02d}", "rating": 1 + i % 5, "comment": f"{i:04d}" * 1000},
                                      conn=conn)
            assert st == 201, body
        conn.close()
        for q in ("", "?limit=1000000"):
            st, text, r = server.call("GET", "/v1/collections/docs/feedback/export" + q)
            assert st == 200
            n = int(r.getheader("X-Vectron-Ratings"))
            assert 900 < n < 1100 and 4 << 20 <= len(text) < (4 << 20) + 30000, (n, len(text))
            assert r.getheader("X-Vectron-Truncated") == "true"
            cursor = r.getheader("X-Vectron-Next-Cursor")
            st, rest, r = server.call("GET", "/v1/collections/docs/feedback/export?cursor=" + urllib.parse.quote(cursor))
            assert st == 200 and r.getheader("X-Vectron-Next-Cursor") is None
            comments = [json.loads(l)["comment"][:4] for l in (text + rest).strip().split("\n")]
            assert sorted(comments) == [f"{i:04d}" for i in range(1100)]
    finally:
        server.stop()
