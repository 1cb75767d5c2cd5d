"""Python threads against one collection: the GIL is released inside engine calls, and
results stay correct under threads.

No timing assertions (the machine is shared): throughput of one vs two threads is measured
by scripts/bench-python.py. Here every thread's results are checked exactly."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import vectron
from conftest import random_vectors

DIM = 16


@pytest.fixture
def hnsw(db):
    vecs = random_vectors(np.random.default_rng(99), 2000, DIM)
    c = db.create_collection("t", dim=DIM, metric="l2", flat_max_points=0, m=8, ef_construction=64)
    c.upsert([str(i) for i in range(len(vecs))], vecs)
    return c, vecs


def assert_gil_released_by(call, repeats: int = 20) -> None:
    """Fails if `call` holds the GIL throughout.

    The switch interval is made huge, so a Python thread gives up the GIL only when it
    blocks or C code releases it. A worker thread runs `call` `repeats` times and then
    sets `done`; the main thread, which needs the GIL to return from Thread.start(), can
    only look at `done` before the worker finished if some call released the GIL. If no
    call did, the main thread runs only after the worker ended and sees done=True.
    """
    state = {"done": False, "error": None}

    def worker():
        try:
            for _ in range(repeats):
                call()
        except BaseException as e:  # noqa: BLE001 - reported below
            state["error"] = e
        state["done"] = True

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        t = threading.Thread(target=worker)
        t.start()
        seen_done = state["done"]
        t.join()
    finally:
        sys.setswitchinterval(old)
    if state["error"] is not None:
        raise state["error"]
    assert not seen_done, "the main thread could not run while the worker was in the engine: GIL held"


def test_gil_released_during_search(hnsw):
    c, vecs = hnsw
    queries = np.ascontiguousarray(np.tile(vecs[:200], (3, 1)))
    assert_gil_released_by(lambda: c.search(queries, k=10, ef=64, as_numpy=True, threads=1))
    # Single queries are short (~0.1 ms), so give the main thread many chances to get in.
    assert_gil_released_by(lambda: c.search(vecs[0], k=100, ef=500, include=None), repeats=500)


def test_gil_released_during_upsert(db):
    c = db.create_collection("g", dim=DIM, metric="l2", flat_max_points=0, m=8, ef_construction=64)
    vecs = random_vectors(np.random.default_rng(3), 2000, DIM)
    counter = iter(range(20))

    def upsert():
        i = next(counter)
        c.upsert([f"{i}-{j}" for j in range(100)], vecs[i * 100:(i + 1) * 100])

    assert_gil_released_by(upsert)
    assert len(c) == 2000


def test_gil_released_during_open_and_close(db_path):
    with vectron.open(db_path) as db:
        db.create_collection("c", dim=DIM, flat_max_points=0).upsert(
            [str(i) for i in range(500)], random_vectors(np.random.default_rng(4), 500, DIM))

    def open_close():
        vectron.open(db_path).close()

    # Open and close are short (ms): under load the main thread may miss a few of them.
    assert_gil_released_by(open_close, repeats=50)


def test_gil_probe_detects_a_call_that_holds_the_gil():
    # The probe itself: pure Python work never lets the main thread in.
    with pytest.raises(AssertionError, match="GIL held"):
        assert_gil_released_by(lambda: sum(range(20000)))


def run_threads(n, target):
    errors = []

    def wrapped(i):
        try:
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def test_concurrent_searches_match_serial_results(hnsw):
    c, vecs = hnsw
    qs = vecs[:200] + 0.01
    expected_ids, expected_scores = c.search(qs, k=10, ef=64, as_numpy=True, threads=1)
    expected_hits = [[h.id for h in row] for row in c.search(qs[:50], k=5, ef=64)]
    results = {}

    def worker(i):
        for _ in range(3):
            ids, scores = c.search(qs, k=10, ef=64, as_numpy=True, threads=1)
            np.testing.assert_array_equal(ids, expected_ids)
            np.testing.assert_array_equal(scores, expected_scores)
            rows = [[h.id for h in c.search(q, k=5, ef=64)] for q in qs[:50]]
            assert rows == expected_hits
        results[i] = True

    run_threads(4, worker)
    assert len(results) == 4


def test_concurrent_writers_and_readers(db):
    c = db.create_collection("w", dim=DIM, metric="l2")
    per_thread = 300
    rngs = [np.random.default_rng(1000 + i) for i in range(3)]
    data = [random_vectors(r, per_thread, DIM) for r in rngs]

    def writer(i):
        for start in range(0, per_thread, 25):
            ids = [f"w{i}-{j}" for j in range(start, start + 25)]
            c.upsert(ids, data[i][start:start + 25], metadata=[{"w": i, "j": j} for j in range(start, start + 25)])
            # Own writes are visible immediately after upsert returns.
            assert c.get(ids[-1]).metadata == {"w": i, "j": start + 24}
            found = c.search(data[i][start], k=1, exact=True, include=None)[0]
            assert found.id == ids[0]

    def reader(_):
        for _ in range(40):
            n = len(c)
            assert 0 <= n <= 3 * per_thread
            c.search(np.zeros(DIM, np.float32), k=3)

    errors = []
    ts = [threading.Thread(target=_catch, args=(writer, i, errors)) for i in range(3)]
    ts += [threading.Thread(target=_catch, args=(reader, i, errors)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[0]
    assert len(c) == 3 * per_thread
    ids = sorted(p.id for p in c.iter_points(batch=500, include=None))
    assert ids == sorted(f"w{i}-{j}" for i in range(3) for j in range(per_thread))


def _catch(f, arg, errors):
    try:
        f(arg)
    except BaseException as e:  # noqa: BLE001 - re-raised by the test
        errors.append(e)


def test_close_while_other_threads_search_is_safe(db_path):
    """Closing waits for calls in progress; later calls raise DatabaseClosedError. Each
    call either completes with a correct result or raises that error - never a crash."""
    db = vectron.open(db_path)
    vecs = random_vectors(np.random.default_rng(5), 500, DIM)
    c = db.create_collection("c", dim=DIM, metric="l2")
    c.upsert([str(i) for i in range(500)], vecs)
    outcomes = {"ok": 0, "closed": 0}
    lock = threading.Lock()
    started = threading.Barrier(3)

    def searcher(_):
        started.wait()
        for i in range(200):
            try:
                hit = c.search(vecs[i], k=1, exact=True, include=None)[0]
                assert hit.id == str(i)
                key = "ok"
            except vectron.DatabaseClosedError:
                key = "closed"
            with lock:
                outcomes[key] += 1

    ts = [threading.Thread(target=searcher, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    started.wait()
    db.close()
    for t in ts:
        t.join()
    assert outcomes["ok"] + outcomes["closed"] == 400
    with pytest.raises(vectron.DatabaseClosedError):
        c.search(vecs[0])


def test_batch_search_uses_engine_threads_and_matches_single_queries(hnsw):
    c, vecs = hnsw
    qs = vecs[100:164]
    ids, _ = c.search(qs, k=3, ef=128, as_numpy=True, threads=2)
    singles = [[h.id for h in c.search(q, k=3, ef=128, include=None)] for q in qs]
    assert [list(r) for r in ids] == singles


# --- close() and catalog calls beside a stream of writers and searchers -----------------

DEADLINE_S = 30.0  # generous for a loaded machine; the calls take milliseconds


def finishes_within(call, seconds: float = DEADLINE_S) -> bool:
    """Runs `call` on a daemon thread; whether it returned within `seconds` (its
    exception, if any, is re-raised)."""
    box = {}

    def run():
        try:
            call()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if "error" in box:
        raise box["error"]
    return not t.is_alive()


def test_catalog_calls_and_close_do_not_wait_for_writers_to_stop(db_path):
    """Regression (issue 22): with threads looping upsert and batch search,
    get_collection() waited until the writers stopped and close() never returned: both
    queued behind a stream of shared-lock holders. Now close() refuses new calls at once
    and waits only for the running ones, and catalog calls take no lock the writers hold.
    Every worker loops until close() ends it with DatabaseClosedError."""
    db = vectron.open(db_path)
    c = db.create_collection("c", dim=DIM, metric="l2", flat_max_points=0, m=8, ef_construction=64)
    vecs = random_vectors(np.random.default_rng(6), 2000, DIM)
    c.upsert([str(i) for i in range(2000)], vecs)
    stop = threading.Event()  # only to end the workers if close() failed to
    ended = {"closed": 0}
    errors = []
    lock = threading.Lock()
    started = threading.Barrier(9)

    def loop(i, call):
        started.wait()
        n = 0
        while not stop.is_set():
            try:
                call(i, n)
            except vectron.DatabaseClosedError:
                with lock:
                    ended["closed"] += 1
                return
            n += 1

    def write(i, n):
        c.upsert([f"w{i}-{n % 50}-{j}" for j in range(10)], vecs[n % 100 * 10:n % 100 * 10 + 10])

    def search(i, n):
        c.search(vecs[:256], k=10, ef=128, as_numpy=True, threads=1)

    workers = [threading.Thread(target=_catch, args=(lambda i: loop(i, write), i, errors)) for i in range(4)]
    workers += [threading.Thread(target=_catch, args=(lambda i: loop(i, search), i, errors)) for i in range(4)]
    for t in workers:
        t.start()
    started.wait()

    def catalog_calls():
        for _ in range(20):
            assert db.get_collection("c").name == "c"
            assert db.list_collections() == ["c"]
        db.create_collection("other", dim=DIM)
        db.drop_collection("other")

    try:
        assert finishes_within(catalog_calls), "get_collection/create/drop waited for the writers"
        assert finishes_within(db.close), "close() waited for the writers to stop"
    finally:
        stop.set()
        for t in workers:
            t.join(DEADLINE_S)
    assert not errors, errors[0]
    assert ended["closed"] == 8  # every worker was still running when close() came
    assert db.closed
    with pytest.raises(vectron.DatabaseClosedError):
        c.count()


def test_drop_collection_refuses_new_calls_and_waits_for_running_ones(db_path):
    """drop_collection beside threads writing and searching the collection: each call
    either completes correctly or raises NotFoundError, and the drop does not wait for
    the threads to stop (it did, like close())."""
    db = vectron.open(db_path)
    c = db.create_collection("d", dim=DIM, metric="l2", flat_max_points=0, m=8, ef_construction=64)
    vecs = random_vectors(np.random.default_rng(8), 2000, DIM)
    c.upsert([str(i) for i in range(2000)], vecs)
    want = np.array([str(i) for i in range(256)])
    stop = threading.Event()
    outcomes = {"ok": 0, "dropped": 0}
    lock = threading.Lock()
    started = threading.Barrier(9)

    def worker(i):
        started.wait()
        n = 0
        while not stop.is_set():
            try:
                if i % 2:
                    c.upsert([f"w{i}-{n % 50}-{j}" for j in range(10)], vecs[1000 + n % 100 * 10:][:10] + 50)
                else:
                    ids, _ = c.search(vecs[:256], k=1, ef=128, as_numpy=True, threads=1)
                    assert np.mean(ids[:, 0] == want) > 0.9  # each query is a stored point
            except vectron.NotFoundError:
                with lock:
                    outcomes["dropped"] += 1
                return
            with lock:
                outcomes["ok"] += 1
            n += 1

    errors = []
    ts = [threading.Thread(target=_catch, args=(worker, i, errors)) for i in range(8)]
    for t in ts:
        t.start()
    started.wait()
    try:
        assert finishes_within(lambda: db.drop_collection("d")), "drop_collection waited for the threads"
    finally:
        stop.set()
        for t in ts:
            t.join(DEADLINE_S)
    assert not errors, errors[0]
    assert outcomes["dropped"] == 8
    assert not c._c.valid and "d" not in db
    db.close()
