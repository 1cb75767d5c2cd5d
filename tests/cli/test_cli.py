"""End-to-end tests of the `vectron` command: create, import (fvecs, npy, JSONL),
search, info, drop, and bad input. Run by meson with VECTRON_BIN set."""
import json
import os
import struct
import subprocess

import numpy as np
import pytest

BIN = os.environ.get("VECTRON_BIN", "vectron")


def run(*args, check=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}: {p.stderr}")
    return p


def write_fvecs(path, rows):
    with open(path, "wb") as f:
        for r in rows:
            f.write(struct.pack("<i", len(r)))
            f.write(struct.pack(f"<{len(r)}f", *r))


@pytest.fixture
def data(tmp_path):
    return str(tmp_path / "db")


def test_create_import_fvecs_search_info_drop(tmp_path, data):
    rng = np.random.default_rng(1)
    rows = rng.standard_normal((300, 8)).astype(np.float32)
    write_fvecs(tmp_path / "v.fvecs", rows)
    run("create", "--data", data, "docs", "--dim", "8", "--metric", "l2")
    out = run("import", "--data", data, "docs", str(tmp_path / "v.fvecs"), "--batch", "64")
    assert "imported 300 points" in out.stdout
    q = json.dumps([float(x) for x in rows[42]])
    hits = json.loads(run("search", "--data", data, "docs", "--vector", q, "-k", "3", "--json").stdout)
    assert hits[0]["id"] == "42" and abs(hits[0]["score"]) < 1e-5 and len(hits) == 3
    info = json.loads(run("info", "--data", data, "--json").stdout)
    assert info[0]["name"] == "docs" and info[0]["count"] == 300 and info[0]["dim"] == 8
    assert info[0]["index"] == "flat" and info[0]["disk_bytes"] > 0
    write_fvecs(tmp_path / "q.fvecs", rows[10:12])
    hits = json.loads(run("search", "--data", data, "docs", "--query-file", str(tmp_path / "q.fvecs"),
                          "--row", "1", "--json", "--exact").stdout)
    assert hits[0]["id"] == "11"
    assert "dropped" in run("drop", "--data", data, "docs").stdout
    assert "no collections" in run("info", "--data", data).stdout


def test_import_npy_with_prefix_and_jsonl_with_metadata(tmp_path, data):
    arr = np.arange(40, dtype=np.float32).reshape(10, 4) + 1
    np.save(tmp_path / "v.npy", arr)
    run("create", "--data", data, "n", "--dim", "4", "--metric", "cosine")
    run("import", "--data", data, "n", str(tmp_path / "v.npy"), "--id-prefix", "row-")
    assert json.loads(run("info", "--data", data, "n", "--json").stdout)[0]["count"] == 10
    with open(tmp_path / "p.jsonl", "w") as f:
        for i in range(20):
            f.write(json.dumps({"id": f"p{i}", "vector": [i + 1.0, 1.0, 0.5], "metadata": {"i": i, "tag": "x"}}) + "\n")
    out = run("import", "--data", data, "j", str(tmp_path / "p.jsonl"), "--create", "--metric", "l2")
    assert "imported 20 points" in out.stdout
    hits = json.loads(run("search", "--data", data, "j", "--vector", "[5, 1, 0.5]", "-k", "1", "--metadata",
                          "--json").stdout)
    assert hits[0]["id"] == "p4" and hits[0]["metadata"] == {"i": 4, "tag": "x"}


def test_bad_input_is_refused_with_a_clear_message_and_writes_nothing(tmp_path, data):
    run("create", "--data", data, "c", "--dim", "3", "--metric", "l2")
    p = run("create", "--data", data, "c", "--dim", "3", check=False)
    assert p.returncode != 0 and "already exists" in p.stderr
    p = run("create", "--data", data, "bad name", "--dim", "3", check=False)
    assert p.returncode == 2 and "may contain only" in p.stderr
    p = run("create", "--data", data, "m", "--dim", "3", "--metric", "hamming", check=False)
    assert p.returncode == 2 and "unknown metric" in p.stderr
    with open(tmp_path / "bad.jsonl", "w") as f:
        f.write(json.dumps({"id": "ok", "vector": [1, 2, 3]}) + "\n")
        f.write(json.dumps({"id": "short", "vector": [1, 2]}) + "\n")
    p = run("import", "--data", data, "c", str(tmp_path / "bad.jsonl"), check=False)
    assert p.returncode == 2 and "dimension 2" in p.stderr and '"short"' in p.stderr
    assert json.loads(run("info", "--data", data, "c", "--json").stdout)[0]["count"] == 0
    with open(tmp_path / "broken.jsonl", "w") as f:
        f.write('{"id": "a", "vector": [1,2,3]}\n{"id": \n')
    p = run("import", "--data", data, "c", str(tmp_path / "broken.jsonl"), check=False)
    assert p.returncode == 2 and "line 2" in p.stderr
    p = run("search", "--data", data, "c", "--vector", "[1, 2]", check=False)
    assert p.returncode == 2 and "dimension 2" in p.stderr
    p = run("search", "--data", data, "c", "--vector", "[1, 2, 3]", "-k", "0", check=False)
    assert p.returncode == 2 and "k must be at least 1" in p.stderr
    p = run("search", "--data", data, "nope", "--vector", "[1, 2, 3]", check=False)
    assert p.returncode == 3 and "does not exist" in p.stderr
    with open(tmp_path / "trunc.fvecs", "wb") as f:
        f.write(struct.pack("<i", 3) + struct.pack("<3f", 1, 2, 3) + struct.pack("<i", 3) + b"\x00\x00")
    p = run("import", "--data", data, "c", str(tmp_path / "trunc.fvecs"), check=False)
    assert p.returncode == 2 and "truncated" in p.stderr
    # The batch before the truncated row was never sent (it is in the same batch): nothing written.
    assert json.loads(run("info", "--data", data, "c", "--json").stdout)[0]["count"] == 0


def test_payload_index_count_and_filtered_search(tmp_path, data):
    with open(tmp_path / "p.jsonl", "w") as f:
        for i in range(200):
            meta = {"genre": ["jazz", "rock", "pop"][i % 3], "year": 1950 + i % 50}
            f.write(json.dumps({"id": f"s{i}", "vector": [float(i % 7), float(i % 11), 1.0], "metadata": meta}) + "\n")
    run("create", "--data", data, "songs", "--dim", "3", "--metric", "l2")
    run("import", "--data", data, "songs", str(tmp_path / "p.jsonl"))
    assert "created keyword payload index on genre" in run("index", "--data", data, "songs", "--field", "genre").stdout
    run("index", "--data", data, "songs", "--field", "year", "--type", "integer")
    assert run("index", "--data", data, "songs").stdout.split("\n")[:2] == ["genre\tkeyword", "year\tinteger"]
    where = json.dumps({"genre": "jazz", "year": {"$gte": 1990}})
    expected = sum(1 for i in range(200) if i % 3 == 0 and 1950 + i % 50 >= 1990)
    assert run("count", "--data", data, "songs", "--where", where).stdout.strip() == str(expected)
    assert run("count", "--data", data, "songs").stdout.strip() == "200"
    hits = json.loads(run("search", "--data", data, "songs", "--vector", "[0, 0, 1]", "-k", "5", "--where", where,
                          "--metadata", "--json").stdout)
    assert len(hits) == 5
    for h in hits:
        m = json.loads(h["metadata"]) if isinstance(h["metadata"], str) else h["metadata"]
        assert m["genre"] == "jazz" and m["year"] >= 1990
    bad = run("count", "--data", data, "songs", "--where", '{"year": {"$gt": "x", "$foo": 1}}', check=False)
    assert bad.returncode != 0 and "unknown operator $foo" in bad.stderr
    bad = run("index", "--data", data, "songs", "--field", "genre", check=False)
    assert bad.returncode != 0 and "already exists" in bad.stderr
    bad = run("index", "--data", data, "songs", "--field", "x", "--type", "text", check=False)
    assert bad.returncode != 0 and "--type must be" in bad.stderr
    assert "dropped" in run("index", "--data", data, "songs", "--field", "genre", "--drop").stdout
    assert run("count", "--data", data, "songs", "--where", where).stdout.strip() == str(expected)


def test_backup_copies_a_working_database_and_compact_runs(tmp_path, data):
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((500, 8)).astype(np.float32)
    write_fvecs(tmp_path / "v.fvecs", rows)
    run("create", "--data", data, "docs", "--dim", "8", "--metric", "l2", "--shards", "2")
    run("import", "--data", data, "docs", str(tmp_path / "v.fvecs"))
    dest = str(tmp_path / "copy")
    assert "backed up" in run("backup", "--data", data, dest).stdout
    info = json.loads(run("info", "--data", dest, "--json").stdout)
    assert info[0]["name"] == "docs" and info[0]["count"] == 500
    q = json.dumps([float(x) for x in rows[7]])
    hits = json.loads(run("search", "--data", dest, "docs", "--vector", q, "-k", "1", "--json").stdout)
    assert hits[0]["id"] == "7"
    again = run("backup", "--data", data, dest, check=False)
    assert again.returncode != 0 and "exists" in again.stderr
    assert "compacted docs" in run("compact", "--data", data).stdout
    assert json.loads(run("info", "--data", data, "--json").stdout)[0]["count"] == 500


def test_create_with_sq8_quantization(tmp_path, data):
    rng = np.random.default_rng(2)
    rows = rng.standard_normal((400, 8)).astype(np.float32)
    write_fvecs(tmp_path / "v.fvecs", rows)
    p = run("create", "--data", data, "q", "--dim", "8", "--quantization", "pq4", check=False)
    assert p.returncode != 0 and 'unknown quantization "pq4"' in p.stderr
    assert "no collections" in run("info", "--data", data).stdout
    run("create", "--data", data, "q", "--dim", "8", "--metric", "l2", "--quantization", "sq8",
        "--flat-max-points", "100")
    run("import", "--data", data, "q", str(tmp_path / "v.fvecs"))
    info = json.loads(run("info", "--data", data, "q", "--json").stdout)[0]
    assert info["config"]["quantization"] == "sq8" and info["index"] == "hnsw"
    assert "quantization sq8" in run("info", "--data", data, "q").stdout
    q = json.dumps([float(x) for x in rows[7]])
    hits = json.loads(run("search", "--data", data, "q", "--vector", q, "-k", "3", "--json").stdout)
    # The graph is walked on int8 codes, the hits rescored exactly: the point itself at 0.
    assert hits[0]["id"] == "7" and abs(hits[0]["score"]) < 1e-5
