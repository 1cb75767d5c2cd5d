#include "net/api/versioned_result_cache.h"

#include <cstring>

namespace vectron::net {

namespace {

// Bytes an entry holds (roughly: strings, vectors and the fixed parts).
uint64_t VersionedEntryBytes(const std::string& key, const VersionedResultCache::Entry& e) {
  uint64_t b = sizeof(VersionedResultCache::Entry) + key.size() + 64;  // + list and index nodes
  b += e.read_at.size() * sizeof(SearchReadPoint);
  for (const RerankedHit& h : e.hits)
    b += sizeof(RerankedHit) + h.hit.id.size() + h.hit.metadata.size() + h.hit.vector.size() * sizeof(float);
  return b;
}

void PutVersionedKeyBytes(std::string& out, const void* p, size_t n) {
  out.append(static_cast<const char*>(p), n);
}

// Length-prefixed, so no two different inputs make one key.
void PutVersionedKeyString(std::string& out, std::string_view s) {
  const uint64_t n = s.size();
  PutVersionedKeyBytes(out, &n, sizeof(n));
  out.append(s);
}

}  // namespace

std::optional<VersionedResultCache::Entry> VersionedResultCache::Find(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->entry;
}

void VersionedResultCache::Insert(const std::string& key, Entry entry) {
  ++stats_.misses;
  if (!enabled()) return;
  if (auto it = index_.find(key); it != index_.end()) {
    ++stats_.invalidations;
    Erase(it->second);
  }
  const uint64_t bytes = VersionedEntryBytes(key, entry);
  if (bytes > capacity_bytes_) return;
  while (!lru_.empty() && stats_.bytes + bytes > capacity_bytes_) {
    ++stats_.evictions;
    Erase(std::prev(lru_.end()));
  }
  lru_.push_front(Slot{key, std::move(entry), bytes});
  index_[key] = lru_.begin();
  stats_.bytes += bytes;
  ++stats_.entries;
}

void VersionedResultCache::Erase(std::list<Slot>::iterator it) {
  stats_.bytes -= it->bytes;
  --stats_.entries;
  index_.erase(it->key);
  lru_.erase(it);
}

ResultCacheStats VersionedResultCache::Stats() const {
  ResultCacheStats s = stats_;
  s.capacity_bytes = capacity_bytes_;
  return s;
}

std::string VersionedResultCacheKey(const std::string& collection, std::span<const float> query,
                                    const SearchParams& p, const RerankPipeline& pipeline, bool explain) {
  std::string key;
  key.reserve(collection.size() + query.size_bytes() + 256);
  PutVersionedKeyString(key, collection);
  PutVersionedKeyString(key, std::string_view(reinterpret_cast<const char*>(query.data()), query.size_bytes()));
  const int32_t ints[] = {p.k, p.offset, p.ef, p.exact, p.include_vector, p.include_metadata,
                          static_cast<int32_t>(p.filter_strategy), p.score_threshold.has_value(), explain};
  PutVersionedKeyBytes(key, ints, sizeof(ints));
  const float threshold = p.score_threshold.value_or(0.0f);
  PutVersionedKeyBytes(key, &threshold, sizeof(threshold));
  PutVersionedKeyString(key, p.where);
  PutVersionedKeyString(key, RerankPipelineToJson(pipeline));
  return key;
}

}  // namespace vectron::net
