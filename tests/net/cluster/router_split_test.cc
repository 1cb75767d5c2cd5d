// Router against scripted replicas, across splits: a part refused as stale is rerouted
// under its own request id, a broadcast counts an apply once, and a part stays on its
// group when a split moves the groups in the collection's list.
#include <doctest/doctest.h>

#include <optional>
#include <vector>

#include "tests/net/cluster/router_harness.h"

namespace vectron::net::cluster {
namespace {

using namespace testing;  // NOLINT: the harness's fixture and helpers

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
  ReplyMap(f, pd, mreq, SplitOf10());
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
  const ClusterMap m = SplitOf10();
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
  ReplyMap(f, pd, mreq, SplitOf10());
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

}  // namespace
}  // namespace vectron::net::cluster
