// In-memory LogStorage for tests and the simulator. It plays "the disk": in the simulator a
// crash keeps the MemoryStorage object and drops everything else.
#pragma once

#include <vector>

#include "raft/storage.h"

namespace vectron::raft {

class MemoryStorage final : public LogStorage {
 public:
  // An empty log: no snapshot, no entries, empty hard state.
  MemoryStorage();
  // The Storage and LogStorage contracts (raft/storage.h).
  Status InitialState(HardState* hs, ConfState* cs) override;
  Status Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes, std::vector<Entry>* out) override;
  Status Term(uint64_t i, uint64_t* term) override;
  uint64_t FirstIndex() override;
  uint64_t LastIndex() override;
  Status GetSnapshot(Snapshot* out) override;
  Status SetHardState(const HardState& hs) override;
  Status Append(const std::vector<Entry>& entries) override;
  Status ApplySnapshot(const Snapshot& snap) override;
  Status CreateSnapshot(uint64_t index, const ConfState& cs, std::string data,
                        uint64_t durable_applied_index) override;

  bool RejoinedEmpty() override { return rejoined_empty_; }
  LogEnd DroppedLogEnd() override { return dropped_end_; }

  // The durable hard state (for checkers).
  const HardState& hard_state() const { return hs_; }
  // Marks the group as dropped here before, its log then ending at `dropped_end` (what a
  // tombstone does in LmdbStorage), until its first entry or snapshot.
  void MarkRejoined(LogEnd dropped_end) {
    rejoined_empty_ = LastIndex() == 0;
    dropped_end_ = dropped_end;
  }
  // Where this log ends now.
  LogEnd End();

 private:
  HardState hs_;
  Snapshot snap_;
  // ents_[0] is a dummy entry at the snapshot index/term; real entries follow.
  std::vector<Entry> ents_;
  bool rejoined_empty_ = false;
  LogEnd dropped_end_ = LogEnd::Unknown();
};

}  // namespace vectron::raft
