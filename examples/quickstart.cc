// Quickstart: open a database, create a collection, insert a few thousand vectors with
// metadata in atomic batches, search, and print the results.
//
//   build/examples/quickstart [DIR]     (default ./vectron-data)
#include <cstdio>
#include <random>
#include <string>

#include "vectron/vectron.h"

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "./vectron-data";
  auto db = vectron::Database::Open(dir);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
    return 1;
  }

  vectron::CollectionConfig config;
  config.dim = 64;
  config.metric = vectron::Metric::kCosine;
  auto col = (*db)->GetOrCreateCollection("quickstart", config);
  if (!col.ok()) {
    std::fprintf(stderr, "collection: %s\n", col.status().ToString().c_str());
    return 1;
  }

  // 5,000 points in 5 batches; each batch commits atomically and durably.
  const char* colors[] = {"red", "green", "blue"};
  std::mt19937 rng(42);
  std::normal_distribution<float> gauss;
  std::vector<float> v(config.dim);
  for (int b = 0; b < 5; ++b) {
    vectron::WriteBatch batch;
    for (int i = b * 1000; i < (b + 1) * 1000; ++i) {
      for (auto& x : v) x = gauss(rng);
      std::string meta = "{\"n\": " + std::to_string(i) + ", \"color\": \"" + colors[i % 3] + "\"}";
      batch.Upsert("doc-" + std::to_string(i), v, meta);
    }
    if (auto s = (*col)->Write(batch); !s.ok()) {
      std::fprintf(stderr, "write: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("collection \"quickstart\" in %s holds %llu points\n", dir.c_str(),
              static_cast<unsigned long long>((*col)->Count().value()));

  // Search near doc-42's vector: it comes first, with score (cosine distance) ~0.
  auto doc = (*col)->Get(std::vector<std::string>{"doc-42"});
  vectron::SearchParams params;
  params.k = 5;
  params.include_metadata = true;
  auto hits = (*col)->Search((*doc)[0]->vector, params);
  if (!hits.ok()) {
    std::fprintf(stderr, "search: %s\n", hits.status().ToString().c_str());
    return 1;
  }
  std::printf("top %d for doc-42 (score = cosine distance, lower is nearer):\n", params.k);
  for (const auto& h : *hits) std::printf("  %-10s %.4f  %s\n", h.id.c_str(), h.score, h.metadata.c_str());

  // Bad input is refused with a clear error and changes nothing.
  vectron::WriteBatch bad;
  bad.Upsert("short", std::vector<float>{1, 2, 3});
  std::printf("writing a 3-dim vector: %s\n", (*col)->Write(bad).ToString().c_str());
  return 0;
}
