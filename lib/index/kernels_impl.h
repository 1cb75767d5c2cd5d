// Per-level kernel entry points, defined in kernels.cc (scalar) and kernels_avx2.cc,
// kernels_avx512.cc, kernels_avx512_vnni.cc (each compiled with its level's flags).
// Only kernels.cc calls them, after checking the CPU. This header must stay free of
// anything but declarations: the SIMD files include it, and an inline function
// compiled there could be picked by the linker for callers on any CPU.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vectron::kernels {

float L2SqrScalar(const float* a, const float* b, size_t dim);
float DotScalar(const float* a, const float* b, size_t dim);
int32_t DotU8S8Scalar(const uint8_t* a, const int8_t* b, size_t dim);
float L2SqrHnswScalar(const void* a, const void* b, const void* dim_param);
float IpDistanceHnswScalar(const void* a, const void* b, const void* dim_param);
void L2SqrTileScalar(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                     size_t ldo);
void DotTileScalar(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                   size_t ldo);

#if defined(VECTRON_X86_KERNELS)
float L2SqrAvx2(const float* a, const float* b, size_t dim);
float DotAvx2(const float* a, const float* b, size_t dim);
int32_t DotU8S8Avx2(const uint8_t* a, const int8_t* b, size_t dim);
float L2SqrHnswAvx2(const void* a, const void* b, const void* dim_param);
float IpDistanceHnswAvx2(const void* a, const void* b, const void* dim_param);
void L2SqrTileAvx2(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                   size_t ldo);
void DotTileAvx2(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                 size_t ldo);

float L2SqrAvx512(const float* a, const float* b, size_t dim);
float DotAvx512(const float* a, const float* b, size_t dim);
int32_t DotU8S8Avx512(const uint8_t* a, const int8_t* b, size_t dim);
float L2SqrHnswAvx512(const void* a, const void* b, const void* dim_param);
float IpDistanceHnswAvx512(const void* a, const void* b, const void* dim_param);
void L2SqrTileAvx512(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                     size_t ldo);
void DotTileAvx512(const float* rows, size_t nr, size_t dim, const float* qt, size_t ldq, size_t nq, float* out,
                   size_t ldo);

int32_t DotU8S8Avx512Vnni(const uint8_t* a, const int8_t* b, size_t dim);
#endif

}  // namespace vectron::kernels
