// Durability: saved graphs after reopen, damaged checkpoints and LMDB files, backups
// and compaction.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "index/hnsw_index.h"
#include "util/idle_priority.h"
#include "db_test_util.h"

using namespace vectron;
using testing::TempDir;
using testing::VectorForId;

namespace {

using testing::OpenDb;
using testing::Id;

void UpsertNumbered(Collection& c, int from, int to) {
  WriteBatch b;
  for (int i = from; i < to; ++i) b.Upsert(Id(i), VectorForId(Id(i), c.config().dim), "{\"i\":" + std::to_string(i) + "}");
  Status s = c.Write(b);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
}

void DeleteRange(Collection& c, int from, int to, int step = 1) {
  std::vector<std::string> ids;
  for (int i = from; i < to; i += step) ids.push_back(Id(i));
  REQUIRE(c.Delete(ids).ok());
}

CollectionConfig HnswConfig(uint32_t shards = 1) {
  auto cfg = testing::SmallConfig(8);
  cfg.flat_max_points = 100;
  cfg.shards = shards;
  return cfg;
}

using testing::Stages;

std::string GraphFile(const std::string& shard_dir) {
  for (auto& n : ListDir(shard_dir).value())
    if (n.rfind("index-", 0) == 0 && n.size() > 5 && n.substr(n.size() - 5) == ".hnsw") return shard_dir + "/" + n;
  return "";
}

}  // namespace

TEST_CASE("a saved hnsw graph with deleted slots loads back with the right deleted count") {
  TempDir dir;
  const uint32_t dim = 8;
  auto data = testing::RandomVectors(300, dim, 11);
  std::vector<uint64_t> labels(300);
  for (uint64_t i = 0; i < 300; ++i) labels[i] = i;
  auto idx = NewHnswIndexImpl(dim, Metric::kL2, {}, 300);
  REQUIRE(idx->Upsert(labels, data, 1).ok());
  std::vector<uint64_t> gone = {1, 5, 7, 100, 299};
  REQUIRE(idx->Remove(gone).ok());
  REQUIRE(idx->Save(dir / "g.hnsw").ok());
  // Dirty the heap so an uninitialised counter would show garbage.
  for (int i = 0; i < 8; ++i) {
    auto* junk = new char[4096];
    std::memset(junk, 0x5a, 4096);
    delete[] junk;
  }
  auto loaded = LoadHnswIndex(dir / "g.hnsw", dim, Metric::kL2, {});
  REQUIRE(loaded.ok());
  CHECK((*loaded)->deleted_slots() == gone.size());
  CHECK((*loaded)->size() == 300 - gone.size());
  CHECK((*loaded)->slots() == 300);
}

TEST_CASE("deleted slots are counted right after reopening from a checkpoint") {
  TempDir dir;
  {
    auto db = OpenDb(dir.path());
    std::shared_ptr<Collection> c = db->CreateCollection("c", HnswConfig()).value();
    UpsertNumbered(*c, 0, 600);
    DeleteRange(*c, 0, 600, 4);  // 150 deleted
    CHECK(c->Stats().value().deleted_slots == 150);
  }
  Stages st;
  auto db = OpenDb(dir.path(), st.Options());
  std::shared_ptr<Collection> c = db->GetCollection("c").value();
  CHECK(st.seen.empty());  // loaded, not rebuilt
  auto stats = c->Stats().value();
  CHECK(stats.count == 450);
  CHECK(stats.deleted_slots == 150);
  // 100 new points take freed labels, in new slots, so the freed ones stay deleted
  // until a compaction (docs/durability.md, "Threads"), whether the batch is staged
  // (IndexCache::kStageMin or more) or small.
  UpsertNumbered(*c, 1000, 1100);
  CHECK(c->Stats().value().deleted_slots == 150);
  UpsertNumbered(*c, 1100, 1103);
  CHECK(c->Stats().value().deleted_slots == 150);
  CHECK(c->Stats().value().count == 553);
}

TEST_CASE("checkpoints taken while another thread writes reopen after a crash without a rebuild, with every point") {
  // Collection::Checkpoint writes the graph under the writers' lock and makes it durable
  // and names it without that lock, so writes land between the two parts. A child process
  // does both at once, then dies without closing (no save on close).
  TempDir dir;
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto db = Database::Open(dir.path(), DatabaseOptions{});
    if (!db.ok()) ::_exit(2);
    auto made = (*db)->CreateCollection("c", HnswConfig());
    if (!made.ok()) ::_exit(3);
    Collection& c = **made;
    auto write = [&](int from, int to) {
      WriteBatch b;
      for (int i = from; i < to; ++i) b.Upsert(Id(i), VectorForId(Id(i), c.config().dim));
      return c.Write(b).ok();
    };
    if (!write(0, 200)) ::_exit(4);  // A graph (flat_max_points 100).
    std::atomic<bool> done{false}, failed{false};
    std::thread writer([&] {
      for (int i = 200; i < 2200 && !failed; i += 20) failed = failed || !write(i, i + 20);
      done = true;
    });
    int saves = 0;
    while (!done) saves += c.Checkpoint().ok() ? 1 : 1000000;
    writer.join();
    if (failed || saves >= 1000000 || !c.Checkpoint().ok()) ::_exit(5);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  Stages st;
  auto db = OpenDb(dir.path(), st.Options());
  std::shared_ptr<Collection> c = db->GetCollection("c").value();
  CHECK(st.seen.empty());  // The last checkpoint loaded, not rebuilt.
  CHECK(c->Stats().value().count == 2200);
  for (int i : {0, 199, 200, 1234, 2199}) {
    SearchParams sp;
    sp.k = 1;
    auto hits = c->Search(VectorForId(Id(i), c->config().dim), sp);
    REQUIRE(hits.ok());
    REQUIRE(hits->size() == 1);
    CHECK((*hits)[0].id == Id(i));
  }
}

TEST_CASE("a truncated or unreadable checkpoint is detected and rebuilt from LMDB") {
  for (int damage = 0; damage < 3; ++damage) {
    CAPTURE(damage);
    TempDir dir;
    {
      auto db = OpenDb(dir.path());
      UpsertNumbered(*db->CreateCollection("c", HnswConfig()).value(), 0, 500);
    }
    std::string shard = dir / "collections/c/shard-0000";
    std::string graph = GraphFile(shard);
    REQUIRE(!graph.empty());
    if (damage == 0) std::filesystem::resize_file(graph, std::filesystem::file_size(graph) / 2);
    if (damage == 1) std::filesystem::remove(graph);
    if (damage == 2) {
      std::ofstream(shard + "/index.meta", std::ios::trunc) << "{\"format\":1,\"seq\":";
    }
    Stages st;
    auto db = OpenDb(dir.path(), st.Options());
    std::shared_ptr<Collection> c = db->GetCollection("c").value();
    REQUIRE_FALSE(st.seen.empty());
    CHECK(st.seen[0].find("building HNSW") != std::string::npos);
    SearchParams sp;
    sp.k = 1;
    CHECK(c->Search(VectorForId(Id(42), 8), sp).value()[0].id == Id(42));
    CHECK(c->Count().value() == 500);
  }
}

TEST_CASE("a damaged LMDB file gives a Corruption error, not a crash") {
  for (int damage = 0; damage < 3; ++damage) {
    CAPTURE(damage);
    TempDir dir;
    {
      auto db = OpenDb(dir.path());
      UpsertNumbered(*db->CreateCollection("c", HnswConfig()).value(), 0, 300);
    }
    std::string data = dir / "collections/c/shard-0000/data.mdb";
    const auto size = std::filesystem::file_size(data);
    if (damage == 0) {
      // Both meta pages overwritten.
      std::fstream f(data, std::ios::in | std::ios::out | std::ios::binary);
      std::string junk(8192, '\xab');
      f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    } else if (damage == 1) {
      std::filesystem::resize_file(data, size / 3);  // truncated
    } else {
      // Every page after the two meta pages zeroed (as a lost write-back leaves them).
      // Arbitrary garbage inside pages is not always detectable: LMDB has no page
      // checksums (docs/durability.md).
      std::fstream f(data, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(8192);
      std::string junk(size - 8192, '\0');
      f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    auto db = OpenDb(dir.path());
    auto c = db->GetCollection("c");
    REQUIRE_FALSE(c.ok());
    CHECK_MESSAGE(c.status().code() == StatusCode::kCorruption, c.status().ToString());
    CHECK(c.status().message().find("shard-0000") != std::string::npos);
  }
}

TEST_CASE("a backup taken while a writer continues opens as a working database holding a consistent prefix") {
  TempDir dir;
  auto db = OpenDb(dir / "db");
  std::shared_ptr<Collection> single = db->CreateCollection("single", HnswConfig(1)).value();
  std::shared_ptr<Collection> multi = db->CreateCollection("multi", HnswConfig(2)).value();
  UpsertNumbered(*single, 0, 300);
  UpsertNumbered(*multi, 0, 300);
  std::atomic<int> acked{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int k = 0; !stop.load() || k < acked.load() + 1; ++k) {
      WriteBatch b;
      for (int i = 0; i < 10; ++i) {
        std::string id = "w" + std::to_string(k) + "-" + std::to_string(i);
        b.Upsert(id, VectorForId(id, 8), "{\"k\":" + std::to_string(k) + "}");
      }
      b.Delete(Id(k));  // and a delete per batch
      REQUIRE(multi->Write(b).ok());
      acked.store(k + 1);
      if (stop.load()) break;
    }
  });
  while (acked.load() < 3) std::this_thread::yield();
  const int acked_before = acked.load();
  Status s = db->Backup(dir / "backup");
  const int acked_after = acked.load();
  stop = true;
  writer.join();
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CHECK(db->Backup(dir / "backup").code() == StatusCode::kAlreadyExists);

  auto copy = OpenDb(dir / "backup");
  CHECK(copy->ListCollections().value() == std::vector<std::string>{"multi", "single"});
  std::shared_ptr<Collection> csingle = copy->GetCollection("single").value();
  CHECK(csingle->Count().value() == 300);
  std::shared_ptr<Collection> cmulti = copy->GetCollection("multi").value();
  // Batches 0..K-1 are in the copy, all of each, and nothing later.
  int k_present = 0;
  for (int k = 0; k <= acked_after; ++k) {
    std::vector<std::string> ids;
    for (int i = 0; i < 10; ++i) ids.push_back("w" + std::to_string(k) + "-" + std::to_string(i));
    auto got = cmulti->Get(ids).value();
    int present = 0;
    for (auto& p : got) present += p.has_value();
    CHECK_MESSAGE((present == 0 || present == 10), "batch ", k, " half in the backup");
    if (present == 10) {
      CHECK(k == k_present);  // a prefix
      ++k_present;
    }
  }
  CHECK(k_present >= acked_before);
  CHECK(k_present <= acked_after);
  CHECK(cmulti->Count().value() == static_cast<uint64_t>(300 - k_present + 10 * k_present));
  SearchParams sp;
  sp.k = 1;
  CHECK(cmulti->Search(VectorForId("w1-3", 8), sp).value()[0].id == "w1-3");
  CHECK(csingle->Search(VectorForId(Id(250), 8), sp).value()[0].id == Id(250));
  // The copy is a working database: it takes writes.
  UpsertNumbered(*cmulti, 5000, 5010);
  CHECK(cmulti->Count().value() == static_cast<uint64_t>(300 + 9 * k_present + 10));
}

TEST_CASE("a backup of a quiet database equals it and loads its saved graphs") {
  TempDir dir;
  {
    auto db = OpenDb(dir / "db");
    std::shared_ptr<Collection> c = db->CreateCollection("c", HnswConfig(2)).value();
    UpsertNumbered(*c, 0, 700);
    DeleteRange(*c, 0, 100);
    REQUIRE(db->Backup(dir / "sub/backup").ok());
  }
  Stages st;
  auto copy = OpenDb(dir / "sub/backup", st.Options());
  std::shared_ptr<Collection> c = copy->GetCollection("c").value();
  CHECK(st.seen.size() <= 1);  // at most the final 100% report of nothing: no rebuild
  for (auto& stage : st.seen) CHECK(stage.find("building") == std::string::npos);
  CHECK(c->Count().value() == 600);
  auto got = c->Get(std::vector<std::string>{Id(50), Id(150)}).value();
  CHECK_FALSE(got[0].has_value());
  REQUIRE(got[1].has_value());
  CHECK(got[1]->vector == VectorForId(Id(150), 8));
  CHECK(got[1]->metadata == "{\"i\":150}");
  CHECK(c->Stats().value().index_kind == "hnsw");
  // Nothing but the finished backup is left beside it.
  CHECK(ListDir(dir / "sub").value() == std::vector<std::string>{"backup"});
}

namespace {

// n points written, all deleted, 300 rewritten: 300 live, n deleted slots.
std::shared_ptr<Collection> MostlyDeleted(Database& db, int n = 3000) {
  std::shared_ptr<Collection> c = db.CreateCollection("c", HnswConfig()).value();
  for (int i = 0; i < n; i += 500) UpsertNumbered(*c, i, std::min(n, i + 500));
  DeleteRange(*c, 0, n, 1);
  UpsertNumbered(*c, 0, 300);
  return c;
}

DatabaseOptions NoAutoCompact() {
  DatabaseOptions o;
  o.auto_compact_deleted_share = 0;  // explicit compaction only
  return o;
}

}  // namespace

// In the ThreadSanitizer suite without its deadlock detector (tests/meson.build).
TEST_CASE("graph: index compaction swaps in a rebuilt graph while searches and writes run concurrently") {
  TempDir dir;
  auto db = OpenDb(dir.path(), NoAutoCompact());
  std::shared_ptr<Collection> c = MostlyDeleted(*db, 1200);
  auto before = c->Stats().value();
  // The 300 rewritten points reuse deleted labels, but a staged batch gives them new
  // slots (docs/durability.md, "Threads"): all 1200 old slots are deleted.
  CHECK(before.deleted_slots == 1200);
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, during{0};
  testing::Counter searches;
  std::atomic<bool> compacting{false};
  std::thread reader([&] {
    SearchParams sp;
    sp.k = 1;
    sp.ef = 100;
    for (int i = 0; !done.load(); i = (i + 7) % 300) {
      const bool started_during = compacting.load();
      auto r = c->Search(VectorForId(Id(i), 8), sp);
      if (!r.ok() || r->empty() || (*r)[0].id != Id(i)) bad.fetch_add(1);
      if (started_during && compacting.load()) during.fetch_add(1);
      searches.fetch_add(1);
    }
  });
  // The reader searches before the compaction starts and after it ends (the waits), so
  // it runs across the whole swap. Whether a search also lands inside the rebuild is up
  // to the scheduler: counted, not required.
  const bool searched_before = searches.WaitAbove(9);
  std::thread writer([&] {
    for (int i = 5000; i < 5200; i += 20) UpsertNumbered(*c, i, i + 20);  // writes during the rebuild
  });
  CompactOptions index_only;
  index_only.files = false;
  compacting = true;
  Status s = c->Compact(index_only);
  compacting = false;
  writer.join();
  const uint64_t after_compaction = searches.load();
  const bool searched_after = searches.WaitAbove(after_compaction + 9);
  done = true;
  reader.join();
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  REQUIRE_MESSAGE(searched_before, "the reader did not search before the compaction");
  REQUIRE_MESSAGE(searched_after, "the reader did not search after the compaction");
  MESSAGE(searches.load() << " searches, " << during.load() << " while the compaction ran");
  CHECK(bad.load() == 0);
  auto after = c->Stats().value();
  CHECK(after.count == 500);
  CHECK(after.deleted_slots == 0);
  CHECK(after.index_memory_bytes < before.index_memory_bytes * 3 / 4);  // 900 of 1200 slots were free
  SearchParams sp;
  sp.k = 1;
  for (int i : {0, 150, 299, 5000, 5199}) CHECK(c->Search(VectorForId(Id(i), 8), sp).value()[0].id == Id(i));
  CHECK(c->Search(VectorForId(Id(1000), 8), sp).value()[0].id != Id(1000));
}

TEST_CASE("compaction gives back memory and disk, and the compacted graph loads on reopen") {
  TempDir dir;
  auto db = OpenDb(dir.path(), NoAutoCompact());
  std::shared_ptr<Collection> c = MostlyDeleted(*db);
  auto before = c->Stats().value();
  REQUIRE(c->Compact().ok());
  auto after = c->Stats().value();
  CHECK(after.count == 300);
  CHECK(after.deleted_slots == 0);
  CHECK(after.index_memory_bytes < before.index_memory_bytes * 3 / 4);  // 900 of 1200 slots were free
  CHECK(after.disk_bytes < before.disk_bytes / 2);
  SearchParams sp;
  sp.k = 1;
  CHECK(c->Search(VectorForId(Id(150), 8), sp).value()[0].id == Id(150));
  // The environment was reopened in place: reads and writes go on.
  UpsertNumbered(*c, 6000, 6010);
  CHECK(c->Count().value() == 310);
  CHECK(c->Get(std::vector<std::string>{Id(6005)}).value()[0]->metadata == "{\"i\":6005}");
  db.reset();
  Stages st;
  db = OpenDb(dir.path(), st.Options());
  c = db->GetCollection("c").value();
  CHECK(st.seen.empty());  // the compacted graph was saved and loads
  CHECK(c->Count().value() == 310);
  CHECK(c->Stats().value().deleted_slots == 0);
}

TEST_CASE("a compaction cancelled through progress leaves the collection as it was") {
  TempDir dir;
  bool cancel = false;
  DatabaseOptions o;
  o.auto_compact_deleted_share = 0;
  o.progress = [&](std::string_view stage, uint64_t done, uint64_t) {
    return !(cancel && stage.find("compacting") != std::string::npos && done > 0);
  };
  auto db = OpenDb(dir.path(), o);
  std::shared_ptr<Collection> c = db->CreateCollection("c", HnswConfig(2)).value();
  UpsertNumbered(*c, 0, 10000);
  DeleteRange(*c, 0, 10000, 2);
  auto before = c->Stats().value();
  cancel = true;
  CHECK(c->Compact().code() == StatusCode::kCancelled);
  auto after = c->Stats().value();
  CHECK(after.count == 5000);
  CHECK(after.deleted_slots == before.deleted_slots);
  SearchParams sp;
  sp.k = 1;
  CHECK(c->Search(VectorForId(Id(7), 8), sp).value()[0].id == Id(7));
  cancel = false;
  CHECK(c->Compact().ok());
  CHECK(c->Stats().value().deleted_slots == 0);
}

TEST_CASE("a shard's graph compaction at idle priority rebuilds on an idle-priority thread") {
  TempDir dir;
  auto shard = Shard::Open(dir.path(), HnswConfig(), {}).value();
  WriteBatch add, del;
  for (int i = 0; i < 3000; ++i) add.Upsert(Id(i), VectorForId(Id(i), 8));
  for (int i = 0; i < 3000; i += 2) del.Delete(Id(i));
  REQUIRE(shard->Apply(add, 1).ok());
  REQUIRE(shard->Apply(del, 2).ok());
  REQUIRE(shard->IndexCompactionDue(0.4));
  // What the rebuild's progress calls saw: (calls, calls on an idle-priority thread).
  auto compact = [&](CompactPriority priority) {
    std::pair<int, int> seen{0, 0};
    ProgressFn progress = [&](std::string_view, uint64_t, uint64_t) {
      ++seen.first;
      seen.second += AtIdlePriority();
      return true;
    };
    REQUIRE(shard->CompactIndex(progress, priority).ok());
    return seen;
  };
  CHECK_FALSE(AtIdlePriority());
  auto idle = compact(CompactPriority::kIdle);
  CHECK(idle.first > 0);
#ifdef __linux__
  CHECK(idle.second == idle.first);
#endif
  CHECK_FALSE(AtIdlePriority());  // the caller's own priority is untouched
  CHECK(shard->Stats().value().deleted_slots == 0);
  CHECK_FALSE(shard->IndexCompactionDue(0.4));
  CHECK(shard->Count().value() == 1500);
  SearchParams sp;
  sp.k = 1;
  CHECK(shard->Search(VectorForId(Id(2999), 8), sp).value()[0].id == Id(2999));
  auto normal = compact(CompactPriority::kNormal);
  CHECK(normal.first > 0);
  CHECK(normal.second == 0);
}

TEST_CASE("passing the deleted share starts a background index compaction") {
  TempDir dir;
  DatabaseOptions o;
  o.auto_compact_deleted_share = 0.5;
  auto db = OpenDb(dir.path(), o);
  std::shared_ptr<Collection> c = db->CreateCollection("c", HnswConfig()).value();
  UpsertNumbered(*c, 0, 2000);
  DeleteRange(*c, 0, 1400);  // 70% deleted
  CHECK(c->Stats().value().deleted_slots == 1400);
  UpsertNumbered(*c, 3000, 3001);  // the next write notices and starts it
  // Wait for the condition, with a deadline (no fixed sleep).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (c->Stats().value().deleted_slots != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  CHECK(c->Stats().value().deleted_slots == 0);
  CHECK(c->Count().value() == 601);
  SearchParams sp;
  sp.k = 1;
  CHECK(c->Search(VectorForId(Id(1999), 8), sp).value()[0].id == Id(1999));
  DatabaseOptions bad;
  bad.auto_compact_deleted_share = 1.5;
  CHECK(Database::Open(dir / "other", bad).status().code() == StatusCode::kInvalidArgument);
}
