#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include "index/distance.h"
#include "index/hnsw_index.h"
#include "test_util.h"

using namespace vectron;

namespace {

std::vector<uint64_t> BruteForce(const std::vector<float>& data, size_t n, uint32_t dim, const float* q, size_t k,
                                 Metric m) {
  std::vector<std::pair<float, uint64_t>> d;
  for (size_t i = 0; i < n; ++i) d.push_back({IndexDistance(m, data.data() + i * dim, q, dim), i});
  std::sort(d.begin(), d.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < k && i < d.size(); ++i) out.push_back(d[i].second);
  return out;
}

std::vector<uint64_t> Iota(size_t n) {
  std::vector<uint64_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

TEST_CASE("flat index search equals brute force for l2 and inner product") {
  const uint32_t dim = 24;
  const size_t n = 500;
  auto data = testing::RandomVectors(n, dim, 1);
  auto queries = testing::RandomVectors(20, dim, 2);
  for (Metric m : {Metric::kL2, Metric::kIP}) {
    auto idx = NewFlatIndex(dim, m);
    REQUIRE(idx->Upsert(Iota(n), data, 1).ok());
    CHECK(idx->size() == n);
    for (size_t q = 0; q < 20; ++q) {
      auto got = idx->Search(std::span<const float>(queries.data() + q * dim, dim), 10, {});
      std::vector<uint64_t> labels;
      for (auto& nb : got) labels.push_back(nb.label);
      CHECK(labels == BruteForce(data, n, dim, queries.data() + q * dim, 10, m));
    }
  }
}

TEST_CASE("flat index remove and replace keep search exact") {
  const uint32_t dim = 8;
  auto data = testing::RandomVectors(100, dim, 3);
  auto idx = NewFlatIndex(dim, Metric::kL2);
  REQUIRE(idx->Upsert(Iota(100), data, 1).ok());
  std::vector<uint64_t> gone = {0, 5, 99, 50};
  REQUIRE(idx->Remove(gone).ok());
  CHECK(idx->size() == 96);
  // Querying with a removed vector must not return it.
  auto hits = idx->Search(std::span<const float>(data.data() + 5 * dim, dim), 100, {});
  CHECK(hits.size() == 96);
  for (auto& h : hits) CHECK(std::find(gone.begin(), gone.end(), h.label) == gone.end());
  // Replacing label 7 with label 9's vector makes 7 a zero-distance hit for it.
  std::vector<uint64_t> seven = {7};
  REQUIRE(idx->Upsert(seven, std::span<const float>(data.data() + 9 * dim, dim), 1).ok());
  auto top = idx->Search(std::span<const float>(data.data() + 9 * dim, dim), 2, {});
  std::set<uint64_t> top_labels = {top[0].label, top[1].label};
  CHECK(top_labels == std::set<uint64_t>{7, 9});
  CHECK(top[0].distance == doctest::Approx(0.0f).epsilon(1e-4));
}

TEST_CASE("hnsw index reaches high recall on random data and exact mode is exact") {
  const uint32_t dim = 16;
  const size_t n = 3000;
  auto data = testing::RandomVectors(n, dim, 4);
  auto queries = testing::RandomVectors(50, dim, 5);
  HnswParams p;
  auto idx = NewHnswIndexImpl(dim, Metric::kL2, p, 100);  // forces several resizes
  REQUIRE(idx->Upsert(Iota(n), data, 2).ok());
  CHECK(idx->size() == n);
  size_t hit = 0;
  for (size_t q = 0; q < 50; ++q) {
    const float* qp = queries.data() + q * dim;
    auto truth = BruteForce(data, n, dim, qp, 10, Metric::kL2);
    IndexSearchOptions o;
    o.ef = 200;
    for (auto& nb : idx->Search(std::span<const float>(qp, dim), 10, o))
      hit += std::count(truth.begin(), truth.end(), nb.label);
    o.exact = true;
    std::vector<uint64_t> exact;
    for (auto& nb : idx->Search(std::span<const float>(qp, dim), 10, o)) exact.push_back(nb.label);
    CHECK(exact == truth);
  }
  CHECK(static_cast<double>(hit) / 500.0 >= 0.95);
}

TEST_CASE("hnsw index never returns removed labels, and a reused label gets a new slot") {
  const uint32_t dim = 8;
  auto data = testing::RandomVectors(200, dim, 6);
  auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, 200);
  REQUIRE(idx->Upsert(Iota(200), data, 1).ok());
  std::vector<uint64_t> gone;
  for (uint64_t i = 0; i < 200; i += 2) gone.push_back(i);
  REQUIRE(idx->Remove(gone).ok());
  CHECK(idx->size() == 100);
  CHECK(idx->deleted_slots() == 100);
  IndexSearchOptions o;
  o.ef = 300;
  for (auto& nb : idx->Search(std::span<const float>(data.data(), dim), 50, o)) CHECK(nb.label % 2 == 1);
  // Re-inserting removed labels takes new slots (an in-place update can cut nodes off;
  // see the overwrite test below): the old ones stay deleted until a compaction.
  size_t slots = idx->slots();
  REQUIRE(idx->Upsert(std::span<const uint64_t>(gone.data(), 10), std::span<const float>(data.data(), 10 * dim), 1).ok());
  CHECK(idx->slots() == slots + 10);
  CHECK(idx->deleted_slots() == 100);
  CHECK(idx->size() == 110);
}

TEST_CASE("hnsw index hides staged labels until they are revealed") {
  const uint32_t dim = 8;
  auto data = testing::RandomVectors(300, dim, 9);
  auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, 16);
  REQUIRE(idx->Upsert(std::span<const uint64_t>(Iota(100)), std::span<const float>(data.data(), 100 * dim), 1).ok());
  REQUIRE(idx->Remove(std::vector<uint64_t>{3, 5}).ok());
  // Staged: two reused slots (3, 5) and 200 new labels, in two chunks, growing the graph.
  std::vector<uint64_t> staged{3, 5};
  for (uint64_t l = 100; l < 300; ++l) staged.push_back(l);
  std::vector<float> vecs;
  for (uint64_t l : staged) vecs.insert(vecs.end(), data.begin() + l * dim, data.begin() + (l + 1) * dim);
  REQUIRE(idx->StageHidden(std::span<const uint64_t>(staged).first(50), std::span<const float>(vecs).first(50 * dim), 2).ok());
  REQUIRE(idx->StageHidden(std::span<const uint64_t>(staged).subspan(50), std::span<const float>(vecs).subspan(50 * dim), 2).ok());
  CHECK(idx->size() == 98);
  // Hidden labels are not free slots; the old slots of the reused labels 3 and 5 are
  // (a staged label always takes a new slot).
  CHECK(idx->deleted_slots() == 2);
  IndexSearchOptions o;
  o.ef = 400;
  for (bool exact : {false, true}) {
    o.exact = exact;
    for (uint64_t q : {3, 150, 299}) {
      auto hits = idx->Search(std::span<const float>(data.data() + q * dim, dim), 300, o);
      CHECK(hits.size() == 98);
      for (auto& nb : hits) CHECK((nb.label < 100 && nb.label != 3 && nb.label != 5));
    }
  }
  // A live label cannot be staged, and nothing changes.
  CHECK(idx->StageHidden(std::vector<uint64_t>{7}, std::span<const float>(data.data(), dim), 1).IsInvalidArgument());
  CHECK(idx->size() == 98);
  // Removing a hidden label leaves a free slot; revealing the rest shows them.
  REQUIRE(idx->Remove(std::vector<uint64_t>{299}).ok());
  CHECK(idx->deleted_slots() == 3);
  REQUIRE(idx->Reveal(staged).ok());
  CHECK(idx->size() == 299);
  CHECK(idx->deleted_slots() == 3);
  o.exact = true;
  for (uint64_t q : {3, 5, 150, 298}) {
    auto hits = idx->Search(std::span<const float>(data.data() + q * dim, dim), 1, o);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].label == q);
  }
  auto all = idx->Search(std::span<const float>(data.data(), dim), 400, o);
  CHECK(all.size() == 299);
  for (auto& nb : all) CHECK(nb.label != 299);
}

// The staging contract of the Index interface, which the shard's catch-up relies on,
// holds for both kinds.
TEST_CASE("every index kind keeps staged labels out of searches until they are revealed") {
  const uint32_t dim = 8;
  auto data = testing::RandomVectors(260, dim, 11);
  auto row = [&](uint64_t l) { return std::span<const float>(data.data() + l * dim, dim); };
  for (int kind = 0; kind < 2; ++kind) {
    CAPTURE(kind);
    std::unique_ptr<Index> idx = kind == 0 ? NewFlatIndex(dim, Metric::kL2) : NewHnswIndex(dim, Metric::kL2, {}, 16);
    REQUIRE(idx->Upsert(Iota(100), std::span<const float>(data.data(), 100 * dim), 1).ok());
    REQUIRE(idx->Remove(std::vector<uint64_t>{3, 5}).ok());
    std::vector<uint64_t> staged{3, 5};
    for (uint64_t l = 100; l < 150; ++l) staged.push_back(l);
    std::vector<float> vecs;
    for (uint64_t l : staged) vecs.insert(vecs.end(), row(l).begin(), row(l).end());
    REQUIRE(idx->StageHidden(staged, vecs, 1).ok());
    CHECK(idx->size() == 98);
    IndexSearchOptions o;
    o.ef = 300;
    for (bool exact : {false, true}) {
      o.exact = exact;
      auto hits = idx->Search(row(120), 200, o);
      CHECK(hits.size() == 98);
      for (auto& nb : hits) CHECK((nb.label < 100 && nb.label != 3 && nb.label != 5));
    }
    CHECK(idx->SearchAmong(row(120), 5, std::vector<uint32_t>{120, 121}).empty());
    // A live label cannot be staged, and nothing changes.
    CHECK(idx->StageHidden(std::vector<uint64_t>{7}, row(7), 1).IsInvalidArgument());
    CHECK(idx->size() == 98);
    // A removed staged label is never revealed; an upserted one is visible at once with
    // the new vector, and a later Reveal leaves it so.
    REQUIRE(idx->Remove(std::vector<uint64_t>{149}).ok());
    REQUIRE(idx->Upsert(std::vector<uint64_t>{148}, row(200), 1).ok());
    CHECK(idx->size() == 99);
    REQUIRE(idx->Reveal(staged).ok());
    CHECK(idx->size() == 149);
    o.exact = true;
    for (uint64_t q : {3, 5, 120}) {
      auto hits = idx->Search(row(q), 1, o);
      REQUIRE(hits.size() == 1);
      CHECK(hits[0].label == q);
    }
    auto top = idx->Search(row(200), 1, o);
    REQUIRE(top.size() == 1);
    CHECK(top[0].label == 148);
    CHECK(top[0].distance == doctest::Approx(0.0f).epsilon(1e-4));
    for (auto& nb : idx->Search(row(0), 300, o)) CHECK(nb.label != 149);
    // Reveal ignores labels that are not staged.
    REQUIRE(idx->Reveal(std::vector<uint64_t>{0, 149, 999}).ok());
    CHECK(idx->size() == 149);
  }
}

TEST_CASE("a saved hnsw index loads back with identical results") {
  testing::TempDir dir;
  const uint32_t dim = 12;
  auto data = testing::RandomVectors(1000, dim, 7);
  auto idx = NewHnswIndexImpl(dim, Metric::kIP, {}, 1000);
  REQUIRE(idx->Upsert(Iota(1000), data, 1).ok());
  REQUIRE(idx->Save(dir / "g.hnsw").ok());
  auto loaded = LoadHnswIndex(dir / "g.hnsw", dim, Metric::kIP, {});
  REQUIRE(loaded.ok());
  IndexSearchOptions o;
  o.ef = 50;
  for (size_t q = 0; q < 10; ++q) {
    std::span<const float> qs(data.data() + q * 7 * dim, dim);
    auto a = idx->Search(qs, 10, o);
    auto b = (*loaded)->Search(qs, 10, o);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].label == b[i].label);
  }
  CHECK(LoadHnswIndex(dir / "g.hnsw", dim + 1, Metric::kIP, {}).status().code() == StatusCode::kCorruption);
}

TEST_CASE("a cloned hnsw index answers as the original, staged points deleted, and the two change apart") {
  const uint32_t dim = 12;
  const size_t n = 1500;
  auto data = testing::RandomVectors(n + 100, dim, 11);
  // Into memory of its own, into a room reserved beforehand, and past a room too small.
  enum class Room { kNone, kReserved, kTooSmall };
  for (auto [qz, room] : {std::pair{Quantization::kNone, Room::kNone}, std::pair{Quantization::kNone, Room::kReserved},
                          std::pair{Quantization::kNone, Room::kTooSmall}, std::pair{Quantization::kSq8, Room::kNone},
                          std::pair{Quantization::kSq8, Room::kReserved}}) {
    CAPTURE(QuantizationName(qz));
    CAPTURE(static_cast<int>(room));
    auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, 100, qz);
    REQUIRE(idx->Upsert(Iota(n), std::span<const float>(data.data(), n * dim), 2).ok());
    std::vector<uint64_t> gone;
    for (uint64_t l = 0; l < n; l += 9) gone.push_back(l);
    REQUIRE(idx->Remove(gone).ok());
    // Staged, not revealed: the clone holds them deleted, as a saved file does.
    std::vector<uint64_t> staged{n, n + 1, n + 2};
    REQUIRE(idx->StageHidden(staged, std::span<const float>(data.data() + n * dim, 3 * dim), 1).ok());
    CloneRoom reserved;
    if (room == Room::kReserved) {
      reserved = ReserveCloneRoom(idx->slots(), idx->node_bytes());
      CHECK(reserved.nodes >= idx->slots());
    } else if (room == Room::kTooSmall) {
      reserved = ReserveCloneRoom(0, idx->node_bytes());
      CHECK(reserved.nodes < idx->slots());
    }
    auto cloned = idx->Clone(std::move(reserved));
    REQUIRE(cloned.ok());
    HnswIndex& c = **cloned;
    CHECK(c.size() == idx->size());
    CHECK(c.slots() == idx->slots());
    IndexSearchOptions o;
    o.ef = 64;
    auto same = [&](const HnswIndex& a, const HnswIndex& b, size_t queries) {
      size_t diff = 0;
      for (size_t q = 0; q < queries; ++q) {
        std::span<const float> qs(data.data() + q * 13 % n * dim, dim);
        auto x = a.Search(qs, 10, o);
        auto y = b.Search(qs, 10, o);
        if (x.size() != y.size()) ++diff;
        else for (size_t i = 0; i < x.size(); ++i) diff += x[i].label != y[i].label || x[i].distance != y[i].distance;
      }
      return diff;
    };
    CHECK(same(*idx, c, 50) == 0);
    // Changes to one are not seen by the other: the clone owns its memory.
    std::vector<uint64_t> more(100);
    std::iota(more.begin(), more.end(), n + 3);
    std::vector<float> near(100 * dim);
    for (size_t i = 0; i < near.size(); ++i) near[i] = data[i] + 0.001f;  // next to points 0..99
    REQUIRE(c.Upsert(more, near, 1).ok());
    REQUIRE(idx->Remove(std::vector<uint64_t>{1, 2, 3}).ok());
    CHECK(c.size() == idx->size() + 100 + 3);
    size_t found_new = 0, found_removed = 0;
    for (size_t i = 1; i < 4; ++i) {
      std::span<const float> qs(data.data() + i * dim, dim);
      for (const auto& h : c.Search(qs, 2, o)) found_new += h.label >= n + 3;
      for (const auto& h : idx->Search(qs, 10, o)) found_removed += h.label == i;
    }
    CHECK(found_new == 3);
    CHECK(found_removed == 0);
    // The staged points are still the original's to reveal; the clone never shows them.
    REQUIRE(idx->Reveal(staged).ok());
    for (uint64_t l : staged) {
      std::span<const float> qs(data.data() + l * dim, dim);
      CHECK(idx->Search(qs, 1, o).at(0).label == l);
      for (const auto& h : c.Search(qs, 10, o)) CHECK(h.label != l);
    }
  }
}

namespace {

// Allows the labels of a set; `token` is its LabelFilter::cache_token.
class SetFilter final : public LabelFilter {
 public:
  SetFilter(std::set<uint32_t> labels, uint64_t token) : labels_(std::move(labels)), token_(token) {}
  bool Allows(uint64_t label) const override { return label < (uint64_t{1} << 32) && labels_.count(static_cast<uint32_t>(label)); }
  std::vector<uint32_t> AllowedLabels() const override { return {labels_.begin(), labels_.end()}; }
  uint64_t cache_token() const override { return token_; }

 private:
  std::set<uint32_t> labels_;
  uint64_t token_;
};

// The k nearest allowed labels by brute force.
std::vector<uint64_t> BruteForceAmong(const std::vector<float>& data, uint32_t dim, const std::set<uint32_t>& allowed,
                                      const float* q, size_t k) {
  std::vector<std::pair<float, uint64_t>> d;
  for (uint32_t l : allowed) d.push_back({IndexDistance(Metric::kL2, data.data() + size_t{l} * dim, q, dim), l});
  std::sort(d.begin(), d.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < k && i < d.size(); ++i) out.push_back(d[i].second);
  return out;
}

}  // namespace

TEST_CASE("the filter-first walk finds the nearest matches of uncorrelated and correlated filters") {
  const uint32_t dim = 16;
  const size_t n = 4000, k = 10;
  auto data = testing::RandomVectors(n, dim, 21);
  auto queries = testing::RandomVectors(40, dim, 22);
  // Uncorrelated: every tenth label. Correlated: the 10 % of points with the largest
  // first coordinate, a slab of the space that most queries lie outside.
  std::set<uint32_t> every_tenth, slab;
  std::vector<std::pair<float, uint32_t>> by_x0;
  for (uint32_t l = 0; l < n; ++l) {
    if (l % 10 == 0) every_tenth.insert(l);
    by_x0.push_back({data[size_t{l} * dim], l});
  }
  std::sort(by_x0.rbegin(), by_x0.rend());
  for (size_t i = 0; i < n / 10; ++i) slab.insert(by_x0[i].second);
  for (Quantization quant : {Quantization::kNone, Quantization::kSq8}) {
    auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, n, quant);
    REQUIRE(idx->Upsert(Iota(n), data, 2).ok());
    for (const auto* allowed : {&every_tenth, &slab}) {
      CAPTURE(static_cast<int>(quant));
      CAPTURE(allowed == &slab);
      SetFilter filter(*allowed, 0);
      double found = 0;
      for (size_t qi = 0; qi < 40; ++qi) {
        const float* q = queries.data() + qi * dim;
        const auto want = BruteForceAmong(data, dim, *allowed, q, k);
        IndexSearchOptions o;
        o.ef = 64;
        o.filter = &filter;
        o.two_hop = true;
        auto hits = idx->Search(std::span<const float>(q, dim), k, o);
        REQUIRE(hits.size() == k);
        for (size_t i = 0; i < hits.size(); ++i) {
          CHECK(allowed->count(static_cast<uint32_t>(hits[i].label)) == 1);  // never a rejected label
          if (i) CHECK(hits[i - 1].distance <= hits[i].distance);
          found += static_cast<double>(std::count(want.begin(), want.end(), hits[i].label));
        }
        // The exact scan of the allowed ids gives the brute-force answer.
        o.exact = true;
        auto exact = idx->Search(std::span<const float>(q, dim), k, o);
        std::vector<uint64_t> got;
        for (auto& nb : exact) got.push_back(nb.label);
        CHECK(got == want);
      }
      CHECK(found / (40.0 * k) >= 0.9);
    }
  }
}

TEST_CASE("a filtered walk with a distance budget gives up with nothing, and with room answers in full") {
  const uint32_t dim = 8;
  const size_t n = 2000;
  auto data = testing::RandomVectors(n, dim, 31);
  auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, n);
  REQUIRE(idx->Upsert(Iota(n), data, 1).ok());
  std::set<uint32_t> allowed;
  for (uint32_t l = 0; l < n; l += 5) allowed.insert(l);
  SetFilter filter(allowed, 0);
  for (bool two_hop : {false, true}) {
    CAPTURE(two_hop);
    IndexSearchOptions o;
    o.ef = 32;
    o.filter = &filter;
    o.two_hop = two_hop;
    const auto unlimited = idx->Search(std::span<const float>(data.data() + 7 * dim, dim), 10, o);
    REQUIRE(unlimited.size() == 10);
    o.max_distances = 5;
    CHECK(idx->Search(std::span<const float>(data.data() + 7 * dim, dim), 10, o).empty());
    o.max_distances = n * 10;
    auto roomy = idx->Search(std::span<const float>(data.data() + 7 * dim, dim), 10, o);
    REQUIRE(roomy.size() == unlimited.size());
    for (size_t i = 0; i < roomy.size(); ++i) CHECK(roomy[i].label == unlimited[i].label);
  }
}

TEST_CASE("a filter's cached mask follows the index when labels come, go and move") {
  const uint32_t dim = 8;
  auto data = testing::RandomVectors(400, dim, 41);
  auto row = [&](uint64_t l) { return std::span<const float>(data.data() + l * dim, dim); };
  auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, 16);  // grows as labels come
  REQUIRE(idx->Upsert(Iota(100), std::span<const float>(data.data(), 100 * dim), 1).ok());
  std::set<uint32_t> wanted;
  for (uint32_t l = 100; l < 200; ++l) wanted.insert(l);
  const SetFilter filter(wanted, 42);  // one token throughout, as a cached allow-list keeps it
  auto labels_of = [&](bool exact, bool two_hop) {
    IndexSearchOptions o;
    o.ef = 200;
    o.filter = &filter;
    o.exact = exact;
    o.two_hop = two_hop;
    std::set<uint64_t> got;
    for (auto& nb : idx->Search(row(150), 200, o)) got.insert(nb.label);
    return got;
  };
  for (bool exact : {false, true})
    for (bool two_hop : {false, true}) CHECK(labels_of(exact, two_hop).empty());  // none of them yet
  std::vector<uint64_t> fresh;
  for (uint64_t l = 100; l < 200; ++l) fresh.push_back(l);
  REQUIRE(idx->Upsert(fresh, std::span<const float>(data.data() + 100 * dim, 100 * dim), 1).ok());
  std::set<uint64_t> all(fresh.begin(), fresh.end());
  for (bool exact : {false, true}) CHECK(labels_of(exact, false) == all);
  // Half go; the freed slots are taken by other labels (hnswlib reuses them only with
  // replace_deleted, so they may move anywhere): the mask must not follow the old ids.
  std::vector<uint64_t> gone(fresh.begin(), fresh.begin() + 50);
  REQUIRE(idx->Remove(gone).ok());
  std::vector<uint64_t> others;
  for (uint64_t l = 200; l < 300; ++l) others.push_back(l);
  REQUIRE(idx->Upsert(others, std::span<const float>(data.data() + 200 * dim, 100 * dim), 1).ok());
  std::set<uint64_t> kept(fresh.begin() + 50, fresh.end());
  for (bool exact : {false, true}) CHECK(labels_of(exact, false) == kept);
  // A removed label that comes back is found again, at its new vector.
  REQUIRE(idx->Upsert(std::vector<uint64_t>{120}, row(350), 1).ok());
  kept.insert(120);
  for (bool exact : {false, true}) CHECK(labels_of(exact, false) == kept);
  IndexSearchOptions o;
  o.exact = true;
  o.filter = &filter;
  auto top = idx->Search(row(350), 1, o);
  REQUIRE(top.size() == 1);
  CHECK(top[0].label == 120);
}

TEST_CASE("exact batch search equals exact single searches, for hnsw (with deletions and a filter) and flat") {
  const uint32_t dim = 20;
  const size_t n = 700, nq = 9;
  auto data = testing::RandomVectors(n, dim, 51);
  auto queries = testing::RandomVectors(nq, dim, 52);
  std::set<uint32_t> odd;
  for (uint32_t l = 1; l < n; l += 2) odd.insert(l);
  const SetFilter filter(odd, 0);
  for (Metric m : {Metric::kL2, Metric::kIP}) {
    for (int kind = 0; kind < 2; ++kind) {
      CAPTURE(kind);
      std::unique_ptr<Index> idx = kind == 0 ? NewFlatIndex(dim, m) : NewHnswIndex(dim, m, {}, 64);
      REQUIRE(idx->Upsert(Iota(n), data, 1).ok());
      REQUIRE(idx->Remove(std::vector<uint64_t>{3, 4, 5, 100}).ok());
      for (const LabelFilter* f : {static_cast<const LabelFilter*>(nullptr), static_cast<const LabelFilter*>(&filter)}) {
        IndexSearchOptions o;
        o.exact = true;
        o.filter = f;
        const auto batch = idx->SearchBatch(queries, 6, o);
        REQUIRE(batch.size() == nq);
        for (size_t q = 0; q < nq; ++q) {
          const auto single = idx->Search(std::span<const float>(queries.data() + q * dim, dim), 6, o);
          REQUIRE(single.size() == batch[q].size());
          for (size_t j = 0; j < single.size(); ++j) {
            CHECK(single[j].label == batch[q][j].label);
            CHECK(single[j].distance == doctest::Approx(batch[q][j].distance).epsilon(1e-4));
            CHECK(batch[q][j].label != 3);
            CHECK(batch[q][j].label != 100);
            if (f) CHECK(batch[q][j].label % 2 == 1);
          }
        }
      }
      IndexSearchOptions o;
      o.exact = true;
      const auto none = idx->SearchBatch(queries, 0, o);
      CHECK(none.size() == nq);
      for (const auto& r : none) CHECK(r.empty());
      CHECK(idx->SearchBatch(std::span<const float>(), 3, o).empty());
    }
  }
}

TEST_CASE("hnsw overwrites keep every point reachable: a same vector leaves the graph, a new one takes a new slot") {
  // Nearly one-dimensional data, where hnswlib's in-place update (which rewrites the
  // neighbours' links from the candidates around the point alone) used to leave points
  // that only exact search found: 3 to 17 of 850 after 200 overwrites.
  const uint32_t dim = 4;
  std::mt19937_64 rng(7);
  std::vector<uint64_t> labels;
  std::vector<float> data;
  for (int i = 0; i < 1700; ++i) {
    if (rng() % 2) continue;
    labels.push_back(i);
    data.insert(data.end(), {float(i), float(i % 7), 1.0f, -float(i % 3)});
  }
  auto idx = NewHnswIndexImpl(dim, Metric::kL2, HnswParams{}, 1000);
  REQUIRE(idx->Upsert(labels, data, 2).ok());
  const size_t slots = idx->slots();
  auto overwrite = [&](size_t count, bool move) {
    std::set<size_t> rows;
    while (rows.size() < count) rows.insert(rng() % labels.size());
    std::vector<uint64_t> ul;
    std::vector<float> uv;
    for (size_t r : rows) {
      if (move) data[r * dim + 2] += 0.5f;
      ul.push_back(labels[r]);
      uv.insert(uv.end(), data.begin() + r * dim, data.begin() + (r + 1) * dim);
    }
    REQUIRE(idx->Upsert(ul, uv, 2).ok());
  };
  overwrite(300, false);  // metadata-only overwrites, as the shard sends them: the graph is left alone
  CHECK(idx->slots() == slots);
  CHECK(idx->deleted_slots() == 0);
  overwrite(300, true);  // new vectors: new slots, the old ones deleted until a compaction
  CHECK(idx->slots() == slots + 300);
  CHECK(idx->deleted_slots() == 300);
  // A removed label reused for a new point also takes a new slot.
  const uint64_t gone = labels[10];
  REQUIRE(idx->Remove(std::span<const uint64_t>(&gone, 1)).ok());
  data[10 * dim + 1] = 3.5f;
  REQUIRE(idx->Upsert(std::span<const uint64_t>(&gone, 1), std::span<const float>(data.data() + 10 * dim, dim), 1).ok());
  CHECK(idx->slots() == slots + 301);
  CHECK(idx->size() == labels.size());
  IndexSearchOptions o;
  o.ef = 64;
  size_t unreachable = 0;
  for (size_t r = 0; r < labels.size(); ++r) {
    auto got = idx->Search(std::span<const float>(data.data() + r * dim, dim), 1, o);
    unreachable += got.empty() || got[0].label != labels[r];
  }
  CHECK(unreachable == 0);
}
