// The simulator's I/O: per-node clocks with skew, a network that delays, drops, duplicates
// and partitions, and executors that run tasks in posting order at simulated times. All of
// it is driven by the simulation's one seeded Rng, so a seed replays a run exactly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <utility>
#include <vector>

#include "net/cluster/clock.h"
#include "net/cluster/executor.h"
#include "net/cluster/transport.h"
#include "net/cluster/wire.h"

namespace vectron::net::cluster::sim {

// A node's monotonic clock: the simulated time scaled by the node's rate (skew). Changing
// the rate keeps it monotonic.
class SimClock final : public Clock {
 public:
  explicit SimClock(const uint64_t* sim_now_ms) : sim_now_ms_(sim_now_ms) {}
  uint64_t NowMs() const override {
    return offset_ms_ + static_cast<uint64_t>(static_cast<double>(*sim_now_ms_ - base_ms_) * rate_);
  }
  void SetRate(double rate) {
    offset_ms_ = NowMs();
    base_ms_ = *sim_now_ms_;
    rate_ = rate;
  }
  double rate() const { return rate_; }

 private:
  const uint64_t* sim_now_ms_;
  uint64_t offset_ms_ = 1'000'000;  // Clocks do not start at 0.
  uint64_t base_ms_ = 0;
  double rate_ = 1.0;
};

// Tasks run in posting order (so each queue's order holds) when the simulation says.
class SimExecutor final : public Executor {
 public:
  void Post(uint64_t queue, std::function<void()> task) override { q_.emplace_back(queue, std::move(task)); }
  // Runs up to `n` tasks, in order, skipping those of a queue whose task is running (a run
  // from inside a task: the simulator pauses a split's apply and runs the cluster meanwhile;
  // tasks of one queue run one at a time, as the real executor's). Returns how many ran.
  size_t Run(size_t n) {
    size_t ran = 0;
    const size_t limit = std::min(n, q_.size());
    while (ran < limit) {
      auto it = std::find_if(q_.begin(), q_.end(), [this](const auto& t) { return !running_.count(t.first); });
      if (it == q_.end()) break;
      auto [queue, task] = std::move(*it);
      q_.erase(it);
      running_.insert(queue);
      task();
      running_.erase(queue);
      ++ran;
    }
    return ran;
  }
  size_t size() const { return q_.size(); }
  void Clear() { q_.clear(); }

 private:
  std::deque<std::pair<uint64_t, std::function<void()>>> q_;
  std::set<uint64_t> running_;
};

struct NetFaults {
  double drop = 0;
  double duplicate = 0;
  double long_delay = 0;   // Probability of an extra 100-800 ms (reordering).
  uint64_t delay_max_ms = 30;
};

// Messages in flight between simulated nodes, delivered in (time, send order).
class SimNetwork {
 public:
  struct InFlight {
    uint64_t at_ms;
    uint64_t seq;
    NodeId from, to;
    Envelope msg;
  };
  SimNetwork(Rng& rng, const uint64_t* now_ms) : rng_(rng), now_ms_(now_ms) {}

  void Send(const NodeId& from, const NodeId& to, Envelope msg) {
    ++sent_;
    if (Blocked(from, to) || rng_.Chance(faults.drop)) return;
    if (rng_.Chance(faults.duplicate)) q_.push(InFlight{*now_ms_ + Delay(), ++seq_, from, to, msg});
    q_.push(InFlight{*now_ms_ + Delay(), ++seq_, from, to, std::move(msg)});
  }
  // Pops every message due by now whose link is open (the rest due are dropped).
  std::vector<InFlight> Due() {
    std::vector<InFlight> out;
    while (!q_.empty() && q_.top().at_ms <= *now_ms_) {
      InFlight f = std::move(const_cast<InFlight&>(q_.top()));
      q_.pop();
      if (!Blocked(f.from, f.to)) out.push_back(std::move(f));
    }
    return out;
  }
  bool Blocked(const NodeId& a, const NodeId& b) const { return blocked_.count({a, b}) > 0; }
  void Block(const NodeId& a, const NodeId& b) { blocked_.insert({a, b}); }
  void Heal() { blocked_.clear(); }
  bool partitioned() const { return !blocked_.empty(); }
  uint64_t sent() const { return sent_; }
  NetFaults faults;

 private:
  struct Later {
    bool operator()(const InFlight& a, const InFlight& b) const {
      return a.at_ms != b.at_ms ? a.at_ms > b.at_ms : a.seq > b.seq;
    }
  };
  uint64_t Delay() {
    uint64_t delay = rng_.Range(1, std::max<uint64_t>(1, faults.delay_max_ms));
    if (rng_.Chance(faults.long_delay)) delay += rng_.Range(100, 800);
    return delay;
  }
  Rng& rng_;
  const uint64_t* now_ms_;
  std::priority_queue<InFlight, std::vector<InFlight>, Later> q_;
  std::set<std::pair<NodeId, NodeId>> blocked_;
  uint64_t seq_ = 0;
  uint64_t sent_ = 0;
};

// A node's Transport: sends through the network as `self`. Every message goes through the
// wire encoding (net/schema/cluster.fbs) and back, as between real processes.
class NodeTransport final : public Transport {
 public:
  NodeTransport(SimNetwork& net, NodeId self) : net_(net), self_(self) {}
  void Send(const NodeId& to, Envelope msg) override {
    NodeId from;
    Envelope decoded;
    Status s = DecodeEnvelope(EncodeEnvelope(self_, msg), &from, &decoded);
    VECTRON_CHECK(s.ok() && from == self_);
    net_.Send(self_, to, std::move(decoded));
  }

 private:
  SimNetwork& net_;
  NodeId self_;
};

}  // namespace vectron::net::cluster::sim
