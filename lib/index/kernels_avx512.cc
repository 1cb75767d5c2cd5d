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

// kR rows × 32 queries: 2 kR accumulators (8 with four rows) of AVX-512's 32 registers.
template <bool kL2, int kR>
static inline void TileRowsAvx512(const float* x, size_t dim, const float* b, size_t ldq, float* out, size_t ldo) {
  __m512 acc[kR][2];
  for (int r = 0; r < kR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (size_t i = 0; i < dim; ++i, b += ldq) {
    const __m512 q0 = _mm512_loadu_ps(b), q1 = _mm512_loadu_ps(b + 16);
    for (int r = 0; r < kR; ++r) {
      const __m512 a = _mm512_set1_ps(x[r * dim + i]);
      if constexpr (kL2) {
        const __m512 d0 = _mm512_sub_ps(q0, a), d1 = _mm512_sub_ps(q1, a);
        acc[r][0] = _mm512_fmadd_ps(d0, d0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(d1, d1, acc[r][1]);
      } else {
        acc[r][0] = _mm512_fmadd_ps(a, q0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(a, q1, acc[r][1]);
      }
    }
  }
  for (int r = 0; r < kR; ++r) {
    _mm512_storeu_ps(out + r * ldo, acc[r][0]);
    _mm512_storeu_ps(out + r * ldo + 16, acc[r][1]);
  }
}

template <bool kL2>
static void TileAvx512(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                       size_t ldo) {
  // Column by column, so a column of the queries (dim × 32 floats) stays in L1 while the
  // rows stream past it.
  for (size_t j = 0; j < nq; j += 32) {
    size_t r = 0;
    for (; r + 8 <= nr; r += 8) TileRowsAvx512<kL2, 8>(rows + r * dim, dim, qt + j, ldq, out + r * ldo + j, ldo);
    for (; r + 4 <= nr; r += 4) TileRowsAvx512<kL2, 4>(rows + r * dim, dim, qt + j, ldq, out + r * ldo + j, ldo);
    for (; r < nr; ++r) TileRowsAvx512<kL2, 1>(rows + r * dim, dim, qt + j, ldq, out + r * ldo + j, ldo);
  }
}

void L2SqrTileAvx512(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                     size_t ldo) {
  TileAvx512<true>(rows, nr, dim, qt, ldq, nq, out, ldo);
}

void DotTileAvx512(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                   size_t ldo) {
  TileAvx512<false>(rows, nr, dim, qt, ldq, nq, out, ldo);
}

}  // namespace vectron::kernels
