"""Cluster benchmark: a local cluster (`vectron cluster up`: 3 PD, 3 workers, 1 gateway,
replication 3) against `vectron serve` (plain HTTP, auth on: an API key) on the same machine, over the
same REST routes: upsert throughput, then search QPS, p50/p99 latency and recall@10 at one
ef. Prints a Markdown table with the ratios cluster / serve and the load average.

Two modes:
- random vectors (seeded, no dataset needed); recall against an exact search through the
  same server: VECTRON_BIN=build/tools/vectron /usr/bin/python3 scripts/bench_cluster.py
  [--points N] [--dim D] [--queries Q] [--clients C] [--ef EF]
- a real dataset (fvecs/ivecs, e.g. ../shared/datasets/glove-100-angular-200k), HNSW at a
  target recall: --dataset DIR [--points N] [--recall 0.95]. Recall is against the
  dataset's exact ground truth (computed with numpy when --points cuts the base). Before
  the timed searches, `vectron serve` picks ef: the smallest of --efs whose recall@10 over
  the queries reaches --recall; the cluster then runs at that same ef."""
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
TOKEN = {"value": ""}  # The current server's API key (both servers run with auth on).
ADMIN_PASSWORD = "bench-admin-password-1"


def call(addr, method, path, body, conn=None):
    host, port = addr.split(":")
    c = conn or http.client.HTTPConnection(host, int(port), timeout=120)
    headers = {"Content-Type": "application/json"}
    if TOKEN["value"]:
        headers["Authorization"] = "Bearer " + TOKEN["value"]
    c.request(method, path, body=json.dumps(body), headers=headers)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data)


def run_load(addr, args, vectors, queries, truth=None):
    """Loads `vectors` (ids 0..n-1) and runs `queries`. `truth`: the exact top-10 ids per
    query (None: measured with exact searches through the server). With args.recall set,
    ef is first chosen on this server (args.ef is then set to it)."""
    name = "bench"
    TOKEN["value"] = ""
    login = call(addr, "POST", "/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})["token"]
    TOKEN["value"] = login
    TOKEN["value"] = call(addr, "POST", "/v1/keys", {"name": "bench", "scopes": ["read", "write", "admin"]})["token"]
    call(addr, "POST", "/v1/collections", {"name": name, "dim": args.dim, "shards": args.shards, "metric": args.metric})
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

    if truth is None:
        exact = [[h["id"] for h in call(addr, "POST", f"/v1/collections/{name}/search",
                                        {"vector": q, "k": 10, "exact": True})["hits"]] for q in queries[:100]]
    else:
        exact = truth
    if args.recall and args.choose_ef:
        args.sweep = []
        for ef in args.efs:
            got = [[h["id"] for h in call(addr, "POST", f"/v1/collections/{name}/search",
                                          {"vector": q, "k": 10, "ef": ef})["hits"]] for q in queries[:len(exact)]]
            r = statistics.mean(len(set(got[i]) & set(exact[i])) / 10 for i in range(len(exact)))
            args.sweep.append((ef, r))
            args.ef = ef
            if r >= args.recall:
                break
        args.choose_ef = False
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


def read_vecs(path, dtype):
    import numpy as np
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(dtype)


def load_dataset(args):
    """Base (first --points rows), queries (first --queries) and the exact top-10 ids."""
    import numpy as np
    d = args.dataset
    base = read_vecs(os.path.join(d, "base.fvecs"), np.float32)
    queries = read_vecs(os.path.join(d, "query.fvecs"), np.float32)[: args.queries]
    args.metric = "cosine" if "angular" in os.path.basename(d.rstrip("/")) else "l2"
    if args.points <= 0 or args.points >= len(base):
        args.points = len(base)
        truth = read_vecs(os.path.join(d, "groundtruth.ivecs"), np.int32)[: len(queries), :10]
    else:
        base = base[: args.points]
        if args.metric == "cosine":
            b = base / np.linalg.norm(base, axis=1, keepdims=True)
            q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
            scores = -(q @ b.T)
        else:
            scores = (queries * queries).sum(1)[:, None] - 2 * queries @ base.T + (base * base).sum(1)[None, :]
        truth = np.argsort(scores, axis=1)[:, :10]
    args.dim = base.shape[1]
    truth = [[str(int(i)) for i in row] for row in truth]
    return base.tolist(), queries.tolist(), truth


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=0, help="random: 20000; dataset: all of its base")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--ef", type=int, default=64)
    ap.add_argument("--dataset", help="a folder with base.fvecs, query.fvecs, groundtruth.ivecs")
    ap.add_argument("--recall", type=float, default=0.95, help="with --dataset: the recall@10 ef is chosen for")
    ap.add_argument("--efs", default="32,48,64,96,128,192,256,384,512", help="with --dataset: the ef values tried")
    args = ap.parse_args()
    args.metric, args.choose_ef, args.sweep = "l2", False, []
    args.efs = [int(x) for x in args.efs.split(",")]
    truth = None
    if args.dataset:
        vectors, queries, truth = load_dataset(args)
    else:
        args.recall = 0
        args.points = args.points or 20000
        rng = random.Random(7)
        vectors = [[rng.uniform(-1, 1) for _ in range(args.dim)] for _ in range(args.points)]
        queries = [[rng.uniform(-1, 1) for _ in range(args.dim)] for _ in range(args.queries)]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        pw = os.path.join(tmp, "admin-password")
        with open(pw, "w") as f:
            f.write(ADMIN_PASSWORD)
        srv = subprocess.Popen([BIN, "serve", "--data", f"{tmp}/serve", "--http", "127.0.0.1:0", "--rpc", "",
                                "--admin-password-file", pw, "--insecure-http", "--no-request-log"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        addr = None
        for line in srv.stdout:
            m = re.search(r"http listening on https?://([\d.]+:\d+)", line)
            if m:
                addr = m.group(1)
            if "ready" in line:
                break
        try:
            args.choose_ef = bool(args.recall)
            out["serve"] = run_load(addr, args, vectors, queries, truth)
        finally:
            srv.send_signal(signal.SIGTERM)
            srv.wait()
        up = subprocess.Popen([BIN, "cluster", "up", "--dir", f"{tmp}/cluster", "--insecure-http",
                               "--admin-password-file", pw], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
        try:
            line = up.stdout.readline()
            m = re.search(r"http://([\d.]+:\d+)", line)
            out["cluster"] = run_load(m.group(1), args, vectors, queries, truth)
        finally:
            up.send_signal(signal.SIGINT)
            up.wait()
    load = os.getloadavg()
    what = f"{os.path.basename(args.dataset.rstrip('/'))}: " if args.dataset else "random vectors: "
    print(f"{what}{args.points} points of dim {args.dim}, metric {args.metric}, {args.shards} shards, "
          f"{args.clients} client threads, {len(queries)} searches (k=10, ef={args.ef}); load average {load[0]:.1f}")
    if args.sweep:
        print("ef chosen on serve (ef: recall@10): " + ", ".join(f"{e}: {r:.3f}" for e, r in args.sweep))
    print()
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
