// Distance kernels with runtime CPU dispatch: float32 squared L2 and inner product,
// and the u8 × s8 dot product of quantized codes (docs/benchmarks.md, "Kernels").
// Each SIMD level lives in its own file compiled with that level's flags
// (kernels_avx2.cc, kernels_avx512.cc, kernels_avx512_vnni.cc); the library itself is
// built for baseline x86-64, and the best level this CPU supports is chosen once, at
// the first call of ActiveKernels().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vectron/status.h"

namespace vectron {

// Ordered: each level's CPU requirements include the previous one's.
enum class SimdLevel : int {
  kScalar = 0,      // portable C++, any CPU
  kAvx2 = 1,        // AVX2 + FMA
  kAvx512 = 2,      // AVX-512 F, BW, VL, DQ
  kAvx512Vnni = 3,  // kAvx512 + AVX-512 VNNI (int8 dot products in one instruction)
};

// "scalar" | "avx2" | "avx512" | "avx512vnni".
std::string_view SimdLevelName(SimdLevel level);
// Parses a SimdLevelName. Errors: InvalidArgument naming the value.
Result<SimdLevel> ParseSimdLevel(std::string_view name);

// One level's kernels. Every function accepts any dim (tails are handled) and
// unaligned pointers. Float results may differ between levels by rounding (summation
// order); dot_u8s8 is exact integer arithmetic, identical at every level.
struct Kernels {
  SimdLevel level;
  // Σ (a[i] - b[i])².
  float (*l2_sqr)(const float* a, const float* b, size_t dim);
  // Σ a[i]·b[i].
  float (*dot)(const float* a, const float* b, size_t dim);
  // Σ a[i]·b[i] with a in [0, 255] and b in [-127, 127]; exact for dim ≤ 65536.
  int32_t (*dot_u8s8)(const uint8_t* a, const int8_t* b, size_t dim);
  // hnswlib's DISTFUNC shape (param points to a size_t holding dim): squared L2, and
  // 1 - dot (hnswlib's inner-product distance).
  float (*l2_sqr_hnsw)(const void* a, const void* b, const void* dim_param);
  float (*ip_distance_hnsw)(const void* a, const void* b, const void* dim_param);
  // Many rows against many queries (exact batch search), as a matrix product:
  // out[r * ldo + j] = l2_sqr (or dot) of row r (`rows + r * dim`, r < nr) and query j,
  // for j < nq, with the queries given transposed (element i of query j at
  // `qt[i * ldq + j]`) and nq a multiple of kTileQueries. Each lane of a vector register
  // holds one query, so no horizontal sums are needed; a query element is loaded once
  // per few rows and a row element broadcast once per kTileQueries queries.
  void (*l2_sqr_tile)(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                      size_t ldo);
  void (*dot_tile)(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                   size_t ldo);
};

// The query count of one tile column: Kernels::*_tile take queries in multiples of it.
inline constexpr size_t kTileQueries = 32;

// The best level this CPU (and this build) supports.
SimdLevel DetectSimdLevel();
// The kernels of `level`, or nullptr if this CPU or build does not support it.
const Kernels* KernelsFor(SimdLevel level);
// The kernels in use. Chosen at the first call: DetectSimdLevel(), lowered to the
// level named by the environment variable VECTRON_SIMD if that is set (an unknown or
// unsupported name is reported on stderr and ignored). Thread-safe.
const Kernels& ActiveKernels();
// Makes `level` the active one for indexes created and searches run afterwards (tests
// and benchmarks compare levels with it). Errors: FailedPrecondition if this CPU or
// build lacks the level; nothing changes then. Thread-safe.
Status SetActiveSimdLevel(SimdLevel level);

}  // namespace vectron
