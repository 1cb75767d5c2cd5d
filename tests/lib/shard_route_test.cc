// Shard::ApplyRoute: a cluster split's half (docs/cluster.md, "Splits"), dropping the
// points outside the new route by rewriting the tables, must leave what deletes of those
// points leave.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "db_test_util.h"
#include "storage/lmdb.h"
#include "vectron/shard.h"

namespace vectron {
namespace {

using testing::TempDir;

constexpr uint32_t kRouteDim = 4;

CollectionConfig RouteConfig() {
  CollectionConfig c = testing::SmallConfig(kRouteDim);
  c.flat_max_points = 0;  // A graph from the first point: the drops are marked in it.
  return c;
}

// Kept: ids whose number is not a multiple of 3 (scattered over the key space).
bool Keep(std::string_view id) { return std::stoi(std::string(id.substr(1))) % 3 != 0; }

// Every row of the tables a drop touches, by table name.
using Tables = std::map<std::string, std::vector<std::pair<std::string, std::string>>>;

Tables Dump(const std::string& dir) {
  Tables out;
  storage::EnvOptions eo;
  auto env = storage::LmdbEnv::Open(dir, eo).value();
  auto wt = storage::WriteTxn::Begin(env).value();
  for (const char* name : {"ids", "points", "free", "payload", "payload_other", "feedback"}) {
    storage::Dbi dbi = wt.OpenDbi(name).value();
    auto c = wt.OpenCursor(dbi).value();
    auto& rows = out[name];
    for (bool more = c.First().value(); more; more = c.Next().value())
      rows.emplace_back(std::string(c.key()), std::string(c.value()));
  }
  return out;  // Aborted: nothing written.
}

// Two shards given the same history: payload indexes, points (some with values the
// integer index cannot hold), ratings, and deletes (so that free labels exist already).
struct TwoShards {
  TempDir da, db;
  std::unique_ptr<Shard> a, b;
  std::vector<std::string> dropped;  // Live ids Keep refuses.
  uint64_t index = 0;

  TwoShards() {
    a = Shard::Open(da.path(), RouteConfig(), testing::SmallDbOptions()).value();
    b = Shard::Open(db.path(), RouteConfig(), testing::SmallDbOptions()).value();
    for (auto [field, type] : {std::pair{"tag", PayloadType::kKeyword}, std::pair{"n", PayloadType::kInteger}}) {
      LoggedCommand idx;
      idx.kind = LoggedCommand::Kind::kCreatePayloadIndex;
      idx.field = field;
      idx.type = type;
      Both(idx);
    }
    LoggedCommand up;
    for (int i = 0; i < 300; ++i) {
      const std::string id = testing::Id(i);
      const std::string n = i % 7 == 0 ? "\"many\"" : std::to_string(i);
      up.batch.Upsert(id, testing::VectorForId(id, kRouteDim), "{\"tag\": \"t" + std::to_string(i % 5) + "\", \"n\": " + n + "}");
    }
    Both(up);
    for (int i : {3, 4, 10, 30, 31, 299}) {
      LoggedCommand rate;
      rate.kind = LoggedCommand::Kind::kRate;
      rate.rating.point_id = testing::Id(i);
      rate.rating.rating = 1 + i % 5;
      rate.rating.time_ms = 1764900000000 + i;
      Both(rate);
    }
    LoggedCommand del;
    for (int i : {1, 2, 6, 50}) del.batch.Delete(testing::Id(i));
    Both(del);
    for (int i = 0; i < 300; ++i)
      if (!Keep(testing::Id(i)) && i != 6) dropped.push_back(testing::Id(i));
  }
  void Both(const LoggedCommand& c) {
    ++index;
    REQUIRE(a->ApplyLogged(c, index, RequestId{}).value().status.ok());
    REQUIRE(b->ApplyLogged(c, index, RequestId{}).value().status.ok());
  }
  void Reopen() {
    a.reset();
    b.reset();
    a = Shard::Open(da.path(), RouteConfig(), testing::SmallDbOptions()).value();
    b = Shard::Open(db.path(), RouteConfig(), testing::SmallDbOptions()).value();
  }
};

std::vector<std::string> HitIds(const Shard& s, const SearchParams& p, const std::vector<float>& q) {
  std::vector<std::string> ids;
  for (const Hit& h : s.Search(q, p).value()) ids.push_back(h.id);
  return ids;
}

void CheckSameAnswers(const Shard& a, const Shard& b) {
  CHECK(a.Count().value() == b.Count().value());
  for (const char* where : {R"({"tag": "t1"})", R"({"n": {"$gte": 100}})", R"({"n": "many"})"})
    CHECK(a.Count(where).value() == b.Count(where).value());
  GetOptions all;
  auto pa = a.Scroll("", 1000, all, "").value();
  auto pb = b.Scroll("", 1000, all, "").value();
  REQUIRE(pa.points.size() == pb.points.size());
  for (size_t i = 0; i < pa.points.size(); ++i) {
    CHECK(pa.points[i].id == pb.points[i].id);
    CHECK(pa.points[i].vector == pb.points[i].vector);
    CHECK(pa.points[i].metadata == pb.points[i].metadata);
  }
  for (int q = 0; q < 20; ++q) {
    const std::vector<float> query = testing::VectorForId("q" + std::to_string(q), kRouteDim);
    SearchParams graph;
    graph.k = 10;
    graph.ef = 200;
    SearchParams exact = graph;
    exact.exact = true;
    SearchParams filtered = graph;
    filtered.where = R"({"tag": "t2"})";
    CHECK(HitIds(a, graph, query) == HitIds(b, graph, query));
    CHECK(HitIds(a, exact, query) == HitIds(b, exact, query));
    CHECK(HitIds(a, filtered, query) == HitIds(b, filtered, query));
  }
}

TEST_CASE("ApplyRoute leaves the points, postings, ratings and free labels that deletes of the dropped ids leave") {
  TwoShards t;
  const uint64_t live = t.a->Count().value();
  REQUIRE(t.dropped.size() > 90);
  const ShardRoute route{0, uint64_t{1} << 63, 2};
  ++t.index;
  auto dropped = t.a->ApplyRoute(route, t.index, Keep);
  REQUIRE(dropped.ok());
  CHECK(*dropped == t.dropped.size());
  LoggedCommand del;
  for (const std::string& id : t.dropped) del.batch.Delete(id);
  REQUIRE(t.b->ApplyLogged(del, t.index, RequestId{}).value().status.ok());

  CHECK(t.a->Route().value() == route);
  CHECK(t.a->applied_index().value() == t.index);
  CHECK(t.a->Count().value() == live - t.dropped.size());
  CheckSameAnswers(*t.a, *t.b);
  std::vector<std::string> rated = {"p3", "p4", "p10", "p30", "p31", "p299"};
  auto ra = t.a->RatingStatsOf(rated).value();
  auto rb = t.b->RatingStatsOf(rated).value();
  for (size_t i = 0; i < rated.size(); ++i) {
    CHECK(ra[i].count == rb[i].count);
    CHECK(ra[i].count == (Keep(rated[i]) ? 1u : 0u));
  }
  // The tables themselves, row for row.
  t.a.reset();
  t.b.reset();
  const Tables ta = Dump(t.da.path()), tb = Dump(t.db.path());
  CHECK(ta.at("free").size() == t.dropped.size() + 4);
  for (const auto& [name, rows] : ta) CHECK_MESSAGE(rows == tb.at(name), name);

  // Reopened (the graphs from their checkpoints and change logs), both reuse the same
  // free labels for new points and still answer alike.
  t.Reopen();
  LoggedCommand more;
  for (int i = 1000; i < 1050; ++i)
    more.batch.Upsert(testing::Id(i), testing::VectorForId(testing::Id(i), kRouteDim), "{\"tag\": \"t2\"}");
  t.Both(more);
  CheckSameAnswers(*t.a, *t.b);
  t.a.reset();
  t.b.reset();
  CHECK(Dump(t.da.path()) == Dump(t.db.path()));
}

TEST_CASE("ApplyRoute is applied once, needs a log index, and with nothing to drop only records the route") {
  TwoShards t;
  const uint64_t live = t.a->Count().value();
  ++t.index;
  const ShardRoute route{0, 1000, 2};
  CHECK(t.a->ApplyRoute(route, 0, Keep).status().code() == StatusCode::kInvalidArgument);
  CHECK(t.a->Count().value() == live);
  // Everything kept: nothing dropped, the route and index recorded.
  CHECK(t.a->ApplyRoute(route, t.index, [](std::string_view) { return true; }).value() == 0);
  CHECK(t.a->Route().value() == route);
  CHECK(t.a->applied_index().value() == t.index);
  CHECK(t.a->Count().value() == live);
  // A replay of that index (or an older one) changes nothing, whatever it would drop.
  CHECK(t.a->ApplyRoute(ShardRoute{0, 5, 3}, t.index, [](std::string_view) { return false; }).value() == 0);
  CHECK(t.a->Route().value() == route);
  CHECK(t.a->Count().value() == live);
  // Everything dropped.
  CHECK(t.a->ApplyRoute(ShardRoute{0, 5, 3}, t.index + 1, [](std::string_view) { return false; }).value() == live);
  CHECK(t.a->Count().value() == 0);
  CHECK(t.a->Count(R"({"tag": "t1"})").value() == 0);
  CHECK(t.a->Search(testing::VectorForId("q", kRouteDim), SearchParams{}).value().empty());
}

}  // namespace
}  // namespace vectron
