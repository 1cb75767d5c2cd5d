"""The elastic cluster as real processes on loopback (docs/cluster.md, "Leader balancing",
"Replica moves", "Splits"): PD spreads group leaders, moves replicas onto a joining worker
and off a dead one, and splits a growing shard, all under a continuous write and search
load. Run by meson with VECTRON_BIN set."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cluster import DIM, Cluster, cluster, vec  # noqa: E402,F401  (cluster: the fixture)


def test_pd_spreads_group_leaders(cluster):
    """PD's leader balancing: whichever workers win the elections, the 6 groups of a
    collection end up led 2 per worker, and writes go on while leadership moves."""
    cluster.wait_for("three live workers", lambda: (lambda r: r[0] == 200 and len(
        [w for w in r[1]["workers"] if w["alive"]]) == 3)(cluster.call("GET", "/v1/cluster")))
    cluster.wait_for("the collection", lambda: cluster.call(
        "POST", "/v1/collections", {"name": "spread", "dim": DIM, "shards": 6, "replication": 3})[0] in (201, 409))
    written = 0

    def spread():
        nonlocal written
        pts = [{"id": f"s{i}", "vector": vec(i)} for i in range(written, written + 10)]
        st, body = cluster.call("PUT", "/v1/collections/spread/points", {"points": pts})
        assert st == 200, (st, body)  # The gateway retries across leader changes.
        written += 10
        st, m = cluster.call("GET", "/v1/cluster")
        leaders = [g["leader"] for g in m["shards"] if g["collection"] == "spread"]
        if st != 200 or len(leaders) != 6 or not all(leaders):
            return False
        counts = [leaders.count(w) for w in (1, 2, 3)]
        return counts == [2, 2, 2] and counts
    cluster.wait_for("two group leaders per worker", spread, timeout=90)
    st, body = cluster.call("POST", "/v1/collections/spread/count", {})
    assert st == 200 and body["count"] == written, body


def test_replicas_move_under_load_a_joining_worker_and_a_dead_one(tmp_path):
    """Replica moves under a continuous write and search load (docs/cluster.md, "Replica
    moves"): a fourth worker joins and PD rebalances replicas onto it (3 per worker); then
    a worker is killed with SIGKILL for good and, after --dead-after, PD replaces its
    replicas on the other three. No request fails (the gateway retries inside its
    deadline), every acknowledged write is there, and every search returns k hits."""
    import threading
    cluster = Cluster(tmp_path, pd_args=("--dead-after", "4"))
    try:
        cluster.wait_for("three live workers", lambda: (lambda r: r[0] == 200 and len(
            [w for w in r[1]["workers"] if w["alive"]]) == 3)(cluster.call("GET", "/v1/cluster")))
        cluster.wait_for("the collection", lambda: cluster.call(
            "POST", "/v1/collections", {"name": "mv", "dim": DIM, "shards": 4, "replication": 3})[0] in (201, 409))
        acked, failures, searches = {}, [], [0]
        stop = threading.Event()

        def load():
            i = 0
            while not stop.is_set():
                pts = [{"id": f"m{j}", "vector": vec(j), "metadata": {"v": j}} for j in range(i, i + 10)]
                st, body = cluster.call("PUT", "/v1/collections/mv/points", {"points": pts})
                if st == 200:
                    for p in pts:
                        acked[p["id"]] = p["metadata"]["v"]
                else:
                    failures.append(("write", st, body))
                i += 10
                st, body = cluster.call("POST", "/v1/collections/mv/search", {"vector": vec(i), "k": 5})
                if st != 200 or len(body["hits"]) != min(5, len(acked)):
                    failures.append(("search", st, body))
                searches[0] += 1
        for j in range(0, 200, 20):
            st, body = cluster.call("PUT", "/v1/collections/mv/points",
                                    {"points": [{"id": f"m{k}", "vector": vec(k), "metadata": {"v": k}}
                                                for k in range(j, j + 20)]})
            assert st == 200, body
        t = threading.Thread(target=load, daemon=True)
        t.start()

        def placement(alive, per_worker):
            st, m = cluster.call("GET", "/v1/cluster")
            if st != 200:
                return False
            groups = [g for g in m["shards"] if g["collection"] == "mv"]
            counts = {w: sum(w in g["replicas"] for g in groups) for w in alive}
            settled = all("move" not in g and not g["learners"] and len(g["replicas"]) == 3 and
                          set(g["replicas"]) <= set(alive) for g in groups)
            return settled and all(n == per_worker for n in counts.values()) and counts

        cluster.add_worker(4)
        cluster.wait_for("replicas rebalanced onto worker 4", lambda: placement([1, 2, 3, 4], 3), timeout=120)
        cluster.workers[0].kill9()  # Worker 1, for good.
        cluster.wait_for("worker 1's replicas repaired", lambda: placement([2, 3, 4], 4), timeout=120)
        stop.set()
        t.join(timeout=120)
        assert not failures, failures[:5]
        assert searches[0] > 0 and len(acked) > 200
        ids = sorted(acked)
        for j in range(0, len(ids), 500):
            st, body = cluster.call("POST", "/v1/collections/mv/points/get", {"ids": ids[j:j + 500], "include": ["metadata"]})
            assert st == 200 and body["not_found"] == [], body
            for p in body["points"]:
                assert p["metadata"] == {"v": acked[p["id"]]}
        st, body = cluster.call("POST", "/v1/collections/mv/count", {})
        assert st == 200 and body["count"] == len(acked), body
        # The groups' data left the workers they moved off (worker 1 is dead: its disk keeps
        # what it had, to be dropped if it ever comes back).
        st, m = cluster.call("GET", "/v1/cluster")
        for w in (2, 3, 4):
            hosted = {int(d) for d in os.listdir(tmp_path / f"w{w}" / "shards" / "groups")}
            assert hosted == {g["id"] for g in m["shards"] if w in g["replicas"]}, (w, hosted)
    finally:
        cluster.stop()


def test_shards_split_online_under_load(tmp_path):
    """Online splits (docs/cluster.md, "Splits"): with --split-points 300, a 1-shard
    collection written to continuously splits its group at the middle of its key range,
    again and again, while writes and searches go on. No request fails, every
    acknowledged write is readable, the count is exact, a search with a large k finds
    every point once, and the groups' ranges tile the key space."""
    cluster = Cluster(tmp_path, pd_args=("--split-points", "300"))
    try:
        cluster.wait_for("three live workers", lambda: (lambda r: r[0] == 200 and len(
            [w for w in r[1]["workers"] if w["alive"]]) == 3)(cluster.call("GET", "/v1/cluster")))
        cluster.wait_for("the collection", lambda: cluster.call(
            "POST", "/v1/collections", {"name": "sp", "dim": DIM, "shards": 1, "replication": 3})[0] in (201, 409))
        acked, failures = {}, []

        def groups():
            return routed_groups(cluster, "sp")
        i = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pts = [{"id": f"s{j}", "vector": vec(j), "metadata": {"v": j}} for j in range(i, i + 20)]
            st, body = cluster.call("PUT", "/v1/collections/sp/points", {"points": pts})
            if st == 200:
                for p in pts:
                    acked[p["id"]] = p["metadata"]["v"]
            else:
                failures.append(("write", st, body))
            i += 20
            st, body = cluster.call("POST", "/v1/collections/sp/search", {"vector": vec(i), "k": 5})
            if st != 200 or len(body["hits"]) != 5:
                failures.append(("search", st, body))
            if i >= 1500 and len(groups()) >= 4:
                break
        assert not failures, failures[:5]
        gs = sorted(groups(), key=lambda g: g["range_start"])
        assert len(gs) >= 4, gs
        # The ranges tile the key space: [0, ...) ... [..., end) with no gap or overlap.
        assert gs[0]["range_start"] == 0 and gs[-1]["range_end"] == 0, gs
        for a, b in zip(gs, gs[1:]):
            assert a["range_end"] == b["range_start"], (a, b)
        ids = sorted(acked)
        for j in range(0, len(ids), 500):
            st, body = cluster.call("POST", "/v1/collections/sp/points/get", {"ids": ids[j:j + 500], "include": ["metadata"]})
            assert st == 200 and body["not_found"] == [], body
            for p in body["points"]:
                assert p["metadata"] == {"v": acked[p["id"]]}
        st, body = cluster.call("POST", "/v1/collections/sp/count", {})
        assert st == 200 and body["count"] == len(acked), body
        # A search with a large k finds distinct acknowledged points, as many as asked.
        k = min(1000, len(acked))
        st, body = cluster.call("POST", "/v1/collections/sp/search", {"vector": vec(3), "k": k, "exact": True})
        assert st == 200, body
        hits = [h["id"] for h in body["hits"]]
        assert len(hits) == k and len(set(hits)) == k and set(hits) <= set(acked), len(hits)
    finally:
        cluster.stop()


def create_one_graph_shard(cluster, name):
    """Waits for the three workers, then creates collection `name`: one shard, replication
    3, a graph from 200 points on (the default is a flat index up to 10,000)."""
    cluster.wait_for("three live workers", lambda: (lambda r: r[0] == 200 and len(
        [w for w in r[1]["workers"] if w["alive"]]) == 3)(cluster.call("GET", "/v1/cluster")))
    cluster.wait_for("the collection", lambda: cluster.call(
        "POST", "/v1/collections", {"name": name, "dim": DIM, "metric": "l2", "shards": 1, "replication": 3,
                                    "flat_max_points": 200})[0] in (201, 409))


def routed_groups(cluster, collection):
    """The collection's groups in the map, without one being split off (not routed yet)."""
    st, m = cluster.call("GET", "/v1/cluster")
    assert st == 200, m
    return [g for g in m["shards"] if g["collection"] == collection and "split_from" not in g]


def split_one_graph_shard(cluster, name, prefix, n=1700):
    """create_one_graph_shard, then n points <prefix>0.. (PD splits at 1500) and the split:
    the ids of the two groups. (Where the split cuts depends on the ids' hashes.)"""
    create_one_graph_shard(cluster, name)
    for i in range(0, n, 100):
        pts = [{"id": f"{prefix}{j}", "vector": vec(j), "metadata": {"v": j}} for j in range(i, i + 100)]
        st, body = cluster.call("PUT", f"/v1/collections/{name}/points", {"points": pts})
        assert st == 200, body
    cluster.wait_for("the split", lambda: len(routed_groups(cluster, name)) == 2)
    return [g["id"] for g in routed_groups(cluster, name)]


def test_a_split_hands_its_graph_over_in_memory_and_the_new_group_saves_it(tmp_path):
    """A split's new group takes the parent's graph from memory (Shard::SplitCopyTo,
    docs/cluster.md "Splits"): no file is saved in the parent's apply nor loaded in the
    new group's open. Each replica of the new group then saves the graph in the
    background, so that a restart loads it rather than rebuilding it; its searches are
    exact meanwhile. (Graph compaction, which also saves, is off here.)"""
    cluster = Cluster(tmp_path, pd_args=("--split-points", "1500"), worker_args=("--compact-deleted-share", "0"))
    try:
        n = 1700
        ids = split_one_graph_shard(cluster, "hg", "h", n)
        new, parent = max(ids), min(ids)
        metas = [tmp_path / f"w{w}" / "shards" / "groups" / str(new) / "shard" / "index.meta" for w in (1, 2, 3)]
        cluster.wait_for("the new group's graph saved on every replica", lambda: all(m.exists() for m in metas))
        for w, m in zip((1, 2, 3), metas):
            # The handed-over token is taken by the open.
            assert not (m.parent / "graph.handoff").exists()
            # The parent saved nothing at the split: its own saved graph is the one from
            # when it became a graph (at 200 points), older than the copy's data. (Before,
            # the apply saved it and the new group's file was that save.)
            saved = json.loads((tmp_path / f"w{w}" / "shards" / "groups" / str(parent) / "shard" / "index.meta").read_text())
            assert saved["seq"] < json.loads(m.read_text())["seq"], (saved, m.read_text())
        for w in cluster.workers:
            assert "saving the graph of split group" not in open(w.log_path).read()
        st, body = cluster.call("POST", "/v1/collections/hg/count", {})
        assert st == 200 and body["count"] == n, body
        for j in range(0, n, 13):
            st, body = cluster.call("POST", "/v1/collections/hg/search", {"vector": vec(j), "k": 1})
            assert st == 200 and body["hits"][0]["id"] == f"h{j}", (j, body)
    finally:
        cluster.stop()


def write_and_search_until(cluster, name, prefix, n, done, timeout_s):
    """Overwrites points <prefix>j (new metadata, same vectors) one at a time and searches
    for each by its vector, until done() (asserted within timeout_s): a background task's
    load. Every write and search must succeed, and find its point."""
    round_ = 0
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, [open(w.log_path).read()[-2000:] for w in cluster.workers]
        round_ += 1
        j = (round_ * 37) % n
        st, body = cluster.call("PUT", f"/v1/collections/{name}/points",
                                {"points": [{"id": f"{prefix}{j}", "vector": vec(j), "metadata": {"v": j, "r": round_}}]})
        assert st == 200, body
        st, body = cluster.call("POST", f"/v1/collections/{name}/search", {"vector": vec(j), "k": 1})
        assert st == 200 and body["hits"][0]["id"] == f"{prefix}{j}", body


def test_a_split_hides_each_half_at_once_and_drops_it_in_the_background(tmp_path):
    """Neither half of a split deletes the points it gives away on the critical path
    (docs/cluster.md, "Splits"): the parent's apply and the new group's open hide them
    (Shard::ApplyRoute), and every replica of both groups then deletes them in batches in
    the background (Shard::DropHidden), while writes and searches go on and answers stay
    exact."""
    cluster = Cluster(tmp_path, pd_args=("--split-points", "1500"), worker_args=("--compact-deleted-share", "0"))
    try:
        n = 1700
        ids = split_one_graph_shard(cluster, "dh", "d", n)

        def dropped():
            logs = [open(w.log_path).read() for w in cluster.workers]
            return all(f"group {g} dropped the points its split hid" in text for g in ids for text in logs)
        write_and_search_until(cluster, "dh", "d", n, dropped, 60)
        for text in (open(w.log_path).read() for w in cluster.workers):
            assert "no longer owns failed" not in text, text[-2000:]
        st, body = cluster.call("POST", "/v1/collections/dh/count", {})
        assert st == 200 and body["count"] == n, body
        for j in range(0, n, 11):
            st, body = cluster.call("POST", "/v1/collections/dh/search", {"vector": vec(j), "k": 1, "exact": True})
            assert st == 200 and body["hits"][0]["id"] == f"d{j}", (j, body)
    finally:
        cluster.stop()


def test_rewritten_vectors_are_compacted_away_by_default(tmp_path):
    """A worker's default --compact-deleted-share (0.6, docs/cluster.md "Graph
    compaction"): a vector that changes takes a new slot and leaves its old one deleted
    (docs/durability.md, "Overwrites and the graph"), so a graph whose vectors are rewritten
    must be rebuilt without them, with no option given, or it grows with every rewrite."""
    cluster = Cluster(tmp_path)
    try:
        create_one_graph_shard(cluster, "rw")
        n = 600

        def moved(j, r):  # point j's vector after r rewrites
            return [float(j), float(j % 7), 1.0 + r, -float(j % 3)]

        # Written once, then rewritten twice with a new vector: 1,800 slots, 1,200 of them
        # deleted (2/3, over 0.6; after the first rewrite, 1/2, under it).
        for r in range(3):
            for i in range(0, n, 100):
                pts = [{"id": f"r{j}", "vector": moved(j, r), "metadata": {"r": r}} for j in range(i, i + 100)]
                st, body = cluster.call("PUT", "/v1/collections/rw/points", {"points": pts})
                assert st == 200, body
        st, m = cluster.call("GET", "/v1/cluster")
        assert st == 200, m
        (group,) = [g["id"] for g in m["shards"] if g["collection"] == "rw"]
        cluster.wait_for("every replica's compaction", lambda: all(
            f"compaction of group {group}'s graph done" in open(w.log_path).read() for w in cluster.workers))
        for text in (open(w.log_path).read() for w in cluster.workers):
            assert f"compaction of group {group}'s graph" in text and "stopped" not in text, text[-2000:]
        st, body = cluster.call("POST", "/v1/collections/rw/count", {})
        assert st == 200 and body["count"] == n, body
        # Each point is found by its last vector, with its last metadata, on whichever
        # replica answers.
        for j in range(0, n, 7):
            st, body = cluster.call("POST", "/v1/collections/rw/search",
                                    {"vector": moved(j, 2), "k": 1, "include": ["metadata"]})
            assert st == 200 and body["hits"][0]["id"] == f"r{j}", (j, body)
            assert body["hits"][0]["metadata"] == {"r": 2}, body
    finally:
        cluster.stop()


def test_a_split_groups_graph_is_compacted_in_the_background(tmp_path):
    """Graph compaction (docs/cluster.md, "Graph compaction"): a split leaves each half's
    graph with about half its slots deleted (marked, not rebuilt, on the critical path);
    every replica then rebuilds its own graph without them in the background, while
    writes and searches go on, and answers stay exact."""
    cluster = Cluster(tmp_path, pd_args=("--split-points", "1500"), worker_args=("--compact-deleted-share", "0.3"))
    try:
        n = 1700
        ids = split_one_graph_shard(cluster, "cp", "c", n)

        def compacted():
            logs = [open(w.log_path).read() for w in cluster.workers]
            return all(f"compaction of group {g}'s graph done" in text for g in ids for text in logs)
        # Writes and searches go on meanwhile (overwrites: new metadata, same vectors).
        write_and_search_until(cluster, "cp", "c", n, compacted, 120)
        for text in (open(w.log_path).read() for w in cluster.workers):
            assert "compaction" not in text or "stopped" not in text, text[-2000:]
            # By default the rebuilds run at idle CPU priority (docs/cluster.md).
            assert "slots deleted; idle CPU priority)" in text, text[-2000:]
        st, body = cluster.call("POST", "/v1/collections/cp/count", {})
        assert st == 200 and body["count"] == n, body
        # Every point is found by its own vector after the rebuild, on every replica the
        # searches are spread over.
        for j in range(0, n, 7):
            st, body = cluster.call("POST", "/v1/collections/cp/search", {"vector": vec(j), "k": 1})
            if st == 200 and body["hits"][0]["id"] != f"c{j}":
                # Tells a graph that lost the point from one that missed it: exact search
                # reads every stored point.
                exact = cluster.call("POST", "/v1/collections/cp/search", {"vector": vec(j), "k": 3, "exact": True})
                again = [cluster.call("POST", "/v1/collections/cp/search", {"vector": vec(j), "k": 3}) for _ in range(6)]
                raise AssertionError((j, body, exact, again))
            assert st == 200 and body["hits"][0]["id"] == f"c{j}", (j, body)
    finally:
        cluster.stop()
