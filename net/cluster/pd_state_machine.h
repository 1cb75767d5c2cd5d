// PdStateMachine: the placement driver's replicated state (docs/cluster.md, "Placement
// driver"): workers, collections and their shard groups, auth records, and a bounded table
// of recent request ids so a retried command applies once. Its snapshot is the whole state
// (it is small), so its durable applied index is its applied index.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "net/cluster/cluster_map.h"
#include "net/cluster/messages.h"
#include "net/cluster/raft_host.h"
#include "net/cluster/shard_command.h"

namespace vectron::net::cluster {

// One PD log entry. Format: docs/formats/pd-command.md.
// (AuthChange is in messages.h: gateways send the same changes.)
struct PdCommand {
  // Persisted: values never change.
  enum class Kind : uint8_t {
    kRegisterWorker = 1,    // worker, addr: add or update a worker
    kCreateCollection = 2,  // name, config_json, replication, placement (replicas per shard), addr (metadata)
    kDropCollection = 3,    // name
    kAuthWrite = 4,         // auth_changes, all or nothing; if_version
    kRenameCollection = 5,  // name -> addr (the new name): one map change
    kSetCollectionMetadata = 6,  // name, addr (the metadata, "" to remove)
    kSetDefaultRerank = 7,       // name, addr (the default rerank pipeline, canonical JSON; "" to remove)
    // worker (the group id), placement[0] (the target voters; empty: cancel the move).
    kSetGroupTarget = 8,
    // worker (the group id), placement = {voters, learners}, if_version (the group log index
    // of that membership): record a group's membership its leader reported, if newer.
    kSetGroupConf = 9,
    // worker (the group), if_version (the cut): start splitting the group's range there into
    // a new group (allocated here), not routed to until kFinishSplit.
    kStartSplit = 10,
    // worker (the new group), if_version (the parent's epoch after the split): the parent
    // applied the split; the new group is routed to.
    kFinishSplit = 11,
  };
  Kind kind = Kind::kRegisterWorker;
  RequestId request;
  uint64_t worker = 0;
  std::string addr;
  std::string name;
  std::string config_json;
  uint32_t replication = 0;
  std::vector<std::vector<uint64_t>> placement;
  std::vector<AuthChange> auth_changes;
  // Auth writes apply only if the auth records are at this version (0: unconditionally),
  // so a read-check-write in the auth layer (e.g. "not the last admin") is atomic.
  uint64_t if_version = 0;
};

std::string EncodePdCommand(const PdCommand& cmd);
// Errors: Corruption naming the problem.
Status DecodePdCommand(std::string_view data, PdCommand* out);

struct PdOutcome {
  RequestId request;
  uint64_t index = 0;
  Status status;
};

// Collection names: 1-64 of [A-Za-z0-9_-] (as Database::CreateCollection).
bool ValidCollectionName(std::string_view name);
// Collection metadata as the PD stores it: "" or JSON-object text of at most
// kMaxCollectionMetadataBytes (as `vectron serve`'s). Errors: InvalidArgument.
inline constexpr size_t kMaxCollectionMetadataBytes = 64 << 10;
Status CheckCollectionMetadata(std::string_view metadata);

// Applied by the PD group's Raft loop (an inline executor): all methods on the loop thread.
class PdStateMachine final : public StateMachine {
 public:
  // Recent request ids remembered for deduplication.
  static constexpr size_t kRecentRequests = 4096;

  uint64_t applied_index() const override { return applied_; }
  uint64_t durable_applied_index() const override { return applied_; }
  Status Apply(const std::vector<raft::Entry>& entries) override;
  // REQUIRES: index == applied_index().
  Result<std::string> SnapshotData(uint64_t index) override;
  Status InstallSnapshot(const raft::Snapshot& snap) override;

  // The replicated map (liveness and leader hints are left at their defaults).
  const ClusterMap& map() const { return map_; }
  // Auth records and their version (bumped by every auth write).
  const std::map<std::string, std::string>& auth() const { return auth_; }
  uint64_t auth_version() const { return auth_version_; }
  std::vector<PdOutcome> TakeOutcomes();

 private:
  // Applies `cmd` at `index`; the status is the outcome (deterministic).
  Status Execute(const PdCommand& cmd, uint64_t index);

  uint64_t applied_ = 0;
  ClusterMap map_;
  uint64_t next_group_id_ = 1;
  std::map<std::string, std::string> auth_;
  uint64_t auth_version_ = 0;
  // (client, seq) -> outcome, and the same keys oldest first (the bound).
  std::map<std::pair<uint64_t, uint64_t>, Status> recent_;
  std::deque<std::pair<uint64_t, uint64_t>> recent_order_;
  std::vector<PdOutcome> outcomes_;
};

}  // namespace vectron::net::cluster
