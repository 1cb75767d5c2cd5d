#include "index/graph_search.h"

#include <algorithm>
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
    for (size_t i = 0; i < std::min(m, kPrefetchAhead); ++i) dist.Prefetch(fresh[i]);
    for (size_t i = 0; i < m; ++i) {
      if (i + kPrefetchAhead < m) dist.Prefetch(fresh[i + kPrefetchAhead]);
      const float d = dist(fresh[i]);
      if (pool.Admits(d)) pool.Insert(fresh[i], d);
    }
  }
  pool.Export(out);
}

// With deleted, hidden or in-flight nodes, or a filter: rejected nodes enter the frontier (so that the
// search moves through regions where few nodes pass) but never the results. The search
// stops when ef allowed nodes are held and no frontier node is nearer than the
// farthest of them, or when the reachable graph is exhausted. With two_hop, the
// allowed neighbours of a rejected neighbour are examined at once.
template <class Dist>
void SearchBaseFiltered(const GraphView& g, const Dist& dist, Candidate entry, const BaseSearchOptions& o,
                        SearchScratch& scratch, std::vector<Candidate>* out) {
  struct Far {  // max-heap on distance
    bool operator()(const Candidate& a, const Candidate& b) const { return a.distance < b.distance; }
  };
  struct Near {  // min-heap on distance
    bool operator()(const Candidate& a, const Candidate& b) const { return a.distance > b.distance; }
  };
  const size_t ef = std::max<size_t>(o.ef, 1);
  std::priority_queue<Candidate, std::vector<Candidate>, Far> results;
  std::priority_queue<Candidate, std::vector<Candidate>, Near> frontier;
  VisitedSet& visited = scratch.visited;
  visited.Reset(g.count);
  uint32_t buf[513], buf2[513];  // copies of link lists while inserts run (maxM0 ≤ 512)
  auto allowed = [&](uint32_t id) {
    if (id >= g.visible) return false;  // in flight: also past the end of o.allowed
    if (o.allowed && !((o.allowed[id >> 6] >> (id & 63)) & 1)) return false;
    return !g.Unreturnable(id);
  };
  auto bound = [&] { return results.size() < ef ? std::numeric_limits<float>::infinity() : results.top().distance; };
  auto offer = [&](uint32_t id, float d) {  // an allowed node
    if (d < bound()) {
      frontier.push({d, id});
      results.push({d, id});
      if (results.size() > ef) results.pop();
    }
  };
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
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t nb = links[i];
      if (visited.TestAndSet(nb)) continue;
      if (i + 1 < n) dist.Prefetch(links[i + 1]);
      if (allowed(nb)) {
        offer(nb, dist(nb));
        continue;
      }
      const float dn = dist(nb);
      if (dn < bound()) frontier.push({dn, nb});
      if (!o.two_hop) continue;
      const uint32_t* list2 = ReadLinks(g, nb, 0, buf2);
      const uint32_t n2 = GraphView::LinkCount(list2);
      for (uint32_t j = 0; j < n2; ++j) {
        const uint32_t nb2 = list2[1 + j];
        // Only allowed nodes are claimed here; a rejected one keeps its chance to be
        // walked through when it is met directly.
        if (visited.Test(nb2) || !allowed(nb2)) continue;
        visited.TestAndSet(nb2);
        offer(nb2, dist(nb2));
      }
    }
  }
  out->resize(results.size());
  for (size_t i = out->size(); i-- > 0;) {
    (*out)[i] = results.top();
    results.pop();
  }
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
void SearchBase(const GraphView& g, const Dist& dist, Candidate entry, const BaseSearchOptions& options,
                SearchScratch& scratch, std::vector<Candidate>* out) {
  if (!options.allowed && !g.locks && !g.AnyUnreturnable()) return SearchBaseClean(g, dist, entry, options.ef, scratch, out);
  SearchBaseFiltered(g, dist, entry, options, scratch, out);
}

template Candidate Descend<FloatDistance>(const GraphView&, const FloatDistance&);
template Candidate Descend<Sq8Distance>(const GraphView&, const Sq8Distance&);
template void SearchBase<FloatDistance>(const GraphView&, const FloatDistance&, Candidate, const BaseSearchOptions&,
                                        SearchScratch&, std::vector<Candidate>*);
template void SearchBase<Sq8Distance>(const GraphView&, const Sq8Distance&, Candidate, const BaseSearchOptions&,
                                      SearchScratch&, std::vector<Candidate>*);

}  // namespace vectron
