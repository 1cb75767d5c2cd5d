// VersionedResultCache: the cluster gateway's cache of reranked search answers
// (docs/cluster.md, "Reranking"). Each entry holds an answer with the read point of
// every shard it was computed from (SearchReadPoint); the caller checks an entry is
// still current by asking each shard whether it has applied anything since
// (DataService::SearchIfChanged), so a write acknowledged through any gateway makes the
// entry a miss. Bounded by bytes, least recently used first out.
//
// Not thread-safe: the gateway's loop thread only.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/api/data_service.h"
#include "vectron/rerank.h"

namespace vectron::net {

class VersionedResultCache {
 public:
  // capacity_bytes 0: off (Find finds nothing, Insert keeps nothing).
  explicit VersionedResultCache(uint64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  struct Entry {
    std::vector<SearchReadPoint> read_at;
    std::vector<RerankedHit> hits;
  };

  bool enabled() const { return capacity_bytes_ > 0; }
  // A copy of the entry under `key` (now the most recently used), nullopt if none.
  // Counts nothing: the caller decides (CountHit, or Insert after a miss).
  std::optional<Entry> Find(const std::string& key);
  // The entry's answer was served (every shard unchanged).
  void CountHit() { ++stats_.hits; }
  // Caches `entry` under `key` after a search that ran (counted as a miss); an older
  // entry under the key is replaced (counted as an invalidation), least recently used
  // entries are evicted to fit, and an entry larger than the whole cache is not kept.
  void Insert(const std::string& key, Entry entry);
  // Counters since start; capacity_bytes set.
  ResultCacheStats Stats() const;

 private:
  struct Slot {
    std::string key;
    Entry entry;
    uint64_t bytes = 0;
  };
  void Erase(std::list<Slot>::iterator it);

  const uint64_t capacity_bytes_;
  std::list<Slot> lru_;  // Most recently used first.
  std::unordered_map<std::string, std::list<Slot>::iterator> index_;
  ResultCacheStats stats_;
};

// The cache key of a reranked single-query search on the gateway: the collection and
// every input that shapes the answer (query vector bytes, search parameters, pipeline,
// explain).
std::string VersionedResultCacheKey(const std::string& collection, std::span<const float> query,
                                    const SearchParams& params, const RerankPipeline& pipeline, bool explain);

}  // namespace vectron::net
