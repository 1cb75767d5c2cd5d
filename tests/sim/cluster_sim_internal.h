// The cluster simulation's internals (cluster_sim.h is its interface): its parameters, the
// simulated PDs, workers and clients, and the ClusterSimulation class, whose driver is in
// cluster_sim.cc and whose checks are in cluster_sim_checks.cc. Included by nothing else.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "net/cluster/pd_node.h"
#include "net/cluster/router.h"
#include "net/cluster/worker_node.h"
#include "raft/sim/linearizability.h"
#include "tests/sim/cluster_sim.h"
#include "tests/sim/sim_env.h"
#include "tests/sim/sim_log_store.h"

namespace vectron::net::cluster::sim::detail {

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
inline uint64_t ValueOf(const std::string& metadata) {
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
  // Paused (a stopped process): until then its loop and tasks do not run, and messages
  // to it wait (as in its sockets); its clock runs on.
  uint64_t paused_until_ms = 0;
  std::vector<SimNetwork::InFlight> held;
  // Inside one of its tasks (a split's apply the simulator runs the cluster from): it
  // cannot be destroyed there, so a crash meanwhile waits for the task's end (until then
  // the worker is treated as paused: its crash already happened, it does nothing more).
  bool in_task = false;
  const char* crash_deferred = nullptr;
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
    gateway2_.reset();
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
  // Crashes now the workers whose crash waited for their task's end.
  void CrashDeferred();
  // From inside `w`'s apply of a split of `group` (WorkerNodeOptions::on_split_readable):
  // now and then runs the cluster for a while, as if the split's copies took that long.
  void DuringSplitApply(WorkerSim& w, uint64_t group);
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
  // Whether a replica the map places still holds points a split hid (its worker drops
  // them in the background once the split settled: WorkerNode::MaybeDropHidden).
  bool HiddenPointsLeft() const;
  void ObserveMoves();
  bool CheckMembership(bool report);
  void CollectWorkerStats(WorkerSim& w);
  void TraceGroups();
  std::string Digest(Shard& shard);
  NodeId GatewayId(uint64_t id = 1) const { return NodeId{NodeKind::kGateway, id}; }
  // The gateway a client goes through: in half the seeds, clients with an even id use a
  // second gateway, whose map is refreshed on its own (one may route by a map the other
  // has left behind).
  Router& GatewayOf(uint64_t client) { return gateway2_ && client % 2 == 0 ? *gateway2_ : *gateway_; }
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
  std::unique_ptr<SimClock> gw2_clock_;
  std::unique_ptr<SplitMixRng> gw2_rng_;
  std::unique_ptr<NodeTransport> gw2_transport_;
  std::unique_ptr<Router> gateway2_;  // Null in half the seeds.
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
  bool Paused(const WorkerSim& w) const { return now_ms_ < w.paused_until_ms || w.crash_deferred != nullptr; }
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
  // The collection's shards are graphs from their first point (flat_max_points 0), saved
  // every graph_checkpoint_ops_ changes: splits hand graphs over in memory, installs and
  // restarts load saved ones. 0: flat shards. Drawn apart from rng_ (other draws unchanged).
  uint64_t graph_checkpoint_ops_ = 0;
  // Pauses of a worker process (0: none this run), drawn from their own generator (other
  // draws unchanged).
  double pause_p_ = 0;
  std::unique_ptr<SplitMixRng> pause_rng_;
  std::unique_ptr<SplitMixRng> split_apply_rng_;
  bool in_split_apply_ = false;  // The cluster runs from inside a split's apply (no nesting).
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

}  // namespace vectron::net::cluster::sim::detail
