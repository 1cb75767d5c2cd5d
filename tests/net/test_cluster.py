"""The cluster as real processes on loopback: 3 `vectron pd`, 3 `vectron worker` and one
`vectron gateway`. A collection is created through the gateway, points are written, the
worker leading a shard group is killed with SIGKILL while writes go on, and every write
the gateway acknowledged must then be readable (and the restarted worker must catch up).
Run by meson with VECTRON_BIN set."""
import http.client
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import time

import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_serve import Server  # noqa: E402

BIN = os.environ.get("VECTRON_BIN", "vectron")
DIM = 4
PROBE = os.environ.get("VECTRON_RPC_PROBE", "")  # tests/net/rpc_probe: one RPC call
ADMIN_PASSWORD = "cluster admin password"


_picked_ports = set()


def free_ports(n):
    """`n` free loopback ports, none picked before by this process, drawn below the
    kernel's ephemeral range (where outgoing connections, the cluster's own among them,
    take their local ports), as `vectron cluster up` picks them."""
    low = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = max(2049, int(f.read().split()[0]))
    except (OSError, ValueError):
        pass
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    ports = []
    for _ in range(100 * n):
        if len(ports) == n:
            break
        port = rng.randrange(max(1024, low - 16384), low)
        if port in _picked_ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _picked_ports.add(port)
        ports.append(port)
    assert len(ports) == n, f"no {n} free ports below {low}"
    return ports


class Node:
    def __init__(self, tmp_path, name, argv, env=None, stderr_pipe=False):
        """`stderr_pipe`: the node's stderr comes through a pipe that wait_stderr reads
        (and copies to the log), rather than going to the log file directly."""
        self.name, self.argv, self.env, self.stderr_pipe = name, argv, env, stderr_pipe
        self.log_path = tmp_path / f"{name}.log"
        self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        self.stderr_buf = b""
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE if self.stderr_pipe else self.log, text=True, env=self.env)
        self.lines = []
        for _ in range(10):  # Notes (a generated certificate) may come first.
            line = self.proc.stdout.readline()
            self.lines.append(line)
            m = re.search(r"ready on ([\d.]+):(\d+)", line)
            if m or not line:
                break
        assert m, f"{self.name} did not start: {self.lines!r} {open(self.log_path).read()}"
        self.host, self.port = m.group(1), int(m.group(2))

    def wait_stderr(self, want, timeout=30):
        """Reads the node's stderr (stderr_pipe) until a line holds `want`, copying what it
        reads to the log. It blocks on the pipe until the node writes: no polling."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stderr.fileno()
        while True:
            lines = self.stderr_buf.split(b"\n")
            if any(want.encode() in line for line in lines[:-1]):
                self.stderr_buf = lines[-1]
                return
            left = deadline - time.monotonic()
            assert left > 0 and select.select([fd], [], [], left)[0], self.stderr_buf.decode(errors="replace")
            chunk = os.read(fd, 65536)
            assert chunk, "the node exited: " + self.stderr_buf.decode(errors="replace")
            self.log.write(chunk.decode(errors="replace"))
            self.log.flush()
            self.stderr_buf += chunk

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


def gateway_env(password=ADMIN_PASSWORD):
    env = dict(os.environ)
    env.pop("VECTRON_ADMIN_PASSWORD", None)
    if password is not None:
        env["VECTRON_ADMIN_PASSWORD"] = password
    return env


def http_call(host, port, method, path, body=None, token=None, timeout=60):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


class Cluster:
    """3 PDs, 3 workers and `gateways` gateways (plain HTTP on loopback, auth on: the
    admin is created with ADMIN_PASSWORD, and call() sends the admin's login token).
    Between the nodes: the cluster secret and, unless `cluster_tls` is false, mutual TLS
    with certificates from `vectron cluster issue-cert`."""

    def __init__(self, tmp_path, gateway_args=(), gateways=1, cluster_tls=True, pd_args=(), worker_args=()):
        self.tmp_path, self.cluster_tls = tmp_path, cluster_tls
        ports = free_ports(6)
        self.ports = ports
        pd_list = ",".join(f"{i + 1}=127.0.0.1:{ports[i]}" for i in range(3))
        self.secret_file = tmp_path / "secret"
        self.secret_file.write_text("0123456789abcdef-test-secret\n")
        sec = ["--secret-file", str(self.secret_file)]
        self.pd_list, self.sec = pd_list, sec
        self.nodes = []
        self.pds = [Node(tmp_path, f"pd{i + 1}", [BIN, "pd", "--id", str(i + 1), "--db", str(tmp_path / f"pd{i + 1}"),
                                                   "--listen", f"127.0.0.1:{ports[i]}", "--peers", pd_list, *sec,
                                                   *self.tls(f"pd-{i + 1}"), *pd_args])
                    for i in range(3)]
        self.workers = [Node(tmp_path, f"w{i + 1}", [BIN, "worker", "--id", str(i + 1), "--db", str(tmp_path / f"w{i + 1}"),
                                                      "--listen", f"127.0.0.1:{ports[3 + i]}", "--pd", pd_list,
                                                      "--map-size-bytes", str(64 << 20), *sec,
                                                      *self.tls(f"worker-{i + 1}"), *worker_args])
                        for i in range(3)]
        self.gateways = [Node(tmp_path, f"gw{i + 1}", [BIN, "gateway", "--id", str(i + 1), "--db", str(tmp_path / f"gw{i + 1}"),
                                                        "--pd", pd_list, "--http", "127.0.0.1:0", "--insecure-http", *sec,
                                                        *self.tls(f"gateway-{i + 1}"), *gateway_args], env=gateway_env())
                         for i in range(gateways)]
        self.gateway = self.gateways[0]
        self.nodes = self.pds + self.workers + self.gateways
        # Every gateway loads the auth records from the PD; one creates the admin.
        for g in self.gateways:
            self.wait_for(f"{g.name} ready", lambda: http_call(g.host, g.port, "GET", "/readyz")[0] == 200)
        st, body = http_call(self.gateway.host, self.gateway.port, "POST", "/v1/auth/login",
                             {"username": "admin", "password": ADMIN_PASSWORD})
        assert st == 200, body
        self.login_token = body["token"]
        # The data API takes SDK tokens (login tokens are for the console and accounts).
        st, body = http_call(self.gateway.host, self.gateway.port, "POST", "/v1/keys",
                             {"name": "test", "scopes": ["read", "write", "admin"]}, self.login_token)
        assert st == 201, body
        self.token = body["token"]

    def add_worker(self, wid, *args):
        """Starts worker `wid` (a new id: PD registers it) with `args` added; stopped with
        the cluster."""
        port = free_ports(1)[0]
        w = Node(self.tmp_path, f"w{wid}", [BIN, "worker", "--id", str(wid), "--db", str(self.tmp_path / f"w{wid}"),
                                            "--listen", f"127.0.0.1:{port}", "--pd", self.pd_list,
                                            "--map-size-bytes", str(64 << 20), *self.sec, *self.tls(f"worker-{wid}"),
                                            *args])
        self.workers.append(w)
        self.nodes.append(w)
        return w

    def add_gateway(self, tmp_path, gid, *args):
        """Starts one more gateway (plain HTTP) with `args`; stopped with the cluster."""
        g = Node(tmp_path, f"gw{gid}", [BIN, "gateway", "--id", str(gid), "--db", str(tmp_path / f"gw{gid}"),
                                        "--pd", self.pd_list, "--http", "127.0.0.1:0", "--insecure-http", *self.sec,
                                        *self.tls(f"gateway-{gid}"), *args], env=gateway_env())
        self.nodes.append(g)
        self.wait_for(f"gw{gid} ready", lambda: http_call(g.host, g.port, "GET", "/readyz")[0] == 200)
        return g

    def tls(self, node):
        """The --cluster-ca/-cert/-key flags of `node` ("worker-1"), its certificate issued
        now if not yet; none without cluster TLS."""
        if not self.cluster_tls:
            return []
        tdir = self.tmp_path / "cluster-tls"
        if not (tdir / f"{node}.pem").exists():
            r = subprocess.run([BIN, "cluster", "issue-cert", "--dir", str(self.tmp_path), "--node", node],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
        return ["--cluster-ca", str(tdir / "ca.pem"), "--cluster-cert", str(tdir / f"{node}.pem"),
                "--cluster-key", str(tdir / f"{node}-key.pem")]

    def call(self, method, path, body=None, timeout=60, token=True, gateway=0):
        g = self.gateways[gateway]
        return http_call(g.host, g.port, method, path, body, self.token if token is True else token, timeout)

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
    r = subprocess.run([BIN, "pd", "--id", "4", "--db", str(tmp_path / "x"), "--peers", "1=127.0.0.1:1,2=127.0.0.1:2",
                        "--insecure"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--id must be one of --peers" in r.stderr
    # The older spelling --data is still read (the same refusal, past the flags)...
    r = subprocess.run([BIN, "pd", "--id", "4", "--data", str(tmp_path / "x"), "--peers", "1=127.0.0.1:1,2=127.0.0.1:2",
                        "--insecure"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--id must be one of --peers" in r.stderr
    # ... and a daemon has no default directory: two of them must never share one.
    for kind in (["pd", "--id", "1", "--peers", "1=127.0.0.1:1"], ["worker", "--id", "1", "--pd", "1=127.0.0.1:1"],
                 ["gateway", "--pd", "1=127.0.0.1:1"]):
        r = subprocess.run([BIN, *kind, "--insecure"], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "--db DIR is required" in r.stderr, r.stderr
    # TLS flags as `vectron serve` checks them.
    gw = [BIN, "gateway", "--pd", "1=127.0.0.1:1", "--insecure", "--db", str(tmp_path / "g")]
    r = subprocess.run([*gw, "--tls-cert", "c.pem"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "give both --tls-cert and --tls-key" in r.stderr, r.stderr
    r = subprocess.run([*gw, "--tls-cert", "c.pem", "--tls-key", "k.pem", "--insecure-http"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and "--insecure-http contradicts" in r.stderr, r.stderr
    r = subprocess.run([BIN, "worker", "--id", "1", "--db", str(tmp_path / "y"), "--pd", "1=127.0.0.1", "--insecure"],
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


def test_a_pd_that_never_answers_a_connect_is_reported_and_does_not_hold_the_worker(tmp_path):
    # A "PD" whose accept queue is full (backlog 0, one connection in it): Linux drops
    # further SYNs, so the worker's connects never complete, as to a black-holed host.
    with socket.socket() as full, socket.socket() as filler:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        filler.connect(full.getsockname())
        addr = "127.0.0.1:%d" % full.getsockname()[1]
        (port,) = free_ports(1)
        w = Node(tmp_path, "w1", [BIN, "worker", "--id", "1", "--db", str(tmp_path / "w1"), "--pd", f"1={addr}",
                                  "--listen", f"127.0.0.1:{port}", "--insecure",
                                  "--cluster-connect-timeout-ms", "200"], stderr_pipe=True)
        try:
            w.wait_stderr(f"vectron cluster: cannot connect to {addr} (127.0.0.1: timed out after 200 ms)")
            assert w.proc.poll() is None
            w.proc.send_signal(signal.SIGTERM)
            w.proc.wait(timeout=20)  # Not held by a connect in progress.
        finally:
            w.stop()


@pytest.mark.parametrize("cluster_tls", [False, True])
def test_cluster_ports_refuse_callers_without_the_secret(tmp_path, cluster_tls):
    # A gateway with the wrong secret never gets a map: the PDs close its connections
    # before reading a message (under TLS too, with a valid certificate).
    cluster = Cluster(tmp_path, cluster_tls=cluster_tls)
    try:
        check_ports_refuse_callers_without_the_secret(cluster, tmp_path)
    finally:
        cluster.stop()


def check_ports_refuse_callers_without_the_secret(cluster, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-cluster-secret")
    pd_list = ",".join(f"{i + 1}=127.0.0.1:{cluster.ports[i]}" for i in range(3))
    gw = Node(tmp_path, "gw-wrong", [BIN, "gateway", "--pd", pd_list, "--http", "127.0.0.1:0", "--secret-file", str(wrong),
                                      "--deadline-ms", "1500", "--db", str(tmp_path / "gw-wrong"), "--insecure-http",
                                      "--id", "7", *cluster.tls("gateway-7")])
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
    # (Under TLS it is not TLS: at most an alert comes back.)
    s = socket.create_connection(("127.0.0.1", cluster.ports[0]), timeout=10)
    s.sendall(struct.pack("<I", 5) + b"hello")
    assert closed_without_reply(s)
    s.close()
    # So is one that says nothing (after the hello or handshake timeout, 5 s).
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
    # Routes of `vectron serve` the gateway does not serve: 501 naming them, before the body.
    st, body = cluster.call("GET", "/metrics")
    assert st == 501 and "gateway" in body["error"]["message"], body
    # The feedback routes are served (an unknown collection is a 404, as on serve).
    st, body = cluster.call("GET", "/v1/collections/x/feedback?point_id=a")
    assert st == 404 and "does not exist" in body["error"]["message"], body


def closed_without_reply(sock):
    """Reads until the peer closes `sock`; True if it sent nothing but (at most) a TLS alert."""
    got = b""
    try:
        while True:
            b = sock.recv(4096)
            if not b:
                break
            got += b
    except (ConnectionError, ssl.SSLError):
        pass
    return got == b"" or got[0] == 0x15


def check_cluster_tls(d, info, token):
    """Between the nodes of `cluster up`, mutual TLS under the cluster CA in DIR/cluster-tls."""
    tdir = d / "cluster-tls"
    assert tdir.stat().st_mode & 0o777 == 0o700
    for key in ("ca-key.pem", "pd-1-key.pem", "worker-1-key.pem", "gateway-1-key.pem"):
        assert (tdir / key).stat().st_mode & 0o777 == 0o600, key
    w = info["workers"][0]
    assert w["argv"][w["argv"].index("--cluster-cert") + 1] == str(tdir / "worker-1.pem"), w["argv"]
    whost, wport = w["addr"].split(":")
    # Plain TCP, even with the right secret's hello and a message after it: no reply, closed.
    hello = b"vectron-cluster-1 " + (d / "cluster.secret").read_bytes()
    s = socket.create_connection((whost, int(wport)), timeout=20)
    s.sendall(struct.pack("<I", len(hello)) + hello + struct.pack("<I", 5) + b"hello")
    assert closed_without_reply(s)
    s.close()
    # TLS that trusts the cluster CA but presents no certificate: the same.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(tdir / "ca.pem"))
    raw = socket.create_connection((whost, int(wport)), timeout=20)
    try:
        s = ctx.wrap_socket(raw, server_hostname="vectron-worker-1")
        s.sendall(struct.pack("<I", len(hello)) + hello)
        assert closed_without_reply(s)
    except (ConnectionError, ssl.SSLError):
        pass  # Refused during the handshake.
    finally:
        raw.close()
    # A node started by hand with a certificate from `cluster issue-cert` joins.
    r = subprocess.run([BIN, "cluster", "issue-cert", "--dir", str(d), "--node", "worker-3"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "--cluster-cert " + str(tdir / "worker-3.pem") in r.stdout, r.stdout + r.stderr
    assert (tdir / "worker-3-key.pem").stat().st_mode & 0o777 == 0o600
    r = subprocess.run([BIN, "cluster", "issue-cert", "--dir", str(d), "--node", "worker-3"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "exists" in r.stderr and "--force" in r.stderr, r.stderr
    r = subprocess.run([BIN, "cluster", "issue-cert", "--dir", str(d), "--node", "router-1"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "worker-<id>" in r.stderr, r.stderr
    pd_list = ",".join(f"{p['id']}={p['addr']}" for p in info["pd"])
    tls = ["--cluster-ca", str(tdir / "ca.pem"), "--cluster-cert", str(tdir / "worker-3.pem"),
           "--cluster-key", str(tdir / "worker-3-key.pem")]
    # Bad certificate flags stop the node at once, naming the problem.
    base = [BIN, "worker", "--id", "5", "--db", str(d / "worker5-hand"), "--listen", "127.0.0.1:0", "--pd", pd_list]
    r = subprocess.run([*base, *tls], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and 'is for "vectron-worker-3", not for this node ("vectron-worker-5")' in r.stderr, r.stderr
    r = subprocess.run([*base, *tls[:2]], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "missing --cluster-cert, --cluster-key" in r.stderr, r.stderr
    r = subprocess.run([*base, *tls, "--insecure"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--insecure contradicts" in r.stderr, r.stderr
    r = subprocess.run([*base[:3], "3", *base[4:], *tls[:3], str(tdir / "worker-1.pem"), *tls[4:]], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and "does not match" in r.stderr, r.stderr
    worker = Node(d, "worker3-hand", [BIN, "worker", "--id", "3", "--db", str(d / "worker3-hand"), "--listen",
                                      f"127.0.0.1:{free_ports(1)[0]}", "--pd", pd_list, *tls,
                                      "--secret-file", str(d / "cluster.secret")])
    try:
        deadline = time.time() + 60
        while True:
            st = subprocess.run([BIN, "cluster", "status", "--dir", str(d), "--token", token], capture_output=True,
                                text=True, timeout=60)
            if st.returncode == 0 and st.stdout.count("alive") == 3:
                break
            assert time.time() < deadline, st.stdout + st.stderr
            time.sleep(0.2)
    finally:
        worker.stop()


def test_cluster_up_starts_serves_and_stops(tmp_path):
    # Secure by default, as `vectron serve`: the gateway serves HTTPS with a generated
    # certificate, and the admin's generated password is printed once.
    d = tmp_path / "c"
    up = subprocess.Popen([BIN, "cluster", "up", "--dir", str(d), "--workers", "2"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=gateway_env(None))
    try:
        line = up.stdout.readline()
        assert line.startswith("cluster ready"), (line, up.stderr.read() if up.poll() is not None else "")
        note = up.stdout.readline()
        m = re.search(r'created admin user "admin" with generated password (\S+) \(shown only this once\)', note)
        assert m, note
        password = m.group(1)
        info = json.loads((d / "cluster.json").read_text())
        assert len(info["pd"]) == 3 and len(info["workers"]) == 2 and len(info["gateways"]) == 1
        pids = [n["pid"] for n in info["pd"] + info["workers"] + info["gateways"]]
        for pid in pids:
            os.kill(pid, 0)  # Alive.
        assert info["workers"][0]["argv"][1] == "worker"
        g = info["gateways"][0]
        assert g["url"].startswith("https://") and g["cert"], g
        host, port = g["http"].split(":")
        ctx = ssl.create_default_context(cafile=g["cert"])  # Trusts exactly the gateway's certificate.

        def call(method, path, body=None, token=None):
            conn = http.client.HTTPSConnection(host, int(port), timeout=60, context=ctx)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            r = conn.getresponse()
            data = r.read()
            conn.close()
            return r.status, json.loads(data) if data else None

        st, body = call("POST", "/v1/collections", {"name": "t", "dim": 2})
        assert st == 401, body
        st, body = call("POST", "/v1/auth/login", {"username": "admin", "password": password})
        assert st == 200, body
        login = body["token"]
        st, body = call("POST", "/v1/keys", {"name": "k", "scopes": ["read", "write", "admin"]}, login)
        assert st == 201, body
        token = body["token"]
        st, body = call("POST", "/v1/collections", {"name": "t", "dim": 2}, token)
        assert st == 201, body
        st, body = call("PUT", "/v1/collections/t/points", {"points": [{"id": "a", "vector": [1, 2]}]}, token)
        assert st == 200, body
        # Each gateway has an RPC port too, under the same certificate.
        assert PROBE, "VECTRON_RPC_PROBE is not set (meson sets it)"
        rhost, rport = g["rpc"].split(":")
        r = subprocess.run([PROBE, f"{rhost}:{rport}", "--token", token, "--ca", g["cert"], "count", "t"],
                           capture_output=True, text=True, timeout=60)
        assert (r.returncode, json.loads(r.stdout)) == (0, {"count": 1}), r.stdout + r.stderr
        # Plain HTTP is not served on the TLS port.
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            http_call(host, int(port), "GET", "/healthz", timeout=10)
        st = subprocess.run([BIN, "cluster", "status", "--dir", str(d)], capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "VECTRON_TOKEN"})
        assert st.returncode == 1 and "--token" in st.stderr, st.stdout + st.stderr
        st = subprocess.run([BIN, "cluster", "status", "--dir", str(d), "--token", token], capture_output=True, text=True,
                            timeout=60)
        assert st.returncode == 0 and st.stdout.count("alive") == 2 and "t shard 0" in st.stdout, st.stdout + st.stderr
        check_cluster_tls(d, info, token)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    assert up.returncode == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # A restart on the same directory keeps the cluster secret (nodes started by hand with
    # it stay members), the users and the data.
    secret = (d / "cluster.secret").read_text()
    ca = (d / "cluster-tls" / "ca.pem").read_text()
    assert len(secret) == 64 and (d / "cluster.secret").stat().st_mode & 0o777 == 0o600
    up = subprocess.Popen([BIN, "cluster", "up", "--dir", str(d), "--workers", "2"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=gateway_env(None))
    try:
        line = up.stdout.readline()
        assert line.startswith("cluster ready"), (line, up.stderr.read() if up.poll() is not None else "")
        assert (d / "cluster.secret").read_text() == secret
        assert (d / "cluster-tls" / "ca.pem").read_text() == ca  # And the cluster CA.
        info = json.loads((d / "cluster.json").read_text())
        g = info["gateways"][0]
        host, port = g["http"].split(":")
        ctx = ssl.create_default_context(cafile=g["cert"])
        st, body = call("POST", "/v1/auth/login", {"username": "admin", "password": password})
        assert st == 200, body
        st, body = call("POST", "/v1/collections/t/points/get", {"ids": ["a"]}, token)  # The key made above.
        assert st == 200 and [p["id"] for p in body["points"]] == ["a"], body
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    assert up.returncode == 0
    # A secret that is not one `cluster up` made (here: readable by others) is replaced.
    (d / "cluster.secret").chmod(0o644)
    up = subprocess.Popen([BIN, "cluster", "up", "--dir", str(d), "--workers", "2"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=gateway_env(None))
    try:
        line = up.stdout.readline()
        assert line.startswith("cluster ready"), (line, up.stderr.read() if up.poll() is not None else "")
        fresh = d / "cluster.secret"
        assert fresh.read_text() != secret and fresh.stat().st_mode & 0o777 == 0o600
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    assert up.returncode == 0
    r = subprocess.run([BIN, "cluster", "status", "--dir", str(tmp_path / "none")], capture_output=True, text=True)
    assert r.returncode == 1 and "cluster.json" in r.stderr
    r = subprocess.run([BIN, "cluster", "up", "--dir", str(tmp_path / "c2"), "--admin-password-file", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "--admin-password-file" in r.stderr and "cannot read it" in r.stderr, r.stderr


def exercise(call, login, key_call):
    """The same client calls, against `vectron serve` and against a gateway: `call(method,
    path, body, token)` answers (status, body); `key_call` is used with the keys made
    (on a second gateway). `login` is the admin's login token. Returns a read key's token."""
    st, body = call("GET", "/v1/collections", None, None)
    assert st == 401 and body["error"]["code"] == "unauthenticated", body
    st, body = call("PUT", "/v1/collections/docs/points", {"points": [{"id": "x", "vector": vec(1)}]}, None)
    assert st == 401, body
    # Login tokens manage accounts; the data API takes an SDK token (an API key's).
    st, body = call("POST", "/v1/collections", {"name": "docs", "dim": DIM, "shards": 2}, login)
    assert st == 403 and "SDK token" in body["error"]["message"], body
    st, body = call("POST", "/v1/keys", {"name": "admin-key", "scopes": ["read", "write", "admin"]}, login)
    assert st == 201, body
    token = body["token"]
    st, body = call("POST", "/v1/collections", {"name": "docs", "dim": DIM, "shards": 2}, token)
    assert st == 201, body
    pts = [{"id": f"p{i}", "vector": vec(i), "metadata": {"v": i}} for i in range(20)]
    st, body = call("PUT", "/v1/collections/docs/points", {"points": pts}, token)
    assert st == 200 and body["upserted"] == 20, body
    st, body = call("POST", "/v1/collections/docs/search", {"vector": vec(5), "k": 2, "exact": True}, token)
    assert st == 200 and body["hits"][0]["id"] == "p5", body
    st, body = call("POST", "/v1/collections/docs/count", {}, token)
    assert st == 200 and body["count"] == 20, body
    # A read key reads and may not write (403), on the second gateway too.
    st, body = call("POST", "/v1/keys", {"name": "reader", "scopes": ["read"]}, login)
    assert st == 201, body
    reader = body["token"]
    st, body = key_call("POST", "/v1/collections/docs/points/get", {"ids": ["p1", "zz"]}, reader)
    assert st == 200 and [p["id"] for p in body["points"]] == ["p1"] and body["not_found"] == ["zz"], body
    st, body = key_call("PUT", "/v1/collections/docs/points", {"points": [{"id": "y", "vector": vec(2)}]}, reader)
    assert st == 403 and body["error"]["code"] == "permission_denied", body
    st, body = key_call("DELETE", "/v1/collections/docs", None, reader)
    assert st == 403, body
    # Users with per-collection grants: bob may read docs only, and so may his keys.
    st, body = call("POST", "/v1/users", {"username": "bob", "password": "bob-password", "role": "user",
                                          "grants": {"docs": ["read"]}}, login)
    assert st == 201, body
    st, body = call("GET", "/v1/users", None, login)
    assert st == 200 and sorted(u["name"] for u in body["users"]) == ["admin", "bob"], body
    st, body = call("POST", "/v1/auth/login", {"username": "bob", "password": "bob-password"}, None)
    assert st == 200, body
    bob = body["token"]
    st, body = call("POST", "/v1/keys", {"name": "bob-rw", "scopes": ["read", "write"], "collections": ["docs"]}, bob)
    assert st == 403 and "grant" in body["error"]["message"], body
    st, body = call("POST", "/v1/keys", {"name": "bob-r", "scopes": ["read"], "collections": ["docs"]}, bob)
    assert st == 201, body
    st, body = key_call("POST", "/v1/collections/docs/count", {}, body["token"])
    assert st == 200 and body["count"] == 20, body
    st, body = call("GET", "/v1/users", None, bob)
    assert st == 403, body
    return reader


def test_gateway_auth_matches_serve_and_holds_across_gateways(tmp_path):
    # Against `vectron serve` with auth on (plain HTTP to compare with the plain-HTTP
    # gateways here; TLS is checked in the cluster up test).
    srv = Server(tmp_path, "--insecure-http", secure=True, env=gateway_env(), name="serve")
    try:
        st, body = http_call(srv.host, srv.port, "POST", "/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})
        assert st == 200, body

        def serve_call(method, path, body=None, token=None):
            return http_call(srv.host, srv.port, method, path, body, token)
        exercise(serve_call, body["token"], serve_call)
    finally:
        srv.stop()

    c = Cluster(tmp_path, gateways=2)
    try:
        c.wait_for("three live workers", lambda: (lambda r: r[0] == 200 and len(
            [w for w in r[1]["workers"] if w["alive"]]) == 3)(c.call("GET", "/v1/cluster")))

        def on_a(method, path, body=None, token=None):
            return c.call(method, path, body, token=token)

        def on_b(method, path, body=None, token=None):
            # B learns of a key made on A at its next map refresh (1 s): until then the key
            # "does not exist" there.
            def attempt():
                r = c.call(method, path, body, token=token, gateway=1)
                unknown = r[0] == 401 and "does not exist" in r[1]["error"]["message"]
                return None if unknown else r
            return c.wait_for("gateway B to know the key", attempt, timeout=30)
        # The same calls as against serve; the key made through gateway A is used on B.
        reader = exercise(on_a, c.login_token, on_b)
        # A key made through B works on A; revoked through A, it stops working on both.
        st, body = c.call("POST", "/v1/keys", {"name": "rw", "scopes": ["read", "write"]}, token=c.login_token, gateway=1)
        assert st == 201, body
        rw, rw_id = body["token"], body["key_id"]
        c.wait_for("A to know B's key", lambda: c.call("POST", "/v1/collections/docs/count", {}, token=rw)[0] == 200)
        st, body = c.call("PUT", "/v1/collections/docs/points", {"points": [{"id": "w", "vector": vec(3)}]}, token=rw)
        assert st == 200, body
        st, body = c.call("DELETE", f"/v1/keys/{rw_id}", token=c.login_token)
        assert st == 200, body
        st, body = c.call("POST", "/v1/collections/docs/count", {}, token=rw)
        assert st == 401 and "revoked" in body["error"]["message"], body  # At once on the gateway that revoked it.
        c.wait_for("B to refuse the revoked key", lambda: c.call(
            "POST", "/v1/collections/docs/count", {}, token=rw, gateway=1)[0] == 401)
        assert c.call("POST", "/v1/collections/docs/count", {}, token=reader, gateway=1)[0] == 200
        # The admin routes through either gateway: list collections, delete a user, drop.
        st, body = c.call("GET", "/v1/collections", gateway=1)
        assert st == 200 and [x["name"] for x in body["collections"]] == ["docs"], body
        st, body = c.call("DELETE", "/v1/users/bob", token=c.login_token, gateway=1)
        assert st == 200, body
        st, body = c.call("DELETE", "/v1/collections/docs")
        assert st == 200, body
    finally:
        c.stop()
