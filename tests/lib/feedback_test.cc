// Feedback: ratings stored with their point's shard, validated, summarised, exported,
// surviving a reopen, and deleted with their point (by id and by filter).
#include <doctest/doctest.h>

#include <map>

#include "db_test_util.h"
#include "vectron/database.h"

using namespace vectron;
using testing::TempDir;
using testing::VectorForId;

namespace {

using testing::OpenDb;

std::shared_ptr<Collection> Make(Database& db, uint32_t shards) {
  CollectionConfig cfg = testing::SmallConfig(4);
  cfg.shards = shards;
  auto c = db.CreateCollection("fb", cfg);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  WriteBatch b;
  for (int i = 0; i < 20; ++i) {
    std::string id = "p" + std::to_string(i);
    b.Upsert(id, VectorForId(id, 4), "{\"color\":\"" + std::string(i % 2 ? "red" : "blue") + "\"}");
  }
  REQUIRE(c.value()->Write(b).ok());
  return *c;
}

std::map<std::string, std::vector<int>> Exported(const Collection& c) {
  std::map<std::string, std::vector<int>> out;
  Status s = c.ExportFeedback([&](const Rating& r) {
    out[r.point_id].push_back(r.rating);
    return Status::OK();
  });
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return out;
}

}  // namespace

TEST_CASE("ratings are counted, averaged and exported per point") {
  for (uint32_t shards : {1u, 3u}) {
    CAPTURE(shards);
    TempDir dir;
    auto db = OpenDb(dir.path());
    std::shared_ptr<Collection> c = Make(*db, shards);
    REQUIRE(c->Feedback("p1", 5).ok());
    REQUIRE(c->Feedback("p1", 4, "q-1", "good").ok());
    REQUIRE(c->Feedback("p1", 5).ok());
    REQUIRE(c->Feedback("p2", 1).ok());
    RatingStats st = c->FeedbackStats("p1").value();
    CHECK(st.count == 3);
    CHECK(st.mean == doctest::Approx(14.0 / 3));
    CHECK(st.histogram == std::array<uint64_t, 5>{0, 0, 0, 1, 2});
    CHECK(c->FeedbackStats("p3").value().count == 0);
    CHECK(c->FeedbackStats("nope").value().count == 0);
    auto all = Exported(*c);
    CHECK(all.size() == 2);
    CHECK(all["p1"] == std::vector<int>{5, 4, 5});  // in the order given
    CHECK(all["p2"] == std::vector<int>{1});
    // query id, comment and time come back.
    bool seen = false;
    REQUIRE(c->ExportFeedback([&](const Rating& r) {
                 if (r.rating == 4) {
                   seen = true;
                   CHECK(r.query_id == "q-1");
                   CHECK(r.comment == "good");
                   CHECK(r.time_ms > 1'600'000'000'000);
                 }
                 return Status::OK();
               }).ok());
    CHECK(seen);
  }
}

TEST_CASE("the export pages with a cursor: every rating exactly once, in export order, at any page size") {
  for (uint32_t shards : {1u, 3u}) {
    CAPTURE(shards);
    TempDir dir;
    auto db = OpenDb(dir.path());
    std::shared_ptr<Collection> c = Make(*db, shards);
    // 0 to 3 ratings per point, so some shards (and pages) have none.
    for (int i = 0; i < 20; ++i)
      for (int j = 0; j < i % 4; ++j) REQUIRE(c->Feedback("p" + std::to_string(i), 1 + (i + j) % 5).ok());
    std::vector<std::pair<std::string, int>> all;
    REQUIRE(c->ExportFeedback([&](const Rating& r) {
                all.emplace_back(r.point_id, r.rating);
                return Status::OK();
              }).ok());
    REQUIRE(all.size() == 30);
    for (size_t limit : {1u, 2u, 7u, 29u, 30u, 31u, 1000u}) {
      CAPTURE(limit);
      std::vector<std::pair<std::string, int>> paged;
      std::string cursor;
      int pages = 0;
      do {
        size_t in_page = 0;
        auto next = c->ExportFeedbackPage(cursor, limit, [&](const Rating& r) {
          paged.emplace_back(r.point_id, r.rating);
          ++in_page;
          return Status::OK();
        });
        REQUIRE_MESSAGE(next.ok(), next.status().ToString());
        CHECK(in_page <= limit);
        if (!next->empty()) CHECK(in_page == limit);  // Only the last page is short.
        cursor = *next;
        REQUIRE(++pages <= 31);
      } while (!cursor.empty());
      CHECK(paged == all);
      CHECK(pages == static_cast<int>((all.size() + limit - 1) / limit));
    }
    // A rating added before the cursor's position is not in later pages; one after it is.
    std::string cursor = c->ExportFeedbackPage("", 1, [](const Rating&) { return Status::OK(); }).value();
    REQUIRE(!cursor.empty());
    size_t rest = 0;
    REQUIRE(c->ExportFeedbackPage(cursor, 1000, [&](const Rating&) {
                 ++rest;
                 return Status::OK();
               }).ok());
    CHECK(rest == 29);
    // A cursor stays usable after the rating it names is deleted with its point.
    REQUIRE(c->Delete(std::vector<std::string>{all[0].first}).ok());
    size_t after_delete = 0;
    REQUIRE(c->ExportFeedbackPage(cursor, 1000, [&](const Rating&) {
                 ++after_delete;
                 return Status::OK();
               }).ok());
    CHECK(after_delete == 29 - (all[1].first == all[0].first ? 1 : 0) - (all[2].first == all[0].first ? 1 : 0));
  }
}

TEST_CASE("feedback export cursors that the collection did not make are refused, naming the problem") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = Make(*db, 2);
  REQUIRE(c->Feedback("p1", 5).ok());
  REQUIRE(c->Feedback("p2", 4).ok());
  auto none = [](const Rating&) { return Status::OK(); };
  std::string good = c->ExportFeedbackPage("", 1, none).value();
  REQUIRE(!good.empty());
  const std::string key = good.substr(good.find('.') + 1);
  struct Case {
    std::string cursor, fragment;
  };
  for (const Case& k : std::vector<Case>{{"garbage", "shard number"},
                                         {".00", "shard number"},
                                         {"x1." + key, "shard number"},
                                         {"2." + key, "shard 2 of 2"},
                                         {"123456." + key, "shard number"},
                                         {"0.", "hex digits"},
                                         {"0.0001", "hex digits"},
                                         {"0." + key + "0", "hex digits"},
                                         {"0." + std::string(2 * (2 + kMaxIdBytes + 8) + 2, '0'), "hex digits"},
                                         {"0." + std::string(key.size(), 'g'), "lowercase hex"},
                                         {"0." + std::string(key.size(), 'A'), "lowercase hex"}}) {
    CAPTURE(k.cursor);
    auto r = c->ExportFeedbackPage(k.cursor, 10, none);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(r.status().message().find(k.fragment) != std::string::npos, r.status().ToString());
  }
  auto zero = c->ExportFeedbackPage("", 0, none);
  REQUIRE(!zero.ok());
  CHECK(zero.status().message().find("limit") != std::string::npos);
  // fn's error stops the page and is returned.
  auto failed = c->ExportFeedbackPage("", 10, [](const Rating&) { return Status::IOError("sink full"); });
  REQUIRE(!failed.ok());
  CHECK(failed.status().message() == "sink full");
}

TEST_CASE("bad ratings are refused with a message naming the problem and store nothing") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = Make(*db, 1);
  auto message = [&](const Rating& r) { return c->Feedback(r).ToString(); };
  Rating r{"p1", 0, "", "", 0};
  CHECK(c->Feedback(r).IsInvalidArgument());
  CHECK(message(r).find("rating must be an integer from 1 to 5") != std::string::npos);
  r.rating = 6;
  CHECK(c->Feedback(r).IsInvalidArgument());
  r.rating = 3;
  r.point_id = "";
  CHECK(message(r).find("point_id") != std::string::npos);
  r.point_id = std::string(257, 'x');
  CHECK(c->Feedback(r).IsInvalidArgument());
  r.point_id = "p1";
  r.query_id = std::string(kMaxQueryIdBytes + 1, 'q');
  CHECK(message(r).find("query_id is 129 bytes") != std::string::npos);
  r.query_id = std::string(kMaxQueryIdBytes, 'q');
  r.comment = std::string(kMaxFeedbackCommentBytes + 1, 'c');
  CHECK(message(r).find("comment is 4097 bytes") != std::string::npos);
  r.comment = std::string(kMaxFeedbackCommentBytes, 'c');  // the limits themselves pass
  CHECK(c->Feedback(r).ok());
  r.time_ms = -1;
  CHECK(c->Feedback(r).IsInvalidArgument());
  CHECK(c->Feedback("missing", 3).IsNotFound());
  CHECK(c->FeedbackStats("").status().IsInvalidArgument());
  CHECK(Exported(*c).size() == 1);
  CHECK(c->FeedbackStats("p1").value().count == 1);
}

TEST_CASE("ratings survive a reopen and go with their point when it is deleted") {
  TempDir dir;
  {
    auto db = OpenDb(dir.path());
    std::shared_ptr<Collection> c = Make(*db, 2);
    for (int i = 0; i < 20; ++i) REQUIRE(c->Feedback("p" + std::to_string(i), 1 + i % 5).ok());
    REQUIRE(c->Feedback("p4", 2).ok());
  }
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = db->GetCollection("fb").value();
  CHECK(c->FeedbackStats("p4").value().count == 2);
  CHECK(Exported(*c).size() == 20);
  const uint64_t v0 = c->Version().value();
  // Deleted by id: its ratings go; re-created, it starts with none.
  std::string id = "p4";
  REQUIRE(c->Delete(std::span<const std::string>(&id, 1)).ok());
  CHECK(c->FeedbackStats("p4").value().count == 0);
  CHECK(c->Feedback("p4", 5).IsNotFound());
  REQUIRE(c->Upsert(std::vector<Point>{Point{"p4", VectorForId("p4", 4), ""}}).ok());
  CHECK(c->FeedbackStats("p4").value().count == 0);
  // Deleted by filter: every red point's ratings go, the blue ones' stay.
  CHECK(c->DeleteWhere("{\"color\":\"red\"}").value() == 10);
  auto all = Exported(*c);
  CHECK(all.size() == 9);  // the 10 blue ones but p4
  for (const auto& [pid, ratings] : all) CHECK(std::stoi(pid.substr(1)) % 2 == 0);
  // Updating a point keeps its ratings; every rating changes the version.
  REQUIRE(c->Upsert(std::vector<Point>{Point{"p2", VectorForId("p9", 4), "{\"color\":\"green\"}"}}).ok());
  CHECK(c->FeedbackStats("p2").value().count == 1);
  const uint64_t v1 = c->Version().value();
  CHECK(v1 > v0);
  REQUIRE(c->Feedback("p2", 5).ok());
  CHECK(c->Version().value() > v1);
}

TEST_CASE("a default rerank pipeline is stored durably and checked") {
  TempDir dir;
  {
    auto db = OpenDb(dir.path());
    std::shared_ptr<Collection> c = Make(*db, 2);
    CHECK(c->DefaultRerank().value().empty());
    CHECK(c->SetDefaultRerank("{\"mmr\":{\"lambda\":2}}").IsInvalidArgument());
    CHECK(c->SetDefaultRerank("{\"nope\":{}}").IsInvalidArgument());
    REQUIRE(c->SetDefaultRerank("{\"candidates\":50,\"feedback\":{\"weight\":0.5}}").ok());
  }
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = db->GetCollection("fb").value();
  auto p = ParseRerankPipeline(c->DefaultRerank().value());
  REQUIRE(p.ok());
  CHECK(p->candidates == 50);
  REQUIRE(p->feedback.has_value());
  CHECK(p->feedback->weight == 0.5);
  REQUIRE(c->SetDefaultRerank("").ok());
  CHECK(c->DefaultRerank().value().empty());
}
