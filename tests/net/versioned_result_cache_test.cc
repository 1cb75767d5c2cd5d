// VersionedResultCache (the gateway's result cache): keys, LRU by bytes, counters.
#include <doctest/doctest.h>

#include "net/api/versioned_result_cache.h"

namespace vectron::net {
namespace {

VersionedResultCache::Entry VersionedCacheEntryOf(uint64_t applied, size_t metadata_bytes) {
  VersionedResultCache::Entry e;
  e.read_at = {SearchReadPoint{10, applied}, SearchReadPoint{11, applied}};
  RerankedHit h;
  h.hit.id = "p";
  h.hit.metadata = std::string(metadata_bytes, 'm');
  e.hits.push_back(h);
  return e;
}

TEST_CASE("VersionedResultCache keeps entries by key, replaces a stale one and evicts the least recently used") {
  VersionedResultCache cache(3000);
  CHECK_FALSE(cache.Find("a").has_value());
  cache.Insert("a", VersionedCacheEntryOf(5, 1000));
  cache.Insert("b", VersionedCacheEntryOf(5, 1000));
  REQUIRE(cache.Find("a").has_value());  // "a" is now the most recently used.
  CHECK(cache.Find("a")->read_at[1] == SearchReadPoint{11, 5});
  cache.CountHit();
  // A fresh answer under "a" replaces the old one (an invalidation).
  cache.Insert("a", VersionedCacheEntryOf(6, 1000));
  CHECK(cache.Find("a")->read_at[0].applied_index == 6);
  // A third entry does not fit with both: "b" (least recently used) goes.
  cache.Insert("c", VersionedCacheEntryOf(1, 1000));
  CHECK_FALSE(cache.Find("b").has_value());
  CHECK(cache.Find("a").has_value());
  CHECK(cache.Find("c").has_value());
  ResultCacheStats s = cache.Stats();
  CHECK(s.hits == 1);
  CHECK(s.misses == 4);
  CHECK(s.invalidations == 1);
  CHECK(s.evictions == 1);
  CHECK(s.entries == 2);
  CHECK(s.bytes <= 3000);
  CHECK(s.capacity_bytes == 3000);
  // An entry larger than the whole cache is not kept; 0 bytes: off.
  cache.Insert("huge", VersionedCacheEntryOf(1, 5000));
  CHECK_FALSE(cache.Find("huge").has_value());
  VersionedResultCache off(0);
  CHECK_FALSE(off.enabled());
  off.Insert("a", VersionedCacheEntryOf(1, 10));
  CHECK_FALSE(off.Find("a").has_value());
}

TEST_CASE("VersionedResultCacheKey differs for every input that shapes the answer") {
  std::vector<float> q = {1, 2};
  SearchParams sp;
  RerankPipeline p;
  const std::string base = VersionedResultCacheKey("c", q, sp, p, false);
  CHECK(base == VersionedResultCacheKey("c", q, sp, p, false));
  CHECK(base != VersionedResultCacheKey("d", q, sp, p, false));
  CHECK(base != VersionedResultCacheKey("c", q, sp, p, true));
  std::vector<float> q2 = {1, 3};
  CHECK(base != VersionedResultCacheKey("c", q2, sp, p, false));
  SearchParams k = sp;
  k.k = 11;
  CHECK(base != VersionedResultCacheKey("c", q, k, p, false));
  SearchParams w = sp;
  w.where = "{\"a\":1}";
  CHECK(base != VersionedResultCacheKey("c", q, w, p, false));
  SearchParams t = sp;
  t.score_threshold = 0.5f;
  CHECK(base != VersionedResultCacheKey("c", q, t, p, false));
  RerankPipeline p2;
  p2.candidates = 50;
  CHECK(base != VersionedResultCacheKey("c", q, sp, p2, false));
}

}  // namespace
}  // namespace vectron::net
