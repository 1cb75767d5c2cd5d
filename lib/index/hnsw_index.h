// HnswIndex: the HNSW graph of hnswlib behind the Index interface, plus saving and
// loading. The only place that includes hnswlib: its exceptions become Status here.
#pragma once

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vectron/index.h"

namespace vectron {

// Memory for a Clone, allocated and faulted in beforehand (ReserveCloneRoom, below), so
// that a clone made while the caller holds its writers only copies: for 200k × 100
// floats on this project's VMs, faulting in the base layer was ~75 ms of a ~90 ms clone.
struct CloneRoom {
  size_t nodes = 0;  // What the room holds; a clone of more nodes allocates its own.
  std::unique_ptr<char, decltype(&std::free)> level0{nullptr, &std::free};
  std::vector<std::mutex> link_locks;
};

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
  // With `room` from ReserveCloneRoom, the copy goes into it if it is large enough.
  // Errors: ResourceExhausted if there is no memory for it.
  virtual Result<std::unique_ptr<HnswIndex>> Clone(CloneRoom room) const = 0;
  Result<std::unique_ptr<HnswIndex>> Clone() const { return Clone(CloneRoom{}); }
  // Bytes per node of the base layer (vector, label, level-0 links): with slots(), the
  // size of a CloneRoom.
  virtual size_t node_bytes() const = 0;
};

// Room for a Clone of a graph of `slots` nodes of `node_bytes` (HnswIndex::node_bytes),
// with some growth to spare, faulted in: call it without the locks the Clone will be made
// under. Empty if there is no memory (the Clone then allocates its own).
CloneRoom ReserveCloneRoom(size_t slots, size_t node_bytes);

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
