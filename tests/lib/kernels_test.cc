// The distance kernels of every SIMD level this CPU supports, against a double-precision
// scalar reference on random data, including odd dimensions and unaligned pointers.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "index/kernels.h"

using namespace vectron;

namespace {

const std::vector<size_t> kDims = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65,
                                   100, 127, 128, 129, 255, 256, 257, 784, 1000, 1536};

std::vector<const Kernels*> SupportedLevels() {
  std::vector<const Kernels*> out;
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512, SimdLevel::kAvx512Vnni})
    if (const Kernels* k = KernelsFor(l)) out.push_back(k);
  return out;
}

}  // namespace

TEST_CASE("float kernels of every level match a double-precision reference") {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> g(0.0f, 1.0f);
  auto levels = SupportedLevels();
  REQUIRE(!levels.empty());
  CHECK(levels.front()->level == SimdLevel::kScalar);
  MESSAGE("levels tested: ", levels.size(), ", best ", std::string(SimdLevelName(DetectSimdLevel())));
  for (size_t dim : kDims) {
    // One spare element in front, so that offset 1 gives pointers that are not 16-byte aligned.
    std::vector<float> a(dim + 1), b(dim + 1);
    for (auto& x : a) x = g(rng);
    for (auto& x : b) x = g(rng);
    for (size_t off : {0, 1}) {
      if (off + dim > a.size()) continue;
      const float* pa = a.data() + off;
      const float* pb = b.data() + off;
      double l2 = 0, dot = 0, scale = 0;
      for (size_t i = 0; i < dim; ++i) {
        double d = double{pa[i]} - pb[i];
        l2 += d * d;
        dot += double{pa[i]} * pb[i];
        scale += std::abs(double{pa[i]} * pb[i]) + d * d;
      }
      const double tol = 1e-5 * scale + 1e-6;
      size_t param = dim;
      for (const Kernels* k : levels) {
        CAPTURE(SimdLevelName(k->level));
        CAPTURE(dim);
        CAPTURE(off);
        CHECK(std::abs(k->l2_sqr(pa, pb, dim) - l2) <= tol);
        CHECK(std::abs(k->dot(pa, pb, dim) - dot) <= tol);
        CHECK(std::abs(k->l2_sqr_hnsw(pa, pb, &param) - l2) <= tol);
        CHECK(std::abs(k->ip_distance_hnsw(pa, pb, &param) - (1.0 - dot)) <= tol);
      }
    }
  }
}

TEST_CASE("the tile kernels of every level match a double-precision reference, with any row count") {
  std::mt19937_64 rng(10);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (size_t dim : kDims) {
    for (size_t nr : {size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{5}, size_t{9}}) {
      const size_t nq = 64, ldq = nq + 32, ldo = nq + 7;  // Strides wider than the tile.
      std::vector<float> rows(nr * dim), qt(dim * ldq);
      for (auto& v : rows) v = g(rng);
      for (auto& v : qt) v = g(rng);
      for (const Kernels* k : SupportedLevels()) {
        CAPTURE(SimdLevelName(k->level));
        CAPTURE(dim);
        CAPTURE(nr);
        const float kUnwritten = -12345.0f;
        std::vector<float> l2(nr * ldo, kUnwritten), dot(nr * ldo, kUnwritten);
        k->l2_sqr_tile(rows.data(), nr, dim, qt.data(), ldq, nq, l2.data(), ldo);
        k->dot_tile(rows.data(), nr, dim, qt.data(), ldq, nq, dot.data(), ldo);
        for (size_t r = 0; r < nr; ++r) {
          for (size_t j = 0; j < nq; ++j) {
            double rl2 = 0, rdot = 0, scale = 0;
            for (size_t i = 0; i < dim; ++i) {
              const double x = rows[r * dim + i], q = qt[i * ldq + j], d = x - q;
              rl2 += d * d;
              rdot += x * q;
              scale += std::abs(x * q) + d * d;
            }
            const double tol = 1e-5 * scale + 1e-6;
            CHECK(std::abs(l2[r * ldo + j] - rl2) <= tol);
            CHECK(std::abs(dot[r * ldo + j] - rdot) <= tol);
          }
          for (size_t j = nq; j < ldo; ++j) CHECK(l2[r * ldo + j] == kUnwritten);  // Nothing past nq.
        }
      }
    }
  }
}

TEST_CASE("int8 kernels of every level equal exact integer arithmetic") {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> u8(0, 255), s8(-127, 127);
  auto levels = SupportedLevels();
  for (size_t dim : kDims) {
    std::vector<uint8_t> a(dim + 1);
    std::vector<int8_t> b(dim + 1);
    for (auto& x : a) x = static_cast<uint8_t>(u8(rng));
    for (auto& x : b) x = static_cast<int8_t>(s8(rng));
    for (size_t off : {0, 1}) {
      if (off + dim > a.size()) continue;
      int64_t want = 0;
      for (size_t i = 0; i < dim; ++i) want += int64_t{a[off + i]} * b[off + i];
      for (const Kernels* k : levels) {
        CAPTURE(SimdLevelName(k->level));
        CAPTURE(dim);
        CHECK(k->dot_u8s8(a.data() + off, b.data() + off, dim) == want);
      }
    }
  }
}

TEST_CASE("int8 kernels do not overflow at the largest dimension and extreme values") {
  const size_t dim = 65536;
  std::vector<uint8_t> a(dim, 255);
  for (int8_t sign : {int8_t{127}, int8_t{-127}}) {
    std::vector<int8_t> b(dim, sign);
    const int64_t want = int64_t{255} * sign * static_cast<int64_t>(dim);
    for (const Kernels* k : SupportedLevels()) {
      CAPTURE(SimdLevelName(k->level));
      CHECK(k->dot_u8s8(a.data(), b.data(), dim) == want);
    }
  }
}

TEST_CASE("the active SIMD level can be lowered to the fallback and restored") {
  const SimdLevel best = DetectSimdLevel();
  CHECK(ActiveKernels().level <= best);
  const SimdLevel before = ActiveKernels().level;
  REQUIRE(SetActiveSimdLevel(SimdLevel::kScalar).ok());
  CHECK(ActiveKernels().level == SimdLevel::kScalar);
  if (best < SimdLevel::kAvx512Vnni) {
    Status s = SetActiveSimdLevel(SimdLevel::kAvx512Vnni);
    CHECK(s.code() == StatusCode::kFailedPrecondition);
    CHECK(ActiveKernels().level == SimdLevel::kScalar);
  }
  REQUIRE(SetActiveSimdLevel(before).ok());
  CHECK(ActiveKernels().level == before);
}

TEST_CASE("SIMD level names round-trip and unknown names are rejected") {
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512, SimdLevel::kAvx512Vnni})
    CHECK(ParseSimdLevel(SimdLevelName(l)).value() == l);
  auto bad = ParseSimdLevel("sse9");
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("sse9") != std::string::npos);
}
