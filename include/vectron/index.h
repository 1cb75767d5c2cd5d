// Index: an in-memory nearest-neighbour structure over (label, vector) pairs. It is a
// cache of what LMDB holds; a Shard owns one. Implementations: FlatIndex (exact) and
// HnswIndex (approximate, on hnswlib), made by the factories below.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/options.h"
#include "vectron/status.h"

namespace vectron {

struct Neighbor {
  uint64_t label;
  float distance;  // Index-internal distance: squared L2, or 1 - dot for kIP/kCosine.
};

// The labels a filtered search may return. Allows() must be cheap and safe to call
// from several threads at once.
class LabelFilter {
 public:
  virtual ~LabelFilter() = default;
  virtual bool Allows(uint64_t label) const = 0;
};

struct IndexSearchOptions {
  size_t ef = 0;        // HNSW beam width (max(ef, k) is used); ignored by FlatIndex.
  bool exact = false;   // Brute force over every live vector.
  // If set, only allowed labels are returned. HNSW then runs a filtered traversal:
  // rejected nodes are still walked through, but only allowed ones enter the results,
  // and the search continues until ef allowed nodes are found or the graph is done.
  const LabelFilter* filter = nullptr;
  // Filtered traversal only: also examine the neighbours of rejected neighbours, so
  // that a sparse allowed set stays connected (helps at low selectivity).
  bool two_hop = false;
};

// Thread-safety: Search/size/memory_bytes may run concurrently with each other and with
// Upsert/Remove/Save (an internal shared_mutex serialises mutation against reads).
class Index {
 public:
  virtual ~Index() = default;
  virtual std::string_view kind() const = 0;  // "flat" or "hnsw"
  virtual uint32_t dim() const = 0;
  // Inserts or replaces `labels[i]` with vectors[i*dim .. (i+1)*dim). For kCosine the
  // caller passes normalised vectors. `threads` > 1 inserts in parallel.
  virtual Status Upsert(std::span<const uint64_t> labels, std::span<const float> vectors,
                        unsigned threads) = 0;
  // Removes labels; unknown labels are ignored. Their slots are reused by later inserts.
  virtual Status Remove(std::span<const uint64_t> labels) = 0;
  // The k nearest live vectors to `query`, nearest first.
  virtual std::vector<Neighbor> Search(std::span<const float> query, size_t k,
                                       const IndexSearchOptions& options) const = 0;
  // Exact search restricted to `labels` (unknown or deleted labels are skipped).
  virtual std::vector<Neighbor> SearchAmong(std::span<const float> query, size_t k,
                                            std::span<const uint32_t> labels) const = 0;
  virtual size_t size() const = 0;          // Live vectors.
  virtual size_t deleted_slots() const = 0; // Slots freed by Remove, not yet reused.
  virtual size_t memory_bytes() const = 0;
};

// Exact search by matrix-vector products (Eigen, SIMD).
std::unique_ptr<Index> NewFlatIndex(uint32_t dim, Metric metric);
// HNSW graph (hnswlib) with the given parameters; `capacity` is a starting size hint.
std::unique_ptr<Index> NewHnswIndex(uint32_t dim, Metric metric, const HnswParams& params,
                                    size_t capacity);

}  // namespace vectron
