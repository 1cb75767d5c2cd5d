// ShardStateMachine: the glue between a shard group's committed log entries and a libvectron
// Shard (docs/cluster.md, "Shard groups"). Each entry is a ShardCommand
// (docs/formats/shard-entry.md); applying it calls Shard::Apply with the entry's log index,
// so a replay is skipped and every replica makes the same change at the same index.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/cluster/raft_host.h"
#include "net/cluster/shard_command.h"
#include "vectron/options.h"
#include "vectron/shard.h"

namespace vectron::net::cluster {

// What became of one applied command, for the replica that proposed it.
struct ShardOutcome {
  RequestId request;
  uint64_t index = 0;
  Status status;         // OK, or why the command was rejected (deterministic, on every replica).
  uint64_t deleted = 0;  // kDeleteWhere: points deleted.
  bool duplicate = false;  // Applied before: status and deleted are the first outcome.
};

class ShardStateMachine final : public StateMachine {
 public:
  // Opens (or creates) the shard in `dir`. Errors: those of Shard::Open.
  static Result<std::unique_ptr<ShardStateMachine>> Open(const std::string& dir, const CollectionConfig& config,
                                                         const DatabaseOptions& options);
  ~ShardStateMachine() override;

  uint64_t applied_index() const override { return applied_.load(std::memory_order_acquire); }
  uint64_t durable_applied_index() const override { return applied_index(); }
  Status Apply(const std::vector<raft::Entry>& entries) override;
  Result<std::string> SnapshotData(uint64_t index) override;
  Status InstallSnapshot(const raft::Snapshot& snap) override;

  // The outcomes of commands applied since the last call, in log order (only those with a
  // request id). Call on the loop thread after the group's apply task finished.
  std::vector<ShardOutcome> TakeOutcomes();
  // The shard, for reads (thread-safe); shared so that a read in flight keeps it open.
  std::shared_ptr<Shard> shard() const { return shard_; }

 private:
  ShardStateMachine(std::shared_ptr<Shard> shard, uint64_t applied);
  // Applies one normal entry's command at `index`. Errors only for failures that are not
  // the command's fault (I/O, disk full): the node must stop.
  Status ApplyCommand(const raft::Entry& e);

  std::shared_ptr<Shard> shard_;
  std::atomic<uint64_t> applied_{0};
  std::mutex outcomes_mu_;
  std::vector<ShardOutcome> outcomes_;  // GUARDED_BY(outcomes_mu_)
};

}  // namespace vectron::net::cluster
