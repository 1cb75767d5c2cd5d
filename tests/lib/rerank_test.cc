// The rerank pipeline: each stage on hand-made candidates (RunRerank), the pipeline's
// checks and JSON form, and Collection::SearchReranked end to end.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "test_util.h"
#include "vectron/database.h"
#include "vectron/rerank.h"

using namespace vectron;
using testing::TempDir;

namespace {

Hit MakeHit(std::string id, float d, std::string meta = "", std::vector<float> v = {}) {
  Hit h;
  h.id = std::move(id);
  h.score = d;
  h.metadata = std::move(meta);
  h.vector = std::move(v);
  return h;
}

std::vector<std::string> Ids(const std::vector<RerankedHit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.hit.id);
  return out;
}

std::vector<RerankedHit> Run(const RerankPipeline& p, std::vector<Hit> c, int k, std::vector<RatingStats> r = {},
                             int64_t now_ms = 0, Metric metric = Metric::kL2) {
  REQUIRE_MESSAGE(p.Validate(k).ok(), p.Validate(k).ToString());
  RerankOptions o;
  o.explain = true;
  o.now_ms = now_ms;
  const float q[2] = {0, 0};
  auto out = RunRerank(p, q, metric, std::move(c), r, k, 0, o);
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  return std::move(out).value();
}

}  // namespace

TEST_CASE("an empty pipeline keeps the distance order and reports the similarity") {
  RerankPipeline p;
  auto hits = Run(p, {MakeHit("a", 0.0f), MakeHit("b", 1.0f), MakeHit("c", 3.0f)}, 2);
  CHECK(Ids(hits) == std::vector<std::string>{"a", "b"});
  CHECK(hits[0].relevance == doctest::Approx(1.0));
  CHECK(hits[1].relevance == doctest::Approx(0.5));  // l2: 1 / (1 + d)
  CHECK(hits[1].hit.score == 1.0f);                   // the distance stays
  // cosine: 1 - d/2; ip: 1 / (1 + e^d)
  auto cos = Run(p, {MakeHit("a", 0.5f)}, 1, {}, 0, Metric::kCosine);
  CHECK(cos[0].components.similarity == doctest::Approx(0.75));
  auto ip = Run(p, {MakeHit("a", 0.0f)}, 1, {}, 0, Metric::kIP);
  CHECK(ip[0].components.similarity == doctest::Approx(0.5));
}

TEST_CASE("a boost multiplies the similarity of matching hits") {
  RerankPipeline p;
  p.boosts.push_back({"{\"color\":\"red\"}", 3.0});
  auto hits = Run(p, {MakeHit("a", 0.0f, "{\"color\":\"blue\"}"), MakeHit("b", 1.0f, "{\"color\":\"red\"}"),
                      MakeHit("c", 0.5f, "")},
                  3);
  CHECK(Ids(hits) == std::vector<std::string>{"b", "a", "c"});
  CHECK(hits[0].components.boost == 3.0);
  CHECK(hits[0].relevance == doctest::Approx(1.5));
  CHECK(hits[1].components.boost == 1.0);
}

TEST_CASE("a field stage adds its weighted value, raw or log1p") {
  RerankPipeline p;
  p.fields.push_back({"stats.pop", 0.1, FieldTransform::kLog1p});
  auto hits = Run(p, {MakeHit("a", 0.0f, "{\"stats\":{\"pop\":0}}"), MakeHit("b", 0.0f, "{\"stats\":{\"pop\":1000}}"),
                      MakeHit("c", 0.0f, "{\"stats\":{\"pop\":\"many\"}}"), MakeHit("d", 0.0f, "{\"stats\":{\"pop\":-5}}")},
                  4);
  CHECK(hits[0].hit.id == "b");
  CHECK(hits[0].components.fields == doctest::Approx(0.1 * std::log1p(1000.0)));
  for (size_t i = 1; i < 4; ++i) CHECK(hits[i].components.fields == 0);  // 0, non-numeric, negative
  p.fields[0] = {"stats.pop", -0.001, FieldTransform::kNone};
  hits = Run(p, {MakeHit("a", 0.0f, "{\"stats\":{\"pop\":0}}"), MakeHit("b", 0.0f, "{\"stats\":{\"pop\":1000}}")}, 2);
  CHECK(Ids(hits) == std::vector<std::string>{"a", "b"});
  CHECK(hits[1].components.fields == doctest::Approx(-1.0));
}

TEST_CASE("recency decay halves per half-life and counts a future timestamp as new") {
  RerankPipeline p;
  p.decay = RerankDecay{"ts", 100, 1.0};
  const int64_t now_ms = 1'000'000;  // 1000 s
  auto hits = Run(p, {MakeHit("old", 0.0f, "{\"ts\":800}"), MakeHit("new", 0.0f, "{\"ts\":900}"),
                      MakeHit("future", 0.0f, "{\"ts\":5000}"), MakeHit("none", 0.0f, "{}")},
                  4, {}, now_ms);
  CHECK(Ids(hits) == std::vector<std::string>{"future", "new", "old", "none"});
  CHECK(hits[0].components.decay == doctest::Approx(1.0));
  CHECK(hits[1].components.decay == doctest::Approx(0.5));
  CHECK(hits[2].components.decay == doctest::Approx(0.25));
  CHECK(hits[3].components.decay == 0);
}

TEST_CASE("mmr skips a near-duplicate for a diverse hit") {
  RerankPipeline p;
  std::vector<Hit> c = {MakeHit("a", 0.0f, "", {1, 0}), MakeHit("a2", 0.01f, "", {1, 0.01f}),
                        MakeHit("b", 0.2f, "", {0, 1})};
  CHECK(Ids(Run(p, c, 2)) == std::vector<std::string>{"a", "a2"});
  p.mmr = RerankMmr{0.5};
  auto hits = Run(p, c, 2);
  CHECK(Ids(hits) == std::vector<std::string>{"a", "b"});
  CHECK(hits[1].components.mmr_redundancy == doctest::Approx(0.0));
  // lambda 1 is relevance alone.
  p.mmr = RerankMmr{1.0};
  CHECK(Ids(Run(p, c, 2)) == std::vector<std::string>{"a", "a2"});
}

TEST_CASE("feedback boosts by a smoothed mean: one rating moves a point less than a hundred") {
  RerankPipeline p;
  p.feedback = RerankFeedback{1.0, 5, 3};
  RatingStats one, hundred, bad;
  one.count = 1;
  one.histogram[4] = 1;
  hundred.count = 100;
  hundred.histogram[4] = 100;
  bad.count = 10;
  bad.histogram[0] = 10;
  auto hits = Run(p, {MakeHit("none", 0.0f), MakeHit("one", 0.0f), MakeHit("hundred", 0.0f), MakeHit("bad", 0.0f)},
                  4, {RatingStats{}, one, hundred, bad});
  CHECK(Ids(hits) == std::vector<std::string>{"hundred", "one", "none", "bad"});
  CHECK(hits[0].components.feedback == doctest::Approx(((15.0 + 500) / 105 - 3) / 2));
  CHECK(hits[1].components.feedback == doctest::Approx(((15.0 + 5) / 6 - 3) / 2));
  CHECK(hits[1].components.feedback < hits[0].components.feedback / 4);
  CHECK(hits[2].components.feedback == 0);
  CHECK(hits[3].components.feedback < 0);
}

TEST_CASE("a custom scorer's scores are weighted in, and its errors fail the search") {
  RerankPipeline p;
  p.custom = RerankCustom{[](std::span<const float>, std::span<const RerankCandidate> c) -> Result<std::vector<double>> {
                            std::vector<double> s;
                            for (const auto& x : c) s.push_back(x.id == "c" ? 10.0 : 0.0);
                            return s;
                          },
                          0.5};
  auto hits = Run(p, {MakeHit("a", 0.0f), MakeHit("b", 0.1f), MakeHit("c", 5.0f)}, 1);
  CHECK(Ids(hits) == std::vector<std::string>{"c"});
  CHECK(hits[0].components.custom == 5.0);
  const float q[2] = {0, 0};
  p.custom->fn = [](std::span<const float>, std::span<const RerankCandidate>) -> Result<std::vector<double>> {
    return std::vector<double>{1.0};
  };
  auto r = RunRerank(p, q, Metric::kL2, {MakeHit("a", 0), MakeHit("b", 0)}, {}, 1, 0, {});
  CHECK(r.status().ToString().find("returned 1 scores for 2 candidates") != std::string::npos);
  p.custom->fn = [](std::span<const float>, std::span<const RerankCandidate>) -> Result<std::vector<double>> {
    return std::vector<double>{NAN};
  };
  CHECK(RunRerank(p, q, Metric::kL2, {MakeHit("a", 0)}, {}, 1, 0, {}).status().IsInvalidArgument());
  p.custom->fn = [](std::span<const float>, std::span<const RerankCandidate>) -> Result<std::vector<double>> {
    return Status::Unavailable("model not loaded");
  };
  CHECK(RunRerank(p, q, Metric::kL2, {MakeHit("a", 0)}, {}, 1, 0, {}).status().code() == StatusCode::kUnavailable);
}

TEST_CASE("bad pipelines are refused naming the stage and the problem") {
  auto parse_error = [](const std::string& json) {
    auto p = ParseRerankPipeline(json);
    REQUIRE(!p.ok());
    CHECK(p.status().IsInvalidArgument());
    return p.status().ToString();
  };
  CHECK(parse_error("{\"rocket\":{}}").find("unknown key \"rocket\"") != std::string::npos);
  CHECK(parse_error("{\"mmr\":{\"lambda\":1.5}}").find("mmr: lambda") != std::string::npos);
  CHECK(parse_error("{\"feedback\":{}}").find("feedback: \"weight\" is required") != std::string::npos);
  CHECK(parse_error("{\"boosts\":[{\"where\":{\"a\":{\"$bad\":1}},\"weight\":2}]}").find("boosts[0].where") !=
        std::string::npos);
  CHECK(parse_error("{\"boosts\":[{\"where\":{},\"weight\":0}]}").find("above 0") != std::string::npos);
  CHECK(parse_error("{\"fields\":[{\"field\":\"x\",\"weight\":1,\"transform\":\"sqrt\"}]}").find("transform") !=
        std::string::npos);
  CHECK(parse_error("{\"decay\":{\"field\":\"ts\",\"half_life_s\":0,\"weight\":1}}").find("half_life_s") !=
        std::string::npos);
  CHECK(parse_error("{\"candidates\":1001}").find("candidates") != std::string::npos);
  CHECK(parse_error("{\"candidates\":0}").find("candidates") != std::string::npos);
  CHECK(parse_error("[1]").find("must be an object") != std::string::npos);
  CHECK(parse_error("{").find("not valid JSON") != std::string::npos);
  std::string many = "{\"fields\":[";
  for (int i = 0; i < 17; ++i) many += std::string(i ? "," : "") + "{\"field\":\"f\",\"weight\":1}";
  CHECK(parse_error(many + "]}").find("at most 16") != std::string::npos);
  // NaN weights cannot be written in JSON; in C++ they are refused.
  RerankPipeline p;
  p.fields.push_back({"x", NAN, FieldTransform::kNone});
  CHECK(p.Validate(10).ToString().find("fields[0]: weight must be a finite number") != std::string::npos);
  p.fields[0].weight = 1e7;
  CHECK(p.Validate(10).IsInvalidArgument());
  p = RerankPipeline{};
  p.candidates = 5;
  CHECK(p.Validate(10).ToString().find("5 is fewer than the 10 hits") != std::string::npos);
  CHECK(p.Validate(5).ok());
  p.candidates = 0;
  CHECK(p.CandidatesFor(10) == 40);
  CHECK(p.CandidatesFor(600) == 1000);
  CHECK(p.Validate(1001).IsInvalidArgument());
  p.custom = RerankCustom{};
  CHECK(p.Validate(1).ToString().find("custom: no scoring function") != std::string::npos);
}

TEST_CASE("a pipeline's JSON form reads back the same") {
  const std::string text =
      "{\"boosts\":[{\"weight\":2.0,\"where\":{\"tag\":\"x\"}}],\"candidates\":100,\"decay\":{\"field\":\"ts\","
      "\"half_life_s\":60.0,\"weight\":0.5},\"feedback\":{\"prior_count\":5.0,\"prior_mean\":3.0,\"weight\":1.0},"
      "\"fields\":[{\"field\":\"a.b\",\"transform\":\"log1p\",\"weight\":0.25}],\"mmr\":{\"lambda\":0.7}}";
  auto p = ParseRerankPipeline(text);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  CHECK(RerankPipelineToJson(*p) == text);
}

TEST_CASE("SearchReranked fetches candidates, reranks, pages and names the query") {
  TempDir dir;
  auto db = Database::Open(dir.path()).value();
  CollectionConfig cfg = testing::SmallConfig(2);
  cfg.shards = 2;
  std::shared_ptr<Collection> c = db->CreateCollection("r", cfg).value();
  WriteBatch b;
  // Points on a line: p0 nearest the query at 0; the odd ones are "promoted".
  for (int i = 0; i < 50; ++i)
    b.Upsert("p" + std::to_string(i), std::vector<float>{static_cast<float>(i) * 0.1f, 0},
             "{\"promoted\":" + std::string(i % 2 ? "true" : "false") + "}");
  REQUIRE(c->Write(b).ok());
  const std::vector<float> q = {0, 0};
  SearchParams sp;
  sp.k = 3;
  RerankPipeline p;
  auto plain = c->SearchReranked(q, sp, p).value();
  CHECK(plain.query_id.size() == 32);
  CHECK(Ids(plain.hits) == std::vector<std::string>{"p0", "p1", "p2"});
  CHECK(plain.hits[0].hit.metadata.empty());  // not asked for
  auto again = c->SearchReranked(q, sp, p).value();
  CHECK(again.query_id != plain.query_id);

  p.boosts.push_back({"{\"promoted\":true}", 100.0});
  auto boosted = c->SearchReranked(q, sp, p).value();
  CHECK(Ids(boosted.hits) == std::vector<std::string>{"p1", "p3", "p5"});
  sp.offset = 1;
  CHECK(Ids(c->SearchReranked(q, sp, p).value().hits) == std::vector<std::string>{"p3", "p5", "p7"});
  sp.offset = 0;
  // Candidates bound the rerank: with 4 of them only p1 and p3 are promoted.
  p.candidates = 4;
  CHECK(Ids(c->SearchReranked(q, sp, p).value().hits) == std::vector<std::string>{"p1", "p3", "p0"});
  p.candidates = 2;
  CHECK(c->SearchReranked(q, sp, p).status().ToString().find("fewer than the 3 hits") != std::string::npos);
  p.candidates = 0;
  // Filter of the search applies to the candidates.
  sp.where = "{\"promoted\":false}";
  CHECK(Ids(c->SearchReranked(q, sp, p).value().hits) == std::vector<std::string>{"p0", "p2", "p4"});
  sp.where.clear();

  // Feedback: ratings of p10 lift it above its neighbours.
  RerankPipeline fb;
  fb.candidates = 20;
  fb.feedback = RerankFeedback{2.0, 5, 3};
  for (int i = 0; i < 20; ++i) REQUIRE(c->Feedback("p10", 5).ok());
  sp.k = 1;
  auto lifted = c->SearchReranked(q, sp, fb, RerankOptions{true, 0}).value();
  CHECK(Ids(lifted.hits) == std::vector<std::string>{"p10"});
  CHECK(lifted.hits[0].components.feedback > 1.0);
  // A bad query is refused as Search refuses it.
  CHECK(c->SearchReranked(std::vector<float>{1, 2, 3}, sp, fb).status().IsInvalidArgument());
}

namespace {

std::unique_ptr<Database> CacheDb(const std::string& dir, uint64_t cache_bytes) {
  DatabaseOptions o;
  o.result_cache_bytes = cache_bytes;
  auto db = Database::Open(dir, o);
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(db).value();
}

std::shared_ptr<Collection> LineCollection(Database& db, int n) {
  CollectionConfig cfg = testing::SmallConfig(2);
  cfg.shards = 2;
  std::shared_ptr<Collection> c = db.CreateCollection("c", cfg).value();
  WriteBatch b;
  for (int i = 0; i < n; ++i) b.Upsert("p" + std::to_string(i), std::vector<float>{static_cast<float>(i), 0}, "{}");
  REQUIRE(c->Write(b).ok());
  return c;
}

}  // namespace

TEST_CASE("the result cache answers repeats and misses after a write or a rating") {
  TempDir dir;
  auto db = CacheDb(dir.path(), 1 << 20);
  std::shared_ptr<Collection> c = LineCollection(*db, 20);
  const std::vector<float> q = {0, 0};
  SearchParams sp;
  sp.k = 2;
  RerankPipeline p;
  p.feedback = RerankFeedback{2.0, 5, 3};
  auto first = c->SearchReranked(q, sp, p).value();
  CHECK(c->CacheStats().misses == 1);
  auto second = c->SearchReranked(q, sp, p).value();
  CHECK(c->CacheStats().hits == 1);
  CHECK(Ids(second.hits) == Ids(first.hits));
  CHECK(second.query_id != first.query_id);  // a fresh id even from the cache
  // Another parameter is another key; opting out neither reads nor writes.
  sp.k = 3;
  CHECK(c->SearchReranked(q, sp, p).value().hits.size() == 3);
  CHECK(c->CacheStats().misses == 2);
  RerankOptions no_cache;
  no_cache.cache = false;
  (void)c->SearchReranked(q, sp, p, no_cache).value();
  CHECK(c->CacheStats().hits == 1);
  CHECK(c->CacheStats().misses == 2);
  sp.k = 2;
  // A rating changes the answer: the cached one is stale.
  for (int i = 0; i < 20; ++i) REQUIRE(c->Feedback("p3", 5).ok());
  p.candidates = 10;
  auto before = c->SearchReranked(q, sp, p).value();  // miss: new key
  CHECK(Ids(before.hits)[0] == "p3");
  REQUIRE(c->Feedback("p3", 1).ok());
  (void)c->SearchReranked(q, sp, p).value();
  CHECK(c->CacheStats().invalidations == 1);
  // A write changes the answer.
  const std::vector<float> q2 = {-0.5f, 0};
  p.feedback.reset();
  p.candidates = 0;
  CHECK(Ids(c->SearchReranked(q2, sp, p).value().hits)[0] == "p0");
  REQUIRE(c->Upsert(std::vector<Point>{Point{"neg", {-0.5f, 0.0f}, ""}}).ok());
  CHECK(Ids(c->SearchReranked(q2, sp, p).value().hits)[0] == "neg");
  CHECK(Ids(c->SearchReranked(q2, sp, p).value().hits)[0] == "neg");
  std::string gone = "neg";
  REQUIRE(c->Delete(std::span<const std::string>(&gone, 1)).ok());
  CHECK(Ids(c->SearchReranked(q2, sp, p).value().hits)[0] == "p0");
  CHECK(c->CacheStats().invalidations == 3);
  // Custom stages and decay on the system clock are not cached.
  const auto misses = c->CacheStats().misses, hits = c->CacheStats().hits;
  p.decay = RerankDecay{"ts", 10, 1};
  (void)c->SearchReranked(q, sp, p).value();
  (void)c->SearchReranked(q, sp, p).value();
  CHECK(c->CacheStats().misses == misses);
  CHECK(c->CacheStats().hits == hits);
}

TEST_CASE("the result cache is bounded by bytes and evicts the least recently used") {
  TempDir dir;
  auto db = CacheDb(dir.path(), 4096);
  std::shared_ptr<Collection> c = LineCollection(*db, 50);
  SearchParams sp;
  sp.k = 10;
  RerankPipeline p;
  for (int i = 0; i < 50; ++i) (void)c->SearchReranked(std::vector<float>{static_cast<float>(i), 0}, sp, p).value();
  ResultCacheStats st = c->CacheStats();
  CHECK(st.bytes <= 4096);
  CHECK(st.evictions > 0);
  CHECK(st.entries + st.evictions == 50);
  // The most recent is still there, the first is gone.
  (void)c->SearchReranked(std::vector<float>{49, 0}, sp, p).value();
  CHECK(c->CacheStats().hits == 1);
  (void)c->SearchReranked(std::vector<float>{0, 0}, sp, p).value();
  CHECK(c->CacheStats().hits == 1);
  // Off: nothing counted, nothing kept.
  TempDir dir2;
  auto off = CacheDb(dir2.path(), 0);
  std::shared_ptr<Collection> c2 = LineCollection(*off, 5);
  (void)c2->SearchReranked(std::vector<float>{0, 0}, sp, p).value();
  CHECK(c2->CacheStats().misses == 0);
  CHECK(c2->CacheStats().entries == 0);
}

TEST_CASE("reranked searches never get a stale cached answer while writers run concurrently") {
  TempDir dir;
  auto db = CacheDb(dir.path(), 1 << 20);
  std::shared_ptr<Collection> c = LineCollection(*db, 10);
  constexpr int kWriters = 3, kRounds = 60;
  std::atomic<int> stale{0}, errors{0};
  std::atomic<bool> done{false};
  RerankPipeline p;
  SearchParams sp;
  sp.k = 1;
  auto where = [](int t) { return std::vector<float>{100.0f + 10.0f * static_cast<float>(t), 5}; };
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string id = "w" + std::to_string(t) + "-" + std::to_string(i);
        WriteBatch b;
        b.Upsert(id, where(t), "{}");
        if (i > 0) b.Delete("w" + std::to_string(t) + "-" + std::to_string(i - 1));
        if (!c->Write(b).ok()) ++errors;
        // After the write returned, the answer at its place is the new point.
        auto r = c->SearchReranked(where(t), sp, p);
        if (!r.ok() || r->hits.empty()) ++errors;
        else if (r->hits[0].hit.id != id) ++stale;
      }
    });
  }
  // Readers keep the cache full of answers at the writers' places.
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      for (int i = 0; !done.load(); ++i) {
        auto res = c->SearchReranked(where(i % kWriters), sp, p);
        if (!res.ok()) ++errors;
      }
    });
  }
  for (int t = 0; t < kWriters; ++t) threads[t].join();
  done = true;
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  CHECK(errors.load() == 0);
  CHECK(stale.load() == 0);
  ResultCacheStats st = c->CacheStats();
  CHECK(st.invalidations > 0);
  MESSAGE("cache under concurrent writes: hits ", st.hits, ", misses ", st.misses, ", invalidations ",
          st.invalidations);
}
