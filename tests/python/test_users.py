"""What users coming from Chroma and Qdrant reach for first (issue 22), against both
backends: partial updates, get(where/limit/offset) and peek, search offset and
score_threshold, int and UUID ids, add() with generated ids, Chroma-style results and
keyword names, data frames, hashable value types with short reprs, quantization=."""

from __future__ import annotations

import multiprocessing as mp
import threading
import uuid

import numpy as np
import pytest

import vectron

pytestmark = pytest.mark.both_backends


def fill(db, n=20, shards=1, dim=3):
    col = db.create_collection("docs", dim=dim, metric="l2", shards=shards)
    col.upsert([f"p{i:02d}" for i in range(n)], [[float(i), 0.0, 0.0] for i in range(n)],
               [{"i": i, "tag": "even" if i % 2 == 0 else "odd"} for i in range(n)])
    return col


def test_partial_updates_keep_the_other_half(db):
    col = fill(db, shards=2)
    col.update_metadata("p01", {"tag": "new", "i": None, "x": {"a": 1}})
    p = col.get("p01")
    assert p.metadata == {"tag": "new", "x": {"a": 1}}
    assert p.vector.tolist() == [1.0, 0.0, 0.0]
    col.update_metadata(["p02", "p03"], {"only": True}, merge=False)
    assert col.get("p02").metadata == {"only": True} and col.get("p03").metadata == {"only": True}
    col.update_metadata(["p04"], [None], merge=False)
    assert col.get("p04").metadata is None
    col.update_vectors("p05", [50, 0, 0])
    assert col.get("p05").vector.tolist() == [50.0, 0.0, 0.0]
    assert col.get("p05").metadata == {"i": 5, "tag": "odd"}
    assert col.search([49, 0, 0], k=1)[0].id == "p05"
    assert col.count(where={"tag": "new"}) == 1
    # A missing id: NotFoundError naming it, nothing written.
    with pytest.raises(vectron.NotFoundError, match="ghost"):
        col.update_metadata(["p06", "ghost"], {"z": 1})
    assert "z" not in col.get("p06").metadata
    with pytest.raises(vectron.NotFoundError, match="ghost"):
        col.update_vectors(["p06", "ghost"], [[1, 1, 1], [2, 2, 2]])
    assert col.get("p06").vector.tolist() == [6.0, 0.0, 0.0]
    with pytest.raises(vectron.InvalidArgumentError):
        col.update_vectors("p06", [1, 2])
    with pytest.raises(vectron.InvalidArgumentError):
        col.update_metadata("p06", [1, 2])
    # Chroma's update: vectors and metadata (merged).
    col.update(ids=["p07"], embeddings=[[70, 0, 0]], metadatas=[{"tag": "seven"}])
    p = col.get("p07")
    assert p.vector.tolist() == [70.0, 0.0, 0.0] and p.metadata == {"i": 7, "tag": "seven"}


def test_upsert_without_metadata_still_replaces_but_update_vectors_keeps_it(db):
    col = fill(db)
    col.update_vectors("p01", [9, 9, 9])
    assert col.get("p01").metadata == {"i": 1, "tag": "odd"}
    col.upsert("p01", [9, 9, 9])  # An upsert replaces the whole point, as documented.
    assert col.get("p01").metadata is None


def test_get_with_where_limit_offset_and_peek(db):
    col = fill(db, shards=3)
    assert [p.id for p in col.get(limit=5, offset=3)] == ["p03", "p04", "p05", "p06", "p07"]
    odd = col.get(where={"tag": "odd"}, limit=3, offset=1, include=["metadata"])
    assert [p.id for p in odd] == ["p03", "p05", "p07"]
    assert odd[0].vector is None and odd[0].metadata == {"i": 3, "tag": "odd"}
    assert len(col.get()) == 20
    assert [p.id for p in col.get(offset=18)] == ["p18", "p19"]
    assert col.get(limit=5, offset=100) == []
    assert [p.id for p in col.peek(3)] == ["p00", "p01", "p02"]
    with pytest.raises(vectron.InvalidArgumentError):
        col.get(limit=10001)
    with pytest.raises(vectron.InvalidArgumentError):
        col.get(["p01"], where={"tag": "odd"})


def test_get_everything_pages_past_the_list_limit(db):
    col = db.create_collection("big", dim=2, metric="l2")
    n = 10050
    ids = [f"q{i:05d}" for i in range(n)]
    col.upsert(ids, np.ones((n, 2), np.float32))
    got = col.get(include=None)
    assert [p.id for p in got] == ids
    assert [p.id for p in col.get(offset=10040, include=None)] == ids[10040:]


def test_search_offset_and_score_threshold(db):
    col = fill(db, shards=2)
    page = col.search([0, 0, 0], k=3, offset=2, exact=True)
    assert [h.id for h in page] == ["p02", "p03", "p04"]
    near = col.search([0, 0, 0], k=10, score_threshold=4.5, exact=True)  # l2: squared distances 0, 1, 4, 9
    assert [h.id for h in near] == ["p00", "p01", "p02"]
    rows = col.search(np.zeros((2, 3), np.float32), k=2, offset=1, exact=True)
    assert [[h.id for h in r] for r in rows] == [["p01", "p02"], ["p01", "p02"]]
    with pytest.raises(vectron.InvalidArgumentError):
        col.search([0, 0, 0], offset=-1)
    with pytest.raises(vectron.InvalidArgumentError):
        col.search([0, 0, 0], score_threshold=float("nan"))


def test_int_and_uuid_ids_are_stored_as_their_canonical_text(db):
    col = db.create_collection("docs", dim=2, metric="l2")
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    col.upsert([1, u, np.int64(7)], [[1, 0], [0, 1], [1, 1]])
    assert col.get(1).id == "1" and col.get("1").id == "1"
    assert col.get(u).id == str(u)
    assert col.get(7).id == "7"
    assert 1 in col and u in col
    col.update_metadata(1, {"a": 1})
    assert col[1].metadata == {"a": 1}
    col.delete(ids=[u])
    assert col.get(u) is None
    with pytest.raises(TypeError):
        col.upsert([True], [[1, 0]])


def test_add_generates_ids_and_chroma_keywords_and_results(db):
    col = db.create_collection("docs", dim=2, metric="l2")
    ids = col.add(embeddings=[[1, 0], [0, 1]], metadatas=[{"k": "a"}, {"k": "b"}])
    assert len(ids) == 2 and all(str(uuid.UUID(i)) == i for i in ids)
    assert col.count() == 2
    col.add(ids=["x", "y"], embeddings=[[0.9, 0.1], [0.1, 0.9]], metadatas=[{"k": "x"}, {"k": "y"}])
    res = col.query(query_embeddings=[[1, 0], [0, 1]], n_results=2)
    assert set(res) == {"ids", "distances", "metadatas", "embeddings", "include"}
    assert res["ids"][0][0] == ids[0] and res["ids"][1][0] == ids[1]
    assert res["ids"][0][1] == "x" and res["metadatas"][0][1] == {"k": "x"}
    assert res["distances"][0][0] == pytest.approx(0.0) and res["embeddings"] is None
    res = col.query(query_embeddings=[1, 0], n_results=1, where={"k": "y"}, include=["embeddings"])
    assert res["ids"] == [["y"]] and res["distances"] is None and res["metadatas"] is None
    assert res["embeddings"][0][0].tolist() == pytest.approx([0.1, 0.9])
    # The search form of query keeps returning hits.
    assert col.query([1, 0], k=1)[0].id == ids[0]
    got = col.get(ids=["x", "y"], format="chroma", include=["metadatas", "embeddings"])
    assert got["ids"] == ["x", "y"] and got["metadatas"] == [{"k": "x"}, {"k": "y"}]
    got = col.get(where={"k": "x"}, format="chroma")
    assert got["ids"] == ["x"] and got["embeddings"] is None and got["metadatas"] == [{"k": "x"}]
    with pytest.raises(vectron.InvalidArgumentError, match="not both"):
        col.add(ids=["z"], vectors=[[1, 1]], embeddings=[[1, 1]])
    col.upsert(ids=["x"], embeddings=[[0.8, 0.2]], metadatas=[{"k": "x2"}])
    assert col.get("x").metadata == {"k": "x2"}
    with pytest.raises(vectron.InvalidArgumentError, match="embeddings"):
        col.upsert(ids=["x"])
    with pytest.raises(vectron.InvalidArgumentError, match="include"):
        col.query(query_embeddings=[1, 0], include=["bogus"])


def test_hit_and_point_are_hashable_with_short_reprs(db):
    col = db.create_collection("docs", dim=384, metric="l2")
    v = np.ones(384, np.float32)
    col.upsert("a", v, {"text": "x" * 500})
    p = col.get("a")
    h = col.search(v, k=1, include=["vector", "metadata"])[0]
    assert len(repr(p)) < 200 and len(repr(h)) < 200
    assert "float32[384]" in repr(p) and "..." in repr(p)
    assert {p, col.get("a")} == {p} and {h: 1}[h] == 1
    assert p == col.get("a") and p != col.get("a", include=["metadata"])


def test_data_frames(db):
    col = fill(db, n=5)
    pd = pytest.importorskip("pandas")
    df = col.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df["id"]) == ["p00", "p01", "p02", "p03", "p04"]
    assert df["metadata"][1] == {"i": 1, "tag": "odd"} and df["vector"][2].tolist() == [2.0, 0.0, 0.0]
    assert list(col.to_pandas(where={"tag": "odd"}, include=["metadata"]).columns) == ["id", "metadata"]


def test_arrow(db):
    col = fill(db, n=3)
    pa = pytest.importorskip("pyarrow")
    t = col.to_arrow()
    assert isinstance(t, pa.Table) and t.column("id").to_pylist() == ["p00", "p01", "p02"]


def test_quantization_option(db):
    col = db.create_collection("q", dim=8, metric="l2", quantization="sq8")
    assert col.config["quantization"] == "sq8"
    assert db.get_collection("q").config["quantization"] == "sq8"
    assert db.create_collection("n", dim=8).config["quantization"] == "none"
    with pytest.raises(vectron.InvalidArgumentError, match="quantization"):
        db.create_collection("bad", dim=8, quantization="pq")
    assert "bad" not in db.list_collections()


def test_partial_updates_from_threads(db):
    col = fill(db, n=40, shards=2)
    errors = []

    def worker(t):
        try:
            for r in range(10):
                ids = [f"p{i:02d}" for i in range(t, 40, 4)]
                col.update_metadata(ids, {f"t{t}": r})
                col.get(where={"tag": "odd"}, limit=5)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
        assert not th.is_alive(), "an update thread hung"
    assert not errors, errors
    for i in range(40):
        assert col.get(f"p{i:02d}").metadata[f"t{i % 4}"] == 9


def _child_update(path, out):
    try:
        db = vectron.open(path)
        col = db.get_collection("docs")
        col.update_metadata("p01", {"child": True})
        out.send(col.get(where={"child": True}, limit=3)[0].id)
        db.close()
    except Exception as e:  # noqa: BLE001
        out.send(repr(e))


@pytest.mark.embedded_only("fork of an embedded database")
def test_partial_update_in_a_forked_child(db_path):
    with vectron.open(db_path) as db:
        fill(db)
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child_update, args=(str(db_path), send))
    p.start()
    assert recv.poll(120), "the forked child hung"
    assert recv.recv() == "p01"
    p.join(60)
    with vectron.open(db_path) as db:
        assert db.get_collection("docs").get("p01").metadata == {"i": 1, "tag": "odd", "child": True}


def test_collection_metadata_and_rename(db):
    col = db.create_collection("docs", dim=2, metric="l2", metadata={"owner": "me", "n": 1})
    col.upsert(["a", "b"], [[1, 0], [0, 1]])
    assert col.metadata == {"owner": "me", "n": 1}
    col.set_metadata({"owner": "you"})
    assert db.get_collection("docs").metadata == {"owner": "you"}
    with pytest.raises(vectron.InvalidArgumentError):
        col.set_metadata({"big": "x" * 70000})
    assert col.metadata == {"owner": "you"}
    col.set_metadata(None)
    assert col.metadata is None
    other = db.get_collection("docs")
    col.modify(name="papers", metadata={"v": 2})
    assert col.name == "papers" and col.count() == 2 and col.metadata == {"v": 2}
    assert db.list_collections() == ["papers"]
    assert db.get_collection("papers").get("a").vector.tolist() == [1.0, 0.0]
    if isinstance(db, vectron.Database):  # A remote handle names its collection by name.
        with pytest.raises(vectron.NotFoundError):
            other.count()
    db.create_collection("docs", dim=2)
    with pytest.raises(vectron.AlreadyExistsError):
        col.rename("docs")
    with pytest.raises(vectron.NotFoundError):
        db.rename_collection("ghost", "x")
    with pytest.raises(vectron.InvalidArgumentError):
        db.rename_collection("papers", "bad name")
    db.rename_collection("papers", "back")
    assert db.get_collection("back").count() == 2
    assert db.get_or_create_collection("fresh", dim=2, metadata={"m": 1}).metadata == {"m": 1}
    assert db.get_or_create_collection("fresh", dim=2, metadata={"m": 2}).metadata == {"m": 1}
