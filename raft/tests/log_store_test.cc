// LmdbLogStore: many groups in one LMDB environment, written together by LogWriteBatch.
#include <doctest/doctest.h>
#include <lmdb.h>

#include <cstdint>
#include <map>
#include <memory>

#include "raft/lmdb_storage.h"
#include "raft/memory_storage.h"
#include "raft/tests/harness.h"
#include "raft/tests/storage_contract.h"

namespace vectron::raft {
namespace {

using testing::Contents;
using testing::Ents;
using testing::ReadAll;
using testing::TempDir;

std::unique_ptr<LmdbLogStore> OpenStore(const std::string& dir) {
  std::unique_ptr<LmdbLogStore> store;
  Status s = LmdbLogStore::Open(dir, {}, &store);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return store;
}

std::unique_ptr<LmdbStorage> OpenGroup(LmdbLogStore& store, uint64_t id) {
  std::unique_ptr<LmdbStorage> g;
  Status s = store.OpenGroup(id, &g);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return g;
}

// Writes some history into `g` and the same into `model`: entries, an overwritten suffix,
// compaction and hard state, with `tag` in the data so groups differ.
void Fill(LogStorage& g, LogStorage& model, uint64_t tag) {
  for (LogStorage* s : {&g, &model}) {
    std::vector<Entry> ents = Ents(1, 6 + tag, 1);
    for (Entry& e : ents) e.data += Cat("/g", tag);
    REQUIRE(s->Append(ents).ok());
    REQUIRE(s->Append(Ents(5, 8, 2)).ok());
    REQUIRE(s->CreateSnapshot(3, ConfState{{1, 2, 3}, {}}, Cat("state/g", tag), 3).ok());
    REQUIRE(s->SetHardState(HardState{2, tag, 6}).ok());
  }
}

// Group ids at the ends of the key space and next to each other.
const uint64_t kIds[] = {0, 1, 2, 1000, UINT64_MAX - 1, UINT64_MAX};

TEST_CASE("LmdbLogStore: every group keeps the storage contract next to busy neighbours") {
  TempDir dir;
  auto store = OpenStore(dir.path);
  std::map<uint64_t, std::unique_ptr<LmdbStorage>> groups;
  for (uint64_t id : kIds) {
    groups[id] = OpenGroup(*store, id);
    CHECK(groups[id]->group_id() == id);
  }
  for (uint64_t tested : kIds) {
    CAPTURE(tested);
    // Neighbours hold data; the tested group starts empty and goes through the contract
    // (appends, overwrites, compaction, a received snapshot that empties its log).
    for (uint64_t id : kIds) {
      if (id == tested) continue;
      REQUIRE(store->DropGroup(id).code() == Error::kInvalidArgument);  // Open: refused.
    }
    groups.erase(tested);
    REQUIRE(store->DropGroup(tested).ok());
    groups[tested] = OpenGroup(*store, tested);
    std::map<uint64_t, Contents> before;
    for (uint64_t id : kIds) {
      if (id == tested) continue;
      if (groups[id]->LastIndex() == 0) {
        MemoryStorage m;
        Fill(*groups[id], m, id % 97);
      }
      before[id] = ReadAll(*groups[id]);
    }
    testing::ExerciseStorage(*groups[tested]);
    for (uint64_t id : kIds) {
      if (id == tested) continue;
      CAPTURE(id);
      CHECK(ReadAll(*groups[id]) == before[id]);
    }
  }
}

TEST_CASE("LmdbLogStore: groups are isolated and come back after reopening, listed by id") {
  TempDir dir;
  std::map<uint64_t, MemoryStorage> models;
  {
    auto store = OpenStore(dir.path);
    for (uint64_t id : kIds) {
      auto g = OpenGroup(*store, id);
      Fill(*g, models[id], id % 97);
    }
    // A received snapshot empties one group's log and nothing else.
    auto g = OpenGroup(*store, 1);
    Snapshot snap;
    snap.metadata = SnapshotMetadata{20, 3, ConfState{{1, 2}, {}}};
    snap.data = "snap20";
    REQUIRE(g->ApplySnapshot(snap).ok());
    REQUIRE(models[1].ApplySnapshot(snap).ok());
    // Dropping a group removes its keys only.
    g.reset();
    REQUIRE(store->DropGroup(2).ok());
    models.erase(2);
    std::vector<uint64_t> ids;
    REQUIRE(store->ListGroups(&ids).ok());
    CHECK(ids == std::vector<uint64_t>{0, 1, 1000, UINT64_MAX - 1, UINT64_MAX});
  }
  auto store = OpenStore(dir.path);
  for (auto& [id, model] : models) {
    CAPTURE(id);
    auto g = OpenGroup(*store, id);
    CHECK(ReadAll(*g) == ReadAll(model));
  }
  auto dropped = OpenGroup(*store, 2);
  CHECK(dropped->LastIndex() == 0);
  CHECK(dropped->FirstIndex() == 1);
}

TEST_CASE("LmdbLogStore: one batch persists many groups in one commit, all or nothing") {
  TempDir dir;
  auto store = OpenStore(dir.path);
  std::vector<std::unique_ptr<LmdbStorage>> groups;
  for (uint64_t id = 1; id <= 10; ++id) groups.push_back(OpenGroup(*store, id));
  LogWriteBatch batch;
  for (auto& g : groups) batch.Save(g.get(), Ents(1, 3, 1), HardState{1, 0, 2});
  // Several operations for one group apply in order, each seeing the earlier ones: append,
  // compact what was just appended, append more.
  batch.CreateSnapshot(groups[0].get(), 2, ConfState{{1}, {}}, "two", 2);
  batch.Save(groups[0].get(), Ents(4, 5, 1), std::nullopt);
  // The last operation leaves a gap in group 10: the whole batch fails.
  batch.Save(groups[9].get(), Ents(9, 9, 1), std::nullopt);
  Status s = store->Write(batch);
  CHECK(s.code() == Error::kInvalidArgument);
  CHECK(s.message().find("group 10") != std::string::npos);
  CHECK(s.message().find("gap") != std::string::npos);
  CHECK(batch.size() == 13);  // Not consumed.
  for (auto& g : groups) {
    CHECK(g->LastIndex() == 0);
    HardState hs;
    ConfState cs;
    REQUIRE(g->InitialState(&hs, &cs).ok());
    CHECK(hs.empty());
  }
  std::vector<uint64_t> ids;
  REQUIRE(store->ListGroups(&ids).ok());
  CHECK(ids.empty());
  // Without the bad write it commits, and every group sees its part.
  batch.Clear();
  for (auto& g : groups) batch.Save(g.get(), Ents(1, 3, 1), HardState{1, 0, 2});
  batch.CreateSnapshot(groups[0].get(), 2, ConfState{{1}, {}}, "two", 2);
  batch.Save(groups[0].get(), Ents(4, 5, 1), std::nullopt);
  REQUIRE(store->Write(batch).ok());
  CHECK(batch.empty());
  CHECK(groups[0]->FirstIndex() == 3);
  CHECK(groups[0]->LastIndex() == 5);
  for (size_t i = 1; i < groups.size(); ++i) CHECK(groups[i]->LastIndex() == 3);
  groups.clear();
  store.reset();
  store = OpenStore(dir.path);
  auto g1 = OpenGroup(*store, 1);
  auto g7 = OpenGroup(*store, 7);
  CHECK(g1->FirstIndex() == 3);
  CHECK(g1->LastIndex() == 5);
  CHECK(g7->LastIndex() == 3);
  Snapshot snap;
  REQUIRE(g1->GetSnapshot(&snap).ok());
  CHECK(snap.data == "two");
}

TEST_CASE("LmdbLogStore: refuses a second handle on a group, and a group of another store in a batch") {
  TempDir a, b;
  auto sa = OpenStore(a.path);
  auto sb = OpenStore(b.path);
  auto g = OpenGroup(*sa, 4);
  std::unique_ptr<LmdbStorage> again;
  Status s = sa->OpenGroup(4, &again);
  CHECK(s.code() == Error::kInvalidArgument);
  CHECK(s.message().find("group 4") != std::string::npos);
  LogWriteBatch batch;
  batch.Save(g.get(), Ents(1, 1, 1), std::nullopt);
  CHECK(sb->Write(batch).code() == Error::kInvalidArgument);
  CHECK(g->LastIndex() == 0);
  // A handle keeps the environment alive after its store is gone, and closing it frees the id.
  sa.reset();
  REQUIRE(g->Append(Ents(1, 2, 1)).ok());
  g.reset();
  sa = OpenStore(a.path);
  g = OpenGroup(*sa, 4);
  CHECK(g->LastIndex() == 2);
}

TEST_CASE("LmdbLogStore: a store of the single-group format before format 2 is refused, not misread") {
  TempDir dir;
  {
    // What LmdbStorage wrote before groups: a "meta" database keyed by bare names.
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 4) == 0);
    REQUIRE(mdb_env_open(env, dir.path.c_str(), 0, 0644) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi meta;
    REQUIRE(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta) == 0);
    std::string key = "hard_state", val(24, '\0');
    MDB_val k{key.size(), key.data()}, v{val.size(), val.data()};
    REQUIRE(mdb_put(txn, meta, &k, &v, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  std::unique_ptr<LmdbLogStore> store;
  Status s = LmdbLogStore::Open(dir.path, {}, &store);
  CHECK(s.code() == Error::kCorruption);
  CHECK(s.message().find("format") != std::string::npos);
  std::unique_ptr<LmdbStorage> single;
  CHECK(LmdbStorage::Open(dir.path, {}, &single).code() == Error::kCorruption);
}

}  // namespace
}  // namespace vectron::raft
