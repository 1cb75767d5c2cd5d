// HnswIndex: the HNSW graph of hnswlib behind the Index interface, plus saving and
// loading. The only place that includes hnswlib: its exceptions become Status here.
#pragma once

#include <memory>
#include <string>

#include "vectron/index.h"

namespace vectron {

class HnswIndex : public Index {
 public:
  // Writes the graph to `path` (plain hnswlib layout; the caller adds the checksummed
  // envelope and the atomic rename). Searches may continue meanwhile; writes wait.
  // Errors: IOError (including a short write).
  virtual Status Save(const std::string& path) const = 0;
  // Number of slots ever used (live + deleted): the scan length of exact search.
  virtual size_t slots() const = 0;
  // Inserts labels that are not live (absent, or removed) as hidden: they are in the
  // graph but every search skips them until Reveal, and size() does not count them.
  // Lets a large batch enter the graph a chunk at a time and still become visible at
  // once. Errors: InvalidArgument if a label is live; as Upsert.
  virtual Status StageHidden(std::span<const uint64_t> labels, std::span<const float> vectors,
                             unsigned threads) = 0;
  // Makes hidden labels visible; labels not hidden are ignored.
  virtual Status Reveal(std::span<const uint64_t> labels) = 0;
};

std::unique_ptr<HnswIndex> NewHnswIndexImpl(uint32_t dim, Metric metric, const HnswParams& params,
                                            size_t capacity);
// Loads a graph written by Save. Errors: Corruption if hnswlib rejects the file or its
// dimension does not match.
Result<std::unique_ptr<HnswIndex>> LoadHnswIndex(const std::string& path, uint32_t dim, Metric metric,
                                                 const HnswParams& params);

}  // namespace vectron
