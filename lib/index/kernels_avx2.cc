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

// kR rows × 32 queries: 4 kR accumulators (8 with two rows), two more registers for the
// loaded queries and one for the broadcast row element, within AVX2's 16.
template <bool kL2, int kR>
static inline void TileRowsAvx2(const float* x, size_t dim, const float* b, size_t ldq, float* out, size_t ldo) {
  __m256 acc[kR][4];
  for (int r = 0; r < kR; ++r)
    for (int c = 0; c < 4; ++c) acc[r][c] = _mm256_setzero_ps();
  for (size_t i = 0; i < dim; ++i, b += ldq) {
    const __m256 q0 = _mm256_loadu_ps(b), q1 = _mm256_loadu_ps(b + 8), q2 = _mm256_loadu_ps(b + 16),
                 q3 = _mm256_loadu_ps(b + 24);
    for (int r = 0; r < kR; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + r * dim + i);
      if constexpr (kL2) {
        __m256 d0 = _mm256_sub_ps(q0, a), d1 = _mm256_sub_ps(q1, a), d2 = _mm256_sub_ps(q2, a),
               d3 = _mm256_sub_ps(q3, a);
        acc[r][0] = _mm256_fmadd_ps(d0, d0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(d1, d1, acc[r][1]);
        acc[r][2] = _mm256_fmadd_ps(d2, d2, acc[r][2]);
        acc[r][3] = _mm256_fmadd_ps(d3, d3, acc[r][3]);
      } else {
        acc[r][0] = _mm256_fmadd_ps(a, q0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(a, q1, acc[r][1]);
        acc[r][2] = _mm256_fmadd_ps(a, q2, acc[r][2]);
        acc[r][3] = _mm256_fmadd_ps(a, q3, acc[r][3]);
      }
    }
  }
  for (int r = 0; r < kR; ++r)
    for (int c = 0; c < 4; ++c) _mm256_storeu_ps(out + r * ldo + 8 * c, acc[r][c]);
}

template <bool kL2>
static void TileAvx2(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                     size_t ldo) {
  // Column by column, so a column of the queries (dim × 32 floats) stays in L1 while the
  // rows stream past it.
  for (size_t j = 0; j < nq; j += 32) {
    size_t r = 0;
    for (; r + 2 <= nr; r += 2) TileRowsAvx2<kL2, 2>(rows + r * dim, dim, qt + j, ldq, out + r * ldo + j, ldo);
    if (r < nr) TileRowsAvx2<kL2, 1>(rows + r * dim, dim, qt + j, ldq, out + r * ldo + j, ldo);
  }
}

void L2SqrTileAvx2(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                   size_t ldo) {
  TileAvx2<true>(rows, nr, dim, qt, ldq, nq, out, ldo);
}

void DotTileAvx2(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                 size_t ldo) {
  TileAvx2<false>(rows, nr, dim, qt, ldq, nq, out, ldo);
}

}  // namespace vectron::kernels
