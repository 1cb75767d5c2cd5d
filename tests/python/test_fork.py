"""A database opened before fork(): the child gets a clear error on the inherited
handles (instead of hanging on a lock a parent thread held at the fork) and may open the
directory again itself.

Regression (issue 22): a multiprocessing (fork) child searching an inherited collection
while a parent thread wrote hung on an engine lock, and opening the directory afresh in
the child failed with "already open in this process". Every child is joined with a
deadline and killed if still running, so a hang fails the test instead of stalling it."""

from __future__ import annotations

import gc
import multiprocessing as mp
import threading

import numpy as np
import pytest

import vectron
from conftest import random_vectors

DIM = 8
N = 300
DEADLINE_S = 60.0
VECS = random_vectors(np.random.default_rng(21), N, DIM)


def _child(path: str, db, col, out) -> None:
    """Runs in the forked child; reports what it saw on `out`."""
    report = {}
    try:
        col.search(VECS[0], k=1)
        report["search"] = "no error"
    except vectron.DatabaseClosedError as e:
        report["search"] = str(e)
    try:
        db.get_collection("c")
        report["get_collection"] = "no error"
    except vectron.DatabaseClosedError as e:
        report["get_collection"] = str(e)
    report["closed"] = db.closed
    report["valid"] = col._c.valid
    db.close()  # Allowed: leaves the parent's database alone.
    del db, col
    gc.collect()  # The inherited handles are freed without touching the engine.
    with vectron.open(path) as mine:
        c = mine.get_collection("c")
        report["count"] = c.count()
        report["nearest"] = c.search(VECS[5], k=1, exact=True, include=None)[0].id
        c.upsert("from-child", VECS[7])
    out.put(report)


def _run_child(ctx, target, *args):
    out = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, out))
    p.start()
    p.join(DEADLINE_S)
    if p.is_alive():
        p.kill()
        p.join()
        pytest.fail("the forked child hung")
    assert p.exitcode == 0
    return out.get(timeout=DEADLINE_S)


def test_forked_child_gets_a_clear_error_and_may_open_the_database_again(db_path):
    db = vectron.open(db_path, durability="nosync")
    col = db.create_collection("c", dim=DIM, metric="l2")
    col.upsert([str(i) for i in range(N)], VECS)
    stop = threading.Event()
    errors = []

    def writer():  # Holds the engine's locks on and off while the children fork.
        n = 0
        try:
            while not stop.is_set():
                col.upsert(f"w{n % 20}", VECS[n % N] + 100)
                col.search(VECS[:16], k=3, as_numpy=True, threads=1)
                n += 1
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ctx = mp.get_context("fork")
    t = threading.Thread(target=writer)
    t.start()
    try:
        reports = [_run_child(ctx, _child, str(db_path), db, col) for _ in range(3)]
    finally:
        stop.set()
        t.join(DEADLINE_S)
    assert not errors, errors[0]
    for r in reports:
        assert "before fork()" in r["search"] and "open the database again" in r["search"], r
        assert "before fork()" in r["get_collection"], r
        assert r["closed"] is True and r["valid"] is False
        assert r["count"] >= N and r["nearest"] == "5"
    # The parent's handles still work, and see the children's writes.
    assert col.get("from-child") is not None
    assert len(col) == N + 20 + 1
    db.close()


def _open_twice(path: str, out) -> None:
    with vectron.open(path) as a:
        try:
            vectron.open(path)
            out.put("second open allowed")
        except vectron.FailedPreconditionError as e:
            out.put(str(e))
        a.get_collection("c")


def test_a_child_still_may_open_a_directory_only_once(db_path):
    with vectron.open(db_path) as db:
        db.create_collection("c", dim=DIM)
        # The parent's registration does not count in the child, the child's own does.
        msg = _run_child(mp.get_context("fork"), _open_twice, str(db_path))
    assert "already open in this process" in msg
