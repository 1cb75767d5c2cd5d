// Raw hnswlib, used by `vectron bench search` as the reference in the same process. hnswlib
// 0.6.2 picks its SIMD code at compile time, so it is compiled three times, for
// AVX-512, AVX2 and baseline x86-64 (hnswlib_reference_variant.cc), and the best one
// this CPU runs is used: the reference is hnswlib as `-march=native` would build it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vectron/options.h"
#include "vectron/status.h"

namespace vectron::tools {

class HnswlibReference {
 public:
  virtual ~HnswlibReference() = default;
  // Adds rows [0, n) with labels 0..n-1 on `threads` threads.
  virtual void Build(const float* data, size_t n, unsigned threads) = 0;
  // Gives `label` (already in the graph) the vector `v`, with hnswlib's own in-place
  // update (addPoint of a known label: updatePoint and its neighbour repair).
  virtual void Update(uint64_t label, const float* v) = 0;
  virtual void SetEf(size_t ef) = 0;
  // Top-k labels for one query. Safe from many threads between SetEf calls.
  virtual void Search(const float* q, size_t k, std::vector<uint64_t>* out) const = 0;
  // Heap bytes of the graph (hnswlib's own allocations, as HnswIndex::memory_bytes
  // counts them).
  virtual size_t memory_bytes() const = 0;
  // Moves the base layer to memory advised for transparent huge pages, as HnswIndex
  // does (lib/index/huge_pages.h): to tell that gain from the search loop's.
  virtual void UseHugePages() = 0;
  // "avx512", "avx2" or "baseline": the build of hnswlib in use.
  virtual std::string variant() const = 0;
};

// metric kCosine expects normalised vectors (as Vectron stores them).
std::unique_ptr<HnswlibReference> NewHnswlibReference(uint32_t dim, Metric metric, size_t capacity, uint32_t m,
                                                      uint32_t ef_construction, uint64_t seed);
// The graph saved at `path` (hnswlib's format, as HnswIndex::Save writes it), so that
// both search loops can be compared on one graph. Errors: Corruption if hnswlib
// rejects the file.
Result<std::unique_ptr<HnswlibReference>> LoadHnswlibReference(const std::string& path, uint32_t dim,
                                                               Metric metric);

}  // namespace vectron::tools
