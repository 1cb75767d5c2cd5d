// The deterministic multi-group workload of the log store's kill -9 test, shared by the
// writer process (raft/tests/log_crash_writer.cc) and the checker (log_crash_test.cc).
//
// Loop L writes to every group: new entries (sometimes overwriting an uncommitted suffix
// with a higher term, sometimes a 6 KB entry that spills into LMDB overflow pages), a hard
// state, now and then a compaction, and now and then a snapshot "received from a leader" that
// replaces the log. What loop L does to a group depends only on (seed, group, L) and the
// group's state after loop L-1, so a model (MemoryStorage) replays it exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raft/memory_storage.h"

namespace vectron::raft::crash {

// One write of a loop to one group.
struct Op {
  enum class Kind : uint8_t { kSave, kApplySnapshot, kCreateSnapshot } kind = Kind::kSave;
  std::vector<Entry> entries;      // kSave
  std::optional<HardState> hs;     // kSave
  Snapshot snap;                   // kApplySnapshot; kCreateSnapshot: index, conf, data
};

// A group's model: its log as LmdbStorage should hold it after the loops so far.
struct GroupModel {
  MemoryStorage log;
  uint64_t term = 1;
  uint64_t commit = 0;
};

inline uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Returns loop `loop`'s writes to `group` and applies them to `m`. False if the model refuses
// one (a bug in this workload, not in the store).
inline bool PlanLoop(uint64_t seed, uint64_t group, uint64_t loop, GroupModel& m, std::vector<Op>* ops) {
  uint64_t rng = Mix(seed ^ Mix(group * 1000003 + loop));
  auto next = [&](uint64_t n) { return (rng = Mix(rng)) % n; };
  const ConfState conf{{1, 2, 3}, {}};
  uint64_t snap_index = m.log.FirstIndex() - 1;
  uint64_t last = m.log.LastIndex();
  auto tag = [&](const char* what) {
    return std::string(what) + " g" + std::to_string(group) + " L" + std::to_string(loop);
  };
  if (next(100) < 4) {
    Op op;
    op.kind = Op::Kind::kApplySnapshot;
    op.snap.metadata = SnapshotMetadata{last + 1 + next(5), ++m.term, conf};
    op.snap.data = tag("received") + std::string(next(300), 's');
    if (!m.log.ApplySnapshot(op.snap).ok()) return false;
    m.commit = op.snap.metadata.index;
    ops->push_back(std::move(op));
    Op hs;
    hs.hs = HardState{m.term, kNone, m.commit};
    if (!m.log.SetHardState(*hs.hs).ok()) return false;
    ops->push_back(std::move(hs));
    return true;
  }
  uint64_t from = last + 1;
  if (next(100) < 15 && last > m.commit && last > snap_index) {
    from = m.commit + 1 + next(last - m.commit);  // Overwrite an uncommitted suffix.
    ++m.term;
  }
  Op save;
  uint64_t n = 1 + next(3);
  for (uint64_t i = from; i < from + n; ++i) {
    std::string data = tag("entry") + " i" + std::to_string(i) + " t" + std::to_string(m.term);
    data += std::string(next(100) < 3 ? 6000 : next(200), 'x');
    save.entries.push_back(Entry{m.term, i, EntryType::kNormal, std::move(data)});
  }
  m.commit = std::min(from + n - 1, m.commit + next(4));
  save.hs = HardState{m.term, 1 + group % 3, m.commit};
  if (!m.log.Append(save.entries).ok() || !m.log.SetHardState(*save.hs).ok()) return false;
  ops->push_back(std::move(save));
  if (next(100) < 8 && m.commit > snap_index + 2) {
    Op compact;
    compact.kind = Op::Kind::kCreateSnapshot;
    compact.snap.metadata = SnapshotMetadata{m.commit, 0, conf};
    compact.snap.data = tag("state");
    if (!m.log.CreateSnapshot(m.commit, conf, compact.snap.data, m.commit).ok()) return false;
    ops->push_back(std::move(compact));
  }
  return true;
}

}  // namespace vectron::raft::crash
