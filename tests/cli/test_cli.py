"""End-to-end tests of the `vectron` command: create, import (fvecs, npy, JSONL),
search, info, drop, bad input, the benchmarks, and the client mode (the same commands
against a real `vectron serve` with --url). Run by meson with VECTRON_BIN set."""
import http.client
import json
import os
import re
import socket
import ssl
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
    run("create", "--db", data, "docs", "--dim", "8", "--metric", "l2")
    out = run("import", "--db", data, "docs", str(tmp_path / "v.fvecs"), "--batch", "64")
    assert "imported 300 points" in out.stdout
    q = json.dumps([float(x) for x in rows[42]])
    hits = json.loads(run("search", "--db", data, "docs", "--vector", q, "-k", "3", "--json").stdout)
    assert hits[0]["id"] == "42" and abs(hits[0]["score"]) < 1e-5 and len(hits) == 3
    info = json.loads(run("info", "--db", data, "--json").stdout)
    assert info[0]["name"] == "docs" and info[0]["count"] == 300 and info[0]["dim"] == 8
    assert info[0]["index"] == "flat" and info[0]["disk_bytes"] > 0
    write_fvecs(tmp_path / "q.fvecs", rows[10:12])
    hits = json.loads(run("search", "--db", data, "docs", "--query-file", str(tmp_path / "q.fvecs"),
                          "--row", "1", "--json", "--exact").stdout)
    assert hits[0]["id"] == "11"
    assert "dropped" in run("drop", "--db", data, "docs").stdout
    assert "no collections" in run("info", "--db", data).stdout


def test_import_npy_with_prefix_and_jsonl_with_metadata(tmp_path, data):
    arr = np.arange(40, dtype=np.float32).reshape(10, 4) + 1
    np.save(tmp_path / "v.npy", arr)
    run("create", "--db", data, "n", "--dim", "4", "--metric", "cosine")
    run("import", "--db", data, "n", str(tmp_path / "v.npy"), "--id-prefix", "row-")
    assert json.loads(run("info", "--db", data, "n", "--json").stdout)[0]["count"] == 10
    with open(tmp_path / "p.jsonl", "w") as f:
        for i in range(20):
            f.write(json.dumps({"id": f"p{i}", "vector": [i + 1.0, 1.0, 0.5], "metadata": {"i": i, "tag": "x"}}) + "\n")
    out = run("import", "--db", data, "j", str(tmp_path / "p.jsonl"), "--create", "--metric", "l2")
    assert "imported 20 points" in out.stdout
    hits = json.loads(run("search", "--db", data, "j", "--vector", "[5, 1, 0.5]", "-k", "1", "--metadata",
                          "--json").stdout)
    assert hits[0]["id"] == "p4" and hits[0]["metadata"] == {"i": 4, "tag": "x"}


def test_bad_input_is_refused_with_a_clear_message_and_writes_nothing(tmp_path, data):
    run("create", "--db", data, "c", "--dim", "3", "--metric", "l2")
    p = run("create", "--db", data, "c", "--dim", "3", check=False)
    assert p.returncode != 0 and "already exists" in p.stderr
    p = run("create", "--db", data, "bad name", "--dim", "3", check=False)
    assert p.returncode == 2 and "may contain only" in p.stderr
    p = run("create", "--db", data, "m", "--dim", "3", "--metric", "hamming", check=False)
    assert p.returncode == 2 and "unknown metric" in p.stderr
    with open(tmp_path / "bad.jsonl", "w") as f:
        f.write(json.dumps({"id": "ok", "vector": [1, 2, 3]}) + "\n")
        f.write(json.dumps({"id": "short", "vector": [1, 2]}) + "\n")
    p = run("import", "--db", data, "c", str(tmp_path / "bad.jsonl"), check=False)
    assert p.returncode == 2 and "dimension 2" in p.stderr and '"short"' in p.stderr
    assert json.loads(run("info", "--db", data, "c", "--json").stdout)[0]["count"] == 0
    with open(tmp_path / "broken.jsonl", "w") as f:
        f.write('{"id": "a", "vector": [1,2,3]}\n{"id": \n')
    p = run("import", "--db", data, "c", str(tmp_path / "broken.jsonl"), check=False)
    assert p.returncode == 2 and "line 2" in p.stderr
    p = run("search", "--db", data, "c", "--vector", "[1, 2]", check=False)
    assert p.returncode == 2 and "dimension 2" in p.stderr
    p = run("search", "--db", data, "c", "--vector", "[1, 2, 3]", "-k", "0", check=False)
    assert p.returncode == 2 and "k must be at least 1" in p.stderr
    p = run("search", "--db", data, "nope", "--vector", "[1, 2, 3]", check=False)
    assert p.returncode == 3 and "does not exist" in p.stderr
    with open(tmp_path / "trunc.fvecs", "wb") as f:
        f.write(struct.pack("<i", 3) + struct.pack("<3f", 1, 2, 3) + struct.pack("<i", 3) + b"\x00\x00")
    p = run("import", "--db", data, "c", str(tmp_path / "trunc.fvecs"), check=False)
    assert p.returncode == 2 and "truncated" in p.stderr
    # The batch before the truncated row was never sent (it is in the same batch): nothing written.
    assert json.loads(run("info", "--db", data, "c", "--json").stdout)[0]["count"] == 0


def test_payload_index_count_and_filtered_search(tmp_path, data):
    with open(tmp_path / "p.jsonl", "w") as f:
        for i in range(200):
            meta = {"genre": ["jazz", "rock", "pop"][i % 3], "year": 1950 + i % 50}
            f.write(json.dumps({"id": f"s{i}", "vector": [float(i % 7), float(i % 11), 1.0], "metadata": meta}) + "\n")
    run("create", "--db", data, "songs", "--dim", "3", "--metric", "l2")
    run("import", "--db", data, "songs", str(tmp_path / "p.jsonl"))
    assert "created keyword payload index on genre" in run("index", "--db", data, "songs", "--field", "genre").stdout
    run("index", "--db", data, "songs", "--field", "year", "--type", "integer")
    assert run("index", "--db", data, "songs").stdout.split("\n")[:2] == ["genre\tkeyword", "year\tinteger"]
    where = json.dumps({"genre": "jazz", "year": {"$gte": 1990}})
    expected = sum(1 for i in range(200) if i % 3 == 0 and 1950 + i % 50 >= 1990)
    assert run("count", "--db", data, "songs", "--where", where).stdout.strip() == str(expected)
    assert run("count", "--db", data, "songs").stdout.strip() == "200"
    hits = json.loads(run("search", "--db", data, "songs", "--vector", "[0, 0, 1]", "-k", "5", "--where", where,
                          "--metadata", "--json").stdout)
    assert len(hits) == 5
    for h in hits:
        m = json.loads(h["metadata"]) if isinstance(h["metadata"], str) else h["metadata"]
        assert m["genre"] == "jazz" and m["year"] >= 1990
    bad = run("count", "--db", data, "songs", "--where", '{"year": {"$gt": "x", "$foo": 1}}', check=False)
    assert bad.returncode != 0 and "unknown operator $foo" in bad.stderr
    bad = run("index", "--db", data, "songs", "--field", "genre", check=False)
    assert bad.returncode != 0 and "already exists" in bad.stderr
    bad = run("index", "--db", data, "songs", "--field", "x", "--type", "text", check=False)
    assert bad.returncode != 0 and "--type must be" in bad.stderr
    assert "dropped" in run("index", "--db", data, "songs", "--field", "genre", "--drop").stdout
    assert run("count", "--db", data, "songs", "--where", where).stdout.strip() == str(expected)


def test_backup_copies_a_working_database_and_compact_runs(tmp_path, data):
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((500, 8)).astype(np.float32)
    write_fvecs(tmp_path / "v.fvecs", rows)
    run("create", "--db", data, "docs", "--dim", "8", "--metric", "l2", "--shards", "2")
    run("import", "--db", data, "docs", str(tmp_path / "v.fvecs"))
    dest = str(tmp_path / "copy")
    assert "backed up" in run("backup", "--db", data, dest).stdout
    info = json.loads(run("info", "--db", dest, "--json").stdout)
    assert info[0]["name"] == "docs" and info[0]["count"] == 500
    q = json.dumps([float(x) for x in rows[7]])
    hits = json.loads(run("search", "--db", dest, "docs", "--vector", q, "-k", "1", "--json").stdout)
    assert hits[0]["id"] == "7"
    again = run("backup", "--db", data, dest, check=False)
    assert again.returncode != 0 and "exists" in again.stderr
    assert "compacted docs" in run("compact", "--db", data).stdout
    assert json.loads(run("info", "--db", data, "--json").stdout)[0]["count"] == 500


def write_ivecs(path, rows):
    with open(path, "wb") as f:
        for r in rows:
            f.write(struct.pack("<i", len(r)))
            f.write(struct.pack(f"<{len(r)}i", *r))


def tiny_dataset(path, n=400, nq=20, dim=8, k=10):
    """base.fvecs, query.fvecs and an exact l2 groundtruth.ivecs, as the bench reads."""
    rng = np.random.default_rng(5)
    base = rng.standard_normal((n, dim)).astype(np.float32)
    queries = rng.standard_normal((nq, dim)).astype(np.float32)
    d = ((queries[:, None, :] - base[None, :, :]) ** 2).sum(axis=2)
    path.mkdir()
    write_fvecs(path / "base.fvecs", base)
    write_fvecs(path / "query.fvecs", queries)
    write_ivecs(path / "groundtruth.ivecs", np.argsort(d, axis=1, kind="stable")[:, :k].tolist())
    return str(path)


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_bench_search_and_filtered_take_a_dataset_and_the_old_data_option_is_refused(tmp_path):
    ds = tiny_dataset(tmp_path / "tiny")
    rows = json_lines(run("bench", "search", "--dataset", ds, "--ef", "16,64", "--k", "10", "--threads", "1",
                          "--repeats", "1", "--json").stdout)
    assert {(r["system"], r["ef"]) for r in rows} == {("vectron", 16), ("vectron", 64), ("hnswlib", 16),
                                                     ("hnswlib", 64)}
    assert all(r["recall"] >= 0.9 for r in rows if r["ef"] == 64), rows
    kept = tmp_path / "kept-db"
    rows = json_lines(run("bench", "filtered", "--dataset", ds, "--selectivity", "0.5", "--correlation",
                          "uncorrelated", "--ef", "64", "--threads", "1", "--repeats", "1", "--db", str(kept),
                          "--json").stdout)
    assert rows and all(r["system"] == "vectron-filtered" and r["selectivity"] == 0.5 for r in rows), rows
    # --db kept the database: it opens as a normal database directory.
    assert json.loads(run("info", "--db", str(kept), "--json").stdout)[0]["name"] == "bench"
    # Before, --data named the dataset here; now it is refused, naming the new spellings.
    p = run("bench", "search", "--data", ds, check=False)
    assert p.returncode != 0 and "--dataset" in p.stderr and "--db" in p.stderr
    p = run("bench", "filtered", "--dataset", ds, "--selectivity", "2", check=False)
    assert p.returncode == 2 and "--selectivity" in p.stderr
    p = run("bench", check=False)
    assert p.returncode != 0 and "subcommand is required" in p.stderr
    for old in ("bench-reopen", "bench-concurrent", "bench-compact"):
        assert run(old, check=False).returncode != 0


def test_bench_durability_subcommands_run(tmp_path):
    out = {}
    for bench, extra in (("reopen", ["--tail", "100"]), ("concurrent", ["--queries", "50"]), ("compact", [])):
        out[bench] = json_lines(run("bench", bench, "--n", "1500", "--dim", "8", "--threads", "1", *extra).stdout)
        assert out[bench] and all(r["bench"] == bench and r["phase"] for r in out[bench]), out[bench]
    assert any(r["phase"] == "reopen_checkpoint_plus_tail" and r["tail"] == 100 for r in out["reopen"])


def test_db_option_and_its_old_spelling(tmp_path, data):
    run("create", "--db", data, "a", "--dim", "2")
    # --data is still accepted as the database directory (hidden from --help).
    assert json.loads(run("info", "--data", data, "--json").stdout)[0]["name"] == "a"
    helptext = run("info", "--help").stdout
    assert "--db" in helptext and "--data" not in helptext
    # Defaults in --help come from the library's structs.
    create_help = run("create", "--help").stdout
    assert "--M" in create_help and "--ef-construction" in create_help


# --- client mode: the same commands against a server (--url, --token, --ca) ---------

ADMIN_PASSWORD = "correct horse battery staple"


def _https(srv, method, path, body=None, token=None):
    ctx = ssl.create_default_context(cafile=srv["ca"])
    c = http.client.HTTPSConnection(srv["host"], srv["port"], timeout=30, context=ctx)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    out = json.loads(r.read())
    c.close()
    assert r.status < 300, out
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `vectron serve` on loopback with its secure defaults (TLS with the
    generated certificate, auth on), and SDK tokens: "key" (read, write, admin) and
    "reader" (read)."""
    d = tmp_path_factory.mktemp("serve")
    log = open(d / "serve.log", "w")
    proc = subprocess.Popen([BIN, "serve", "--db", str(d / "db"), "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0",
                             "--no-request-log"], stdout=subprocess.PIPE, stderr=log, text=True,
                            env=dict(os.environ, VECTRON_ADMIN_PASSWORD=ADMIN_PASSWORD))
    srv = {"ca": str(d / "db" / "tls" / "cert.pem")}
    for line in proc.stdout:  # Ends if the process exits.
        m = re.search(r"http listening on (https://([\d.]+):(\d+))", line)
        if m:
            srv.update(url=m.group(1), host=m.group(2), port=int(m.group(3)))
        if "ready" in line:
            break
    assert "url" in srv, open(d / "serve.log").read()
    login = _https(srv, "POST", "/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})["token"]
    srv["key"] = _https(srv, "POST", "/v1/keys", {"name": "cli", "scopes": ["read", "write", "admin"]}, login)["token"]
    srv["reader"] = _https(srv, "POST", "/v1/keys", {"name": "ro", "scopes": ["read"]}, login)["token"]
    yield srv
    proc.terminate()
    proc.stdout.read()
    assert proc.wait(timeout=60) == 0
    log.close()


def remote(srv, token=None):
    return ["--url", srv["url"], "--token", token or srv["key"], "--ca", srv["ca"]]


def test_the_same_commands_work_on_a_directory_and_on_a_server(tmp_path, data, server):
    with open(tmp_path / "p.jsonl", "w") as f:
        for i in range(150):
            meta = {"genre": ["jazz", "rock", "pop"][i % 3], "year": 1950 + i % 50}
            f.write(json.dumps({"id": f"s{i}", "vector": [float(i % 7), float(i % 11), 1.0], "metadata": meta}) + "\n")
    write_fvecs(tmp_path / "q.fvecs", [[3.0, 5.0, 1.0], [1.0, 2.0, 1.0]])
    where = json.dumps({"genre": "jazz", "year": {"$gte": 1980}})
    results = {}
    for name, target in (("local", ["--db", data]), ("remote", remote(server))):
        out = run("import", *target, "songs", str(tmp_path / "p.jsonl"), "--create", "--metric", "l2",
                  "--batch", "40").stdout
        assert "imported 150 points into songs" in out
        r = {"count": run("count", *target, "songs").stdout,
             "count_where": run("count", *target, "songs", "--where", where).stdout,
             "search": json.loads(run("search", *target, "songs", "--vector", "[3, 5, 1]", "-k", "4", "--metadata",
                                      "--vectors", "--json").stdout),
             "search_where": json.loads(run("search", *target, "songs", "--vector", "[0, 0, 1]", "-k", "3",
                                            "--where", where, "--json", "--exact").stdout),
             "query_file": run("search", *target, "songs", "--query-file", str(tmp_path / "q.fvecs"), "--row", "1",
                               "-k", "2").stdout,
             "info": json.loads(run("info", *target, "songs", "--json").stdout)}
        for i in r["info"]:
            del i["disk_bytes"], i["index_memory_bytes"]  # Sizes of two different files.
        results[name] = r
    assert results["local"] == results["remote"]
    r = results["remote"]
    assert r["count"].strip() == "150" and int(r["count_where"]) == sum(
        1 for i in range(150) if i % 3 == 0 and 1950 + i % 50 >= 1980)
    assert r["search"][0]["id"] == "s38" and r["search"][0]["metadata"] == {"genre": "pop", "year": 1988}
    assert r["search"][0]["vector"] == [3.0, 5.0, 1.0]
    assert r["info"][0]["name"] == "songs" and r["info"][0]["count"] == 150 and r["info"][0]["metric"] == "l2"
    # `create` works against a server too, and the text form of info.
    run("create", *remote(server), "made-remotely", "--dim", "5", "--shards", "2")
    text = run("info", *remote(server), "made-remotely").stdout
    assert "made-remotely" in text and "shards       2" in text
    # The token may come from $VECTRON_TOKEN.
    p = subprocess.run([BIN, "count", "--url", server["url"], "--ca", server["ca"], "songs"], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, VECTRON_TOKEN=server["key"]))
    assert p.returncode == 0 and p.stdout.strip() == "150"


def test_client_mode_errors_are_the_servers_with_clear_messages(tmp_path, server):
    with open(tmp_path / "p.jsonl", "w") as f:
        f.write(json.dumps({"id": "a", "vector": [1, 2]}) + "\n")
    run("import", *remote(server), "errs", str(tmp_path / "p.jsonl"), "--create")
    p = run("count", *remote(server, token="not-a-token"), "errs", check=False)
    assert p.returncode == 1 and "unauthenticated" in p.stderr
    p = run("import", *remote(server, token=server["reader"]), "errs", str(tmp_path / "p.jsonl"), check=False)
    assert p.returncode == 1 and "permission_denied" in p.stderr
    p = run("search", *remote(server), "nope", "--vector", "[1, 2]", check=False)
    assert p.returncode == 3 and "does not exist" in p.stderr
    p = run("search", *remote(server), "errs", "--vector", "[1, 2, 3]", check=False)
    assert p.returncode == 2 and "dimension 3" in p.stderr
    p = run("count", *remote(server), "errs", "--where", '{"x": {"$foo": 1}}', check=False)
    assert p.returncode == 2 and "unknown operator $foo" in p.stderr
    # Without --ca the self-signed certificate is not trusted.
    p = run("count", "--url", server["url"], "--token", server["key"], "errs", check=False)
    assert p.returncode != 0 and "certificate verify failed" in p.stderr
    p = run("count", "--url", server["url"].replace("https", "http"), "--ca", server["ca"], "errs", check=False)
    assert p.returncode == 2 and "--ca is for https://" in p.stderr
    p = run("count", "--url", "ftp://x", "errs", check=False)
    assert p.returncode == 2 and "--url must start with" in p.stderr
    p = run("count", "--url", server["url"], "--db", str(tmp_path / "d"), "errs", check=False)
    assert p.returncode != 0 and "excludes" in p.stderr
    p = run("count", "--token", "x", "errs", check=False)
    assert p.returncode != 0 and "--url" in p.stderr
    p = run("import", *remote(server), "errs", str(tmp_path / "p.jsonl"), "--durability", "nosync", check=False)
    assert p.returncode == 2 and "--durability" in p.stderr
    with socket.socket() as s:  # Nothing listens there: connection refused, after the retries.
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = run("count", "--url", f"http://127.0.0.1:{port}", "errs", check=False)
    assert p.returncode == 1 and "connect 127.0.0.1" in p.stderr


def test_create_with_sq8_quantization(tmp_path, data):
    rng = np.random.default_rng(2)
    rows = rng.standard_normal((400, 8)).astype(np.float32)
    write_fvecs(tmp_path / "v.fvecs", rows)
    p = run("create", "--db", data, "q", "--dim", "8", "--quantization", "pq4", check=False)
    assert p.returncode != 0 and 'unknown quantization "pq4"' in p.stderr
    assert "no collections" in run("info", "--db", data).stdout
    run("create", "--db", data, "q", "--dim", "8", "--metric", "l2", "--quantization", "sq8",
        "--flat-max-points", "100")
    run("import", "--db", data, "q", str(tmp_path / "v.fvecs"))
    info = json.loads(run("info", "--db", data, "q", "--json").stdout)[0]
    assert info["config"]["quantization"] == "sq8" and info["index"] == "hnsw"
    assert "quantization sq8" in run("info", "--db", data, "q").stdout
    q = json.dumps([float(x) for x in rows[7]])
    hits = json.loads(run("search", "--db", data, "q", "--vector", q, "-k", "3", "--json").stdout)
    # The graph is walked on int8 codes, the hits rescored exactly: the point itself at 0.
    assert hits[0]["id"] == "7" and abs(hits[0]["score"]) < 1e-5


def test_remote_create_with_sq8_quantization(server):
    run("create", *remote(server), "quantized", "--dim", "4", "--quantization", "sq8")
    info = json.loads(run("info", *remote(server), "quantized", "--json").stdout)[0]
    assert info["config"]["quantization"] == "sq8"
    p = run("create", *remote(server), "quantized2", "--dim", "4", "--quantization", "pq", check=False)
    assert p.returncode == 2 and 'unknown quantization "pq"' in p.stderr
