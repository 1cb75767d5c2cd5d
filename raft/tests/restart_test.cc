// Restart contracts between the core, the log store and the application's state machine: the
// applied index a node restarts from, and how far the log may be compacted (issue 14).
#include <doctest/doctest.h>

#include "raft/lmdb_storage.h"
#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "raft/tests/harness.h"

namespace vectron::raft {
namespace {

// A one-voter store with entries 2..10 committed, compacted into a snapshot at 6.
void FillCompacted(MemoryStorage& s) {
  REQUIRE(Bootstrap(s, ConfState{{1}, {}}).ok());
  std::vector<Entry> ents;
  for (uint64_t i = 2; i <= 10; ++i) ents.push_back(Entry{1, i, EntryType::kNormal, Cat("e", i)});
  REQUIRE(s.Append(ents).ok());
  REQUIRE(s.SetHardState(HardState{1, kNone, 10}).ok());
  REQUIRE(s.CreateSnapshot(6, ConfState{{1}, {}}, "state@6", 6).ok());
}

Status CreateWithApplied(MemoryStorage& s, uint64_t applied, std::unique_ptr<RawNode>* out) {
  Config cfg;
  cfg.id = 1;
  cfg.applied = applied;
  return RawNode::Create(cfg, &s, out);
}

// Entries 3..6 live only in the snapshot now. A state machine at index 2 that restarted from
// the log would silently skip them: the old core raised `applied` to first - 1 = 6.
TEST_CASE("RawNode::Create refuses an applied index below the log's first index - 1") {
  MemoryStorage s;
  FillCompacted(s);
  std::unique_ptr<RawNode> n;
  for (uint64_t applied : {0, 2, 5}) {
    CAPTURE(applied);
    Status st = CreateWithApplied(s, applied, &n);
    CHECK(st.code() == Error::kInvalidArgument);
    CHECK(st.message().find("Config.applied " + std::to_string(applied)) != std::string::npos);
    CHECK(st.message().find("snapshot at 6") != std::string::npos);
    CHECK(n == nullptr);
  }
  // At the snapshot or beyond (up to the commit index) is fine; the rest is delivered.
  REQUIRE(CreateWithApplied(s, 6, &n).ok());
  Ready rd = n->GetReady();
  REQUIRE(rd.committed_entries.size() == 4);
  CHECK(rd.committed_entries.front().index == 7);
  REQUIRE(CreateWithApplied(s, 9, &n).ok());
  CHECK(n->applied() == 9);
  CHECK(CreateWithApplied(s, 11, &n).code() == Error::kInvalidArgument);
}


// Persists and applies every Ready of a single-voter node; returns the last applied index.
uint64_t Drive(RawNode& n, LmdbStorage& s) {
  uint64_t applied = n.applied();
  while (n.HasReady()) {
    Ready rd = n.GetReady();
    REQUIRE(s.Save(rd.entries, rd.hard_state).ok());
    if (!rd.committed_entries.empty()) applied = rd.committed_entries.back().index;
    n.Advance(rd);
  }
  return applied;
}

// A state machine that syncs lazily (a kNoSync shard) has applied more than it would still
// have after a crash. The log must keep what it would replay: compaction takes the durable
// applied index and refuses to pass it.
TEST_CASE("compaction stops at the state machine's durably synced applied index") {
  testing::TempDir dir;
  const ConfState one{{1}, {}};
  uint64_t applied = 0;
  const uint64_t synced = 5;  // The state machine last synced after applying index 5.
  {
    std::unique_ptr<LmdbStorage> s;
    REQUIRE(LmdbStorage::Open(dir.path, {}, &s).ok());
    REQUIRE(Bootstrap(*s, one).ok());
    Config cfg;
    cfg.id = 1;
    cfg.applied = 1;
    std::unique_ptr<RawNode> n;
    REQUIRE(RawNode::Create(cfg, s.get(), &n).ok());
    n->Campaign();
    for (uint64_t i = 0; i < 8; ++i) REQUIRE(n->Propose(Cat("w", i)).ok());
    applied = Drive(*n, *s);
    REQUIRE(applied == 10);
    Status st = s->CreateSnapshot(applied, one, "state@10", synced);
    CHECK(st.code() == Error::kInvalidArgument);
    CHECK(st.message().find("durable applied index 5") != std::string::npos);
    CHECK(s->FirstIndex() == 2);  // Nothing changed.
    REQUIRE(s->CreateSnapshot(synced, one, "state@5", synced).ok());
    CHECK(s->FirstIndex() == 6);
  }
  // The process dies; the state machine comes back at its synced index and the log still
  // holds everything after it.
  std::unique_ptr<LmdbStorage> s;
  REQUIRE(LmdbStorage::Open(dir.path, {}, &s).ok());
  Config cfg;
  cfg.id = 1;
  cfg.applied = synced;
  std::unique_ptr<RawNode> n;
  REQUIRE(RawNode::Create(cfg, s.get(), &n).ok());
  Ready rd = n->GetReady();
  REQUIRE(!rd.committed_entries.empty());
  CHECK(rd.committed_entries.front().index == synced + 1);
  CHECK(rd.committed_entries.back().index == applied);
  n->Advance(rd);
  // MemoryStorage keeps the same contract.
  MemoryStorage m;
  FillCompacted(m);
  CHECK(m.CreateSnapshot(9, one, "x", 8).code() == Error::kInvalidArgument);
  CHECK(m.FirstIndex() == 7);
}

}  // namespace
}  // namespace vectron::raft
