// vectron_rerank_bench: the cost of reranking over plain search, per stage, at 100 and
// 1,000 candidates, and the result cache's effect on a repeated-query workload, on the
// shared GloVe words (first 50,000, HNSW, one thread). Prints a markdown table for
// docs/benchmarks.md ("Reranking"); every figure is a ratio to plain search (k = 10)
// measured in the same process, so machines and load compare.
//   vectron_rerank_bench [DATASETS_DIR] [POINTS] [QUERIES]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets.h"
#include "vectron/vectron.h"

using namespace vectron;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string root = argc > 1 ? argv[1] : "../shared/datasets";
  const size_t points = argc > 2 ? std::stoul(argv[2]) : 50000, nq = argc > 3 ? std::stoul(argv[3]) : 200;
  const std::string dir = root + "/glove-100-angular-200k";
  auto base = tools::ReadFvecs(dir + "/base.fvecs", points);
  auto queries = tools::ReadFvecs(dir + "/query.fvecs", nq);
  if (!base.ok() || !queries.ok()) {
    std::printf("skipped: no %s\n", dir.c_str());
    return 77;
  }
  std::vector<std::string> words;
  std::ifstream in(dir + "/base_words.txt");
  for (std::string w; words.size() < points && std::getline(in, w);) words.push_back(w);
  char tmpl[] = "/tmp/vectron-rerank-bench-XXXXXX";
  const std::string tmp = mkdtemp(tmpl);
  DatabaseOptions o;
  o.threads = 1;
  o.durability = Durability::kNoSync;
  auto db = Database::Open(tmp, o).value();
  CollectionConfig cfg;
  cfg.dim = base->dim;
  cfg.metric = Metric::kCosine;
  cfg.flat_max_points = 0;
  std::shared_ptr<Collection> col = db->CreateCollection("g", cfg).value();
  for (size_t i = 0; i < base->rows; i += 5000) {
    WriteBatch b;
    for (size_t r = i; r < std::min(base->rows, i + 5000); ++r) {
      const std::string& w = r < words.size() ? words[r] : "";
      nlohmann::json meta = {{"word", w}, {"am", !w.empty() && w[0] >= 'a' && w[0] <= 'm'},
                             {"pop", static_cast<double>(base->rows - r)}, {"ts", 1'700'000'000.0 + r * 60.0}};
      b.Upsert(std::to_string(r), std::span<const float>(base->data.data() + r * base->dim, base->dim), meta.dump());
    }
    if (Status s = col->Write(b); !s.ok()) {
      std::fprintf(stderr, "write: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  // Some ratings for the feedback stage: one per point of the first 5,000.
  for (size_t r = 0; r < std::min<size_t>(5000, base->rows); ++r) (void)col->Feedback(std::to_string(r), 1 + r % 5);
  auto query = [&](size_t q) { return std::span<const float>(queries->data.data() + q * queries->dim, queries->dim); };
  SearchParams sp;
  sp.k = 10;
  auto time_plain = [&](int ef) {
    SearchParams p = sp;
    p.ef = ef;
    double t0 = Now();
    for (int rep = 0; rep < 3; ++rep)
      for (size_t q = 0; q < nq; ++q) (void)col->Search(query(q), p).value();
    return (Now() - t0) / (3.0 * nq);
  };
  RerankOptions no_cache;
  no_cache.cache = false;
  no_cache.now_ms = 1'700'000'000'000 + 3'000'000'000;
  auto time_rerank = [&](const RerankPipeline& p, const RerankOptions& opts) {
    double t0 = Now();
    for (int rep = 0; rep < 3; ++rep)
      for (size_t q = 0; q < nq; ++q) (void)col->SearchReranked(query(q), sp, p, opts).value();
    return (Now() - t0) / (3.0 * nq);
  };
  (void)time_plain(0);  // warm up
  const double plain = time_plain(0);
  std::printf("GloVe first %zu words, %zu queries, k = 10, one thread. Plain search: %.1f us/query.\n\n", base->rows,
              nq, plain * 1e6);
  std::printf("| stage | 100 candidates | 1,000 candidates |\n|---|---|---|\n");
  struct Stage {
    const char* name;
    std::function<void(RerankPipeline&)> set;
  };
  const std::vector<Stage> stages = {
      {"fetch only (no stage)", [](RerankPipeline&) {}},
      {"boost (1 filter)", [](RerankPipeline& p) { p.boosts.push_back({"{\"am\":true}", 2.0}); }},
      {"field (log1p)", [](RerankPipeline& p) { p.fields.push_back({"pop", 0.01, FieldTransform::kLog1p}); }},
      {"decay", [](RerankPipeline& p) { p.decay = RerankDecay{"ts", 86400, 0.1}; }},
      {"mmr (lambda 0.7)", [](RerankPipeline& p) { p.mmr = RerankMmr{0.7}; }},
      {"feedback", [](RerankPipeline& p) { p.feedback = RerankFeedback{0.5, 5, 3}; }},
      {"custom (C++ callback)", [](RerankPipeline& p) {
         p.custom = RerankCustom{[](std::span<const float>, std::span<const RerankCandidate> c) -> Result<std::vector<double>> {
                                   std::vector<double> s(c.size());
                                   for (size_t i = 0; i < c.size(); ++i) s[i] = -c[i].distance;
                                   return s;
                                 },
                                 1.0};
       }},
  };
  for (const auto& st : stages) {
    double t[2];
    const int cands[2] = {100, 1000};
    for (int i = 0; i < 2; ++i) {
      RerankPipeline p;
      p.candidates = cands[i];
      st.set(p);
      t[i] = time_rerank(p, no_cache);
    }
    std::printf("| %s | %.1f us (%.2fx) | %.1f us (%.2fx) |\n", st.name, t[0] * 1e6, t[0] / plain, t[1] * 1e6,
                t[1] / plain);
  }
  // The cache: the same 200 queries asked 3 times (the first round misses).
  RerankPipeline p;
  p.candidates = 100;
  p.boosts.push_back({"{\"am\":true}", 2.0});
  p.feedback = RerankFeedback{0.5, 5, 3};
  const double uncached = time_rerank(p, no_cache);
  RerankOptions cached = no_cache;
  cached.cache = true;
  const double with_cache = time_rerank(p, cached);
  const ResultCacheStats cs = col->CacheStats();
  std::printf("\nRepeated queries (boost + feedback, 100 candidates; each query 3 times): %.1f us/query without the "
              "cache, %.1f us with it (%.2fx of plain search; hits %llu, misses %llu).\n",
              uncached * 1e6, with_cache * 1e6, with_cache / plain, static_cast<unsigned long long>(cs.hits),
              static_cast<unsigned long long>(cs.misses));
  db.reset();
  std::filesystem::remove_all(tmp);
  return 0;
}
