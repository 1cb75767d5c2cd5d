// AVX2 + FMA kernels. Compiled with -mavx2 -mfma (lib/meson.build); called only when
// the CPU has them (kernels.cc). Includes nothing but intrinsics: see kernels_impl.h.
#include <immintrin.h>

#include "index/kernels_impl.h"

namespace vectron::kernels {
namespace {

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int32_t HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// Lanes [0, n) set, n in [0, 8).
inline __m256i TailMask(size_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace

float L2SqrAvx2(const float* a, const float* b, size_t dim) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
  }
  if (i + 8 <= dim) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    s0 = _mm256_fmadd_ps(d, d, s0);
    i += 8;
  }
  if (i < dim) {
    __m256i m = TailMask(dim - i);
    __m256 d = _mm256_sub_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
    s1 = _mm256_fmadd_ps(d, d, s1);
  }
  return HorizontalSum(_mm256_add_ps(s0, s1));
}

float DotAvx2(const float* a, const float* b, size_t dim) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  if (i + 8 <= dim) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    i += 8;
  }
  if (i < dim) {
    __m256i m = TailMask(dim - i);
    s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
  }
  return HorizontalSum(_mm256_add_ps(s0, s1));
}

int32_t DotU8S8Avx2(const uint8_t* a, const int8_t* b, size_t dim) {
  // Widened to 16 bits and multiplied pairwise into 32-bit sums (vpmaddwd): exact,
  // unlike vpmaddubsw, which saturates at 16 bits.
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m256i a0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    __m256i a1 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i + 16)));
    __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i + 16)));
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(a0, b0));
    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(a1, b1));
  }
  if (i + 16 <= dim) {
    __m256i a0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(a0, b0));
    i += 16;
  }
  int32_t sum = HorizontalSum(_mm256_add_epi32(s0, s1));
  for (; i < dim; ++i) sum += static_cast<int32_t>(a[i]) * b[i];
  return sum;
}

float L2SqrHnswAvx2(const void* a, const void* b, const void* dim_param) {
  return L2SqrAvx2(static_cast<const float*>(a), static_cast<const float*>(b), *static_cast<const size_t*>(dim_param));
}

float IpDistanceHnswAvx2(const void* a, const void* b, const void* dim_param) {
  return 1.0f - DotAvx2(static_cast<const float*>(a), static_cast<const float*>(b), *static_cast<const size_t*>(dim_param));
}

// Four accumulators, one per query; x is loaded once per 8 elements for all four.
template <bool kL2>
static inline void X4Avx2(const float* x, const float* const* q, size_t dim, float* out) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
  auto step = [&](__m256 xv, __m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    if constexpr (kL2) {
      a0 = _mm256_sub_ps(xv, a0);
      a1 = _mm256_sub_ps(xv, a1);
      a2 = _mm256_sub_ps(xv, a2);
      a3 = _mm256_sub_ps(xv, a3);
      s0 = _mm256_fmadd_ps(a0, a0, s0);
      s1 = _mm256_fmadd_ps(a1, a1, s1);
      s2 = _mm256_fmadd_ps(a2, a2, s2);
      s3 = _mm256_fmadd_ps(a3, a3, s3);
    } else {
      s0 = _mm256_fmadd_ps(xv, a0, s0);
      s1 = _mm256_fmadd_ps(xv, a1, s1);
      s2 = _mm256_fmadd_ps(xv, a2, s2);
      s3 = _mm256_fmadd_ps(xv, a3, s3);
    }
  };
  size_t i = 0;
  for (; i + 8 <= dim; i += 8)
    step(_mm256_loadu_ps(x + i), _mm256_loadu_ps(q0 + i), _mm256_loadu_ps(q1 + i), _mm256_loadu_ps(q2 + i),
         _mm256_loadu_ps(q3 + i));
  if (i < dim) {
    __m256i m = TailMask(dim - i);
    step(_mm256_maskload_ps(x + i, m), _mm256_maskload_ps(q0 + i, m), _mm256_maskload_ps(q1 + i, m),
         _mm256_maskload_ps(q2 + i, m), _mm256_maskload_ps(q3 + i, m));
  }
  // The four sums at once: three pairwise horizontal adds and one 128-bit add.
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(s0, s1), _mm256_hadd_ps(s2, s3));
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

void L2SqrX4Avx2(const float* x, const float* const* q, size_t dim, float* out) { X4Avx2<true>(x, q, dim, out); }
void DotX4Avx2(const float* x, const float* const* q, size_t dim, float* out) { X4Avx2<false>(x, q, dim, out); }

}  // namespace vectron::kernels
