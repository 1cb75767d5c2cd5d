"""Recall@10 through Python on the shared datasets (../shared/datasets from the repo root).

- mnist-784-euclidean-10k (l2): all 9,000 × 784 points, 1,000 queries, the dataset's
  exact ground truth.
- glove-100-angular-200k (cosine): the first 5,000 points and 200 queries (the whole set
  takes minutes to index), ground truth computed here exactly with numpy.
HNSW from the first point. Skipped when the datasets are absent."""

from __future__ import annotations

import numpy as np
import pytest

import vectron
from conftest import DATASETS

DATASET = DATASETS / "mnist-784-euclidean-10k"
GLOVE = DATASETS / "glove-100-angular-200k"


def read_vecs(path, dtype, rows: int = -1) -> np.ndarray:
    dim = int(np.fromfile(path, dtype=np.int32, count=1)[0])
    raw = np.fromfile(path, dtype=np.int32, count=-1 if rows < 0 else rows * (dim + 1))
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(dtype)


def recall_at(ids: np.ndarray, gt: np.ndarray, k: int) -> float:
    got = ids[:, :k].astype(np.int64)
    return float(np.mean([len(set(got[i]) & set(gt[i, :k])) / k for i in range(len(gt))]))


@pytest.mark.skipif(not DATASET.is_dir(), reason="skipped: no ../shared/datasets")
def test_recall_on_mnist(tmp_path):
    base = read_vecs(DATASET / "base.fvecs", np.float32)
    queries = read_vecs(DATASET / "query.fvecs", np.float32)
    gt = read_vecs(DATASET / "groundtruth.ivecs", np.int32)
    assert base.shape[1] == queries.shape[1] == 784
    with vectron.open(tmp_path / "db", durability="nosync") as db:
        c = db.create_collection("mnist", dim=784, metric="l2", m=16, ef_construction=200, flat_max_points=0)
        for s in range(0, len(base), 1000):
            c.upsert([str(i) for i in range(s, min(s + 1000, len(base)))], base[s:s + 1000])
        db.sync()
        assert len(c) == len(base)
        assert c.stats().index_kind == "hnsw"
        ids, scores = c.search(queries, k=10, ef=64, as_numpy=True)
        r = recall_at(ids, gt, 10)
        assert r >= 0.98, f"recall@10 at ef=64 is {r:.4f}"
        assert (np.diff(scores, axis=1) >= 0).all()  # nearest first
        # The friendly path returns the same neighbours.
        friendly = c.search(queries[:50], k=10, ef=64, include=None)
        assert [[h.id for h in row] for row in friendly] == [list(r) for r in ids[:50]]
        exact_ids, _ = c.search(queries[:100], k=10, exact=True, as_numpy=True)
        assert recall_at(exact_ids, gt[:100], 10) >= 0.999


@pytest.mark.skipif(not GLOVE.is_dir(), reason="skipped: no ../shared/datasets")
def test_recall_on_glove_subset_cosine(tmp_path):
    base = read_vecs(GLOVE / "base.fvecs", np.float32, rows=5000)
    queries = read_vecs(GLOVE / "query.fvecs", np.float32, rows=200)
    assert base.shape == (5000, 100) and queries.shape == (200, 100)
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    qunit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    gt = np.argsort(-(qunit @ unit.T), axis=1, kind="stable")[:, :10]
    with vectron.open(tmp_path / "db", durability="nosync") as db:
        c = db.create_collection("glove", dim=100, metric="cosine", m=16, ef_construction=200, flat_max_points=0)
        c.upsert([str(i) for i in range(len(base))], base)  # not normalised: the engine does it
        ids, scores = c.search(queries, k=10, ef=256, as_numpy=True)
        r = recall_at(ids, gt, 10)
        assert r >= 0.95, f"recall@10 at ef=256 is {r:.4f}"
        # Scores are cosine distances: 1 - cos, matching numpy's.
        best = ids[:, 0].astype(np.int64)
        want = 1.0 - (qunit * unit[best]).sum(axis=1)
        np.testing.assert_allclose(scores[:, 0], want, atol=1e-4)
