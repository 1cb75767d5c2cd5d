"""Every public call of the vectron package, on valid input. The tests that take `db`
or `col` run against the embedded engine and against a server (conftest.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import vectron
from conftest import POINTS_DIM, POINTS_N, points_data, random_vectors

pytestmark = pytest.mark.both_backends


def brute_force(vecs: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    d = ((vecs - q) ** 2).sum(axis=1)
    return list(np.argsort(d, kind="stable")[:k])


# --- database ----------------------------------------------------------------------------


def test_open_creates_directory_and_context_manager_closes(db_path):
    with vectron.open(db_path) as db:
        assert not db.closed
        assert db.path == str(db_path)
        assert db_path.is_dir()
        assert "closed" not in repr(db)
    assert db.closed
    assert "closed" in repr(db)
    db.close()  # idempotent


def test_open_accepts_pathlike_and_options(tmp_path):
    db = vectron.open(tmp_path / "x", durability="nosync", map_size_bytes=1 << 30, threads=2)
    c = db.create_collection("c", dim=2)
    c.upsert(["a"], [[1.0, 2.0]])
    db.sync()
    db.close()
    with vectron.open(str(tmp_path / "x"), create_if_missing=False) as db2:
        assert len(db2.get_collection("c")) == 1


def test_collection_lifecycle(db):
    assert db.list_collections() == []
    a = db.create_collection("b_docs", dim=3)
    db.create_collection("a-docs", dim=5, metric="ip", m=8, ef_construction=50, ef_search=20, shards=3,
                         seed=7, flat_max_points=10, checkpoint_every_ops=1000)
    assert db.list_collections() == ["a-docs", "b_docs"]
    assert "a-docs" in db and "zzz" not in db and 3 not in db
    assert a.name == "b_docs" and a.dim == 3 and a.metric == "cosine"
    cfg = db.get_collection("a-docs").config
    assert cfg == {"dim": 5, "metric": "ip", "m": 8, "ef_construction": 50, "ef_search": 20, "seed": 7,
                   "shards": 3, "flat_max_points": 10, "checkpoint_every_ops": 1000, "quantization": "none"}
    assert a.database is db
    assert "b_docs" in repr(a) and "dim=3" in repr(a)
    db.drop_collection("a-docs")
    assert db.list_collections() == ["b_docs"]


def test_defaults_come_from_the_engine(db):
    import inspect

    cfg = vectron._vectron.COLLECTION_DEFAULTS
    for fn in (vectron.Database.create_collection, vectron.Database.get_or_create_collection):
        params = inspect.signature(fn).parameters
        assert {k: params[k].default for k in cfg} == cfg
    # What the binding reports as the defaults is what the engine creates.
    assert db.create_collection("d", dim=3).config == dict(cfg, dim=3)
    opened = inspect.signature(vectron.open).parameters
    assert {k: opened[k].default for k in vectron._vectron.DATABASE_DEFAULTS} == vectron._vectron.DATABASE_DEFAULTS
    assert inspect.signature(vectron.Collection.search).parameters["k"].default == vectron._vectron.SEARCH_DEFAULTS["k"]


def test_get_or_create_collection_returns_existing(db):
    c1 = db.get_or_create_collection("c", dim=4, metric="l2")
    c1.upsert(["x"], [[1, 2, 3, 4]])
    c2 = db.get_or_create_collection("c", dim=4, metric="l2")
    assert len(c2) == 1


def test_data_survives_reopen(db_path):
    ids, vecs, metas = points_data()
    with vectron.open(db_path) as db:
        db.create_collection("points", dim=POINTS_DIM, metric="l2").upsert(ids, vecs, metas)
    with vectron.open(db_path) as db:
        c = db.get_collection("points")
        assert len(c) == POINTS_N
        p = c["p042"]
        np.testing.assert_array_equal(p.vector, vecs[42])
        assert p.metadata == metas[42]


# --- writes and reads --------------------------------------------------------------------


def test_upsert_then_get(col):
    ids, vecs, metas = points_data()
    got = col.get(["p001", "missing", "p099"])
    assert got[1] is None
    assert got[0].id == "p001" and got[0].metadata == metas[1]
    np.testing.assert_array_equal(got[0].vector, vecs[1])
    assert got[0].vector.dtype == np.float32
    np.testing.assert_array_equal(got[2].vector, vecs[99])


def test_get_single_id_and_include(col):
    p = col.get("p005", include=["metadata"])
    assert p.id == "p005" and p.vector is None and p.metadata["i"] == 5
    p = col.get("p005", include="vector")
    assert p.metadata is None and p.vector.shape == (POINTS_DIM,)
    p = col.get("p005", include=None)
    assert p.vector is None and p.metadata is None
    assert col.get("nope") is None
    assert col.get([]) == []


def test_getitem_and_contains(col):
    assert col["p007"].metadata["i"] == 7
    assert "p007" in col and "nope" not in col and 7 not in col
    with pytest.raises(KeyError, match="nope"):
        col["nope"]


def test_upsert_replaces_vector_and_metadata(col):
    col.upsert(["p001"], np.ones((1, POINTS_DIM), np.float32), metadata=[{"new": True}])
    p = col["p001"]
    np.testing.assert_array_equal(p.vector, np.ones(POINTS_DIM))
    assert p.metadata == {"new": True}
    assert len(col) == POINTS_N
    col.upsert("p001", np.zeros(POINTS_DIM))  # one id, 1-D vector, no metadata
    assert col["p001"].metadata is None


def test_upsert_accepts_lists_float64_noncontiguous_and_single(db):
    c = db.create_collection("c", dim=3, metric="l2")
    c.upsert(["a", "b"], [[1, 2, 3], [4, 5, 6]])
    c.upsert(("c",), np.array([[7, 8, 9]], dtype=np.float64))
    big = np.arange(12, dtype=np.float32).reshape(2, 6)
    c.upsert(["d", "e"], big[:, ::2])  # strided view
    c.upsert("f", [1, 1, 1], {"k": "v"})
    c.add(["g"], [[0, 0, 1]])
    assert len(c) == 7
    np.testing.assert_array_equal(c["e"].vector, [6, 8, 10])
    assert c["f"].metadata == {"k": "v"}
    c.upsert([], np.zeros((0, 3), np.float32))  # empty batch is a no-op
    assert len(c) == 7


def test_float32_c_contiguous_input_is_not_copied():
    a = np.ones((4, 8), dtype=np.float32)
    assert vectron._vectron._buffer_address(a) == a.ctypes.data
    b = np.ones((8, 4), dtype=np.float32).T  # not C-contiguous: the binding copies
    assert vectron._vectron._buffer_address(b) != b.ctypes.data


def test_metadata_types_round_trip(db):
    c = db.create_collection("m", dim=2)
    meta = {"s": "héllo ✓", "i": -3, "f": 2.5, "b": False, "n": None, "l": [1, "x"], "o": {"deep": {"er": 1}}}
    c.upsert(["a", "b"], [[1, 0], [0, 1]], metadata=[meta, None])
    assert c["a"].metadata == meta
    assert c["b"].metadata is None


def test_unicode_ids(db):
    c = db.create_collection("u", dim=2, metric="l2")
    c.upsert(["ключ", "键", "a"], [[0, 0], [1, 1], [5, 5]])
    assert c["键"].id == "键"
    ids, scores = c.search([1, 1], k=3, as_numpy=True)
    assert list(ids) == ["键", "ключ", "a"]
    assert [h.id for h in c.search([1, 1], k=3)] == ["键", "ключ", "a"]


def test_delete_by_ids(col):
    assert col.delete(ids=["p000", "p001", "never-existed"]) is None
    assert len(col) == POINTS_N - 2
    assert col.get("p000") is None
    col.delete("p002")
    assert col.count() == POINTS_N - 3
    assert "p002" not in [h.id for h in col.search(points_data()[1][2], k=5)]


@pytest.mark.embedded_only("checkpoint() is embedded only: a server checkpoints by itself")
def test_count_len_and_stats(col):
    assert col.count() == len(col) == POINTS_N
    s = col.stats()
    assert isinstance(s, vectron.CollectionStats)
    assert s.count == POINTS_N and s.index_kind == "flat" and s.disk_bytes > 0 and s.index_memory_bytes > 0
    col.checkpoint()


def test_scroll_pages_through_everything_in_id_order(col):
    seen = []
    cursor = None
    while True:
        page = col.scroll(limit=7, cursor=cursor, include=None)
        assert len(page.points) <= 7
        seen += [p.id for p in page.points]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(points_data()[0])
    first = col.scroll(limit=1)
    assert first.points[0].vector is not None and first.points[0].metadata == {"i": 0, "even": True, "tag": "t0"}


def test_iter_points(col):
    assert [p.id for p in col.iter_points(batch=9)] == points_data()[0]
    assert sum(1 for _ in col) == POINTS_N


# --- search ------------------------------------------------------------------------------


def test_search_single_query_matches_brute_force(col):
    _, vecs, metas = points_data()
    q = vecs[10] + 0.01
    hits = col.search(q, k=5)
    assert [h.id for h in hits] == [f"p{i:03d}" for i in brute_force(vecs, q, 5)]
    assert all(isinstance(h, vectron.Hit) for h in hits)
    assert hits[0].metadata == metas[10] and hits[0].vector is None
    assert hits == sorted(hits, key=lambda h: h.score)
    assert math.isclose(hits[0].score, float(((vecs[10] - q) ** 2).sum()), rel_tol=1e-3, abs_tol=1e-5)


def test_search_include_vector_and_nothing(col):
    _, vecs, _ = points_data()
    h = col.search(vecs[3], k=1, include=["vector", "metadata"])[0]
    np.testing.assert_array_equal(h.vector, vecs[3])
    assert h.metadata["i"] == 3
    h = col.search(vecs[3], k=1, include=None)[0]
    assert h.vector is None and h.metadata is None and h.id == "p003"


def test_search_batch_friendly_and_numpy_agree(col):
    _, vecs, _ = points_data()
    qs = vecs[:20] + 0.001
    friendly = col.search(qs, k=4)
    assert len(friendly) == 20 and all(len(r) == 4 for r in friendly)
    ids, scores = col.search(qs, k=4, as_numpy=True)
    assert ids.shape == (20, 4) and scores.shape == (20, 4) and scores.dtype == np.float32
    assert ids.dtype.kind == "U"
    for i in range(20):
        assert [h.id for h in friendly[i]] == list(ids[i])
        np.testing.assert_allclose([h.score for h in friendly[i]], scores[i], rtol=1e-6)
        assert friendly[i][0].id == f"p{i:03d}"
    one_ids, one_scores = col.search(qs[0], k=4, as_numpy=True)
    assert one_ids.shape == (4,) and list(one_ids) == list(ids[0])
    # Not bit for bit: an exact batch is a matrix product (docs/benchmarks.md, "Exact batch
    # search"), which sums each distance in another order than the one-query kernel.
    np.testing.assert_allclose(one_scores, scores[0], rtol=1e-6, atol=1e-9)


def test_search_batch_threads_give_same_results(col):
    _, vecs, _ = points_data()
    a = col.search(vecs, k=3, as_numpy=True, threads=1)
    b = col.search(vecs, k=3, as_numpy=True, threads=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_search_k_larger_than_collection_gives_count_columns_numpy(db):
    c = db.create_collection("small", dim=2, metric="l2")
    c.upsert(["a", "b"], [[0, 0], [1, 0]])
    assert [h.id for h in c.search([0, 0], k=10)] == ["a", "b"]
    ids, scores = c.search([[0, 0]], k=4, as_numpy=True)
    assert list(ids[0]) == ["a", "b"] and scores.shape == (1, 2)
    assert np.isfinite(scores).all()


def test_search_empty_collection_and_empty_batch(db):
    c = db.create_collection("empty", dim=3)
    assert c.search([1, 0, 0], k=3) == []
    assert c.search(np.zeros((0, 3), np.float32), k=3) == []
    ids, scores = c.search(np.zeros((0, 3), np.float32), k=3, as_numpy=True)
    assert ids.shape == (0, 0) and scores.shape == (0, 0)
    ids, scores = c.search([1, 0, 0], k=3, as_numpy=True)
    assert ids.shape == (0,) and scores.shape == (0,)


def test_search_ef_and_exact_on_hnsw(db, rng):
    vecs = random_vectors(rng, 600, 16)
    c = db.create_collection("h", dim=16, metric="l2", flat_max_points=0, m=8, ef_construction=64)
    c.upsert([str(i) for i in range(600)], vecs)
    assert c.stats().index_kind == "hnsw"
    q = vecs[5] + 0.01
    exact = [h.id for h in c.search(q, k=10, exact=True)]
    assert exact == [str(i) for i in brute_force(vecs, q, 10)]
    assert c.search(q, k=10, ef=200)[0].id == "5"
    assert len(c.search(q, k=10, ef=0)) == 10


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_metrics_score_as_documented(db, metric):
    c = db.create_collection(f"m_{metric}", dim=2, metric=metric)
    c.upsert(["x", "y"], [[1, 0], [0, 2]])
    s = {h.id: h.score for h in c.search([1, 0], k=2)}
    expected = {
        "cosine": {"x": 0.0, "y": 1.0},
        "l2": {"x": 0.0, "y": 5.0},
        "ip": {"x": -1.0, "y": 0.0},
    }[metric]
    for k, v in expected.items():
        assert math.isclose(s[k], v, abs_tol=1e-6)


def test_query_alias(col):
    _, vecs, _ = points_data()
    assert col.query(vecs[1], k=1)[0].id == "p001"


def test_sharded_collection_reads_and_writes(db, rng):
    c = db.create_collection("sh", dim=4, metric="l2", shards=4)
    vecs = random_vectors(rng, 50, 4)
    ids = [f"id{i}" for i in range(50)]
    c.upsert(ids, vecs)
    assert len(c) == 50
    assert [p.id for p in c.iter_points(batch=8)] == sorted(ids)
    assert c.search(vecs[17], k=1)[0].id == "id17"


def test_module_exports():
    for name in vectron.__all__:
        assert hasattr(vectron, name), name
    for fn in (vectron.open, vectron.Database.create_collection, vectron.Collection.search,
               vectron.Collection.upsert, vectron.Collection.get, vectron.Collection.scroll):
        assert fn.__doc__ and len(fn.__doc__) > 20


def test_as_numpy_pads_to_the_hits_found_not_to_k(col):
    """Regression (issue 22, item 6): search(Q, k=100000, as_numpy=True) on a 100-point
    collection padded every row to k (3,000 queries: a 3.35 GiB MemoryError). Rows are
    now as wide as the most hits any row got, min(k, count) without a filter. (k is
    10,000 here, the server's limit.)"""
    _, vecs, _ = points_data()
    k = 10000
    queries = np.tile(vecs, (10, 1))  # 1,000 queries: 160 MB of padding before
    ids, scores = col.search(queries, k=k, as_numpy=True)
    assert ids.shape == scores.shape == (1000, POINTS_N)
    assert list(ids[5, :1]) == ["p005"] and np.isfinite(scores).all()
    one_ids, one_scores = col.search(vecs[7], k=k, as_numpy=True)
    assert one_ids.shape == one_scores.shape == (POINTS_N,)
    # With a filter, as wide as the matches; k below the count still gives k columns.
    ids, _ = col.search(vecs[:4], k=k, where={"even": True}, as_numpy=True)
    assert ids.shape == (4, POINTS_N // 2) and (ids != "").all()
    assert col.search(vecs[:4], k=3, as_numpy=True)[0].shape == (4, 3)
    # No match at all: zero columns; no query: zero rows.
    assert col.search(vecs[:4], k=5, where={"tag": "none"}, as_numpy=True)[0].shape == (4, 0)
    assert col.search(np.zeros((0, POINTS_DIM), np.float32), k=5, as_numpy=True)[0].shape == (0, 0)


def test_an_empty_collection_is_truthy(db):
    """Regression (issue 22, item 8): bool(collection) came from __len__, so an empty
    collection was False and `if col:` read as 'no collection'."""
    c = db.create_collection("e", dim=2)
    assert bool(c) is True and len(c) == 0
    c.upsert("a", [1, 0])
    assert bool(c) is True and len(c) == 1
