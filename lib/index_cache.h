// IndexCache: the in-memory side of a shard. It holds the Index (a cache of what LMDB
// holds), the label → id map, the payload state that filters use, and the LMDB seq they
// all reflect, and keeps them consistent under one readers-writer lock: a search holds
// it shared, so it maps labels to ids with the graph it searched, and changes hold it
// exclusively, a batch at a time (or, for a batch of new points into a graph, with
// only the reveal exclusive: the points enter the graph hidden beside the searches).
//
// Thread-safety: every method may be called from any thread. The shard's write lock
// (ShardImpl) serialises the methods that change it, so each sees the state the
// previous one left (lock order: the shard's write lock, then this cache's lock).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint_files.h"
#include "filter/filter.h"
#include "index/hnsw_index.h"
#include "payload/payload.h"
#include "shard_store.h"
#include "util/mutex.h"
#include "vectron/index.h"
#include "vectron/types.h"

namespace vectron {

// A freshly built index with its label → id map, ready to install.
struct BuiltIndex {
  std::unique_ptr<Index> index;
  HnswIndex* graph = nullptr;  // `index` itself when it is a graph (checkpoints save it)
  std::vector<std::string> label_ids;

  static BuiltIndex Graph(std::unique_ptr<HnswIndex> g, std::vector<std::string> ids) {
    HnswIndex* raw = g.get();
    return BuiltIndex{std::move(g), raw, std::move(ids)};
  }
  static BuiltIndex Flat(std::unique_ptr<Index> f, std::vector<std::string> ids) {
    return BuiltIndex{std::move(f), nullptr, std::move(ids)};
  }
};

// Memory and slots of the cache, for ShardStats.
struct IndexCacheStats {
  uint64_t memory_bytes = 0;
  uint64_t deleted_slots = 0;
  std::string kind;
};

class IndexCache {
 public:
  // From this many upserts, a catch-up into a graph inserts beside the searches
  // (staged, then revealed); smaller ones insert under the exclusive lock, which costs
  // less than the staging's three brief exclusive sections.
  static constexpr size_t kStageMin = 4;

  // Empty until the first Install. `metric` turns index distances into scores.
  explicit IndexCache(Metric metric) : metric_(metric) {}
  IndexCache(const IndexCache&) = delete;
  IndexCache& operator=(const IndexCache&) = delete;

  // Makes `fresh` the index, reflecting LMDB seq `seq`, and returns the one it replaces
  // (for the caller to free outside the lock). The payload state is kept.
  BuiltIndex Install(BuiltIndex fresh, uint64_t seq) ABSL_LOCKS_EXCLUDED(mu_);
  // Replaces the payload state (live labels and payload indexes); bumps its version so
  // cached allow-lists are recomputed.
  void InstallPayload(payload::PayloadState fresh) ABSL_LOCKS_EXCLUDED(mu_);
  // Syncs the index, label → id and payload state to `changes` and records `seq`. New
  // points of a batch into a graph go in hidden while searches run, and become visible
  // at once, so no search sees part of the batch. Moves from `changes`.
  Status Apply(LabelChanges& changes, uint64_t seq, unsigned threads) ABSL_LOCKS_EXCLUDED(mu_);

  // The LMDB seq the cache reflects.
  uint64_t seq() const ABSL_LOCKS_EXCLUDED(mu_);
  // True when the index is a graph (HNSW), false for a flat index or none yet.
  bool is_graph() const ABSL_LOCKS_EXCLUDED(mu_);
  // Live vectors in the index (0 before the first Install).
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // True if the payload definitions the cache holds are not the stored text `raw`.
  bool PayloadDefinitionsDiffer(std::string_view raw) const ABSL_LOCKS_EXCLUDED(mu_);
  // True if the index is a graph with at least `min_slots` slots of which at least
  // `share` are deleted.
  bool CompactionDue(double share, size_t min_slots) const ABSL_LOCKS_EXCLUDED(mu_);
  IndexCacheStats Stats() const ABSL_LOCKS_EXCLUDED(mu_);
  // Writes the graph to `path` (HnswIndex::Save) and returns its live count.
  // REQUIRES: is_graph(), and no change to the cache until it returns.
  Result<uint64_t> SaveGraph(const std::string& path) const ABSL_LOCKS_EXCLUDED(mu_);
  // A copy of the graph in memory (HnswIndex::Clone, into `room` if it is large enough)
  // and the seq it is at. REQUIRES: is_graph(), and no change to the cache until it returns.
  Result<HandedGraph> CloneGraph(CloneRoom room) const ABSL_LOCKS_EXCLUDED(mu_);
  // Room for a CloneGraph of the graph as it is now (ReserveCloneRoom), allocated without
  // the cache's lock; empty for a flat index. Called before the caller holds its writers.
  CloneRoom ReserveGraphClone() const ABSL_LOCKS_EXCLUDED(mu_);

  // The k nearest points to `query` (normalised for cosine), nearest first, with ids
  // and scores. With `where`, only points matching it (see docs/filter.md, "Planner");
  // `load` reads metadata the payload indexes cannot answer. Errors: from `load`.
  Result<std::vector<Hit>> Search(std::span<const float> query, const SearchParams& params,
                                  const IndexSearchOptions& options, const filter::Filter* where,
                                  const payload::MetadataLoader& load) const ABSL_LOCKS_EXCLUDED(mu_);
  // The exact k nearest points to each query (rows laid end to end, normalised for
  // cosine), as Search with `exact` answers each, in one pass over the vectors for
  // many queries (Index::SearchBatch). Errors: from `load`.
  Result<std::vector<std::vector<Hit>>> SearchBatchExact(std::span<const float> queries, const SearchParams& params,
                                                         const filter::Filter* where,
                                                         const payload::MetadataLoader& load) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // True if searches of this cache are exact whatever the options (a flat index).
  bool always_exact() const ABSL_LOCKS_EXCLUDED(mu_) { return !is_graph(); }
  // The exact set of live labels matching `f`, possibly cached.
  Result<std::shared_ptr<const payload::Bitmap>> Allow(const filter::Filter& f,
                                                       const payload::MetadataLoader& load) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Ids of the live points matching `f`.
  Result<std::vector<std::string>> IdsWhere(const filter::Filter& f, const payload::MetadataLoader& load) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Result<std::shared_ptr<const payload::Bitmap>> AllowLocked(const filter::Filter& f,
                                                              const payload::MetadataLoader& load) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) ABSL_LOCKS_EXCLUDED(allow_mu_);
  // Ids and scores of index results.
  std::vector<Hit> HitsOf(const std::vector<Neighbor>& nbrs) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Label → id and payload bookkeeping once the index holds `c`; records `seq`.
  void PublishLocked(LabelChanges& c, uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Apply's staged path: new points staged beside the searches, then one exclusive step.
  Status ApplyStaged(LabelChanges& c, uint64_t seq, unsigned threads) ABSL_LOCKS_EXCLUDED(mu_);

  const Metric metric_;
  mutable SharedMutex mu_;
  std::unique_ptr<Index> index_ ABSL_GUARDED_BY(mu_);
  HnswIndex* graph_ ABSL_GUARDED_BY(mu_) = nullptr;  // index_ when it is a graph
  std::vector<std::string> label_ids_ ABSL_GUARDED_BY(mu_);  // label → id, "" = free
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  payload::PayloadState payload_ ABSL_GUARDED_BY(mu_);  // live labels + payload indexes

  // Recently computed allow-lists, keyed by canonical filter text and payload version.
  struct CachedAllow {
    std::string key;
    uint64_t version;
    std::shared_ptr<const payload::Bitmap> allow;
    uint64_t token;  // unique per computed allow-list (LabelFilter::cache_token)
  };
  // AllowLocked, with the entry's token.
  Result<CachedAllow> AllowEntryLocked(const filter::Filter& f, const payload::MetadataLoader& load) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) ABSL_LOCKS_EXCLUDED(allow_mu_);
  mutable Mutex allow_mu_ ABSL_ACQUIRED_AFTER(mu_);
  mutable std::deque<CachedAllow> allow_cache_ ABSL_GUARDED_BY(allow_mu_);
};

}  // namespace vectron
