"""Input at the edges of what Python can express, each refused with a clear vectron
error and nothing written (issue 22, items 4 and 5), against both backends.

Before: ``{"a": 10**400}`` gave a raw RuntimeError from the JSON library, ``2**64`` was
silently stored as a float, 5,000-deep metadata and a 10,000-deep ``where`` dict gave
RecursionError, a lone surrogate gave pybind11's "incompatible function arguments", and a
failed open under a memory limit did not mention map_size_bytes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vectron
from conftest import POINTS_DIM, POINTS_N

pytestmark = pytest.mark.both_backends

ONE = np.ones((1, POINTS_DIM), np.float32)


def nested(depth: int) -> dict:
    root = cur = {}
    for _ in range(depth):
        cur["x"] = {}
        cur = cur["x"]
    return root


def refused(col, call, exc=vectron.InvalidArgumentError, match=None):
    with pytest.raises(exc, match=match):
        call()
    assert col.count() == POINTS_N  # nothing written


# --- item 4: untidy errors --------------------------------------------------------------


@pytest.mark.parametrize("value", [10**400, 2**64, -(2**63) - 1, [1, 2**70], {"deep": {"n": 10**20}}],
                         ids=["10**400", "2**64", "-2**63-1", "in-list", "nested"])
def test_integers_json_cannot_hold_exactly_are_refused(col, value):
    refused(col, lambda: col.upsert("n", ONE, metadata={"a": value}), match="outside the range")


def test_integers_at_the_limits_round_trip_exactly(col):
    col.upsert(["lo", "hi"], np.ones((2, POINTS_DIM), np.float32),
               metadata=[{"a": -(2**63)}, {"a": 2**64 - 1}])
    assert col.get("lo").metadata == {"a": -(2**63)}
    assert col.get("hi").metadata == {"a": 2**64 - 1}


def test_deep_metadata_and_where_are_refused_without_recursion_error(col):
    refused(col, lambda: col.upsert("d", ONE, metadata=nested(5000)), match="nests deeper")
    where = {"tag": "t1"}
    for _ in range(10000):
        where = {"$not": where}
    for call in (lambda: col.search(ONE[0], where=where), lambda: col.count(where=where),
                 lambda: col.delete(where=where), lambda: col.scroll(where=where)):
        refused(col, call, match="nests deeper")
    # Within the limit, deep metadata is stored and read back.
    col.upsert("d", ONE, metadata=nested(100))
    assert col.get("d").metadata == nested(100)


@pytest.mark.parametrize("call,match", [
    (lambda c: c.upsert(["ok", "bad\udcff"], np.ones((2, POINTS_DIM), np.float32)), r"ids\[1\] .*surrogate"),
    (lambda c: c.upsert("x\ud800", ONE), "ids .*surrogate"),
    (lambda c: c.upsert("m", ONE, metadata={"k": "\udcff"}), r"metadata\[0\] .*surrogate"),
    (lambda c: c.upsert("m", ONE, metadata={"\udcff": 1}), r"metadata\[0\] .*surrogate"),
    (lambda c: c.get(["\udcff"]), "surrogate"),
    (lambda c: c.delete(ids=["\udcff"]), "surrogate"),
    (lambda c: c.search(ONE[0], where={"tag": "\udcff"}), "where .*surrogate"),
    (lambda c: c.count(where='{"tag": "\udcff"}'), "where .*surrogate"),
], ids=["id-in-list", "single-id", "meta-value", "meta-key", "get", "delete", "where-dict", "where-text"])
def test_lone_surrogates_are_refused(col, call, match):
    refused(col, lambda: call(col), match=match)


def test_lone_surrogate_in_a_collection_name(db):
    for call in (lambda: db.create_collection("c\udcff", dim=2), lambda: db.get_collection("c\udcff"),
                 lambda: db.drop_collection("c\udcff")):
        with pytest.raises(vectron.InvalidArgumentError, match="name .*surrogate"):
            call()
    assert db.list_collections() == []


@pytest.mark.embedded_only("the server's address space is its own")
def test_open_under_a_memory_limit_names_map_size_bytes(tmp_path):
    # A child process with a 3 GiB address-space limit: the default map_size_bytes
    # (256 GiB per shard) cannot be reserved; a small one can.
    script = textwrap.dedent(f"""
        import resource, vectron
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        db = vectron.open({str(tmp_path / "db")!r})
        try:
            db.create_collection("c", dim=4)
        except vectron.ResourceExhaustedError as e:
            print("refused:", e)
        db.close()
        with vectron.open({str(tmp_path / "db")!r}, map_size_bytes=1 << 28) as db:
            db.create_collection("c", dim=4).upsert("a", [1, 2, 3, 4])
            print("small map:", len(db.get_collection("c")))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "refused:" in out.stdout and "map_size_bytes" in out.stdout and "ulimit" in out.stdout, out.stdout
    assert "small map: 1" in out.stdout


# --- item 5: silently accepted before -----------------------------------------------------


@pytest.mark.parametrize("ids", [{"a", "b"}, frozenset({"a", "b"}), {"a": 0, "b": 1}, {"a": 0, "b": 1}.keys()],
                         ids=["set", "frozenset", "dict", "dict-keys"])
def test_unordered_ids_are_refused(col, ids):
    # Their order is arbitrary: vectors would be paired with the wrong ids.
    refused(col, lambda: col.upsert(ids, np.ones((2, POINTS_DIM), np.float32)), TypeError, "ordered")
    with pytest.raises(TypeError, match="ordered"):
        col.get(ids)
    with pytest.raises(TypeError, match="ordered"):
        col.delete(ids=ids)
    assert col.count() == POINTS_N


@pytest.mark.parametrize("array", [np.ones((1, POINTS_DIM), np.complex64), np.ones((1, POINTS_DIM), bool),
                                   [[True] * POINTS_DIM], np.full((1, POINTS_DIM), "1.5")],
                         ids=["complex", "bool", "bool-list", "str"])
def test_non_real_vectors_are_refused(col, array):
    refused(col, lambda: col.upsert(["v"], array), match="real numbers")
    for q in (array, np.asarray(array)[0]):
        with pytest.raises(vectron.InvalidArgumentError, match="real numbers"):
            col.search(q)


def test_an_empty_batch_of_the_wrong_width_is_refused(col):
    refused(col, lambda: col.upsert([], np.zeros((0, 3), np.float32)), match=r"\(0, 8\)")
    col.upsert([], np.zeros((0, POINTS_DIM), np.float32))  # the right width: a no-op


@pytest.mark.parametrize("where", ["null", "[]", "1", '"tag"', "true"])
def test_where_text_must_be_an_object(col, where):
    for call in (lambda: col.count(where=where), lambda: col.search(ONE[0], where=where),
                 lambda: col.scroll(where=where), lambda: col.delete(where=where)):
        refused(col, call, match="JSON object")


@pytest.mark.parametrize("meta", [{1: "a"}, {"a": {2: "b"}}, {"a": [{None: 1}]}, {(1, 2): 3}],
                         ids=["int", "nested-int", "none-in-list", "tuple"])
def test_metadata_keys_must_be_str(col, meta):
    # json.dumps would turn 1 into "1" (and refuse a tuple with a TypeError).
    refused(col, lambda: col.upsert("k", ONE, metadata=meta), match="keys must be str")
    with pytest.raises(vectron.InvalidArgumentError, match="keys must be str"):
        col.count(where={"tag": {1: "x"}})
