"""The cluster as real processes on loopback: 3 `vectron pd`, 3 `vectron worker` and one
`vectron gateway`. A collection is created through the gateway, points are written, the
worker leading a shard group is killed with SIGKILL while writes go on, and every write
the gateway acknowledged must then be readable (and the restarted worker must catch up).
Run by meson with VECTRON_BIN set."""
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time

import pytest

BIN = os.environ.get("VECTRON_BIN", "vectron")
DIM = 4


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Node:
    def __init__(self, tmp_path, name, argv):
        self.name, self.argv = name, argv
        self.log_path = tmp_path / f"{name}.log"
        self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"ready on ([\d.]+):(\d+)", line)
        assert m, f"{self.name} did not start: {line!r} {open(self.log_path).read()}"
        self.host, self.port = m.group(1), int(m.group(2))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Cluster:
    def __init__(self, tmp_path, gateway_args=()):
        ports = free_ports(6)
        self.ports = ports
        pd_list = ",".join(f"{i + 1}=127.0.0.1:{ports[i]}" for i in range(3))
        self.secret_file = tmp_path / "secret"
        self.secret_file.write_text("0123456789abcdef-test-secret\n")
        sec = ["--secret-file", str(self.secret_file)]
        self.nodes = []
        self.pds = [Node(tmp_path, f"pd{i + 1}", [BIN, "pd", "--id", str(i + 1), "--data", str(tmp_path / f"pd{i + 1}"),
                                                   "--listen", f"127.0.0.1:{ports[i]}", "--peers", pd_list, *sec])
                    for i in range(3)]
        self.workers = [Node(tmp_path, f"w{i + 1}", [BIN, "worker", "--id", str(i + 1), "--data", str(tmp_path / f"w{i + 1}"),
                                                      "--listen", f"127.0.0.1:{ports[3 + i]}", "--pd", pd_list,
                                                      "--map-size-bytes", str(64 << 20), *sec])
                        for i in range(3)]
        self.gateway = Node(tmp_path, "gw", [BIN, "gateway", "--pd", pd_list, "--http", "127.0.0.1:0", *sec, *gateway_args])
        self.nodes = self.pds + self.workers + [self.gateway]

    def call(self, method, path, body=None, timeout=60):
        c = http.client.HTTPConnection(self.gateway.host, self.gateway.port, timeout=timeout)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None

    def wait_for(self, what, fn, timeout=60):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}; last: {last}")

    def stop(self):
        for n in self.nodes:
            n.stop()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.stop()


def vec(i):
    return [float(i), float(i % 7), 1.0, -float(i % 3)]


def test_acknowledged_writes_survive_kill9_of_a_leader(cluster):
    def live_workers():
        st, m = cluster.call("GET", "/v1/cluster")
        return st == 200 and len([w for w in m["workers"] if w["alive"]]) == 3 and m
    cluster.wait_for("three live workers", live_workers)

    def create():
        st, body = cluster.call("POST", "/v1/collections", {"name": "docs", "dim": DIM, "shards": 2, "replication": 3})
        return st == 201 and body
    cluster.wait_for("the collection", create)
    st, body = cluster.call("POST", "/v1/collections", {"name": "docs", "dim": DIM})
    assert st == 409, body

    acked = {}  # id -> value of the last acknowledged write

    def write(first, n):
        pts = [{"id": f"p{i}", "vector": vec(i), "metadata": {"v": i}} for i in range(first, first + n)]
        st, body = cluster.call("PUT", "/v1/collections/docs/points", {"points": pts})
        if st == 200:
            assert body == {"upserted": n}
            for p in pts:
                acked[p["id"]] = p["metadata"]["v"]
        else:
            assert st == 503, (st, body)  # Unknown outcome (deadline): not counted.
        return st

    for b in range(10):
        assert write(b * 20, 20) == 200

    # A bad write is refused with a clear error and changes nothing.
    st, body = cluster.call("PUT", "/v1/collections/docs/points", {"points": [{"id": "bad", "vector": [1, 2]}]})
    assert st == 400 and "dimension" in body["error"]["message"], body

    def leaders():
        st, m = cluster.call("GET", "/v1/cluster")
        ls = [g["leader"] for g in m["shards"] if g["collection"] == "docs"]
        return st == 200 and len(ls) == 2 and all(ls) and ls
    victim_id = cluster.wait_for("group leaders", leaders)[0]
    victim = cluster.workers[victim_id - 1]
    victim.kill9()

    # Writes go on while the group elects a new leader (the gateway retries).
    ok_after = 0
    for b in range(10, 25):
        ok_after += write(b * 20, 20) == 200
    assert ok_after > 0

    victim.start()
    for b in range(25, 30):
        write(b * 20, 20)

    ids = sorted(acked)
    st, body = cluster.call("POST", "/v1/collections/docs/points/get", {"ids": ids, "include": ["metadata", "vector"]})
    assert st == 200, body
    assert body["not_found"] == []
    got = {p["id"]: p for p in body["points"]}
    for pid, v in acked.items():
        assert got[pid]["metadata"] == {"v": v}
        assert got[pid]["vector"] == vec(v)
    st, body = cluster.call("POST", "/v1/collections/docs/count", {})
    assert st == 200 and body["count"] >= len(acked), body

    # Search merges every shard's top k.
    st, body = cluster.call("POST", "/v1/collections/docs/search", {"vector": vec(42), "k": 3, "exact": True})
    assert st == 200 and body["hits"][0]["id"] == "p42", body

    # The restarted worker catches up: its replicas reach the others' applied index, seen
    # through bounded-staleness reads that a follower may answer.
    def caught_up():
        st, m = cluster.call("GET", "/v1/cluster")
        return st == 200 and all(w["alive"] for w in m["workers"])
    cluster.wait_for("the restarted worker to be live", caught_up)

    # Kill -9 the PD leader: data traffic goes on (the gateway routes by its cached map),
    # and the PD group elects another leader that serves new collections.
    st, m = cluster.call("GET", "/v1/cluster")
    pd_leader = m["pd"]["leader"]
    assert pd_leader in (1, 2, 3), m
    cluster.pds[pd_leader - 1].kill9()
    assert write(1000, 20) == 200
    cluster.wait_for("a collection created under a new PD leader", lambda: cluster.call(
        "POST", "/v1/collections", {"name": "docs2", "dim": DIM, "shards": 1})[0] in (201, 409))
    cluster.pds[pd_leader - 1].start()
    st, body = cluster.call("PUT", "/v1/collections/docs2/points", {"points": [{"id": "a", "vector": vec(1)}]})
    assert st == 200, body
    ids = sorted(acked)
    st, body = cluster.call("POST", "/v1/collections/docs/points/get", {"ids": ids, "include": ["metadata"]})
    assert st == 200 and body["not_found"] == [], body


def test_a_minority_refuses_writes_and_loses_nothing(tmp_path):
    # Stopping two of three workers (SIGSTOP: alive but silent, as behind a partition)
    # leaves each group with a minority: writes must fail (503 after the gateway's
    # deadline), not be acknowledged; once the workers resume, writes succeed again and
    # every acknowledged write is there.
    c = Cluster(tmp_path, gateway_args=("--deadline-ms", "3000"))
    try:
        c.wait_for("three live workers", lambda: (lambda r: r[0] == 200 and len(
            [w for w in r[1]["workers"] if w["alive"]]) == 3)(c.call("GET", "/v1/cluster")))
        c.wait_for("the collection", lambda: c.call("POST", "/v1/collections", {"name": "m", "dim": DIM, "shards": 1})[0] == 201)
        pts = [{"id": f"a{i}", "vector": vec(i)} for i in range(10)]
        st, body = c.call("PUT", "/v1/collections/m/points", {"points": pts})
        assert st == 200, body
        stopped = c.workers[1:]
        for w in stopped:
            w.proc.send_signal(signal.SIGSTOP)
        try:
            st, body = c.call("PUT", "/v1/collections/m/points", {"points": [{"id": "b", "vector": vec(99)}]})
            assert st == 503, (st, body)
        finally:
            for w in stopped:
                w.proc.send_signal(signal.SIGCONT)
        c.wait_for("a write after the workers resume", lambda: c.call(
            "PUT", "/v1/collections/m/points", {"points": [{"id": "c", "vector": vec(7)}]})[0] == 200)
        st, body = c.call("POST", "/v1/collections/m/points/get", {"ids": [p["id"] for p in pts] + ["c"]})
        assert st == 200 and body["not_found"] == [], body
    finally:
        c.stop()


def test_daemons_refuse_bad_flags(tmp_path):
    r = subprocess.run([BIN, "pd", "--id", "4", "--data", str(tmp_path / "x"), "--peers", "1=127.0.0.1:1,2=127.0.0.1:2",
                        "--insecure"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--id must be one of --peers" in r.stderr
    r = subprocess.run([BIN, "worker", "--id", "1", "--data", str(tmp_path / "y"), "--pd", "1=127.0.0.1", "--insecure"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "127.0.0.1" in r.stderr
    r = subprocess.run([BIN, "gateway", "--pd", "1=a:1,1=b:2", "--insecure"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "twice" in r.stderr
    r = subprocess.run([BIN, "gateway", "--pd", "1=127.0.0.1:1"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--secret-file is required" in r.stderr
    short = tmp_path / "short"
    short.write_text("abc")
    r = subprocess.run([BIN, "gateway", "--pd", "1=127.0.0.1:1", "--secret-file", str(short)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and "shorter than 16" in r.stderr


def test_cluster_ports_refuse_callers_without_the_secret(cluster, tmp_path):
    # A gateway with the wrong secret never gets a map: the PDs close its connections
    # before reading a message.
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-cluster-secret")
    pd_list = ",".join(f"{i + 1}=127.0.0.1:{cluster.ports[i]}" for i in range(3))
    gw = Node(tmp_path, "gw-wrong", [BIN, "gateway", "--pd", pd_list, "--http", "127.0.0.1:0", "--secret-file", str(wrong),
                                      "--deadline-ms", "1500"])
    try:
        c = http.client.HTTPConnection(gw.host, gw.port, timeout=30)
        c.request("GET", "/readyz")
        r = c.getresponse()
        assert r.status == 503, r.read()
        r.read()
        c.request("POST", "/v1/collections", body=json.dumps({"name": "z", "dim": 2}))
        r = c.getresponse()
        assert r.status == 503, r.read()
    finally:
        gw.stop()
    # A raw connection that sends a cluster message without the hello is closed.
    s = socket.create_connection(("127.0.0.1", cluster.ports[0]), timeout=10)
    s.sendall(struct.pack("<I", 5) + b"hello")
    assert s.recv(100) == b""
    s.close()
    # So is one that says nothing (after the hello timeout, 5 s).
    s = socket.create_connection(("127.0.0.1", cluster.ports[3]), timeout=20)
    assert s.recv(100) == b""
    s.close()
    # The right secret works (the fixture's gateway serves).
    st, body = cluster.call("GET", "/v1/cluster")
    assert st == 200 and body["has_map"], body


def test_gateway_refuses_bad_input_and_unknown_routes(cluster):
    st, body = cluster.call("POST", "/v1/collections", {"name": "x"})
    assert st == 400 and "dim" in body["error"]["message"]
    st, body = cluster.call("POST", "/v1/collections/nope/points/get", {"ids": ["a"]}, timeout=60)
    assert st in (404, 503), body
    st, body = cluster.call("POST", "/v1/collections/x/scroll", {})
    assert st == 501 and "gateway" in body["error"]["message"]


def test_cluster_up_starts_serves_and_stops(tmp_path):
    d = tmp_path / "c"
    up = subprocess.Popen([BIN, "cluster", "up", "--dir", str(d), "--workers", "2"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        line = up.stdout.readline()
        assert line.startswith("cluster ready"), (line, up.stderr.read() if up.poll() is not None else "")
        info = json.loads((d / "cluster.json").read_text())
        assert len(info["pd"]) == 3 and len(info["workers"]) == 2 and len(info["gateways"]) == 1
        pids = [n["pid"] for n in info["pd"] + info["workers"] + info["gateways"]]
        for pid in pids:
            os.kill(pid, 0)  # Alive.
        assert info["workers"][0]["argv"][1] == "worker"
        host, port = info["gateways"][0]["http"].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request("POST", "/v1/collections", body=json.dumps({"name": "t", "dim": 2}))
        r = conn.getresponse()
        assert r.status == 201, r.read()
        r.read()
        conn.request("PUT", "/v1/collections/t/points", body=json.dumps({"points": [{"id": "a", "vector": [1, 2]}]}))
        r = conn.getresponse()
        assert r.status == 200, r.read()
        r.read()
        st = subprocess.run([BIN, "cluster", "status", "--dir", str(d)], capture_output=True, text=True, timeout=60)
        assert st.returncode == 0 and st.stdout.count("alive") == 2 and "t shard 0" in st.stdout, st.stdout + st.stderr
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    assert up.returncode == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    r = subprocess.run([BIN, "cluster", "status", "--dir", str(tmp_path / "none")], capture_output=True, text=True)
    assert r.returncode == 1 and "cluster.json" in r.stderr


def test_partial_updates_and_search_paging_through_the_gateway(cluster):
    # Partial updates are replicated write commands: each shard group applies them as a
    # read-modify-write inside its logged transaction (issue 22).
    def create():
        st, body = cluster.call("POST", "/v1/collections", {"name": "upd", "dim": DIM, "shards": 2, "replication": 3})
        return st == 201 and body
    cluster.wait_for("the collection", create)
    pts = [{"id": f"p{i}", "vector": vec(i), "metadata": {"v": i}} for i in range(6)]
    cluster.wait_for("the upsert", lambda: cluster.call("PUT", "/v1/collections/upd/points", {"points": pts})[0] == 200)
    st, body = cluster.call("POST", "/v1/collections/upd/points/metadata",
                            {"points": [{"id": "p1", "metadata": {"tag": "x"}}, {"id": "p4", "metadata": {"v": None}}]})
    assert (st, body) == (200, {"updated": 2})
    st, body = cluster.call("POST", "/v1/collections/upd/points/vectors", {"points": [{"id": "p2", "vector": vec(50)}]})
    assert (st, body) == (200, {"updated": 1})
    st, body = cluster.call("POST", "/v1/collections/upd/points/get", {"ids": ["p1", "p2", "p4"], "include": ["metadata", "vector"]})
    got = {p["id"]: p for p in body["points"]}
    assert got["p1"]["metadata"] == {"v": 1, "tag": "x"}
    assert got["p2"]["vector"] == vec(50) and got["p2"]["metadata"] == {"v": 2}
    assert got["p4"]["metadata"] == {}
    # A missing id: the shard group refuses its command (nothing written there).
    st, body = cluster.call("POST", "/v1/collections/upd/points/vectors", {"points": [{"id": "ghost", "vector": vec(1)}]})
    assert st == 404 and "ghost" in body["error"]["message"], body
    st, body = cluster.call("POST", "/v1/collections/upd/search", {"vector": vec(0), "k": 2, "offset": 1, "exact": True})
    st2, all_hits = cluster.call("POST", "/v1/collections/upd/search", {"vector": vec(0), "k": 3, "exact": True})
    assert st == 200 and [h["id"] for h in body["hits"]] == [h["id"] for h in all_hits["hits"][1:3]]
    st, body = cluster.call("POST", "/v1/collections/upd/search", {"vector": vec(0), "k": 5, "score_threshold": 0.25})  # cosine: p1 is at 0.5
    assert st == 200 and [h["id"] for h in body["hits"]] == ["p0"]
