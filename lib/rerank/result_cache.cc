#include "rerank/result_cache.h"

#include <cstring>

namespace vectron {

namespace {

uint64_t EntryBytes(const std::string& key, const std::vector<RerankedHit>& hits) {
  uint64_t n = sizeof(RerankedHit) * hits.size() + 2 * key.size() + 128;  // key in the list and the map
  for (const auto& h : hits) n += h.hit.id.size() + h.hit.metadata.size() + h.hit.vector.size() * sizeof(float);
  return n;
}

void PutBytes(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }

void PutString(std::string& out, std::string_view s) {
  uint64_t n = s.size();
  PutBytes(out, &n, sizeof(n));
  out += s;
}

}  // namespace

std::optional<std::vector<RerankedHit>> ResultCache::Lookup(const std::string& key, uint64_t version) {
  if (!enabled()) return std::nullopt;
  MutexLock lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  if (it->second->version != version) {
    EraseLocked(it->second);  // Written since: stale.
    ++stats_.misses;
    ++stats_.invalidations;
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++stats_.hits;
  return it->second->hits;
}

void ResultCache::Insert(const std::string& key, uint64_t version, const std::vector<RerankedHit>& hits) {
  if (!enabled()) return;
  const uint64_t bytes = EntryBytes(key, hits);
  if (bytes > capacity_bytes_) return;
  MutexLock lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    if (it->second->version > version) return;  // A newer answer is already there.
    EraseLocked(it->second);
  }
  while (!lru_.empty() && stats_.bytes + bytes > capacity_bytes_) {
    EraseLocked(std::prev(lru_.end()));
    ++stats_.evictions;
  }
  lru_.push_front(Entry{key, version, hits, bytes});
  index_[key] = lru_.begin();
  stats_.bytes += bytes;
  ++stats_.entries;
}

void ResultCache::EraseLocked(std::list<Entry>::iterator it) {
  stats_.bytes -= it->bytes;
  --stats_.entries;
  index_.erase(it->key);
  lru_.erase(it);
}

ResultCacheStats ResultCache::Stats() const {
  MutexLock lock(mu_);
  ResultCacheStats s = stats_;
  s.capacity_bytes = capacity_bytes_;
  return s;
}

std::string ResultCacheKey(std::span<const float> query, const SearchParams& p, const RerankPipeline& pipeline,
                           const RerankOptions& options) {
  std::string key;
  key.reserve(query.size_bytes() + 256);
  PutString(key, std::string_view(reinterpret_cast<const char*>(query.data()), query.size_bytes()));
  const int32_t ints[] = {p.k, p.offset, p.ef, p.exact, p.include_vector, p.include_metadata,
                          static_cast<int32_t>(p.filter_strategy), p.score_threshold.has_value(), options.explain};
  PutBytes(key, ints, sizeof(ints));
  const float threshold = p.score_threshold.value_or(0.0f);
  PutBytes(key, &threshold, sizeof(threshold));
  PutBytes(key, &options.now_ms, sizeof(options.now_ms));
  PutString(key, p.where);
  PutString(key, RerankPipelineToJson(pipeline));
  return key;
}

}  // namespace vectron
