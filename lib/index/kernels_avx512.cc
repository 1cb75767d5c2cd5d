// AVX-512 (F, BW, VL, DQ) kernels. Compiled with those flags (lib/meson.build); called
// only when the CPU has them (kernels.cc). Includes nothing but intrinsics: see
// kernels_impl.h.
// GCC 12's _mm512_reduce_add_epi32 reads an intentionally undefined register and
// warns about it (-Wuninitialized) wherever it is inlined.
#if defined(__GNUC__) && !defined(__clang__)  // GCC's warnings; clang has no -Wmaybe-uninitialized
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "index/kernels_impl.h"

namespace vectron::kernels {
namespace {

inline __mmask16 Mask16(size_t n) { return static_cast<__mmask16>((1u << n) - 1); }  // n < 16
inline __mmask32 Mask32(size_t n) { return static_cast<__mmask32>((1ull << n) - 1); }  // n < 32

}  // namespace

float L2SqrAvx512(const float* a, const float* b, size_t dim) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
  }
  if (i + 16 <= dim) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    s0 = _mm512_fmadd_ps(d, d, s0);
    i += 16;
  }
  if (i < dim) {
    __mmask16 m = Mask16(dim - i);
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
    s1 = _mm512_fmadd_ps(d, d, s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

float DotAvx512(const float* a, const float* b, size_t dim) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  if (i + 16 <= dim) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    i += 16;
  }
  if (i < dim) {
    __mmask16 m = Mask16(dim - i);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

int32_t DotU8S8Avx512(const uint8_t* a, const int8_t* b, size_t dim) {
  // Widened to 16 bits and multiplied pairwise into 32-bit sums (vpmaddwd): exact.
  __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= dim; i += 64) {
    __m512i a0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)));
    __m512i b0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i)));
    __m512i a1 = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i + 32)));
    __m512i b1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i + 32)));
    s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(a0, b0));
    s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(a1, b1));
  }
  for (; i < dim; i += 32) {
    __mmask32 m = dim - i >= 32 ? ~__mmask32{0} : Mask32(dim - i);
    __m512i a0 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, a + i));
    __m512i b0 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, b + i));
    s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(a0, b0));
  }
  return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

float L2SqrHnswAvx512(const void* a, const void* b, const void* dim_param) {
  return L2SqrAvx512(static_cast<const float*>(a), static_cast<const float*>(b), *static_cast<const size_t*>(dim_param));
}

float IpDistanceHnswAvx512(const void* a, const void* b, const void* dim_param) {
  return 1.0f - DotAvx512(static_cast<const float*>(a), static_cast<const float*>(b), *static_cast<const size_t*>(dim_param));
}

// Four accumulators, one per query; x is loaded once per 16 elements for all four.
template <bool kL2>
static inline void X4Avx512(const float* x, const float* const* q, size_t dim, float* out) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
  auto step = [&](__m512 xv, __m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    if constexpr (kL2) {
      a0 = _mm512_sub_ps(xv, a0);
      a1 = _mm512_sub_ps(xv, a1);
      a2 = _mm512_sub_ps(xv, a2);
      a3 = _mm512_sub_ps(xv, a3);
      s0 = _mm512_fmadd_ps(a0, a0, s0);
      s1 = _mm512_fmadd_ps(a1, a1, s1);
      s2 = _mm512_fmadd_ps(a2, a2, s2);
      s3 = _mm512_fmadd_ps(a3, a3, s3);
    } else {
      s0 = _mm512_fmadd_ps(xv, a0, s0);
      s1 = _mm512_fmadd_ps(xv, a1, s1);
      s2 = _mm512_fmadd_ps(xv, a2, s2);
      s3 = _mm512_fmadd_ps(xv, a3, s3);
    }
  };
  size_t i = 0;
  for (; i + 16 <= dim; i += 16)
    step(_mm512_loadu_ps(x + i), _mm512_loadu_ps(q0 + i), _mm512_loadu_ps(q1 + i), _mm512_loadu_ps(q2 + i),
         _mm512_loadu_ps(q3 + i));
  if (i < dim) {
    __mmask16 m = Mask16(dim - i);
    step(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, q0 + i), _mm512_maskz_loadu_ps(m, q1 + i),
         _mm512_maskz_loadu_ps(m, q2 + i), _mm512_maskz_loadu_ps(m, q3 + i));
  }
  // The four sums at once: halves added to 8 lanes each, then three pairwise
  // horizontal adds and one 128-bit add (a reduction per sum would cost about 3x more,
  // which at 100 dimensions is a third of the call).
  const __m256 a0 = _mm256_add_ps(_mm512_castps512_ps256(s0), _mm512_extractf32x8_ps(s0, 1));
  const __m256 a1 = _mm256_add_ps(_mm512_castps512_ps256(s1), _mm512_extractf32x8_ps(s1, 1));
  const __m256 a2 = _mm256_add_ps(_mm512_castps512_ps256(s2), _mm512_extractf32x8_ps(s2, 1));
  const __m256 a3 = _mm256_add_ps(_mm512_castps512_ps256(s3), _mm512_extractf32x8_ps(s3, 1));
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

void L2SqrX4Avx512(const float* x, const float* const* q, size_t dim, float* out) { X4Avx512<true>(x, q, dim, out); }
void DotX4Avx512(const float* x, const float* const* q, size_t dim, float* out) { X4Avx512<false>(x, q, dim, out); }

}  // namespace vectron::kernels
