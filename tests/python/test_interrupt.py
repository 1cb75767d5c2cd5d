"""Ctrl-C during a write (issue 22, item 3).

An upsert (and a delete) is all or nothing, and the engine works with the GIL released,
so a Ctrl-C arriving meanwhile is handled when the call returns. The KeyboardInterrupt
used to come with nothing to tell whether the write had happened (it had); now the
binding handles the pending signal itself and the exception carries a note saying the
write completed. The signal is made to arrive while the engine works, deterministically:
with the switch interval made huge, the interrupting thread can run only once the main
thread released the GIL, which it does first inside the engine call."""

from __future__ import annotations

import _thread
import sys
import threading

import numpy as np
import pytest

from conftest import random_vectors

DIM = 16
N = 2000


def interrupted_during(make_call, attempts: int = 20) -> KeyboardInterrupt:
    """Runs make_call(attempt)() while another thread sends the main thread SIGINT's
    exception from inside the first GIL release, until the interrupt lands inside the
    call (under heavy load a short call may return before the other thread got to run;
    that late interrupt is caught and the call repeated). Returns the exception."""
    old = sys.getswitchinterval()
    for attempt in range(attempts):
        go = threading.Event()

        def interrupter():
            go.wait()  # Set just before the call; then it needs the GIL, released only in the engine.
            _thread.interrupt_main()

        t = threading.Thread(target=interrupter, daemon=True)
        call = make_call(attempt)
        in_call = False
        sys.setswitchinterval(1000.0)
        try:
            t.start()
            go.set()
            in_call = True
            call()
            in_call = False
            t.join(30)  # A late interrupt is raised here...
            assert not t.is_alive()
        except KeyboardInterrupt as e:
            if in_call:
                return e
            # ...and the call is repeated.
        finally:
            sys.setswitchinterval(old)
        t.join(30)
    pytest.fail(f"the interrupt never arrived during the call in {attempts} attempts")


def notes(e: BaseException) -> str:
    return " ".join(getattr(e, "__notes__", []))


def test_ctrl_c_during_an_upsert_says_every_point_was_written(db):
    c = db.create_collection("big", dim=DIM, metric="l2", flat_max_points=0, m=8, ef_construction=64)
    vecs = random_vectors(np.random.default_rng(31), N, DIM)  # float32, C order: used in place
    e = interrupted_during(lambda a: lambda: c.upsert([f"{a}-{i}" for i in range(N)], vecs))
    assert f"upsert of {N} points, which completed: all of them are written" in notes(e)
    assert len(c) > 0 and len(c) % N == 0  # whole upserts only


def test_ctrl_c_during_a_delete_says_it_was_done(db):
    c = db.create_collection("d", dim=DIM, metric="l2")
    vecs = random_vectors(np.random.default_rng(32), N, DIM)
    c.upsert([str(i) for i in range(N)], vecs, metadata=[{"half": i % 2} for i in range(N)])
    e = interrupted_during(lambda a: lambda: c.delete(ids=[str(i) for i in range(10 * a, 10 * a + 10)]))
    assert "delete of 10 ids, which completed: all of them are deleted" in notes(e)
    assert c.get(["0", "9"]) == [None, None]
    e = interrupted_during(lambda a: lambda: c.delete(where={"half": 1}))
    assert "points deleted (a delete is all or nothing)" in notes(e)
    assert c.count(where={"half": 1}) == 0 and c.count() > 0
