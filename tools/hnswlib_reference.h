// Raw hnswlib, used by `vectron bench search` as the reference in the same process.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "vectron/options.h"

namespace vectron::tools {

class HnswlibReference {
 public:
  // metric kCosine expects normalised vectors (as Vectron stores them).
  HnswlibReference(uint32_t dim, Metric metric, size_t capacity, uint32_t m, uint32_t ef_construction, uint64_t seed);
  ~HnswlibReference();
  // Adds rows [0, n) with labels 0..n-1 on `threads` threads.
  void Build(const float* data, size_t n, unsigned threads);
  void SetEf(size_t ef);
  // Top-k labels for one query. Safe from many threads between SetEf calls.
  void Search(const float* q, size_t k, std::vector<uint64_t>* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vectron::tools
