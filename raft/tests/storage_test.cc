#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "raft/lmdb_storage.h"
#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "raft/tests/harness.h"

namespace vectron::raft {
namespace {

using testing::TempDir;

std::vector<Entry> Ents(uint64_t from, uint64_t to, uint64_t term) {
  std::vector<Entry> v;
  for (uint64_t i = from; i <= to; ++i) v.push_back(Entry{term, i, EntryType::kNormal, Cat("e", i)});
  return v;
}

// The same contract tests run against both implementations.
void ExerciseStorage(LogStorage& s) {
  CHECK(s.FirstIndex() == 1);
  CHECK(s.LastIndex() == 0);
  REQUIRE(s.Append(Ents(1, 5, 1)).ok());
  CHECK(s.LastIndex() == 5);
  uint64_t t = 0;
  REQUIRE(s.Term(3, &t).ok());
  CHECK(t == 1);
  CHECK(s.Term(6, &t).code() == Error::kUnavailable);
  // Overwrite a suffix with a later term.
  REQUIRE(s.Append(Ents(4, 6, 2)).ok());
  CHECK(s.LastIndex() == 6);
  REQUIRE(s.Term(4, &t).ok());
  CHECK(t == 2);
  std::vector<Entry> out;
  REQUIRE(s.Entries(2, 7, UINT64_MAX, &out).ok());
  REQUIRE(out.size() == 5);
  CHECK(out[0].data == "e2");
  CHECK(out[4].term == 2);
  out.clear();
  REQUIRE(s.Entries(2, 7, 3, &out).ok());  // Byte limit: at least one entry.
  CHECK(out.size() == 1);
  CHECK(s.Append(Ents(9, 9, 2)).code() == Error::kInvalidArgument);  // Gap.
  // Hard state.
  REQUIRE(s.SetHardState(HardState{2, 1, 4}).ok());
  HardState hs;
  ConfState cs;
  REQUIRE(s.InitialState(&hs, &cs).ok());
  CHECK(hs == HardState{2, 1, 4});
  // Compaction into a snapshot.
  ConfState three{{1, 2, 3}, {4}};
  REQUIRE(s.CreateSnapshot(4, three, "snap4", 4).ok());
  CHECK(s.FirstIndex() == 5);
  CHECK(s.LastIndex() == 6);
  REQUIRE(s.Term(4, &t).ok());
  CHECK(t == 2);
  out.clear();
  CHECK(s.Entries(4, 6, UINT64_MAX, &out).code() == Error::kCompacted);
  CHECK(s.CreateSnapshot(3, three, "old", 3).code() == Error::kSnapshotOutOfDate);
  Snapshot snap;
  REQUIRE(s.GetSnapshot(&snap).ok());
  CHECK(snap.metadata.index == 4);
  CHECK(snap.metadata.conf_state == three);
  CHECK(snap.data == "snap4");
  // A snapshot from the leader replaces the log.
  Snapshot recv;
  recv.metadata = SnapshotMetadata{10, 3, ConfState{{1, 2}, {}}};
  recv.data = "snap10";
  REQUIRE(s.ApplySnapshot(recv).ok());
  CHECK(s.FirstIndex() == 11);
  CHECK(s.LastIndex() == 10);
  REQUIRE(s.Term(10, &t).ok());
  CHECK(t == 3);
  CHECK(s.ApplySnapshot(recv).code() == Error::kSnapshotOutOfDate);
  REQUIRE(s.Append(Ents(11, 12, 3)).ok());
  CHECK(s.LastIndex() == 12);
}

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
