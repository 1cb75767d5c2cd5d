// Shard::ApplyRoute and Shard::DropHidden: a cluster split's half (docs/cluster.md,
// "Splits"). The points outside the new route are hidden at once from every read, and
// dropped in batches later; at every step the shard must answer as one whose hidden
// points were deleted, and once dropped its tables must hold what those deletes leave.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint_files.h"
#include "db_test_util.h"
#include "storage/lmdb.h"
#include "vectron/shard.h"

namespace vectron {
namespace {

using testing::TempDir;

constexpr uint32_t kRouteDim = 4;

CollectionConfig RouteConfig() {
  CollectionConfig c = testing::SmallConfig(kRouteDim);
  c.flat_max_points = 0;  // A graph from the first point: hidden points are marked in it.
  return c;
}

// The lower half of the key space (the collection has one initial shard).
const ShardRoute kLowerHalf{0, uint64_t{1} << 63, 2};

bool InRoute(const ShardRoute& r, std::string_view id) {
  return RangeHolds(r.start, r.end, RouteKey(id, RouteConfig().shards));
}

// Upserts of `n` new points inside `r` (ids from p<first> on), tagged t2.
LoggedCommand UpsertsInRoute(const ShardRoute& r, int first, size_t n) {
  LoggedCommand c;
  for (int i = first; c.batch.size() < n; ++i)
    if (InRoute(r, testing::Id(i)))
      c.batch.Upsert(testing::Id(i), testing::VectorForId(testing::Id(i), kRouteDim), "{\"tag\": \"t2\"}");
  return c;
}

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

// The tables' contents with labels replaced by the ids they stand for (two shards that
// freed labels at different times give the same points different labels): ids, point
// records (which hold their ids), postings and ratings, each sorted.
Tables DumpByContent(const std::string& dir) {
  Tables rows = Dump(dir);
  std::map<std::string, std::string> id_of;  // label bytes → id
  for (const auto& [id, label] : rows["ids"]) id_of[label] = id;
  Tables out;
  for (const auto& [id, label] : rows["ids"]) out["ids"].emplace_back(id, "");
  for (const auto& [label, record] : rows["points"]) out["points"].emplace_back(record, "");
  for (const char* name : {"payload", "payload_other"})
    for (const auto& [key, value] : rows[name])
      out[name].emplace_back(key.substr(0, key.size() - 8), id_of.at(key.substr(key.size() - 8)));
  out["feedback"] = rows["feedback"];
  for (auto& [name, r] : out) std::sort(r.begin(), r.end());
  return out;
}

// Two shards given the same history: payload indexes, points (some with values the
// integer index cannot hold), ratings, and deletes (so that free labels exist already).
// `a` will hide what `b` deletes.
struct TwoShards {
  TempDir da, db;
  std::unique_ptr<Shard> a, b;
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
  }
  // The live ids outside `r`.
  std::vector<std::string> Outside(const ShardRoute& r) const {
    std::vector<std::string> out;
    for (const Point& p : a->Scroll("", 100000, GetOptions{false, false}, "").value().points)
      if (!InRoute(r, p.id)) out.push_back(p.id);
    return out;
  }
  // `a` records route `r` at the next index (hiding); `b` deletes what it hides.
  uint64_t Split(const ShardRoute& r) {
    const std::vector<std::string> outside = Outside(r);
    ++index;
    auto hidden = a->ApplyRoute(r, index);
    REQUIRE(hidden.ok());
    LoggedCommand del;
    for (const std::string& id : outside) del.batch.Delete(id);
    REQUIRE(b->ApplyLogged(del, index, RequestId{}).value().status.ok());
    return *hidden;
  }
  void Both(const LoggedCommand& c) {
    ++index;
    auto oa = a->ApplyLogged(c, index, RequestId{});
    auto ob = b->ApplyLogged(c, index, RequestId{});
    REQUIRE(oa.value().status.ok());
    REQUIRE(ob.value().status.ok());
    CHECK(oa->deleted == ob->deleted);
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

std::vector<std::string> RatedIds(const Shard& s) {
  std::vector<std::string> ids;
  REQUIRE(s.ScanRatingsAfter("", [&](const Rating& r, std::string_view) {
               ids.push_back(r.point_id);
               return Status::OK();
             }).ok());
  return ids;
}

// Every read of `a` answers as `b`'s: counts (plain, filtered, stats and sizes), scroll
// (plain and filtered), get, searches (graph, exact, filtered) and ratings.
void CheckSameAnswers(const Shard& a, const Shard& b) {
  CHECK(a.Count().value() == b.Count().value());
  CHECK(a.Stats().value().count == b.Count().value());
  CHECK(a.DataSize().value().points == b.Count().value());
  for (const char* where : {R"({"tag": "t1"})", R"({"n": {"$gte": 100}})", R"({"n": "many"})"})
    CHECK(a.Count(where).value() == b.Count(where).value());
  GetOptions all;
  for (const char* where : {"", R"({"tag": "t3"})"}) {
    CAPTURE(where);
    auto pa = a.Scroll("", 1000, all, where).value();
    auto pb = b.Scroll("", 1000, all, where).value();
    REQUIRE(pa.points.size() == pb.points.size());
    for (size_t i = 0; i < pa.points.size(); ++i) {
      CHECK(pa.points[i].id == pb.points[i].id);
      CHECK(pa.points[i].vector == pb.points[i].vector);
      CHECK(pa.points[i].metadata == pb.points[i].metadata);
    }
    // Paged: a page ends at the limit, whatever hidden rows lie between.
    std::vector<std::string> paged;
    std::string after;
    do {
      auto page = a.Scroll(after, 7, GetOptions{false, false}, where).value();
      for (const Point& p : page.points) paged.push_back(p.id);
      after = page.next_cursor;
    } while (!after.empty());
    CHECK(paged.size() == pb.points.size());
  }
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) ids.push_back(testing::Id(i));
  auto ga = a.Get(ids, all).value();
  auto gb = b.Get(ids, all).value();
  for (size_t i = 0; i < ids.size(); ++i) CHECK_MESSAGE(ga[i].has_value() == gb[i].has_value(), ids[i]);
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
  std::vector<std::string> rated = {"p3", "p4", "p10", "p30", "p31", "p299"};
  auto ra = a.RatingStatsOf(rated).value();
  auto rb = b.RatingStatsOf(rated).value();
  for (size_t i = 0; i < rated.size(); ++i) CHECK_MESSAGE(ra[i].count == rb[i].count, rated[i]);
  CHECK(RatedIds(a) == RatedIds(b));
}

TEST_CASE("ApplyRoute hides the points outside the route from every read; DropHidden deletes them as deletes would") {
  TwoShards t;
  const uint64_t live = t.a->Count().value();
  const size_t outside = t.Outside(kLowerHalf).size();
  REQUIRE(outside > 50);  // (207 of 296: FNV-1a's top bit of these ids leans one way.)
  REQUIRE(outside < live - 50);
  CHECK(t.Split(kLowerHalf) == outside);
  CHECK(t.a->HasHiddenPoints());
  CHECK(t.a->Route().value() == kLowerHalf);
  CHECK(t.a->applied_index().value() == t.index);
  CHECK(t.a->Count().value() == live - outside);
  CheckSameAnswers(*t.a, *t.b);

  // Reopened before any drop: the open hides them again (graph from the checkpoint, the
  // label map and payload state from the tables).
  t.Reopen();
  CHECK(t.a->HasHiddenPoints());
  CheckSameAnswers(*t.a, *t.b);

  // A first batch; writes and a delete-where between batches see only visible points.
  CHECK(t.a->DropHidden(7).value() == outside - 7);
  CHECK(t.a->applied_index().value() == t.index);
  CheckSameAnswers(*t.a, *t.b);
  t.Both(UpsertsInRoute(kLowerHalf, 1000, 30));
  LoggedCommand dw;
  dw.kind = LoggedCommand::Kind::kDeleteWhere;
  dw.where = R"({"tag": "t4"})";
  t.Both(dw);  // (Both checks that the deleted counts agree.)
  CheckSameAnswers(*t.a, *t.b);

  // Interrupted (closed) after a batch: the open resumes hiding where the drop stopped.
  CHECK(t.a->DropHidden(5).value() == outside - 12);
  t.Reopen();
  CHECK(t.a->HasHiddenPoints());
  CheckSameAnswers(*t.a, *t.b);
  uint64_t left = 1, calls = 0;
  while (left > 0) {
    left = t.a->DropHidden(16).value();
    ++calls;
  }
  CHECK(calls >= (outside - 12) / 16);
  CHECK_FALSE(t.a->HasHiddenPoints());
  CHECK(t.a->DropHidden(16).value() == 0);  // Nothing left: a no-op.
  CHECK(t.a->applied_index().value() == t.index);
  CheckSameAnswers(*t.a, *t.b);

  // The tables themselves, row for row but for labels: `a` freed the labels of hidden
  // points later than `b`, so the writes in between took others.
  const uint64_t count = t.b->Count().value();
  t.a.reset();
  t.b.reset();
  const Tables ta = DumpByContent(t.da.path()), tb = DumpByContent(t.db.path());
  for (const auto& [name, rows] : ta) CHECK_MESSAGE(rows == tb.at(name), name);
  CHECK(ta.at("points").size() == count);

  // Reopened, both take labels for new points and still answer alike.
  t.Reopen();
  t.Both(UpsertsInRoute(kLowerHalf, 2000, 50));
  CheckSameAnswers(*t.a, *t.b);
  t.a.reset();
  t.b.reset();
  CHECK(DumpByContent(t.da.path()) == DumpByContent(t.db.path()));
}

TEST_CASE("a copy of a shard with hidden points opens them hidden, and its drop goes on") {
  TwoShards t;
  t.Split(kLowerHalf);
  REQUIRE(t.a->DropHidden(9).ok());
  for (bool split_copy : {false, true}) {
    CAPTURE(split_copy);
    TempDir dc;
    const std::string dir = dc.path() + "/copy";
    auto applied = split_copy ? t.a->SplitCopyTo(dir) : t.a->SnapshotTo(dir);
    REQUIRE(applied.ok());
    CHECK(*applied == t.index);
    auto c = Shard::Open(dir, RouteConfig(), testing::SmallDbOptions()).value();
    CHECK(c->HasHiddenPoints());
    CheckSameAnswers(*c, *t.b);
    while (c->DropHidden(50).value() > 0) {
    }
    CheckSameAnswers(*c, *t.b);
  }
}

TEST_CASE("a split copy opened with background checkpoints reports its graph due for saving, and saves it when asked") {
  TwoShards t;
  t.Split(kLowerHalf);
  for (bool background : {false, true}) {
    CAPTURE(background);
    TempDir dc;
    const std::string dir = dc.path() + "/copy";
    REQUIRE(t.a->SplitCopyTo(dir).ok());
    DatabaseOptions o = testing::SmallDbOptions();
    o.background_checkpoints = background;
    int builds = 0;
    o.progress = [&](std::string_view, uint64_t, uint64_t) {
      ++builds;
      return true;
    };
    auto c = Shard::Open(dir, RouteConfig(), o).value();
    CHECK(builds == 0);  // The graph handed over in memory, not rebuilt.
    // It has no saved graph: with background checkpoints, its owner is told.
    CHECK_FALSE(SavedCheckpointSeq(dir).has_value());
    CHECK(c->CheckpointDue() == background);
    REQUIRE(c->Checkpoint(CheckpointHold::kWhileCopied).ok());
    CHECK_FALSE(c->CheckpointDue());
    CHECK(SavedCheckpointSeq(dir).has_value());
    c.reset();
    auto back = Shard::Open(dir, RouteConfig(), o).value();
    CHECK(builds == 0);  // Loaded from the file just saved.
    CheckSameAnswers(*back, *t.b);
  }
}

TEST_CASE("a narrower route recorded before the drop ends hides more, and the drop starts over") {
  TwoShards t;
  const ShardRoute quarter{0, uint64_t{1} << 62, 3};
  const size_t half_out = t.Outside(kLowerHalf).size();
  t.Split(kLowerHalf);
  REQUIRE(t.a->DropHidden(10).value() == half_out - 10);
  const size_t more_out = t.Outside(quarter).size();  // The visible points outside the quarter.
  REQUIRE(more_out > 20);
  // Hidden now: the 10 not dropped yet are among them again, with the newly hidden.
  CHECK(t.Split(quarter) == half_out - 10 + more_out);
  CHECK(t.a->Route().value() == quarter);
  CheckSameAnswers(*t.a, *t.b);
  while (t.a->DropHidden(13).value() > 0) {
  }
  CheckSameAnswers(*t.a, *t.b);
  t.a.reset();
  t.b.reset();
  CHECK(Dump(t.da.path()) == Dump(t.db.path()));
}

TEST_CASE("ApplyRoute is applied once, needs a log index, and with nothing outside the route only records it") {
  TwoShards t;
  const uint64_t live = t.a->Count().value();
  ++t.index;
  const ShardRoute everything{0, 0, 2};  // end 0: to the end of the key space
  CHECK(t.a->ApplyRoute(everything, 0).status().code() == StatusCode::kInvalidArgument);
  CHECK(t.a->Count().value() == live);
  // Nothing outside: nothing hidden, the route and index recorded.
  CHECK(t.a->ApplyRoute(everything, t.index).value() == 0);
  CHECK_FALSE(t.a->HasHiddenPoints());
  CHECK(t.a->Route().value() == everything);
  CHECK(t.a->applied_index().value() == t.index);
  CHECK(t.a->Count().value() == live);
  // A replay of that index (or an older one) changes nothing, whatever it would hide.
  const ShardRoute tiny{0, 5, 3};
  CHECK(t.a->ApplyRoute(tiny, t.index).value() == 0);
  CHECK(t.a->Route().value() == everything);
  CHECK(t.a->Count().value() == live);
  // Everything hidden, then dropped.
  CHECK(t.a->ApplyRoute(tiny, t.index + 1).value() == live);
  for (int step = 0; step < 2; ++step) {
    CHECK(t.a->Count().value() == 0);
    CHECK(t.a->Count(R"({"tag": "t1"})").value() == 0);
    CHECK(t.a->Scroll("", 10, GetOptions{}, "").value().points.empty());
    CHECK(t.a->Search(testing::VectorForId("q", kRouteDim), SearchParams{}).value().empty());
    CHECK(t.a->DataSize().value().points == 0);
    Rating r;
    r.point_id = testing::Id(5);
    r.rating = 3;
    r.time_ms = 1764900000000;
    LoggedCommand rate;
    rate.kind = LoggedCommand::Kind::kRate;
    rate.rating = r;
    auto o = t.a->ApplyLogged(rate, t.index + 2 + step, RequestId{});
    REQUIRE(o.ok());
    CHECK(o->status.code() == StatusCode::kNotFound);  // A hidden point cannot be rated.
    CHECK(t.a->DropHidden(1000).value() == 0);
    CHECK_FALSE(t.a->HasHiddenPoints());
  }
}

}  // namespace
}  // namespace vectron
