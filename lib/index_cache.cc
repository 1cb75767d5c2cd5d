#include "index_cache.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>

#include "index/distance.h"

namespace vectron {
namespace {

class BitmapFilter final : public LabelFilter {
 public:
  BitmapFilter(const payload::Bitmap& bm, uint64_t token) : bm_(bm), token_(token) {}
  bool Allows(uint64_t label) const override {
    return label <= payload::kMaxLabel && bm_.contains(static_cast<uint32_t>(label));
  }
  std::vector<uint32_t> AllowedLabels() const override {
    std::vector<uint32_t> out(bm_.cardinality());
    bm_.toUint32Array(out.data());
    return out;
  }
  uint64_t cache_token() const override { return token_; }

 private:
  const payload::Bitmap& bm_;
  const uint64_t token_;
};

// Chooses and runs the plan of a filtered search (docs/filter.md, "Planner").
std::vector<Neighbor> RunFilteredSearch(const Index& index, bool graph, std::span<const float> q,
                                        const SearchParams& params, size_t ef, const payload::Bitmap& allow,
                                        uint64_t allow_token, uint64_t live) {
  const size_t k = static_cast<size_t>(params.k);
  const uint64_t c = allow.cardinality();
  if (c == 0) return {};
  BitmapFilter bf(allow, allow_token);
  auto exact = [&] {
    if (graph) {
      // The graph scans the allowed ids in memory order, from its cached mask.
      IndexSearchOptions io;
      io.exact = true;
      io.filter = &bf;
      return index.Search(q, k, io);
    }
    std::vector<uint32_t> labels(c);
    allow.toUint32Array(labels.data());
    return index.SearchAmong(q, k, labels);
  };
  const double sel = live ? static_cast<double>(c) / static_cast<double>(live) : 1.0;
  FilterStrategy plan = params.filter_strategy;
  if (params.exact || !graph) plan = FilterStrategy::kExact;
  if (plan == FilterStrategy::kAuto) {
    // Brute force costs c distances, streamed in memory order; the filter-first walk
    // costs a few thousand distances at random places, more as ef grows and as matches
    // thin out (about ef/sel nodes reached). So the walk wins only when c² > K·ef·n,
    // where K is the cost of a walked distance over a streamed one. That ratio falls
    // with the dimension, as the distance itself outweighs the walk's per-node work
    // (visited check, link lists, cache misses). Measured (2 threads, 2026-12-04):
    // glove-100 (200k points, ef 64): exact 7,800 vs walk 6,100 QPS at 5 %, 4,000 vs
    // 5,700 at 10 %: K ≈ 20 at dimension 100; mnist-784 (10k, ef 16): exact 40,000 vs
    // walk 45,000 at 5 %, 22,600 vs 35,800 at 10 %: K ≈ 2.5 at 784. Hence K = 2000/dim.
    const double dim = static_cast<double>(q.size());
    const double K = std::clamp(2000.0 / std::max(dim, 1.0), 1.0, 50.0);
    if (c <= 256 || static_cast<double>(c) * static_cast<double>(c) <= K * static_cast<double>(ef) * static_cast<double>(live))
      plan = FilterStrategy::kExact;
    else if (sel >= 0.9)
      plan = FilterStrategy::kPostFilter;
    else
      plan = FilterStrategy::kGraph;
  }
  if (plan == FilterStrategy::kExact) return exact();
  if (plan == FilterStrategy::kPostFilter) {
    // Ask for enough hits that k survive the filter in expectation, with a margin.
    size_t want = std::min<size_t>(static_cast<size_t>(static_cast<double>(k) / sel * 1.25) + k, live);
    IndexSearchOptions io;
    io.ef = std::max(ef, want);
    auto nbrs = index.Search(q, want, io);
    std::erase_if(nbrs, [&](const Neighbor& n) { return !bf.Allows(n.label); });
    if (nbrs.size() >= std::min<uint64_t>(k, c)) {
      if (nbrs.size() > k) nbrs.resize(k);
      return nbrs;
    }
  }
  IndexSearchOptions io;
  io.ef = ef;
  io.filter = &bf;
  // The filter-first walk (two hops, distances only for matches) is faster at equal
  // recall below 40 % selectivity; above, walking through the rejected nodes is, except
  // at high dimension, where the distances it saves outweigh the link lists it reads
  // (glove-100 at 50 %: 3,800 vs 5,200 QPS at recall 0.95; mnist-784 at 50 %
  // correlated: 22,100 vs 12,600 QPS at ef 16). See docs/filter.md.
  io.two_hop = sel < 0.4 || q.size() >= 256;
  // A walk the planner chose gives up after c/2 distances, and the exact scan answers
  // instead: a bound on the planner's mistakes (a random distance costs several
  // streamed ones, so at worst the query costs a few scans).
  if (params.filter_strategy == FilterStrategy::kAuto) io.max_distances = std::max<uint64_t>(c / 2, 1);
  auto nbrs = index.Search(q, k, io);
  // The graph may not reach every match (a region cut off by deletions): never come
  // back short when k points match.
  if (nbrs.size() < std::min<uint64_t>(k, c)) return exact();
  return nbrs;
}

}  // namespace

BuiltIndex IndexCache::Install(BuiltIndex fresh, uint64_t seq) {
  WriterLock lock(mu_);
  BuiltIndex old{std::exchange(index_, std::move(fresh.index)), std::exchange(graph_, fresh.graph),
                 std::exchange(label_ids_, std::move(fresh.label_ids))};
  seq_ = seq;
  return old;
}

void IndexCache::InstallPayload(payload::PayloadState fresh) {
  WriterLock lock(mu_);
  fresh.set_version(payload_.version() + 1);
  payload_ = std::move(fresh);
}

uint64_t IndexCache::seq() const {
  ReaderLock lock(mu_);
  return seq_;
}

bool IndexCache::is_graph() const {
  ReaderLock lock(mu_);
  return graph_ != nullptr;
}

size_t IndexCache::size() const {
  ReaderLock lock(mu_);
  return index_ ? index_->size() : 0;
}

bool IndexCache::PayloadDefinitionsDiffer(std::string_view raw) const {
  ReaderLock lock(mu_);
  return raw != payload_.raw_definitions();
}

bool IndexCache::CompactionDue(double share, size_t min_slots) const {
  ReaderLock lock(mu_);
  if (!graph_) return false;
  const size_t deleted = graph_->deleted_slots(), slots = graph_->size() + deleted;
  return slots >= min_slots && static_cast<double>(deleted) >= share * static_cast<double>(slots);
}

IndexCacheStats IndexCache::Stats() const {
  IndexCacheStats st;
  ReaderLock lock(mu_);
  if (!index_) return st;
  st.memory_bytes = index_->memory_bytes() + label_ids_.capacity() * sizeof(std::string) + payload_.memory_bytes();
  for (const auto& id : label_ids_)
    if (id.capacity() > 15) st.memory_bytes += id.capacity();
  st.deleted_slots = index_->deleted_slots();
  st.kind = std::string(index_->kind());
  return st;
}

Result<uint64_t> IndexCache::SaveGraph(const std::string& path) const {
  ReaderLock lock(mu_);
  if (!graph_) return Status::Internal("SaveGraph: the index is not a graph");
  VECTRON_RETURN_IF_ERROR(graph_->Save(path));
  return static_cast<uint64_t>(graph_->size());
}

Result<HandedGraph> IndexCache::CloneGraph(CloneRoom room) const {
  ReaderLock lock(mu_);
  if (!graph_) return Status::Internal("CloneGraph: the index is not a graph");
  HandedGraph g;
  VECTRON_ASSIGN_OR_RETURN(g.graph, graph_->Clone(std::move(room)));
  g.seq = seq_;
  return g;
}

CloneRoom IndexCache::ReserveGraphClone() const {
  size_t slots, node_bytes;
  {
    ReaderLock lock(mu_);
    if (!graph_) return CloneRoom{};
    slots = graph_->slots();
    node_bytes = graph_->node_bytes();
  }
  return ReserveCloneRoom(slots, node_bytes);
}

// ---------------------------------------------------------------------------------
// Changes

void IndexCache::PublishLocked(LabelChanges& c, uint64_t seq) {
  for (uint64_t l : c.rm_labels) {
    if (l < label_ids_.size()) label_ids_[l].clear();
    payload_.Remove(l);
  }
  for (size_t i = 0; i < c.up_labels.size(); ++i) {
    const uint64_t l = c.up_labels[i];
    if (l >= label_ids_.size()) label_ids_.resize(l + 1);
    label_ids_[l] = std::move(c.up_ids[i]);
    payload_.Upsert(l, c.up_meta[i]);
  }
  seq_ = seq;
}

Status IndexCache::Apply(LabelChanges& c, uint64_t seq, unsigned threads) {
  // Only a graph insert is slow enough to be worth running beside searches.
  if (is_graph() && c.up_labels.size() >= kStageMin) return ApplyStaged(c, seq, threads);
  WriterLock lock(mu_);
  VECTRON_RETURN_IF_ERROR(index_->Remove(c.rm_labels));
  VECTRON_RETURN_IF_ERROR(index_->Upsert(c.up_labels, c.up_vectors, threads));
  PublishLocked(c, seq);
  return Status::OK();
}

// A catch-up into a graph would otherwise hold mu_, and so every search, for the whole
// time its points take to enter the graph. Instead, points that are not live yet enter
// it hidden while searches run (HnswIndex::StageHidden inserts under its shared lock),
// and the batch then becomes visible at once, so no search sees part of it.
Status IndexCache::ApplyStaged(LabelChanges& c, uint64_t seq, unsigned threads) {
  const size_t dim = c.up_labels.empty() ? 0 : c.up_vectors.size() / c.up_labels.size();
  // Rows whose label is not live: they can enter the graph hidden.
  std::vector<size_t> rows;
  std::vector<uint64_t> hidden;
  std::vector<float> hidden_vectors;
  {
    // Shared: searches run on. Only this thread changes the cache (the shard's write
    // lock), so what it reads here still holds when it takes mu_ exclusively below.
    ReaderLock lock(mu_);
    for (size_t i = 0; i < c.up_labels.size(); ++i)
      if (c.up_labels[i] >= label_ids_.size() || label_ids_[c.up_labels[i]].empty()) rows.push_back(i);
    hidden.reserve(rows.size());
    hidden_vectors.reserve(rows.size() * dim);
    for (size_t r : rows) {
      hidden.push_back(c.up_labels[r]);
      const float* v = c.up_vectors.data() + r * dim;
      hidden_vectors.insert(hidden_vectors.end(), v, v + dim);
    }
    VECTRON_RETURN_IF_ERROR(index_->StageHidden(hidden, hidden_vectors, threads));
  }
  // The rest (replacements of live points) goes in with the reveal.
  std::vector<uint64_t> rest_labels;
  std::vector<float> rest_vectors;
  size_t next_row = 0;
  for (size_t i = 0; i < c.up_labels.size(); ++i) {
    if (next_row < rows.size() && rows[next_row] == i) {
      ++next_row;
      continue;
    }
    rest_labels.push_back(c.up_labels[i]);
    const float* v = c.up_vectors.data() + i * dim;
    rest_vectors.insert(rest_vectors.end(), v, v + dim);
  }
  WriterLock lock(mu_);
  VECTRON_RETURN_IF_ERROR(index_->Remove(c.rm_labels));
  VECTRON_RETURN_IF_ERROR(index_->Reveal(hidden));
  VECTRON_RETURN_IF_ERROR(index_->Upsert(rest_labels, rest_vectors, threads));
  PublishLocked(c, seq);
  return Status::OK();
}

// ---------------------------------------------------------------------------------
// Reads

Result<std::vector<Hit>> IndexCache::Search(std::span<const float> query, const SearchParams& params,
                                            const IndexSearchOptions& options, const filter::Filter* where,
                                            const payload::MetadataLoader& load) const {
  ReaderLock lock(mu_);
  std::vector<Neighbor> nbrs;
  if (where) {
    VECTRON_ASSIGN_OR_RETURN(CachedAllow allow, AllowEntryLocked(*where, load));
    nbrs = RunFilteredSearch(*index_, graph_ != nullptr, query, params,
                             std::max(options.ef, static_cast<size_t>(params.k)), *allow.allow, allow.token,
                             payload_.live().cardinality());
  } else {
    nbrs = index_->Search(query, static_cast<size_t>(params.k), options);
  }
  return HitsOf(nbrs);
}

Result<std::vector<std::vector<Hit>>> IndexCache::SearchBatchExact(std::span<const float> queries,
                                                                    const SearchParams& params,
                                                                    const filter::Filter* where,
                                                                    const payload::MetadataLoader& load) const {
  ReaderLock lock(mu_);
  IndexSearchOptions io;
  io.exact = true;
  std::optional<CachedAllow> allow;
  std::optional<BitmapFilter> bf;
  if (where) {
    VECTRON_ASSIGN_OR_RETURN(allow, AllowEntryLocked(*where, load));
    bf.emplace(*allow->allow, allow->token);
    io.filter = &*bf;
  }
  auto nbrs = index_->SearchBatch(queries, static_cast<size_t>(params.k), io);
  std::vector<std::vector<Hit>> out(nbrs.size());
  for (size_t q = 0; q < nbrs.size(); ++q) out[q] = HitsOf(nbrs[q]);
  return out;
}

std::vector<Hit> IndexCache::HitsOf(const std::vector<Neighbor>& nbrs) const {
  std::vector<Hit> hits(nbrs.size());
  for (size_t i = 0; i < nbrs.size(); ++i) {
    hits[i].id = nbrs[i].label < label_ids_.size() ? label_ids_[nbrs[i].label] : std::string();
    hits[i].score = ScoreFromIndexDistance(metric_, nbrs[i].distance);
  }
  return hits;
}

Result<std::shared_ptr<const payload::Bitmap>> IndexCache::Allow(const filter::Filter& f,
                                                                 const payload::MetadataLoader& load) const {
  ReaderLock lock(mu_);
  return AllowLocked(f, load);
}

Result<std::vector<std::string>> IndexCache::IdsWhere(const filter::Filter& f,
                                                      const payload::MetadataLoader& load) const {
  ReaderLock lock(mu_);
  VECTRON_ASSIGN_OR_RETURN(auto allow, AllowLocked(f, load));
  std::vector<std::string> out;
  out.reserve(allow->cardinality());
  for (uint32_t label : *allow)
    if (label < label_ids_.size() && !label_ids_[label].empty()) out.push_back(label_ids_[label]);
  return out;
}

Result<std::shared_ptr<const payload::Bitmap>> IndexCache::AllowLocked(const filter::Filter& f,
                                                                       const payload::MetadataLoader& load) const {
  VECTRON_ASSIGN_OR_RETURN(CachedAllow entry, AllowEntryLocked(f, load));
  return std::move(entry.allow);
}

Result<IndexCache::CachedAllow> IndexCache::AllowEntryLocked(const filter::Filter& f,
                                                             const payload::MetadataLoader& load) const {
  static std::atomic<uint64_t> next_token{1};
  std::string key = filter::ToString(f);
  const uint64_t version = payload_.version();
  {
    MutexLock g(allow_mu_);
    for (const auto& c : allow_cache_)
      if (c.version == version && c.key == key) return c;
  }
  VECTRON_ASSIGN_OR_RETURN(payload::Bitmap bm, payload::ComputeAllow(f, payload_, load));
  CachedAllow entry{std::move(key), version, std::make_shared<const payload::Bitmap>(std::move(bm)),
                    next_token.fetch_add(1, std::memory_order_relaxed)};
  MutexLock g(allow_mu_);
  allow_cache_.push_front(entry);
  if (allow_cache_.size() > 16) allow_cache_.pop_back();
  return entry;
}

}  // namespace vectron
