// LmdbStorage: a durable LogStorage in one LMDB environment (a directory).
//
// Layout (see docs/raft.md): database "log" maps an 8-byte big-endian index to
// term(8, LE) | type(1) | data; database "meta" holds "hard_state", "snapshot_meta" and
// "snapshot_data". Every mutating call is one LMDB write transaction committed with LMDB's
// default durable flags, so it is fsynced before the call returns OK.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "raft/storage.h"

namespace vectron::raft {

struct LmdbStorageOptions {
  uint64_t map_size_bytes = uint64_t{1} << 30;  // LMDB map size: the store's size limit.
};

class LmdbStorage final : public LogStorage {
 public:
  // Opens or creates the store in directory `dir` (created if missing).
  // Errors: Io (with LMDB's text) if the directory or environment cannot be opened,
  // Corruption if stored metadata fails to decode. Never open the same dir twice in a process.
  static Status Open(const std::string& dir, const LmdbStorageOptions& options, std::unique_ptr<LmdbStorage>* out);
  ~LmdbStorage() override;
  LmdbStorage(const LmdbStorage&) = delete;
  LmdbStorage& operator=(const LmdbStorage&) = delete;

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

  // Persists entries and hard state in one transaction (one fsync), the usual Ready step.
  Status Save(const std::vector<Entry>& entries, const std::optional<HardState>& hs);

 private:
  struct Impl;
  explicit LmdbStorage(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vectron::raft
