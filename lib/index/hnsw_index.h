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
  // Number of slots ever used (live + deleted + staged): the scan length of exact search.
  virtual size_t slots() const = 0;
  // A copy of the graph in memory, as Save and LoadHnswIndex would give it (staged nodes
  // deleted, sq8 codes rebuilt) without the file: a split hands it to the new group's
  // shard in the same process. Searches may continue meanwhile; writes wait.
  // Errors: ResourceExhausted if there is no memory for it.
  virtual Result<std::unique_ptr<HnswIndex>> Clone() const = 0;
};

// As NewHnswIndex. With kSq8 the codes live beside the graph (not in its file).
std::unique_ptr<HnswIndex> NewHnswIndexImpl(uint32_t dim, Metric metric, const HnswParams& params,
                                            size_t capacity, Quantization quantization = Quantization::kNone);
// Loads a graph written by Save; with kSq8 the codes are rebuilt from its vectors.
// Errors: Corruption if hnswlib rejects the file or its dimension does not match;
// ResourceExhausted if there is no memory for the codes.
Result<std::unique_ptr<HnswIndex>> LoadHnswIndex(const std::string& path, uint32_t dim, Metric metric,
                                                 const HnswParams& params,
                                                 Quantization quantization = Quantization::kNone);

}  // namespace vectron
