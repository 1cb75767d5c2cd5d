"""A shard snapshot copy that resumes (docs/cluster.md, "Resuming an interrupted copy"), as
real processes on loopback: a replica moves onto a new worker after the group's log was
compacted, so the new worker must fetch a snapshot copy of the shard; it is killed with
SIGKILL after every chunk it makes durable, and restarted, until the copy is complete.
Each life continues where the last one stopped: the sender makes one copy and sends its
bytes about once, the shard on the new worker holds every point, and it loaded the graph
that came with the copy instead of rebuilding it. Run by meson with VECTRON_BIN set."""
import os
import random
import re
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cluster import Cluster  # noqa: E402

RESUME_DIM = 32
POINTS = 3000
CHUNK = 64 * 1024
# --compact-entries: small enough that the 300 write batches below compact the group's log
# (a shard flushes every 256 applied entries), so a replica joining later needs a snapshot.
# A progress record after every chunk, and 1 MiB/s (a 64 KiB chunk every 60 ms), so that the
# test sees each record before the next chunk arrives and kills the receiver right there.
WORKER_ARGS = ("--compact-entries", "100", "--snapshot-chunk-bytes", str(CHUNK), "--snapshot-progress-bytes", "0",
               "--snapshot-rate-mb", "1")


def resume_vec(i):
    r = random.Random(i)
    return [r.uniform(-1, 1) for _ in range(RESUME_DIM)]


def read_progress(path):
    """(offset, total) of a fetch's progress record (docs/formats/shard-snapshot.md), or
    None if there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    assert data[:8] == b"VXSNPRG1", data[:8]
    total, offset = struct.unpack_from("<QQ", data, 8 + 1 + 8 + 8 + 8 + 8)
    return offset, total


def test_a_snapshot_copy_killed_after_every_chunk_resumes_to_the_end(tmp_path):
    cluster = Cluster(tmp_path, cluster_tls=False, pd_args=("--dead-after", "3", "--no-rebalance"),
                      worker_args=WORKER_ARGS)
    try:
        cluster.wait_for("three live workers", lambda: (lambda r: r[0] == 200 and len(
            [w for w in r[1]["workers"] if w["alive"]]) == 3)(cluster.call("GET", "/v1/cluster")))
        cluster.wait_for("the collection", lambda: cluster.call(
            "POST", "/v1/collections", {"name": "rs", "dim": RESUME_DIM, "shards": 1, "replication": 3,
                                        "flat_max_points": 500})[0] in (201, 409))
        for j in range(0, POINTS, 10):
            pts = [{"id": f"r{i}", "vector": resume_vec(i), "metadata": {"v": i}} for i in range(j, j + 10)]
            st, body = cluster.call("PUT", "/v1/collections/rs/points", {"points": pts})
            assert st == 200, body

        def group():
            st, m = cluster.call("GET", "/v1/cluster")
            assert st == 200, m
            gs = [g for g in m["shards"] if g["collection"] == "rs"]
            return gs[0] if len(gs) == 1 and gs[0]["leader"] else None
        g = cluster.wait_for("the group's leader", group)
        gid, leader = g["id"], g["leader"]
        # A follower dies for good; PD replaces its replica on worker 4, which must fetch a
        # copy from the leader (the log no longer reaches back to the group's start).
        victim = next(w for w in (1, 2, 3) if w != leader)
        w4 = cluster.add_worker(4, *WORKER_ARGS)
        cluster.workers[victim - 1].kill9()
        progress = tmp_path / "w4" / "shards" / "groups" / str(gid) / "shard.staging.progress"
        w4_log = tmp_path / "w4.log"

        def complete():
            return "complete: index" in w4_log.read_text()
        lives, last, total = 1, 0, None
        deadline = time.monotonic() + 400
        while not complete():
            assert time.monotonic() < deadline, (lives, last, total)
            p = read_progress(progress)
            if p is None or p[0] <= last:
                time.sleep(0.01)  # Polling for the next chunk's record (the condition above).
                continue
            # A chunk more is durable: kill the receiver right there, and start it again.
            last, total = p
            w4.kill9()
            if complete():
                break  # (The last chunk and its install came first.)
            w4.log.close()
            w4.start()
            lives += 1
        assert total is not None, "the fetch was never seen in progress"
        chunks = -(-total // CHUNK)
        assert lives >= chunks // 2, (lives, chunks)

        def settled():
            st, m = cluster.call("GET", "/v1/cluster")
            gs = [x for x in m["shards"] if x["id"] == gid] if st == 200 else []
            return (len(gs) == 1 and 4 in gs[0]["replicas"] and victim not in gs[0]["replicas"] and
                    not gs[0]["learners"] and "move" not in gs[0] and gs[0])
        cluster.wait_for("worker 4 a voter of the group", settled, timeout=120)
        w4_text = w4_log.read_text()
        # Every life after the first resumed where the previous one stopped.
        resumes = re.findall(r"snapshot fetch of group %d from w%d: resuming fetch \d+ at byte (\d+) of (\d+)" %
                             (gid, leader), w4_text)
        starts = re.findall(r"snapshot fetch of group %d from w%d: fetch \d+ from byte 0" % (gid, leader), w4_text)
        assert len(starts) == 1, starts
        # The copy came with its place in the leader's log, and Raft took it there: the
        # snapshot installed is at the copy's index (past the log's snapshot the leader sent,
        # a few flushes back), so the leader did not send those entries again.
        done = re.findall(r"snapshot fetch of group %d from w%d complete: index (\d+), \d+ bytes, term (\d+)" %
                          (gid, leader), w4_text)
        assert len(done) == 1, done
        installed = re.findall(r"group %d: installed the snapshot at index (\d+) \(term (\d+)," % gid, w4_text)
        assert installed == [done[0]], (installed, done)
        assert len(resumes) >= lives - 2, (len(resumes), lives)
        assert all(int(t) == total for _, t in resumes)
        # The sender made one copy and sent each byte about once: every life lost at most
        # the chunk in flight when it was killed (a restart from byte 0 each time would send
        # lives × chunks / 2 chunks).
        sender_log = (tmp_path / f"w{leader}.log").read_text()
        made = re.findall(r"snapshot copy of group %d for w4 \(fetch \d+\) made" % gid, sender_log)
        assert len(made) == 1, made
        served = re.findall(r"snapshot copy of group %d for w4 \(fetch \d+\) served to its end: (\d+) bytes, "
                            r"(\d+) bytes sent in (\d+) reads" % gid, sender_log)
        assert len(served) == 1, served
        stream, sent = int(served[0][0]), int(served[0][1])
        assert stream == total
        assert sent < 2 * stream, (sent, stream)
        # The copy came with its graph: the shard loaded it, no index was built on worker 4
        # (the leader's log shows what a build looks like: its shard outgrew
        # flat_max_points and built its graph).
        assert "building HNSW index" in sender_log
        assert "building HNSW index" not in w4_text, [ln for ln in w4_text.splitlines() if "building" in ln]
        # The data: every point, with its vector and metadata, and searches find them.
        st, body = cluster.call("POST", "/v1/collections/rs/count", {})
        assert st == 200 and body["count"] == POINTS, body
        ids = [f"r{i}" for i in range(POINTS)]
        for j in range(0, POINTS, 500):
            st, body = cluster.call("POST", "/v1/collections/rs/points/get",
                                    {"ids": ids[j:j + 500], "include": ["metadata", "vector"]})
            assert st == 200 and body["not_found"] == [], body
            for p in body["points"]:
                i = int(p["id"][1:])
                assert p["metadata"] == {"v": i}
                assert all(abs(a - b) < 1e-6 for a, b in zip(p["vector"], resume_vec(i)))
        st, body = cluster.call("POST", "/v1/collections/rs/search", {"vector": resume_vec(7), "k": 5})
        assert st == 200 and body["hits"][0]["id"] == "r7", body
    finally:
        cluster.stop()
