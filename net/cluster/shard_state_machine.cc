#include "net/cluster/shard_state_machine.h"

namespace vectron::net::cluster {

Result<std::unique_ptr<ShardStateMachine>> ShardStateMachine::Open(const std::string& dir,
                                                                   const CollectionConfig& config,
                                                                   const DatabaseOptions& options) {
  VECTRON_ASSIGN_OR_RETURN(std::unique_ptr<Shard> shard, Shard::Open(dir, config, options));
  // An LMDB error stops the open rather than read as "index 0" (which would have Raft
  // hand the whole log to a shard that has applied it).
  VECTRON_ASSIGN_OR_RETURN(uint64_t applied, shard->applied_index());
  return std::unique_ptr<ShardStateMachine>(new ShardStateMachine(std::move(shard), applied));
}

ShardStateMachine::ShardStateMachine(std::shared_ptr<Shard> shard, uint64_t applied) : shard_(std::move(shard)) {
  applied_.store(applied, std::memory_order_release);
}

ShardStateMachine::~ShardStateMachine() = default;

Status ShardStateMachine::Apply(const std::vector<raft::Entry>& entries) {
  for (const raft::Entry& e : entries) {
    if (e.index <= applied_index()) continue;
    if (e.type == raft::EntryType::kNormal && !e.data.empty()) {
      VECTRON_RETURN_IF_ERROR(ApplyCommand(e));
    } else {
      // A leader's no-op or a membership change: only the index advances (replays skip it).
      VECTRON_RETURN_IF_ERROR(shard_->Apply(WriteBatch{}, e.index));
    }
    applied_.store(e.index, std::memory_order_release);
  }
  return Status::OK();
}

Status ShardStateMachine::ApplyCommand(const raft::Entry& e) {
  ShardCommand cmd;
  ShardOutcome out;
  out.index = e.index;
  Status decoded = DecodeShardCommand(e.data, &cmd);
  if (!decoded.ok()) {
    // Every replica holds the same bytes and refuses them the same way: record the index
    // so that replicas stay at the same applied index.
    VECTRON_RETURN_IF_ERROR(shard_->Apply(WriteBatch{}, e.index));
    return Status::OK();
  }
  // The shard records the index and the request's outcome with the command, in one
  // transaction; a request it applied before is answered with the first outcome.
  VECTRON_ASSIGN_OR_RETURN(LoggedOutcome o, shard_->ApplyLogged(cmd, e.index, cmd.request));
  if (o.replay) return Status::OK();
  out.request = cmd.request;
  out.status = std::move(o.status);
  out.deleted = o.deleted;
  out.duplicate = o.duplicate;
  if (!out.request.empty()) {
    std::lock_guard lock(outcomes_mu_);
    outcomes_.push_back(std::move(out));
  }
  return Status::OK();
}

std::vector<ShardOutcome> ShardStateMachine::TakeOutcomes() {
  std::vector<ShardOutcome> out;
  std::lock_guard lock(outcomes_mu_);
  out.swap(outcomes_);
  return out;
}

Result<std::string> ShardStateMachine::SnapshotData(uint64_t index) {
  return Status::FailedPrecondition("shard snapshots at index " + std::to_string(index) + " are not supported yet");
}

Status ShardStateMachine::InstallSnapshot(const raft::Snapshot& snap) {
  if (snap.data.empty()) {
    // The bootstrap snapshot of a new group: an empty shard at its index.
    VECTRON_RETURN_IF_ERROR(shard_->Apply(WriteBatch{}, snap.metadata.index));
    applied_.store(std::max(applied_index(), snap.metadata.index), std::memory_order_release);
    return Status::OK();
  }
  return Status::FailedPrecondition("installing shard snapshots is not supported yet");
}

}  // namespace vectron::net::cluster
