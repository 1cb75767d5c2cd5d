"""Every kind of bad input, and the exception it becomes.

Engine errors are vectron.Error subclasses carrying the engine's message; bad input is
also a ValueError, an unknown collection or id also a KeyError. Wrong Python types are
TypeError. After an error nothing has been written.
"""

from __future__ import annotations

import numpy as np
import pytest

import vectron
from conftest import POINTS_DIM, POINTS_N

pytestmark = pytest.mark.both_backends

NAN = float("nan")
INF = float("inf")


def test_exception_hierarchy():
    assert issubclass(vectron.InvalidArgumentError, vectron.Error)
    assert issubclass(vectron.InvalidArgumentError, ValueError)
    assert issubclass(vectron.NotFoundError, KeyError)
    assert issubclass(vectron.NotFoundError, vectron.Error)
    assert issubclass(vectron.AlreadyExistsError, vectron.Error)
    assert issubclass(vectron.DatabaseClosedError, vectron.FailedPreconditionError)
    assert issubclass(vectron.StorageIOError, OSError)
    for cls in (vectron.ResourceExhaustedError, vectron.UnavailableError, vectron.AbortedError,
                vectron.CorruptionError, vectron.InternalError, vectron.CancelledError):
        assert issubclass(cls, vectron.Error)
    assert vectron.InvalidArgumentError.code == "invalid_argument"
    # KeyError normally quotes its message; ours reads as the engine wrote it.
    assert str(vectron.NotFoundError("collection x")) == "collection x"


# --- database and collection management --------------------------------------------------


def test_unknown_collection_is_keyerror(db):
    with pytest.raises(vectron.NotFoundError, match="nope") as e:
        db.get_collection("nope")
    assert isinstance(e.value, KeyError) and e.value.code == "not_found"
    with pytest.raises(KeyError, match="nope"):
        db.drop_collection("nope")


def test_duplicate_collection(db):
    db.create_collection("c", dim=2)
    with pytest.raises(vectron.AlreadyExistsError, match="c"):
        db.create_collection("c", dim=2)


@pytest.mark.parametrize("name", ["", "has space", "slash/y", "x" * 65, "dot.name", "ü"])
def test_bad_collection_name(db, name):
    with pytest.raises(vectron.InvalidArgumentError):
        db.create_collection(name, dim=2)
    assert db.list_collections() == []


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"dim": 0}, vectron.InvalidArgumentError, "dim"),
    ({"dim": 65537}, vectron.InvalidArgumentError, "dim"),
    ({"dim": -1}, vectron.InvalidArgumentError, "dim"),
    ({"dim": 4, "metric": "hamming"}, vectron.InvalidArgumentError, "hamming"),
    ({"dim": 4, "shards": 0}, vectron.InvalidArgumentError, "shard"),
    ({"dim": 4, "shards": 257}, vectron.InvalidArgumentError, "shard"),
    ({"dim": 4, "m": 0}, vectron.InvalidArgumentError, "m"),
    ({"dim": 4, "ef_construction": 0}, vectron.InvalidArgumentError, "ef_construction"),
    ({"dim": 2.5}, TypeError, "dim"),
    ({"dim": True}, TypeError, "dim"),
    ({"dim": 4, "metric": 3}, TypeError, "metric"),
])
def test_bad_collection_config(db, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        db.create_collection("c", **kwargs)
    assert db.list_collections() == []


def test_create_collection_requires_dim(db):
    with pytest.raises(TypeError):
        db.create_collection("c")


def test_get_or_create_with_other_dim_or_metric(db):
    db.create_collection("c", dim=4, metric="l2")
    with pytest.raises(vectron.FailedPreconditionError):
        db.get_or_create_collection("c", dim=5, metric="l2")
    with pytest.raises(vectron.FailedPreconditionError):
        db.get_or_create_collection("c", dim=4, metric="cosine")


def test_open_missing_without_create(tmp_path):
    with pytest.raises(vectron.NotFoundError):
        vectron.open(tmp_path / "absent", create_if_missing=False)


def test_open_twice_in_one_process(db_path):
    with vectron.open(db_path):
        with pytest.raises(vectron.FailedPreconditionError, match="already open"):
            vectron.open(db_path)
    vectron.open(db_path).close()  # fine again after close


def test_open_bad_options(tmp_path):
    with pytest.raises(vectron.InvalidArgumentError, match="durability"):
        vectron.open(tmp_path / "a", durability="sometimes")
    with pytest.raises(TypeError):
        vectron.open(tmp_path / "a", threads="2")
    with pytest.raises(vectron.InvalidArgumentError, match="threads"):
        vectron.open(tmp_path / "a", threads=-1)
    with pytest.raises(vectron.InvalidArgumentError, match="map_size_bytes"):
        vectron.open(tmp_path / "a", map_size_bytes=0)


def test_open_on_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("not a database")
    with pytest.raises(vectron.Error):
        vectron.open(f)


# --- writes ------------------------------------------------------------------------------


def test_wrong_dimension_upsert_names_the_entry(col):
    with pytest.raises(vectron.InvalidArgumentError, match="first") as e:
        col.upsert(["first", "second"], np.zeros((2, POINTS_DIM + 1), np.float32))
    assert "dimension 9" in str(e.value)
    assert len(col) == POINTS_N and col.get("first") is None


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_non_finite_vector_upsert(col, value):
    v = np.zeros((2, POINTS_DIM), np.float32)
    v[1, 3] = value
    with pytest.raises(vectron.InvalidArgumentError, match="y"):
        col.upsert(["x", "y"], v)
    assert col.get("x") is None and len(col) == POINTS_N


@pytest.mark.parametrize("ids,match", [
    ([""], "id"),
    (["x" * 257], "id"),
    (["é" * 129], "id"),  # 258 bytes in UTF-8
    (["dup", "dup"], "dup"),
])
def test_bad_ids(col, ids, match):
    with pytest.raises(vectron.InvalidArgumentError, match=match):
        col.upsert(ids, np.zeros((len(ids), POINTS_DIM), np.float32))
    assert len(col) == POINTS_N


def test_longest_id_is_fine(col):
    col.upsert(["x" * 256], np.zeros((1, POINTS_DIM), np.float32))
    assert "x" * 256 in col


# (int and uuid.UUID ids are accepted: test_users.py.)
@pytest.mark.parametrize("ids", [[True], [None], [b"bytes"], 5.0, b"bytes", [["nested"]], [1.5]])
def test_non_str_ids_are_type_errors(col, ids):
    with pytest.raises(TypeError, match="ids"):
        col.upsert(ids, np.zeros((1, POINTS_DIM), np.float32))


def test_ids_and_vectors_count_mismatch(col):
    with pytest.raises(vectron.InvalidArgumentError, match="2 ids but 3 vectors"):
        col.upsert(["a", "b"], np.zeros((3, POINTS_DIM), np.float32))


@pytest.mark.parametrize("vectors", [
    [[1, 2], [1, 2, 3]],                # ragged
    [["a"] * POINTS_DIM],               # not numbers
    np.zeros((1, 2, POINTS_DIM)),       # 3-D
    5.0,                                # scalar
])
def test_malformed_vectors(col, vectors):
    with pytest.raises(vectron.InvalidArgumentError, match="vectors"):
        col.upsert(["a"], vectors)


@pytest.mark.parametrize("metadata,match", [
    ([[1, 2]], r"metadata\[0\] must be a dict"),
    (["text"], r"metadata\[0\] must be a dict"),
    ([3], r"metadata\[0\] must be a dict"),
    ([{"s": {1, 2}}], "JSON"),
    ([{"f": NAN}], "JSON"),
    ("not a list", "metadata must be a sequence"),
    ([{}, {}], "1 ids but 2 metadata"),
])
def test_bad_metadata(col, metadata, match):
    with pytest.raises(vectron.InvalidArgumentError, match=match):
        col.upsert(["a"], np.zeros((1, POINTS_DIM), np.float32), metadata=metadata)
    assert col.get("a") is None


def test_delete_needs_exactly_one_selector(col):
    with pytest.raises(vectron.InvalidArgumentError, match="exactly one"):
        col.delete()
    with pytest.raises(vectron.InvalidArgumentError, match="exactly one"):
        col.delete(ids=["p001"], where={"i": 1})
    with pytest.raises(TypeError):
        col.delete(ids=[1.0])
    with pytest.raises(vectron.InvalidArgumentError):
        col.delete(ids=[""])
    assert len(col) == POINTS_N


# --- reads -------------------------------------------------------------------------------


def test_search_wrong_dimension(col):
    with pytest.raises(vectron.InvalidArgumentError, match="dimension"):
        col.search(np.zeros(POINTS_DIM + 1, np.float32))
    with pytest.raises(vectron.InvalidArgumentError, match="dimension"):
        col.search(np.zeros((3, POINTS_DIM - 1), np.float32))
    with pytest.raises(vectron.InvalidArgumentError, match="dimension"):
        col.search(np.zeros((3, POINTS_DIM - 1), np.float32), as_numpy=True)


@pytest.mark.parametrize("value", [NAN, INF])
def test_search_non_finite_query(col, value):
    q = np.zeros(POINTS_DIM, np.float32)
    q[0] = value
    with pytest.raises(vectron.InvalidArgumentError):
        col.search(q)
    qs = np.zeros((4, POINTS_DIM), np.float32)
    qs[2, 1] = value
    with pytest.raises(vectron.InvalidArgumentError, match="query 2"):
        col.search(qs)


@pytest.mark.parametrize("k", [0, -1, 2**31])
def test_search_bad_k(col, k):
    with pytest.raises(vectron.InvalidArgumentError, match="k"):
        col.search(np.zeros(POINTS_DIM, np.float32), k=k)
    with pytest.raises(vectron.InvalidArgumentError, match="k"):
        col.search(np.zeros((0, POINTS_DIM), np.float32), k=k, as_numpy=True)


@pytest.mark.parametrize("k", [1.5, "3", None, True])
def test_search_non_int_k(col, k):
    with pytest.raises(TypeError, match="k"):
        col.search(np.zeros(POINTS_DIM, np.float32), k=k)


def test_search_bad_ef_threads_include_shape(col):
    q = np.zeros(POINTS_DIM, np.float32)
    with pytest.raises(vectron.InvalidArgumentError, match="ef"):
        col.search(q, ef=-1)
    with pytest.raises(TypeError, match="ef"):
        col.search(q, ef=2.0)
    with pytest.raises(vectron.InvalidArgumentError, match="threads"):
        col.search(q, threads=-1)
    with pytest.raises(vectron.InvalidArgumentError, match="include"):
        col.search(q, include=["vector", "score"])
    with pytest.raises(vectron.InvalidArgumentError, match="shape"):
        col.search(np.zeros((1, 1, POINTS_DIM), np.float32))
    with pytest.raises(vectron.InvalidArgumentError, match="query"):
        col.search("not a vector")


def test_search_bad_where_type(col):
    with pytest.raises(vectron.InvalidArgumentError, match="where"):
        col.search(np.zeros(POINTS_DIM, np.float32), where=["i", 1])
    with pytest.raises(vectron.InvalidArgumentError, match="where"):
        col.count(where=3)
    with pytest.raises(vectron.InvalidArgumentError, match="where"):
        col.count(where="  ")


def test_get_bad_ids(col):
    with pytest.raises(vectron.InvalidArgumentError):
        col.get([""])
    with pytest.raises(vectron.InvalidArgumentError):
        col.get(["x" * 300])
    with pytest.raises(TypeError):
        col.get([3.0])
    with pytest.raises(TypeError):
        col[3.0]


def test_scroll_bad_arguments(col):
    with pytest.raises(vectron.InvalidArgumentError, match="limit"):
        col.scroll(limit=0)
    with pytest.raises(vectron.InvalidArgumentError, match="limit"):
        col.scroll(limit=100001)
    with pytest.raises(TypeError, match="cursor"):
        col.scroll(limit=5, cursor=5)


def test_scroll_past_the_end(col):
    page = col.scroll(limit=5, cursor="zzzz")
    assert page.points == [] and page.next_cursor is None


# --- closed database, dropped collection --------------------------------------------------


def test_closed_database_raises_everywhere(db_path):
    db = vectron.open(db_path)
    c = db.create_collection("c", dim=2)
    c.upsert(["a"], [[1, 0]])
    db.close()
    calls = [
        lambda: db.create_collection("d", dim=2),
        lambda: db.get_collection("c"),
        lambda: db.get_or_create_collection("c", dim=2),
        lambda: db.list_collections(),
        lambda: db.drop_collection("c"),
        lambda: db.sync(),
        lambda: c.upsert(["b"], [[0, 1]]),
        lambda: c.get("a"),
        lambda: c.search([1, 0]),
        lambda: c.search([[1, 0]], as_numpy=True),
        lambda: c.delete(ids=["a"]),
        lambda: c.count(),
        lambda: len(c),
        lambda: c.scroll(),
        lambda: c.stats(),
        lambda: c.checkpoint(),
    ]
    for call in calls:
        with pytest.raises(vectron.DatabaseClosedError, match="closed"):
            call()
    # Metadata of the handle stays readable.
    assert c.name == "c" and c.dim == 2
    with vectron.open(db_path) as db2:  # the data is still there
        assert len(db2.get_collection("c")) == 1


@pytest.mark.embedded_only("a remote handle names its collection: after a drop and a create it reaches the new one")
def test_dropped_collection_handle(db):
    c = db.create_collection("c", dim=2)
    c.upsert(["a"], [[1, 0]])
    db.drop_collection("c")
    with pytest.raises(vectron.NotFoundError, match="dropped"):
        c.search([1, 0])
    with pytest.raises(vectron.NotFoundError):
        len(c)
    c2 = db.create_collection("c", dim=2)  # a new one by the same name is empty
    assert len(c2) == 0
    with pytest.raises(vectron.NotFoundError):
        c.count()


@pytest.mark.embedded_only("a remote handle names its collection; the handle rules are the engine's")
def test_handles_after_rename_and_drop_raise_not_found_on_every_call(db):
    c = db.create_collection("h", dim=2)
    c.upsert(["a"], [[1, 0]])
    follower = db.get_collection("h")
    follower.rename("h2")  # this handle follows the new name; the others are closed
    with pytest.raises(vectron.NotFoundError, match='"h" was renamed to "h2"'):
        c.search([1, 0])
    assert not c._c.valid and follower._c.valid
    assert len(follower) == 1
    db.drop_collection("h2")
    calls = [
        lambda: follower.upsert(["b"], [[0, 1]]),
        lambda: follower.get("a"),
        lambda: follower.search([1, 0]),
        lambda: follower.search([[1, 0]], as_numpy=True),
        lambda: follower.delete(ids=["a"]),
        lambda: follower.count(),
        lambda: follower.scroll(),
        lambda: follower.stats(),
        lambda: follower.checkpoint(),
    ]
    for call in calls:
        with pytest.raises(vectron.NotFoundError, match='"h2" was dropped'):
            call()
    assert follower.name == "h2" and follower.dim == 2  # the handle's own fields stay readable
    assert not follower._c.valid
