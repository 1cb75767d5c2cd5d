#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "collection_internal.h"
#include "storage/keys.h"
#include "storage/lmdb.h"
#include "db_test_util.h"

using namespace vectron;
using testing::TempDir;
using testing::VectorForId;

namespace {

using testing::OpenDb;
using testing::Id;

std::shared_ptr<Collection> Create(Database& db, const std::string& name, const CollectionConfig& cfg) {
  auto c = db.CreateCollection(name, cfg);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  return *c;
}

void UpsertRange(Collection& c, int from, int to, bool with_meta = true) {
  WriteBatch b;
  for (int i = from; i < to; ++i)
    b.Upsert(Id(i), VectorForId(Id(i), c.config().dim),
             with_meta ? "{\"i\":" + std::to_string(i) + ",\"tag\":\"t" + std::to_string(i % 3) + "\"}" : "");
  Status s = c.Write(b);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
}

uint64_t CountOf(const Collection& c) { return c.Count().value(); }

}  // namespace

TEST_CASE("collections are created, listed, fetched and dropped") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  Create(*db, "a", testing::SmallConfig(4));
  Create(*db, "b_2-x", testing::SmallConfig(8, Metric::kCosine));
  CHECK(db->ListCollections().value() == std::vector<std::string>{"a", "b_2-x"});
  CHECK(db->CreateCollection("a", testing::SmallConfig(4)).status().code() == StatusCode::kAlreadyExists);
  CHECK(db->GetCollection("a").value()->config().dim == 4);
  CHECK(db->GetCollection("zzz").status().IsNotFound());
  CHECK(db->CreateCollection("bad name", testing::SmallConfig(4)).status().IsInvalidArgument());
  CHECK(db->CreateCollection("", testing::SmallConfig(4)).status().IsInvalidArgument());
  CHECK(db->CreateCollection("nodim", CollectionConfig{}).status().IsInvalidArgument());
  CHECK(db->GetOrCreateCollection("a", testing::SmallConfig(5)).status().code() == StatusCode::kFailedPrecondition);
  CHECK(db->GetOrCreateCollection("c", testing::SmallConfig(5)).ok());
  REQUIRE(db->DropCollection("a").ok());
  CHECK(db->DropCollection("a").IsNotFound());
  CHECK(db->ListCollections().value() == std::vector<std::string>{"b_2-x", "c"});
  CHECK_FALSE(PathExists(dir / "collections/a"));
  db.reset();
  auto again = OpenDb(dir.path());
  CHECK(again->ListCollections().value() == std::vector<std::string>{"b_2-x", "c"});
  CHECK(again->GetCollection("c").value()->config().dim == 5);
}

TEST_CASE("a database directory is opened once per process and must be a Vectron database") {
  TempDir dir;
  auto db = OpenDb(dir / "db");
  CHECK(Database::Open(dir / "db").status().code() == StatusCode::kFailedPrecondition);
  std::ofstream(dir / "other.txt") << "hello";
  CHECK(Database::Open(dir.path()).status().code() == StatusCode::kFailedPrecondition);
  DatabaseOptions o;
  o.create_if_missing = false;
  CHECK(Database::Open(dir / "missing", o).status().IsNotFound());
}

TEST_CASE("a database of another format version is refused with its version named") {
  TempDir dir;
  OpenDb(dir.path()).reset();
  {
    auto env = storage::LmdbEnv::Open(dir / "catalog", {}).value();
    auto wt = storage::WriteTxn::Begin(env).value();
    auto meta = wt.OpenDbi("meta").value();
    REQUIRE(wt.Put(meta, "format_version", "99").ok());
    REQUIRE(std::move(wt).Commit().ok());
  }
  auto db = Database::Open(dir.path());
  CHECK(db.status().code() == StatusCode::kFailedPrecondition);
  CHECK(db.status().message().find("format version 99") != std::string::npos);
}

TEST_CASE("upsert, get, count, replace and delete round-trip") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = Create(*db, "c", testing::SmallConfig(6));
  UpsertRange(*c, 0, 50);
  CHECK(CountOf(*c) == 50);
  std::vector<std::string> ids = {Id(3), "missing", Id(49)};
  auto got = c->Get(ids).value();
  REQUIRE(got[0].has_value());
  CHECK(got[0]->vector == VectorForId(Id(3), 6));
  CHECK(got[0]->metadata == "{\"i\":3,\"tag\":\"t0\"}");
  CHECK_FALSE(got[1].has_value());
  CHECK(got[2]->id == Id(49));
  // Replace: new vector and metadata; metadata may be cleared.
  WriteBatch b;
  auto v = VectorForId("other", 6);
  b.Upsert(Id(3), v, "");
  REQUIRE(c->Write(b).ok());
  CHECK(CountOf(*c) == 50);
  auto p3 = c->Get(std::vector<std::string>{Id(3)}).value()[0];
  CHECK(p3->vector == v);
  CHECK(p3->metadata.empty());
  SearchParams sp;
  sp.k = 1;
  CHECK(c->Search(v, sp).value()[0].id == Id(3));
  // Delete: gone from get, count and search at once; deleting a missing id is fine.
  std::vector<std::string> del = {Id(3), Id(4), "never-existed"};
  REQUIRE(c->Delete(del).ok());
  CHECK(CountOf(*c) == 48);
  CHECK_FALSE(c->Get(std::vector<std::string>{Id(3)}).value()[0].has_value());
  sp.k = 50;
  for (auto& h : c->Search(v, sp).value()) CHECK((h.id != Id(3) && h.id != Id(4)));
}

TEST_CASE("scores are squared l2, cosine distance and negative inner product") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  std::vector<float> a = {1, 0, 0}, b = {0, 2, 0}, q = {1, 1, 0};
  for (Metric m : {Metric::kL2, Metric::kCosine, Metric::kIP}) {
    std::shared_ptr<Collection> c = Create(*db, std::string(MetricName(m)), testing::SmallConfig(3, m));
    WriteBatch wb;
    wb.Upsert("a", a);
    wb.Upsert("b", b);
    REQUIRE(c->Write(wb).ok());
    SearchParams sp;
    sp.k = 2;
    auto hits = c->Search(q, sp).value();
    REQUIRE(hits.size() == 2);
    std::map<std::string, float> score;
    for (auto& h : hits) score[h.id] = h.score;
    CHECK(hits[0].score <= hits[1].score);
    if (m == Metric::kL2) {
      CHECK(score["a"] == doctest::Approx(1.0));
      CHECK(score["b"] == doctest::Approx(2.0));
    } else if (m == Metric::kCosine) {
      CHECK(score["a"] == doctest::Approx(1 - 1 / std::sqrt(2.0)));
      CHECK(score["b"] == doctest::Approx(1 - 1 / std::sqrt(2.0)));
    } else {
      CHECK(score["a"] == doctest::Approx(-1.0));
      CHECK(score["b"] == doctest::Approx(-2.0));
      CHECK(hits[0].id == "b");
    }
  }
}

TEST_CASE("bad input is refused with a message naming the problem and writes nothing") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = Create(*db, "c", testing::SmallConfig(4, Metric::kCosine));
  UpsertRange(*c, 0, 10);
  auto good = VectorForId("x", 4);
  struct Case {
    std::string name;
    std::function<void(WriteBatch&)> fill;
    std::string expect;
  };
  float nan = std::nanf(""), inf = INFINITY;
  std::vector<Case> cases = {
      {"wrong dimension", [&](WriteBatch& b) { b.Upsert("n1", std::vector<float>{1, 2, 3}); }, "dimension 3"},
      {"NaN", [&](WriteBatch& b) { b.Upsert("n1", std::vector<float>{1, nan, 0, 0}); }, "NaN"},
      {"Inf", [&](WriteBatch& b) { b.Upsert("n1", std::vector<float>{1, inf, 0, 0}); }, "Inf"},
      {"zero for cosine", [&](WriteBatch& b) { b.Upsert("n1", std::vector<float>{0, 0, 0, 0}); }, "all zeros"},
      {"empty id", [&](WriteBatch& b) { b.Upsert("", good); }, "id is empty"},
      {"oversize id", [&](WriteBatch& b) { b.Upsert(std::string(257, 'x'), good); }, "257 bytes"},
      {"bad utf8 id", [&](WriteBatch& b) { b.Upsert("\xff\xfe", good); }, "UTF-8"},
      {"duplicate id", [&](WriteBatch& b) { b.Upsert("d", good); b.Upsert("d", good); }, "more than once"},
      {"metadata not object", [&](WriteBatch& b) { b.Upsert("m", good, "[1,2]"); }, "JSON object"},
      {"metadata not json", [&](WriteBatch& b) { b.Upsert("m", good, "{\"a\":"); }, "not valid JSON"},
      // A number JSON allows but nlohmann cannot hold: was an exception escaping Write.
      {"metadata number overflow", [&](WriteBatch& b) { b.Upsert("m", good, "{\"a\":1e400}"); }, "number overflow"},
  };
  for (auto& tc : cases) {
    CAPTURE(tc.name);
    WriteBatch b;
    b.Upsert("valid-first", good);  // must not be written either
    b.Delete(Id(0));                // nor this delete
    tc.fill(b);
    Status s = c->Write(b);
    CHECK(s.IsInvalidArgument());
    CHECK_MESSAGE(s.message().find(tc.expect) != std::string::npos, s.message());
    CHECK(CountOf(*c) == 10);
    CHECK_FALSE(c->Get(std::vector<std::string>{"valid-first"}).value()[0].has_value());
  }
  SearchParams sp;
  sp.k = 0;
  CHECK(c->Search(good, sp).status().IsInvalidArgument());
  sp.k = 5;
  sp.ef = -1;
  CHECK(c->Search(good, sp).status().IsInvalidArgument());
  sp.ef = 0;
  CHECK(c->Search(std::vector<float>{1, 2}, sp).status().message().find("dimension 2") != std::string::npos);
  CHECK(c->Search(std::vector<float>{1, 2, nan, 4}, sp).status().IsInvalidArgument());
  CHECK(c->Scroll("", 0).status().IsInvalidArgument());
  CHECK(c->Get(std::vector<std::string>{""}).status().IsInvalidArgument());
}

TEST_CASE("search results carry metadata and vectors on request, and batch search agrees") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = Create(*db, "c", testing::SmallConfig(8));
  UpsertRange(*c, 0, 300);
  SearchParams sp;
  sp.k = 5;
  sp.include_metadata = true;
  sp.include_vector = true;
  auto q = VectorForId(Id(17), 8);
  auto hits = c->Search(q, sp).value();
  REQUIRE(hits.size() == 5);
  CHECK(hits[0].id == Id(17));
  CHECK(hits[0].score == doctest::Approx(0.0));
  CHECK(hits[0].vector == q);
  CHECK(hits[0].metadata == "{\"i\":17,\"tag\":\"t2\"}");
  std::vector<float> qs;
  for (int i = 0; i < 20; ++i) {
    auto v = VectorForId(Id(i * 7), 8);
    qs.insert(qs.end(), v.begin(), v.end());
  }
  sp.include_vector = sp.include_metadata = false;
  auto batch = c->SearchBatch(qs, sp, 2).value();
  REQUIRE(batch.size() == 20);
  for (int i = 0; i < 20; ++i) {
    auto single = c->Search(std::span<const float>(qs.data() + i * 8, 8), sp).value();
    REQUIRE(single.size() == batch[i].size());
    for (size_t j = 0; j < single.size(); ++j) CHECK(single[j].id == batch[i][j].id);
  }
  CHECK(c->SearchBatch(std::vector<float>(7), sp).status().IsInvalidArgument());
}

TEST_CASE("scroll visits every point once in id order across shards") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  auto cfg = testing::SmallConfig(4);
  cfg.shards = 4;
  std::shared_ptr<Collection> c = Create(*db, "c", cfg);
  UpsertRange(*c, 0, 237, false);
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = c->Scroll(cursor, 50, {false, false}).value();
    for (auto& p : page.points) seen.push_back(p.id);
    cursor = page.next_cursor;
    ++pages;
  } while (!cursor.empty());
  CHECK(pages == 5);
  CHECK(seen.size() == 237);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 237);
}

TEST_CASE("a shard outgrowing flat_max_points switches to hnsw with good recall") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  auto cfg = testing::SmallConfig(16);
  cfg.flat_max_points = 500;
  std::shared_ptr<Collection> c = Create(*db, "c", cfg);
  for (int i = 0; i < 2000; i += 250) UpsertRange(*c, i, i + 250, false);
  auto st = c->Stats().value();
  CHECK(st.index_kind == "hnsw");
  CHECK(st.count == 2000);
  CHECK(st.index_memory_bytes > 2000 * 16 * 4);
  CHECK(st.disk_bytes > 0);
  size_t agree = 0;
  SearchParams approx, exact;
  approx.k = exact.k = 10;
  approx.ef = 100;
  exact.exact = true;
  auto queries = testing::RandomVectors(30, 16, 77);
  for (int q = 0; q < 30; ++q) {
    std::span<const float> qv(queries.data() + q * 16, 16);
    auto a = c->Search(qv, approx).value();
    auto e = c->Search(qv, exact).value();
    std::set<std::string> truth;
    for (auto& h : e) truth.insert(h.id);
    for (auto& h : a) agree += truth.count(h.id);
  }
  CHECK(agree / 300.0 >= 0.95);
}

TEST_CASE("reopening loads the saved graph and catches up on later writes") {
  TempDir dir;
  auto cfg = testing::SmallConfig(8);
  cfg.flat_max_points = 100;
  {
    auto db = OpenDb(dir / "db");
    std::shared_ptr<Collection> c = Create(*db, "c", cfg);
    UpsertRange(*c, 0, 1500, false);
    REQUIRE(c->Checkpoint().ok());
    UpsertRange(*c, 1500, 1700, false);  // after the checkpoint
    std::vector<std::string> del = {Id(0), Id(1)};
    REQUIRE(c->Delete(del).ok());
    // Copy the files as a crash would leave them: the LMDB commits are on disk, the
    // graph file is the older checkpoint.
    std::filesystem::copy(dir / "db", dir / "crashed", std::filesystem::copy_options::recursive);
  }
  testing::Stages st;
  DatabaseOptions o = st.Options();
  const auto& stages = st.seen;
  auto db = OpenDb(dir / "crashed", o);
  std::shared_ptr<Collection> c = db->GetCollection("c").value();
  CHECK(stages.empty());  // loaded, not rebuilt
  CHECK(CountOf(*c) == 1698);
  SearchParams sp;
  sp.k = 1;
  sp.ef = 64;
  CHECK(c->Search(VectorForId(Id(1600), 8), sp).value()[0].id == Id(1600));
  CHECK(c->Search(VectorForId(Id(0), 8), sp).value()[0].id != Id(0));
  CHECK(c->Stats().value().index_kind == "hnsw");
}

TEST_CASE("a corrupted saved graph is detected and rebuilt from LMDB") {
  TempDir dir;
  auto cfg = testing::SmallConfig(8);
  cfg.flat_max_points = 100;
  {
    auto db = OpenDb(dir.path());
    UpsertRange(*Create(*db, "c", cfg), 0, 800, false);
  }
  std::string shard = dir / "collections/c/shard-0000";
  std::string graph;
  for (auto& n : ListDir(shard).value())
    if (n.rfind("index-", 0) == 0) graph = shard + "/" + n;
  REQUIRE(!graph.empty());
  {
    std::fstream f(graph, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  testing::Stages st;
  DatabaseOptions o = st.Options();
  const auto& stages = st.seen;
  auto db = OpenDb(dir.path(), o);
  std::shared_ptr<Collection> c = db->GetCollection("c").value();
  REQUIRE_FALSE(stages.empty());
  CHECK(stages[0].find("checksum") != std::string::npos);
  SearchParams sp;
  sp.k = 1;
  CHECK(c->Search(VectorForId(Id(5), 8), sp).value()[0].id == Id(5));
}

TEST_CASE("an interrupted index build is cancelled and the data stays intact") {
  TempDir dir;
  auto cfg = testing::SmallConfig(8);
  cfg.flat_max_points = 100;
  {
    auto db = OpenDb(dir.path());
    UpsertRange(*Create(*db, "c", cfg), 0, 600, false);
  }
  (void)RemoveAll(dir / "collections/c/shard-0000/index.meta");
  DatabaseOptions o;
  o.progress = [](std::string_view, uint64_t, uint64_t) { return false; };
  auto db = OpenDb(dir.path(), o);
  CHECK(db->GetCollection("c").status().code() == StatusCode::kCancelled);
  db.reset();
  auto db2 = OpenDb(dir.path());
  CHECK(CountOf(*db2->GetCollection("c").value()) == 600);
}

TEST_CASE("shard apply is idempotent by log index") {
  TempDir dir;
  auto shard = Shard::Open(dir.path(), testing::SmallConfig(4), {}).value();
  WriteBatch a, b;
  a.Upsert("x", VectorForId("x", 4));
  b.Upsert("y", VectorForId("y", 4));
  REQUIRE(shard->Apply(a, 5).ok());
  REQUIRE(shard->Apply(b, 5).ok());  // replay of index 5: skipped
  CHECK(shard->Count().value() == 1);
  REQUIRE(shard->Apply(b, 6).ok());
  CHECK(shard->Count().value() == 2);
  CHECK(shard->applied_index().value() == 6);
}

TEST_CASE("a multi-shard batch left in the journal by a crash is completed on reopen") {
  TempDir dir;
  auto cfg = testing::SmallConfig(4);
  cfg.shards = 3;
  {
    auto db = OpenDb(dir.path());
    UpsertRange(*Create(*db, "c", cfg), 0, 30, false);
  }
  // Simulate a crash after the journal commit: the batch is journaled, no shard has it.
  WriteBatch b;
  std::vector<std::string> meta;
  for (int i = 100; i < 120; ++i) {
    b.Upsert(Id(i), VectorForId(Id(i), 4));
    meta.emplace_back("{\"late\":true}");
  }
  b.Delete(Id(0));
  meta.emplace_back();
  {
    auto env = storage::LmdbEnv::Open(dir / "collections/c/journal", {}).value();
    auto wt = storage::WriteTxn::Begin(env).value();
    auto batches = wt.OpenDbi("batches").value();
    REQUIRE(wt.Put(batches, storage::EncodeU64(1000), EncodeJournalRecord(b, meta)).ok());
    REQUIRE(std::move(wt).Commit().ok());
  }
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = db->GetCollection("c").value();
  CHECK(CountOf(*c) == 49);
  auto p = c->Get(std::vector<std::string>{Id(110)}).value()[0];
  REQUIRE(p.has_value());
  CHECK(p->metadata == "{\"late\":true}");
  // A spanning batch written normally is applied everywhere and leaves no journal entry.
  UpsertRange(*c, 200, 260, false);
  CHECK(CountOf(*c) == 109);
}

// "graph:": the writes cross from flat to HNSW and insert graph nodes in parallel, so the
// ThreadSanitizer run takes this case without the deadlock detector (tests/meson.build).
TEST_CASE("graph: searches run concurrently with a writer") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  auto cfg = testing::SmallConfig(8);
  cfg.flat_max_points = 200;
  std::shared_ptr<Collection> c = Create(*db, "c", cfg);
  UpsertRange(*c, 0, 100, false);
  std::atomic<bool> done{false};
  testing::Counter searches;
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      SearchParams sp;
      sp.k = 5;
      sp.include_metadata = true;
      auto q = testing::RandomVectors(1, 8, 1000 + t);
      while (!done.load()) {
        auto r = c->Search(q, sp);
        CHECK(r.ok());
        CHECK(r->size() == 5);
        searches.fetch_add(1);
      }
    });
  }
  // Each write waits until the readers have searched since the one before, so searches
  // run throughout the writes whatever the scheduler does; a stalled search fails the test.
  auto searched_since = [&](uint64_t before) { return searches.WaitAbove(before); };
  bool searching = searched_since(0);
  const uint64_t before_writes = searches.load();
  int writes = 0;
  for (int i = 100; searching && i < 1000; i += 50, ++writes) {
    const uint64_t before = searches.load();
    UpsertRange(*c, i, i + 50);
    searching = searched_since(before);
  }
  std::vector<std::string> del;
  for (int i = 0; i < 500; i += 3) del.push_back(Id(i));
  const uint64_t before_delete = searches.load();
  Status s = c->Delete(del);
  searching = searching && searched_since(before_delete);
  done = true;
  for (auto& t : readers) t.join();
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  REQUIRE_MESSAGE(searching, "the searches stalled after write " << writes);
  MESSAGE((searches.load() - before_writes) << " searches during " << (writes + 1) << " writes");
  CHECK(CountOf(*c) == 1000 - del.size());
  CHECK(c->Stats().value().index_kind == "hnsw");
}

// A large batch enters the graph hidden while searches run (IndexCache::ApplyStaged,
// HnswIndex::StageHidden), but becomes visible all at once: a search near the batch
// sees either none of it or only it.
TEST_CASE("graph: searches running concurrently with a large batch see all of it or none") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  auto cfg = testing::SmallConfig(8);
  cfg.flat_max_points = 50;
  cfg.hnsw.m = 8;
  cfg.hnsw.ef_construction = 40;  // quick under ThreadSanitizer
  std::shared_ptr<Collection> c = Create(*db, "c", cfg);
  UpsertRange(*c, 0, 100, false);
  std::vector<float> far(8, 20.0f);
  std::atomic<bool> done{false};
  std::atomic<int> mixed{0}, errors{0}, during{0};
  testing::Counter saw_none, saw_all;
  std::atomic<bool> writing{false};
  std::thread reader([&] {
    SearchParams sp;
    sp.k = 10;
    sp.ef = 64;
    while (!done.load()) {
      const bool started_during = writing.load();
      auto r = c->Search(far, sp);
      if (started_during && writing.load()) during.fetch_add(1);
      if (!r.ok() || r->size() != 10) {
        errors.fetch_add(1);
        continue;
      }
      int batch = 0;
      for (const auto& h : *r) batch += h.id.rfind("far", 0) == 0;
      if (batch == 0) saw_none.fetch_add(1);
      else if (batch == 10) saw_all.fetch_add(1);
      else mixed.fetch_add(1);
    }
  });
  WriteBatch b;
  // Kept under ~1000 points: ThreadSanitizer's deadlock detector tracks at most 4096
  // mutexes, and hnswlib holds two per node being inserted (docs/durability.md).
  auto noise = testing::RandomVectors(600, 8, 77);
  for (int i = 0; i < 600; ++i) {
    std::vector<float> v(far);
    for (int d = 0; d < 8; ++d) v[d] += noise[i * 8 + d];
    b.Upsert("far" + std::to_string(i), v, "{\"far\":true}");
  }
  // Replacements of live points ride along with the new ones.
  for (int i = 0; i < 20; ++i) b.Upsert(Id(i), VectorForId(Id(i + 1000), 8));
  // The reader searches before the batch starts and after it ends (the waits below), so
  // it runs across the whole batch. Whether a search also lands between two of its chunks
  // is up to the scheduler: counted, not required.
  const bool searched_before = saw_none.WaitAbove(0);
  writing = true;
  Status s = c->Write(b);
  writing = false;
  const uint64_t saw_all_before = saw_all.load();
  const bool searched_after = s.ok() && saw_all.WaitAbove(saw_all_before);
  done = true;
  reader.join();
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  REQUIRE_MESSAGE(searched_before, "the reader did not search before the batch");
  REQUIRE_MESSAGE(searched_after, "the reader did not see the batch after it was written");
  CHECK(mixed.load() == 0);
  CHECK(errors.load() == 0);
  CHECK(saw_none.load() > 0);
  CHECK(saw_all.load() > 0);
  MESSAGE(saw_none.load() << " searches saw none of the batch, " << saw_all.load() << " all of it; "
                          << during.load() << " ran while it was being written");
  CHECK(CountOf(*c) == 700);
  // The 20 replacements took new slots; their old ones wait for a compaction.
  CHECK(c->Stats().value().deleted_slots == 20);
  SearchParams sp;
  sp.k = 1;
  sp.ef = 64;
  CHECK(c->Search(VectorForId(Id(1005), 8), sp).value()[0].id == Id(5));
  CHECK(c->Search(far, sp).value()[0].id.rfind("far", 0) == 0);
}

TEST_CASE("a collection with sq8 quantization keeps it through rebuilds, reopening and compaction") {
  TempDir dir;
  auto cfg = testing::SmallConfig(16);
  cfg.flat_max_points = 100;
  auto plain_cfg = cfg;
  cfg.quantization = Quantization::kSq8;
  // 16 dims of L2 codes take 32 bytes a point (16 codes, the norm, padding).
  const size_t code_bytes = 32, n = 1200;
  size_t plain_memory = 0;
  {
    auto db = OpenDb(dir / "plain");
    std::shared_ptr<Collection> c = Create(*db, "c", plain_cfg);
    UpsertRange(*c, 0, static_cast<int>(n), false);
    plain_memory = c->Stats().value().index_memory_bytes;
  }
  auto check = [&](Collection& c, const char* when) {
    INFO(when);
    CHECK(c.config().quantization == Quantization::kSq8);
    auto st = c.Stats().value();
    CHECK(st.index_kind == "hnsw");
    // The codes are there beside the graph (the same graph, sized alike).
    CHECK(st.index_memory_bytes >= plain_memory + n * code_bytes);
    SearchParams sp, exact;
    sp.k = exact.k = 10;
    sp.ef = 64;
    exact.exact = true;
    auto queries = testing::RandomVectors(20, 16, 78);
    size_t agree = 0;
    for (int q = 0; q < 20; ++q) {
      std::span<const float> qv(queries.data() + q * 16, 16);
      auto a = c.Search(qv, sp).value();
      auto e = c.Search(qv, exact).value();
      REQUIRE(a.size() == 10);
      std::set<std::string> truth;
      for (auto& h : e) truth.insert(h.id);
      for (auto& h : a) agree += truth.count(h.id);
      // Scores are exact: the best hit found scores what the exact search says it does.
      auto it = std::find_if(e.begin(), e.end(), [&](const auto& h) { return h.id == a[0].id; });
      if (it != e.end()) CHECK(a[0].score == doctest::Approx(it->score).epsilon(1e-4));
    }
    CHECK(agree / 200.0 >= 0.95);
  };
  {
    auto db = OpenDb(dir / "sq8");
    std::shared_ptr<Collection> c = Create(*db, "c", cfg);
    UpsertRange(*c, 0, static_cast<int>(n), false);
    check(*c, "built");
    REQUIRE(c->Checkpoint().ok());
  }
  testing::Stages st;
  DatabaseOptions o = st.Options();
  const auto& stages = st.seen;
  auto db = OpenDb(dir / "sq8", o);
  std::shared_ptr<Collection> c = db->GetCollection("c").value();
  CHECK(stages.empty());  // the graph was loaded and its codes rebuilt, not the graph
  check(*c, "reopened");
  REQUIRE(c->Compact().ok());
  check(*c, "compacted");
}

TEST_CASE("exact batch search in one pass answers as each exact search does, across shards, filters and offsets") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  for (Metric metric : {Metric::kL2, Metric::kCosine, Metric::kIP}) {
    for (uint32_t shards : {1u, 3u}) {
      CAPTURE(MetricName(metric));
      CAPTURE(shards);
      CollectionConfig cfg = testing::SmallConfig(12, metric);
      cfg.shards = shards;
      cfg.flat_max_points = 100;  // HNSW shards: the one-pass path is the exact one
      const std::string name = std::string("b") + std::string(MetricName(metric)) + std::to_string(shards);
      std::shared_ptr<Collection> c = Create(*db, name, cfg);
      UpsertRange(*c, 0, 900);
      std::vector<std::string> gone;
      for (int i = 0; i < 900; i += 13) gone.push_back(Id(i));
      REQUIRE(c->Delete(gone).ok());
      std::vector<float> qs;
      const int nq = 11;  // not a multiple of the kernels' four
      for (int i = 0; i < nq; ++i) {
        auto v = VectorForId(Id(1000 + i), 12);
        qs.insert(qs.end(), v.begin(), v.end());
      }
      for (const char* where : {"", R"({"tag": "t1"})"}) {
        for (int offset : {0, 3}) {
          CAPTURE(where);
          CAPTURE(offset);
          SearchParams sp;
          sp.k = 7;
          sp.offset = offset;
          sp.exact = true;
          sp.where = where;
          sp.include_metadata = true;
          auto batch = c->SearchBatch(qs, sp, 2);
          REQUIRE_MESSAGE(batch.ok(), batch.status().ToString());
          REQUIRE(batch->size() == nq);
          for (int i = 0; i < nq; ++i) {
            auto single = c->Search(std::span<const float>(qs.data() + i * 12, 12), sp).value();
            REQUIRE(single.size() == (*batch)[i].size());
            for (size_t j = 0; j < single.size(); ++j) {
              CHECK(single[j].id == (*batch)[i][j].id);
              CHECK(single[j].score == doctest::Approx((*batch)[i][j].score).epsilon(1e-4));
              CHECK(single[j].metadata == (*batch)[i][j].metadata);
              CHECK(std::find(gone.begin(), gone.end(), single[j].id) == gone.end());
            }
          }
        }
      }
      // A bad query is named by its place in the whole batch; nothing is answered.
      std::vector<float> bad = qs;
      bad[9 * 12 + 4] = std::nanf("");
      SearchParams sp;
      sp.k = 3;
      sp.exact = true;
      auto r = c->SearchBatch(bad, sp, 2);
      REQUIRE(r.status().IsInvalidArgument());
      CHECK(r.status().message().find("query 9") != std::string::npos);
    }
  }
}

TEST_CASE("batch search of a flat collection takes the one-pass path and agrees with single searches") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  CollectionConfig cfg = testing::SmallConfig(16);
  cfg.shards = 2;
  std::shared_ptr<Collection> c = Create(*db, "flat", cfg);  // below flat_max_points: flat shards
  UpsertRange(*c, 0, 400);
  REQUIRE(c->Stats().value().index_kind == "flat");
  std::vector<float> qs;
  for (int i = 0; i < 9; ++i) {
    auto v = VectorForId(Id(i * 31), 16);
    qs.insert(qs.end(), v.begin(), v.end());
  }
  SearchParams sp;
  sp.k = 4;
  auto batch = c->SearchBatch(qs, sp, 1).value();
  for (int i = 0; i < 9; ++i) {
    auto single = c->Search(std::span<const float>(qs.data() + i * 16, 16), sp).value();
    REQUIRE(single.size() == batch[i].size());
    CHECK(batch[i][0].id == Id(i * 31));
    for (size_t j = 0; j < single.size(); ++j) CHECK(single[j].id == batch[i][j].id);
  }
}
