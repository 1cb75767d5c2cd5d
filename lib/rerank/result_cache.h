// ResultCache: the answers of reranked searches, keyed by everything that shapes them
// (query vector, search parameters, pipeline, explain, clock) and tagged with the
// collection's version (Collection::Version): an entry of another version is a miss and
// is dropped, so any committed write or rating invalidates it. Bounded by bytes, least
// recently used first out. Thread-safe (one mutex; lookups copy the hits out).
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "util/mutex.h"
#include "vectron/rerank.h"

namespace vectron {

class ResultCache {
 public:
  // capacity_bytes 0: the cache is off (Lookup misses without counting, Insert drops).
  explicit ResultCache(uint64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  bool enabled() const { return capacity_bytes_ > 0; }
  // The hits cached under `key` for `version`; nullopt (a miss) if absent or cached for
  // another version (then dropped).
  std::optional<std::vector<RerankedHit>> Lookup(const std::string& key, uint64_t version);
  // Caches `hits` under `key` for `version`, evicting least recently used entries to fit;
  // an entry larger than the whole cache is not kept.
  void Insert(const std::string& key, uint64_t version, const std::vector<RerankedHit>& hits);
  ResultCacheStats Stats() const;

 private:
  struct Entry {
    std::string key;
    uint64_t version;
    std::vector<RerankedHit> hits;
    uint64_t bytes;
  };
  void EraseLocked(std::list<Entry>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t capacity_bytes_;
  mutable Mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // Most recently used first.
  std::unordered_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
  ResultCacheStats stats_ ABSL_GUARDED_BY(mu_);
};

// The cache key of a reranked search (every input that shapes its hits).
std::string ResultCacheKey(std::span<const float> query, const SearchParams& params, const RerankPipeline& pipeline,
                           const RerankOptions& options);

}  // namespace vectron
