"""Reranking and feedback in the embedded engine (docs/rerank.md): col.feedback(),
col.search(..., rerank={...}) with JSON stages and a Python callable, errors."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import vectron


@pytest.fixture
def line(tmp_path):
    d = vectron.open(tmp_path / "db")
    c = d.create_collection("line", dim=2, metric="l2", shards=2)
    ids = [f"p{i:02d}" for i in range(40)]
    vecs = np.array([[i * 0.1, 0.0] for i in range(40)], dtype=np.float32)
    c.upsert(ids, vecs, metadata=[{"i": i, "promoted": i % 2 == 1, "pop": i} for i in range(40)])
    yield c
    d.close()


def ids(hits):
    return [h.id for h in hits]


def test_feedback_is_stored_and_summarised(line):
    line.feedback("p05", 5)
    line.feedback("p05", 3, query_id="q1", comment="ok")
    assert line.feedback_stats("p05") == {"count": 2, "mean": 4.0, "histogram": {1: 0, 2: 0, 3: 1, 4: 0, 5: 1}}
    assert line.feedback_stats("p06")["mean"] is None
    rows = line.export_feedback()
    assert [(r["point_id"], r["rating"]) for r in rows] == [("p05", 5), ("p05", 3)]
    assert rows[1]["query_id"] == "q1" and rows[1]["comment"] == "ok" and rows[0]["comment"] is None
    for bad in (0, 6, 2.5, True, "5"):
        with pytest.raises(vectron.InvalidArgumentError, match="rating"):
            line.feedback("p05", bad)
    with pytest.raises(vectron.InvalidArgumentError, match="comment is 4097 bytes"):
        line.feedback("p05", 3, comment="x" * 4097)
    with pytest.raises(vectron.NotFoundError):
        line.feedback("ghost", 3)
    line.delete(["p05"])
    assert line.feedback_stats("p05")["count"] == 0 and line.export_feedback() == []


def test_feedback_export_pages_with_a_cursor(line):
    for i in range(0, 40, 3):
        for r in range(1 + (i // 3) % 3):
            line.feedback(f"p{i:02d}", 1 + (i + r) % 5)
    everything = line.export_feedback()
    assert len(everything) == 27
    paged, cursor, pages = [], None, 0
    while True:
        rows, cursor = line.export_feedback_page(limit=5, cursor=cursor)
        assert len(rows) == 5 or cursor is None
        paged += rows
        pages += 1
        if cursor is None:
            break
    assert paged == everything and pages == 6
    rows, cursor = line.export_feedback_page(limit=1000)
    assert rows == everything and cursor is None
    with pytest.raises(vectron.InvalidArgumentError, match="cursor"):
        line.export_feedback_page(cursor="0.zz")
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="limit"):
            line.export_feedback_page(limit=bad)


def test_rerank_stages_and_query_ids(line):
    q = np.zeros(2, dtype=np.float32)
    plain = line.search(q, 3, rerank={})
    assert ids(plain) == ["p00", "p01", "p02"] and len(plain.query_id) == 32
    boosted = line.search(q, 3, rerank={"boosts": [{"where": {"promoted": True}, "weight": 100}]}, explain=True)
    assert ids(boosted) == ["p01", "p03", "p05"]
    assert boosted[0].components["boost"] == 100 and boosted[0].relevance > boosted[1].relevance
    assert boosted[0].score == pytest.approx(0.01)  # the distance stays
    # Ratings lift p12 (20 candidates reach it).
    for _ in range(30):
        line.feedback("p12", 5)
    hits = line.search(q, 1, rerank={"candidates": 20, "feedback": {"weight": 2}})
    assert ids(hits) == ["p12"]
    # The default pipeline: stored, used with rerank="default".
    line.set_default_rerank({"boosts": [{"where": {"promoted": True}, "weight": 100}]})
    assert line.default_rerank()["boosts"][0]["weight"] == 100
    assert ids(line.search(q, 2, rerank="default")) == ["p01", "p03"]
    assert ids(line.search(q, 2)) == ["p00", "p01"]  # plain search stays plain
    line.set_default_rerank(None)
    assert line.default_rerank() is None


def test_a_python_callable_reranks(line):
    q = np.zeros(2, dtype=np.float32)
    seen = {}

    def by_pop(query, cand_ids, distances, vectors, metadata):
        seen["n"] = len(cand_ids)
        seen["shape"] = vectors.shape
        assert isinstance(metadata[0], str) and distances.dtype == np.float32
        return [float(i[1:]) for i in cand_ids]  # higher id number = better

    hits = line.search(q, 3, rerank={"candidates": 10, "custom": by_pop}, include=["metadata"])
    assert ids(hits) == ["p09", "p08", "p07"] and hits[0].metadata["pop"] == 9
    assert seen == {"n": 10, "shape": (10, 2)}
    # Weighted, with explain.
    hits = line.search(q, 1, rerank={"candidates": 10, "custom": {"fn": by_pop, "weight": 0.5}}, explain=True)
    assert hits[0].components["custom"] == 4.5
    # Its exception propagates as itself; wrong counts and non-numbers are InvalidArgumentError.

    def boom(*_):
        raise KeyError("model missing")

    with pytest.raises(KeyError, match="model missing"):
        line.search(q, 3, rerank={"custom": boom})
    with pytest.raises(vectron.InvalidArgumentError, match="returned 1 scores for 12 candidates"):
        line.search(q, 3, rerank={"custom": lambda *a: [1.0]})
    with pytest.raises(vectron.InvalidArgumentError, match="not finite"):
        line.search(q, 1, rerank={"candidates": 1, "custom": lambda *a: [float("nan")]})
    with pytest.raises(vectron.InvalidArgumentError):
        line.search(q, 1, rerank={"candidates": 1, "custom": lambda *a: ["x"]})
    with pytest.raises(vectron.InvalidArgumentError, match="callable"):
        line.search(q, 1, rerank={"custom": 3})


def test_a_python_reranker_under_threads(line):
    """Many threads search with a Python reranker at once: the GIL is taken only for the
    callable, and every search gets its own answer."""
    errors = []

    def worker(t):
        try:
            for i in range(20):
                qv = np.array([((t * 7 + i) % 40) * 0.1, 0.0], dtype=np.float32)
                hits = line.search(qv, 1, rerank={"candidates": 5, "custom": lambda q, c, d, v, m: [-x for x in d]})
                assert hits[0].id == f"p{(t * 7 + i) % 40:02d}"
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []


def test_bad_pipelines_name_the_problem(line):
    q = np.zeros(2, dtype=np.float32)
    for rerank, frag in [({"rocket": {}}, 'unknown key "rocket"'),
                         ({"candidates": 2}, "2 is fewer than the 3 hits"),
                         ({"mmr": {"lambda": 3}}, "mmr: lambda"),
                         ({"fields": [{"field": "pop", "weight": float("nan")}]}, "finite"),
                         ([1, 2], "must be a dict")]:
        with pytest.raises(vectron.InvalidArgumentError, match=frag):
            line.search(q, 3, rerank=rerank)
    with pytest.raises(vectron.InvalidArgumentError, match="one query"):
        line.search(np.zeros((2, 2), dtype=np.float32), 3, rerank={})
