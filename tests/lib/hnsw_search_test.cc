// Vectron's own HNSW search (graph_search.h) with each quantization and each kernel
// level, and the Sq8 codec, against brute force on random data.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <set>
#include <thread>

#include "index/distance.h"
#include "index/hnsw_index.h"
#include "index/kernels.h"
#include "index/sq8.h"
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

struct Case {
  Metric metric;
  Quantization quantization;
};

}  // namespace

TEST_CASE("sq8 distances approximate the exact ones, for l2 and inner product") {
  const uint32_t dim = 37;
  auto data = SkewedVectors(500, dim, 1, false);
  for (bool l2 : {true, false}) {
    Sq8Codec codec(dim, l2);
    CHECK(codec.code_bytes() >= dim);
    CHECK((codec.code_bytes() <= 64 ? (codec.code_bytes() & (codec.code_bytes() - 1)) == 0 : codec.code_bytes() % 64 == 0));
    std::vector<const float*> rows;
    for (size_t i = 0; i < 500; ++i) rows.push_back(data.data() + i * dim);
    codec.Train(rows);
    std::vector<uint8_t> code(codec.code_bytes());
    Sq8Codec::Query q;
    const Kernels& k = ActiveKernels();
    std::vector<std::pair<float, float>> pairs;  // (exact, approximate)
    for (size_t qi = 0; qi < 20; ++qi) {
      const float* qv = data.data() + (qi * 13 % 500) * dim;
      codec.Prepare(qv, &q);
      for (size_t i = 0; i < 500; i += 7) {
        codec.Encode(rows[i], code.data());
        pairs.push_back({l2 ? k.l2_sqr(qv, rows[i], dim) : 1.0f - k.dot(qv, rows[i], dim), codec.Distance(q, code.data(), k)});
      }
    }
    // Errors against the spread of the distances (what ranking needs): each coordinate
    // is off by at most half a step (1/510 of its range), each query weight by 1/254
    // of the largest one.
    double mean = 0, var = 0, err_max = 0, err_mean = 0;
    for (auto [e, a] : pairs) mean += e / static_cast<double>(pairs.size());
    for (auto [e, a] : pairs) {
      var += (e - mean) * (e - mean) / static_cast<double>(pairs.size());
      err_max = std::max<double>(err_max, std::abs(a - e));
      err_mean += std::abs(a - e) / static_cast<double>(pairs.size());
    }
    const double spread = std::sqrt(var);
    CAPTURE(l2);
    MESSAGE("sq8 ", (l2 ? "l2" : "ip"), ": distance spread ", spread, ", mean error ", err_mean, ", max error ", err_max);
    CHECK(err_mean <= 0.03 * spread);
    CHECK(err_max <= 0.15 * spread);
  }
}

TEST_CASE("sq8 encodes a constant dimension exactly and clamps values outside the trained range") {
  Sq8Codec codec(2, true);
  std::vector<float> a = {5.0f, 0.0f}, b = {5.0f, 1.0f};
  std::vector<const float*> rows = {a.data(), b.data()};
  codec.Train(rows);
  std::vector<uint8_t> code(codec.code_bytes());
  std::vector<float> far = {5.0f, 100.0f};
  codec.Encode(far.data(), code.data());
  CHECK(code[0] == 0);
  CHECK(code[1] == 255);  // clamped to the top of [0, 1]
  Sq8Codec::Query q;
  codec.Prepare(b.data(), &q);
  // far decodes as (5, 1) = b: distance 0 up to the query's rounding.
  CHECK(codec.Distance(q, code.data(), ActiveKernels()) == doctest::Approx(0.0f).epsilon(1e-3));
}

TEST_CASE("hnsw search finds the true neighbours with every quantization and returns exact distances") {
  const uint32_t dim = 33;  // odd: kernel tails
  const size_t n = 3000, nq = 40;
  for (Case c : {Case{Metric::kL2, Quantization::kNone}, Case{Metric::kL2, Quantization::kSq8},
                 Case{Metric::kCosine, Quantization::kNone}, Case{Metric::kCosine, Quantization::kSq8}}) {
    const bool cosine = c.metric == Metric::kCosine;
    auto data = SkewedVectors(n, dim, 2, cosine);
    auto queries = SkewedVectors(nq, dim, 3, cosine);
    auto idx = NewHnswIndexImpl(dim, c.metric, {}, 64, c.quantization);  // grows (and retrains) as it fills
    REQUIRE(idx->Upsert(Labels(n), data, 2).ok());
    size_t hit = 0;
    for (size_t q = 0; q < nq; ++q) {
      const float* qp = queries.data() + q * dim;
      auto truth = TrueNeighbours(data, n, dim, qp, 10, c.metric);
      IndexSearchOptions o;
      o.ef = 100;
      auto got = idx->Search(std::span<const float>(qp, dim), 10, o);
      REQUIRE(got.size() == 10);
      for (size_t i = 0; i < got.size(); ++i) {
        hit += std::count(truth.begin(), truth.end(), got[i].label);
        // Scores are exact (sq8 rescores with the float vectors) and sorted.
        CHECK(got[i].distance == doctest::Approx(IndexDistance(c.metric, qp, data.data() + got[i].label * dim, dim)).epsilon(1e-4));
        if (i > 0) CHECK(got[i - 1].distance <= got[i].distance);
      }
    }
    CAPTURE(QuantizationName(c.quantization));
    CAPTURE(MetricName(c.metric));
    CHECK(static_cast<double>(hit) / (10.0 * nq) >= 0.95);
  }
}

TEST_CASE("hnsw search gives the same results with the fallback kernels as with the best level") {
  const uint32_t dim = 45;
  const size_t n = 2000, nq = 30;
  const SimdLevel before = ActiveKernels().level;
  for (Quantization quant : {Quantization::kNone, Quantization::kSq8}) {
    auto data = SkewedVectors(n, dim, 4, false);
    auto queries = SkewedVectors(nq, dim, 5, false);
    auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, n, quant);
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
      CAPTURE(QuantizationName(quant));
      // Rounding may swap two neighbours at (nearly) equal distance, nothing more.
      CHECK(same >= nq * 10 * 98 / 100);
    }
    REQUIRE(SetActiveSimdLevel(before).ok());
  }
}

TEST_CASE("an sq8 hnsw index keeps codes right through replacement, removal, and save and load") {
  testing::TempDir dir;
  const uint32_t dim = 20;
  const size_t n = 1500;
  auto data = SkewedVectors(n, dim, 6, false);
  auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, n, Quantization::kSq8);
  REQUIRE(idx->Upsert(Labels(n), data, 2).ok());
  IndexSearchOptions o;
  o.ef = 64;
  // Label 3 takes label 900's vector: both are now exact matches for it.
  std::vector<uint64_t> three = {3};
  REQUIRE(idx->Upsert(three, std::span<const float>(data.data() + 900 * dim, dim), 1).ok());
  auto top = idx->Search(std::span<const float>(data.data() + 900 * dim, dim), 2, o);
  REQUIRE(top.size() == 2);
  CHECK(std::set<uint64_t>{top[0].label, top[1].label} == std::set<uint64_t>{3, 900});
  CHECK(top[1].distance == doctest::Approx(0.0f).epsilon(1e-5));
  // Removed labels never come back.
  std::vector<uint64_t> gone = {900};
  REQUIRE(idx->Remove(gone).ok());
  for (const auto& h : idx->Search(std::span<const float>(data.data() + 900 * dim, dim), 10, o)) CHECK(h.label != 900);
  // The graph file holds no codes; loading rebuilds them from its vectors.
  REQUIRE(idx->Save(dir / "g.hnsw").ok());
  auto loaded = LoadHnswIndex(dir / "g.hnsw", dim, Metric::kL2, {}, Quantization::kSq8);
  REQUIRE(loaded.ok());
  for (size_t q = 0; q < 20; ++q) {
    std::span<const float> qs(data.data() + q * 31 * dim, dim);
    auto a = idx->Search(qs, 10, o);
    auto b = (*loaded)->Search(qs, 10, o);
    REQUIRE(a.size() == b.size());
    size_t same = 0;
    for (size_t i = 0; i < a.size(); ++i) same += a[i].label == b[i].label;
    CHECK(same >= 9);  // the codes may come from a later training than before the save
    CHECK(b[0].distance == doctest::Approx(a[0].distance).epsilon(1e-4));
  }
  CHECK((*loaded)->memory_bytes() > idx->memory_bytes() / 2);
}

TEST_CASE("the collection config stores the quantization, and a config without it reads as none") {
  CollectionConfig c;
  c.dim = 8;
  c.quantization = Quantization::kSq8;
  auto back = CollectionConfig::FromJson(c.ToJson());
  REQUIRE(back.ok());
  CHECK(back->quantization == Quantization::kSq8);
  // A config written before the field existed (an existing database).
  const std::string old_config =
      R"({"version":1,"dim":8,"metric":"l2","hnsw":{"m":16,"ef_construction":200,"ef_search":64,"seed":100},)"
      R"("shards":1,"flat_max_points":10000,"checkpoint_every_ops":200000})";
  auto old = CollectionConfig::FromJson(old_config);
  REQUIRE(old.ok());
  CHECK(old->quantization == Quantization::kNone);
  auto bad = CollectionConfig::FromJson(
      R"({"version":1,"dim":8,"metric":"l2","hnsw":{"m":16,"ef_construction":200,"ef_search":64,"seed":100},)"
      R"("shards":1,"flat_max_points":10000,"checkpoint_every_ops":200000,"quantization":"pq4"})");
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("pq4") != std::string::npos);
  CHECK(ParseQuantization("none").value() == Quantization::kNone);
  CHECK(ParseQuantization("sq8").value() == Quantization::kSq8);
}

TEST_CASE("sq8 ranges follow the data as the index grows, through Upsert and through StageHidden") {
  // The first batch spans a range 50 times narrower than what follows: without
  // retraining, every later vector would clamp to the same few codes.
  const uint32_t dim = 24;
  const size_t first = 100, n = 3000, nq = 30;
  auto data = SkewedVectors(n, dim, 6, false);
  for (size_t i = 0; i < first * dim; ++i) data[i] *= 0.02f;
  auto labels = Labels(n);
  auto queries = SkewedVectors(nq, dim, 7, false);
  // Both ways in: Upsert, and StageHidden then Reveal (a shard's writes).
  for (bool staged : {false, true}) {
    CAPTURE(staged);
    auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, 64, Quantization::kSq8);
    auto insert = [&](size_t begin, size_t end, unsigned threads) {
      std::span<const uint64_t> ls(labels.data() + begin, end - begin);
      std::span<const float> vs(data.data() + begin * dim, (end - begin) * dim);
      if (!staged) return idx->Upsert(ls, vs, threads).ok();
      return idx->StageHidden(ls, vs, threads).ok() && idx->Reveal(ls).ok();
    };
    REQUIRE(insert(0, first, 1));
    for (size_t i = first; i < n; i += 500) REQUIRE(insert(i, std::min(n, i + 500), 2));
    size_t hit = 0;
    IndexSearchOptions o;
    o.ef = 40;
    for (size_t q = 0; q < nq; ++q) {
      const float* qp = queries.data() + q * dim;
      auto truth = TrueNeighbours(data, n, dim, qp, 10, Metric::kL2);
      for (const auto& h : idx->Search(std::span<const float>(qp, dim), 10, o))
        hit += std::count(truth.begin(), truth.end(), h.label);
    }
    CHECK(static_cast<double>(hit) / (10.0 * nq) >= 0.9);
  }
}

TEST_CASE("graph: sq8 searches run concurrently with inserts that grow, retrain and re-encode the codes") {
  const uint32_t dim = 16;
  const size_t n = 4000;
  auto data = SkewedVectors(n, dim, 8, false);
  auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, 16, Quantization::kSq8);
  auto labels = Labels(n);
  REQUIRE(idx->Upsert(std::span<const uint64_t>(labels.data(), 50), std::span<const float>(data.data(), 50 * dim), 1).ok());
  std::atomic<bool> done{false};
  std::atomic<size_t> bad{0};
  testing::Counter searches;
  std::thread reader([&] {
    IndexSearchOptions o;
    o.ef = 32;
    // At least one search after the writer is done: the loop ends only then.
    for (bool last = false; !last;) {
      last = done.load();
      const size_t q = static_cast<size_t>(searches.fetch_add(1) % n);
      auto hits = idx->Search(std::span<const float>(data.data() + q * dim, dim), 5, o);
      for (size_t i = 0; i < hits.size(); ++i) {
        // Every hit is a live label with its exact distance, in order.
        if (hits[i].label >= n) ++bad;
        else if (std::abs(hits[i].distance - IndexDistance(Metric::kL2, data.data() + q * dim,
                                                            data.data() + hits[i].label * dim, dim)) > 1e-3f * (1 + hits[i].distance))
          ++bad;
        if (i > 0 && hits[i - 1].distance > hits[i].distance) ++bad;
      }
    }
  });
  // Each insert waits until the reader has searched since the one before, so searches
  // run throughout the growth, retraining and re-encoding; a stalled search fails the test.
  auto searched_since = [&](size_t before) {
    return searches.WaitAbove(before + 1);
  };
  bool searching = searched_since(0);
  Status s;
  for (size_t i = 50; searching && s.ok() && i < n; i += 150) {
    const size_t end = std::min(n, i + 150);
    const size_t before = searches.load();
    s = idx->Upsert(std::span<const uint64_t>(labels.data() + i, end - i),
                    std::span<const float>(data.data() + i * dim, (end - i) * dim), 2);
    searching = searched_since(before);
  }
  done = true;
  reader.join();
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  REQUIRE_MESSAGE(searching, "the searches stalled");
  CHECK(bad.load() == 0);
  // After the writer: the index finds each point itself.
  IndexSearchOptions o;
  o.ef = 32;
  size_t self = 0;
  for (size_t q = 0; q < n; q += 97) self += idx->Search(std::span<const float>(data.data() + q * dim, dim), 1, o)[0].label == q;
  CHECK(self >= (n / 97) * 95 / 100);
}
