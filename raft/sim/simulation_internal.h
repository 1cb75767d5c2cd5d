// The Raft simulator's internals (simulation.h is its interface): the simulated nodes,
// clients and network, and the Simulation class, whose driver is in simulation.cc and whose
// invariant checks are in simulation_checks.cc. Included by nothing else.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "raft/sim/linearizability.h"
#include "raft/sim/simulation.h"

namespace vectron::raft::sim::detail {

constexpr int kStepsPerTick = 10;

// xoshiro-style PRNG: one per simulation, so a seed replays exactly.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  uint64_t Range(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0) < p; }

 private:
  uint64_t s_;
};

inline void PutU64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline uint64_t GetU64(const std::string& s, size_t off) {
  uint64_t v = 0;
  for (int i = 0; i < 8 && off + i < s.size(); ++i) v |= uint64_t{static_cast<uint8_t>(s[off + i])} << (8 * i);
  return v;
}

inline uint64_t HashEntry(const Entry& e) {
  uint64_t h = 1469598103934665603ull ^ e.term ^ (uint64_t{static_cast<uint8_t>(e.type)} << 56);
  for (char c : e.data) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

// A write command: client, seq, key, value.
struct Command {
  uint64_t client, seq, key, value;
  std::string Encode() const {
    std::string s;
    PutU64(s, client);
    PutU64(s, seq);
    PutU64(s, key);
    PutU64(s, value);
    return s;
  }
  static bool Decode(const std::string& s, Command* c) {
    if (s.size() != 32) return false;
    *c = Command{GetU64(s, 0), GetU64(s, 8), GetU64(s, 16), GetU64(s, 24)};
    return true;
  }
};

// The replicated state machine: registers plus per-client sessions (dedupe of duplicates).
struct KvState {
  std::map<uint64_t, uint64_t> kv;
  std::map<uint64_t, uint64_t> sessions;  // client -> last applied seq

  std::string Serialize() const {
    std::string s;
    PutU64(s, kv.size());
    for (auto& [k, v] : kv) {
      PutU64(s, k);
      PutU64(s, v);
    }
    PutU64(s, sessions.size());
    for (auto& [c, q] : sessions) {
      PutU64(s, c);
      PutU64(s, q);
    }
    return s;
  }
  static KvState Parse(const std::string& s) {
    KvState st;
    if (s.empty()) return st;
    size_t off = 0;
    uint64_t n = GetU64(s, off);
    off += 8;
    for (uint64_t i = 0; i < n; ++i, off += 16) st.kv[GetU64(s, off)] = GetU64(s, off + 8);
    n = GetU64(s, off);
    off += 8;
    for (uint64_t i = 0; i < n; ++i, off += 16) st.sessions[GetU64(s, off)] = GetU64(s, off + 8);
    return st;
  }
};

struct PendingRead {
  uint64_t client, seq, key, index;
};

struct SimNode {
  uint64_t id = 0;
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<RawNode> raft;  // Null while crashed.
  int period = kStepsPerTick;     // Steps per tick (clock skew).
  int accum = 0;
  bool removed = false;           // Removal committed and the node shut down for good.
  uint64_t removal_proposed_at = 0;  // A RemoveVoter for it was proposed (0 = none).
  uint64_t down_until = 0;
  // The state machine's own durable copy (survives crashes, like storage), used when the seed
  // has the state machine sync lazily (sm_sync_every_ > 0): the state after synced_index.
  KvState synced_state;
  ConfState synced_conf;
  uint64_t synced_index = 0;
  // Volatile application state.
  KvState state;
  ConfState applied_conf;
  uint64_t applied_index = 0;
  std::map<std::pair<uint64_t, uint64_t>, bool> pending_writes;  // (client, seq)
  std::map<std::string, PendingRead> reads_waiting_index;
  std::vector<PendingRead> reads_waiting_apply;
  Role last_role = Role::kFollower;
  uint64_t last_term = 0;
  bool started = false;  // Started at least once (a later start is a restart).
  bool up() const { return raft != nullptr; }
};

struct Client {
  uint64_t id = 0;
  uint64_t seq = 0;
  bool busy = false;
  uint64_t issued = 0;
  size_t op = 0;  // Index into history.
  uint64_t key = 0;
  uint64_t leader_hint = kNone;
  uint64_t idle_until = 0;
};

struct InFlight {
  uint64_t at;
  uint64_t seq;
  Message m;
};
struct InFlightLater {
  bool operator()(const InFlight& a, const InFlight& b) const { return a.at != b.at ? a.at > b.at : a.seq > b.seq; }
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& o) : opt_(o), rng_(o.seed) {}

  SimResult Run();
  BenchResult Bench(const BenchOptions& b);

 private:
  void Setup();
  void Trace(const std::string& line, bool verbose = false);
  void Fail(const std::string& why);
  Config MakeConfig(uint64_t id, uint64_t applied);
  void StartNode(SimNode& n);
  void CrashNode(SimNode& n);
  SimNode* Node(uint64_t id);
  SimNode* Leader();
  void Send(const Message& m);
  void DeliverMessages();
  void TickNodes();
  void HandleReadys();
  void HandleReady(SimNode& n);
  void ApplyEntry(SimNode& n, const Entry& e);
  void SyncStateMachine(SimNode& n);
  void ServeReads(SimNode& n);
  void ClientsStep();
  void CompleteOp(uint64_t client, uint64_t seq, uint64_t value);
  void FaultsStep();
  void MembershipStep();
  // Election safety, log matching, leader completeness and committed entries, after each step.
  void CheckInvariants();
  // After the run: the cluster recovered (liveness) and the history is linearizable.
  void CheckFinal();
  bool Blocked(uint64_t from, uint64_t to) const { return blocked_.count({from, to}) > 0; }
  uint64_t Event() { return ++event_; }

  SimOptions opt_;
  Rng rng_;
  bool failed_ = false;
  std::string failure_;
  std::deque<std::string> trace_;
  uint64_t now_ = 0;
  uint64_t event_ = 0;
  SimStats stats_;
  std::string config_line_;

  // Randomized per seed.
  double drop_p_ = 0, dup_p_ = 0, long_delay_p_ = 0;
  uint64_t max_delay_ = 3;
  int skew_ = 0;
  bool pre_vote_ = true, check_quorum_ = true, lease_ = false;
  uint64_t max_entries_per_msg_ = 0;
  size_t max_inflight_ = 64;
  uint64_t chunk_bytes_ = 64;
  uint64_t compact_after_ = 30;
  // 0: the state machine's state lives in the log's snapshot (restarts from it). N > 0: the
  // state machine syncs its own copy every N applied entries, like a kNoSync shard; it
  // restarts from that copy (applied may be past the snapshot) and compaction stops at it.
  uint64_t sm_sync_every_ = 0;
  double crash_p_ = 0, partition_p_ = 0, conf_p_ = 0, transfer_p_ = 0;
  bool storm_ = false;
  uint64_t liveness_from_ = 0;
  uint64_t next_id_ = 1;

  std::map<uint64_t, SimNode> nodes_;
  std::vector<Client> clients_;
  std::vector<KvOp> history_;
  std::vector<bool> op_failed_;
  std::priority_queue<InFlight, std::vector<InFlight>, InFlightLater> net_;
  uint64_t msg_seq_ = 0;
  std::set<std::pair<uint64_t, uint64_t>> blocked_;
  uint64_t heal_at_ = 0;

  // Checker state.
  std::map<uint64_t, uint64_t> leader_of_term_;
  std::map<std::pair<uint64_t, uint64_t>, std::pair<uint64_t, uint64_t>> entry_seen_;  // (i,t) -> (hash, prev term)
  // index -> {entry term, lowest node term at which it was seen committed}.
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> committed_term_;
  std::map<uint64_t, uint64_t> applied_hash_;    // index -> hash
  uint64_t writes_ok_at_liveness_ = 0;
  uint64_t writes_ok_after_liveness_ = 0;

  // Bench.
  bool bench_ = false;
  std::map<uint64_t, uint64_t> bench_proposed_at_;  // seq -> step
  std::vector<uint64_t> bench_latencies_;
};

}  // namespace vectron::raft::sim::detail
