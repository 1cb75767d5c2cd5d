// GroupLogStore: the Raft logs of every group a node hosts, in one store, written once per
// loop. RaftHost collects the persist step of every group's Ready into one Write, so a
// worker with hundreds of groups pays one durable write (one fsync) per loop.
//
// Implementations: LmdbGroupLogStore (below; the daemons) and tests/sim's SimLogStore
// (MemoryStorage per group; a crash loses whatever was not yet written).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/lmdb_storage.h"
#include "raft/storage.h"

namespace vectron::net::cluster {

// One write to one group's log.
struct GroupWrite {
  enum class Kind : uint8_t {
    kSave,            // entries (overwriting any held suffix) and, if set, the hard state
    kApplySnapshot,   // a snapshot received from the leader (Ready::snapshot)
    kCreateSnapshot,  // compaction: snapshot.metadata.{index, conf_state}, snapshot.data
  };
  Kind kind = Kind::kSave;
  uint64_t group = 0;
  std::vector<raft::Entry> entries;     // kSave
  std::optional<raft::HardState> hs;    // kSave
  raft::Snapshot snapshot;              // kApplySnapshot, kCreateSnapshot
  uint64_t durable_applied_index = 0;   // kCreateSnapshot (LogStorage::CreateSnapshot)
};

class GroupLogStore {
 public:
  virtual ~GroupLogStore() = default;
  // The log of `group` (empty if never written; if dropped before, empty but for the term
  // and vote DropGroup kept), for RawNode::Create. The pointer stays
  // valid until DropGroup(group) or the store is destroyed. Opening an open group returns
  // the same pointer. Errors: Io, Corruption.
  virtual raft::Status OpenGroup(uint64_t group, raft::LogStorage** out) = 0;
  // Applies `writes` in order, atomically (all or nothing) and durably (one sync), then
  // clears it. Every group must have been opened. Errors: those of raft::LmdbLogStore::Write.
  virtual raft::Status Write(std::vector<GroupWrite>& writes) = 0;
  // Ids of every group with anything stored, ascending.
  virtual raft::Status ListGroups(std::vector<uint64_t>* out) = 0;
  // Deletes everything of `group` and closes its handle (a replica removed from this node),
  // atomically keeping its term and vote (a tombstone): if the group is opened here again,
  // its initial hard state is that term and vote with commit 0, so the node never goes back
  // in term nor votes twice in one term (docs/raft.md, "Dropped replicas").
  virtual raft::Status DropGroup(uint64_t group) = 0;
};

// The durable store: one raft::LmdbLogStore (one LMDB environment) for all groups.
// Not thread-safe: the Raft loop thread owns it.
class LmdbGroupLogStore final : public GroupLogStore {
 public:
  // Opens or creates the store in `dir`. Errors: those of raft::LmdbLogStore::Open.
  static raft::Status Open(const std::string& dir, const raft::LmdbStorageOptions& options,
                           std::unique_ptr<LmdbGroupLogStore>* out);
  raft::Status OpenGroup(uint64_t group, raft::LogStorage** out) override;
  raft::Status Write(std::vector<GroupWrite>& writes) override;
  raft::Status ListGroups(std::vector<uint64_t>* out) override;
  raft::Status DropGroup(uint64_t group) override;

 private:
  explicit LmdbGroupLogStore(std::unique_ptr<raft::LmdbLogStore> store) : store_(std::move(store)) {}
  std::unique_ptr<raft::LmdbLogStore> store_;
  std::map<uint64_t, std::unique_ptr<raft::LmdbStorage>> groups_;
};

}  // namespace vectron::net::cluster
