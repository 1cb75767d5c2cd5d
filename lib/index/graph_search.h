// Vectron's own search over hnswlib's graph: the greedy descent through the upper
// layers and the beam search of the base layer, with prefetching of link lists and of
// the vectors or codes about to be compared, a sorted candidate array instead of two
// heaps, and a per-thread visited set. It reads hnswlib 0.6.2's memory through
// GraphView (hnsw_index.cc fills it; no hnswlib header here). The caller holds the
// index's lock (shared) for as long as the view and the results are used.
//
// Inserts may run meanwhile (HnswIndex's staged inserts, under the same shared lock):
// then GraphView::locks is set, every link list is copied under its node's lock (the
// lock hnswlib's addPoint holds while it writes that list), and nodes at or past
// `visible` (in flight) or marked in `hidden` (staged) are walked through but never
// returned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

#include "index/kernels.h"
#include "index/sq8.h"

namespace vectron {

// hnswlib 0.6.2's layout. Element i of the base layer is at level0 + i·stride:
// [u16 link count][u8 flags (bit 0: deleted)][u8][u32 links × maxM0][data][u64 label].
// Upper layer l ≥ 1 of element i is at upper[i] + (l-1)·upper_stride: [u16 count][u16]
// [u32 links × maxM].
struct GraphView {
  const char* level0 = nullptr;
  size_t stride = 0;
  size_t data_offset = 0;
  size_t label_offset = 0;
  char* const* upper = nullptr;
  size_t upper_stride = 0;
  uint32_t entry = 0;
  int max_level = -1;
  size_t count = 0;          // ids a search may meet: the visited set covers [0, count)
  bool any_deleted = false;  // some element carries the delete mark
  // Set while inserts run: the per-node locks of hnswlib (link_list_locks_), one per id.
  std::mutex* locks = nullptr;
  // Ids at or past this are not published yet (inserts in flight): never returned.
  size_t visible = std::numeric_limits<size_t>::max();
  // If set, one bit per id below `visible`: staged (hidden) nodes, never returned.
  const uint64_t* hidden = nullptr;

  // True if node `id` may not be returned for being in flight, staged or deleted (it
  // may still be walked through).
  bool Unreturnable(uint32_t id) const {
    if (id >= visible) return true;
    if (hidden && ((hidden[id >> 6] >> (id & 63)) & 1)) return true;
    return any_deleted && Deleted(id);
  }
  // True if some node is unreturnable (the search then takes the filtered path).
  bool AnyUnreturnable() const { return any_deleted || hidden || visible < count; }

  const uint32_t* Links0(uint32_t id) const { return reinterpret_cast<const uint32_t*>(level0 + id * stride); }
  const uint32_t* Links(uint32_t id, int level) const {
    return reinterpret_cast<const uint32_t*>(upper[id] + static_cast<size_t>(level - 1) * upper_stride);
  }
  static uint32_t LinkCount(const uint32_t* list) {
    uint16_t n;
    std::memcpy(&n, list, sizeof n);
    return n;
  }
  bool Deleted(uint32_t id) const { return (reinterpret_cast<const uint8_t*>(level0 + id * stride)[2] & 1) != 0; }
  const float* Vector(uint32_t id) const { return reinterpret_cast<const float*>(level0 + id * stride + data_offset); }
  uint64_t Label(uint32_t id) const {
    uint64_t l;
    std::memcpy(&l, level0 + id * stride + label_offset, sizeof l);
    return l;
  }
};

// The link list of `id` at `level` ([u32 count word][u32 links...]): in place, or, while
// inserts run (g.locks set), copied to `buf` (room for 1 + the level's maximum links)
// under the node's lock.
inline const uint32_t* ReadLinks(const GraphView& g, uint32_t id, int level, uint32_t* buf) {
  if (!g.locks) return level == 0 ? g.Links0(id) : g.Links(id, level);
  std::lock_guard<std::mutex> lock(g.locks[id]);
  const uint32_t* list = level == 0 ? g.Links0(id) : g.Links(id, level);
  std::memcpy(buf, list, (1 + GraphView::LinkCount(list)) * sizeof(uint32_t));
  return buf;
}

// Issues prefetches for the cache lines of [p, p + bytes).
inline void PrefetchBytes(const void* p, size_t bytes) {
  auto a = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63};
  const auto end = reinterpret_cast<uintptr_t>(p) + bytes;
  for (; a < end; a += 64) __builtin_prefetch(reinterpret_cast<const void*>(a));
}

// Exact distance of the query to the float vectors in the graph: squared L2, or
// 1 - dot (kIP, and kCosine on unit vectors).
class FloatDistance {
 public:
  FloatDistance(const GraphView& g, const float* q, size_t dim, bool l2, const Kernels& k)
      : g_(g), q_(q), dim_(dim), l2_(l2), k_(k) {}
  float operator()(uint32_t id) const {
    const float* v = g_.Vector(id);
    return l2_ ? k_.l2_sqr(q_, v, dim_) : 1.0f - k_.dot(q_, v, dim_);
  }
  void Prefetch(uint32_t id) const { PrefetchBytes(g_.Vector(id), dim_ * sizeof(float)); }

 private:
  const GraphView& g_;
  const float* q_;
  size_t dim_;
  bool l2_;
  const Kernels& k_;
};

// Approximate distance of a prepared query to the Sq8 codes (rows by internal id).
// Ids at or past `coded_below` have no code yet (inserts in flight): they get the exact
// distance from `exact` instead.
class Sq8Distance {
 public:
  Sq8Distance(const Sq8Codec& codec, const Sq8Codec::Query& q, const AlignedRows& codes, const Kernels& k,
              const FloatDistance& exact, size_t coded_below)
      : codec_(codec), q_(q), codes_(codes), k_(k), exact_(exact), coded_below_(coded_below) {}
  float operator()(uint32_t id) const {
    if (id >= coded_below_) [[unlikely]]
      return exact_(id);
    return codec_.Distance(q_, codes_.row(id), k_);
  }
  void Prefetch(uint32_t id) const {
    if (id >= coded_below_) [[unlikely]]
      return exact_.Prefetch(id);
    PrefetchBytes(codes_.row(id), codes_.row_bytes());
  }

 private:
  const Sq8Codec& codec_;
  const Sq8Codec::Query& q_;
  const AlignedRows& codes_;
  const Kernels& k_;
  const FloatDistance& exact_;
  size_t coded_below_;
};

struct Candidate {
  float distance;
  uint32_t id;  // internal id
};

// What the base-layer search returns, and which nodes it may return.
struct BaseSearchOptions {
  size_t ef = 0;
  // If set, only ids whose bit is set may be returned (one bit per internal id, at
  // least GraphView::count bits); others are still walked through.
  const uint64_t* allowed = nullptr;
  // With `allowed`: walk filter-first (IndexSearchOptions::two_hop).
  bool two_hop = false;
  // With `allowed`: if nonzero, give up after about this many distance computations.
  size_t max_distances = 0;
};

// Per-thread working memory of the base-layer search (visited set, candidate array).
struct SearchScratch;
// This thread's scratch. Take it once per query: reaching a thread_local from a shared
// library costs a call (__tls_get_addr) that must stay out of the search loop.
SearchScratch& ThreadSearchScratch();

// Greedy descent from the entry point to the base layer. Returns the base-layer entry
// and its distance. REQUIRES: g.count > 0.
template <class Dist>
Candidate Descend(const GraphView& g, const Dist& dist);

// Beam search of the base layer from `entry`: up to ef candidates that are neither
// deleted nor (with options.allowed) rejected, nearest first by `dist`. Returns false
// (and nothing in `out`) if it gave up at options.max_distances.
template <class Dist>
bool SearchBase(const GraphView& g, const Dist& dist, Candidate entry, const BaseSearchOptions& options,
                SearchScratch& scratch, std::vector<Candidate>* out);

}  // namespace vectron
