"""Several Python processes write one database directory; nothing is lost or duplicated.

Writers run concurrently (multiprocessing, spawn: no state inherited from this process),
each upserting a disjoint id range in small batches and reading its own writes back.
A reader that opened the directory before the writers started, and a fresh open after
they finish, must both see every point exactly once, in scroll and in search."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

import vectron

DIM = 12
WRITERS = 4
PER_WRITER = 150
BATCH = 10


def writer_vectors(w: int) -> np.ndarray:
    return np.random.default_rng(500 + w).standard_normal((PER_WRITER, DIM), dtype=np.float32)


def _writer(path: str, w: int, start_barrier) -> None:
    vecs = writer_vectors(w)
    start_barrier.wait()
    with vectron.open(path) as db:
        c = db.get_collection("shared")
        for s in range(0, PER_WRITER, BATCH):
            ids = [f"w{w}-{i:04d}" for i in range(s, s + BATCH)]
            c.upsert(ids, vecs[s:s + BATCH], metadata=[{"writer": w, "i": i} for i in range(s, s + BATCH)])
            got = c.get(ids, include="metadata")
            assert [p.metadata["i"] for p in got] == list(range(s, s + BATCH))


@pytest.mark.parametrize("flat_max_points", [10000, 0], ids=["flat", "hnsw"])
def test_processes_write_one_directory_without_loss(tmp_path, flat_max_points):
    path = str(tmp_path / "db")
    reader_db = vectron.open(path)  # opened before the writers start, kept open
    reader = reader_db.create_collection("shared", dim=DIM, metric="l2", shards=2,
                                         flat_max_points=flat_max_points)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_writer, args=(path, w, barrier)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * WRITERS

    # The reader that was open all along sees every write, and so does a fresh open.
    check_all_present(reader)
    reader_db.close()
    with vectron.open(path) as db:
        check_all_present(db.get_collection("shared"))


def check_all_present(c) -> None:
    expected = {f"w{w}-{i:04d}" for w in range(WRITERS) for i in range(PER_WRITER)}
    assert len(c) == WRITERS * PER_WRITER
    ids = [p.id for p in c.iter_points(batch=97, include=None)]
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
    # Every point is findable by search. The first search is a single query: it brings
    # this process's index up to date before the parallel batch searches below (see
    # test_parallel_search_right_after_other_processes_wrote for why that matters).
    c.search(writer_vectors(0)[0], k=1)
    for w in range(WRITERS):
        vecs = writer_vectors(w)
        got, _ = c.search(vecs, k=1, ef=200, as_numpy=True)
        assert list(got[:, 0]) == [f"w{w}-{i:04d}" for i in range(PER_WRITER)]
    p = c["w3-0007"]
    assert p.metadata == {"writer": 3, "i": 7}
    np.testing.assert_array_equal(p.vector, writer_vectors(3)[7])


# Regression: searches used to skip the catch-up while another search thread held it.
def test_parallel_search_right_after_other_processes_wrote(tmp_path):
    path = str(tmp_path / "db")
    reader_db = vectron.open(path)
    reader = reader_db.create_collection("shared", dim=DIM, metric="l2", shards=2)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_writer, args=(path, w, barrier)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    try:
        # First search after the writes, a parallel batch: every query must see them.
        queries = np.concatenate([writer_vectors(w) for w in range(WRITERS)])
        got, _ = reader.search(queries, k=1, as_numpy=True, threads=2)
        want = [f"w{w}-{i:04d}" for w in range(WRITERS) for i in range(PER_WRITER)]
        assert list(got[:, 0]) == want
    finally:
        reader_db.close()
