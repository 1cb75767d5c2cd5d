"""`vectron serve`: partial updates (points/metadata, points/vectors), paged reads
(points/list: where, limit, offset) and search offset / score_threshold, over real
loopback sockets. Run by meson with VECTRON_BIN set."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from test_serve import Server, assert_error, create  # noqa: E402


def make(server, shards=1):
    create(server, "docs", dim=3, metric="l2", shards=shards)
    pts = [{"id": f"p{i:02d}", "vector": [float(i), 0.0, 0.0], "metadata": {"i": i, "tag": "even" if i % 2 == 0 else "odd"}}
           for i in range(20)]
    st, body, _ = server.call("PUT", "/v1/collections/docs/points", {"points": pts})
    assert st == 200, body


def get(server, *ids):
    st, body, _ = server.call("POST", "/v1/collections/docs/points/get", {"ids": list(ids), "include": ["metadata", "vector"]})
    assert st == 200, body
    return {p["id"]: p for p in body["points"]}


def test_partial_updates_keep_the_other_half(tmp_path):
    server = Server(tmp_path)
    try:
        make(server, shards=2)
        # Merge (the default): keys set, null removes, others stay; the vector stays.
        st, body, _ = server.call("POST", "/v1/collections/docs/points/metadata",
                                  {"points": [{"id": "p01", "metadata": {"tag": "new", "i": None, "x": [1]}}]})
        assert (st, body) == (200, {"updated": 1})
        p = get(server, "p01")["p01"]
        assert p["metadata"] == {"tag": "new", "x": [1]} and p["vector"] == [1.0, 0.0, 0.0]
        # Replace, for many ids at once.
        st, body, _ = server.call("POST", "/v1/collections/docs/points/metadata",
                                  {"ids": ["p02", "p03"], "metadata": {"only": True}, "merge": False})
        assert (st, body) == (200, {"updated": 2})
        got = get(server, "p02", "p03")
        assert got["p02"]["metadata"] == {"only": True} and got["p03"]["metadata"] == {"only": True}
        # The filter follows the new metadata.
        st, body, _ = server.call("POST", "/v1/collections/docs/count", {"where": {"tag": "new"}})
        assert body == {"count": 1}
        # A vector update keeps the metadata; search finds the new position.
        st, body, _ = server.call("POST", "/v1/collections/docs/points/vectors",
                                  {"points": [{"id": "p02", "vector": [100, 0, 0]}]})
        assert (st, body) == (200, {"updated": 1})
        p = get(server, "p02")["p02"]
        assert p["vector"] == [100.0, 0.0, 0.0] and p["metadata"] == {"only": True}
        st, body, _ = server.call("POST", "/v1/collections/docs/search", {"vector": [99, 0, 0], "k": 1})
        assert body["hits"][0]["id"] == "p02"
        # A missing id refuses the whole request (404), nothing changes.
        st, body, _ = server.call("POST", "/v1/collections/docs/points/metadata",
                                  {"points": [{"id": "p04", "metadata": {"z": 1}}, {"id": "ghost", "metadata": {}}]})
        assert_error(st, body, 404, "not_found", "ghost")
        assert "z" not in get(server, "p04")["p04"]["metadata"]
        st, body, _ = server.call("POST", "/v1/collections/docs/points/vectors", {"points": [{"id": "ghost", "vector": [1, 2, 3]}]})
        assert_error(st, body, 404, "not_found", "ghost")
        # Bad input: named.
        for req, frag in [({"points": [{"id": "p01", "metadata": [1]}]}, "points[0].metadata"),
                          ({"ids": ["p01"]}, "\"metadata\" is required"),
                          ({"points": [], "ids": ["a"]}, "exactly one"),
                          ({"points": [{"id": "p01", "metadata": {}, "vector": [1]}]}, "vector")]:
            st, body, _ = server.call("POST", "/v1/collections/docs/points/metadata", req)
            assert_error(st, body, 400, "invalid_argument", frag)
        st, body, _ = server.call("POST", "/v1/collections/docs/points/vectors", {"points": [{"id": "p01", "vector": [1, 2]}]})
        assert_error(st, body, 400, "invalid_argument", "dimension")
        assert get(server, "p01")["p01"]["vector"] == [1.0, 0.0, 0.0]
    finally:
        server.stop()


def test_list_with_where_limit_offset(tmp_path):
    server = Server(tmp_path)
    try:
        make(server, shards=3)
        st, body, _ = server.call("POST", "/v1/collections/docs/points/list", {"limit": 5, "offset": 3})
        assert st == 200, body
        assert [p["id"] for p in body["points"]] == ["p03", "p04", "p05", "p06", "p07"]
        assert set(body["points"][0]) == {"id", "metadata"}
        st, body, _ = server.call("POST", "/v1/collections/docs/points/list",
                                  {"where": {"tag": "odd"}, "limit": 3, "offset": 1, "include": ["vector"]})
        assert [p["id"] for p in body["points"]] == ["p03", "p05", "p07"]
        assert body["points"][0] == {"id": "p03", "vector": [3.0, 0.0, 0.0]}
        st, body, _ = server.call("POST", "/v1/collections/docs/points/list", None)
        assert st == 200 and len(body["points"]) == 20
        st, body, _ = server.call("POST", "/v1/collections/docs/points/list", {"offset": 50})
        assert body == {"points": []}
        st, body, _ = server.call("POST", "/v1/collections/docs/points/list", {"limit": 10001})
        assert_error(st, body, 400, "invalid_argument", "limit")
        st, body, _ = server.call("POST", "/v1/collections/docs/points/list", {"offset": -1})
        assert_error(st, body, 400, "invalid_argument", "offset")
        # Deep offsets cost a walk over the skipped points: capped, pointing at scroll.
        st, body, _ = server.call("POST", "/v1/collections/docs/points/list", {"offset": 100000})
        assert st == 200 and body == {"points": []}, body
        st, body, _ = server.call("POST", "/v1/collections/docs/points/list", {"offset": 100001})
        assert_error(st, body, 400, "invalid_argument", "offset")
        assert "scroll" in body["error"]["message"], body
    finally:
        server.stop()


def test_search_offset_and_score_threshold(tmp_path):
    server = Server(tmp_path)
    try:
        make(server, shards=2)
        q = {"vector": [0, 0, 0], "exact": True}
        st, body, _ = server.call("POST", "/v1/collections/docs/search", {**q, "k": 3, "offset": 2})
        assert [h["id"] for h in body["hits"]] == ["p02", "p03", "p04"]
        # l2 scores are squared distances: 0, 1, 4, 9, ...
        st, body, _ = server.call("POST", "/v1/collections/docs/search", {**q, "k": 10, "score_threshold": 4.5})
        assert [h["id"] for h in body["hits"]] == ["p00", "p01", "p02"]
        st, body, _ = server.call("POST", "/v1/collections/docs/search", {**q, "k": 10, "score_threshold": "x"})
        assert_error(st, body, 400, "invalid_argument", "score_threshold")
        st, body, _ = server.call("POST", "/v1/collections/docs/search", {**q, "offset": -2})
        assert_error(st, body, 400, "invalid_argument", "offset")
        st, body, _ = server.call("GET", "/openapi.json")
        for path in ("points/metadata", "points/vectors", "points/list"):
            assert "/v1/collections/{name}/" + path in body["paths"]
        assert "score_threshold" in body["components"]["schemas"]["Search"]["properties"]
    finally:
        server.stop()


def test_collection_metadata_and_rename(tmp_path):
    server = Server(tmp_path)
    try:
        create(server, "docs", dim=3, metadata={"owner": "me"})
        st, body, _ = server.call("GET", "/v1/collections/docs")
        assert body["metadata"] == {"owner": "me"}
        st, body, _ = server.call("PUT", "/v1/collections/docs/metadata", {"metadata": {"v": 2}})
        assert (st, body) == (200, {"name": "docs", "metadata": {"v": 2}})
        st, body, _ = server.call("PUT", "/v1/collections/docs/metadata", {"metadata": [1]})
        assert_error(st, body, 400, "invalid_argument", "metadata")
        st, body, _ = server.call("PUT", "/v1/collections/docs/metadata", {})
        assert_error(st, body, 400, "invalid_argument", "metadata")
        st, body, _ = server.call("PUT", "/v1/collections/docs/points", {"points": [{"id": "a", "vector": [1, 2, 3]}]})
        assert st == 200
        st, body, _ = server.call("POST", "/v1/collections/docs/rename", {"name": "papers"})
        assert (st, body) == (200, {"name": "papers", "renamed_from": "docs"})
        st, body, _ = server.call("GET", "/v1/collections/docs")
        assert_error(st, body, 404, "not_found")
        st, body, _ = server.call("GET", "/v1/collections/papers")
        assert body["metadata"] == {"v": 2} and body["stats"]["count"] == 1
        create(server, "docs", dim=3)
        st, body, _ = server.call("POST", "/v1/collections/papers/rename", {"name": "docs"})
        assert_error(st, body, 409, "already_exists")
        st, body, _ = server.call("POST", "/v1/collections/papers/rename", {"name": "bad name"})
        assert_error(st, body, 400, "invalid_argument")
        st, body, _ = server.call("PUT", "/v1/collections/docs/metadata", {"metadata": None})
        assert body == {"name": "docs", "metadata": None}
    finally:
        server.stop()
    # The rename survives a restart.
    server = Server(tmp_path, data=tmp_path / "data", name="srv2")
    try:
        st, body, _ = server.call("POST", "/v1/collections/papers/points/get", {"ids": ["a"]})
        assert st == 200 and body["points"][0]["id"] == "a"
    finally:
        server.stop()


def test_the_operation_table_fields_shared_with_the_cluster(tmp_path):
    """The REST codec is the gateway's too: `replication` and `max_staleness_ms` are read
    here as well (one copy; reads always current), and bad values are refused by name."""
    server = Server(tmp_path)
    try:
        st, body, _ = server.call("POST", "/v1/collections", {"name": "r3", "dim": 3, "replication": 3})
        assert_error(st, body, 400, "invalid_argument", "replication")
        st, body, _ = server.call("GET", "/v1/collections/r3")
        assert st == 404, body  # Nothing was created.
        st, body, _ = server.call("POST", "/v1/collections", {"name": "docs", "dim": 3, "replication": 1,
                                                              "metadata": {"owner": "me"}})
        assert st == 201 and body["metadata"] == {"owner": "me"}, body
        st, body, _ = server.call("PUT", "/v1/collections/docs/points", {"points": [{"id": "a", "vector": [1, 0, 0]}]})
        assert st == 200, body
        st, body, _ = server.call("GET", "/v1/collections/docs")
        assert st == 200 and body["replication"] == 1 and body["stats"]["count"] == 1, body
        st, body, _ = server.call("POST", "/v1/collections/docs/count", {"max_staleness_ms": 500})
        assert (st, body) == (200, {"count": 1})
        st, body, _ = server.call("POST", "/v1/collections/docs/search",
                                  {"vector": [1, 0, 0], "k": 1, "max_staleness_ms": 500})
        assert st == 200 and body["hits"][0]["id"] == "a", body
        st, body, _ = server.call("POST", "/v1/collections/docs/points/get", {"ids": ["a"], "max_staleness_ms": -1})
        assert_error(st, body, 400, "invalid_argument", "max_staleness_ms")
        st, body, _ = server.call("POST", "/v1/collections/docs/search", {"vector": [1, 0, 0], "offset": 10001})
        assert_error(st, body, 400, "invalid_argument", "offset")
        # Deleting ids answers how many of them existed, over REST as over RPC.
        st, body, _ = server.call("POST", "/v1/collections/docs/points/delete", {"ids": ["a", "ghost"]})
        assert (st, body) == (200, {"deleted": 1})
    finally:
        server.stop()
