// The Router against scripted replicas: a transport that captures what the router sends,
// a two-shard map, and helpers that answer its map requests and reads. Shared by
// router_test.cc and router_split_test.cc.
#pragma once

#include <doctest/doctest.h>

#include <deque>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "net/cluster/router.h"
#include "tests/net/cluster/host_harness.h"

namespace vectron::net::cluster::testing {

struct Sent {
  NodeId to;
  Envelope msg;
};

class Capture final : public Transport {
 public:
  void Send(const NodeId& to, Envelope msg) override { out.push_back({to, std::move(msg)}); }
  std::deque<Sent> out;
  // Pops the first message of type T (failing the test if none).
  template <typename T>
  std::pair<NodeId, T> Pop() {
    for (auto it = out.begin(); it != out.end(); ++it) {
      if (auto* m = std::get_if<T>(&it->msg)) {
        std::pair<NodeId, T> r{it->to, std::move(*m)};
        out.erase(it);
        return r;
      }
    }
    FAIL("no message of the expected type was sent");
    return {};
  }
  template <typename T>
  size_t Count() const {
    size_t n = 0;
    for (const Sent& s : out) n += std::holds_alternative<T>(s.msg);
    return n;
  }
};

// A map: collection "c" with 2 shards, groups 10 and 11, replicas on workers 1-3.
inline ClusterMap TwoShards(uint64_t version = 5) {
  ClusterMap m;
  m.version = version;
  m.pd_members = {1, 2, 3};
  m.pd_leader = 1;
  for (uint64_t w = 1; w <= 3; ++w) m.workers[w] = WorkerInfo{w, testing::Cat("w", w), true};
  CollectionConfig cfg;
  cfg.dim = 2;
  cfg.shards = 2;
  m.collections["c"] = CollectionInfo{"c", cfg.ToJson(), 3, {10, 11}, "", ""};
  m.groups[10] = GroupInfo{10, "c", 0, 1, {1, 2, 3}, 2, {}, 0, {}, {}, InitialRange(0, 2).first, InitialRange(0, 2).second, 0};
  m.groups[11] = GroupInfo{11, "c", 1, 1, {1, 2, 3}, 3, {}, 0, {}, {}, InitialRange(1, 2).first, InitialRange(1, 2).second, 0};
  return m;
}

struct Fixture {
  ManualClock clock{1000};
  SplitMixRng rng{5};
  Capture net;
  Router router;
  explicit Fixture(RouterOptions options = Options()) : router(options, clock, rng, net) {
    router.RunOnce();  // Asks for the map.
    auto [to, req] = net.Pop<PdMapRequest>();
    CHECK(to.kind == NodeKind::kPd);
    PdMapResponse r;
    r.rpc_id = req.rpc_id;
    r.pd_leader = 1;
    r.map = TwoShards();
    router.Receive(to, r);
    REQUIRE(router.has_map());
  }
  static RouterOptions Options() {
    RouterOptions o;
    o.pd_members = {1, 2, 3};
    o.client_id = 99;
    o.rpc_timeout_ms = 100;
    o.deadline_ms = 1000;
    o.backoff_min_ms = 10;
    o.backoff_max_ms = 40;
    // Reads spread over the replicas: most tests are about where retries and spread reads
    // go; "Router sends a read's first attempt to the group's leader…" turns this on.
    o.reads_at_leader = false;
    return o;
  }
  void Run(uint64_t ms) {
    for (uint64_t t = 0; t < ms; t += 5) {
      clock.Advance(5);
      router.RunOnce();
    }
  }
};

inline WriteBatch OneUpsert(const std::string& id) {
  WriteBatch b;
  std::vector<float> v = {1, 2};
  b.Upsert(id, v);
  return b;
}

// Answers the search read `req` (sent to `to`) with `hits` at `applied`, or "unchanged".
inline void AnswerSearch(Fixture& f, const NodeId& to, const ShardReadRequest& req, uint64_t applied, std::vector<Hit> hits,
                  bool unchanged = false) {
  ShardReadResponse r;
  r.rpc_id = req.rpc_id;
  r.applied_index = applied;
  r.unchanged = unchanged;
  if (!unchanged) r.hits = std::move(hits);
  f.router.Receive(to, r);
}

inline ShardWriteResponse Ok(const ShardWriteRequest& req) {
  ShardWriteResponse r;
  r.rpc_id = req.rpc_id;
  return r;
}

// TwoShards(version) after group 10 split at the middle of its range: 10 keeps the lower
// half (epoch 2), new group 12 (leader on worker 1) the upper one; the collection's groups
// are listed 10, 12, 11.
inline ClusterMap SplitOf10(uint64_t version = 6) {
  ClusterMap m = TwoShards(version);
  const uint64_t cut = RangeMiddle(m.groups[10].range_start, m.groups[10].range_end);
  m.groups[12] = GroupInfo{12, "c", 2, 1, {1, 2, 3}, 1, {}, 1, {}, {}, cut, m.groups[10].range_end, 0};
  m.groups[10].range_end = cut;
  m.groups[10].epoch = 2;
  m.collections["c"].groups = {10, 12, 11};
  return m;
}

// Answers the map request `req`, which went to `pd`, with `m`.
inline void ReplyMap(Fixture& f, const NodeId& pd, const PdMapRequest& req, const ClusterMap& m) {
  PdMapResponse mr;
  mr.rpc_id = req.rpc_id;
  mr.pd_leader = 1;
  mr.map = m;
  f.router.Receive(pd, mr);
}

// Answers the router's next map request (waiting for its background refresh) with `m`.
// Unanswered earlier requests are dropped first; other messages stay queued.
inline void GiveMap(Fixture& f, const ClusterMap& m) {
  while (f.net.Count<PdMapRequest>() > 0) f.net.Pop<PdMapRequest>();
  for (int i = 0; i < 1000 && f.net.Count<PdMapRequest>() == 0; ++i) f.Run(5);
  auto [pd, mreq] = f.net.Pop<PdMapRequest>();
  ReplyMap(f, pd, mreq, m);
  REQUIRE(f.router.map().version == m.version);
}

// Answers the router's outstanding map request (the last one it sent) with `m`.
inline void AnswerMap(Fixture& f, const ClusterMap& m) {
  REQUIRE(f.net.Count<PdMapRequest>() > 0);
  std::pair<NodeId, PdMapRequest> last;
  while (f.net.Count<PdMapRequest>() > 0) last = f.net.Pop<PdMapRequest>();
  ReplyMap(f, last.first, last.second, m);
  REQUIRE(f.router.map().version == m.version);
}

}  // namespace vectron::net::cluster::testing
