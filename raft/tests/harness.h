// A tiny in-memory cluster for interaction tests: nodes over MemoryStorage, a message queue
// delivered in FIFO order, and per-link cuts. Every Ready is handled in the documented order.
#pragma once

#include <doctest/doctest.h>

#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raw_node.h"

namespace vectron::raft {

// "prefix" + decimal i. (Avoids `"lit" + std::to_string(i)`, which trips g++ 12's bogus
// -Wrestrict warning at -O2 and above.)
inline std::string Cat(const char* prefix, uint64_t i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

namespace testing {

// A fresh temporary directory, removed on destruction.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/raft-test-XXXXXX";
    char* p = mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

struct TestNode {
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<RawNode> node;
  std::vector<Entry> applied;          // Every committed entry applied, in order.
  std::vector<ReadState> read_states;  // Every ReadState seen.
  Snapshot installed;                  // Last snapshot installed.
};

class Cluster {
 public:
  // Nodes 1..n, bootstrapped with voters 1..n. `tweak` adjusts each node's Config.
  explicit Cluster(int n, std::function<void(Config&)> tweak = {}) : tweak_(std::move(tweak)) {
    ConfState cs;
    for (int i = 1; i <= n; ++i) cs.voters.push_back(static_cast<uint64_t>(i));
    for (uint64_t id : cs.voters) {
      auto st = std::make_unique<MemoryStorage>();
      REQUIRE(Bootstrap(*st, cs).ok());
      Add(id, std::move(st));
    }
  }

  // Adds node `id` over `storage` (empty storage = a joining node with no membership).
  void Add(uint64_t id, std::unique_ptr<MemoryStorage> storage) {
    TestNode& t = nodes_[id];
    t.storage = std::move(storage);
    Start(id);
  }

  // Restarts `id` from its storage, dropping all volatile state (a crash).
  void Restart(uint64_t id) { Start(id); }

  Config MakeConfig(uint64_t id) {
    Config c;
    c.id = id;
    c.election_ticks = 10;
    c.heartbeat_ticks = 1;
    c.seed = 42;
    Snapshot s;
    (void)nodes_[id].storage->GetSnapshot(&s);
    c.applied = s.metadata.index;
    if (tweak_) tweak_(c);
    return c;
  }

  RawNode& operator[](uint64_t id) { return *nodes_.at(id).node; }
  TestNode& node(uint64_t id) { return nodes_.at(id); }

  // Handles Ready on every node, queueing messages.
  void Process() {
    for (auto& [id, t] : nodes_) {
      while (t.node->HasReady()) {
        Ready rd = t.node->GetReady();
        if (!rd.snapshot.empty()) {
          REQUIRE(t.storage->ApplySnapshot(rd.snapshot).ok());
          t.installed = rd.snapshot;
        }
        REQUIRE(t.storage->Append(rd.entries).ok());
        if (rd.hard_state) REQUIRE(t.storage->SetHardState(*rd.hard_state).ok());
        for (Message& m : rd.messages) queue_.push_back(std::move(m));
        for (const Entry& e : rd.committed_entries) t.applied.push_back(e);
        for (const ReadState& r : rd.read_states) t.read_states.push_back(r);
        t.node->Advance(rd);
      }
    }
  }

  // Delivers queued messages (and the ones they cause) until none are left. Returns the
  // number delivered. Messages over cut links are dropped; `filter` may drop more.
  int Stabilize(const std::function<bool(const Message&)>& filter = {}) {
    int delivered = 0;
    Process();
    for (int guard = 0; guard < 100000 && !queue_.empty(); ++guard) {
      Message m = std::move(queue_.front());
      queue_.pop_front();
      if (cut_.count({m.from, m.to}) || !nodes_.count(m.to) || (filter && !filter(m))) continue;
      log_.push_back(m);
      ++delivered;
      REQUIRE(nodes_[m.to].node->Step(m).ok());
      Process();
    }
    return delivered;
  }

  // Cuts (or restores) both directions between `id` and every other node.
  void Isolate(uint64_t id, bool on = true) {
    for (auto& [o, t] : nodes_) {
      if (o == id) continue;
      Cut(id, o, on);
      Cut(o, id, on);
    }
  }
  void Cut(uint64_t from, uint64_t to, bool on = true) {
    if (on) {
      cut_.insert({from, to});
    } else {
      cut_.erase({from, to});
    }
  }
  void Heal() { cut_.clear(); }

  // Ticks every node `n` times, stabilizing after each tick.
  void TickAll(int n) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, t] : nodes_) t.node->Tick();
      Stabilize();
    }
  }
  void Tick(uint64_t id, int n) {
    for (int i = 0; i < n; ++i) nodes_[id].node->Tick();
  }

  // Messages delivered so far (cleared by ClearLog).
  const std::vector<Message>& log() const { return log_; }
  void ClearLog() { log_.clear(); }
  std::deque<Message>& queue() { return queue_; }

  int CountDelivered(MessageType t) const {
    int n = 0;
    for (const Message& m : log_) n += m.type == t;
    return n;
  }

  // Elects `id` (campaign, then deliver everything).
  void Elect(uint64_t id) {
    (*this)[id].Campaign();
    Stabilize();
    REQUIRE((*this)[id].role() == Role::kLeader);
  }

  std::map<uint64_t, TestNode>& nodes() { return nodes_; }

 private:
  void Start(uint64_t id) {
    TestNode& t = nodes_[id];
    t.node.reset();
    REQUIRE(RawNode::Create(MakeConfig(id), t.storage.get(), &t.node).ok());
  }

  std::function<void(Config&)> tweak_;
  std::map<uint64_t, TestNode> nodes_;
  std::deque<Message> queue_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::vector<Message> log_;
};

// Data of applied normal entries with nonempty data.
inline std::vector<std::string> AppliedData(const TestNode& t) {
  std::vector<std::string> out;
  for (const Entry& e : t.applied)
    if (e.type == EntryType::kNormal && !e.data.empty()) out.push_back(e.data);
  return out;
}

}  // namespace testing
}  // namespace vectron::raft
