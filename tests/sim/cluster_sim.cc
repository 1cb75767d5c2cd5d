#include "tests/sim/cluster_sim.h"

#include <stdlib.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "net/cluster/pd_node.h"
#include "net/cluster/router.h"
#include "net/cluster/worker_node.h"
#include "raft/sim/linearizability.h"
#include "tests/sim/sim_env.h"
#include "tests/sim/sim_log_store.h"

namespace vectron::net::cluster::sim {

namespace {

constexpr uint64_t kStepMs = 10;
constexpr uint64_t kDeadAfterMs = 6000;
constexpr uint64_t kSettleStepsMax = 4000;  // At most this much longer (fault-free) to settle.
constexpr int kNodes = 3;       // PD nodes, and the workers that start the cluster.
constexpr int kWorkersMax = 5;  // Workers beyond the first kNodes join during the run.
constexpr uint32_t kReplication = 3;
constexpr int kKeys = 8;         // Point ids k0..k7 ...
constexpr int kSplitKeys = 12;   // ... or k0/split..k11/split in the runs that split groups.
constexpr int kShards = 4;
constexpr uint32_t kDim = 4;
constexpr size_t kTraceTail = 300;
const char* const kCollection = "c";

// The value a point carries in its metadata, {"v":N}; 0 if none.
uint64_t ValueOf(const std::string& metadata) {
  size_t p = metadata.find("\"v\":");
  if (p == std::string::npos) return 0;
  return std::strtoull(metadata.c_str() + p + 4, nullptr, 10);
}

struct PdSim {
  uint64_t id = 0;
  std::unique_ptr<SimClock> clock;
  SimLogStore store;
  std::unique_ptr<NodeTransport> transport;
  std::unique_ptr<PdNode> node;
  uint64_t down_until_ms = 0;
};

struct WorkerSim {
  uint64_t id = 0;
  std::unique_ptr<SimClock> clock;
  SimLogStore store;
  std::string dir;
  SimExecutor executor;
  std::unique_ptr<NodeTransport> transport;
  std::unique_ptr<WorkerNode> node;
  uint64_t down_until_ms = 0;
  bool started = false;    // Workers beyond the first kNodes start (join) at join_at_ms.
  uint64_t join_at_ms = 0;
  bool dead_forever = false;  // Crashed and never restarted (PD repairs its replicas).
};

struct Client {
  uint64_t id = 0;
  bool busy = false;
  uint64_t idle_until_ms = 0;
  uint64_t seq = 0;
};

class ClusterSimulation {
 public:
  explicit ClusterSimulation(const ClusterSimOptions& o) : opt_(o), rng_(o.seed), net_(rng_, &now_ms_) {}
  ~ClusterSimulation() {
    gateway_.reset();
    for (auto& w : workers_) {
      w.executor.Clear();
      w.node.reset();
    }
    for (auto& p : pds_) p.node.reset();
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }
  ClusterSimResult Run();

 private:
  void Setup();
  void Trace(const std::string& line);
  void Fail(const std::string& why);
  uint64_t Event() { return ++event_; }
  RaftHostOptions HostOptions(bool pd);
  void StartPd(PdSim& p);
  void StartWorker(WorkerSim& w);
  void CrashWorker(WorkerSim& w, const char* why);
  void CrashPd(PdSim& p, const char* why);
  void Deliver();
  void RunNodes();
  void RunExecutors();
  void FaultsStep();
  void ClientsStep();
  void IssueOp(Client& c);
  void CheckReplicas(bool final_check);
  void CheckLeaders();
  bool CheckLeadersSpread(bool report);
  const ClusterMap* LeaderMap() const;
  void ObserveMoves();
  bool CheckMembership(bool report);
  void CollectWorkerStats(WorkerSim& w);
  void TraceGroups();
  std::string Digest(Shard& shard);
  NodeId GatewayId() const { return NodeId{NodeKind::kGateway, 1}; }
  // The id of key k: "k<k>", with a suffix in the runs that split, whose FNV-1a hashes
  // (route keys) differ little for ids that differ only in their last byte: "k2" and "k6"
  // are 2^40 apart, 22 splits deep.
  std::string Id(int k) const { return "k" + std::to_string(k) + (split_points_ ? "/split" : ""); }
  void Step();  // One step of kStepMs: faults, messages, nodes, clients, checkers.
  bool FinalRead();
  void CheckPlacement();

  ClusterSimOptions opt_;
  SplitMixRng rng_;
  uint64_t now_ms_ = 0;
  uint64_t step_ = 0;
  SimNetwork net_;
  std::string root_;
  std::vector<PdSim> pds_;
  std::vector<WorkerSim> workers_;
  std::unique_ptr<SimClock> gw_clock_;
  std::unique_ptr<SplitMixRng> gw_rng_;
  std::unique_ptr<NodeTransport> gw_transport_;
  std::unique_ptr<Router> gateway_;
  std::vector<Client> clients_;
  bool collection_ready_ = false;
  bool creating_ = false;
  std::vector<raft::sim::KvOp> history_;
  std::set<std::pair<int, uint64_t>> written_;  // (key, value) ever written
  // The clients' result cache (SearchIfChanged): query key -> read points and hits.
  struct CachedSearch {
    std::vector<Router::ShardReadAt> read_at;
    std::vector<Hit> hits;
  };
  std::map<int, CachedSearch> search_cache_;
  uint64_t event_ = 0;
  bool failed_ = false;
  std::string failure_;
  std::deque<std::string> trace_;
  std::string config_;
  ClusterSimStats stats_;
  // Per seed.
  bool pre_vote_ = true, check_quorum_ = true, lease_ = false;
  uint64_t hibernate_after_ticks_ = 0;  // 0: off. Drawn apart from rng_ (other draws unchanged).
  double crash_p_ = 0, pd_crash_p_ = 0, partition_p_ = 0, crash_point_p_ = 0, skew_ = 0;
  double apply_lag_p_ = 0;
  uint64_t liveness_from_ = 0;
  uint64_t clients_stop_ = 0;
  uint64_t heal_at_ms_ = 0;
  uint64_t writes_ok_in_liveness_ = 0;
  uint64_t death_at_ms_ = 0;  // When one worker dies for good (0: none this run).
  // Splits (PdNodeOptions; 0: none this run), and the point ids the clients use.
  uint64_t split_points_ = 0, split_cooldown_ms_ = 0;
  int keys_ = kKeys;
  std::map<uint64_t, uint64_t> parent_of_;  // Groups split off -> the group they were split from.
  std::set<uint64_t> split_done_;           // Groups split off whose split PD recorded done.
  std::map<int, uint64_t> final_values_;    // The final read: key -> value (0: absent).
  // Replica moves as seen in the PD leader's map: the version last looked at, and each
  // group's target in it.
  uint64_t moves_map_version_ = 0;
  std::map<uint64_t, std::vector<uint64_t>> target_of_;
  std::map<uint64_t, std::string> seen_of_;  // Each group's membership and target, as last traced.
  // Checkers.
  std::map<std::pair<uint64_t, uint64_t>, std::string> digest_at_;  // (group, applied) -> digest
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> leader_of_;     // (group, term) -> worker
};

void ClusterSimulation::Trace(const std::string& line) {
  std::string l = "[" + std::to_string(now_ms_) + "ms] " + line;
  if (opt_.trace) std::printf("%s\n", l.c_str());
  trace_.push_back(std::move(l));
  if (trace_.size() > kTraceTail) trace_.pop_front();
}

void ClusterSimulation::Fail(const std::string& why) {
  if (failed_) return;
  failed_ = true;
  failure_ = "at " + std::to_string(now_ms_) + " ms (step " + std::to_string(step_) + "): " + why;
  Trace("CHECK FAILED: " + why);
}

RaftHostOptions ClusterSimulation::HostOptions(bool pd) {
  RaftHostOptions o;
  o.tick_ms = 100;
  o.raft.election_ticks = 10;
  o.raft.heartbeat_ticks = 2;
  o.raft.pre_vote = pre_vote_;
  o.raft.check_quorum = check_quorum_;
  o.raft.read_only = lease_ ? raft::ReadOnlyOption::kLeaseBased : raft::ReadOnlyOption::kSafe;
  o.raft.max_bytes_per_msg = 64 * 1024;
  o.hibernate_after_ticks = hibernate_after_ticks_;
  o.raft.seed = opt_.seed;
  // Both kinds of group compact often, so that snapshots are exercised: the PD's in memory,
  // and shard snapshots fetched in chunks from a peer and installed (docs/cluster.md).
  o.compact_entries = pd ? 40 : 16;
  if (opt_.trace && !pd) o.raft.logger = [this](const std::string& line) { Trace("raft w" + line); };
  o.crash_after_persist = [this] { return opt_.faults && now_ms_ < liveness_from_ * kStepMs && rng_.Chance(crash_point_p_); };
  return o;
}

void ClusterSimulation::StartPd(PdSim& p) {
  PdNodeOptions o;
  o.id = p.id;
  o.members = {1, 2, 3};
  o.raft = HostOptions(true);
  // Replica moves within a run: a worker silent for 6 s (longer than any crash, about as
  // long as the longest partition) has its replicas repaired onto others.
  o.dead_after_ms = kDeadAfterMs;
  o.split_points = split_points_;
  o.split_cooldown_ms = split_cooldown_ms_;
  p.node = std::make_unique<PdNode>(o, *p.clock, *p.transport, p.store);
  Status s = p.node->Start();
  if (!s.ok()) Fail("pd " + std::to_string(p.id) + " failed to start: " + s.ToString());
}

void ClusterSimulation::StartWorker(WorkerSim& w) {
  WorkerNodeOptions o;
  o.id = w.id;
  o.addr = "w" + std::to_string(w.id);
  o.data_dir = w.dir;
  o.pd_members = {1, 2, 3};
  o.raft = HostOptions(false);
  o.shard_options.durability = Durability::kNoSync;  // A process crash keeps every commit.
  o.shard_options.map_size_bytes = 64ull << 20;
  o.shard_options.threads = 1;
  o.heartbeat_ms = 300;
  o.seed = rng_.Next();                      // Each start its own fetch ids.
  o.shard_flush_entries = 4;                 // The log compacts up to a flushed index.
  o.snapshot.chunk_bytes = 16 * 1024;        // A copy crosses the network in several chunks.
  o.snapshot.timeout_ms = 500;
  o.snapshot.progress_bytes = 0;             // A crash mid-copy resumes after the last chunk.
  w.node = std::make_unique<WorkerNode>(o, *w.clock, *w.transport, w.store, w.executor);
  Status s = w.node->Start();
  if (!s.ok()) Fail("worker " + std::to_string(w.id) + " failed to start: " + s.ToString());
}

void ClusterSimulation::CrashWorker(WorkerSim& w, const char* why) {
  Trace("worker " + std::to_string(w.id) + " crashes (" + why + ")");
  CollectWorkerStats(w);
  w.executor.Clear();
  w.node.reset();
  w.down_until_ms = now_ms_ + rng_.Range(200, 3000);
  ++stats_.worker_crashes;
}

void ClusterSimulation::CollectWorkerStats(WorkerSim& w) {
  if (!w.node) return;
  stats_.shard_snapshots += w.node->host().stats().snapshots_installed;
  stats_.leader_transfers += w.node->leader_transfers();
  stats_.hibernations += w.node->host().stats().hibernations;
  stats_.hibernation_wakes += w.node->host().stats().wakes;
  stats_.conf_changes += w.node->conf_changes();
}

void ClusterSimulation::CrashPd(PdSim& p, const char* why) {
  Trace("pd " + std::to_string(p.id) + " crashes (" + why + ")");
  p.node.reset();
  p.down_until_ms = now_ms_ + rng_.Range(200, 3000);
  ++stats_.pd_crashes;
}

void ClusterSimulation::Setup() {
  char tmpl[] = "/tmp/vectron-cluster-sim-XXXXXX";
  if (!mkdtemp(tmpl)) {
    Fail("mkdtemp failed");
    return;
  }
  root_ = tmpl;
  pre_vote_ = !rng_.Chance(0.2);
  check_quorum_ = !rng_.Chance(0.2);
  lease_ = check_quorum_ && rng_.Chance(0.5);
  SplitMixRng hib_rng(opt_.seed ^ 0x48494245524e41ull);
  hibernate_after_ticks_ = hib_rng.Chance(0.5) ? hib_rng.Range(2, 10) : 0;  // Short: groups hibernate often.
  if (opt_.hibernate_after_ticks >= 0) hibernate_after_ticks_ = static_cast<uint64_t>(opt_.hibernate_after_ticks);
  stats_.hibernating_seeds = hibernate_after_ticks_ > 0 ? 1 : 0;
  if (opt_.faults) {
    net_.faults.drop = rng_.Chance(0.3) ? 0.0 : 0.01 * static_cast<double>(rng_.Range(1, 5));
    net_.faults.duplicate = rng_.Chance(0.5) ? 0.0 : 0.01 * static_cast<double>(rng_.Range(1, 3));
    net_.faults.long_delay = 0.01 * static_cast<double>(rng_.Range(0, 3));
    net_.faults.delay_max_ms = rng_.Range(1, 30);
    crash_p_ = 1.0 / static_cast<double>(rng_.Range(300, 1500));
    pd_crash_p_ = 1.0 / static_cast<double>(rng_.Range(500, 2500));
    partition_p_ = 1.0 / static_cast<double>(rng_.Range(300, 1500));
    crash_point_p_ = rng_.Chance(0.5) ? 0.0 : 1.0 / static_cast<double>(rng_.Range(2000, 10000));
    skew_ = 0.1 * static_cast<double>(rng_.Range(0, 3));
    apply_lag_p_ = 0.1 * static_cast<double>(rng_.Range(0, 5));
  }
  liveness_from_ = opt_.steps - opt_.steps / 3;
  clients_stop_ = opt_.steps - std::min<uint64_t>(opt_.steps / 6, 300);
  // Replica moves: one or two workers join during the first half of the safety phase
  // (PD rebalances replicas onto them), and in half the runs with faults one worker dies
  // for good (PD repairs its replicas onto the others after kDeadAfterMs). Only one
  // permanent death per run: with replication 3 every group keeps a majority of live
  // voters once the crashed workers are back.
  const int nworkers = kNodes + 1 + (rng_.Chance(0.3) ? 1 : 0);
  const uint64_t liveness_ms = liveness_from_ * kStepMs;
  std::vector<uint64_t> join_at_ms;
  for (int i = kNodes; i < nworkers; ++i)
    join_at_ms.push_back(rng_.Range(500, std::max<uint64_t>(liveness_ms / 2, 600)));
  const uint64_t death_from_ms = opt_.steps * kStepMs / 10;
  if (opt_.faults && rng_.Chance(0.5))
    death_at_ms_ = rng_.Range(death_from_ms, std::max<uint64_t>(liveness_ms * 6 / 10, death_from_ms + 1));
  // Splits, in half the runs (drawn from their own generator: the other runs are as
  // before): a group splits once its leader reports more than 1 or 2 points, and again
  // after a short cooldown, so that groups split off are split again.
  SplitMixRng split_rng(opt_.seed ^ 0x5b117);
  if (split_rng.Chance(0.5)) {
    split_points_ = split_rng.Range(1, 2);
    split_cooldown_ms_ = split_rng.Range(500, 2000);
    keys_ = kSplitKeys;
  }
  std::ostringstream os;
  os << "pre_vote=" << pre_vote_ << " check_quorum=" << check_quorum_ << " lease=" << lease_
     << " drop=" << net_.faults.drop << " dup=" << net_.faults.duplicate << " long_delay=" << net_.faults.long_delay
     << " delay_max=" << net_.faults.delay_max_ms << "ms crash_p=" << crash_p_ << " pd_crash_p=" << pd_crash_p_
     << " partition_p=" << partition_p_ << " crash_point_p=" << crash_point_p_ << " skew=" << skew_
     << " apply_lag=" << apply_lag_p_ << " workers=" << nworkers << " joins_at_ms=";
  for (uint64_t j : join_at_ms) os << j << ",";
  os << " death_at_ms=" << death_at_ms_ << " split_points=" << split_points_
     << " split_cooldown=" << split_cooldown_ms_ << "ms";
  os << " hibernate_after_ticks=" << hibernate_after_ticks_;
  config_ = os.str();
  Trace("config: " + config_);

  pds_.resize(kNodes);
  workers_.resize(static_cast<size_t>(nworkers));
  for (int i = 0; i < nworkers; ++i) {
    if (i < kNodes) {
      PdSim& p = pds_[i];
      p.id = static_cast<uint64_t>(i + 1);
      p.clock = std::make_unique<SimClock>(&now_ms_);
      p.clock->SetRate(1.0 + skew_ * static_cast<double>(rng_.Below(101)) / 100.0);
      p.transport = std::make_unique<NodeTransport>(net_, NodeId{NodeKind::kPd, p.id});
      StartPd(p);
    }
    WorkerSim& w = workers_[i];
    w.id = static_cast<uint64_t>(i + 1);
    w.dir = root_ + "/w" + std::to_string(w.id);
    w.clock = std::make_unique<SimClock>(&now_ms_);
    w.clock->SetRate(1.0 + skew_ * static_cast<double>(rng_.Below(101)) / 100.0);
    w.transport = std::make_unique<NodeTransport>(net_, NodeId{NodeKind::kWorker, w.id});
    if (i < kNodes) {
      w.started = true;
      StartWorker(w);
    } else {
      w.join_at_ms = join_at_ms[static_cast<size_t>(i - kNodes)];
    }
  }
  gw_clock_ = std::make_unique<SimClock>(&now_ms_);
  gw_rng_ = std::make_unique<SplitMixRng>(opt_.seed ^ 0x5eed);
  gw_transport_ = std::make_unique<NodeTransport>(net_, GatewayId());
  RouterOptions ro;
  ro.id = 1;
  ro.pd_members = {1, 2, 3};
  ro.rpc_timeout_ms = 1000;
  ro.deadline_ms = 4000;
  gateway_ = std::make_unique<Router>(ro, *gw_clock_, *gw_rng_, *gw_transport_);
  int nclients = static_cast<int>(rng_.Range(2, 4));
  for (int i = 0; i < nclients; ++i) clients_.push_back(Client{static_cast<uint64_t>(i + 1)});
}

void ClusterSimulation::Deliver() {
  for (SimNetwork::InFlight& f : net_.Due()) {
    ++stats_.messages;
    switch (f.to.kind) {
      case NodeKind::kPd: {
        PdSim& p = pds_[f.to.id - 1];
        if (p.node) p.node->Receive(f.from, std::move(f.msg));
        break;
      }
      case NodeKind::kWorker: {
        WorkerSim& w = workers_[f.to.id - 1];
        if (w.node) w.node->Receive(f.from, std::move(f.msg));
        break;
      }
      case NodeKind::kGateway:
        gateway_->Receive(f.from, std::move(f.msg));
        break;
    }
  }
}

void ClusterSimulation::RunNodes() {
  for (PdSim& p : pds_) {
    if (!p.node) continue;
    Status s = p.node->RunOnce();
    if (s.code() == StatusCode::kAborted) {
      ++stats_.crash_points;
      CrashPd(p, "after persisting, before sending");
    } else if (!s.ok()) {
      Fail("pd " + std::to_string(p.id) + ": " + s.ToString());
    }
  }
  for (WorkerSim& w : workers_) {
    if (!w.node) continue;
    Status s = w.node->RunOnce();
    if (s.code() == StatusCode::kAborted) {
      ++stats_.crash_points;
      CrashWorker(w, "after persisting, before sending");
    } else if (!s.ok()) {
      Fail("worker " + std::to_string(w.id) + ": " + s.ToString());
    }
  }
  gateway_->RunOnce();
}

void ClusterSimulation::RunExecutors() {
  for (WorkerSim& w : workers_) {
    if (!w.node || w.executor.size() == 0) continue;
    // Apply lag: now and then only part of the queue runs this step.
    size_t n = rng_.Chance(apply_lag_p_) ? rng_.Below(w.executor.size() + 1) : w.executor.size();
    w.executor.Run(n);
    // Crash point: the shard committed (or a snapshot was installed) but the Raft loop never
    // learns of it (the completion is lost with the process).
    if (n > 0 && opt_.faults && now_ms_ < liveness_from_ * kStepMs && rng_.Chance(crash_point_p_ * 20)) {
      ++stats_.crash_points;
      CrashWorker(w, "after a shard commit, before Advance");
    }
  }
}

void ClusterSimulation::FaultsStep() {
  bool safety = step_ < liveness_from_;
  for (PdSim& p : pds_)
    if (!p.node && (now_ms_ >= p.down_until_ms || !safety)) {
      Trace("pd " + std::to_string(p.id) + " restarts");
      StartPd(p);
    }
  for (WorkerSim& w : workers_) {
    if (!w.started) {
      if (now_ms_ < w.join_at_ms) continue;
      Trace("worker " + std::to_string(w.id) + " joins the cluster");
      w.started = true;
      StartWorker(w);
    } else if (!w.node && !w.dead_forever && (now_ms_ >= w.down_until_ms || !safety)) {
      Trace("worker " + std::to_string(w.id) + " restarts");
      StartWorker(w);
    }
  }
  if (net_.partitioned() && (now_ms_ >= heal_at_ms_ || !safety)) {
    Trace("partition healed");
    net_.Heal();
  }
  if (!opt_.faults || !collection_ready_) return;
  if (!safety) {
    net_.faults = NetFaults{};
    return;
  }
  if (death_at_ms_ != 0 && now_ms_ >= death_at_ms_) {
    // One started worker dies for good (it may be down already).
    std::vector<WorkerSim*> alive;
    for (WorkerSim& w : workers_)
      if (w.started) alive.push_back(&w);
    // Or, in half of these runs, is down for longer than kDeadAfterMs and comes back
    // after PD moved its replicas away (it must drop them).
    WorkerSim& w = *alive[rng_.Below(alive.size())];
    death_at_ms_ = 0;
    if (rng_.Chance(0.5)) {
      if (w.node) CrashWorker(w, "down for long");
      w.down_until_ms = now_ms_ + kDeadAfterMs + rng_.Range(1000, 5000);
      ++stats_.long_outages;
    } else {
      w.dead_forever = true;
      ++stats_.workers_lost;
      if (w.node) CrashWorker(w, "dies for good");
      else Trace("worker " + std::to_string(w.id) + " (down) dies for good");
    }
  }
  if (rng_.Chance(crash_p_)) {
    WorkerSim& w = workers_[rng_.Below(workers_.size())];
    if (w.node) CrashWorker(w, "random");
  }
  if (rng_.Chance(pd_crash_p_)) {
    PdSim& p = pds_[rng_.Below(kNodes)];
    if (p.node) CrashPd(p, "random");
  }
  if (!net_.partitioned() && rng_.Chance(partition_p_)) {
    // Isolate one node (a PD, a worker or the gateway) from everything, both ways.
    std::vector<NodeId> all;
    for (uint64_t i = 1; i <= kNodes; ++i) all.push_back({NodeKind::kPd, i});
    for (const WorkerSim& w : workers_) all.push_back({NodeKind::kWorker, w.id});
    all.push_back(GatewayId());
    NodeId v = all[rng_.Below(all.size() - (rng_.Chance(0.9) ? 1 : 0))];
    for (const NodeId& o : all)
      if (!(o == v)) net_.Block(v, o), net_.Block(o, v);
    heal_at_ms_ = now_ms_ + rng_.Range(500, 5000);
    ++stats_.partitions;
    Trace("partition: isolate " + v.ToString());
  }
  if (skew_ > 0 && rng_.Chance(0.002)) {
    WorkerSim& w = workers_[rng_.Below(workers_.size())];
    w.clock->SetRate(1.0 + skew_ * static_cast<double>(rng_.Below(101)) / 100.0);
  }
}

void ClusterSimulation::ClientsStep() {
  if (!collection_ready_) {
    if (!creating_ && gateway_->has_map()) {
      creating_ = true;
      CollectionConfig cfg;
      cfg.dim = kDim;
      cfg.metric = Metric::kL2;
      cfg.shards = kShards;
      gateway_->CreateCollection(kCollection, cfg, 3, [this](Status s) {
        creating_ = false;
        if (s.ok() || s.code() == StatusCode::kAlreadyExists) {
          collection_ready_ = true;
          Trace("collection created");
        } else {
          Trace("create collection: " + s.ToString());
        }
      });
    }
    return;
  }
  if (step_ >= clients_stop_) return;
  for (Client& c : clients_)
    if (!c.busy && now_ms_ >= c.idle_until_ms) IssueOp(c);
}

void ClusterSimulation::IssueOp(Client& c) {
  c.busy = true;
  ++c.seq;
  uint64_t call = Event();
  uint64_t client = c.id;
  auto done = [this, client] {
    Client& cl = clients_[client - 1];
    cl.busy = false;
    cl.idle_until_ms = now_ms_ + rng_.Range(0, 100);
  };
  std::vector<int> keys;
  int nkeys = static_cast<int>(rng_.Range(1, 3));
  for (int i = 0; i < nkeys; ++i) {
    int k = static_cast<int>(rng_.Below(static_cast<uint64_t>(keys_)));
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  }
  uint64_t roll = rng_.Below(100);
  if (roll < 45) {
    WriteBatch batch;
    std::vector<size_t> ops;
    for (int k : keys) {
      raft::sim::KvOp op;
      op.client = client;
      op.key = static_cast<uint64_t>(k);
      op.is_write = true;
      op.call = call;
      if (rng_.Chance(0.75)) {
        op.value = client * 1'000'000 + c.seq;
        written_.insert({k, op.value});
        float v = static_cast<float>(op.value % 1000);
        std::vector<float> vec = {v, 1, 2, static_cast<float>(k)};
        batch.Upsert(Id(k), vec, "{\"v\":" + std::to_string(op.value) + "}");
      } else {
        op.value = 0;
        batch.Delete(Id(k));
      }
      ops.push_back(history_.size());
      history_.push_back(op);
    }
    gateway_->Write(kCollection, batch, [this, ops, done](Status s) {
      if (s.ok()) {
        uint64_t ret = Event();
        for (size_t i : ops) history_[i].ret = ret;
        ++stats_.writes_ok;
        if (step_ >= liveness_from_) ++writes_ok_in_liveness_;
      } else if (s.code() == StatusCode::kUnavailable) {
        ++stats_.writes_unknown;  // ret stays "never": it may take effect any time after its call.
      } else {
        Fail("write failed unexpectedly: " + s.ToString());
      }
      done();
    });
  } else if (roll < 50) {
    // A bounded-staleness get (a follower may answer): not linearizable, so not in the
    // history; its value must be one some client wrote (or none).
    std::vector<std::string> ids;
    for (int k : keys) ids.push_back(Id(k));
    gateway_->Get(kCollection, ids, GetOptions{false, true}, ReadOptions{500},
                  [this, keys, done](Result<std::vector<std::optional<Point>>> r) {
                    if (r.ok()) {
                      for (size_t i = 0; i < keys.size(); ++i) {
                        const auto& p = (*r)[i];
                        uint64_t v = p ? ValueOf(p->metadata) : 0;
                        if (v != 0 && !written_.count({keys[i], v}))
                          return Fail("a stale read returned a value nobody wrote: " + std::to_string(v));
                      }
                      ++stats_.stale_reads_ok;
                    } else if (r.status().code() != StatusCode::kUnavailable) {
                      Fail("stale get failed unexpectedly: " + r.status().ToString());
                    }
                    done();
                  });
  } else if (roll < 54) {
    // A rating through the point's shard's log: stored, or (the point is deleted or was
    // never written) rejected with NotFound; the replicas' digests include the ratings.
    Rating r;
    r.point_id = Id(keys[0]);
    r.rating = static_cast<int>(rng_.Range(1, 5));
    r.query_id = "c" + std::to_string(client);
    r.time_ms = static_cast<int64_t>(now_ms_) + 1;  // The proposer's clock.
    gateway_->Rate(kCollection, r, [this, done](Status s) {
      if (s.ok()) ++stats_.ratings_ok;
      else if (s.code() == StatusCode::kNotFound) ++stats_.ratings_rejected;
      else if (s.code() == StatusCode::kUnavailable) ++stats_.ops_failed;
      else Fail("rating failed unexpectedly: " + s.ToString());
      done();
    });
  } else if (roll < 80) {
    std::vector<std::string> ids;
    for (int k : keys) ids.push_back(Id(k));
    gateway_->Get(kCollection, ids, GetOptions{false, true}, ReadOptions{},
                  [this, keys, client, call, done](Result<std::vector<std::optional<Point>>> r) {
                    if (r.ok()) {
                      uint64_t ret = Event();
                      for (size_t i = 0; i < keys.size(); ++i) {
                        const auto& p = (*r)[i];
                        history_.push_back(raft::sim::KvOp{client, static_cast<uint64_t>(keys[i]), false,
                                                           p ? ValueOf(p->metadata) : 0, call, ret});
                      }
                      ++stats_.reads_ok;
                    } else if (r.status().code() == StatusCode::kUnavailable) {
                      ++stats_.ops_failed;
                    } else {
                      Fail("get failed unexpectedly: " + r.status().ToString());
                    }
                    done();
                  });
  } else {
    // An exact search with k above the key count returns every live point: a read of all keys.
    SearchParams sp;
    sp.k = 100;
    sp.exact = true;
    sp.include_metadata = true;
    // Records the hits as a read of every key (false: a bad answer, failed).
    auto record = [this, client, call](const std::vector<Hit>& hits) {
      uint64_t ret = Event();
      std::map<int, uint64_t> seen;
      for (const Hit& h : hits) {
        int k = std::atoi(h.id.c_str() + 1);
        if (h.id.size() < 2 || h.id[0] != 'k' || k < 0 || k >= keys_ || h.id != Id(k) || seen.count(k)) {
          std::string all;
          for (const Hit& x : hits) all += " " + x.id + "=" + x.metadata;
          Fail("search returned an unexpected or repeated id \"" + h.id + "\":" + all);
          return false;
        }
        seen[k] = ValueOf(h.metadata);
      }
      for (int k = 0; k < keys_; ++k)
        history_.push_back(raft::sim::KvOp{client, static_cast<uint64_t>(k), false, seen.count(k) ? seen[k] : 0, call, ret});
      ++stats_.reads_ok;
      return true;
    };
    if (roll < 90) {
      std::vector<float> q = {static_cast<float>(rng_.Below(1000)), 0, 0, 0};
      gateway_->Search(kCollection, q, sp, ReadOptions{}, [this, record, done](Result<std::vector<Hit>> r) {
        if (r.ok()) {
          if (!record(*r)) return;
        } else if (r.status().code() == StatusCode::kUnavailable) {
          ++stats_.ops_failed;
        } else {
          Fail("search failed unexpectedly: " + r.status().ToString());
        }
        done();
      });
      return;
    }
    // The gateway's result cache over SearchIfChanged, on a few queries that repeat: an
    // answer served from it is recorded like any read, so the linearizability check
    // fails if one is served after a write it should show.
    const int query_key = static_cast<int>(rng_.Below(4));
    std::vector<float> q = {static_cast<float>(query_key * 250), 0, 0, 0};
    std::vector<Router::ShardReadAt> known;
    std::vector<Hit> cached;
    if (auto it = search_cache_.find(query_key); it != search_cache_.end()) {
      known = it->second.read_at;
      cached = it->second.hits;
    }
    gateway_->SearchIfChanged(
        kCollection, q, sp, ReadOptions{}, known,
        [this, record, done, query_key, known, cached](Result<Router::VersionedHits> r) {
          if (r.ok()) {
            if (r->unchanged) {
              if (known.empty() || r->read_at != known) return Fail("a search answered 'unchanged' to no cached entry");
              ++stats_.search_cache_hits;
              if (!record(cached)) return;
            } else {
              ++stats_.search_cache_misses;
              if (!record(r->hits)) return;
              search_cache_[query_key] = CachedSearch{r->read_at, r->hits};
            }
          } else if (r.status().code() == StatusCode::kUnavailable) {
            ++stats_.ops_failed;
          } else {
            Fail("cached search failed unexpectedly: " + r.status().ToString());
          }
          done();
        });
  }
}

std::string ClusterSimulation::Digest(Shard& shard) {
  GetOptions go{true, true};
  auto page = shard.Scroll("", 1000, go);
  if (!page.ok()) return "error: " + page.status().ToString();
  std::string d;
  for (const Point& p : page->points) {
    d += p.id;
    d += '=';
    d += p.metadata;
    for (float f : p.vector) {
      d += ',';
      d += std::to_string(f);
    }
    d += ';';
  }
  Status s = shard.ScanRatingsAfter({}, [&d](const Rating& r, std::string_view) {
    d += "r:" + r.point_id + "=" + std::to_string(r.rating) + "@" + std::to_string(r.time_ms) + "/" + r.query_id + ";";
    return Status::OK();
  });
  if (!s.ok()) return "error: " + s.ToString();
  return d;
}

void ClusterSimulation::CheckReplicas(bool final_check) {
  std::map<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>> applied;  // group -> (worker, applied)
  for (WorkerSim& w : workers_) {
    if (!w.node) continue;
    for (uint64_t g : w.node->host().groups()) {
      ShardStateMachine* sm = w.node->shard(g);
      if (!sm) continue;
      uint64_t a = sm->applied_index();
      applied[g].push_back({w.id, a});
      std::string d = Digest(*sm->shard());
      auto [it, inserted] = digest_at_.emplace(std::make_pair(g, a), d);
      if (inserted) {
        ++stats_.replica_checks;
      } else if (it->second != d) {
        return Fail("replicas differ: group " + std::to_string(g) + " at applied index " + std::to_string(a) +
                    " on worker " + std::to_string(w.id) + ": " + d + " vs " + it->second);
      }
    }
  }
  (void)applied;
  (void)final_check;
}

const ClusterMap* ClusterSimulation::LeaderMap() const {
  const ClusterMap* best = nullptr;
  for (const PdSim& p : pds_)
    if (p.node && p.node->IsLeader() && (!best || p.node->state().map().version > best->version))
      best = &p.node->state().map();
  return best;
}

namespace {
std::string List(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}
}  // namespace

// Follows the PD leader's map: traces membership and target changes, counts moves and
// repairs, and checks that a group never has fewer voters than its replication.
void ClusterSimulation::ObserveMoves() {
  const ClusterMap* map = LeaderMap();
  if (!map || map->version <= moves_map_version_) return;
  moves_map_version_ = map->version;
  for (const auto& [id, g] : map->groups) {
    if (g.replicas.size() < kReplication)
      return Fail("group " + std::to_string(id) + " has only the voters " + List(g.replicas) + " in the map");
    // Splits: a group split off appears with its parent, and is done once it is routed to
    // (split_from cleared, in the collection's groups).
    if (g.split_from != 0 && !parent_of_.count(id)) {
      parent_of_[id] = g.split_from;
      Trace("map v" + std::to_string(map->version) + ": group " + std::to_string(id) + " is split off group " +
            std::to_string(g.split_from) + " at " + std::to_string(g.range_start));
    } else if (g.split_from == 0 && parent_of_.count(id) && !split_done_.count(id)) {
      split_done_.insert(id);
      ++stats_.splits;
      if (parent_of_.count(parent_of_[id])) ++stats_.splits_nested;
      Trace("map v" + std::to_string(map->version) + ": the split of group " + std::to_string(parent_of_[id]) +
            " into group " + std::to_string(id) + " is done");
    }
    std::string seen = List(g.replicas) + List(g.learners) + List(g.target);
    if (seen_of_[id] != seen)
      Trace("map v" + std::to_string(map->version) + ": group " + std::to_string(id) + " voters " + List(g.replicas) +
          " learners " + List(g.learners) + " conf_index " + std::to_string(g.conf_index) + " target " +
          List(g.target));
    seen_of_[id] = seen;
    std::vector<uint64_t>& last = target_of_[id];
    if (g.target == last) continue;
    if (!g.target.empty()) {
      ++stats_.moves_planned;
      // A repair: the target drops a voter whose worker is down.
      for (uint64_t w : g.replicas)
        if (std::find(g.target.begin(), g.target.end(), w) == g.target.end() && !workers_[w - 1].node) {
          ++stats_.repairs;
          break;
        }
    } else if (!last.empty() && g.replicas == last && g.learners.empty()) {
      ++stats_.moves_done;
    }
    last = g.target;
  }
}

// Traces every hosted replica's Raft state (to see why a group did not settle).
void ClusterSimulation::TraceGroups() {
  for (WorkerSim& w : workers_) {
    if (!w.node) continue;
    for (uint64_t g : w.node->host().groups()) {
      GroupStatus st = w.node->host().group_status(g);
      Trace("worker " + std::to_string(w.id) + " group " + std::to_string(g) + ": role " +
            std::to_string(static_cast<int>(st.role)) + " lead " + std::to_string(st.lead) + " term " +
            std::to_string(st.term) + " commit " + std::to_string(st.commit) + " applied " +
            std::to_string(st.applied) + " log " + std::to_string(st.first_index) + ".." +
            std::to_string(st.last_index) + " voters " + List(st.conf.voters) + " learners " +
            List(st.conf.learners) + " committed voters " + List(st.committed_conf.voters) + " learners " +
            List(st.committed_conf.learners) + " at " + std::to_string(st.conf_index));
    }
  }
}

// At the end (after the fault-free phase) every group has settled: no move in progress,
// exactly kReplication voters, all on running workers whose Raft membership is the map's
// (no learners) and which have applied the same index; no running worker hosts a group it
// is not a voter of. False (and, if `report`, a failure) at the first thing that is not so.
bool ClusterSimulation::CheckMembership(bool report) {
  auto bad = [&](const std::string& why) {
    if (report) Fail(why);
    return false;
  };
  const ClusterMap* map = LeaderMap();
  if (!map) return bad("no PD leader at the end");
  auto coll = map->collections.find(kCollection);
  if (coll == map->collections.end()) return bad("the collection is not in the PD leader's map");
  if (coll->second.groups.size() < static_cast<size_t>(kShards))
    return bad("expected at least " + std::to_string(kShards) + " shard groups, found " +
               std::to_string(coll->second.groups.size()));
  // The collection's groups, in order, tile the route-key space: no gap, no overlap.
  uint64_t next_start = 0;
  for (size_t i = 0; i < coll->second.groups.size(); ++i) {
    auto g = map->groups.find(coll->second.groups[i]);
    if (g == map->groups.end()) return bad("the collection's group " + std::to_string(coll->second.groups[i]) + " is not in the map");
    const GroupInfo& gi = g->second;
    const std::string gs = "group " + std::to_string(gi.id);
    if (gi.range_start != next_start || (i > 0 && next_start == 0))
      return bad(gs + " starts at " + std::to_string(gi.range_start) + ", the groups before it end at " +
                 std::to_string(next_start));
    if (gi.range_end != 0 && gi.range_end <= gi.range_start)
      return bad(gs + " has the empty range [" + std::to_string(gi.range_start) + ", " + std::to_string(gi.range_end) + ")");
    next_start = gi.range_end;
    if (i + 1 == coll->second.groups.size() && gi.range_end != 0)
      return bad("the last group " + std::to_string(gi.id) + " ends at " + std::to_string(gi.range_end) +
                 ", not at the end of the key space");
  }
  for (const auto& [id, g] : map->groups) {
    const std::string gs = "group " + std::to_string(id);
    if (g.split_from != 0) return bad(gs + " is still being split off group " + std::to_string(g.split_from));
    if (std::find(coll->second.groups.begin(), coll->second.groups.end(), id) == coll->second.groups.end())
      return bad(gs + " is in the map but not among the collection's groups");
    if (!g.target.empty()) return bad(gs + " is still moving from " + List(g.replicas) + " to " + List(g.target));
    if (!g.learners.empty()) return bad(gs + " still has the learners " + List(g.learners));
    if (g.replicas.size() != kReplication) return bad(gs + " has the voters " + List(g.replicas));
    uint64_t applied = 0, first = 0;
    for (uint64_t w : g.replicas) {
      const WorkerSim& ws = workers_[w - 1];
      if (!ws.node) return bad(gs + " has a voter on worker " + std::to_string(w) + ", which is down");
      if (!ws.node->host().HasGroup(id)) return bad(gs + ": its voter worker " + std::to_string(w) + " does not host it");
      GroupStatus st = ws.node->host().group_status(id);
      const ShardStateMachine* sm = ws.node->shard(id);
      const ShardRoute route = sm ? sm->route() : ShardRoute{};
      if (!sm || route.start != g.range_start || route.end != g.range_end || route.epoch != g.epoch)
        return bad(gs + " on worker " + std::to_string(w) + " has the route [" + std::to_string(route.start) + ", " +
                   std::to_string(route.end) + ") epoch " + std::to_string(route.epoch) + ", the map [" +
                   std::to_string(g.range_start) + ", " + std::to_string(g.range_end) + ") epoch " +
                   std::to_string(g.epoch));
      if (List(st.conf.voters) != List(g.replicas) || !st.conf.learners.empty())
        return bad(gs + " on worker " + std::to_string(w) + " has the Raft voters " + List(st.conf.voters) +
                   " and learners " + List(st.conf.learners) + ", the map " + List(g.replicas));
      if (first == 0) {
        first = w;
        applied = st.applied;
      } else if (st.applied != applied) {
        return bad("replicas of " + gs + " did not converge: worker " + std::to_string(w) + " at " +
                   std::to_string(st.applied) + ", worker " + std::to_string(first) + " at " + std::to_string(applied));
      }
    }
  }
  for (const WorkerSim& w : workers_) {
    if (!w.node) continue;
    for (uint64_t id : w.node->host().groups()) {
      auto g = map->groups.find(id);
      if (g == map->groups.end() || std::find(g->second.replicas.begin(), g->second.replicas.end(), w.id) ==
                                        g->second.replicas.end())
        return bad("worker " + std::to_string(w.id) + " hosts group " + std::to_string(id) + ", not a voter of it");
    }
  }
  return true;
}

void ClusterSimulation::CheckLeaders() {
  for (WorkerSim& w : workers_) {
    if (!w.node) continue;
    for (uint64_t g : w.node->host().groups()) {
      GroupStatus st = w.node->host().group_status(g);
      if (st.role != raft::Role::kLeader) continue;
      auto [it, inserted] = leader_of_.emplace(std::make_pair(g, st.term), w.id);
      if (inserted) ++stats_.leaders;
      else if (it->second != w.id)
        Fail("two leaders of group " + std::to_string(g) + " in term " + std::to_string(st.term) + ": workers " +
             std::to_string(it->second) + " and " + std::to_string(w.id));
    }
  }
}

// After the fault-free phase, PD's leader balancing has spread the groups' leaders: the
// leader counts of the live workers hosting groups differ by at most one.
bool ClusterSimulation::CheckLeadersSpread(bool report) {
  std::map<uint64_t, int> leads;
  for (WorkerSim& w : workers_) {
    if (!w.node || w.node->host().groups().empty()) continue;  // Leaders only where groups are.
    leads[w.id] += 0;
    for (uint64_t g : w.node->host().groups())
      if (w.node->host().group_status(g).role == raft::Role::kLeader) ++leads[w.id];
  }
  int lo = INT32_MAX, hi = 0;
  std::string counts;
  for (auto& [w, n] : leads) {
    lo = std::min(lo, n);
    hi = std::max(hi, n);
    counts += " worker " + std::to_string(w) + ": " + std::to_string(n);
  }
  if (hi - lo <= 1) return true;
  if (report) Fail("leaders not spread after the faults stopped:" + counts);
  return false;
}

// After the settle: one linearizable get of every key through the gateway (retried while
// unavailable), recorded in the history as a client of its own, so the linearizability
// check vouches for it. Its values are what CheckPlacement expects the groups to hold.
// False (and a failure) if it never succeeds.
bool ClusterSimulation::FinalRead() {
  std::vector<std::string> ids;
  for (int k = 0; k < keys_; ++k) ids.push_back(Id(k));
  const uint64_t client = clients_.size() + 1;
  // The clients' last operations finish first (a write still retried by the gateway may
  // apply after the read: the read would not be the final state).
  auto busy = [this] {
    return std::any_of(clients_.begin(), clients_.end(), [](const Client& c) { return c.busy; });
  };
  for (int i = 0; i < 1000 && busy() && !failed_; ++i, ++step_, ++stats_.settle_steps) Step();
  if (busy()) {
    Fail("a client's operation did not finish after the faults stopped");
    return false;
  }
  for (int attempt = 0; attempt < 10 && !failed_; ++attempt) {
    auto state = std::make_shared<std::pair<bool, bool>>(false, false);  // Answered, succeeded.
    auto& [done, ok] = *state;
    const uint64_t call = Event();
    gateway_->Get(kCollection, ids, GetOptions{false, true}, ReadOptions{},
                  [this, state, client, call](Result<std::vector<std::optional<Point>>> r) {
                    state->first = true;
                    if (!r.ok()) {
                      if (r.status().code() != StatusCode::kUnavailable)
                        Fail("the final get failed unexpectedly: " + r.status().ToString());
                      return;
                    }
                    const uint64_t ret = Event();
                    for (int k = 0; k < keys_; ++k) {
                      const auto& p = (*r)[static_cast<size_t>(k)];
                      final_values_[k] = p ? ValueOf(p->metadata) : 0;
                      history_.push_back(raft::sim::KvOp{client, static_cast<uint64_t>(k), false, final_values_[k], call, ret});
                    }
                    state->second = true;
                    std::string vals;
                    for (const auto& [k, v] : final_values_) vals += " " + std::to_string(k) + "=" + std::to_string(v);
                    Trace("the final read:" + vals);
                  });
    for (int i = 0; i < 1000 && !done && !failed_; ++i, ++step_, ++stats_.settle_steps) Step();
    if (ok) return true;
    if (!done) break;  // The gateway answers every call by its deadline.
  }
  Fail("the final get of every key did not succeed");
  return false;
}

// At the end, with the map settled (CheckMembership): every point is stored by exactly one
// group, whose range holds its route key, on every replica of it, with the value the final
// read returned; each replica's point count is what it stores; and the groups' counts sum
// to the live ids of the final read.
void ClusterSimulation::CheckPlacement() {
  const ClusterMap* map = LeaderMap();
  const CollectionInfo& coll = map->collections.at(kCollection);
  std::map<std::string, uint64_t> group_of;  // point id -> group storing it
  uint64_t stored = 0;
  for (uint64_t id : coll.groups) {
    const GroupInfo& g = map->groups.at(id);
    const std::string gs = "group " + std::to_string(id);
    bool first = true;
    for (uint64_t w : g.replicas) {
      ShardStateMachine* sm = workers_[w - 1].node->shard(id);
      const std::string where = gs + " on worker " + std::to_string(w);
      auto page = sm->shard()->Scroll("", 1000, GetOptions{false, true});
      auto stats = sm->shard()->Stats();
      if (!page.ok() || !stats.ok()) return Fail(where + ": cannot read its shard");
      if (stats->count != page->points.size())
        return Fail(where + " counts " + std::to_string(stats->count) + " points and stores " +
                    std::to_string(page->points.size()));
      for (const Point& p : page->points) {
        const uint64_t key = RouteKey(p.id, kShards);
        if (!RangeHolds(g.range_start, g.range_end, key))
          return Fail(where + " stores \"" + p.id + "\" (route key " + std::to_string(key) + ") outside its range [" +
                      std::to_string(g.range_start) + ", " + std::to_string(g.range_end) + ")");
        int k = std::atoi(p.id.c_str() + 1);
        if (p.id != Id(k) || k < 0 || k >= keys_) return Fail(where + " stores the unexpected id \"" + p.id + "\"");
        if (ValueOf(p.metadata) != final_values_[k])
          return Fail(where + " stores " + p.id + "=" + std::to_string(ValueOf(p.metadata)) + ", the final read " +
                      std::to_string(final_values_[k]));
        if (!first) continue;
        auto [it, inserted] = group_of.emplace(p.id, id);
        if (!inserted)
          return Fail("\"" + p.id + "\" is stored by group " + std::to_string(it->second) + " and by " + gs);
      }
      if (first) stored += page->points.size();
      first = false;
    }
  }
  uint64_t live = 0;
  std::string missing;
  for (const auto& [k, v] : final_values_) {
    live += v != 0 ? 1 : 0;
    if (v != 0 && !group_of.count(Id(k)))
      missing += " " + Id(k) + " (route key " + std::to_string(RouteKey(Id(k), kShards)) + ")";
  }
  if (stored != live)
    return Fail("the groups store " + std::to_string(stored) + " points, the final read found " + std::to_string(live) +
                "; not stored:" + missing);
}

void ClusterSimulation::Step() {
  now_ms_ = step_ * kStepMs;
  if (step_ == liveness_from_) Trace("liveness phase: faults stop, partitions heal, nodes restart");
  FaultsStep();
  Deliver();
  RunNodes();
  RunExecutors();
  ClientsStep();
  CheckLeaders();
  ObserveMoves();
  if (step_ % 10 == 0) CheckReplicas(false);
}

ClusterSimResult ClusterSimulation::Run() {
  Setup();
  auto step = [this] { Step(); };
  for (step_ = 1; step_ <= opt_.steps && !failed_; ++step_) step();
  if (!failed_) {
    if (!collection_ready_) Fail("liveness: the collection was never created");
    else if (liveness_from_ < opt_.steps && writes_ok_in_liveness_ == 0)
      Fail("liveness: no write completed after the faults stopped");
  }
  if (!failed_ && liveness_from_ < opt_.steps) {
    // Moves planned late (a repair after a death late in the safety phase) may need more
    // time: the run goes on, fault-free and without clients, until everything settled.
    // Splits in progress (and any PD starts meanwhile) finish too.
    const uint64_t last = opt_.steps + kSettleStepsMax;
    auto settle = [&] {
      while (!failed_ && step_ <= last && !(CheckMembership(false) && CheckLeadersSpread(false)))
        for (int i = 0; i < 10 && !failed_; ++i, ++step_, ++stats_.settle_steps) step();
    };
    settle();
    // The final read, then the settle again (PD may have started a split meanwhile), twice:
    // a write the gateway gave up on (unknown outcome) may still commit after the first
    // read; the second, after the cluster settled again, is what the groups must store.
    for (int i = 0; i < 2 && !failed_ && FinalRead(); ++i) settle();
    if (!failed_) CheckReplicas(false);
    if (!failed_ && CheckMembership(true) && CheckLeadersSpread(true)) CheckPlacement();
    if (failed_) TraceGroups();
  }
  if (!failed_) {
    raft::sim::LinReport lr = raft::sim::CheckLinearizable(history_);
    stats_.lin_keys_inconclusive = lr.keys_inconclusive;
    if (lr.result == raft::sim::LinResult::kViolation) Fail("linearizability violation:\n" + lr.detail);
  }
  for (auto& w : workers_) {
    CollectWorkerStats(w);
    stats_.replicas_recreated += w.store.tombstones_restored();  // The store outlives crashes.
  }
  ClusterSimResult r;
  r.ok = !failed_;
  r.failure = failure_;
  r.config = config_;
  r.stats = stats_;
  if (failed_)
    for (const std::string& l : trace_) r.trace_tail += l + "\n";
  return r;
}

}  // namespace

ClusterSimResult RunClusterSimulation(const ClusterSimOptions& options) {
  return ClusterSimulation(options).Run();
}

}  // namespace vectron::net::cluster::sim
