"""where= filters (docs/filter.md) through Python: search, count, scroll, delete, and
payload indexes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vectron
from conftest import POINTS_DIM, POINTS_N, points_data

pytestmark = [pytest.mark.both_backends]


def expected_ids(pred):
    ids, _, metas = points_data()
    return [i for i, m in zip(ids, metas) if pred(m)]


WHERES = [
    ({"even": True}, lambda m: m["even"]),
    ({"i": {"$gte": 10, "$lt": 20}}, lambda m: 10 <= m["i"] < 20),
    ({"$or": [{"tag": "t0"}, {"i": {"$in": [1, 4, 7]}}]}, lambda m: m["tag"] == "t0" or m["i"] in (1, 4, 7)),
    ({"tag": {"$ne": "t1"}, "even": False}, lambda m: m["tag"] != "t1" and not m["even"]),
    ({"missing": {"$exists": False}}, lambda m: True),
    ({}, lambda m: True),
]


@pytest.mark.parametrize("where,pred", WHERES)
def test_count_and_scroll_with_where(col, where, pred):
    want = expected_ids(pred)
    assert col.count(where=where) == len(want)
    assert col.count(where=json.dumps(where)) == len(want)  # JSON text works too
    assert [p.id for p in col.iter_points(batch=7, where=where, include=None)] == want


@pytest.mark.parametrize("where,pred", WHERES)
def test_search_with_where_returns_only_matches(col, where, pred):
    ids, vecs, metas = points_data()
    allowed = set(expected_ids(pred))
    q = vecs[50]
    hits = col.search(q, k=5, where=where)
    d = ((vecs - q) ** 2).sum(axis=1)
    want = [ids[i] for i in np.argsort(d) if ids[i] in allowed][:5]
    assert [h.id for h in hits] == want
    assert all(pred(h.metadata) for h in hits)
    bids, _ = col.search(vecs[:4], k=5, where=where, as_numpy=True)
    for row in bids:
        assert all(x in allowed for x in row if x)


def test_delete_where(col):
    n = col.delete(where={"tag": "t2"})
    assert n == len(expected_ids(lambda m: m["tag"] == "t2"))
    assert col.count(where={"tag": "t2"}) == 0
    assert len(col) == POINTS_N - n
    assert col.delete(where={"tag": "t2"}) == 0


@pytest.mark.parametrize("bad", ['{"i": {"$gt": }', {"i": {"$bogus": 1}}, {"$or": []}, {"i": {"$gt": True}}])
def test_malformed_filters_are_invalid_argument(col, bad):
    with pytest.raises(vectron.InvalidArgumentError):
        col.count(where=bad)
    with pytest.raises(vectron.InvalidArgumentError):
        col.search(np.zeros(POINTS_DIM, np.float32), where=bad)
    with pytest.raises(vectron.InvalidArgumentError):
        col.delete(where=bad)
    assert len(col) == POINTS_N


def test_payload_indexes(col):
    assert col.list_payload_indexes() == {}
    col.create_payload_index("tag", "keyword")
    col.create_payload_index("i", "integer")
    assert col.list_payload_indexes() == {"tag": "keyword", "i": "integer"}
    with pytest.raises(vectron.AlreadyExistsError):
        col.create_payload_index("tag", "keyword")
    with pytest.raises(vectron.InvalidArgumentError, match="type"):
        col.create_payload_index("x", "date")
    # Indexed filters give the same answers.
    assert col.count(where={"tag": "t1", "i": {"$lt": 30}}) == len(
        expected_ids(lambda m: m["tag"] == "t1" and m["i"] < 30))
    col.drop_payload_index("tag")
    assert col.list_payload_indexes() == {"i": "integer"}
    with pytest.raises(vectron.NotFoundError):
        col.drop_payload_index("tag")


@pytest.mark.parametrize("strategy", ["auto", "exact", "graph", "post_filter"])
def test_filter_strategies_on_hnsw_agree_with_brute_force(db, strategy):
    rng = np.random.default_rng(321)
    n, dim = 1500, 16
    vecs = rng.standard_normal((n, dim), dtype=np.float32)
    metas = [{"bucket": i % 10, "name": f"n{i}"} for i in range(n)]
    c = db.create_collection("hf", dim=dim, metric="l2", flat_max_points=0, m=16, ef_construction=100)
    c.upsert([str(i) for i in range(n)], vecs, metadata=metas)
    c.create_payload_index("bucket", "integer")
    where = {"bucket": {"$in": [2, 7]}}  # 20% of the points
    allowed = np.array([m["bucket"] in (2, 7) for m in metas])
    queries = rng.standard_normal((40, dim), dtype=np.float32)
    ids, _ = c.search(queries, k=10, ef=200, where=where, filter_strategy=strategy, as_numpy=True)
    hits = total = 0
    for qi, q in enumerate(queries):
        d = ((vecs - q) ** 2).sum(axis=1)
        d[~allowed] = np.inf
        want = {str(i) for i in np.argsort(d)[:10]}
        got = set(ids[qi])
        assert all(allowed[int(x)] for x in got)
        hits += len(want & got)
        total += 10
    assert hits / total >= (1.0 if strategy == "exact" else 0.9), hits / total
    one = c.search(queries[0], k=10, ef=200, where=where, filter_strategy=strategy, include=None)
    assert [h.id for h in one] == list(ids[0])


def test_bad_filter_strategy(col):
    q = np.zeros(POINTS_DIM, np.float32)
    with pytest.raises(vectron.InvalidArgumentError, match="filter_strategy"):
        col.search(q, where={"even": True}, filter_strategy="fastest")
    with pytest.raises(TypeError, match="filter_strategy"):
        col.search(q, filter_strategy=1)


def test_where_with_include_and_numpy_rows_as_wide_as_the_matches(col):
    # Only 3 points match: numpy rows are 3 wide, not k (issue 22, item 6).
    ids, scores = col.search(np.zeros((2, POINTS_DIM), np.float32), k=5, where={"i": {"$lt": 3}}, as_numpy=True)
    assert ids.shape == scores.shape == (2, 3)
    assert sorted(ids[0]) == ["p000", "p001", "p002"] and np.isfinite(scores).all()
    hits = col.search(np.zeros(POINTS_DIM, np.float32), k=5, where={"i": {"$lt": 3}}, include=["vector", "metadata"])
    assert len(hits) == 3 and all(h.metadata["i"] < 3 and h.vector is not None for h in hits)
