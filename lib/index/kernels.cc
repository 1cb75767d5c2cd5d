#include "index/kernels.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "index/kernels_impl.h"

namespace vectron {
namespace kernels {

// Four independent sums, so that the additions pipeline even without SIMD.
float L2SqrScalar(const float* a, const float* b, size_t dim) {
  float s[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= dim; i += 4)
    for (size_t j = 0; j < 4; ++j) {
      float d = a[i + j] - b[i + j];
      s[j] += d * d;
    }
  for (; i < dim; ++i) {
    float d = a[i] - b[i];
    s[0] += d * d;
  }
  return (s[0] + s[1]) + (s[2] + s[3]);
}

float DotScalar(const float* a, const float* b, size_t dim) {
  float s[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= dim; i += 4)
    for (size_t j = 0; j < 4; ++j) s[j] += a[i + j] * b[i + j];
  for (; i < dim; ++i) s[0] += a[i] * b[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

int32_t DotU8S8Scalar(const uint8_t* a, const int8_t* b, size_t dim) {
  int32_t s = 0;
  for (size_t i = 0; i < dim; ++i) s += static_cast<int32_t>(a[i]) * b[i];
  return s;
}

float L2SqrHnswScalar(const void* a, const void* b, const void* dim_param) {
  return L2SqrScalar(static_cast<const float*>(a), static_cast<const float*>(b), *static_cast<const size_t*>(dim_param));
}

float IpDistanceHnswScalar(const void* a, const void* b, const void* dim_param) {
  return 1.0f - DotScalar(static_cast<const float*>(a), static_cast<const float*>(b), *static_cast<const size_t*>(dim_param));
}

// The tiles: 32 accumulators (one per query of the column), which the compiler keeps in
// vector registers even at baseline x86-64 (SSE2).
template <bool kL2>
static void TileScalar(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                       size_t ldo) {
  for (size_t j = 0; j < nq; j += 32)
    for (size_t r = 0; r < nr; ++r) {
      float acc[32] = {};
      const float* x = rows + r * dim;
      const float* b = qt + j;
      for (size_t i = 0; i < dim; ++i, b += ldq) {
        const float a = x[i];
        for (size_t c = 0; c < 32; ++c) {
          if constexpr (kL2) {
            const float d = b[c] - a;
            acc[c] += d * d;
          } else {
            acc[c] += a * b[c];
          }
        }
      }
      for (size_t c = 0; c < 32; ++c) out[r * ldo + j + c] = acc[c];
    }
}

void L2SqrTileScalar(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                     size_t ldo) {
  TileScalar<true>(rows, nr, dim, qt, ldq, nq, out, ldo);
}

void DotTileScalar(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                   size_t ldo) {
  TileScalar<false>(rows, nr, dim, qt, ldq, nq, out, ldo);
}

}  // namespace kernels

namespace {

using namespace kernels;

constexpr Kernels kScalarKernels{SimdLevel::kScalar, L2SqrScalar,          DotScalar,   DotU8S8Scalar,
                                 L2SqrHnswScalar,    IpDistanceHnswScalar,
                                 L2SqrTileScalar,    DotTileScalar};
#if defined(VECTRON_X86_KERNELS)
constexpr Kernels kAvx2Kernels{SimdLevel::kAvx2, L2SqrAvx2,          DotAvx2,     DotU8S8Avx2,
                               L2SqrHnswAvx2,    IpDistanceHnswAvx2,
                               L2SqrTileAvx2,    DotTileAvx2};
constexpr Kernels kAvx512Kernels{SimdLevel::kAvx512, L2SqrAvx512,          DotAvx512,     DotU8S8Avx512,
                                 L2SqrHnswAvx512,    IpDistanceHnswAvx512,
                                 L2SqrTileAvx512,    DotTileAvx512};
constexpr Kernels kAvx512VnniKernels{SimdLevel::kAvx512Vnni, L2SqrAvx512,          DotAvx512,     DotU8S8Avx512Vnni,
                                     L2SqrHnswAvx512,        IpDistanceHnswAvx512,
                                     L2SqrTileAvx512,        DotTileAvx512};
#endif

std::atomic<const Kernels*> g_active{nullptr};

const Kernels* StartupKernels() {
  SimdLevel level = DetectSimdLevel();
  if (const char* env = std::getenv("VECTRON_SIMD"); env && *env) {
    auto wanted = ParseSimdLevel(env);
    if (!wanted.ok())
      std::fprintf(stderr, "vectron: ignoring VECTRON_SIMD: %s\n", wanted.status().ToString().c_str());
    else if (*wanted > level)
      std::fprintf(stderr, "vectron: ignoring VECTRON_SIMD=%s: this CPU supports up to %s\n", env,
                   std::string(SimdLevelName(level)).c_str());
    else
      level = *wanted;
  }
  return KernelsFor(level);
}

}  // namespace

std::string_view SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
    case SimdLevel::kAvx512Vnni: return "avx512vnni";
  }
  return "?";
}

Result<SimdLevel> ParseSimdLevel(std::string_view name) {
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512, SimdLevel::kAvx512Vnni})
    if (name == SimdLevelName(l)) return l;
  return Status::InvalidArgument("unknown SIMD level \"" + std::string(name) +
                                 "\" (expected scalar, avx2, avx512 or avx512vnni)");
}

SimdLevel DetectSimdLevel() {
#if defined(VECTRON_X86_KERNELS)
  // libgcc's CPU model also checks that the OS saves the wider registers (XCR0).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return __builtin_cpu_supports("avx512vnni") ? SimdLevel::kAvx512Vnni : SimdLevel::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAvx2;
#endif
  return SimdLevel::kScalar;
}

const Kernels* KernelsFor(SimdLevel level) {
  if (level > DetectSimdLevel()) return nullptr;
  switch (level) {
    case SimdLevel::kScalar: return &kScalarKernels;
#if defined(VECTRON_X86_KERNELS)
    case SimdLevel::kAvx2: return &kAvx2Kernels;
    case SimdLevel::kAvx512: return &kAvx512Kernels;
    case SimdLevel::kAvx512Vnni: return &kAvx512VnniKernels;
#else
    default: return nullptr;
#endif
  }
  return nullptr;
}

const Kernels& ActiveKernels() {
  const Kernels* k = g_active.load(std::memory_order_acquire);
  if (k) [[likely]] return *k;
  static const bool initialised = [] {
    const Kernels* expected = nullptr;
    g_active.compare_exchange_strong(expected, StartupKernels(), std::memory_order_acq_rel);
    return true;
  }();
  (void)initialised;
  return *g_active.load(std::memory_order_acquire);
}

Status SetActiveSimdLevel(SimdLevel level) {
  const Kernels* k = KernelsFor(level);
  if (!k)
    return Status::FailedPrecondition("SIMD level " + std::string(SimdLevelName(level)) +
                                      " is not supported by this CPU or build (best: " +
                                      std::string(SimdLevelName(DetectSimdLevel())) + ")");
  (void)ActiveKernels();  // the start-up choice must not overwrite this one later
  g_active.store(k, std::memory_order_release);
  return Status::OK();
}

}  // namespace vectron
