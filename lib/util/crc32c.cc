#include "util/crc32c.h"

#include <array>
#include <cstring>
#if defined(VECTRON_X86_KERNELS)
#include <nmmintrin.h>
#endif

namespace vectron {
namespace {

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = MakeTable();

}  // namespace

#if defined(VECTRON_X86_KERNELS)
// The SSE4.2 crc32 instruction, 8 bytes at a time; compiled for SSE4.2 alone and
// called only when the CPU has it (the library is built for baseline x86-64).
__attribute__((target("sse4.2"))) static uint32_t Crc32cSse42(uint32_t crc, const unsigned char*& p, size_t& n) {
  uint64_t c64 = crc;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = _mm_crc32_u64(c64, w);
    p += 8;
    n -= 8;
  }
  return static_cast<uint32_t>(c64);
}

static bool HaveSse42() {
  static const bool have = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return have;
}
#endif

uint32_t Crc32c(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
#if defined(VECTRON_X86_KERNELS)
  if (HaveSse42()) crc = Crc32cSse42(crc, p, n);
#endif
  while (n--) crc = kTable[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

}  // namespace vectron
