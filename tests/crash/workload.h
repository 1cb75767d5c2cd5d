// The deterministic workload shared by the crash writer and its checker: batch b's
// contents are a pure function of (seed, b).
#pragma once

#include <random>
#include <string>
#include <vector>

#include "../lib/test_util.h"

namespace vectron::testing {

inline constexpr uint32_t kCrashDim = 16;

inline CollectionConfig CrashConfig() {
  CollectionConfig c;
  c.dim = kCrashDim;
  c.metric = Metric::kL2;
  c.shards = 2;                  // spanning batches go through the journal
  c.flat_max_points = 150;       // switch to HNSW early
  c.checkpoint_every_ops = 200;  // checkpoint often, so kills land inside saves too
  return c;
}

struct CrashBatch {
  std::vector<std::string> upserts;
  std::vector<std::string> deletes;
};

inline CrashBatch MakeCrashBatch(uint64_t seed, uint64_t b) {
  std::mt19937_64 rng(seed * 1000003 + b);
  CrashBatch out;
  size_t n = 1 + rng() % 40;
  for (size_t i = 0; i < n; ++i) out.upserts.push_back("b" + std::to_string(b) + "-" + std::to_string(i));
  if (b >= 2) out.deletes.push_back("b" + std::to_string(b - 2) + "-0");
  // Now and then rewrite an older point, so replacements are crash-tested too.
  if (b >= 5 && rng() % 3 == 0) out.upserts.push_back("b" + std::to_string(b - 5) + "-1");
  return out;
}

inline std::string CrashMetadata(const std::string& id, uint64_t b) {
  return "{\"id\":\"" + id + "\",\"batch\":" + std::to_string(b) + "}";
}

inline std::vector<float> CrashVector(const std::string& id, uint64_t b) {
  return VectorForId(id + "@" + std::to_string(b), kCrashDim);
}

// The rating the feedback writer gives the j-th upsert of batch b.
inline int CrashRating(uint64_t b, size_t j) { return 1 + static_cast<int>((b + j) % 5); }

}  // namespace vectron::testing
