// Filtered count, scroll, search and delete against a brute-force evaluation of the
// same filters over the same metadata, with and without payload indexes.
#include <algorithm>
#include <map>
#include <set>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "../filter/gen.h"
#include "filter/filter.h"
#include "db_test_util.h"

namespace vectron {
namespace {

using testing::OpenDb;

using nlohmann::json;
using testing::TempDir;

struct Stored {
  std::string id;
  std::vector<float> vec;
  json meta;
};

std::vector<Stored> ReadAll(const Collection& c) {
  std::vector<Stored> out;
  std::string cursor;
  for (;;) {
    auto page = c.Scroll(cursor, 500);
    REQUIRE(page.ok());
    for (auto& p : page->points)
      out.push_back(Stored{p.id, p.vector, p.metadata.empty() ? json() : json::parse(p.metadata)});
    if (page->next_cursor.empty()) break;
    cursor = page->next_cursor;
  }
  return out;
}

float L2(const std::vector<float>& a, std::span<const float> b) {
  float s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

// The ids of the k points nearest to q among those matching f.
std::vector<std::string> BruteForce(const std::vector<Stored>& all, const filter::Filter& f, std::span<const float> q,
                                    size_t k) {
  std::vector<std::pair<float, std::string>> m;
  for (const auto& s : all)
    if (filter::Matches(f, s.meta)) m.emplace_back(L2(s.vec, q), s.id);
  std::sort(m.begin(), m.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < std::min(k, m.size()); ++i) out.push_back(m[i].second);
  return out;
}

void CreateIndexes(Collection& c, int config) {
  std::vector<std::pair<std::string, PayloadType>> idx;
  if (config == 1)
    idx = {{"b", PayloadType::kKeyword}, {"c", PayloadType::kBool}, {"a.b", PayloadType::kFloat}};
  if (config == 2)
    idx = {{"a", PayloadType::kFloat}, {"b", PayloadType::kInteger}, {"c", PayloadType::kKeyword},
           {"b.a", PayloadType::kBool}, {"c.c", PayloadType::kInteger}};
  for (auto& [f, t] : idx) REQUIRE(c.CreatePayloadIndex(f, t).ok());
}

struct Checker {
  const Collection& c;
  std::vector<Stored> all;
  double recall_sum = 0;
  int recall_n = 0;

  void Check(const json& where, std::mt19937& rng, bool approximate, bool scroll) {
    const std::string text = where.dump();
    INFO("filter: ", text);
    auto f = filter::Parse(where);
    REQUIRE(f.ok());
    std::set<std::string> truth;
    for (const auto& s : all)
      if (filter::Matches(*f, s.meta)) truth.insert(s.id);
    auto n = c.Count(text);
    REQUIRE_MESSAGE(n.ok(), n.status().ToString());
    CHECK(*n == truth.size());

    std::vector<float> q = testing::RandomVectors(1, c.config().dim, rng());
    SearchParams sp;
    sp.k = 10;
    sp.where = text;
    sp.filter_strategy = FilterStrategy::kExact;
    auto want = BruteForce(all, *f, q, 10);
    auto hits = c.Search(q, sp);
    REQUIRE_MESSAGE(hits.ok(), hits.status().ToString());
    std::vector<std::string> got;
    for (auto& h : *hits) got.push_back(h.id);
    CHECK(got == want);

    if (approximate) {
      for (FilterStrategy st : {FilterStrategy::kAuto, FilterStrategy::kGraph, FilterStrategy::kPostFilter}) {
        sp.filter_strategy = st;
        auto ah = c.Search(q, sp);
        REQUIRE(ah.ok());
        CHECK(ah->size() == std::min<size_t>(10, truth.size()));  // never short
        size_t found = 0;
        for (auto& h : *ah) {
          CHECK(truth.count(h.id) == 1);  // never a non-matching point
          found += std::count(want.begin(), want.end(), h.id);
        }
        if (!want.empty()) {
          recall_sum += static_cast<double>(found) / static_cast<double>(want.size());
          ++recall_n;
        }
      }
    }
    if (scroll) {
      std::vector<std::string> seen;
      std::string cursor;
      for (int pages = 0; pages < 1000; ++pages) {
        auto page = c.Scroll(cursor, 7, GetOptions{false, false}, text);
        REQUIRE(page.ok());
        for (auto& p : page->points) seen.push_back(p.id);
        if (page->next_cursor.empty()) break;
        cursor = page->next_cursor;
      }
      CHECK(seen == std::vector<std::string>(truth.begin(), truth.end()));
    }
  }
};

TEST_CASE("filtered count, scroll and search agree with brute force, with and without payload indexes") {
  for (int config = 0; config < 3; ++config) {
    CAPTURE(config);
    TempDir dir;
    auto db = OpenDb(dir.path());
    CollectionConfig cfg = testing::SmallConfig(8);
    cfg.flat_max_points = 300;  // HNSW above this
    cfg.hnsw.ef_construction = 64;
    cfg.shards = config == 2 ? 3 : 1;
    std::shared_ptr<Collection> c = db->CreateCollection("c", cfg).value();
    // Config 1 creates an index before the data (kept in step by writes); the others
    // after (built from existing points).
    if (config == 1) REQUIRE(c->CreatePayloadIndex("a", PayloadType::kInteger).ok());
    filter::testing::Gen gen(7000 + config);
    const size_t n = 1200;
    auto vecs = testing::RandomVectors(n, 8, 42 + config);
    for (size_t start = 0; start < n; start += 200) {
      WriteBatch b;
      for (size_t i = start; i < start + 200; ++i) {
        json m = gen.Metadata();
        b.Upsert("p" + std::to_string(i), std::span<const float>(vecs.data() + i * 8, 8), m.is_null() ? "" : m.dump());
      }
      REQUIRE(c->Write(b).ok());
    }
    CreateIndexes(*c, config);
    std::mt19937 rng(99 + config);
    Checker ck{*c, ReadAll(*c)};
    REQUIRE(ck.all.size() == n);
    for (int i = 0; i < 250; ++i) ck.Check(gen.Where(0), rng, i % 5 == 0, i % 25 == 0);
    REQUIRE(ck.recall_n > 10);
    CHECK(ck.recall_sum / ck.recall_n >= 0.9);

    // Indexes follow replacements and deletes.
    WriteBatch b;
    for (size_t i = 0; i < 300; ++i) {
      json m = gen.Metadata();
      if (i % 3 == 0) b.Delete("p" + std::to_string(i));
      else b.Upsert("p" + std::to_string(i), std::span<const float>(vecs.data() + i * 8, 8), m.is_null() ? "" : m.dump());
    }
    REQUIRE(c->Write(b).ok());
    ck.all = ReadAll(*c);
    for (int i = 0; i < 60; ++i) ck.Check(gen.Where(0), rng, false, i % 20 == 0);

    // And survive a reopen (loaded from LMDB, not rebuilt from the JSON).
    db.reset();
    db = OpenDb(dir.path());
    c = db->GetCollection("c").value();
    Checker ck2{*c, ReadAll(*c)};
    for (int i = 0; i < 60; ++i) ck2.Check(gen.Where(0), rng, false, false);
  }
}

TEST_CASE("filtered search returns k matches even when very few points match") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  CollectionConfig cfg = testing::SmallConfig(16);
  cfg.flat_max_points = 100;
  std::shared_ptr<Collection> c = db->CreateCollection("c", cfg).value();
  const size_t n = 4000;
  auto vecs = testing::RandomVectors(n, 16, 5);
  WriteBatch b;
  for (size_t i = 0; i < n; ++i)
    b.Upsert("p" + std::to_string(i), std::span<const float>(vecs.data() + i * 16, 16),
             json{{"bucket", static_cast<int>(i % 1000)}}.dump());
  REQUIRE(c->Write(b).ok());
  REQUIRE(c->CreatePayloadIndex("bucket", PayloadType::kInteger).ok());
  auto q = testing::RandomVectors(1, 16, 77);
  for (int matches : {12, 40, 400, 2000}) {  // 0.3% .. 50% of the points
    CAPTURE(matches);
    SearchParams sp;
    sp.k = 10;
    sp.ef = 16;  // small beams make short results likely if the search gave up early
    sp.where = json{{"bucket", {{"$lt", matches / 4}}}}.dump();
    for (FilterStrategy st : {FilterStrategy::kAuto, FilterStrategy::kGraph, FilterStrategy::kPostFilter}) {
      sp.filter_strategy = st;
      auto hits = c->Search(q, sp);
      REQUIRE(hits.ok());
      CHECK(hits->size() == 10);
      for (auto& h : *hits) CHECK(std::stoi(h.id.substr(1)) % 1000 < matches / 4);
    }
    CHECK(c->Count(sp.where).value() == static_cast<uint64_t>(matches));
  }
}

TEST_CASE("delete by filter removes exactly the matching points") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  CollectionConfig cfg = testing::SmallConfig(4);
  cfg.shards = 2;
  std::shared_ptr<Collection> c = db->CreateCollection("c", cfg).value();
  WriteBatch b;
  for (int i = 0; i < 100; ++i)
    b.Upsert("p" + std::to_string(i), testing::VectorForId(std::to_string(i), 4),
             json{{"n", i}, {"tag", i % 2 ? "odd" : "even"}}.dump());
  REQUIRE(c->Write(b).ok());
  REQUIRE(c->CreatePayloadIndex("tag", PayloadType::kKeyword).ok());
  auto n = c->DeleteWhere(R"({"tag": "odd", "n": {"$gte": 50}})");
  REQUIRE(n.ok());
  CHECK(*n == 25);
  CHECK(c->Count().value() == 75);
  CHECK(c->Count(R"({"tag": "odd"})").value() == 25);
  CHECK(c->Count(R"({"n": {"$gte": 50}})").value() == 25);
  CHECK(c->DeleteWhere(R"({"tag": "none"})").value() == 0);
  // A malformed filter deletes nothing.
  auto bad = c->DeleteWhere(R"({"n": {"$gt": [1]}})");
  CHECK(bad.status().IsInvalidArgument());
  CHECK(bad.status().message().find("$.n.$gt") != std::string::npos);
  CHECK(c->Count().value() == 75);
}

TEST_CASE("payload index management and filter errors") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = db->CreateCollection("c", testing::SmallConfig(4)).value();
  CHECK(c->CreatePayloadIndex("", PayloadType::kKeyword).IsInvalidArgument());
  CHECK(c->CreatePayloadIndex("a..b", PayloadType::kKeyword).IsInvalidArgument());
  CHECK(c->CreatePayloadIndex("$or", PayloadType::kKeyword).IsInvalidArgument());
  REQUIRE(c->CreatePayloadIndex("genre", PayloadType::kKeyword).ok());
  REQUIRE(c->CreatePayloadIndex("meta.year", PayloadType::kInteger).ok());
  Status dup = c->CreatePayloadIndex("genre", PayloadType::kInteger);
  CHECK(dup.code() == StatusCode::kAlreadyExists);
  CHECK(dup.message().find("genre") != std::string::npos);
  auto list = c->ListPayloadIndexes().value();
  REQUIRE(list.size() == 2);
  CHECK(list[0].field == "genre");
  CHECK(list[1].type == PayloadType::kInteger);
  CHECK(c->DropPayloadIndex("nope").IsNotFound());
  REQUIRE(c->DropPayloadIndex("genre").ok());
  CHECK(c->ListPayloadIndexes().value().size() == 1);

  SearchParams sp;
  sp.where = "{\"genre\": ";
  auto q = testing::VectorForId("q", 4);
  auto r = c->Search(q, sp);
  CHECK(r.status().IsInvalidArgument());
  CHECK(r.status().message().find("not valid JSON") != std::string::npos);
  sp.where = R"({"genre": {"$regex": "x"}})";
  r = c->Search(q, sp);
  CHECK(r.status().message().find("unknown operator $regex") != std::string::npos);
  CHECK(c->Count(R"({"$or": []})").status().IsInvalidArgument());
  CHECK(c->Scroll("", 10, {}, "[1]").status().IsInvalidArgument());
  // {} and "" mean no filter.
  CHECK(c->Count("{}").value() == 0);
  PayloadType t;
  CHECK(ParsePayloadType("float", &t));
  CHECK(t == PayloadType::kFloat);
  CHECK_FALSE(ParsePayloadType("text", &t));
}

TEST_CASE("option names parse back to what they name, and unknown names are InvalidArgument") {
  for (FilterStrategy f : {FilterStrategy::kAuto, FilterStrategy::kExact, FilterStrategy::kGraph,
                           FilterStrategy::kPostFilter})
    CHECK(ParseFilterStrategy(FilterStrategyName(f)).value() == f);
  CHECK(ParseFilterStrategy("postfilter").value() == FilterStrategy::kPostFilter);
  auto bad = ParseFilterStrategy("fastest");
  CHECK(bad.status().IsInvalidArgument());
  CHECK(bad.status().message().find("'fastest'") != std::string::npos);
  for (Durability d : {Durability::kFull, Durability::kNoMetaSync, Durability::kNoSync})
    CHECK(ParseDurability(DurabilityName(d)).value() == d);
  CHECK(ParseDurability("no_sync").value() == Durability::kNoSync);
  CHECK(ParseDurability("sometimes").status().IsInvalidArgument());
}

}  // namespace
}  // namespace vectron
