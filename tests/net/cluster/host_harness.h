// A small in-memory cluster of RaftHosts for unit tests: a FIFO transport with per-link
// cuts, SimLogStore disks that survive a "crash", and a key-value state machine whose
// durable copy survives too. Everything runs on the test thread.
#pragma once

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "net/cluster/clock.h"
#include "net/cluster/codec.h"
#include "net/cluster/raft_host.h"
#include "tests/sim/sim_log_store.h"

namespace vectron::net::cluster::testing {

// Concatenates string pieces and numbers. (Avoids `"lit" + std::to_string(i)`, which trips
// g++ 12's bogus -Wrestrict warning at -O2.)
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string s;
  auto add = [&s](const auto& p) {
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(p)>>) {
      s += std::to_string(p);
    } else {
      s += p;
    }
  };
  (add(parts), ...);
  return s;
}

// A key-value state machine: entries "key=value". Its durable copy (what a crash keeps) is
// refreshed every `sync_every` applied entries; snapshots carry the durable copy.
struct KvDisk {
  std::map<std::string, std::string> kv;
  uint64_t index = 0;
};

class KvStateMachine final : public StateMachine {
 public:
  KvStateMachine(KvDisk* disk, uint64_t sync_every) : disk_(disk), sync_every_(sync_every) {
    kv_ = disk->kv;
    applied_ = disk->index;
  }
  uint64_t applied_index() const override { return applied_; }
  uint64_t durable_applied_index() const override { return disk_->index; }
  Status Apply(const std::vector<raft::Entry>& entries) override {
    for (const raft::Entry& e : entries) {
      if (e.index <= applied_) continue;
      REQUIRE(e.index == applied_ + 1);
      if (e.type == raft::EntryType::kNormal && !e.data.empty()) {
        size_t eq = e.data.find('=');
        kv_[e.data.substr(0, eq)] = e.data.substr(eq + 1);
      }
      applied_ = e.index;
      if (applied_ >= disk_->index + sync_every_) Sync();
    }
    ++apply_tasks_;
    return Status::OK();
  }
  Result<std::string> SnapshotData(uint64_t index) override {
    REQUIRE(index == disk_->index);
    return Encode(disk_->kv);
  }
  Status InstallSnapshot(const raft::Snapshot& snap) override {
    kv_ = Decode(snap.data);
    applied_ = snap.metadata.index;
    Sync();
    return Status::OK();
  }
  void Sync() {
    disk_->kv = kv_;
    disk_->index = applied_;
  }
  const std::map<std::string, std::string>& kv() const { return kv_; }
  int apply_tasks() const { return apply_tasks_; }

  static std::string Encode(const std::map<std::string, std::string>& kv) {
    ByteWriter w;
    w.U32(static_cast<uint32_t>(kv.size()));
    for (auto& [k, v] : kv) {
      w.Bytes(k);
      w.Bytes(v);
    }
    return w.Take();
  }
  static std::map<std::string, std::string> Decode(const std::string& s) {
    std::map<std::string, std::string> kv;
    if (s.empty()) return kv;
    ByteReader r(s);
    uint32_t n = r.U32();
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      std::string k = r.Bytes(1 << 20);
      kv[k] = r.Bytes(1 << 20);
    }
    return kv;
  }

 private:
  KvDisk* disk_;
  uint64_t sync_every_;
  std::map<std::string, std::string> kv_;
  uint64_t applied_ = 0;
  int apply_tasks_ = 0;
};

// An executor that holds tasks until the test runs them (apply off the loop, deterministic).
class QueueExecutor final : public Executor {
 public:
  void Post(uint64_t, std::function<void()> task) override { q_.push_back(std::move(task)); }
  size_t RunAll() {
    size_t n = 0;
    while (!q_.empty()) {
      auto t = std::move(q_.front());
      q_.pop_front();
      t();
      ++n;
    }
    return n;
  }
  size_t size() const { return q_.size(); }  // Tasks waiting.
  void Clear() { q_.clear(); }

 private:
  std::deque<std::function<void()>> q_;
};

class HostCluster : public Transport {
 public:
  struct Node {
    uint64_t id = 0;
    sim::SimLogStore store;
    std::map<uint64_t, KvDisk> disks;  // per group
    LoopQueue loop;
    QueueExecutor executor;
    std::unique_ptr<RaftHost> host;
    std::map<uint64_t, KvStateMachine*> sms;
    std::vector<std::pair<uint64_t, raft::ReadState>> reads;  // (group, read state) served
    std::vector<std::pair<uint64_t, std::string>> refused;    // (group, context) refused
  };

  HostCluster(int nodes, std::vector<uint64_t> groups, RaftHostOptions options, uint64_t sync_every = 1)
      : groups_(std::move(groups)), options_(std::move(options)), sync_every_(sync_every) {
    for (int i = 1; i <= nodes; ++i) conf_.voters.push_back(static_cast<uint64_t>(i));
    for (uint64_t id : conf_.voters) {
      nodes_[id].id = id;
      Start(id);
    }
  }

  void Start(uint64_t id) {
    Node& n = nodes_[id];
    RaftHost::Callbacks cb;
    cb.on_read_state = [&n](uint64_t g, const raft::ReadState& rs) { n.reads.emplace_back(g, rs); };
    cb.on_read_refused = [&n](uint64_t g, const std::string& context, const Status&) {
      n.refused.emplace_back(g, context);
    };
    n.host = std::make_unique<RaftHost>(NodeId{NodeKind::kWorker, id}, options_, clock_, *this, n.store, n.executor,
                                        n.loop, cb);
    n.sms.clear();
    for (uint64_t g : groups_) {
      auto sm = std::make_unique<KvStateMachine>(&n.disks[g], sync_every_);
      n.sms[g] = sm.get();
      REQUIRE(n.host->AddGroup(g, std::move(sm), &conf_).ok());
    }
  }
  // Loses everything but the log store and the synced state machine copies.
  void Crash(uint64_t id) {
    Node& n = nodes_[id];
    n.executor.Clear();
    n.loop.Clear();
    n.host.reset();
    n.sms.clear();
    n.reads.clear();
    n.refused.clear();
  }

  void Send(const NodeId& to, Envelope msg) override {
    ++sent_;
    if (std::holds_alternative<RaftBatch>(msg)) {
      batches_per_link_[{sender_, to.id}]++;
      for (const GroupMessage& gm : std::get<RaftBatch>(msg).messages) ++raft_sent_[{sender_, gm.msg.type}];
      queue_.push_back({sender_, to.id, std::move(std::get<RaftBatch>(msg))});
    }
  }
  void Cut(uint64_t a, uint64_t b) { cut_.insert({a, b}), cut_.insert({b, a}); }
  // A node whose tasks are held stays busy (its groups' applies do not run) until released.
  void HoldTasks(uint64_t id) { held_.insert(id); }
  void ReleaseTasks(uint64_t id) { held_.erase(id); }
  void Heal() { cut_.clear(); }

  // One round: every node runs one loop, then every message is delivered, every task run.
  void Round(uint64_t advance_ms = 10) {
    clock_.Advance(advance_ms);
    for (auto& [id, n] : nodes_) {
      if (!n.host) continue;
      sender_ = id;
      REQUIRE(n.host->RunOnce().ok());
    }
    std::deque<Pending> q;
    q.swap(queue_);
    for (Pending& p : q) {
      Node& n = nodes_[p.to];
      if (!n.host || cut_.count({p.from, p.to})) continue;
      n.host->Receive(NodeId{NodeKind::kWorker, p.from}, std::move(p.batch));
    }
    for (auto& [id, n] : nodes_)
      if (!held_.count(id)) n.executor.RunAll();
  }
  void Rounds(int n, uint64_t advance_ms = 10) {
    for (int i = 0; i < n; ++i) Round(advance_ms);
  }
  // The leader of `group`, or 0.
  uint64_t Leader(uint64_t group) {
    for (auto& [id, n] : nodes_)
      if (n.host && n.host->group_status(group).role == raft::Role::kLeader) return id;
    return 0;
  }
  // Runs until every group has a leader (or fails after `max_rounds`).
  void ElectAll(int max_rounds = 500) {
    for (int i = 0; i < max_rounds; ++i) {
      bool all = true;
      for (uint64_t g : groups_) all = all && Leader(g) != 0;
      if (all) return;
      Round(50);
    }
    FAIL("no leader for every group");
  }

  Node& node(uint64_t id) { return nodes_[id]; }
  ManualClock& clock() { return clock_; }
  uint64_t sent() const { return sent_; }
  // Raft messages of `type` node `from` has sent.
  uint64_t raft_sent(uint64_t from, raft::MessageType type) const {
    auto it = raft_sent_.find({from, type});
    return it == raft_sent_.end() ? 0 : it->second;
  }
  std::map<std::pair<uint64_t, uint64_t>, uint64_t>& batches_per_link() { return batches_per_link_; }

 private:
  struct Pending {
    uint64_t from, to;
    RaftBatch batch;
  };
  std::vector<uint64_t> groups_;
  RaftHostOptions options_;
  uint64_t sync_every_;
  raft::ConfState conf_;
  ManualClock clock_{1000};
  std::map<uint64_t, Node> nodes_;
  std::deque<Pending> queue_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::set<uint64_t> held_;
  std::map<std::pair<uint64_t, raft::MessageType>, uint64_t> raft_sent_;
  uint64_t sender_ = 0;
  uint64_t sent_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> batches_per_link_;
};

}  // namespace vectron::net::cluster::testing
