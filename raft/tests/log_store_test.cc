// LmdbLogStore: many groups in one LMDB environment, written together by LogWriteBatch.
#include <doctest/doctest.h>
#include <lmdb.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "raft/lmdb_storage.h"
#include "raft/memory_storage.h"
#include "raft/raw_node.h"
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

// Number of tombstones stored in the store at `dir`, read with LMDB directly.
// REQUIRES: no store or handle of `dir` is open in this process (an LMDB rule).
size_t CountTombstones(const std::string& dir) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 4) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0644) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  MDB_dbi dbi;
  size_t n = 0;
  if (mdb_dbi_open(txn, "tombstones", 0, &dbi) == 0) {
    MDB_stat st;
    REQUIRE(mdb_stat(txn, dbi, &st) == 0);
    n = st.ms_entries;
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return n;
}

// Runs `fn` in a write transaction on database `name` of the store at `dir`, with LMDB
// directly, and commits. REQUIRES: no store or handle of `dir` is open in this process.
void InDatabase(const std::string& dir, const char* name, const std::function<void(MDB_txn*, MDB_dbi)>& fn) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 5) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0644) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi;
  REQUIRE(mdb_dbi_open(txn, name, 0, &dbi) == 0);
  fn(txn, dbi);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

HardState InitialHardState(LmdbStorage& g) {
  HardState hs;
  ConfState cs;
  REQUIRE(g.InitialState(&hs, &cs).ok());
  return hs;
}

TEST_CASE("LmdbLogStore: a dropped group keeps its term, vote and log end, and starts from them when opened again") {
  TempDir dir;
  {
    auto store = OpenStore(dir.path);
    auto g = OpenGroup(*store, 5);
    REQUIRE(g->Save(Ents(1, 4, 7), HardState{7, 2, 3}).ok());
    g.reset();
    REQUIRE(store->DropGroup(5).ok());
    // A group never written leaves no tombstone.
    REQUIRE(store->DropGroup(6).ok());
    std::vector<uint64_t> ids;
    REQUIRE(store->ListGroups(&ids).ok());
    CHECK(ids.empty());  // A tombstone is not a group.
  }
  CHECK(CountTombstones(dir.path) == 1);
  {
    auto store = OpenStore(dir.path);
    auto g = OpenGroup(*store, 5);
    // Empty log, no snapshot, commit 0; the term and vote it had; rejoined empty.
    CHECK(InitialHardState(*g) == HardState{7, 2, 0});
    CHECK(g->FirstIndex() == 1);
    CHECK(g->LastIndex() == 0);
    CHECK(g->RejoinedEmpty());
    CHECK(g->DroppedLogEnd() == LogEnd{7, 4});  // Where its log ended: entry 4, of term 7.
    auto never = OpenGroup(*store, 6);
    CHECK(InitialHardState(*never).empty());
    CHECK_FALSE(never->RejoinedEmpty());  // Never held here: not rejoined.
    never.reset();
    // A snapshot received before any hard state of its own deletes the tombstone, in the
    // same transaction, and its term and vote go into the group's hard state.
    Snapshot snap;
    snap.metadata = SnapshotMetadata{10, 6, ConfState{{1, 2, 3}, {}}};
    snap.data = "s10";
    REQUIRE(g->ApplySnapshot(snap).ok());
    CHECK_FALSE(g->RejoinedEmpty());
    g.reset();
    g = OpenGroup(*store, 5);
    CHECK(InitialHardState(*g) == HardState{7, 2, 0});
    CHECK(g->LastIndex() == 10);
    CHECK_FALSE(g->RejoinedEmpty());
    REQUIRE(g->SetHardState(HardState{8, 3, 10}).ok());
    // Dropped again: a new tombstone of its term and vote.
    g.reset();
    REQUIRE(store->DropGroup(5).ok());
    g = OpenGroup(*store, 5);
    CHECK(InitialHardState(*g) == HardState{8, 3, 0});
    CHECK(g->RejoinedEmpty());
    CHECK(g->DroppedLogEnd() == LogEnd{6, 10});  // A log of only a snapshot ends there.
    // A hard state of its own (a vote while empty) keeps the tombstone: still rejoined
    // empty, also after a reopen.
    REQUIRE(g->SetHardState(HardState{9, 4, 0}).ok());
    g.reset();
    g = OpenGroup(*store, 5);
    CHECK(InitialHardState(*g) == HardState{9, 4, 0});
    CHECK(g->RejoinedEmpty());
    // Dropped again while still empty: the end stays the one its log had.
    g.reset();
    REQUIRE(store->DropGroup(5).ok());
    g = OpenGroup(*store, 5);
    CHECK(InitialHardState(*g) == HardState{9, 4, 0});
    CHECK(g->DroppedLogEnd() == LogEnd{6, 10});
    // Its first entries delete it, in the same transaction.
    REQUIRE(g->Save(Ents(1, 2, 9), HardState{9, 4, 1}).ok());
    CHECK(InitialHardState(*g) == HardState{9, 4, 1});
    CHECK_FALSE(g->RejoinedEmpty());
  }
  CHECK(CountTombstones(dir.path) == 0);
  {
    auto store = OpenStore(dir.path);
    auto g = OpenGroup(*store, 5);
    CHECK(InitialHardState(*g) == HardState{9, 4, 1});
    CHECK_FALSE(g->RejoinedEmpty());
    g.reset();
    REQUIRE(store->DropGroup(5).ok());
    g = OpenGroup(*store, 5);
    CHECK(InitialHardState(*g) == HardState{9, 4, 0});
    CHECK(g->DroppedLogEnd() == LogEnd{9, 2});
  }
  CHECK(CountTombstones(dir.path) == 1);
  // A tombstone written before tombstones recorded the log's end (no key in
  // `tombstone_ends`): the end is not known, so the replica votes for no one while empty.
  InDatabase(dir.path, "tombstones", [](MDB_txn* txn, MDB_dbi dbi) {
    char key[8] = {0, 0, 0, 0, 0, 0, 0, 9};  // Group 9, big endian.
    char old[16] = {11, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0};  // Term 11, vote 2 (little endian).
    MDB_val k{sizeof(key), key}, v{sizeof(old), old};
    REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
  });
  {
    auto store = OpenStore(dir.path);
    auto g = OpenGroup(*store, 9);
    CHECK(InitialHardState(*g) == HardState{11, 2, 0});
    CHECK(g->RejoinedEmpty());
    CHECK(g->DroppedLogEnd() == LogEnd::Unknown());
  }
}

TEST_CASE("LmdbLogStore: a format 2 store written before tombstones existed opens and reads as before") {
  TempDir dir;
  {
    auto store = OpenStore(dir.path);
    auto g = OpenGroup(*store, 3);
    REQUIRE(g->Save(Ents(1, 3, 2), HardState{2, 1, 2}).ok());
  }
  // Remove the tombstones database: what a store of before this change holds.
  InDatabase(dir.path, "tombstones", [](MDB_txn* txn, MDB_dbi dbi) {
    REQUIRE(mdb_drop(txn, dbi, 1) == 0);
    REQUIRE(mdb_dbi_open(txn, "tombstones", 0, &dbi) == MDB_NOTFOUND);
  });
  auto store = OpenStore(dir.path);
  auto g = OpenGroup(*store, 3);
  CHECK(InitialHardState(*g) == HardState{2, 1, 2});
  CHECK(g->LastIndex() == 3);
  g.reset();
  REQUIRE(store->DropGroup(3).ok());
  CHECK(InitialHardState(*OpenGroup(*store, 3)) == HardState{2, 1, 0});
}

// Runs `n`'s Readys into `g` as a driver would (persist, then collect the messages).
std::vector<Message> DrainInto(RawNode& n, LmdbStorage& g) {
  std::vector<Message> out;
  while (n.HasReady()) {
    Ready rd = n.GetReady();
    if (!rd.snapshot.empty()) REQUIRE(g.ApplySnapshot(rd.snapshot).ok());
    REQUIRE(g.Save(rd.entries, rd.hard_state).ok());
    for (Message& m : rd.messages) out.push_back(std::move(m));
    n.Advance(rd);
  }
  return out;
}

// The safety gap of cluster-sim seed 101 once the empty-log rule (c44735b) no longer applies:
// a replica dropped from a node, created there again and given the group's state, voted
// again in the term it had voted in before the drop.
TEST_CASE("A replica created again after a drop, with state, refuses a second candidate in the term it voted in") {
  TempDir dir;
  auto store = OpenStore(dir.path);
  const ConfState conf{{1, 2, 3}, {}};
  auto vote_request = [](uint64_t from, uint64_t term, uint64_t index, uint64_t log_term) {
    Message m;
    m.type = MessageType::kVote;
    m.from = from;
    m.to = 1;
    m.term = term;
    m.index = index;
    m.log_term = log_term;
    return m;
  };
  auto answer_to = [](const std::vector<Message>& msgs, uint64_t to) {
    std::vector<Message> r;
    for (const Message& m : msgs)
      if (m.type == MessageType::kVoteResp && m.to == to) r.push_back(m);
    REQUIRE(r.size() == 1);
    return r[0];
  };
  Config cfg;
  cfg.id = 1;
  cfg.check_quorum = false;  // No lease: only the vote itself decides.
  cfg.applied = 1;
  {
    auto g = OpenGroup(*store, 9);
    REQUIRE(Bootstrap(*g, conf).ok());
    std::unique_ptr<RawNode> n;
    REQUIRE(RawNode::Create(cfg, g.get(), &n).ok());
    REQUIRE(n->Step(vote_request(2, 5, 1, 1)).ok());
    Message r = answer_to(DrainInto(*n, *g), 2);
    REQUIRE_FALSE(r.reject);  // Voted for 2 in term 5, durably.
  }
  REQUIRE(store->DropGroup(9).ok());
  // The map places a replica here again; it receives the group's state (a snapshot the
  // leader sent, persisted) and the node restarts, so no leader is known.
  auto g = OpenGroup(*store, 9);
  Snapshot snap;
  snap.metadata = SnapshotMetadata{3, 4, conf};
  REQUIRE(g->ApplySnapshot(snap).ok());
  cfg.applied = 3;
  std::unique_ptr<RawNode> n;
  REQUIRE(RawNode::Create(cfg, g.get(), &n).ok());
  CHECK(n->term() == 5);
  // Candidate 3 in term 5, with a log as up to date: refused, the vote went to 2.
  REQUIRE(n->Step(vote_request(3, 5, 3, 4)).ok());
  CHECK(answer_to(DrainInto(*n, *g), 3).reject);
  CHECK(n->term() == 5);
  // 2 asking again in term 5 gets the same vote.
  REQUIRE(n->Step(vote_request(2, 5, 3, 4)).ok());
  CHECK_FALSE(answer_to(DrainInto(*n, *g), 2).reject);
}

}  // namespace
}  // namespace vectron::raft
