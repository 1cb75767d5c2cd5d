// Internal to raft/lmdb_*.cc: the LMDB environment shared by a log store and its group
// handles, the key and value codecs of the format (docs/formats/raft-log.md), and the read
// and write steps every public entry point is built from. Not part of the public API.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "raft/types.h"

namespace vectron::raft {

struct LmdbStorageOptions;

namespace lmdb_internal {

// The environment and its databases. Owned jointly by an LmdbLogStore and the LmdbStorage
// handles opened from it (or by the one handle of LmdbStorage::Open), so it lives as long as
// any of them; single-threaded like they are.
struct Env {
  MDB_env* env = nullptr;
  MDB_dbi log = 0;
  MDB_dbi meta = 0;
  MDB_dbi tombstones = 0;  // The (term, vote) of each dropped group (docs/formats/raft-log.md).
  MDB_dbi tombstone_ends = 0;  // Where each dropped group's log ended (the same document).
  std::string dir;
  std::set<uint64_t> open_groups;  // Groups with a live handle (one handle per group).
  Env() = default;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env() {
    if (env) mdb_env_close(env);
  }
};

// What a group handle caches of its group: exactly what is committed.
struct GroupState {
  HardState hs;
  SnapshotMetadata snap;
  uint64_t last = 0;  // Last entry index, or snap.index if the log is empty.
  // The group has a tombstone (it was dropped here before); the first write that leaves
  // its log non-empty (entries or a snapshot) deletes it in the same transaction. Not the
  // same as "hs came from the tombstone".
  bool tombstone = false;
  // The tombstone's record of where the group's log ended when it was dropped
  // (Storage::DroppedLogEnd); Unknown if it has none.
  LogEnd dropped_end = LogEnd::Unknown();
};

// OK for rc == 0, else Io with `what` and LMDB's text.
Status FromMdb(int rc, const char* what);

// RAII transaction: aborts unless committed (committing consumes it).
class Txn {
 public:
  Txn() = default;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() {
    if (txn_) mdb_txn_abort(txn_);
  }
  Status Begin(MDB_env* env, bool write) {
    return FromMdb(mdb_txn_begin(env, nullptr, write ? 0 : MDB_RDONLY, &txn_), "mdb_txn_begin");
  }
  Status Commit() {
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;  // Gone whether or not the commit succeeded.
    return FromMdb(rc, "mdb_txn_commit");
  }
  MDB_txn* get() { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

// Opens (creating if missing) the environment in `dir`, its databases and format record.
// Errors: Io; Corruption for a store of another format.
Status OpenEnv(const std::string& dir, const LmdbStorageOptions& options, std::shared_ptr<Env>* out);

// Reads what is committed for `group` (empty state for a group never written). A group with
// no hard_state but a tombstone (dropped here before) gets the tombstone's term and vote,
// commit 0; a tombstone of a higher term than the hard_state's also wins (a store written by
// a version that did not know tombstones).
// Errors: Io; Corruption if metadata or the tombstone does not decode or the log does not
// start right after the snapshot.
Status LoadGroup(Env& env, uint64_t group, GroupState* out);

// Storage::Entries and Storage::Term for `group`, whose committed state is `st`.
Status ReadEntries(Env& env, uint64_t group, const GroupState& st, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                   std::vector<Entry>* out);
Status ReadTerm(Env& env, uint64_t group, const GroupState& st, uint64_t i, uint64_t* term);
// The group's snapshot bytes (empty if none).
Status ReadSnapshotData(Env& env, uint64_t group, std::string* out);

// Write steps inside a write transaction. Each validates against `st` (the group's state as
// of the earlier steps of the same transaction) and updates it; on error the caller aborts.
Status SaveIn(Env& env, MDB_txn* txn, uint64_t group, GroupState& st, const std::vector<Entry>& entries,
              const HardState* hs);
Status ApplySnapshotIn(Env& env, MDB_txn* txn, uint64_t group, GroupState& st, const Snapshot& snap);
Status CreateSnapshotIn(Env& env, MDB_txn* txn, uint64_t group, GroupState& st, uint64_t index, const ConfState& cs,
                        const std::string& data, uint64_t durable_applied_index);
// Deletes every key of `group` and leaves its tombstone: the term and vote of its hard_state,
// or of its earlier tombstone if that one's term is higher (or it has no hard_state), and
// where its log ended (its last entry, or its snapshot; the earlier tombstone's if later).
Status DropGroupIn(Env& env, MDB_txn* txn, uint64_t group);
// Ids of every group with a key in either database, ascending.
Status ListGroups(Env& env, std::vector<uint64_t>* out);

}  // namespace lmdb_internal
}  // namespace vectron::raft
