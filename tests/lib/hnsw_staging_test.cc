// HnswIndex's staged inserts (StageHidden), which run beside searches under the
// index's shared lock: searches never return a node in flight or staged, never read a
// half-written vector, and find every acknowledged point once the write has returned.
// The multi-threaded case runs under ThreadSanitizer (suite `concurrency`).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <set>
#include <thread>

#include "index/distance.h"
#include "index/hnsw_index.h"
#include "test_util.h"

using namespace vectron;

namespace {

std::span<const float> Row(const std::vector<float>& data, uint64_t label, uint32_t dim) {
  return std::span<const float>(data.data() + label * dim, dim);
}

// Label classes of the concurrent test: removed for good once written, or removed and
// staged again (a reused label: it moves to a new slot) in the next round.
bool RemovedForGood(uint64_t l) { return l % 10 == 7; }
bool Reused(uint64_t l) { return l % 10 == 1; }

}  // namespace

TEST_CASE("graph: searches run concurrently with staged inserts and see only acknowledged, whole points") {
  const uint32_t dim = 16;
  const uint64_t initial = 300, per_round = 150, rounds = 16;
  const uint64_t n = initial + per_round * rounds;
  auto data = testing::RandomVectors(n, dim, 21);
  for (Quantization quantization : {Quantization::kNone, Quantization::kSq8}) {
    CAPTURE(static_cast<int>(quantization));
    HnswParams params;
    params.m = 8;
    params.ef_construction = 40;  // quick under ThreadSanitizer
    auto idx = NewHnswIndexImpl(dim, Metric::kL2, params, 16, quantization);
    std::vector<uint64_t> first(initial);
    for (uint64_t l = 0; l < initial; ++l) first[l] = l;
    REQUIRE(idx->Upsert(first, std::span<const float>(data.data(), initial * dim), 1).ok());
    // Labels below `acked` whose write returned, below `revealing` those whose Reveal
    // was called, and the labels removed for good below `removed`.
    std::atomic<uint64_t> acked{initial}, revealing{initial}, removed{0};
    std::atomic<bool> done{false};
    testing::Counter searches;
    std::atomic<size_t> in_flight{0}, wrong_distance{0}, unordered{0}, repeated{0},
        resurrected{0}, missing{0}, self_found{0}, self_asked{0};
    auto reader = [&](uint64_t seed) {
      IndexSearchOptions graph;
      graph.ef = 48;
      IndexSearchOptions exact;
      exact.exact = true;
      uint64_t x = seed;
      // At least one search after the writer is done: the loop ends only then.
      for (bool last = false; !last;) {
        last = done.load();
        const uint64_t acked_before = acked.load(), removed_before = removed.load();
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t p = (x >> 33) % acked_before;
        if (p >= initial && (RemovedForGood(p) || Reused(p))) p -= 3;  // a label that stays live
        for (const auto& o : {graph, exact}) {
          auto hits = idx->Search(Row(data, p, dim), 10, o);
          const uint64_t revealing_after = revealing.load();
          std::set<uint64_t> seen;
          for (size_t i = 0; i < hits.size(); ++i) {
            const uint64_t l = hits[i].label;
            if (l >= revealing_after) {  // returned before its Reveal was called
              ++in_flight;
              continue;
            }
            const float d = IndexDistance(Metric::kL2, data.data() + p * dim, data.data() + l * dim, dim);
            if (std::abs(d - hits[i].distance) > 1e-3f * (1 + d)) ++wrong_distance;
            if (i > 0 && hits[i - 1].distance > hits[i].distance) ++unordered;
            if (!seen.insert(l).second) ++repeated;
            if (l >= initial && RemovedForGood(l) && l < removed_before) ++resurrected;
          }
          const bool self = !hits.empty() && hits[0].label == p;
          if (o.exact && !self) ++missing;
          if (!o.exact) {
            ++self_asked;
            self_found += self;
          }
        }
        searches.fetch_add(1);
      }
    };
    std::thread r1(reader, 1), r2(reader, 2);
    // Each round waits until the readers have searched since the one before, so
    // searches run throughout the writes whatever the scheduler does.
    auto searched_since = [&](uint64_t before) { return searches.WaitAbove(before + 2); };
    bool searching = searched_since(0);
    Status s;
    std::vector<uint64_t> reuse;  // removed last round, staged again this round
    for (uint64_t r = 0; searching && s.ok() && r < rounds; ++r) {
      const uint64_t before = searches.load();
      const uint64_t from = initial + r * per_round, to = from + per_round;
      std::vector<uint64_t> labels;
      std::vector<float> vectors;
      for (uint64_t l = from; l < to; ++l) labels.push_back(l);
      labels.insert(labels.end(), reuse.begin(), reuse.end());
      for (uint64_t l : labels) vectors.insert(vectors.end(), Row(data, l, dim).begin(), Row(data, l, dim).end());
      s = idx->StageHidden(labels, vectors, 2);
      revealing.store(to);
      if (s.ok()) s = idx->Reveal(labels);
      acked.store(to);
      reuse.clear();
      std::vector<uint64_t> gone;
      for (uint64_t l = from; l < to; ++l) {
        if (RemovedForGood(l)) gone.push_back(l);
        if (Reused(l)) reuse.push_back(l);
      }
      gone.insert(gone.end(), reuse.begin(), reuse.end());
      if (s.ok()) s = idx->Remove(gone);
      removed.store(to);
      searching = searched_since(before);
    }
    done = true;
    r1.join();
    r2.join();
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    REQUIRE_MESSAGE(searching, "the searches stalled");
    MESSAGE(searches.load() << " searches, " << self_found.load() << "/" << self_asked.load()
                            << " graph searches found the point asked");
    CHECK(in_flight.load() == 0);
    CHECK(wrong_distance.load() == 0);
    CHECK(unordered.load() == 0);
    CHECK(repeated.load() == 0);
    CHECK(resurrected.load() == 0);
    CHECK(missing.load() == 0);
    CHECK(self_found.load() * 100 >= self_asked.load() * 95);
    // Afterwards: every live point is found by exact search, by graph search almost
    // always; the reused labels' old slots are deleted slots.
    const uint64_t live_reused = per_round / 10;  // the last round's, removed, not staged again
    CHECK(idx->size() == n - (n - initial) / 10 - live_reused);
    IndexSearchOptions o;
    o.ef = 48;
    size_t found = 0, asked = 0;
    for (uint64_t l = 0; l < n; ++l) {
      if (l >= initial && (RemovedForGood(l) || (Reused(l) && l >= n - per_round))) continue;
      ++asked;
      auto hits = idx->Search(Row(data, l, dim), 1, o);
      found += !hits.empty() && hits[0].label == l;
    }
    CHECK(found * 100 >= asked * 97);
  }
}

TEST_CASE("a staged label that was removed or staged before moves to a new slot") {
  const uint32_t dim = 8;
  auto data = testing::RandomVectors(120, dim, 5);
  auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, 16);
  std::vector<uint64_t> labels(100);
  for (uint64_t l = 0; l < 100; ++l) labels[l] = l;
  REQUIRE(idx->Upsert(labels, std::span<const float>(data.data(), 100 * dim), 1).ok());
  REQUIRE(idx->Remove(std::vector<uint64_t>{4}).ok());
  CHECK(idx->deleted_slots() == 1);
  // Label 4 again (another vector), and 100 staged twice: the second staging wins.
  REQUIRE(idx->StageHidden(std::vector<uint64_t>{4, 100}, [&] {
                             std::vector<float> v(Row(data, 110, dim).begin(), Row(data, 110, dim).end());
                             v.insert(v.end(), Row(data, 111, dim).begin(), Row(data, 111, dim).end());
                             return v;
                           }(), 1).ok());
  REQUIRE(idx->StageHidden(std::vector<uint64_t>{100}, Row(data, 100, dim), 1).ok());
  CHECK(idx->slots() == 103);
  CHECK(idx->size() == 99);
  CHECK(idx->deleted_slots() == 2);  // 4's old slot, 100's first
  // A repeated label is refused, and nothing changes.
  CHECK(idx->StageHidden(std::vector<uint64_t>{101, 101}, std::vector<float>(2 * dim), 1).IsInvalidArgument());
  CHECK(idx->slots() == 103);
  REQUIRE(idx->Reveal(std::vector<uint64_t>{4, 100}).ok());
  CHECK(idx->size() == 101);
  IndexSearchOptions o;
  for (bool exact : {false, true}) {
    o.exact = exact;
    o.ef = 64;
    auto a = idx->Search(Row(data, 110, dim), 1, o);
    REQUIRE(a.size() == 1);
    CHECK(a[0].label == 4);
    auto b = idx->Search(Row(data, 100, dim), 1, o);
    REQUIRE(b.size() == 1);
    CHECK(b[0].label == 100);
    CHECK(b[0].distance == doctest::Approx(0.0f).epsilon(1e-4));
    for (auto& nb : idx->Search(Row(data, 111, dim), 120, o)) CHECK(nb.distance > 1e-6f);
  }
  CHECK(idx->SearchAmong(Row(data, 110, dim), 1, std::vector<uint32_t>{4})[0].distance ==
        doctest::Approx(0.0f).epsilon(1e-4));
}

TEST_CASE("a graph saved with staged points loads them as deleted, and the live ones unchanged") {
  testing::TempDir dir;
  const uint32_t dim = 8;
  auto data = testing::RandomVectors(200, dim, 6);
  auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, 16);
  std::vector<uint64_t> labels(150);
  for (uint64_t l = 0; l < 150; ++l) labels[l] = l;
  REQUIRE(idx->Upsert(labels, std::span<const float>(data.data(), 150 * dim), 1).ok());
  std::vector<uint64_t> staged;
  for (uint64_t l = 150; l < 200; ++l) staged.push_back(l);
  REQUIRE(idx->StageHidden(staged, std::span<const float>(data.data() + 150 * dim, 50 * dim), 1).ok());
  REQUIRE(idx->Save(dir / "g.hnsw").ok());
  CHECK(idx->size() == 150);
  CHECK(idx->deleted_slots() == 0);  // the marks were for the file only
  auto loaded = LoadHnswIndex(dir / "g.hnsw", dim, Metric::kL2, {});
  REQUIRE(loaded.ok());
  CHECK((*loaded)->size() == 150);
  CHECK((*loaded)->deleted_slots() == 50);
  IndexSearchOptions o;
  o.exact = true;
  CHECK((*loaded)->Search(Row(data, 170, dim), 1, o)[0].label < 150);
  // The original reveals them as usual.
  REQUIRE(idx->Reveal(staged).ok());
  CHECK(idx->Search(Row(data, 170, dim), 1, o)[0].label == 170);
}
