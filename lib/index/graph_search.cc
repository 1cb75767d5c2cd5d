#include "index/graph_search.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <queue>

namespace vectron {
// Named, not anonymous: SearchScratch (declared in the header) holds these.
namespace graph_search_internal {

// Which nodes this search has seen: a tag per internal id, equal to the current epoch
// when seen. Resetting bumps the epoch; the array is cleared only when it wraps.
class VisitedSet {
 public:
  void Reset(size_t n) {
    if (tags_.size() < n) tags_.resize(n + n / 4, 0);
    if (++epoch_ == 0) {
      std::fill(tags_.begin(), tags_.end(), 0);
      epoch_ = 1;
    }
  }
  // True if `id` was seen; marks it seen.
  bool TestAndSet(uint32_t id) {
    if (tags_[id] == epoch_) return true;
    tags_[id] = epoch_;
    return false;
  }
  bool Test(uint32_t id) const { return tags_[id] == epoch_; }

 private:
  std::vector<uint16_t> tags_;
  uint16_t epoch_ = 0;
};

// The best `capacity` candidates seen, sorted by distance, each marked once expanded.
// Insertion is a binary search and a short memmove: at the sizes of a beam (tens to a
// few hundred) cheaper than two binary heaps, and the next node to expand is simply the
// first unexpanded entry.
class CandidatePool {
 public:
  void Reset(size_t capacity) {
    cap_ = std::max<size_t>(capacity, 1);
    if (e_.size() < cap_ + 1) e_.resize(cap_ + 1);
    size_ = next_ = 0;
  }
  size_t size() const { return size_; }
  const Candidate& operator[](size_t i) const { return e_[i]; }
  // True if a candidate at distance d would enter.
  bool Admits(float d) const { return size_ < cap_ || d < e_[size_ - 1].distance; }
  // REQUIRES: Admits(d).
  void Insert(uint32_t id, float d) {
    size_t lo = 0, hi = size_;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (e_[mid].distance <= d) lo = mid + 1;
      else hi = mid;
    }
    size_t moved = std::min(size_, cap_ - 1) - lo;
    std::memmove(&e_[lo + 1], &e_[lo], moved * sizeof(Candidate));
    e_[lo] = Candidate{d, id};
    if (size_ < cap_) ++size_;
    if (lo < next_) next_ = lo;
  }
  bool HasNext() const { return next_ < size_; }
  uint32_t PeekNext() const { return e_[next_].id & kIdMask; }
  // The nearest unexpanded candidate, now marked expanded. REQUIRES: HasNext().
  uint32_t Pop() {
    const uint32_t id = e_[next_].id & kIdMask;
    e_[next_].id |= kExpanded;
    while (next_ < size_ && (e_[next_].id & kExpanded)) ++next_;
    return id;
  }
  // Copies the entries (ids without marks) to `out`, nearest first.
  void Export(std::vector<Candidate>* out) const {
    out->resize(size_);
    for (size_t i = 0; i < size_; ++i) (*out)[i] = Candidate{e_[i].distance, e_[i].id & kIdMask};
  }

 private:
  // Internal ids stay below 2^31 (hnsw_index.cc checks the capacity).
  static constexpr uint32_t kExpanded = 1u << 31;
  static constexpr uint32_t kIdMask = kExpanded - 1;
  std::vector<Candidate> e_;
  size_t cap_ = 1, size_ = 0, next_ = 0;
};

}  // namespace graph_search_internal

// Per-thread working memory of a search, reused by every search on the thread.
struct SearchScratch {
  graph_search_internal::VisitedSet visited;
  graph_search_internal::CandidatePool pool;
  std::vector<uint32_t> seeds;  // of the filter-first walk
};

SearchScratch& ThreadSearchScratch() {
  thread_local SearchScratch scratch;
  return scratch;
}

namespace {

using graph_search_internal::CandidatePool;
using graph_search_internal::VisitedSet;

// How many neighbours ahead the vector (or code) of a neighbour is prefetched.
constexpr size_t kPrefetchAhead = 4;

// True if node `id` may be returned: published, not staged or deleted, and (with a
// mask over internal ids) allowed.
inline bool Returnable(const GraphView& g, const uint64_t* allowed, uint32_t id) {
  if (id >= g.visible) return false;  // in flight: also past the end of `allowed`
  if (allowed && !((allowed[id >> 6] >> (id & 63)) & 1)) return false;
  return !g.Unreturnable(id);
}

// Computes the distances of `ids[0..m)` (prefetching a few ahead) and inserts those the
// pool admits.
template <class Dist>
inline void OfferAll(const Dist& dist, const uint32_t* ids, size_t m, CandidatePool& pool) {
  for (size_t i = 0; i < std::min(m, kPrefetchAhead); ++i) dist.Prefetch(ids[i]);
  for (size_t i = 0; i < m; ++i) {
    if (i + kPrefetchAhead < m) dist.Prefetch(ids[i + kPrefetchAhead]);
    const float d = dist(ids[i]);
    if (pool.Admits(d)) pool.Insert(ids[i], d);
  }
}

// The common case: no deleted node, no filter.
template <class Dist>
void SearchBaseClean(const GraphView& g, const Dist& dist, Candidate entry, size_t ef, SearchScratch& scratch,
                     std::vector<Candidate>* out) {
  VisitedSet& visited = scratch.visited;
  CandidatePool& pool = scratch.pool;
  visited.Reset(g.count);
  pool.Reset(ef);
  visited.TestAndSet(entry.id);
  pool.Insert(entry.id, entry.distance);
  uint32_t fresh[512];  // maxM0 = 2·M ≤ 512 (CollectionConfig::Validate)
  while (pool.HasNext()) {
    const uint32_t* list = g.Links0(pool.Pop());
    if (pool.HasNext()) PrefetchBytes(g.Links0(pool.PeekNext()), 64);
    const uint32_t n = GraphView::LinkCount(list);
    const uint32_t* links = list + 1;
    size_t m = 0;
    for (uint32_t i = 0; i < n; ++i)
      if (!visited.TestAndSet(links[i])) fresh[m++] = links[i];
    OfferAll(dist, fresh, m, pool);
  }
  pool.Export(out);
}

// With deleted, hidden or in-flight nodes, or a filter: rejected nodes enter the frontier (so that the
// search moves through regions where few nodes pass) but never the results. The search
// stops when ef allowed nodes are held and no frontier node is nearer than the
// farthest of them, or when the reachable graph is exhausted. Returns false if it gave
// up at o.max_distances (counting from `spent`, which it raises by the distances it
// computed).
template <class Dist>
bool SearchBaseFiltered(const GraphView& g, const Dist& dist, Candidate entry, const BaseSearchOptions& o,
                        SearchScratch& scratch, std::vector<Candidate>* out, size_t& spent) {
  struct Far {  // max-heap on distance
    bool operator()(const Candidate& a, const Candidate& b) const { return a.distance < b.distance; }
  };
  struct Near {  // min-heap on distance
    bool operator()(const Candidate& a, const Candidate& b) const { return a.distance > b.distance; }
  };
  const size_t ef = std::max<size_t>(o.ef, 1);
  const size_t budget = o.max_distances ? o.max_distances : std::numeric_limits<size_t>::max();
  std::priority_queue<Candidate, std::vector<Candidate>, Far> results;
  std::priority_queue<Candidate, std::vector<Candidate>, Near> frontier;
  VisitedSet& visited = scratch.visited;
  visited.Reset(g.count);
  uint32_t buf[513];  // a link list copied while inserts run (maxM0 ≤ 512)
  auto allowed = [&](uint32_t id) { return Returnable(g, o.allowed, id); };
  auto bound = [&] { return results.size() < ef ? std::numeric_limits<float>::infinity() : results.top().distance; };
  visited.TestAndSet(entry.id);
  frontier.push(entry);
  if (allowed(entry.id)) results.push(entry);
  while (!frontier.empty()) {
    const Candidate cur = frontier.top();
    if (cur.distance > bound()) break;
    frontier.pop();
    const uint32_t* list = ReadLinks(g, cur.id, 0, buf);
    const uint32_t n = GraphView::LinkCount(list);
    const uint32_t* links = list + 1;
    if (spent > budget) {
      out->clear();
      return false;
    }
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t nb = links[i];
      if (visited.TestAndSet(nb)) continue;
      if (i + 1 < n) dist.Prefetch(links[i + 1]);
      ++spent;
      const float d = dist(nb);
      if (d >= bound()) continue;
      frontier.push({d, nb});
      if (allowed(nb)) {
        results.push({d, nb});
        if (results.size() > ef) results.pop();
      }
    }
  }
  out->resize(results.size());
  for (size_t i = out->size(); i-- > 0;) {
    (*out)[i] = results.top();
    results.pop();
  }
  return true;
}

// Filter-first (after ACORN-1): only allowed nodes get a distance and enter the pool,
// which is then results and frontier at once, as in the clean search. Expanding a node
// takes its allowed neighbours, then the allowed neighbours of its rejected neighbours
// (two hops), until twice the node's link count of new candidates are held (measured
// on glove-100 at 10 %: half that loses recall at equal ef, more costs time). Starts
// from `seeds` (allowed nodes; duplicates are dropped).
// Returns false, with nothing in `out`, if it gave up at o.max_distances (counted as
// in SearchBaseFiltered).
template <class Dist>
bool SearchBaseFilterFirst(const GraphView& g, const Dist& dist, std::vector<uint32_t>& seeds,
                           const BaseSearchOptions& o, SearchScratch& scratch, std::vector<Candidate>* out,
                           size_t& spent) {
  const size_t budget = o.max_distances ? o.max_distances : std::numeric_limits<size_t>::max();
  VisitedSet& visited = scratch.visited;
  CandidatePool& pool = scratch.pool;
  visited.Reset(g.count);
  pool.Reset(std::max<size_t>(o.ef, 1));
  std::erase_if(seeds, [&](uint32_t id) { return visited.TestAndSet(id); });  // once each
  OfferAll(dist, seeds.data(), seeds.size(), pool);
  spent += seeds.size();
  auto allowed = [&](uint32_t id) { return Returnable(g, o.allowed, id); };
  uint32_t buf[513], buf2[513];  // copies of link lists while inserts run (maxM0 ≤ 512)
  uint32_t fresh[1024];    // ≥ 2·maxM0
  uint32_t rejected[512];  // ≥ maxM0
  while (pool.HasNext()) {
    const uint32_t* list = ReadLinks(g, pool.Pop(), 0, buf);
    const uint32_t n = GraphView::LinkCount(list);
    const uint32_t* links = list + 1;
    const size_t cap = std::max<size_t>(2 * n, 16);
    size_t m = 0, r = 0;
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t nb = links[i];
      if (visited.Test(nb)) continue;
      if (allowed(nb)) {
        visited.TestAndSet(nb);
        fresh[m++] = nb;
      } else {
        rejected[r++] = nb;
      }
    }
    for (size_t i = 0; i < r; ++i) PrefetchBytes(g.Links0(rejected[i]), 64);
    for (size_t i = 0; i < r && m < cap; ++i) {
      const uint32_t* list2 = ReadLinks(g, rejected[i], 0, buf2);
      const uint32_t n2 = GraphView::LinkCount(list2);
      uint32_t j = 0;
      for (; j < n2 && m < cap; ++j) {
        const uint32_t nb2 = list2[1 + j];
        if (visited.Test(nb2) || !allowed(nb2)) continue;
        visited.TestAndSet(nb2);
        fresh[m++] = nb2;
      }
      // A rejected node whose list was read to the end has given all it can.
      if (j == n2) visited.TestAndSet(rejected[i]);
    }
    if ((spent += m) > budget) {
      out->clear();
      return false;
    }
    OfferAll(dist, fresh, m, pool);
  }
  pool.Export(out);
  return true;
}

}  // namespace

template <class Dist>
Candidate Descend(const GraphView& g, const Dist& dist) {
  Candidate cur{dist(g.entry), g.entry};
  uint32_t buf[513];  // a link list copied while inserts run (maxM ≤ maxM0 ≤ 512)
  for (int level = g.max_level; level > 0; --level) {
    bool changed = true;
    while (changed) {
      changed = false;
      const uint32_t* list = ReadLinks(g, cur.id, level, buf);
      const uint32_t n = GraphView::LinkCount(list);
      for (uint32_t i = 0; i < n; ++i) dist.Prefetch(list[1 + i]);
      for (uint32_t i = 0; i < n; ++i) {
        const float d = dist(list[1 + i]);
        if (d < cur.distance) {
          cur = Candidate{d, list[1 + i]};
          changed = true;
        }
      }
    }
  }
  return cur;
}

template <class Dist>
bool SearchBase(const GraphView& g, const Dist& dist, Candidate entry, const BaseSearchOptions& options,
                SearchScratch& scratch, std::vector<Candidate>* out) {
  if (!options.allowed && !g.locks && !g.AnyUnreturnable()) {
    SearchBaseClean(g, dist, entry, options.ef, scratch, out);
    return true;
  }
  size_t spent = 0;
  if (!options.allowed || !options.two_hop) return SearchBaseFiltered(g, dist, entry, options, scratch, out, spent);
  // Filter-first needs allowed seeds. The entry, when allowed, and an even sample of the
  // allowed nodes: when the allowed set lies away from the query (a filter correlated
  // with the vectors), walking from the entry through rejected nodes to find one would
  // cost more than the whole search.
  // 64 samples: on glove-100 (200k, 10 %) 32 and 128 measured the same.
  constexpr size_t kSeedSample = 64;
  std::vector<uint32_t>& seeds = scratch.seeds;
  seeds.clear();
  const size_t words = (std::min(g.count, g.visible) + 63) / 64;
  const size_t step = std::max<size_t>(1, words / kSeedSample);
  for (size_t w = 0; w < words; w += step) {
    const uint64_t bits = options.allowed[w];
    if (!bits) continue;
    const auto id = static_cast<uint32_t>(w * 64 + static_cast<size_t>(std::countr_zero(bits)));
    if (Returnable(g, nullptr, id)) seeds.push_back(id);
  }
  if (Returnable(g, options.allowed, entry.id)) seeds.push_back(entry.id);
  if (seeds.empty()) return SearchBaseFiltered(g, dist, entry, options, scratch, out, spent);
  return SearchBaseFilterFirst(g, dist, seeds, options, scratch, out, spent);
}

template Candidate Descend<FloatDistance>(const GraphView&, const FloatDistance&);
template Candidate Descend<Sq8Distance>(const GraphView&, const Sq8Distance&);
template bool SearchBase<FloatDistance>(const GraphView&, const FloatDistance&, Candidate, const BaseSearchOptions&,
                                        SearchScratch&, std::vector<Candidate>*);
template bool SearchBase<Sq8Distance>(const GraphView&, const Sq8Distance&, Candidate, const BaseSearchOptions&,
                                      SearchScratch&, std::vector<Candidate>*);

}  // namespace vectron
