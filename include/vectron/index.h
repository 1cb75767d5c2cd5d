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

// One result of an index search.
struct Neighbor {
  uint64_t label;
  float distance;  // Index-internal distance: squared L2, or 1 - dot for kIP/kCosine.
};

// The labels a filtered search may return. Allows() must be cheap and safe to call
// from several threads at once.
class LabelFilter {
 public:
  virtual ~LabelFilter() = default;
  // True if `label` may be returned.
  virtual bool Allows(uint64_t label) const = 0;
  // Every allowed label, ascending (lets an index precompute a dense mask).
  virtual std::vector<uint32_t> AllowedLabels() const = 0;
  // 0, or a token naming this set of allowed labels: two filters that return the same
  // nonzero token allow the same labels, so an index may reuse what it computed from
  // the first (HnswIndex keeps the dense mask of its internal ids until it changes).
  virtual uint64_t cache_token() const { return 0; }
};

struct IndexSearchOptions {
  size_t ef = 0;        // HNSW beam width (max(ef, k) is used); ignored by FlatIndex.
  bool exact = false;   // Brute force over every live vector.
  // If set, only allowed labels are returned. HNSW then runs a filtered traversal:
  // rejected nodes are still walked through, but only allowed ones enter the results,
  // and the search continues until ef allowed nodes are found or the graph is done.
  const LabelFilter* filter = nullptr;
  // Filtered traversal only: walk filter-first. Only allowed nodes are compared and
  // enter the beam, and expanding a node also examines the neighbours of its rejected
  // neighbours (two hops), so that a sparse allowed set stays connected. Below about
  // 40 % selectivity this is faster than walking through rejected nodes (docs/filter.md).
  bool two_hop = false;
  // Filtered traversal only: if nonzero, give up after about this many distance
  // computations and return nothing (the caller then scans the allow-list exactly).
  size_t max_distances = 0;
};

// Thread-safety: every method may be called from any thread; reads (Search, size, ...)
// run concurrently with each other, and an internal lock serialises each change
// (Upsert, Remove, StageHidden, Reveal) against them, except that HnswIndex's
// StageHidden inserts while reads run (they never return what it stages).
class Index {
 public:
  virtual ~Index() = default;
  // "flat" or "hnsw".
  virtual std::string_view kind() const = 0;
  // The dimension of every vector.
  virtual uint32_t dim() const = 0;
  // Inserts or replaces `labels[i]` with vectors[i*dim .. (i+1)*dim). For kCosine the
  // caller passes normalised vectors. `threads` > 1 inserts in parallel. A label that
  // was staged (StageHidden) becomes visible with the new vector.
  // Errors: InvalidArgument if vectors.size() != labels.size() * dim().
  virtual Status Upsert(std::span<const uint64_t> labels, std::span<const float> vectors,
                        unsigned threads) = 0;
  // Removes labels; unknown labels are ignored. Their slots are reused by later Upserts.
  // A staged label that is removed is dropped and never revealed.
  virtual Status Remove(std::span<const uint64_t> labels) = 0;
  // Staging, so that a large batch can enter a slow index a chunk at a time and still
  // become visible at once: inserts labels that are not live (absent or removed) as
  // hidden. Searches, size() and deleted_slots() ignore them until Reveal. HnswIndex
  // puts them in the graph (the slow part happens here, beside searches; a label that
  // had a slot gets a new one, the old one staying a deleted slot); FlatIndex, whose
  // inserts are copies, holds their vectors aside until Reveal.
  // Errors: InvalidArgument if a label is live (nothing staged), or (HnswIndex) given
  // twice, or as Upsert.
  virtual Status StageHidden(std::span<const uint64_t> labels, std::span<const float> vectors,
                             unsigned threads) = 0;
  // Makes staged labels visible; labels that are not staged are ignored.
  virtual Status Reveal(std::span<const uint64_t> labels) = 0;
  // The k nearest live vectors to `query`, nearest first.
  virtual std::vector<Neighbor> Search(std::span<const float> query, size_t k,
                                       const IndexSearchOptions& options) const = 0;
  // Exact search restricted to `labels` (unknown or deleted labels are skipped).
  virtual std::vector<Neighbor> SearchAmong(std::span<const float> query, size_t k,
                                            std::span<const uint32_t> labels) const = 0;
  // The k nearest of each query (rows of dim() floats laid end to end), as Search
  // answers each. With `exact`, HnswIndex and FlatIndex read every vector once per
  // block of queries rather than once per query (one pass, four queries per kernel
  // call), many times faster for large batches.
  virtual std::vector<std::vector<Neighbor>> SearchBatch(std::span<const float> queries, size_t k,
                                                         const IndexSearchOptions& options) const {
    const size_t d = dim(), nq = d ? queries.size() / d : 0;
    std::vector<std::vector<Neighbor>> out(nq);
    for (size_t i = 0; i < nq; ++i) out[i] = Search(queries.subspan(i * d, d), k, options);
    return out;
  }
  // Live (visible) vectors.
  virtual size_t size() const = 0;
  // Slots freed by Remove and not yet reused (always 0 for FlatIndex, which compacts).
  virtual size_t deleted_slots() const = 0;
  // Approximate heap bytes held, staged vectors included.
  virtual size_t memory_bytes() const = 0;
};

// Exact search by matrix-vector products (Eigen, SIMD).
std::unique_ptr<Index> NewFlatIndex(uint32_t dim, Metric metric);
// HNSW graph (hnswlib) with the given parameters; `capacity` is a starting size hint.
// `quantization` says what the graph is walked on (see Quantization).
std::unique_ptr<Index> NewHnswIndex(uint32_t dim, Metric metric, const HnswParams& params,
                                    size_t capacity, Quantization quantization = Quantization::kNone);

}  // namespace vectron
