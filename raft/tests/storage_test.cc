#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "raft/lmdb_storage.h"
#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "raft/tests/harness.h"
#include "raft/tests/storage_contract.h"

namespace vectron::raft {
namespace {

using testing::Ents;
using testing::ExerciseStorage;
using testing::TempDir;

TEST_CASE("MemoryStorage keeps the storage contract") {
  MemoryStorage s;
  ExerciseStorage(s);
}

TEST_CASE("LmdbStorage keeps the storage contract") {
  TempDir dir;
  std::unique_ptr<LmdbStorage> s;
  REQUIRE(LmdbStorage::Open(dir.path, {}, &s).ok());
  ExerciseStorage(*s);
}

TEST_CASE("LmdbStorage survives reopening: hard state, entries and snapshot come back") {
  TempDir dir;
  {
    std::unique_ptr<LmdbStorage> s;
    REQUIRE(LmdbStorage::Open(dir.path, {}, &s).ok());
    REQUIRE(s->Save(Ents(1, 8, 1), HardState{3, 2, 6}).ok());
    REQUIRE(s->CreateSnapshot(5, ConfState{{1, 2, 3}, {}}, "five", 5).ok());
  }
  std::unique_ptr<LmdbStorage> s;
  REQUIRE(LmdbStorage::Open(dir.path, {}, &s).ok());
  HardState hs;
  ConfState cs;
  REQUIRE(s->InitialState(&hs, &cs).ok());
  CHECK(hs == HardState{3, 2, 6});
  CHECK(cs.voters == std::vector<uint64_t>{1, 2, 3});
  CHECK(s->FirstIndex() == 6);
  CHECK(s->LastIndex() == 8);
  std::vector<Entry> out;
  REQUIRE(s->Entries(6, 9, UINT64_MAX, &out).ok());
  CHECK(out.size() == 3);
  CHECK(out[2].data == "e8");
  Snapshot snap;
  REQUIRE(s->GetSnapshot(&snap).ok());
  CHECK(snap.data == "five");
}

TEST_CASE("LmdbStorage reports a clear error for an unusable directory") {
  std::unique_ptr<LmdbStorage> s;
  Status st = LmdbStorage::Open("/proc/definitely/not/here", {}, &s);
  CHECK(st.code() == Error::kIo);
  CHECK(st.message().find("/proc/definitely/not/here") != std::string::npos);
}

TEST_CASE("a RawNode restarts from LmdbStorage with its log, term and membership") {
  TempDir dir;
  uint64_t term = 0, last = 0;
  {
    std::unique_ptr<LmdbStorage> s;
    REQUIRE(LmdbStorage::Open(dir.path, {}, &s).ok());
    REQUIRE(Bootstrap(*s, ConfState{{1}, {}}).ok());
    Config cfg;
    cfg.id = 1;
    cfg.applied = 1;  // The state machine starts from the bootstrap snapshot (index 1).
    std::unique_ptr<RawNode> n;
    REQUIRE(RawNode::Create(cfg, s.get(), &n).ok());
    n->Campaign();  // Single voter: leader at once.
    REQUIRE(n->role() == Role::kLeader);
    REQUIRE(n->Propose("durable").ok());
    while (n->HasReady()) {
      Ready rd = n->GetReady();
      REQUIRE(s->Save(rd.entries, rd.hard_state).ok());
      n->Advance(rd);
    }
    term = n->term();
    last = n->last_index();
    CHECK(n->committed() == last);
  }
  std::unique_ptr<LmdbStorage> s;
  REQUIRE(LmdbStorage::Open(dir.path, {}, &s).ok());
  Config cfg;
  cfg.id = 1;
  cfg.applied = 1;
  std::unique_ptr<RawNode> n;
  REQUIRE(RawNode::Create(cfg, s.get(), &n).ok());
  CHECK(n->term() == term);
  CHECK(n->last_index() == last);
  CHECK(n->conf_state().voters == std::vector<uint64_t>{1});
  Ready rd = n->GetReady();
  REQUIRE(!rd.committed_entries.empty());
  CHECK(rd.committed_entries.back().data == "durable");
}

TEST_CASE("Bootstrap refuses a non-empty store and an empty voter set") {
  MemoryStorage s;
  CHECK(Bootstrap(s, ConfState{}).code() == Error::kInvalidArgument);
  REQUIRE(Bootstrap(s, ConfState{{1}, {}}).ok());
  CHECK(Bootstrap(s, ConfState{{1}, {}}).code() == Error::kInvalidArgument);
}

TEST_CASE("ConfChange round-trips through its encoding and rejects garbage") {
  ConfChange cc{ConfChangeType::kAddLearner, 77};
  ConfChange back;
  REQUIRE(ConfChange::Decode(cc.Encode(), &back));
  CHECK(back.type == ConfChangeType::kAddLearner);
  CHECK(back.node_id == 77);
  CHECK_FALSE(ConfChange::Decode("short", &back));
  std::string bad = cc.Encode();
  bad[0] = 9;
  CHECK_FALSE(ConfChange::Decode(bad, &back));
  ConfState cs{{1, 2}, {3}};
  cs = ApplyConfChangeTo(cs, {ConfChangeType::kAddVoter, 3});
  CHECK(cs == ConfState{{1, 2, 3}, {}});
  cs = ApplyConfChangeTo(cs, {ConfChangeType::kRemoveVoter, 1});
  CHECK(cs == ConfState{{2, 3}, {}});
}

}  // namespace
}  // namespace vectron::raft
