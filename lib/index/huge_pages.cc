#include "index/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>

namespace vectron {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

void AdviseHugePages(void* p, size_t bytes) {
#if defined(MADV_HUGEPAGE)
  const auto begin = (reinterpret_cast<uintptr_t>(p) + kHugePage - 1) & ~(kHugePage - 1);
  const auto end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHugePage - 1);
  if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

void* AllocateHugePageableLater(size_t bytes) {
  if (bytes < kHugePage) return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  return std::aligned_alloc(kHugePage, (bytes + kHugePage - 1) / kHugePage * kHugePage);
}

void* AllocateHugePageable(size_t bytes) {
  void* p = AllocateHugePageableLater(bytes);
  if (p && bytes >= kHugePage) AdviseHugePages(p, bytes);
  return p;
}

}  // namespace vectron
