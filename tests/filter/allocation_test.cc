// Matches must not allocate: it runs once per candidate record in search and scroll.
// This file replaces the global operator new for the whole test binary to count
// allocations; the count is only read around Matches calls.

#include <atomic>
#include <cstdlib>
#include <new>

#include <doctest/doctest.h>

#include "filter/filter.h"
#include "test_util.h"

// GCC sees free() on memory from the replaced operator new and cannot tell that
// this file is the allocator; the pairing is correct.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
// Every unaligned new and delete form is replaced, so that no memory from malloc
// reaches a sanitizer's operator delete (or the reverse).
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace vectron::filter {
namespace {

using nlohmann::json;

TEST_CASE("Matches does not allocate for any operator") {
  const Filter f = testing::MustParse(R"({
    "$and": [
      {"genre": "jazz", "year": {"$gte": 1950, "$lt": 1970}},
      {"$or": [{"tags": {"$in": ["live", "mono", 3, null, true]}}, {"rating": {"$gt": 4.5}}]},
      {"$not": {"artist.name": {"$nin": ["x", "y"]}}},
      {"items.sku": {"$ne": "zz"}, "missing": {"$exists": false}, "big": {"$lte": 9007199254740993}}
    ]})");
  const json records[] = {
      json::parse(R"({"genre": "jazz", "year": 1959, "tags": ["live", "x"], "artist": {"name": "x"},
                      "items": [{"sku": "a"}, {"sku": "b"}], "big": 9007199254740993})"),
      json::parse(R"({"genre": "jazz", "year": 1960.5, "rating": 5, "artist": {"name": ["y"]}, "big": 1})"),
      json::parse(R"({"genre": "rock"})"),
      json(),
  };
  int matched = 0;
  const long before = g_allocations.load();
  for (int rep = 0; rep < 100; ++rep) {
    for (const json& r : records) matched += Matches(f, r);
  }
  const long after = g_allocations.load();
  CHECK(after == before);
  CHECK(matched == 200);
}

}  // namespace
}  // namespace vectron::filter
