// Router against scripted replicas: where requests go, and what it does with each answer.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "tests/net/cluster/router_harness.h"

namespace vectron::net::cluster {
namespace {

using namespace testing;  // NOLINT: the harness's fixture and helpers

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
    ReplyMap(f, pd, mreq, SplitOf10());
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
std::vector<uint64_t> SearchOnce(Fixture& f, uint64_t silent = 0, ReadOptions read = {}) {
  std::optional<Result<std::vector<Hit>>> result;
  SearchParams sp;
  sp.k = 1;
  f.router.Search("c", {0, 0}, sp, read, [&](Result<std::vector<Hit>> r) { result = std::move(r); });
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

TEST_CASE("Router sends a read's first attempt to the group's leader; retries, suspects and staleness-bounded reads spread") {
  RouterOptions o = Fixture::Options();
  o.reads_at_leader = true;
  Fixture f(o);
  // The map's leaders: 2 for group 10, 3 for group 11.
  std::map<uint64_t, int> seen;
  for (int i = 0; i < 20; ++i)
    for (uint64_t w : SearchOnce(f)) ++seen[w];
  CHECK(seen[1] == 0);
  CHECK(seen[2] == 20);
  CHECK(seen[3] == 20);
  // Reads with a staleness bound are served by followers: spread.
  seen.clear();
  ReadOptions stale;
  stale.max_staleness_ms = 100;
  for (int i = 0; i < 20; ++i)
    for (uint64_t w : SearchOnce(f, 0, stale)) ++seen[w];
  CHECK(seen[1] > 0);
  // Leader 2 stops answering: the read retries elsewhere, and while 2 is suspected group
  // 10's reads go to its other replicas.
  std::vector<uint64_t> first = SearchOnce(f, 2);
  CHECK(first.size() == 3);  // 2 (timed out), 3, then a retry at 1 or 3.
  seen.clear();
  for (int i = 0; i < 20; ++i)
    for (uint64_t w : SearchOnce(f, 2)) ++seen[w];
  CHECK(seen[2] == 0);
  CHECK(seen[1] + seen[3] == 40);
  // During a move that takes group 11's leader (3) away, its reads go to the voters it keeps.
  f.Run(RouterOptions{}.suspect_ms);
  ClusterMap m = TwoShards(6);
  m.groups[11].target = {1, 2, 4};
  f.net.out.clear();
  GiveMap(f, m);
  seen.clear();
  for (int i = 0; i < 20; ++i)
    for (uint64_t w : SearchOnce(f)) ++seen[w];
  CHECK(seen[3] == 0);
  CHECK(seen[4] == 0);
}

TEST_CASE("Router marks a read lone only when no other read is outstanding at its worker") {
  RouterOptions o = Fixture::Options();
  o.reads_at_leader = true;  // Group 10's reads go to worker 2, group 11's to worker 3.
  Fixture f(o);
  SearchParams sp;
  sp.k = 1;
  int answered = 0;
  auto search = [&] {
    f.router.Search("c", {0, 0}, sp, ReadOptions{}, [&](Result<std::vector<Hit>> r) {
      CHECK(r.ok());
      ++answered;
    });
  };
  auto pop = [&](uint64_t worker) {
    auto [to, req] = f.net.Pop<ShardReadRequest>();
    if (to.id != worker) {  // The other group's part: its own worker, keep order.
      auto [to2, req2] = f.net.Pop<ShardReadRequest>();
      f.net.out.push_back({to, req});
      CHECK(to2.id == worker);
      return std::pair{to2, req2};
    }
    return std::pair{to, req};
  };
  search();  // One part at each of workers 2 and 3, each alone there.
  auto [a2, r2] = pop(2);
  auto [a3, r3] = pop(3);
  CHECK(r2.lone);
  CHECK(r3.lone);
  search();  // Both workers still have the first search's part.
  auto [b2, s2] = pop(2);
  auto [b3, s3] = pop(3);
  CHECK_FALSE(s2.lone);
  CHECK_FALSE(s3.lone);
  AnswerSearch(f, a2, r2, 1, {});
  AnswerSearch(f, a3, r3, 1, {});
  CHECK(answered == 1);
  search();  // The second search's parts are still out.
  auto [c2, t2] = pop(2);
  auto [c3, t3] = pop(3);
  CHECK_FALSE(t2.lone);
  CHECK_FALSE(t3.lone);
  AnswerSearch(f, b2, s2, 1, {});
  AnswerSearch(f, b3, s3, 1, {});
  AnswerSearch(f, c2, t2, 1, {});
  AnswerSearch(f, c3, t3, 1, {});
  CHECK(answered == 3);
  search();  // Nothing outstanding: lone again.
  auto [d2, u2] = pop(2);
  auto [d3, u3] = pop(3);
  CHECK(u2.lone);
  CHECK(u3.lone);
  // A part that times out and is retried elsewhere no longer counts at its first worker:
  // the retry, and every read after, go out lone.
  AnswerSearch(f, d3, u3, 1, {});
  f.Run(o.rpc_timeout_ms + o.backoff_max_ms + 10);
  auto [e, v] = f.net.Pop<ShardReadRequest>();  // Group 10's retry, at worker 1 or 3.
  CHECK(e.id != 2);
  CHECK(v.lone);
  AnswerSearch(f, e, v, 1, {});
  CHECK(answered == 4);
  CHECK(f.net.Count<ShardReadRequest>() == 0);
  search();
  auto [g1, w1] = f.net.Pop<ShardReadRequest>();
  auto [g2, w2] = f.net.Pop<ShardReadRequest>();
  CHECK(w1.lone);
  CHECK(w2.lone == (g1.id != g2.id));  // Worker 2 is suspected: both parts may go to 3.
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

// cluster-sim seed 700116 (two gateways): a collection created through one gateway was
// "not found" by a search through the other, whose map refresh, sent before the search
// began and answered late, arrived after it: the answer's arrival, not its request, was
// taken as the map's age.
TEST_CASE("Router: only a map asked for after an operation began can tell it its collection does not exist") {
  Fixture f;
  f.Run(1000);  // The periodic refresh goes out...
  auto [pd, old_req] = f.net.Pop<PdMapRequest>();
  std::optional<Status> st;
  f.router.Write("d2", OneUpsert("a"), [&](Status s) { st = s; });  // ... then "d2" is used,
  f.clock.Advance(5);
  PdMapResponse old_answer;  // ... and the refresh's answer, from before "d2", arrives.
  old_answer.rpc_id = old_req.rpc_id;
  old_answer.pd_leader = 1;
  old_answer.map = TwoShards(6);
  f.router.Receive(pd, old_answer);
  CHECK_FALSE(st.has_value());
  f.Run(5);
  auto [pd2, req] = f.net.Pop<PdMapRequest>();  // Asked again, after the operation began:
  PdMapResponse answer;
  answer.rpc_id = req.rpc_id;
  answer.pd_leader = 1;
  answer.map = TwoShards(7);
  f.router.Receive(pd2, answer);
  REQUIRE(st.has_value());  // that map can tell.
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
