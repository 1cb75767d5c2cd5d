"""Shared fixtures for the vectron Python tests.

These tests run against the *installed* package (scripts/test-python.sh installs the
wheel into a fresh venv and runs pytest from outside the source tree); test_packaging.py
checks that. Every test gets a fresh temporary directory; random data uses fixed seeds.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import vectron

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DATASETS = REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture
def db_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "db"


@pytest.fixture
def db(db_path: pathlib.Path):
    d = vectron.open(db_path, durability="nometasync")
    yield d
    d.close()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def random_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return rng.standard_normal((n, dim), dtype=np.float32)


POINTS_DIM = 8
POINTS_N = 100


def points_data():
    """The fixed contents of the `col` fixture: ids, vectors, metadata."""
    vecs = random_vectors(np.random.default_rng(7), POINTS_N, POINTS_DIM)
    ids = [f"p{i:03d}" for i in range(POINTS_N)]
    metas = [{"i": i, "even": i % 2 == 0, "tag": f"t{i % 3}"} for i in range(POINTS_N)]
    return ids, vecs, metas


@pytest.fixture
def col(db):
    """An l2 collection "points" holding points_data(): ids "p000".."p099", vector i =
    row i of a seeded matrix, metadata {"i": i, "even": i % 2 == 0, "tag": "t<i % 3>"}."""
    c = db.create_collection("points", dim=POINTS_DIM, metric="l2")
    ids, vecs, metas = points_data()
    c.upsert(ids, vecs, metadata=metas)
    return c
