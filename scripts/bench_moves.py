"""Replica move benchmark (docs/benchmarks.md, "Replica moves"): how long PD takes to move
one replica of a large shard onto another worker, and what the move does to search (and
write) latency meanwhile, next to the same loop at rest.

Setup (`vectron cluster up --workers 3 --dead-after S`, plain HTTP, auth on): a collection
with ONE shard (replication 3) gets --points points (the GloVe base from --dataset, default
../shared/datasets/glove-100-angular-200k; without it, seeded random vectors of --dim), in
batches of --batch from --clients threads. One client then searches in a loop (k=10, --ef)
and one writer upserts 10 new points every --write-every-ms (0: no writer), through:
1. "rest": --rest-s seconds;
2. --scenario rebalance (default): a second, empty one-shard collection exists, so a 4th
   worker (`vectron cluster add-worker`) makes the counts 2-2-2-0 and PD moves exactly one
   replica, worker 1's of the big shard ("join": until the move starts);
   --scenario repair: the 4th worker joined before "rest" (1-1-1-0: nothing moves); a
   worker hosting the group that is not its leader is killed with SIGKILL, for good, and
   after --dead-after PD repairs the group onto worker 4 ("dead": until the move starts);
3. "move": a learner on worker 4 receives the leader's shard copy (or its log), is
   promoted, the leaving voter is removed;
4. "after": --after-s more seconds.
--scenario split instead starts PD with `--split-points` equal to --points: the writer
overwrites existing points during "rest" (the count stays at the threshold), then 10 new
points take the group over it and PD splits it in two ("wait": until the new group appears
in the map; "split": until PD recorded the split done, the map routes to both halves and
both have a leader).

The move's time is from the first GET /v1/cluster (polled every 0.1 s) that shows the
group's "move" to the first that shows no move, no learner and worker 4 among the
replicas. Prints a Markdown table and the load average; --json FILE writes everything
(phases, every search, the group's map over the move, with --sample-procs each node's CPU).

  VECTRON_BIN=build/tools/vectron /usr/bin/python3 scripts/bench_moves.py [--points N]
  [--batch B] [--scenario repair|split] [--worker-arg=--snapshot-rate-mb=0 ...]"""
import argparse
import http.client
import json
import os
import random
import re
import signal
import subprocess
import tempfile
import threading
import time

BIN = os.environ.get("VECTRON_BIN", "build/tools/vectron")
ADMIN_PASSWORD = "bench-admin-password-1"
COLLECTION = "moves"


class Client:
    """One keep-alive connection to the gateway; call() raises on HTTP errors."""

    def __init__(self, addr, token):
        self.host, self.port = addr.split(":")
        self.token = token
        self.conn = None

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection(self.host, int(self.port), timeout=120)
            try:
                self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if fresh or attempt == 1:
                    raise
                # A kept-alive connection the gateway closed while idle: once more, anew.
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return json.loads(data) if data else None


def read_vecs(path, dtype):
    import numpy as np
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(dtype)


def load_vectors(args):
    """(base, queries, metric, what): lists of float lists."""
    if args.dataset and os.path.isdir(args.dataset):
        import numpy as np
        base = read_vecs(os.path.join(args.dataset, "base.fvecs"), np.float32)
        queries = read_vecs(os.path.join(args.dataset, "query.fvecs"), np.float32)
        if args.points <= 0 or args.points > len(base):
            args.points = len(base)
        args.dim = base.shape[1]
        metric = "cosine" if "angular" in os.path.basename(args.dataset.rstrip("/")) else "l2"
        # Writes during the run re-use base vectors (under new ids).
        return base[: args.points].tolist(), queries.tolist(), metric, os.path.basename(args.dataset.rstrip("/"))
    args.points = args.points or 200000
    rng = random.Random(7)
    base = [[rng.uniform(-1, 1) for _ in range(args.dim)] for _ in range(args.points)]
    queries = [[rng.uniform(-1, 1) for _ in range(args.dim)] for _ in range(1000)]
    return base, queries, "l2", "random vectors (seed 7)"


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def worst_window_p99(samples, lo, hi, window_s=5.0):
    """The highest p99 of the searches started in any whole `window_s` of [lo, hi) (a long
    phase's p99 can hide a bad stretch); over the whole phase if it is shorter."""
    worst, t = float("nan"), lo
    while True:
        end = t + window_s if hi - lo >= window_s else hi
        w = [x[1] for x in samples if t <= x[0] < end]
        if w:
            p = percentile(w, 0.99)
            worst = p if worst != worst else max(worst, p)
        t += window_s
        if t + window_s > hi:
            return worst


def groups_of(m):
    return [g for g in m["shards"] if g["collection"] == COLLECTION]


def group_of(m):
    gs = groups_of(m)
    assert len(gs) == 1, gs
    return gs[0]


def add_worker(c, d):
    """`vectron cluster add-worker`, then waits until the map has 4 live workers."""
    r = subprocess.run([BIN, "cluster", "add-worker", "--dir", d], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = c.call("GET", "/v1/cluster")
        if len([w for w in m["workers"] if w["alive"]]) == 4:
            return
        time.sleep(0.2)
    raise RuntimeError("worker 4 did not join")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="../shared/datasets/glove-100-angular-200k",
                    help="a folder with base.fvecs and query.fvecs (missing: random vectors)")
    ap.add_argument("--scenario", choices=("rebalance", "repair", "split"), default="rebalance",
                    help="rebalance: a 4th worker joins; repair: a 4th worker idles, a follower is killed; "
                         "split: the shard goes over --split-points")
    ap.add_argument("--points", type=int, default=0, help="points in the shard (default: the whole base, or 200000)")
    ap.add_argument("--dim", type=int, default=100, help="random vectors only")
    ap.add_argument("--batch", type=int, default=500, help="points per upsert while loading")
    ap.add_argument("--clients", type=int, default=4, help="upsert threads while loading")
    ap.add_argument("--ef", type=int, default=96)
    ap.add_argument("--rest-s", type=float, default=20)
    ap.add_argument("--after-s", type=float, default=10)
    ap.add_argument("--dead-after", type=float, default=5, help="PD's --dead-after, seconds")
    ap.add_argument("--write-every-ms", type=float, default=100, help="one upsert of 10 points this often (0: none)")
    ap.add_argument("--move-timeout-s", type=float, default=1200)
    ap.add_argument("--worker-arg", action="append", default=[],
                    help="an extra argument for every worker (e.g. --worker-arg=--snapshot-rate-mb=40)")
    ap.add_argument("--sample-procs", action="store_true",
                    help="record each node's CPU ticks and blocked/running threads every 0.2 s (into --json)")
    ap.add_argument("--dir", help="cluster directory (default: a temporary one, removed)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    base, queries, metric, what = load_vectors(args)

    with tempfile.TemporaryDirectory() as tmp:
        d = args.dir or os.path.join(tmp, "cluster")
        pw = os.path.join(tmp, "admin-password")
        with open(pw, "w") as f:
            f.write(ADMIN_PASSWORD)
        argv = [BIN, "cluster", "up", "--dir", d, "--insecure-http", "--admin-password-file", pw,
                "--workers", "3", "--dead-after", str(args.dead_after)]
        if args.scenario == "split":
            argv += ["--split-points", str(args.points)]
        for a in args.worker_arg:
            argv += ["--worker-arg", a]
        up = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = up.stdout.readline()
            m = re.search(r"http://([\d.]+:\d+)", line)
            assert m, f"cluster up: {line!r}"
            out = run(args, m.group(1), d, base, queries, metric)
        finally:
            up.send_signal(signal.SIGINT)
            up.wait()
    out["setup"] = {"data": what, "points": args.points, "dim": args.dim, "metric": metric, "batch": args.batch,
                    "ef": args.ef, "dead_after_s": args.dead_after, "write_every_ms": args.write_every_ms,
                    "worker_args": args.worker_arg}
    report(args, out, what)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


def run(args, addr, d, base, queries, metric):
    c = Client(addr, "")
    c.token = c.call("POST", "/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})["token"]
    token = c.call("POST", "/v1/keys", {"name": "bench", "scopes": ["read", "write", "admin"]})["token"]
    c.token = token
    c.call("POST", "/v1/collections", {"name": COLLECTION, "dim": args.dim, "shards": 1, "replication": 3,
                                       "metric": metric})
    batches = [(i, min(i + args.batch, args.points)) for i in range(0, args.points, args.batch)]
    lock = threading.Lock()

    def upserter():
        cl = Client(addr, token)
        while True:
            with lock:
                if not batches:
                    return
                lo, hi = batches.pop()
            cl.call("PUT", f"/v1/collections/{COLLECTION}/points",
                    {"points": [{"id": str(i), "vector": base[i]} for i in range(lo, hi)]})

    t0 = time.perf_counter()
    ts = [threading.Thread(target=upserter) for _ in range(args.clients)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    load_s = time.perf_counter() - t0
    print(f"loaded {args.points} points in {load_s:.0f} s", flush=True)

    if args.scenario == "split":
        pass  # Three workers, one group: nothing moves.
    elif args.scenario == "rebalance":
        # A second, empty one-shard collection: with 2 groups on 3 workers, a 4th worker
        # makes the counts 2-2-2-0 and PD moves one replica, of the lowest group id on the
        # most loaded worker of lowest id: worker 1's replica of this collection's group.
        c.call("POST", "/v1/collections", {"name": "filler", "dim": args.dim, "shards": 1, "replication": 3,
                                           "metric": metric})
    else:
        add_worker(c, d)
    time.sleep(2)  # Let the map changes settle.

    stop = threading.Event()
    t_base = time.monotonic()
    searches, writes, polls = [], [], []  # (start s, latency s, ok)

    def searcher():
        cl = Client(addr, token)
        i = 0
        while not stop.is_set():
            q = queries[i % len(queries)]
            i += 1
            s = time.monotonic()
            try:
                hits = cl.call("POST", f"/v1/collections/{COLLECTION}/search", {"vector": q, "k": 10, "ef": args.ef})
                ok = len(hits["hits"]) == 10
            except Exception:  # Counted, not fatal: the move should not make searches fail.
                ok = False
            searches.append((s - t_base, time.monotonic() - s, ok))

    def writer():
        cl = Client(addr, token)
        n = 0
        while not stop.is_set():
            s = time.monotonic()
            # The split scenario overwrites points (the count must stay at the threshold).
            pts = [{"id": str((n + j) % args.points) if args.scenario == "split" else f"w{n + j}",
                    "vector": base[(n + j) % len(base)]} for j in range(10)]
            n += 10
            try:
                cl.call("PUT", f"/v1/collections/{COLLECTION}/points", {"points": pts})
                ok = True
            except Exception:
                ok = False
            e = time.monotonic()
            writes.append((s - t_base, e - s, ok))
            stop.wait(max(0.0, args.write_every_ms / 1000 - (e - s)))

    def poller():
        cl = Client(addr, token)
        while not stop.is_set():
            s = time.monotonic()
            try:
                gs = groups_of(cl.call("GET", "/v1/cluster"))
                polls.append((s - t_base, gs if args.scenario == "split" else gs[0]))
            except Exception:
                pass
            stop.wait(0.1)

    procs = []  # (t, {node: (cpu ticks, threads in D state, threads running)}), with --sample-procs

    def sampler():
        while not stop.is_set():
            try:
                info = json.load(open(os.path.join(d, "cluster.json")))
            except (OSError, ValueError):
                info = {}
            nodes = {f"pd{n['id']}": n["pid"] for n in info.get("pd", [])}
            nodes.update({f"worker{n['id']}": n["pid"] for n in info.get("workers", [])})
            nodes.update({f"gateway{i + 1}": n["pid"] for i, n in enumerate(info.get("gateways", []))})
            row = {}
            for name, pid in nodes.items():
                try:
                    cpu, blocked, running = 0, 0, 0
                    for tid in os.listdir(f"/proc/{pid}/task"):
                        f = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
                        cpu += int(f[11]) + int(f[12])
                        blocked += f[0] == "D"
                        running += f[0] == "R"
                    row[name] = (cpu, blocked, running)
                except (OSError, ValueError, IndexError):
                    pass
            procs.append((time.monotonic() - t_base, row))
            stop.wait(0.2)

    threads = [threading.Thread(target=searcher), threading.Thread(target=poller)]
    if args.sample_procs:
        threads.append(threading.Thread(target=sampler))
    if args.write_every_ms > 0:
        threads.append(threading.Thread(target=writer))
    [t.start() for t in threads]
    try:
        time.sleep(args.rest_s)
        g = polls[-1][1]
        t_event = time.monotonic() - t_base
        if args.scenario == "split":
            c.call("PUT", f"/v1/collections/{COLLECTION}/points",
                   {"points": [{"id": f"over{j}", "vector": base[j]} for j in range(10)]})
            print(f"the shard went over --split-points at +{t_event:.1f} s", flush=True)
            return run_split(args, c, searches, writes, polls, procs, stop, threads, t_base, t_event, load_s)
        if args.scenario == "rebalance":
            add_worker(c, d)
            print(f"worker 4 joined at +{t_event:.1f} s", flush=True)
            leaving = None  # Learnt from the move's target.
        else:
            leaving = next(w for w in g["replicas"] if w != g["leader"])
            info = json.load(open(os.path.join(d, "cluster.json")))
            pid = next(w["pid"] for w in info["workers"] if w["id"] == leaving)
            os.kill(pid, signal.SIGKILL)
            print(f"killed worker {leaving} (not the leader, {g['leader']}) at +{t_event:.1f} s", flush=True)

        def moved(g):
            return "move" not in g and not g["learners"] and 4 in g["replicas"] and leaving not in g["replicas"]
        def started(t, g):
            nonlocal leaving
            if "move" not in g:
                return False
            leaving = next(w for w in g["replicas"] if w not in g["move"]["target"])
            print(f"move started at +{t:.1f} s: target {g['move']['target']}", flush=True)
            return True
        t_start, t_end = watch(args, polls, started, moved, "move")
        time.sleep(args.after_s)
    finally:
        stop.set()
        [t.join() for t in threads]
    t_stop = time.monotonic() - t_base
    # What worker 4 holds of the group: a shard.N generation means it installed a snapshot
    # copy (the leader's log was compacted past what it had); generation 0 alone, that it
    # replayed the log from the start (rebuilding the graph).
    gid = polls[-1][1]["id"]
    gdir = os.path.join(d, "worker4", "shards", "groups", str(gid))
    shard_bytes = 0
    for root, _, files in os.walk(gdir):
        shard_bytes += sum(os.path.getsize(os.path.join(root, f)) for f in files if os.path.isfile(os.path.join(root, f)))
    installed = sorted(e for e in os.listdir(gdir) if e.startswith("shard")) if os.path.isdir(gdir) else []
    m = c.call("GET", "/v1/cluster")
    others = [g for g in m["shards"] if g["collection"] != COLLECTION and 4 in g["replicas"]]

    second = "join" if args.scenario == "rebalance" else "dead"
    phases = [("rest", 0, t_event), (second, t_event, t_start), ("move", t_start, t_end), ("after", t_end, t_stop)]
    rows = phase_rows(searches, writes, phases)
    # The joining replica's progress (applied index against the leader's), as PD saw it.
    timeline = []
    for t, g in polls:
        if t_start is not None and t_start - 1 <= t <= t_end + 1:
            mv = g.get("move", {})
            timeline.append({"t": round(t - t_start, 2), "replicas": g["replicas"], "learners": g["learners"],
                             "leader": g["leader"], "applied": mv.get("applied", {})})
    return {"scenario": args.scenario, "load_s": load_s, "leaving": leaving, "event_s": t_event,
            "move_start_s": t_start, "move_end_s": t_end, "move_s": t_end - t_start, "wait_s": t_start - t_event,
            "moved_bytes": shard_bytes, "worker4_group_dir": installed, "other_groups_moved": len(others),
            "phases": rows, "timeline": timeline, "procs": procs, "loadavg": open("/proc/loadavg").read().split()[:3],
            "searches_raw": [(round(a, 3), round(b * 1000, 2), c) for a, b, c in searches]}


def watch(args, polls, started, ended, what):
    """Follows the map polls until started(t, entry) and then ended(entry) hold; returns
    the times of both (raises after --move-timeout-s)."""
    t_start = t_end = None
    deadline = time.monotonic() + args.move_timeout_s
    seen = 0
    while time.monotonic() < deadline and t_end is None:
        time.sleep(0.1)
        for t, g in polls[seen:]:
            if t_start is None and started(t, g):
                t_start = t
            if t_start is not None and t_end is None and ended(g):
                t_end = t
        seen = len(polls)
    if t_end is None:
        raise RuntimeError(f"the {what} did not end in {args.move_timeout_s} s; last: {polls[-1]}")
    print(f"{what} ended at +{t_end:.1f} s ({t_end - t_start:.1f} s)", flush=True)
    return t_start, t_end


def phase_rows(searches, writes, phases):
    rows = {}
    for name, lo, hi in phases:
        s = [x for x in searches if lo <= x[0] < hi]
        w = [x for x in writes if lo <= x[0] < hi]
        rows[name] = {"seconds": hi - lo, "searches": len(s), "search_errors": sum(1 for x in s if not x[2]),
                      "search_p50_ms": percentile([x[1] for x in s], 0.5) * 1000,
                      "search_p99_ms": percentile([x[1] for x in s], 0.99) * 1000,
                      "search_max_ms": max((x[1] for x in s), default=float("nan")) * 1000,
                      "search_p99_worst_5s_ms": worst_window_p99(s, lo, hi) * 1000,
                      "writes": len(w), "write_errors": sum(1 for x in w if not x[2]),
                      "write_p50_ms": percentile([x[1] for x in w], 0.5) * 1000,
                      "write_p99_ms": percentile([x[1] for x in w], 0.99) * 1000}
    return rows


def run_split(args, c, searches, writes, polls, procs, stop, threads, t_base, t_event, load_s):
    """The split scenario from the event on: waits for the new group, then for the split to
    be recorded done (two routed groups, no split_from, both led), then --after-s."""
    def started(t, gs):
        if len(gs) < 2:
            return False
        print(f"split started at +{t:.1f} s: groups {[g['id'] for g in gs]}", flush=True)
        return True

    def done(gs):
        return len(gs) == 2 and all("split_from" not in g and g["leader"] for g in gs)
    try:
        t_start, t_end = watch(args, polls, started, done, "split")
        time.sleep(args.after_s)
    finally:
        stop.set()
        [t.join() for t in threads]
    t_stop = time.monotonic() - t_base
    count = c.call("POST", f"/v1/collections/{COLLECTION}/count", {})["count"]
    assert count == args.points + 10, (count, args.points + 10)
    gs = polls[-1][1]
    phases = [("rest", 0, t_event), ("wait", t_event, t_start), ("split", t_start, t_end), ("after", t_end, t_stop)]
    return {"scenario": "split", "load_s": load_s, "event_s": t_event, "move_start_s": t_start,
            "move_end_s": t_end, "move_s": t_end - t_start, "wait_s": t_start - t_event, "count": count,
            "groups": [{"id": g["id"], "range_start": g["range_start"], "range_end": g["range_end"]} for g in gs],
            "phases": phase_rows(searches, writes, phases), "procs": procs,
            "loadavg": open("/proc/loadavg").read().split()[:3],
            "searches_raw": [(round(a, 3), round(b * 1000, 2), ok) for a, b, ok in searches]}


def report(args, out, what):
    load = out["loadavg"]
    print()
    print(f"{what}: {args.points} points of dim {args.dim} in 1 shard (replication 3), loaded in "
          f"{out['load_s']:.0f} s in batches of {args.batch}; 1 search client (k=10, ef={args.ef})"
          + (f", 1 writer (10 points every {args.write_every_ms:.0f} ms)" if args.write_every_ms > 0 else "")
          + f"; --dead-after {args.dead_after:g}; load average {' '.join(load)}"
          + (f"; workers: {' '.join(args.worker_arg)}" if args.worker_arg else ""))
    if out["scenario"] == "split":
        print(f"the group went over --split-points {args.points}; PD started the split {out['wait_s']:.1f} s later; "
              f"the split took **{out['move_s']:.1f} s** (to both halves routed and led); count after: {out['count']}")
        how = None
    else:
        installed = any(e.startswith("shard.") and e[6:].isdigit() for e in out["worker4_group_dir"])
        how = "installed a snapshot copy" if installed else "replayed the log (no snapshot)"
    if out["scenario"] == "split":
        pass
    elif out["scenario"] == "rebalance":
        what_happened = f"worker 4 joined; PD proposed moving worker {out['leaving']}'s replica to it {out['wait_s']:.1f} s later"
    else:
        what_happened = f"worker {out['leaving']} killed; PD proposed the repair {out['wait_s']:.1f} s later"
    if how:
        print(f"{what_happened}; the move took **{out['move_s']:.1f} s**; worker 4 {how}: "
              f"{out['moved_bytes'] / 2**20:.0f} MiB on disk after it")
    print()
    rest = out["phases"]["rest"]
    print("| phase | s | searches | p50 ms | p99 ms | p99 / rest | worst 5 s p99 ms | max ms | errors | writes | "
          "write p50 ms | write p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in out["phases"]:
        r = out["phases"][name]
        print(f"| {name} | {r['seconds']:.1f} | {r['searches']} | {r['search_p50_ms']:.1f} | {r['search_p99_ms']:.1f} | "
              f"{r['search_p99_ms'] / rest['search_p99_ms']:.2f} | {r['search_p99_worst_5s_ms']:.0f} | {r['search_max_ms']:.0f} | "
              f"{r['search_errors'] + r['write_errors']} | {r['writes']} | {r['write_p50_ms']:.1f} | {r['write_p99_ms']:.1f} |")


if __name__ == "__main__":
    main()
