#include "hnswlib_reference.h"

#include "index/kernels.h"

namespace vectron::tools {

// Defined in hnswlib_reference_variant.cc, one per build.
#define VECTRON_DECLARE_REF(suffix)                                                                        \
  std::unique_ptr<HnswlibReference> NewHnswlibReference##suffix(uint32_t, Metric, size_t, uint32_t, uint32_t, \
                                                                 uint64_t);                                 \
  Result<std::unique_ptr<HnswlibReference>> LoadHnswlibReference##suffix(const std::string&, uint32_t, Metric);
VECTRON_DECLARE_REF(Baseline)
#if defined(VECTRON_X86_KERNELS)
VECTRON_DECLARE_REF(Avx2)
VECTRON_DECLARE_REF(Avx512)
#endif

std::unique_ptr<HnswlibReference> NewHnswlibReference(uint32_t dim, Metric metric, size_t capacity, uint32_t m,
                                                      uint32_t ef_construction, uint64_t seed) {
#if defined(VECTRON_X86_KERNELS)
  // The CPU check of the library's own kernels (AVX-512 F/BW/VL/DQ, or AVX2 + FMA).
  SimdLevel level = DetectSimdLevel();
  if (level >= SimdLevel::kAvx512) return NewHnswlibReferenceAvx512(dim, metric, capacity, m, ef_construction, seed);
  if (level >= SimdLevel::kAvx2) return NewHnswlibReferenceAvx2(dim, metric, capacity, m, ef_construction, seed);
#endif
  return NewHnswlibReferenceBaseline(dim, metric, capacity, m, ef_construction, seed);
}

Result<std::unique_ptr<HnswlibReference>> LoadHnswlibReference(const std::string& path, uint32_t dim,
                                                               Metric metric) {
#if defined(VECTRON_X86_KERNELS)
  SimdLevel level = DetectSimdLevel();
  if (level >= SimdLevel::kAvx512) return LoadHnswlibReferenceAvx512(path, dim, metric);
  if (level >= SimdLevel::kAvx2) return LoadHnswlibReferenceAvx2(path, dim, metric);
#endif
  return LoadHnswlibReferenceBaseline(path, dim, metric);
}

}  // namespace vectron::tools
