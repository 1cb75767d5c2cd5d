// The storage seam: what the Raft core reads (Storage) and what the caller writes after each
// Ready (LogStorage). Implementations: MemoryStorage (tests, simulator), LmdbStorage (durable).
#pragma once

#include <cstdint>
#include <vector>

#include "raft/types.h"

namespace vectron::raft {

// Read-only view of the durable log, used by the core. Not thread-safe: the core and the
// caller's driver loop must not use it concurrently with writes.
class Storage {
 public:
  virtual ~Storage() = default;
  // The durable hard state and the membership of the latest snapshot.
  virtual Status InitialState(HardState* hs, ConfState* cs) = 0;
  // Appends entries [lo, hi) to *out, stopping once their data exceeds max_bytes (at least one
  // entry is returned). Errors: Compacted if lo <= snapshot index, Unavailable if hi > last+1.
  virtual Status Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes, std::vector<Entry>* out) = 0;
  // Term of entry i, valid for snapshot index <= i <= last index.
  // Errors: Compacted if i < snapshot index, Unavailable if i > LastIndex().
  virtual Status Term(uint64_t i, uint64_t* term) = 0;
  // Index of the first entry held (snapshot index + 1).
  virtual uint64_t FirstIndex() = 0;
  // Index of the last entry held, or the snapshot index if the log is empty.
  virtual uint64_t LastIndex() = 0;
  // The latest snapshot (empty() if none). Errors: Io, Corruption.
  virtual Status GetSnapshot(Snapshot* out) = 0;
  // True if this node held the group before, dropped it (keeping its term, vote and log
  // end: a tombstone) and has received neither a log entry nor a snapshot of it since.
  // Such a replica may have acknowledged entries it no longer has, so while it is empty
  // RawNode votes only for a candidate whose log reaches DroppedLogEnd(), as the log it
  // had would have demanded (docs/raft.md, "Dropped replicas").
  virtual bool RejoinedEmpty() { return false; }
  // Where its log ended when it was dropped; meaningful while RejoinedEmpty().
  virtual LogEnd DroppedLogEnd() { return LogEnd::Unknown(); }
};

// Writable durable log. Each call is atomic and durable when it returns OK (LmdbStorage
// commits, which fsyncs, before returning).
class LogStorage : public Storage {
 public:
  // Checks CreateSnapshot's durability precondition; OK or InvalidArgument naming both indexes.
  static Status CheckCompaction(uint64_t index, uint64_t durable_applied_index);
  // Persists `hs`.
  virtual Status SetHardState(const HardState& hs) = 0;
  // Appends entries, first deleting any held entries at or after entries.front().index.
  // REQUIRES: entries contiguous; entries.front().index <= LastIndex() + 1 and > snapshot index.
  virtual Status Append(const std::vector<Entry>& entries) = 0;
  // Replaces everything with `snap` (a snapshot received from the leader): the log becomes
  // empty after snap.metadata.index. Errors: SnapshotOutOfDate if older than the current one.
  virtual Status ApplySnapshot(const Snapshot& snap) = 0;
  // Records an application snapshot at `index` (<= last index) with membership `cs` and
  // discards entries <= index (log compaction).
  //
  // `durable_applied_index` is the highest index whose effects survive a crash of the
  // application: what its state machine has applied AND synced (a state machine that defers
  // fsyncs, such as a kNoSync shard, passes its last synced index, not its applied index), or
  // `index` itself when `data` holds the whole state. After a crash the application restarts
  // from that index (Config::applied) and needs the log after it, so compaction may not pass it.
  // Errors: InvalidArgument if index > durable_applied_index (nothing changes);
  // SnapshotOutOfDate if index <= current snapshot index; Unavailable if index > last.
  virtual Status CreateSnapshot(uint64_t index, const ConfState& cs, std::string data,
                                uint64_t durable_applied_index) = 0;
};

// Writes the state every founding member of a new cluster starts from: a snapshot at index
// `index` (1 for a new group; a group split off another starts at the split's index), term
// 1 with membership `cs` and application data `data`, and hard state {term 1, commit index}.
// REQUIRES: `storage` is empty, index >= 1.
Status Bootstrap(LogStorage& storage, const ConfState& cs, std::string data = "", uint64_t index = 1);

}  // namespace vectron::raft
