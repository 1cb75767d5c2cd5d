// WorkerNode's heartbeats to PD, driven by a manual clock (the rest of the worker is
// covered by the whole-cluster simulator and the real-process tests).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <variant>
#include <vector>

#include "lib/util/files.h"
#include "net/cluster/worker_node.h"
#include "tests/net/temp_dir.h"
#include "tests/sim/sim_log_store.h"

namespace vectron::net::cluster {
namespace {

using net::testing::ScopedTempDir;

// Keeps the heartbeats and read answers a worker sends.
class HeartbeatLog final : public Transport {
 public:
  void Send(const NodeId&, Envelope msg) override {
    if (auto* hb = std::get_if<PdHeartbeat>(&msg)) sent.push_back(*hb);
    if (auto* r = std::get_if<ShardReadResponse>(&msg)) reads.push_back(std::move(*r));
  }
  std::vector<PdHeartbeat> sent;
  std::vector<ShardReadResponse> reads;
};

// Runs every task at once but reads' (queue ids with the top bit, WorkerNode's read
// queues), which it holds until RunHeld.
class ReadHoldingExecutor final : public Executor {
 public:
  void Post(uint64_t queue, std::function<void()> task) override {
    if (queue >> 63) held.push_back(std::move(task));
    else task();
  }
  void RunHeld() {
    std::vector<std::function<void()>> now;
    now.swap(held);
    for (auto& t : now) t();
  }
  std::vector<std::function<void()>> held;
};

struct OneWorker {
  ScopedTempDir tmp{"worker-node"};
  ManualClock clock{1'000'000};
  HeartbeatLog transport;
  sim::SimLogStore store;
  ReadHoldingExecutor executor;
  std::unique_ptr<WorkerNode> worker;
  explicit OneWorker(bool inline_reads = true) {
    WorkerNodeOptions o;
    o.id = 1;
    o.data_dir = tmp.path;
    o.pd_members = {100};
    o.heartbeat_ms = 500;
    o.inline_reads = inline_reads;
    worker = std::make_unique<WorkerNode>(o, clock, transport, store, executor);
    REQUIRE(worker->Start().ok());
  }
  // Answers the last heartbeat (with `again_ms`, placing `groups` here), then runs the
  // worker each millisecond until it sends the next one; returns how many ms that took.
  uint64_t Answer(uint32_t again_ms, const std::vector<GroupAssignment>& groups = {}) {
    REQUIRE(!transport.sent.empty());
    PdHeartbeatResponse r;
    r.rpc_id = transport.sent.back().rpc_id;
    r.pd_leader = 100;
    r.registered = true;
    r.again_ms = again_ms;
    r.assignments = groups;
    worker->Receive(NodeId{NodeKind::kPd, 100}, r);
    const size_t before = transport.sent.size();
    for (uint64_t ms = 1; ms <= 1000; ++ms) {
      clock.Advance(1);
      REQUIRE(worker->RunOnce().ok());
      if (transport.sent.size() > before) return ms;
    }
    FAIL("no heartbeat within 1 s");
    return 0;
  }
  uint64_t NextHeartbeatAfter(uint32_t again_ms) { return Answer(again_ms); }
  void Place(const std::vector<GroupAssignment>& groups) { Answer(0, groups); }
};

// A group of collection "c" with this worker (1) as its one replica.
GroupAssignment OneReplicaGroup(uint64_t id, const CollectionConfig& cfg) {
  GroupAssignment a;
  a.group.id = id;
  a.group.collection = "c";
  a.group.replicas = {1};
  a.config_json = cfg.ToJson();
  return a;
}

// Upserts of points p<first>.. p<first + n - 1> of dimension 4.
WriteBatch Points(int first, int n) {
  WriteBatch b;
  for (int i = first; i < first + n; ++i) {
    const float v[4] = {static_cast<float>(i), 1, 2, 3};
    b.Upsert("p" + std::to_string(i), v);
  }
  return b;
}

// The seq of the graph checkpoint saved in a shard's directory (index.meta), if any.
std::optional<uint64_t> SavedSeq(const std::string& shard_dir) {
  auto text = ReadFile(shard_dir + "/index.meta");
  if (!text.ok()) return std::nullopt;
  const size_t at = text->find("\"seq\":");
  REQUIRE(at != std::string::npos);
  return std::stoull(text->substr(at + 6));
}

// Every file under `dir` (but LMDB's lock file), by path, with its contents.
std::map<std::string, std::string> FilesUnder(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().filename() == "lock.mdb") continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::ostringstream data;
    data << in.rdbuf();
    out[e.path().string()] = data.str();
  }
  return out;
}

TEST_CASE("a worker heartbeats PD again as soon as PD asks, but never more often than every 20 ms") {
  OneWorker w;
  REQUIRE(w.worker->RunOnce().ok());
  REQUIRE(w.transport.sent.size() == 1);  // The first heartbeat goes at once.
  CHECK(w.NextHeartbeatAfter(0) == 500);    // Its own period.
  CHECK(w.NextHeartbeatAfter(50) == 50);    // PD has an order waiting (a split's).
  CHECK(w.NextHeartbeatAfter(5000) == 500); // Never later than its own period.
  // A misbehaving PD asking for 1 ms would otherwise make every loop heartbeat.
  CHECK(w.NextHeartbeatAfter(1) == kMinHeartbeatAgainMs);
}

// The early reads of a split (WorkerNode::ServeReads): past the applied index only for a
// read this replica confirmed as the leader in the term it leads now.
TEST_CASE("a read goes past the applied index during a split only if this leader confirmed it in its current term") {
  const GroupRole leader{raft::Role::kLeader, 1, 7};
  CHECK(ReadServeLimit(leader, 100, 120, 7) == 120);
  CHECK(ReadServeLimit(leader, 100, 100, 7) == 100);  // No split applying.
  CHECK(ReadServeLimit(leader, 100, 120, 0) == 100);  // Confirmed by no leader here (a follower's forward).
  CHECK(ReadServeLimit(leader, 100, 120, 6) == 100);  // Confirmed in an earlier term.
  for (raft::Role role : {raft::Role::kFollower, raft::Role::kCandidate, raft::Role::kPreCandidate}) {
    // A follower still copying may be behind a leader that finished the split, which PD
    // recorded, and behind a write the new group acknowledged since.
    CHECK(ReadServeLimit(GroupRole{role, 2, 7}, 100, 120, 7) == 100);
  }
}

// A dropped group's shard can stay open a while (a search or an apply still holds it).
// When it closed it saved its graph by its path, by then the directory of the same group
// placed here again (and a checkpoint removes the index files that index.meta does not
// name). Now a drop moves the files away and the old shard writes no file any more.
TEST_CASE("a dropped group's shard, still open, writes nothing into the same group placed here again") {
  OneWorker w;
  REQUIRE(w.worker->RunOnce().ok());
  CollectionConfig cfg;
  cfg.dim = 4;
  cfg.flat_max_points = 10;  // A graph from 11 points on: a graph is what a close saves.
  const GroupAssignment a = OneReplicaGroup(7, cfg);
  w.Place({a});
  REQUIRE(w.worker->shard(7) != nullptr);
  std::shared_ptr<Shard> old = w.worker->shard(7)->shard();
  REQUIRE(old->Apply(Points(0, 50)).ok());  // Changes its graph has not saved.
  const std::string dir = w.tmp.path + "/groups/7";
  w.Place({});  // Dropped.
  CHECK(w.worker->shard(7) == nullptr);
  CHECK_FALSE(PathExists(dir));
  w.Place({a});  // Placed here again: a new, empty replica.
  REQUIRE(w.worker->shard(7) != nullptr);
  const auto before = FilesUnder(dir);
  old.reset();  // The old shard closes.
  CHECK(FilesUnder(dir) == before);
  auto count = w.worker->shard(7)->shard()->Count();
  REQUIRE(count.ok());
  CHECK(*count == 0);
}

TEST_CASE("a shard's automatic checkpoint is saved by the worker in the background, not by the apply that made it due") {
  OneWorker w;
  REQUIRE(w.worker->RunOnce().ok());
  CollectionConfig cfg;
  cfg.dim = 4;
  cfg.flat_max_points = 10;
  cfg.checkpoint_every_ops = 100;
  w.Place({OneReplicaGroup(3, cfg)});
  REQUIRE(w.worker->shard(3) != nullptr);
  std::shared_ptr<Shard> shard = w.worker->shard(3)->shard();
  const std::string dir = w.tmp.path + "/groups/3/shard";
  auto write = [&](int first, int n) { REQUIRE(shard->Apply(Points(first, n)).ok()); };
  write(0, 20);  // Becomes a graph, saved as it is built.
  const std::optional<uint64_t> built = SavedSeq(dir);
  write(20, 60);
  write(80, 60);  // 120 changes since.
  CHECK(shard->CheckpointDue());
  CHECK(SavedSeq(dir) == built);
  const uint64_t before = w.worker->checkpoints();
  for (int ms = 0; ms < 200 && w.worker->checkpoints() == before; ++ms) {
    w.clock.Advance(1);
    REQUIRE(w.worker->RunOnce().ok());
  }
  CHECK(w.worker->checkpoints() == before + 1);
  CHECK_FALSE(shard->CheckpointDue());
  CHECK(SavedSeq(dir) == std::optional<uint64_t>(3));
}

// A search of collection "c" (dim 4, L2) near p<near>'s vector, k 2 (p<near> and
// p<near + 1>), to group 3 at `epoch`.
ShardReadRequest SearchRead(uint64_t rpc_id, uint64_t epoch, bool lone, int near, bool exact = false) {
  ShardReadRequest r;
  r.rpc_id = rpc_id;
  r.group = 3;
  r.epoch = epoch;
  r.kind = ShardReadRequest::Kind::kSearch;
  r.query = {static_cast<float>(near) + 0.4f, 1, 2, 3};
  r.search.k = 2;
  r.search.exact = exact;
  r.lone = lone;
  return r;
}

TEST_CASE("a lone light read runs on the worker's loop when no read is with the executor; others go to the executor") {
  for (bool inline_reads : {true, false}) {
    CAPTURE(inline_reads);
    OneWorker w(inline_reads);
    REQUIRE(w.worker->RunOnce().ok());
    CollectionConfig cfg;
    cfg.dim = 4;
    cfg.metric = Metric::kL2;
    cfg.flat_max_points = 10;
    w.Place({OneReplicaGroup(3, cfg)});
    REQUIRE(w.worker->shard(3) != nullptr);
    REQUIRE(w.worker->shard(3)->shard()->Apply(Points(0, 50)).ok());
    for (int ms = 0; ms < 5000 && w.worker->host().group_role(3).role != raft::Role::kLeader; ++ms) {
      w.clock.Advance(1);
      REQUIRE(w.worker->RunOnce().ok());
    }
    REQUIRE(w.worker->host().group_role(3).role == raft::Role::kLeader);
    const uint64_t epoch = w.worker->shard(3)->epoch();
    const NodeId gateway{NodeKind::kGateway, 9};
    auto answered = [&](uint64_t rpc) {
      for (const ShardReadResponse& r : w.transport.reads)
        if (r.rpc_id == rpc) return true;
      return false;
    };
    // Runs the worker until read `rpc` is answered or 50 ms pass; its hits' ids.
    auto wait = [&](uint64_t rpc) {
      for (int ms = 0; ms < 50 && !answered(rpc); ++ms) {
        w.clock.Advance(1);
        REQUIRE(w.worker->RunOnce().ok());
      }
      std::vector<std::string> ids;
      for (const ShardReadResponse& r : w.transport.reads)
        if (r.rpc_id == rpc)
          for (const Hit& h : r.hits) ids.push_back(h.id);
      return ids;
    };
    const std::vector<std::string> near7 = {"p7", "p8"};
    // A gateway's first read: not on the loop (no sender has been alone for 10 ms yet).
    w.worker->Receive(gateway, SearchRead(100, epoch, true, 7));
    wait(100);
    CHECK_FALSE(answered(100));
    w.executor.RunHeld();
    CHECK(wait(100) == near7);
    w.clock.Advance(10);
    // Lone and light: answered on the loop, nothing handed to the executor.
    w.worker->Receive(gateway, SearchRead(1, epoch, true, 7));
    wait(1);
    CHECK(answered(1) == inline_reads);
    CHECK(w.executor.held.size() == (inline_reads ? 0u : 1u));
    w.executor.RunHeld();
    CHECK(wait(1) == near7);
    CHECK(w.worker->reads_inlined() == (inline_reads ? 1u : 0u));
    // Not lone: to the executor; and while it is there, a lone read goes there too.
    w.worker->Receive(gateway, SearchRead(2, epoch, false, 7));
    wait(2);
    CHECK_FALSE(answered(2));
    w.worker->Receive(gateway, SearchRead(3, epoch, true, 20));
    wait(3);
    CHECK_FALSE(answered(3));
    CHECK(w.executor.held.size() == 2);
    w.executor.RunHeld();
    CHECK(wait(2) == near7);
    CHECK(wait(3) == std::vector<std::string>{"p20", "p21"});
    // An exact search is not light: to the executor although lone.
    w.worker->Receive(gateway, SearchRead(4, epoch, true, 7, /*exact=*/true));
    wait(4);
    CHECK_FALSE(answered(4));
    w.executor.RunHeld();
    CHECK(wait(4) == near7);
    // The executor's reads all answered: a lone read runs on the loop again.
    w.worker->Receive(gateway, SearchRead(5, epoch, true, 30));
    wait(5);
    CHECK(answered(5) == inline_reads);
    CHECK(w.executor.held.size() == (inline_reads ? 0u : 1u));
    w.executor.RunHeld();
    CHECK(wait(5) == std::vector<std::string>{"p30", "p31"});
    CHECK(w.worker->reads_inlined() == (inline_reads ? 2u : 0u));
    // Another gateway sends a read: for 10 ms both gateways' lone reads go to the executor.
    const NodeId gateway2{NodeKind::kGateway, 10};
    w.worker->Receive(gateway2, SearchRead(7, epoch, true, 7));
    wait(7);
    CHECK_FALSE(answered(7));
    w.executor.RunHeld();
    CHECK(wait(7) == near7);
    w.worker->Receive(gateway, SearchRead(8, epoch, true, 7));
    wait(8);
    CHECK_FALSE(answered(8));
    w.executor.RunHeld();
    CHECK(wait(8) == near7);
    w.clock.Advance(10);  // The first gateway alone again for 10 ms.
    w.worker->Receive(gateway, SearchRead(9, epoch, true, 7));
    wait(9);
    CHECK(answered(9) == inline_reads);
    w.executor.RunHeld();
    CHECK(wait(9) == near7);
    CHECK(w.worker->reads_inlined() == (inline_reads ? 3u : 0u));
    // A read at a stale epoch is refused either way, changing nothing.
    w.worker->Receive(gateway, SearchRead(6, epoch + 1, true, 7));
    wait(6);
    REQUIRE(answered(6));
    CHECK(w.transport.reads.back().stale_epoch);
    CHECK(w.executor.held.empty());
    for (const ShardReadResponse& r : w.transport.reads) CHECK((r.status.ok() || r.rpc_id == 6));
  }
}

TEST_CASE("a settle window lasts each_ms after the last event of a run, but at most max_ms after its first") {
  SettleWindow w(2000, 10'000);
  CHECK_FALSE(w.Holds(0));
  w.Extend(1000);
  CHECK(w.Holds(1000));
  CHECK(w.Holds(2999));
  CHECK_FALSE(w.Holds(3000));
  // A run: each event inside the window of the one before extends it...
  w.Extend(5000);
  for (uint64_t t = 6000; t <= 14'000; t += 1000) {
    CHECK(w.Holds(t));
    w.Extend(t);
  }
  // ...until max_ms after its first event (5000), though the last one was at 14,000.
  CHECK(w.Holds(14'999));
  CHECK_FALSE(w.Holds(15'000));
  w.Extend(15'500);
  CHECK_FALSE(w.Holds(15'500));
  // Once it lapses, the next event begins a new run.
  CHECK_FALSE(w.Holds(17'500));
  w.Extend(20'000);
  CHECK(w.Holds(21'999));
  CHECK_FALSE(w.Holds(22'000));
}

}  // namespace
}  // namespace vectron::net::cluster
