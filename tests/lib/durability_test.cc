// Durability: saved graphs after reopen, damaged checkpoints and LMDB files, backups
// and compaction.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "index/hnsw_index.h"
#include "test_util.h"

using namespace vectron;
using testing::TempDir;
using testing::VectorForId;

namespace {

std::unique_ptr<Database> OpenDb(const std::string& dir, DatabaseOptions o = {}) {
  auto db = Database::Open(dir, o);
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(db).value();
}

std::string Id(int i) { return "p" + std::to_string(i); }

void UpsertRange(Collection& c, int from, int to) {
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

// Records the stages reported through DatabaseOptions::progress.
struct Stages {
  std::vector<std::string> seen;
  DatabaseOptions Options() {
    DatabaseOptions o;
    o.progress = [this](std::string_view stage, uint64_t, uint64_t) {
      seen.emplace_back(stage);
      return true;
    };
    return o;
  }
};

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
    Collection* c = db->CreateCollection("c", HnswConfig()).value();
    UpsertRange(*c, 0, 600);
    DeleteRange(*c, 0, 600, 4);  // 150 deleted
    CHECK(c->Stats().value().deleted_slots == 150);
  }
  Stages st;
  auto db = OpenDb(dir.path(), st.Options());
  Collection* c = db->GetCollection("c").value();
  CHECK(st.seen.empty());  // loaded, not rebuilt
  auto stats = c->Stats().value();
  CHECK(stats.count == 450);
  CHECK(stats.deleted_slots == 150);
  UpsertRange(*c, 1000, 1100);  // reuses 100 freed slots
  CHECK(c->Stats().value().deleted_slots == 50);
}

TEST_CASE("a truncated or unreadable checkpoint is detected and rebuilt from LMDB") {
  for (int damage = 0; damage < 3; ++damage) {
    CAPTURE(damage);
    TempDir dir;
    {
      auto db = OpenDb(dir.path());
      UpsertRange(*db->CreateCollection("c", HnswConfig()).value(), 0, 500);
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
    Collection* c = db->GetCollection("c").value();
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
      UpsertRange(*db->CreateCollection("c", HnswConfig()).value(), 0, 300);
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
