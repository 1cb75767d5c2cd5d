// Vectron's own HNSW search (graph_search.h) with each kernel level, against brute
// force on random data.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "index/distance.h"
#include "index/hnsw_index.h"
#include "index/kernels.h"
#include "test_util.h"

using namespace vectron;

namespace {

std::vector<uint64_t> Labels(size_t n) {
  std::vector<uint64_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// Gaussian data with a different scale and offset per dimension (what per-dimension
// ranges are for), optionally normalised.
std::vector<float> SkewedVectors(size_t n, uint32_t dim, uint64_t seed, bool normalise) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(n * dim);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t d = 0; d < dim; ++d) v[i * dim + d] = g(rng) * (1.0f + static_cast<float>(d % 7)) + 0.3f * static_cast<float>(d % 5);
    if (normalise) Normalize(std::span<float>(v.data() + i * dim, dim));
  }
  return v;
}

std::vector<uint64_t> TrueNeighbours(const std::vector<float>& data, size_t n, uint32_t dim, const float* q, size_t k,
                                     Metric m) {
  std::vector<std::pair<float, uint64_t>> d;
  for (size_t i = 0; i < n; ++i) d.push_back({IndexDistance(m, q, data.data() + i * dim, dim), i});
  std::partial_sort(d.begin(), d.begin() + static_cast<ptrdiff_t>(k), d.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < k; ++i) out.push_back(d[i].second);
  return out;
}


}  // namespace

TEST_CASE("hnsw search finds the true neighbours and returns exact distances") {
  const uint32_t dim = 33;  // odd: kernel tails
  const size_t n = 3000, nq = 40;
  for (Metric metric : {Metric::kL2, Metric::kCosine}) {
    const bool cosine = metric == Metric::kCosine;
    auto data = SkewedVectors(n, dim, 2, cosine);
    auto queries = SkewedVectors(nq, dim, 3, cosine);
    auto idx = NewHnswIndexImpl(dim, metric, {}, 64);  // grows as it fills
    REQUIRE(idx->Upsert(Labels(n), data, 2).ok());
    size_t hit = 0;
    for (size_t q = 0; q < nq; ++q) {
      const float* qp = queries.data() + q * dim;
      auto truth = TrueNeighbours(data, n, dim, qp, 10, metric);
      IndexSearchOptions o;
      o.ef = 100;
      auto got = idx->Search(std::span<const float>(qp, dim), 10, o);
      REQUIRE(got.size() == 10);
      for (size_t i = 0; i < got.size(); ++i) {
        hit += std::count(truth.begin(), truth.end(), got[i].label);
        // Scores are exact and sorted.
        CHECK(got[i].distance == doctest::Approx(IndexDistance(metric, qp, data.data() + got[i].label * dim, dim)).epsilon(1e-4));
        if (i > 0) CHECK(got[i - 1].distance <= got[i].distance);
      }
    }
    CAPTURE(MetricName(metric));
    CHECK(static_cast<double>(hit) / (10.0 * nq) >= 0.95);
  }
}

TEST_CASE("hnsw search gives the same results with the fallback kernels as with the best level") {
  const uint32_t dim = 45;
  const size_t n = 2000, nq = 30;
  const SimdLevel before = ActiveKernels().level;
  {
    auto data = SkewedVectors(n, dim, 4, false);
    auto queries = SkewedVectors(nq, dim, 5, false);
    auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, n);
    REQUIRE(idx->Upsert(Labels(n), data, 1).ok());
    IndexSearchOptions o;
    o.ef = 64;
    std::vector<std::vector<Neighbor>> best;
    for (size_t q = 0; q < nq; ++q) best.push_back(idx->Search(std::span<const float>(queries.data() + q * dim, dim), 10, o));
    for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512, SimdLevel::kAvx512Vnni}) {
      if (!KernelsFor(level)) continue;
      REQUIRE(SetActiveSimdLevel(level).ok());
      size_t same = 0;
      for (size_t q = 0; q < nq; ++q) {
        auto got = idx->Search(std::span<const float>(queries.data() + q * dim, dim), 10, o);
        REQUIRE(got.size() == best[q].size());
        for (size_t i = 0; i < got.size(); ++i) {
          same += got[i].label == best[q][i].label;
          CHECK(got[i].distance == doctest::Approx(best[q][i].distance).epsilon(1e-4));
        }
      }
      CAPTURE(SimdLevelName(level));
      // Rounding may swap two neighbours at (nearly) equal distance, nothing more.
      CHECK(same >= nq * 10 * 98 / 100);
    }
    REQUIRE(SetActiveSimdLevel(before).ok());
  }
}
