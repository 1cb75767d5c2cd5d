// Durable Raft logs on LMDB (format: docs/formats/raft-log.md).
//
// LmdbLogStore is one LMDB environment (a directory) holding the logs of many Raft groups,
// keyed by group id: a worker hosting hundreds of shard groups keeps one store, and persists
// the Readys of all its groups with one LogWriteBatch, so one commit (one fsync) per loop:
//
//   std::unique_ptr<LmdbLogStore> store;
//   LmdbLogStore::Open(dir, {}, &store);
//   std::unique_ptr<LmdbStorage> g7;
//   store->OpenGroup(7, &g7);          // a LogStorage for RawNode::Create
//   ...
//   LogWriteBatch batch;
//   for (each group g with a Ready rd) {
//     if (!rd.snapshot.empty()) batch.ApplySnapshot(g, rd.snapshot);
//     batch.Save(g, rd.entries, rd.hard_state);
//   }
//   store->Write(batch);               // one transaction, one fsync, all groups
//   then, per group: send rd.messages, apply, Advance.
//
// LmdbStorage is one group's log. LmdbStorage::Open(dir) is the single-group shorthand: a
// store of its own, group 0. Every write through LmdbStorage itself is one transaction.
//
// Not thread-safe: one thread uses a store and all its group handles.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/storage.h"

namespace vectron::raft {

namespace lmdb_internal {
struct Env;
}  // namespace lmdb_internal

struct LmdbStorageOptions {
  // LMDB map size: the size limit of the whole store (all groups). Writes beyond it fail
  // with Io ("MDB_MAP_FULL") and change nothing.
  uint64_t map_size_bytes = uint64_t{1} << 30;
};

class LogWriteBatch;

// One group's durable log: the Storage the core reads and the LogStorage its driver writes.
class LmdbStorage final : public LogStorage {
 public:
  // The group id LmdbStorage::Open uses.
  static constexpr uint64_t kSingleGroupId = 0;

  // Opens or creates a single-group store in directory `dir` (created if missing): the same
  // as LmdbLogStore::Open + OpenGroup(kSingleGroupId), the store owned by the handle.
  // Errors: Io (with LMDB's text) if the directory or environment cannot be opened,
  // Corruption if stored metadata fails to decode or the store has another format.
  // Never open the same dir twice in a process (an LMDB rule).
  static Status Open(const std::string& dir, const LmdbStorageOptions& options, std::unique_ptr<LmdbStorage>* out);
  ~LmdbStorage() override;
  LmdbStorage(const LmdbStorage&) = delete;
  LmdbStorage& operator=(const LmdbStorage&) = delete;

  // This handle's group id.
  uint64_t group_id() const { return group_; }

  // The Storage and LogStorage contracts (raft/storage.h); each write is one transaction,
  // fsynced before OK; on error nothing changes.
  Status InitialState(HardState* hs, ConfState* cs) override;
  Status Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes, std::vector<Entry>* out) override;
  Status Term(uint64_t i, uint64_t* term) override;
  uint64_t FirstIndex() override;
  uint64_t LastIndex() override;
  Status GetSnapshot(Snapshot* out) override;
  bool RejoinedEmpty() override { return tombstone_ && last_ == 0; }
  LogEnd DroppedLogEnd() override { return dropped_end_; }
  Status SetHardState(const HardState& hs) override;
  Status Append(const std::vector<Entry>& entries) override;
  Status ApplySnapshot(const Snapshot& snap) override;
  Status CreateSnapshot(uint64_t index, const ConfState& cs, std::string data,
                        uint64_t durable_applied_index) override;

  // Persists entries and hard state in one transaction (one fsync), the usual Ready step.
  Status Save(const std::vector<Entry>& entries, const std::optional<HardState>& hs);

 private:
  friend class LmdbLogStore;
  LmdbStorage(std::shared_ptr<lmdb_internal::Env> env, uint64_t group);
  // Commits every write of `batch` (whose groups all belong to `env`) in one transaction.
  static Status Commit(lmdb_internal::Env& env, LogWriteBatch& batch);

  std::shared_ptr<lmdb_internal::Env> env_;
  uint64_t group_;
  // Exactly what is committed for the group (updated only after a commit succeeds).
  HardState hs_;
  SnapshotMetadata snap_;
  uint64_t last_ = 0;  // Last entry index, or the snapshot index if the log is empty.
  bool tombstone_ = false;  // A tombstone of this group is stored (until its first entry or snapshot).
  LogEnd dropped_end_ = LogEnd::Unknown();  // The tombstone's, read at open.
};

// Writes to any number of groups of one LmdbLogStore, committed together by
// LmdbLogStore::Write. Operations apply in the order they were added (several for the same
// group are fine). Holds raw pointers: the groups must outlive the batch's Write.
class LogWriteBatch {
 public:
  // LmdbStorage::Save: entries (overwriting any held suffix from entries.front().index) and,
  // if set, the hard state.
  void Save(LmdbStorage* group, std::vector<Entry> entries, std::optional<HardState> hs);
  // LogStorage::ApplySnapshot (a snapshot received from the leader, Ready::snapshot).
  void ApplySnapshot(LmdbStorage* group, Snapshot snap);
  // LogStorage::CreateSnapshot (compaction; see its contract on durable_applied_index).
  void CreateSnapshot(LmdbStorage* group, uint64_t index, ConfState cs, std::string data,
                      uint64_t durable_applied_index);
  // Number of operations added; 0 for a new or written batch.
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  void Clear() { ops_.clear(); }

 private:
  friend class LmdbStorage;
  enum class Kind : uint8_t { kSave, kApplySnapshot, kCreateSnapshot };
  struct Op {
    Kind kind;
    LmdbStorage* group;
    std::vector<Entry> entries;      // kSave
    std::optional<HardState> hs;     // kSave
    Snapshot snap;                   // kApplySnapshot; kCreateSnapshot: index, conf state, data
    uint64_t durable_applied = 0;    // kCreateSnapshot
  };
  std::vector<Op> ops_;
};

// One LMDB environment holding the logs of many groups (see the top of this file).
class LmdbLogStore {
 public:
  // Opens or creates the store in directory `dir` (created if missing).
  // Errors: Io (with LMDB's text); Corruption for a store of another format.
  // Never open the same dir twice in a process (an LMDB rule).
  static Status Open(const std::string& dir, const LmdbStorageOptions& options, std::unique_ptr<LmdbLogStore>* out);
  ~LmdbLogStore();
  LmdbLogStore(const LmdbLogStore&) = delete;
  LmdbLogStore& operator=(const LmdbLogStore&) = delete;

  // Opens group `group_id`'s log; a group never written starts empty (no snapshot, no
  // entries, empty hard state), except that a group dropped from this store before starts
  // with the term and vote it had when dropped (its tombstone; commit 0), and is
  // RejoinedEmpty until its first entry or snapshot. The handle shares the environment,
  // so it may outlive the store. Errors: InvalidArgument if the group already has a live handle (two handles would
  // cache different views); Corruption if its metadata does not decode or its log does not
  // start right after its snapshot; Io.
  Status OpenGroup(uint64_t group_id, std::unique_ptr<LmdbStorage>* out);

  // Commits every write in `batch` in one LMDB transaction: one fsync for all its groups.
  // All or nothing: on error nothing is written, no handle's view changes, and the message
  // names the group whose write failed. Emptied on success. Errors: InvalidArgument (a write
  // breaks its group's LogStorage contract, or names a group of another store), and the
  // LogStorage errors SnapshotOutOfDate, Unavailable; Io (e.g. the map is full).
  Status Write(LogWriteBatch& batch);

  // Ids of every group with anything stored, ascending (not groups that only have a
  // tombstone).
  Status ListGroups(std::vector<uint64_t>* out);

  // Deletes everything stored for `group_id` (a replica moved away) and, in the same
  // transaction, keeps its term, vote and log end as the group's tombstone (two keys of 24
  // bytes plus LMDB's per-key overhead, kept until the group is opened here again and
  // receives an entry or a snapshot): a crash leaves either the group or its tombstone.
  // OpenGroup starts from it, so a replica created here again never goes back in term nor
  // votes twice in one, and votes only for logs that reach its end (docs/raft.md).
  // Errors: InvalidArgument if the group has a live handle; Corruption if its hard state
  // does not decode; Io.
  Status DropGroup(uint64_t group_id);

 private:
  explicit LmdbLogStore(std::shared_ptr<lmdb_internal::Env> env);
  std::shared_ptr<lmdb_internal::Env> env_;
};

}  // namespace vectron::raft
