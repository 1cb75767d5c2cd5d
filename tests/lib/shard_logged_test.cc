// Shard::ApplyLogged: replicated commands applied once per request, with the log index
// and the request's outcome in the same transaction (docs/formats/shard-entry.md).
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "shard_store.h"
#include "storage/keys.h"
#include "storage/lmdb.h"
#include "db_test_util.h"
#include "vectron/shard.h"

namespace vectron {
namespace {

using testing::TempDir;

LoggedCommand Upsert(const std::string& id, float x, const std::string& metadata = "") {
  LoggedCommand c;
  c.batch.Upsert(id, std::vector<float>{x, 0}, metadata);
  return c;
}

float XOf(Shard& s, const std::string& id) {
  std::vector<std::string> ids = {id};
  auto got = s.Get(ids, GetOptions{true, false}).value();
  REQUIRE(got[0].has_value());
  return got[0]->vector[0];
}

TEST_CASE("ApplyLogged: a retried request applies once and answers with its first outcome") {
  TempDir dir;
  auto s = Shard::Open(dir.path(), testing::SmallConfig(2), testing::SmallDbOptions()).value();
  RequestId a{7, 1, 0}, b{7, 2, 0};
  auto first = s->ApplyLogged(Upsert("p", 1), 1, a).value();
  CHECK(first.status.ok());
  CHECK_FALSE(first.duplicate);
  CHECK(s->ApplyLogged(Upsert("p", 2), 2, b).value().status.ok());
  // The retry of request a (a lost answer, a re-proposal after a leader change) must not
  // overwrite the later write b.
  auto retry = s->ApplyLogged(Upsert("p", 1), 3, a).value();
  CHECK(retry.duplicate);
  CHECK(retry.status.ok());
  CHECK(XOf(*s, "p") == 2);
  CHECK(s->applied_index().value() == 3);
  // A replay of an applied index does nothing.
  auto replay = s->ApplyLogged(Upsert("p", 9), 2, RequestId{8, 1, 0}).value();
  CHECK(replay.replay);
  CHECK(XOf(*s, "p") == 2);
  // A command without a request id is not deduplicated.
  CHECK(s->ApplyLogged(Upsert("p", 3), 4, RequestId{}).value().status.ok());
  CHECK(s->ApplyLogged(Upsert("p", 4), 5, RequestId{}).value().status.ok());
  CHECK(XOf(*s, "p") == 4);
  CHECK(s->ApplyLogged(Upsert("p", 5), 0, a).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("ApplyLogged: a rejection records the index and the outcome, and changes nothing else") {
  TempDir dir;
  auto s = Shard::Open(dir.path(), testing::SmallConfig(2), testing::SmallDbOptions()).value();
  LoggedCommand bad;
  bad.batch.Upsert("ok", std::vector<float>{1, 0}, "");
  bad.batch.Upsert("bad", std::vector<float>{1, 0, 0}, "");  // Wrong dimension.
  RequestId r{3, 10, 0};
  auto out = s->ApplyLogged(bad, 1, r).value();
  CHECK(out.status.code() == StatusCode::kInvalidArgument);
  CHECK(s->applied_index().value() == 1);
  CHECK(s->Count().value() == 0);
  // Its retry gets the same rejection, from the record.
  auto again = s->ApplyLogged(bad, 2, r).value();
  CHECK(again.duplicate);
  CHECK(again.status == out.status);
  CHECK(s->applied_index().value() == 2);
  // A malformed filter is rejected the same way.
  LoggedCommand del;
  del.kind = LoggedCommand::Kind::kDeleteWhere;
  del.where = "{\"nope\":";
  CHECK(s->ApplyLogged(del, 3, RequestId{3, 11, 0}).value().status.code() == StatusCode::kInvalidArgument);
}

TEST_CASE("ApplyLogged: acknowledged requests are forgotten, and an old duplicate is not applied") {
  TempDir dir;
  auto s = Shard::Open(dir.path(), testing::SmallConfig(2), testing::SmallDbOptions()).value();
  CHECK(s->ApplyLogged(Upsert("p", 1), 1, RequestId{9, 1, 1}).value().status.ok());
  CHECK(s->ApplyLogged(Upsert("p", 2), 2, RequestId{9, 2, 2}).value().status.ok());
  // A network duplicate of request 1, arriving after the client acknowledged it: its
  // record is gone, but it is below what the client acknowledged, so it is not applied.
  auto late = s->ApplyLogged(Upsert("p", 1), 3, RequestId{9, 1, 1}).value();
  CHECK(late.duplicate);
  CHECK(late.status.code() == StatusCode::kAborted);
  CHECK(XOf(*s, "p") == 2);
  // Other clients are independent.
  CHECK_FALSE(s->ApplyLogged(Upsert("q", 1), 4, RequestId{10, 1, 0}).value().duplicate);
}

TEST_CASE("ApplyLogged: delete-by-filter and payload index changes through the log, deduplicated") {
  TempDir dir;
  auto s = Shard::Open(dir.path(), testing::SmallConfig(2), testing::SmallDbOptions()).value();
  LoggedCommand w;
  for (int i = 0; i < 6; ++i)
    w.batch.Upsert("p" + std::to_string(i), std::vector<float>{float(i), 0}, "{\"n\":" + std::to_string(i) + "}");
  CHECK(s->ApplyLogged(w, 1, RequestId{1, 1, 0}).value().status.ok());

  LoggedCommand idx;
  idx.kind = LoggedCommand::Kind::kCreatePayloadIndex;
  idx.field = "n";
  idx.type = PayloadType::kInteger;
  CHECK(s->ApplyLogged(idx, 2, RequestId{1, 2, 0}).value().status.ok());
  // Another request creating it again is rejected (and the rejection is recorded).
  auto twice = s->ApplyLogged(idx, 3, RequestId{1, 3, 0}).value();
  CHECK(twice.status.code() == StatusCode::kAlreadyExists);
  CHECK(s->applied_index().value() == 3);

  LoggedCommand del;
  del.kind = LoggedCommand::Kind::kDeleteWhere;
  del.where = "{\"n\":{\"$gte\":3}}";
  auto d = s->ApplyLogged(del, 4, RequestId{1, 4, 0}).value();
  CHECK(d.status.ok());
  CHECK(d.deleted == 3);
  CHECK(s->Count().value() == 3);
  // Write p4 again, then retry the delete: it must not delete the new p4.
  CHECK(s->ApplyLogged(Upsert("p4", 4, "{\"n\":4}"), 5, RequestId{1, 5, 0}).value().status.ok());
  auto retry = s->ApplyLogged(del, 6, RequestId{1, 4, 0}).value();
  CHECK(retry.duplicate);
  CHECK(retry.deleted == 3);
  CHECK(s->Count().value() == 4);

  LoggedCommand drop;
  drop.kind = LoggedCommand::Kind::kDropPayloadIndex;
  drop.field = "missing";
  CHECK(s->ApplyLogged(drop, 7, RequestId{1, 6, 0}).value().status.code() == StatusCode::kNotFound);
  drop.field = "n";
  CHECK(s->ApplyLogged(drop, 8, RequestId{1, 7, 0}).value().status.ok());
}

TEST_CASE("A request record keeps the route of the group that applied it; an older record still decodes") {
  LoggedOutcome o;
  o.status = Status::NotFound("no index \"n\"");
  o.deleted = 7;
  o.applied_by = ShardRoute{1ull << 62, 0, 3};  // end 0: to the end of the key space.
  auto back = DecodeRequestOutcome(EncodeRequestOutcome(o)).value();
  CHECK(back.status.code() == StatusCode::kNotFound);
  CHECK(back.status.message() == "no index \"n\"");
  CHECK(back.deleted == 7);
  REQUIRE(back.applied_by.has_value());
  CHECK(*back.applied_by == ShardRoute{1ull << 62, 0, 3});
  CHECK(back.duplicate);
  // Without a route: the format before routes were recorded, byte for byte.
  o.applied_by.reset();
  const std::string plain = EncodeRequestOutcome(o);
  CHECK(plain == std::string(1, static_cast<char>(StatusCode::kNotFound)) + storage::EncodeU64(7) + "no index \"n\"");
  // An older record (OK, 2 deleted, no message) decodes, with no route.
  auto old = DecodeRequestOutcome(std::string(1, '\0') + storage::EncodeU64(2)).value();
  CHECK(old.status.ok());
  CHECK(old.deleted == 2);
  CHECK_FALSE(old.applied_by.has_value());
  // A record cut inside its route, or with a bad code, is corrupt.
  o.applied_by = ShardRoute{1, 2, 3};
  CHECK(DecodeRequestOutcome(EncodeRequestOutcome(o).substr(0, 20)).status().code() == StatusCode::kCorruption);
  CHECK(DecodeRequestOutcome(std::string(1, '\x7f') + storage::EncodeU64(0)).status().code() ==
        StatusCode::kCorruption);
}

TEST_CASE("ApplyLogged records the route it was given, and a duplicate answers the first apply's route") {
  TempDir dir;
  auto s = Shard::Open(dir.path(), testing::SmallConfig(2), testing::SmallDbOptions()).value();
  LoggedCommand w;
  for (int i = 0; i < 4; ++i)
    w.batch.Upsert("p" + std::to_string(i), std::vector<float>{float(i), 0}, "{\"n\":" + std::to_string(i) + "}");
  const ShardRoute parent{0, 1ull << 63, 1};
  CHECK(s->ApplyLogged(w, 1, RequestId{1, 1, 0}, parent).value().applied_by == parent);
  LoggedCommand del;
  del.kind = LoggedCommand::Kind::kDeleteWhere;
  del.where = "{\"n\":{\"$gte\":2}}";
  auto d = s->ApplyLogged(del, 2, RequestId{1, 2, 0}, parent).value();
  CHECK(d.deleted == 2);
  CHECK_FALSE(d.duplicate);
  CHECK(d.applied_by == parent);
  // Retried under another route (as a group split off from this one would see it, with a
  // copy of these records): the first outcome, with the route that made it.
  auto dup = s->ApplyLogged(del, 3, RequestId{1, 2, 0}, ShardRoute{1ull << 62, 1ull << 63, 1}).value();
  CHECK(dup.duplicate);
  CHECK(dup.deleted == 2);
  CHECK(dup.applied_by == parent);
  // Applied with no route: its duplicate has none.
  CHECK(s->ApplyLogged(Upsert("q", 1), 4, RequestId{1, 3, 0}).value().status.ok());
  auto plain = s->ApplyLogged(Upsert("q", 1), 5, RequestId{1, 3, 0}, parent).value();
  CHECK(plain.duplicate);
  CHECK_FALSE(plain.applied_by.has_value());
}

LoggedCommand Rate(const std::string& id, int rating, int64_t time_ms = 1764900000000) {
  LoggedCommand c;
  c.kind = LoggedCommand::Kind::kRate;
  c.rating.point_id = id;
  c.rating.rating = rating;
  c.rating.query_id = "q1";
  c.rating.comment = "fine";
  c.rating.time_ms = time_ms;
  return c;
}

RatingStats StatsOf(const Shard& s, const std::string& id) {
  std::vector<std::string> ids = {id};
  return s.RatingStatsOf(ids).value()[0];
}

std::vector<Rating> RatingsOf(const Shard& s) {
  std::vector<Rating> out;
  REQUIRE(s.ScanRatingsAfter({}, [&](const Rating& r, std::string_view) {
             out.push_back(r);
             return Status::OK();
           }).ok());
  return out;
}

TEST_CASE("ApplyLogged: a rating is stored once, with the proposer's time, and its retry is a duplicate") {
  TempDir dir;
  auto s = Shard::Open(dir.path(), testing::SmallConfig(2), testing::SmallDbOptions()).value();
  REQUIRE(s->ApplyLogged(Upsert("p", 1), 1, RequestId{4, 1, 0}).value().status.ok());
  auto first = s->ApplyLogged(Rate("p", 5), 2, RequestId{4, 2, 0}).value();
  CHECK(first.status.ok());
  CHECK_FALSE(first.duplicate);
  auto retry = s->ApplyLogged(Rate("p", 5), 3, RequestId{4, 2, 0}).value();
  CHECK(retry.duplicate);
  CHECK(retry.status.ok());
  CHECK(s->ApplyLogged(Rate("p", 2), 4, RequestId{4, 3, 0}).value().status.ok());
  RatingStats st = StatsOf(*s, "p");
  CHECK(st.count == 2);
  CHECK(st.mean == doctest::Approx(3.5));
  CHECK(st.histogram[4] == 1);
  CHECK(st.histogram[1] == 1);
  std::vector<Rating> all = RatingsOf(*s);
  REQUIRE(all.size() == 2);
  CHECK(all[0].time_ms == 1764900000000);  // The proposer's, not this replica's clock.
  CHECK(all[0].query_id == "q1");
  CHECK(all[0].comment == "fine");
  CHECK(s->applied_index().value() == 4);
  // A rating leaves the points alone; a replay of its index does nothing.
  CHECK(s->Count().value() == 1);
  CHECK(s->ApplyLogged(Rate("p", 1), 4, RequestId{4, 4, 0}).value().replay);
  CHECK(StatsOf(*s, "p").count == 2);
  // The point's logged delete takes its ratings with it.
  LoggedCommand del;
  del.batch.Delete("p");
  REQUIRE(s->ApplyLogged(del, 5, RequestId{4, 5, 0}).value().status.ok());
  CHECK(StatsOf(*s, "p").count == 0);
  CHECK(RatingsOf(*s).empty());
}

TEST_CASE("ApplyLogged: a rating of a missing point or a bad rating is rejected the same way everywhere") {
  TempDir dir;
  auto s = Shard::Open(dir.path(), testing::SmallConfig(2), testing::SmallDbOptions()).value();
  REQUIRE(s->ApplyLogged(Upsert("p", 1), 1, RequestId{}).value().status.ok());
  auto missing = s->ApplyLogged(Rate("ghost", 4), 2, RequestId{6, 1, 0}).value();
  CHECK(missing.status.code() == StatusCode::kNotFound);
  CHECK(missing.status.message().find("ghost") != std::string::npos);
  CHECK(s->applied_index().value() == 2);
  // Its retry is answered from the record, even once the point exists.
  REQUIRE(s->ApplyLogged(Upsert("ghost", 1), 3, RequestId{}).value().status.ok());
  auto again = s->ApplyLogged(Rate("ghost", 4), 4, RequestId{6, 1, 0}).value();
  CHECK(again.duplicate);
  CHECK(again.status == missing.status);
  CHECK(StatsOf(*s, "ghost").count == 0);
  // Bad values: the rating, the lengths, and a missing time (no replica may stamp its own).
  LoggedCommand bad = Rate("p", 6);
  auto out = s->ApplyLogged(bad, 5, RequestId{6, 2, 0}).value();
  CHECK(out.status.code() == StatusCode::kInvalidArgument);
  CHECK(out.status.message().find("rating must be an integer from 1 to 5") != std::string::npos);
  CHECK(s->ApplyLogged(Rate("p", 0), 6, RequestId{}).value().status.code() == StatusCode::kInvalidArgument);
  bad = Rate("p", 3);
  bad.rating.comment = std::string(kMaxFeedbackCommentBytes + 1, 'c');
  CHECK(s->ApplyLogged(bad, 7, RequestId{}).value().status.code() == StatusCode::kInvalidArgument);
  bad = Rate("", 3);
  CHECK(s->ApplyLogged(bad, 8, RequestId{}).value().status.code() == StatusCode::kInvalidArgument);
  auto untimed = s->ApplyLogged(Rate("p", 3, 0), 9, RequestId{}).value();
  CHECK(untimed.status.code() == StatusCode::kInvalidArgument);
  CHECK(untimed.status.message().find("time_ms") != std::string::npos);
  CHECK(StatsOf(*s, "p").count == 0);
  CHECK(s->applied_index().value() == 9);
}

TEST_CASE("ApplyLogged: request records survive a reopen") {
  TempDir dir;
  {
    auto s = Shard::Open(dir.path(), testing::SmallConfig(2), testing::SmallDbOptions()).value();
    CHECK(s->ApplyLogged(Upsert("p", 1), 1, RequestId{4, 1, 0}).value().status.ok());
    CHECK(s->ApplyLogged(Upsert("p", 2), 2, RequestId{4, 2, 0}).value().status.ok());
  }
  auto s = Shard::Open(dir.path(), testing::SmallConfig(2), testing::SmallDbOptions()).value();
  CHECK(s->applied_index().value() == 2);
  CHECK(s->ApplyLogged(Upsert("p", 1), 3, RequestId{4, 1, 0}).value().duplicate);
  CHECK(XOf(*s, "p") == 2);
}

TEST_CASE("applied_index: an LMDB read error is an error, never index 0") {
  TempDir dir;
  auto s = Shard::Open(dir.path(), testing::SmallConfig(2), testing::SmallDbOptions()).value();
  REQUIRE(s->ApplyLogged(Upsert("p", 1), 4, RequestId{7, 1, 0}).ok());
  REQUIRE(s->applied_index().value() == 4);
  // Another process takes every free slot of the environment's reader table (LMDB
  // allows one environment per directory per process, hence the child): the shard's
  // next read transaction cannot begin. Before applied_index() was a Result it answered
  // 0 here, and a Raft group would have replayed its whole log onto this shard.
  int ready[2], done[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(done) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    {
      storage::EnvOptions eo;
      eo.map_size_bytes = testing::SmallDbOptions().map_size_bytes;
      auto env = storage::LmdbEnv::Open(dir.path(), eo);
      std::vector<storage::ReadTxn> held;
      while (env.ok()) {
        auto rt = storage::ReadTxn::Begin(*env);
        if (!rt.ok()) break;
        held.push_back(std::move(*rt));
      }
      char c = held.empty() ? 'n' : 'y';
      (void)!::write(ready[1], &c, 1);
      (void)!::read(done[0], &c, 1);  // Holds the slots until the parent is done.
    }  // Ends the transactions (freeing their slots: a dead process's are not reclaimed).
    ::_exit(0);
  }
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  CHECK(c == 'y');
  auto applied = s->applied_index();
  CHECK_FALSE(applied.ok());
  (void)!::write(done[1], "x", 1);
  int st = 0;
  ::waitpid(child, &st, 0);
  for (int fd : {ready[0], ready[1], done[0], done[1]}) ::close(fd);
  // With the slots free again it reads the index it has.
  CHECK(s->applied_index().value() == 4);
}

}  // namespace
}  // namespace vectron
