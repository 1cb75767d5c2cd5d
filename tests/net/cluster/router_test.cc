// Router against scripted replicas: where requests go, and what it does with each answer.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "net/cluster/router.h"
#include "tests/net/cluster/host_harness.h"

namespace vectron::net::cluster {
namespace {

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
ClusterMap TwoShards(uint64_t version = 5) {
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
    return o;
  }
  void Run(uint64_t ms) {
    for (uint64_t t = 0; t < ms; t += 5) {
      clock.Advance(5);
      router.RunOnce();
    }
  }
};

WriteBatch OneUpsert(const std::string& id) {
  WriteBatch b;
  std::vector<float> v = {1, 2};
  b.Upsert(id, v);
  return b;
}

TEST_CASE("Router sends a write to the group's leader and retries at the leader a replica names") {
  Fixture f;
  std::optional<Status> result;
  f.router.Write("c", OneUpsert("a"), [&](Status s) { result = s; });
  auto [to, req] = f.net.Pop<ShardWriteRequest>();
  uint64_t group = req.group;
  const GroupInfo& g = f.router.map().groups.at(group);
  CHECK(to.id == g.leader);  // The map's hint.
  CHECK(req.command.request.client == 99);
  CHECK(req.epoch == 1);
  // "Not the leader; try 1".
  ShardWriteResponse nl;
  nl.rpc_id = req.rpc_id;
  nl.status = Status::Unavailable("not the leader");
  nl.leader_hint = 1;
  f.router.Receive(to, nl);
  f.router.RunOnce();
  auto [to2, req2] = f.net.Pop<ShardWriteRequest>();
  CHECK(to2.id == 1);
  CHECK(req2.command.request.seq == req.command.request.seq);  // The same request id.
  ShardWriteResponse ok;
  ok.rpc_id = req2.rpc_id;
  f.router.Receive(to2, ok);
  REQUIRE(result.has_value());
  CHECK(result->ok());
  // The next write to that group goes to the leader it learned.
  f.router.Write("c", OneUpsert("a"), [&](Status s) { result = s; });
  auto [to3, req3] = f.net.Pop<ShardWriteRequest>();
  CHECK(to3.id == 1);
  CHECK(req3.command.request.seq > req2.command.request.seq);
  CHECK(req3.command.request.acked_below == req3.command.request.seq);  // Every earlier one is answered.
}

TEST_CASE("Router refreshes its map when a replica says the epoch is stale, and retries") {
  Fixture f;
  std::optional<Status> result;
  f.router.Write("c", OneUpsert("b"), [&](Status s) { result = s; });
  auto [to, req] = f.net.Pop<ShardWriteRequest>();
  ShardWriteResponse stale;
  stale.rpc_id = req.rpc_id;
  stale.stale_epoch = true;
  stale.status = Status::FailedPrecondition("epoch");
  f.router.Receive(to, stale);
  auto [pd, mreq] = f.net.Pop<PdMapRequest>();
  PdMapResponse mr;
  mr.rpc_id = mreq.rpc_id;
  mr.pd_leader = 1;
  ClusterMap m = TwoShards(6);
  for (auto& [id, g] : m.groups) g.epoch = 2;
  mr.map = m;
  f.router.Receive(pd, mr);
  f.Run(60);
  auto [to2, req2] = f.net.Pop<ShardWriteRequest>();
  CHECK(req2.epoch == 2);
  ShardWriteResponse ok;
  ok.rpc_id = req2.rpc_id;
  f.router.Receive(to2, ok);
  REQUIRE(result.has_value());
  CHECK(result->ok());
}

TEST_CASE("Router gives up at the deadline with Unavailable, saying a write's outcome is unknown") {
  Fixture f;
  std::optional<Status> result;
  f.router.Write("c", OneUpsert("a"), [&](Status s) { result = s; });
  f.Run(1100);  // No replica ever answers: timeouts, retries on other replicas.
  REQUIRE(result.has_value());
  CHECK(result->code() == StatusCode::kUnavailable);
  CHECK(result->message().find("may or may not") != std::string::npos);
  CHECK(f.router.stats().retries >= 3);
  CHECK(f.router.pending() == 0);
}

TEST_CASE("Router answers a validation error at once, without retrying") {
  Fixture f;
  std::optional<Status> result;
  f.router.Write("c", OneUpsert("a"), [&](Status s) { result = s; });
  auto [to, req] = f.net.Pop<ShardWriteRequest>();
  ShardWriteResponse bad;
  bad.rpc_id = req.rpc_id;
  bad.status = Status::InvalidArgument("entry 0 (\"a\"): dimension 2, expected 3");
  f.router.Receive(to, bad);
  REQUIRE(result.has_value());
  CHECK(result->code() == StatusCode::kInvalidArgument);
  CHECK(f.net.Count<ShardWriteRequest>() == 0);
}

TEST_CASE("Router scatters a search to every shard and merges a global top-k") {
  Fixture f;
  std::optional<Result<std::vector<Hit>>> result;
  SearchParams sp;
  sp.k = 3;
  f.router.Search("c", {0, 0}, sp, ReadOptions{}, [&](Result<std::vector<Hit>> r) { result = std::move(r); });
  auto [to1, r1] = f.net.Pop<ShardReadRequest>();
  auto [to2, r2] = f.net.Pop<ShardReadRequest>();
  CHECK(r1.group != r2.group);
  ShardReadResponse a, b;
  a.rpc_id = r1.rpc_id;
  a.hits = {Hit{"x", 0.1f, {}, {}}, Hit{"y", 0.5f, {}, {}}, Hit{"z", 0.9f, {}, {}}};
  b.rpc_id = r2.rpc_id;
  b.hits = {Hit{"p", 0.2f, {}, {}}, Hit{"q", 0.3f, {}, {}}};
  f.router.Receive(to1, a);
  CHECK_FALSE(result.has_value());
  f.router.Receive(to2, b);
  REQUIRE(result.has_value());
  REQUIRE(result->ok());
  std::vector<std::string> ids;
  for (const Hit& h : **result) ids.push_back(h.id);
  CHECK(ids == std::vector<std::string>{"x", "p", "q"});
}

// Answers the search read `req` (sent to `to`) with `hits` at `applied`, or "unchanged".
void AnswerSearch(Fixture& f, const NodeId& to, const ShardReadRequest& req, uint64_t applied, std::vector<Hit> hits,
                  bool unchanged = false) {
  ShardReadResponse r;
  r.rpc_id = req.rpc_id;
  r.applied_index = applied;
  r.unchanged = unchanged;
  if (!unchanged) r.hits = std::move(hits);
  f.router.Receive(to, r);
}

ShardWriteResponse Ok(const ShardWriteRequest& req) {
  ShardWriteResponse r;
  r.rpc_id = req.rpc_id;
  return r;
}

// Answers the router's next map request (waiting for its background refresh) with `m`.
// Unanswered earlier requests are dropped first; other messages stay queued.
void GiveMap(Fixture& f, const ClusterMap& m) {
  while (f.net.Count<PdMapRequest>() > 0) f.net.Pop<PdMapRequest>();
  for (int i = 0; i < 1000 && f.net.Count<PdMapRequest>() == 0; ++i) f.Run(5);
  auto [pd, mreq] = f.net.Pop<PdMapRequest>();
  PdMapResponse mr;
  mr.rpc_id = mreq.rpc_id;
  mr.pd_leader = 1;
  mr.map = m;
  f.router.Receive(pd, mr);
  REQUIRE(f.router.map().version == m.version);
}

// Answers the router's outstanding map request (the last one it sent) with `m`.
void AnswerMap(Fixture& f, const ClusterMap& m) {
  REQUIRE(f.net.Count<PdMapRequest>() > 0);
  std::pair<NodeId, PdMapRequest> last;
  while (f.net.Count<PdMapRequest>() > 0) last = f.net.Pop<PdMapRequest>();
  PdMapResponse mr;
  mr.rpc_id = last.second.rpc_id;
  mr.pd_leader = 1;
  mr.map = m;
  f.router.Receive(last.first, mr);
  REQUIRE(f.router.map().version == m.version);
}

TEST_CASE("Router reroutes a write refused as stale after a split under its own request id") {
  // Found by the cluster simulation: a write applied before the split whose answer was
  // lost was retried, refused as stale, and its part for the group split off was sent as a
  // new request, applied a second time (after later writes: a linearizability violation).
  // Under the first request id, the group split off (which copied the parent's request
  // records) answers it as a duplicate.
  Fixture f;
  std::optional<Status> result;
  const ClusterMap before = f.router.map();
  const uint64_t cut = RangeMiddle(before.groups.at(10).range_start, before.groups.at(10).range_end);
  std::string low, high;  // Two ids of group 10, below and above the cut.
  for (int i = 0; low.empty() || high.empty(); ++i) {
    const std::string id = testing::Cat("id", i);
    const uint64_t key = RouteKey(id, 2);
    if (!RangeHolds(before.groups.at(10).range_start, before.groups.at(10).range_end, key)) continue;
    (key < cut ? low : high) = id;
  }
  WriteBatch b = OneUpsert(low);
  b.Upsert(high, std::vector<float>{3, 4});
  f.router.Write("c", b, [&](Status s) { result = s; });
  auto [to, req] = f.net.Pop<ShardWriteRequest>();
  REQUIRE(req.group == 10);
  ShardWriteResponse stale;
  stale.rpc_id = req.rpc_id;
  stale.stale_epoch = true;
  f.router.Receive(to, stale);
  auto [pd, mreq] = f.net.Pop<PdMapRequest>();
  ClusterMap m = TwoShards(6);
  m.groups[12] = GroupInfo{12, "c", 2, 1, {1, 2, 3}, 1, {}, 1, {}, {}, cut, m.groups[10].range_end, 0};
  m.groups[10].range_end = cut;
  m.groups[10].epoch = 2;
  m.collections["c"].groups = {10, 12, 11};
  PdMapResponse mr;
  mr.rpc_id = mreq.rpc_id;
  mr.pd_leader = 1;
  mr.map = m;
  f.router.Receive(pd, mr);
  f.Run(100);
  std::map<uint64_t, uint64_t> seq_of;  // group -> request seq
  while (f.net.Count<ShardWriteRequest>() > 0) {
    auto [t, w] = f.net.Pop<ShardWriteRequest>();
    seq_of[w.group] = w.command.request.seq;
    CHECK(w.command.batch.entries().size() == 1);
    CHECK(w.command.request.acked_below <= req.command.request.seq);  // Neither part is answered yet.
    ShardWriteResponse ok;
    ok.rpc_id = w.rpc_id;
    f.router.Receive(t, ok);
  }
  CHECK(seq_of == std::map<uint64_t, uint64_t>{{10, req.command.request.seq}, {12, req.command.request.seq}});
  REQUIRE(result.has_value());
  CHECK(result->ok());
}

TEST_CASE("Router reroutes a broadcast refused as stale after a split under its own request id, counting an apply once") {
  // A delete-where group 10 applied before splitting (its answer lost, the retry refused as
  // stale) must not be applied again by the groups now covering its range: its parts keep
  // the request id, which they (holding a copy of group 10's request records) answer as a
  // duplicate with group 10's route and whole count, counted once.
  Fixture f;
  std::optional<Result<uint64_t>> result;
  f.router.DeleteWhere("c", "{\"n\":1}", [&](Result<uint64_t> r) { result = std::move(r); });
  auto [to1, r1] = f.net.Pop<ShardWriteRequest>();
  auto [to2, r2] = f.net.Pop<ShardWriteRequest>();
  if (r1.group != 10) {
    std::swap(to1, to2);
    std::swap(r1, r2);
  }
  REQUIRE(r1.group == 10);
  REQUIRE(r2.group == 11);
  CHECK(r1.command.kind == ShardCommand::Kind::kDeleteWhere);
  const uint64_t seq = r1.command.request.seq;
  // Group 11 applies its part at once: 3 points.
  ShardWriteResponse eleven = Ok(r2);
  eleven.deleted = 3;
  eleven.applied_by = ShardRoute{InitialRange(1, 2).first, InitialRange(1, 2).second, 1};
  f.router.Receive(to2, eleven);
  // Group 10's answer: stale (it split, into 10 and 12).
  ShardWriteResponse stale;
  stale.rpc_id = r1.rpc_id;
  stale.stale_epoch = true;
  f.router.Receive(to1, stale);
  const auto [s0, e0] = InitialRange(0, 2);
  const uint64_t cut = RangeMiddle(s0, e0);
  ClusterMap m = TwoShards(6);
  m.groups[12] = GroupInfo{12, "c", 2, 1, {1, 2, 3}, 1, {}, 1, {}, {}, cut, e0, 0};
  m.groups[10].range_end = cut;
  m.groups[10].epoch = 2;
  m.collections["c"].groups = {10, 12, 11};
  AnswerMap(f, m);
  f.Run(20);
  // The parts for 10 and 12, both under the first request id.
  std::map<uint64_t, std::pair<NodeId, ShardWriteRequest>> part_of;  // group -> part
  while (f.net.Count<ShardWriteRequest>() > 0) {
    auto [t, w] = f.net.Pop<ShardWriteRequest>();
    CHECK(w.command.kind == ShardCommand::Kind::kDeleteWhere);
    CHECK(w.command.request.seq == seq);
    CHECK(w.command.request.acked_below <= seq);  // Not answered yet.
    part_of[w.group] = {t, w};
  }
  REQUIRE(part_of.size() == 2);
  REQUIRE(part_of.count(10) == 1);
  REQUIRE(part_of.count(12) == 1);
  auto answer = [&](uint64_t group, uint64_t deleted, std::optional<ShardRoute> by, bool duplicate) {
    ShardWriteResponse r = Ok(part_of.at(group).second);
    r.deleted = deleted;
    r.applied_by = by;
    r.duplicate = duplicate;
    f.router.Receive(part_of.at(group).first, r);
  };
  const ShardRoute parent{s0, e0, 1};

  SUBCASE("group 10 applied it before the split: both answer its count, counted once") {
    answer(10, 5, parent, true);
    CHECK_FALSE(result.has_value());
    answer(12, 5, parent, true);
    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    CHECK(**result == 5 + 3);
  }
  SUBCASE("nobody applied it: each applies its half, the counts add up") {
    answer(12, 4, ShardRoute{cut, e0, 1}, false);
    answer(10, 2, ShardRoute{s0, cut, 2}, false);
    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    CHECK(**result == 2 + 4 + 3);
  }
  SUBCASE("a duplicate of a record without a route (an older worker's) counts once too") {
    answer(10, 5, std::nullopt, true);
    answer(12, 5, std::nullopt, true);
    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    CHECK(**result == 5 + 3);
  }
  SUBCASE("group 12 applied it, then split again: its halves answer its count, counted once") {
    answer(10, 2, ShardRoute{s0, cut, 2}, false);
    ShardWriteResponse stale12;
    stale12.rpc_id = part_of.at(12).second.rpc_id;
    stale12.stale_epoch = true;
    f.router.Receive(part_of.at(12).first, stale12);
    const uint64_t cut2 = RangeMiddle(cut, e0);
    ClusterMap m2 = m;
    m2.version = 7;
    m2.groups[13] = GroupInfo{13, "c", 3, 1, {1, 2, 3}, 1, {}, 1, {}, {}, cut2, e0, 0};
    m2.groups[12].range_end = cut2;
    m2.groups[12].epoch = 2;
    m2.collections["c"].groups = {10, 12, 13, 11};
    AnswerMap(f, m2);
    f.Run(20);
    std::map<uint64_t, std::pair<NodeId, ShardWriteRequest>> again;
    while (f.net.Count<ShardWriteRequest>() > 0) {
      auto [t, w] = f.net.Pop<ShardWriteRequest>();
      CHECK(w.command.request.seq == seq);
      again[w.group] = {t, w};
    }
    REQUIRE(again.size() == 2);
    REQUIRE(again.count(12) == 1);
    REQUIRE(again.count(13) == 1);
    for (uint64_t g : {12, 13}) {
      ShardWriteResponse r = Ok(again.at(g).second);
      r.deleted = 4;
      r.applied_by = ShardRoute{cut, e0, 1};
      r.duplicate = true;
      f.router.Receive(again.at(g).first, r);
    }
    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    CHECK(**result == 2 + 4 + 3);
  }
}

TEST_CASE("Router retries a part at the group it was routed to after a split shifted the groups' positions") {
  // Found by the cluster simulation: a part retried after a map refresh went to whatever
  // group sat at its old position, with that group's epoch, so a search read one group
  // twice (and a get could miss ids that had moved).
  Fixture f;
  std::optional<Result<std::vector<Hit>>> result;
  SearchParams sp;
  sp.k = 10;
  f.router.Search("c", {0, 0}, sp, ReadOptions{}, [&](Result<std::vector<Hit>> r) { result = std::move(r); });
  auto [to1, r1] = f.net.Pop<ShardReadRequest>();
  auto [to2, r2] = f.net.Pop<ShardReadRequest>();
  if (r1.group != 10) {
    std::swap(to1, to2);
    std::swap(r1, r2);
  }
  REQUIRE(r1.group == 10);
  REQUIRE(r2.group == 11);
  // Group 11's replica is busy (retried later); group 10 split meanwhile (stale).
  ShardReadResponse busy;
  busy.rpc_id = r2.rpc_id;
  busy.status = Status::Unavailable("busy");
  f.router.Receive(to2, busy);
  ShardReadResponse stale;
  stale.rpc_id = r1.rpc_id;
  stale.stale_epoch = true;
  stale.status = Status::FailedPrecondition("split");
  f.router.Receive(to1, stale);
  auto [pd, mreq] = f.net.Pop<PdMapRequest>();
  // The map after the split: 10 keeps the lower half of its range, 12 has the upper half,
  // and 11 moved from position 1 to 2.
  ClusterMap m = TwoShards(6);
  const uint64_t cut = RangeMiddle(m.groups[10].range_start, m.groups[10].range_end);
  m.groups[12] = GroupInfo{12, "c", 2, 1, {1, 2, 3}, 1, {}, 1, {}, {}, cut, m.groups[10].range_end, 0};
  m.groups[10].range_end = cut;
  m.groups[10].epoch = 2;
  m.collections["c"].groups = {10, 12, 11};
  PdMapResponse mr;
  mr.rpc_id = mreq.rpc_id;
  mr.pd_leader = 1;
  mr.map = m;
  f.router.Receive(pd, mr);
  f.Run(100);
  std::map<uint64_t, int> reads;  // group -> reads sent
  std::map<uint64_t, uint64_t> epoch;
  while (f.net.Count<ShardReadRequest>() > 0) {
    auto [to, r] = f.net.Pop<ShardReadRequest>();
    ++reads[r.group];
    epoch[r.group] = r.epoch;
    AnswerSearch(f, to, r, 5, {Hit{testing::Cat("in", r.group), 0.1f * static_cast<float>(r.group), {}, {}}});
  }
  CHECK(reads == std::map<uint64_t, int>{{10, 1}, {11, 1}, {12, 1}});
  CHECK(epoch == std::map<uint64_t, uint64_t>{{10, 2}, {11, 1}, {12, 1}});
  REQUIRE(result.has_value());
  REQUIRE(result->ok());
  CHECK((*result)->size() == 3);
}

TEST_CASE("Router answers a repeated search 'unchanged' only when every shard is still at the cached index") {
  Fixture f;
  SearchParams sp;
  sp.k = 2;
  std::optional<Result<Router::VersionedHits>> result;
  auto done = [&](Result<Router::VersionedHits> r) { result = std::move(r); };
  // The first search: no cached answer, so no token; the read points come back by shard.
  f.router.SearchIfChanged("c", {0, 0}, sp, ReadOptions{}, {}, done);
  std::map<uint64_t, std::pair<NodeId, ShardReadRequest>> by_group;
  for (int i = 0; i < 2; ++i) {
    auto [to, req] = f.net.Pop<ShardReadRequest>();
    CHECK(req.unchanged_if_applied == 0);
    by_group[req.group] = {to, req};
  }
  AnswerSearch(f, by_group[10].first, by_group[10].second, 7, {Hit{"x", 0.1f, {}, {}}});
  AnswerSearch(f, by_group[11].first, by_group[11].second, 9, {Hit{"p", 0.2f, {}, {}}});
  REQUIRE(result.has_value());
  REQUIRE(result->ok());
  CHECK_FALSE((*result)->unchanged);
  CHECK((*result)->hits.size() == 2);
  const std::vector<Router::ShardReadAt> known = {{10, 7}, {11, 9}};
  CHECK((*result)->read_at == known);

  SUBCASE("every shard unchanged: the cached answer is current") {
    result.reset();
    f.router.SearchIfChanged("c", {0, 0}, sp, ReadOptions{}, known, done);
    for (int i = 0; i < 2; ++i) {
      auto [to, req] = f.net.Pop<ShardReadRequest>();
      CHECK(req.unchanged_if_applied == (req.group == 10 ? 7u : 9u));
      AnswerSearch(f, to, req, req.unchanged_if_applied, {}, true);
    }
    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    CHECK((*result)->unchanged);
    CHECK((*result)->hits.empty());
    CHECK((*result)->read_at == known);
  }

  SUBCASE("a split reroutes a part: the shard that answered unchanged is asked again for its hits") {
    // Found by the cluster simulation: after the reroute the search was answered without
    // the hits of the shard that had answered 'unchanged'.
    result.reset();
    f.router.SearchIfChanged("c", {0, 0}, sp, ReadOptions{}, known, done);
    by_group.clear();
    for (int i = 0; i < 2; ++i) {
      auto [to, req] = f.net.Pop<ShardReadRequest>();
      by_group[req.group] = {to, req};
    }
    AnswerSearch(f, by_group[11].first, by_group[11].second, 9, {}, true);
    ShardReadResponse stale;
    stale.rpc_id = by_group[10].second.rpc_id;
    stale.stale_epoch = true;
    stale.status = Status::FailedPrecondition("split");
    f.router.Receive(by_group[10].first, stale);
    auto [pd, mreq] = f.net.Pop<PdMapRequest>();
    ClusterMap m = TwoShards(6);
    const uint64_t cut = RangeMiddle(m.groups[10].range_start, m.groups[10].range_end);
    m.groups[12] = GroupInfo{12, "c", 2, 1, {1, 2, 3}, 1, {}, 1, {}, {}, cut, m.groups[10].range_end, 0};
    m.groups[10].range_end = cut;
    m.groups[10].epoch = 2;
    m.collections["c"].groups = {10, 12, 11};
    PdMapResponse mr;
    mr.rpc_id = mreq.rpc_id;
    mr.pd_leader = 1;
    mr.map = m;
    f.router.Receive(pd, mr);
    std::map<uint64_t, int> reads;
    for (int round = 0; round < 5 && !result.has_value(); ++round) {
      f.Run(50);
      while (f.net.Count<ShardReadRequest>() > 0) {
        auto [to, r] = f.net.Pop<ShardReadRequest>();
        ++reads[r.group];
        CHECK(r.unchanged_if_applied == 0);
        AnswerSearch(f, to, r, 11, {Hit{testing::Cat("in", r.group), 0.1f, {}, {}}});
      }
    }
    CHECK(reads == std::map<uint64_t, int>{{10, 1}, {11, 1}, {12, 1}});
    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    CHECK_FALSE((*result)->unchanged);
    REQUIRE((*result)->hits.size() == 2);  // k = 2 of the 3 groups' hits (equal scores: by id).
    CHECK((*result)->hits[1].id == "in11");
    CHECK((*result)->read_at.empty());   // Rerouted: nothing to vouch for.
  }

  SUBCASE("a shard applied a write since: searched afresh, the unchanged shard asked again without a token") {
    result.reset();
    f.router.SearchIfChanged("c", {0, 0}, sp, ReadOptions{}, known, done);
    by_group.clear();
    for (int i = 0; i < 2; ++i) {
      auto [to, req] = f.net.Pop<ShardReadRequest>();
      by_group[req.group] = {to, req};
    }
    AnswerSearch(f, by_group[10].first, by_group[10].second, 7, {}, true);
    AnswerSearch(f, by_group[11].first, by_group[11].second, 10, {Hit{"new", 0.05f, {}, {}}});
    CHECK_FALSE(result.has_value());
    auto [to, again] = f.net.Pop<ShardReadRequest>();
    CHECK(again.group == 10);
    CHECK(again.unchanged_if_applied == 0);
    AnswerSearch(f, to, again, 7, {Hit{"x", 0.1f, {}, {}}});
    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    CHECK_FALSE((*result)->unchanged);
    std::vector<std::string> ids;
    for (const Hit& h : (*result)->hits) ids.push_back(h.id);
    CHECK(ids == std::vector<std::string>{"new", "x"});
    CHECK((*result)->read_at == std::vector<Router::ShardReadAt>{{10, 7}, {11, 10}});
  }

  SUBCASE("a read point of another group (the collection was made again) sends no token") {
    result.reset();
    f.router.SearchIfChanged("c", {0, 0}, sp, ReadOptions{}, {{10, 7}, {99, 9}}, done);
    for (int i = 0; i < 2; ++i) {
      auto [to, req] = f.net.Pop<ShardReadRequest>();
      CHECK(req.unchanged_if_applied == (req.group == 10 ? 7u : 0u));
    }
  }

  SUBCASE("'unchanged' at an index other than the token is refused") {
    result.reset();
    f.router.SearchIfChanged("c", {0, 0}, sp, ReadOptions{}, known, done);
    auto [to, req] = f.net.Pop<ShardReadRequest>();
    AnswerSearch(f, to, req, req.unchanged_if_applied + 1, {}, true);
    REQUIRE(result.has_value());
    CHECK(result->status().code() == StatusCode::kInternal);
  }
}

// Runs one search and answers every read it sends (retries included) at once, except those
// sent to `silent`. Returns the workers its reads went to, in order.
std::vector<uint64_t> SearchOnce(Fixture& f, uint64_t silent = 0) {
  std::optional<Result<std::vector<Hit>>> result;
  SearchParams sp;
  sp.k = 1;
  f.router.Search("c", {0, 0}, sp, ReadOptions{}, [&](Result<std::vector<Hit>> r) { result = std::move(r); });
  std::vector<uint64_t> targets;
  for (int step = 0; step < 400 && !result; ++step) {
    while (f.net.Count<ShardReadRequest>() > 0) {
      auto [to, req] = f.net.Pop<ShardReadRequest>();
      targets.push_back(to.id);
      if (to.id != silent) AnswerSearch(f, to, req, 1, {Hit{"x", 0.5f, {}, {}}});
    }
    if (!result) f.Run(5);
  }
  REQUIRE(result.has_value());
  CHECK(result->ok());
  return targets;
}

TEST_CASE("Router avoids a replica that let a read time out until it answers again, and one the map says is down") {
  Fixture f;
  // Worker 2 stops answering: the first read sent to it times out and goes elsewhere.
  std::vector<uint64_t> first;
  for (int i = 0; i < 10 && std::find(first.begin(), first.end(), 2u) == first.end(); ++i) first = SearchOnce(f, 2);
  REQUIRE(std::find(first.begin(), first.end(), 2u) != first.end());
  // Within suspect_ms no read goes to it, though reads rotate over the replicas.
  std::map<uint64_t, int> seen;
  for (int i = 0; i < 30; ++i)
    for (uint64_t w : SearchOnce(f, 2)) ++seen[w];
  CHECK(seen[2] == 0);
  CHECK(seen[1] > 0);
  CHECK(seen[3] > 0);
  // Afterwards it is tried again; once it answers it is used as before.
  f.Run(RouterOptions{}.suspect_ms);
  seen.clear();
  for (int i = 0; i < 30; ++i)
    for (uint64_t w : SearchOnce(f)) ++seen[w];
  CHECK(seen[2] > 5);
  // The map says worker 3 is down: no read goes there.
  ClusterMap m = TwoShards(6);
  m.workers[3].alive = false;
  f.net.out.clear();
  GiveMap(f, m);
  seen.clear();
  for (int i = 0; i < 30; ++i)
    for (uint64_t w : SearchOnce(f)) ++seen[w];
  CHECK(seen[3] == 0);
  CHECK(seen[1] > 0);
  CHECK(seen[2] > 0);
}

TEST_CASE("Router sends reads during a move only to the voters the group keeps") {
  Fixture f;
  // PD moves group 10 from workers 1-3 to 2-4: worker 1 leaves at the move's end, worker 4
  // is not a voter yet.
  ClusterMap m = TwoShards(6);
  m.groups[10].target = {2, 3, 4};
  f.net.out.clear();
  GiveMap(f, m);
  std::map<uint64_t, int> seen;
  for (int i = 0; i < 30; ++i)
    for (uint64_t w : SearchOnce(f)) ++seen[w];
  // Each search reads both shards: group 11 (no move) spreads over 1-3 as before.
  CHECK(seen[1] > 0);
  CHECK(seen[1] < 20);
  CHECK(seen[2] + seen[3] > 40);
  CHECK(seen[4] == 0);
  // Group 10's reads alone: never worker 1.
  seen.clear();
  m = TwoShards(7);
  m.groups[10].target = {2, 3, 4};
  m.groups[11].target = {2, 3, 4};
  f.net.out.clear();
  GiveMap(f, m);
  for (int i = 0; i < 30; ++i)
    for (uint64_t w : SearchOnce(f)) ++seen[w];
  CHECK(seen[1] == 0);
  CHECK(seen[2] > 0);
  CHECK(seen[3] > 0);
  // Once the move is over (no target), reads spread over all voters again.
  seen.clear();
  f.net.out.clear();
  GiveMap(f, TwoShards(8));
  for (int i = 0; i < 30; ++i)
    for (uint64_t w : SearchOnce(f)) ++seen[w];
  CHECK(seen[1] > 5);
}

TEST_CASE("Router keeps a part on its group when a split inserts a group before it in the collection's list") {
  RouterOptions o = Fixture::Options();
  o.deadline_ms = 5000;  // Outlasts the wait for the map refresh.
  o.rpc_timeout_ms = 3000;
  Fixture f(o);
  // A write to the second shard (group 11), left unanswered.
  std::optional<Status> result;
  std::string id;
  for (int i = 0; id.empty() && i < 100; ++i) {
    f.router.Write("c", OneUpsert(testing::Cat("k", i)), [&](Status s) { result = s; });
    auto [to, req] = f.net.Pop<ShardWriteRequest>();
    if (req.group == 11) id = testing::Cat("k", i);
    else f.router.Receive(to, Ok(req));
  }
  REQUIRE(!id.empty());
  result.reset();
  // Group 10 splits: the collection's groups are now 10, 12, 11 (range order), so 11 is
  // at position 2 and the new group 12 at position 1.
  ClusterMap m = TwoShards(6);
  const auto [s0, e0] = InitialRange(0, 2);
  const uint64_t cut = RangeMiddle(s0, e0);
  m.groups[10].range_end = cut;
  m.groups[10].epoch = 2;
  m.groups[12] = GroupInfo{12, "c", 1, 1, {1, 2, 3}, 1, {}, 0, {}, {}, cut, e0, 0};
  m.groups[11].shard = 2;
  m.collections["c"].groups = {10, 12, 11};
  GiveMap(f, m);
  // The write times out and is sent again: to group 11 at its epoch, never to group 12.
  f.Run(o.rpc_timeout_ms);
  auto [to, req] = f.net.Pop<ShardWriteRequest>();
  CHECK(req.group == 11);
  CHECK(req.epoch == 1);
  f.router.Receive(to, Ok(req));
  REQUIRE(result.has_value());
  CHECK(result->ok());
}

TEST_CASE("Router lists payload indexes from every shard, merged by field; shards that disagree on a type: Internal") {
  for (bool disagree : {false, true}) {
    Fixture f;
    std::optional<Result<std::vector<PayloadIndexInfo>>> result;
    f.router.ListPayloadIndexes("c", ReadOptions{},
                                [&](Result<std::vector<PayloadIndexInfo>> r) { result = std::move(r); });
    auto [to1, r1] = f.net.Pop<ShardReadRequest>();
    auto [to2, r2] = f.net.Pop<ShardReadRequest>();
    CHECK(r1.kind == ShardReadRequest::Kind::kIndexes);
    CHECK(r1.group != r2.group);
    ShardReadResponse a, b;
    a.rpc_id = r1.rpc_id;
    a.indexes = {PayloadIndexInfo{"year", PayloadType::kInteger}, PayloadIndexInfo{"genre", PayloadType::kKeyword}};
    b.rpc_id = r2.rpc_id;
    // A create that reached one shard only still shows; a field both list is listed once.
    b.indexes = {PayloadIndexInfo{"genre", disagree ? PayloadType::kBool : PayloadType::kKeyword},
                 PayloadIndexInfo{"a", PayloadType::kFloat}};
    f.router.Receive(to1, a);
    CHECK_FALSE(result.has_value());
    f.router.Receive(to2, b);
    REQUIRE(result.has_value());
    if (disagree) {
      CHECK(result->status().code() == StatusCode::kInternal);
      continue;
    }
    REQUIRE(result->ok());
    std::vector<std::string> fields;
    for (const PayloadIndexInfo& x : **result) fields.push_back(x.field);
    CHECK(fields == std::vector<std::string>{"a", "genre", "year"});
    CHECK((**result)[2].type == PayloadType::kInteger);
  }
}

TEST_CASE("Router gets ids from their shards and answers in request order; a missing collection is NotFound") {
  Fixture f;
  std::vector<std::string> ids = {"a", "b", "c", "d", "e"};
  std::optional<Result<std::vector<std::optional<Point>>>> result;
  f.router.Get("c", ids, GetOptions{}, ReadOptions{},
               [&](Result<std::vector<std::optional<Point>>> r) { result = std::move(r); });
  size_t parts = f.net.Count<ShardReadRequest>();
  CHECK(parts >= 1);
  CHECK(parts <= 2);
  for (size_t i = 0; i < parts; ++i) {
    auto [to, req] = f.net.Pop<ShardReadRequest>();
    ShardReadResponse r;
    r.rpc_id = req.rpc_id;
    for (const std::string& id : req.ids) {
      CHECK(ShardOfId(id, 2) == f.router.map().groups.at(req.group).shard);
      r.points.push_back(Point{id, {}, {}});
    }
    f.router.Receive(to, r);
  }
  REQUIRE(result.has_value());
  REQUIRE(result->ok());
  for (size_t i = 0; i < ids.size(); ++i) CHECK((**result)[i]->id == ids[i]);

  std::optional<Status> st;
  f.router.Write("nope", OneUpsert("a"), [&](Status s) { st = s; });
  f.Run(10);
  auto [pd, mreq] = f.net.Pop<PdMapRequest>();  // It asks for a newer map first.
  PdMapResponse mr;
  mr.rpc_id = mreq.rpc_id;
  mr.map = TwoShards(7);
  f.router.Receive(pd, mr);
  REQUIRE(st.has_value());
  CHECK(st->code() == StatusCode::kNotFound);
}

TEST_CASE("Router follows the PD leader hint for admin commands and keeps their request id") {
  Fixture f;
  std::optional<Status> result;
  CollectionConfig cfg;
  cfg.dim = 3;
  f.router.CreateCollection("d", cfg, 0, [&](Status s) { result = s; });
  auto [to, req] = f.net.Pop<PdAdminRequest>();
  PdAdminResponse nl;
  nl.rpc_id = req.rpc_id;
  nl.status = Status::Unavailable("not the placement driver leader");
  nl.pd_leader = 3;
  f.router.Receive(to, nl);
  f.router.RunOnce();
  auto [to2, req2] = f.net.Pop<PdAdminRequest>();
  CHECK(to2.id == 3);
  CHECK(req2.request == req.request);
  PdAdminResponse ok;
  ok.rpc_id = req2.rpc_id;
  f.router.Receive(to2, ok);
  REQUIRE(result.has_value());
  CHECK(result->ok());
}

}  // namespace
}  // namespace vectron::net::cluster
