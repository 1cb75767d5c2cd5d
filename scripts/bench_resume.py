"""Resumed shard copy benchmark (docs/benchmarks.md, "Replica moves", "A large shard's copy
killed at every chunk"): a replica of a large one-shard collection is replaced on a new
worker after the group's log was compacted, so the new worker fetches a snapshot copy from
the leader; the receiving worker is killed with SIGKILL after every --kill-every chunks it
made durable, and restarted, until the copy is complete (docs/cluster.md, "Resuming an
interrupted copy").

Setup: 3 PDs, 3 workers, a gateway (processes on loopback, plain HTTP, no cluster TLS; the
classes of tests/net/test_cluster.py). A collection with ONE shard (replication 3, HNSW
from 10,000 points) gets --points seeded random vectors of --dim in batches of --batch from
--clients threads. Then a follower is killed for good; PD (--dead-after 3) replaces it on
worker 4, started with --snapshot-chunk-bytes --chunk-bytes and --snapshot-progress-bytes 0
(a progress record after every chunk).

Reports: load time; the copy's stream size; the bytes the sender sent for it (its log) and
their ratio to the size; receiver lives; the move's time (worker 4 started to worker 4 a
voter); the peak RSS (VmHWM) of each receiver life, and of the sender before and after;
whether worker 4 built an index (it should load the copy's graph). --json FILE writes it.

  VECTRON_BIN=build/tools/vectron /usr/bin/python3 scripts/bench_resume.py --points 200000"""
import argparse
import json
import os
import random
import re
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "net"))
import test_cluster  # noqa: E402
from test_cluster import ADMIN_PASSWORD, Node, free_ports, gateway_env, http_call  # noqa: E402


def proc_kib(pid, field="VmHWM"):
    """A /proc/PID/status figure in KiB (VmHWM: peak RSS; RssAnon: heap and stacks now,
    without the file pages of LMDB's memory map)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def vm_hwm_kib(pid):
    return proc_kib(pid, "VmHWM")


def read_progress(path):
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    total, offset = struct.unpack_from("<QQ", data, 8 + 1 + 8 + 8 + 8 + 8)
    return offset, total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--ef-construction", type=int, default=None,
                    help="the collection's HNSW ef_construction (default: the engine's); it sets the build's "
                         "time, not the graph's size")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--chunk-bytes", type=int, default=1 << 20)
    ap.add_argument("--kill-every", type=int, default=1, help="kill the receiver after every this many chunks")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    test_cluster.BIN = os.environ.get("VECTRON_BIN", "build/tools/vectron")
    BIN = test_cluster.BIN
    tmp = Path(args.dir or tempfile.mkdtemp(prefix="bench-resume-"))
    tmp.mkdir(parents=True, exist_ok=True)
    map_size = str(max(1 << 30, args.points * args.dim * 4 * 4))
    worker_args = ["--compact-entries", "100", "--snapshot-chunk-bytes", str(args.chunk_bytes),
                   "--snapshot-progress-bytes", "0", "--snapshot-rate-mb", "0", "--map-size-bytes", map_size]
    ports = free_ports(7)
    pd_list = ",".join(f"{i + 1}=127.0.0.1:{ports[i]}" for i in range(3))
    (tmp / "secret").write_text("0123456789abcdef-bench-secret\n")
    sec = ["--secret-file", str(tmp / "secret")]
    nodes = []
    try:
        for i in range(3):
            nodes.append(Node(tmp, f"pd{i + 1}", [BIN, "pd", "--id", str(i + 1), "--db", str(tmp / f"pd{i + 1}"),
                                                  "--listen", f"127.0.0.1:{ports[i]}", "--peers", pd_list, *sec,
                                                  "--dead-after", "3", "--no-rebalance"]))
        workers = {}
        for i in range(3):
            workers[i + 1] = Node(tmp, f"w{i + 1}", [BIN, "worker", "--id", str(i + 1), "--db", str(tmp / f"w{i + 1}"),
                                                     "--listen", f"127.0.0.1:{ports[3 + i]}", "--pd", pd_list, *sec,
                                                     *worker_args])
            nodes.append(workers[i + 1])
        gw = Node(tmp, "gw1", [BIN, "gateway", "--id", "1", "--db", str(tmp / "gw1"), "--pd", pd_list,
                               "--http", "127.0.0.1:0", "--insecure-http", *sec], env=gateway_env())
        nodes.append(gw)

        def wait_for(what, fn, timeout=120):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                r = fn()
                if r:
                    return r
                time.sleep(0.1)
            raise SystemExit(f"timed out waiting for {what}")
        wait_for("gateway", lambda: http_call(gw.host, gw.port, "GET", "/readyz")[0] == 200)
        st, body = http_call(gw.host, gw.port, "POST", "/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})
        assert st == 200, body
        st, body = http_call(gw.host, gw.port, "POST", "/v1/keys", {"name": "b", "scopes": ["read", "write", "admin"]},
                             body["token"])
        token = body["token"]

        def call(method, path, body=None):
            return http_call(gw.host, gw.port, method, path, body, token, timeout=600)
        wait_for("three live workers", lambda: (lambda r: r[0] == 200 and len(
            [w for w in r[1]["workers"] if w["alive"]]) == 3)(call("GET", "/v1/cluster")))
        spec = {"name": "big", "dim": args.dim, "shards": 1, "replication": 3}
        if args.ef_construction is not None:
            spec["ef_construction"] = args.ef_construction
        wait_for("the collection", lambda: call("POST", "/v1/collections", spec)[0] in (201, 409))
        t0 = time.monotonic()
        batches = list(range(0, args.points, args.batch))
        lock = threading.Lock()

        def loader(k):
            rng = random.Random(k)
            while True:
                with lock:
                    if not batches:
                        return
                    j = batches.pop(0)
                pts = [{"id": f"p{i}", "vector": [rng.uniform(-1, 1) for _ in range(args.dim)]}
                       for i in range(j, min(j + args.batch, args.points))]
                for _ in range(10):  # A write that timed out (a starved machine) is retried: upserts.
                    st, body = call("PUT", "/v1/collections/big/points", {"points": pts})
                    if st != 503:
                        break
                assert st == 200, body
        ts = [threading.Thread(target=loader, args=(k,)) for k in range(args.clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        load_s = time.monotonic() - t0
        print(f"loaded {args.points} x {args.dim} in {load_s:.0f} s", flush=True)
        st, m = call("GET", "/v1/cluster")
        g = [x for x in m["shards"] if x["collection"] == "big"][0]
        gid, leader = g["id"], g["leader"]
        sender = workers[leader]
        sender_hwm_before = vm_hwm_kib(sender.proc.pid)
        victim = next(w for w in (1, 2, 3) if w != leader)
        t1 = time.monotonic()
        w4 = Node(tmp, "w4", [BIN, "worker", "--id", "4", "--db", str(tmp / "w4"), "--listen",
                              f"127.0.0.1:{ports[6]}", "--pd", pd_list, *sec, *worker_args])
        nodes.append(w4)
        workers[victim].kill9()
        progress = tmp / "w4" / "shards" / "groups" / str(gid) / "shard.staging.progress"
        w4_log = tmp / "w4.log"

        def complete():
            return "complete: index" in w4_log.read_text()
        lives, last, total, hwms = 1, 0, None, []
        sender_anon_max = receiver_anon_max = 0
        while not complete():
            sender_anon_max = max(sender_anon_max, proc_kib(sender.proc.pid, "RssAnon"))
            receiver_anon_max = max(receiver_anon_max, proc_kib(w4.proc.pid, "RssAnon"))
            p = read_progress(progress)
            if p is None or p[0] < last + args.kill_every * args.chunk_bytes:
                if p is not None and total is None:
                    total = p[1]
                time.sleep(0.005)
                continue
            last, total = p
            hwms.append(vm_hwm_kib(w4.proc.pid))
            w4.kill9()
            if complete():
                break
            w4.log.close()
            w4.start()
            lives += 1
        hwms.append(vm_hwm_kib(w4.proc.pid))
        fetch_s = time.monotonic() - t1

        def settled():
            st, m = call("GET", "/v1/cluster")
            gs = [x for x in m["shards"] if x["id"] == gid] if st == 200 else []
            return (len(gs) == 1 and 4 in gs[0]["replicas"] and not gs[0]["learners"] and "move" not in gs[0])
        wait_for("worker 4 a voter", settled, timeout=1800)
        move_s = time.monotonic() - t1
        hwms.append(vm_hwm_kib(w4.proc.pid))
        sender_hwm_after = vm_hwm_kib(sender.proc.pid)
        st, body = call("POST", "/v1/collections/big/count", {})
        sender_log = (tmp / f"w{leader}.log").read_text()
        served = re.findall(r"snapshot copy of group %d for w4 \(fetch \d+\) served to its end: (\d+) bytes, "
                            r"(\d+) bytes sent in (\d+) reads" % gid, sender_log)
        made = re.findall(r"snapshot copy of group %d for w4 \(fetch \d+\) made" % gid, sender_log)
        w4_text = w4_log.read_text()
        out = {
            "points": args.points, "dim": args.dim, "load_s": round(load_s, 1), "count_after": body.get("count"),
            "chunk_bytes": args.chunk_bytes, "kill_every_chunks": args.kill_every, "receiver_lives": lives,
            "stream_bytes": total, "copies_made": len(made),
            "bytes_sent": int(served[0][1]) if served else None,
            "reads": int(served[0][2]) if served else None,
            "fetch_s": round(fetch_s, 1), "move_s": round(move_s, 1),
            # Lives killed during the transfer; the last life also installs and opens the
            # shard (its graph in memory).
            "receiver_vmhwm_kib_max_killed": max(hwms[:-2]) if len(hwms) > 2 else None,
            "receiver_vmhwm_kib_last_life": hwms[-1],
            "receiver_rssanon_kib_max_sampled": receiver_anon_max,
            "sender_rssanon_kib_max_sampled": sender_anon_max,
            "sender_vmhwm_kib_before": sender_hwm_before, "sender_vmhwm_kib_after": sender_hwm_after,
            "receiver_built_index": "building HNSW index" in w4_text,
            "resumes_logged": len(re.findall(r"resuming fetch", w4_text)),
        }
        if out["bytes_sent"] and total:
            out["sent_over_stream"] = round(out["bytes_sent"] / total, 3)
        print(json.dumps(out, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))
    finally:
        for n in nodes:
            try:
                n.stop()
            except Exception as e:  # noqa: BLE001  (best effort at exit)
                print("stopping", n.name, e)


if __name__ == "__main__":
    main()
