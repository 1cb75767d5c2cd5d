// The AVX-512 VNNI int8 kernel: vpdpbusd multiplies 64 unsigned by 64 signed bytes and
// adds each group of four products into a 32-bit lane, in one instruction. Compiled
// with -mavx512vnni (lib/meson.build), apart from the plain AVX-512 kernels so that the
// compiler cannot use VNNI in them. Includes nothing but intrinsics: see kernels_impl.h.
// GCC 12's _mm512_reduce_add_epi32 reads an intentionally undefined register and
// warns about it (-Wuninitialized) wherever it is inlined.
#if defined(__GNUC__) && !defined(__clang__)  // GCC's warnings; clang has no -Wmaybe-uninitialized
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "index/kernels_impl.h"

namespace vectron::kernels {

int32_t DotU8S8Avx512Vnni(const uint8_t* a, const int8_t* b, size_t dim) {
  __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 128 <= dim; i += 128) {
    s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i));
    s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(a + i + 64), _mm512_loadu_si512(b + i + 64));
  }
  for (; i < dim; i += 64) {
    __mmask64 m = dim - i >= 64 ? ~__mmask64{0} : static_cast<__mmask64>((1ull << (dim - i)) - 1);
    s0 = _mm512_dpbusd_epi32(s0, _mm512_maskz_loadu_epi8(m, a + i), _mm512_maskz_loadu_epi8(m, b + i));
  }
  return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

}  // namespace vectron::kernels
