"""where= filters (docs/filter.md) through Python: search, count, scroll, delete, and
payload indexes. Skipped when the engine of this build has no filter API."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vectron
from conftest import POINTS_DIM, POINTS_N, points_data

pytestmark = pytest.mark.skipif(not vectron.HAS_FILTERS, reason="engine built without the filter API")


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
