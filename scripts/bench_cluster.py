"""Cluster benchmark: a local cluster (`vectron cluster up`: 3 PD, 3 workers, 1 gateway,
replication 3) against `vectron serve` (no auth, plain HTTP) on the same machine, over the
same REST routes: upsert throughput, then search QPS, p50/p99 latency and recall@10
(against an exact search through the same server) at one ef. Random vectors (seeded), so no
dataset is needed. Prints a Markdown table with the ratios cluster / serve and the load
average. Usage: VECTRON_BIN=build/tools/vectron /usr/bin/python3 scripts/bench_cluster.py
[--points N] [--dim D] [--queries Q] [--clients C] [--ef EF]"""
import argparse
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import tempfile
import threading
import time

BIN = os.environ.get("VECTRON_BIN", "build/tools/vectron")


def call(addr, method, path, body, conn=None):
    host, port = addr.split(":")
    c = conn or http.client.HTTPConnection(host, int(port), timeout=120)
    c.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data)


def run_load(addr, args, vectors, queries):
    name = "bench"
    call(addr, "POST", "/v1/collections", {"name": name, "dim": args.dim, "shards": args.shards, "metric": "l2"})
    batches = [list(range(i, min(i + args.batch, args.points))) for i in range(0, args.points, args.batch)]
    lock = threading.Lock()

    def upserter():
        host, port = addr.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        while True:
            with lock:
                if not batches:
                    return
                b = batches.pop()
            call(addr, "PUT", f"/v1/collections/{name}/points",
                 {"points": [{"id": str(i), "vector": vectors[i]} for i in b]}, conn)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=upserter) for _ in range(args.clients)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    upsert_s = time.perf_counter() - t0

    exact = [[h["id"] for h in call(addr, "POST", f"/v1/collections/{name}/search",
                                    {"vector": q, "k": 10, "exact": True})["hits"]] for q in queries[:100]]
    lat, results = [], {}
    qi = list(range(len(queries)))

    def searcher():
        host, port = addr.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        while True:
            with lock:
                if not qi:
                    return
                i = qi.pop()
            s = time.perf_counter()
            hits = call(addr, "POST", f"/v1/collections/{name}/search", {"vector": queries[i], "k": 10, "ef": args.ef}, conn)
            d = time.perf_counter() - s
            with lock:
                lat.append(d)
                results[i] = [h["id"] for h in hits["hits"]]

    t0 = time.perf_counter()
    ts = [threading.Thread(target=searcher) for _ in range(args.clients)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    search_s = time.perf_counter() - t0
    recall = statistics.mean(len(set(results[i]) & set(exact[i])) / 10 for i in range(len(exact)))
    lat.sort()
    return {"upserts_per_s": args.points / upsert_s, "qps": len(queries) / search_s,
            "p50_ms": lat[len(lat) // 2] * 1000, "p99_ms": lat[int(len(lat) * 0.99)] * 1000, "recall": recall}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--ef", type=int, default=64)
    args = ap.parse_args()
    rng = random.Random(7)
    vectors = [[rng.uniform(-1, 1) for _ in range(args.dim)] for _ in range(args.points)]
    queries = [[rng.uniform(-1, 1) for _ in range(args.dim)] for _ in range(args.queries)]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        srv = subprocess.Popen([BIN, "serve", "--data", f"{tmp}/serve", "--http", "127.0.0.1:0", "--rpc", "",
                                "--no-auth", "--insecure-http", "--no-request-log"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        addr = None
        for line in srv.stdout:
            m = re.search(r"http listening on https?://([\d.]+:\d+)", line)
            if m:
                addr = m.group(1)
            if "ready" in line:
                break
        try:
            out["serve"] = run_load(addr, args, vectors, queries)
        finally:
            srv.send_signal(signal.SIGTERM)
            srv.wait()
        up = subprocess.Popen([BIN, "cluster", "up", "--dir", f"{tmp}/cluster"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
        try:
            line = up.stdout.readline()
            m = re.search(r"http://([\d.]+:\d+)", line)
            out["cluster"] = run_load(m.group(1), args, vectors, queries)
        finally:
            up.send_signal(signal.SIGINT)
            up.wait()
    load = os.getloadavg()
    print(f"{args.points} points of dim {args.dim}, {args.shards} shards, {args.clients} client threads, "
          f"{args.queries} searches (k=10, ef={args.ef}); load average {load[0]:.1f}\n")
    print("| | upserts/s | search QPS | p50 ms | p99 ms | recall@10 |")
    print("|---|---|---|---|---|---|")
    for k in ("serve", "cluster"):
        r = out[k]
        print(f"| {k} | {r['upserts_per_s']:.0f} | {r['qps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['recall']:.3f} |")
    s, c = out["serve"], out["cluster"]
    print(f"| cluster / serve | {c['upserts_per_s'] / s['upserts_per_s']:.2f} | {c['qps'] / s['qps']:.2f} | "
          f"{c['p50_ms'] / s['p50_ms']:.2f} | {c['p99_ms'] / s['p99_ms']:.2f} | |")


if __name__ == "__main__":
    main()
