// The LogStorage contract as a test routine, run against every implementation.
#pragma once

#include <doctest/doctest.h>

#include <vector>

#include "raft/storage.h"
#include "raft/tests/harness.h"

namespace vectron::raft::testing {

inline std::vector<Entry> Ents(uint64_t from, uint64_t to, uint64_t term) {
  std::vector<Entry> v;
  for (uint64_t i = from; i <= to; ++i) v.push_back(Entry{term, i, EntryType::kNormal, Cat("e", i)});
  return v;
}

// The same contract tests run against both implementations.
inline void ExerciseStorage(LogStorage& s) {
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
  // Not beyond what the state machine has durably applied; nothing changes.
  CHECK(s.CreateSnapshot(5, three, "too-far", 4).code() == Error::kInvalidArgument);
  CHECK(s.FirstIndex() == 1);
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

// Everything a Storage holds, for comparing two stores.
struct Contents {
  HardState hs;
  Snapshot snap;
  std::vector<Entry> entries;
  bool operator==(const Contents& o) const {
    return hs == o.hs && snap.metadata == o.snap.metadata && snap.data == o.snap.data && entries == o.entries;
  }
};

inline Status ReadContents(Storage& s, Contents* out) {
  ConfState cs;
  Status st = s.InitialState(&out->hs, &cs);
  if (st.ok()) st = s.GetSnapshot(&out->snap);
  out->entries.clear();
  if (st.ok() && s.LastIndex() >= s.FirstIndex()) st = s.Entries(s.FirstIndex(), s.LastIndex() + 1, UINT64_MAX, &out->entries);
  return st;
}

inline Contents ReadAll(Storage& s) {
  Contents c;
  Status st = ReadContents(s, &c);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  return c;
}

}  // namespace vectron::raft::testing
