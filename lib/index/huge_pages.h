// Transparent huge pages for the index's large arrays. A search touches a few thousand
// random nodes of arrays of tens or hundreds of MiB; with 4 KiB pages nearly each touch
// is also a TLB miss (and, under virtualisation, a two-level page walk). Linux backs a
// region with 2 MiB pages when it is madvise(MADV_HUGEPAGE)d (the default "madvise"
// mode of Debian's kernels); elsewhere these calls are harmless no-ops.
#pragma once

#include <cstddef>

namespace vectron {

// Asks for huge pages on the whole 2 MiB pages inside [p, p + bytes). Pages already
// touched are merged later by the kernel (khugepaged); new ones are huge at once.
void AdviseHugePages(void* p, size_t bytes);
// malloc-compatible memory (free() and realloc() accept it) of `bytes`, 64-byte
// aligned, and 2 MiB-aligned and advised for huge pages when that large;
// uninitialised. nullptr if out of memory.
void* AllocateHugePageable(size_t bytes);
// As AllocateHugePageable, not advised yet: the caller fills it and then calls
// AdviseHugePages, so that the kernel merges its pages in the background instead of
// faulting in huge pages at once (zeroing, and compacting memory for, each 2 MiB page on
// the filling thread: 0.3 s instead of 0.08 s for 100 MiB on this project's VMs).
void* AllocateHugePageableLater(size_t bytes);

}  // namespace vectron
