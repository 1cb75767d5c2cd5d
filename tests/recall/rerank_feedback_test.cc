// Ratings move results: on the shared GloVe words, simulated users rate the points of
// the first-letter group "a-m" 5 and the others 1 for a set of queries; the feedback
// stage then lifts group a-m in those queries' top 10 (more of them, most moving up),
// and keeps the hits among the nearest candidates. Without ../shared/datasets it reports itself skipped.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "datasets.h"
#include "lib/test_util.h"

using namespace vectron;

namespace {

std::string DatasetsDir() {
  const char* env = std::getenv("VECTRON_DATASETS");
  return env ? env : VECTRON_SOURCE_DIR "/../shared/datasets";
}

bool GroupAm(const std::string& word) { return !word.empty() && word[0] >= 'a' && word[0] <= 'm'; }

}  // namespace

TEST_CASE("ratings that prefer one metadata value move those points up for GloVe word queries") {
  const std::string dir = DatasetsDir() + "/glove-100-angular-200k";
  constexpr size_t kPoints = 30000, kQueries = 60, kK = 10;
  auto base = tools::ReadFvecs(dir + "/base.fvecs", kPoints).value();
  auto queries = tools::ReadFvecs(dir + "/query.fvecs", kQueries).value();
  std::vector<std::string> words;
  {
    std::ifstream in(dir + "/base_words.txt");
    std::string w;
    while (words.size() < kPoints && std::getline(in, w)) words.push_back(w);
  }
  REQUIRE(words.size() == kPoints);
  testing::TempDir tmp;
  auto db = Database::Open(tmp.path()).value();
  CollectionConfig cfg;
  cfg.dim = base.dim;
  cfg.metric = Metric::kCosine;
  cfg.shards = 2;
  cfg.flat_max_points = kPoints;  // exact search: the test is about the rerank
  std::shared_ptr<Collection> col = db->CreateCollection("glove", cfg).value();
  for (size_t i = 0; i < kPoints; i += 5000) {
    WriteBatch b;
    for (size_t r = i; r < std::min(kPoints, i + 5000); ++r) {
      nlohmann::json meta = {{"word", words[r]}, {"group", GroupAm(words[r]) ? "a-m" : "n-z"}};
      b.Upsert(std::to_string(r), std::span<const float>(base.data.data() + r * base.dim, base.dim), meta.dump());
    }
    REQUIRE(col->Write(b).ok());
  }
  auto query = [&](size_t q) { return std::span<const float>(queries.data.data() + q * queries.dim, queries.dim); };
  SearchParams sp;
  sp.k = kK;
  sp.include_metadata = true;
  auto share_am = [](const std::vector<RerankedHit>& hits) {
    size_t n = 0;
    for (const auto& h : hits) n += h.hit.metadata.find("\"a-m\"") != std::string::npos;
    return n;
  };
  // Users: for each query, every hit of the top 10 gets one rating (5 for a-m, else 1).
  RerankPipeline none;
  size_t before = 0, ratings = 0;
  for (size_t q = 0; q < kQueries; ++q) {
    auto r = col->SearchReranked(query(q), sp, none).value();
    before += share_am(r.hits);
    for (const auto& h : r.hits) {
      const bool am = h.hit.metadata.find("\"a-m\"") != std::string::npos;
      REQUIRE(col->Feedback(h.hit.id, am ? 5 : 1, r.query_id).ok());
      ++ratings;
    }
  }
  // With the feedback stage, over 4 × k candidates.
  RerankPipeline fb;
  fb.feedback = RerankFeedback{0.5, 5, 3};
  size_t after = 0, moved_up = 0, moved_down = 0;
  for (size_t q = 0; q < kQueries; ++q) {
    auto plain = col->SearchReranked(query(q), sp, none).value();
    auto r = col->SearchReranked(query(q), sp, fb).value();
    after += share_am(r.hits);
    // Where each a-m hit of the plain top 10 went (one can drop a place when an a-m
    // point with more ratings passes it).
    for (size_t i = 0; i < plain.hits.size(); ++i) {
      const bool am = plain.hits[i].hit.metadata.find("\"a-m\"") != std::string::npos;
      size_t j = 0;
      while (j < r.hits.size() && r.hits[j].hit.id != plain.hits[i].hit.id) ++j;
      if (am && j < i) ++moved_up;
      if (am && j > i) ++moved_down;
    }
  }
  MESSAGE("GloVe ", kPoints, " words, ", kQueries, " queries, ", ratings, " ratings: group a-m holds ", before,
          " of the top-10 hits before and ", after, " after the feedback stage; a-m hits moved up ", moved_up,
          ", down ", moved_down);
  CHECK(after > before);
  CHECK(moved_up > 0);
  CHECK(moved_up > 2 * moved_down);
  // Every reranked hit is still among the 4 × k nearest.
  SearchParams wide = sp;
  wide.k = 4 * kK;
  for (size_t q = 0; q < kQueries; q += 10) {
    auto near = col->Search(query(q), wide).value();
    std::set<std::string> ids;
    for (const auto& h : near) ids.insert(h.id);
    for (const auto& h : col->SearchReranked(query(q), sp, fb).value().hits) CHECK(ids.count(h.hit.id) == 1);
  }
}

int main(int argc, char** argv) {
  FILE* f = std::fopen((DatasetsDir() + "/README.md").c_str(), "r");
  if (!f) {
    std::printf("skipped: no ../shared/datasets\n");
    return 77;  // meson's "skipped"
  }
  std::fclose(f);
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
