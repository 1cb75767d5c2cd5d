// ShardStateMachine: the glue between a shard group's committed log entries and a libvectron
// Shard (docs/cluster.md, "Shard groups"). Each entry is a ShardCommand
// (docs/formats/shard-entry.md); applying it calls Shard::Apply with the entry's log index,
// so a replay is skipped and every replica makes the same change at the same index.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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
  bool stale_epoch = false;  // Rejected: routed with another epoch than the group's (a split).
  uint64_t deleted = 0;  // kDeleteWhere: points deleted.
  bool duplicate = false;  // Applied before: status and deleted are the first outcome.
  // The route of the group that first applied the request: this group's, or for a
  // duplicate possibly an ancestor's (a group split off copies its parent's request
  // records). Unset for a rejection as stale, and for records older than routes.
  std::optional<ShardRoute> applied_by;
};

// A shard group's replica. Its shard lives in generations of one directory (docs/cluster.md,
// "Snapshots"): `dir` (generation 0), then `dir.1`, `dir.2`... as snapshots are installed;
// `dir.gen` names the current one. A fetched snapshot is staged in `dir.staging` and
// becomes the next generation when Raft delivers the snapshot; the old generation is
// removed once no read holds it.
class ShardStateMachine final : public StateMachine {
 public:
  // Opens (or creates) the shard in `dir`'s current generation and removes the others and
  // any staged copy. The shard is flushed to disk (Shard::Flush) after every
  // `flush_entries` applied entries: the log is compacted only up to a flushed index.
  // Errors: those of Shard::Open; IOError.
  // `initial` is the route the group's log starts from (FoundingRange, epoch 1), used
  // until the shard records one of its own (at a split, or in an installed copy). Not the
  // map's current route: a replica behind a split must apply the log before it as it was.
  // `split_index` (a group a split made on this worker, at that log index; `initial` is
  // then the new group's route): a shard still at split_index - 1 is the parent's copy the
  // split left; its points outside `initial`'s range are deleted and the route recorded at
  // split_index, in one transaction, before the open returns (docs/cluster.md, "Splits":
  // the parent does not wait for it).
  static Result<std::unique_ptr<ShardStateMachine>> Open(const std::string& dir, const CollectionConfig& config,
                                                         const DatabaseOptions& options, uint64_t flush_entries = 256,
                                                         ShardRoute initial = {0, 0, 1}, uint64_t split_index = 0);
  ~ShardStateMachine() override;

  uint64_t applied_index() const override { return applied_.load(std::memory_order_acquire); }
  // The highest index a linearizable read may be served at: applied_index(), or more while
  // a split applies. A split changes no point, and its apply (the copies) takes seconds: until
  // it switches the route, the shard answers for every index from the split's through the
  // run of entries after it, of the split's term, that change nothing either (a membership
  // change, a command routed with the epoch the split ends). A read served so
  // is checked against the epoch after it ran, as every read is; the worker serves only the
  // reads its leader confirmed (WorkerNode::ServeReads says why). Thread-safe.
  uint64_t readable_index() const {
    return std::max(applied_index(), readable_.load(std::memory_order_acquire));
  }
  // While a split applies, extends readable_index() over `entries` (committed, the first at
  // readable_index() + 1; the group's log on the loop thread) as far as they change
  // nothing either: entries committed during the split's copies are writes routed with the
  // epoch it ends. Returns readable_index(). Does nothing once everything up to
  // readable_index() has applied.
  uint64_t ExtendReadable(const std::vector<raft::Entry>& entries);
  // The epoch a split being applied ends (0: none): every command routed with it that is
  // proposed now will be refused as stale when it applies. Thread-safe.
  uint64_t splitting_epoch() const {
    return applied_index() < readable_.load(std::memory_order_acquire) ? readable_epoch_.load(std::memory_order_acquire)
                                                                       : 0;
  }
  uint64_t durable_applied_index() const override { return durable_.load(std::memory_order_acquire); }
  Status Apply(const std::vector<raft::Entry>& entries) override;
  // A descriptor (format and index, docs/formats/shard-snapshot.md); the data is fetched.
  Result<std::string> SnapshotData(uint64_t index) override;
  // True once a staged copy at or past the snapshot's index is here, or the shard already
  // is there; otherwise asks for a fetch from `from` (set_fetch) and answers false. A copy
  // past the index whose term and membership its sender gave turns `m` into a snapshot at
  // the copy's index (docs/cluster.md, "Snapshots"), so that Raft does not re-deliver the
  // entries the copy already holds.
  bool SnapshotReady(const NodeId& from, raft::Message* m) override;
  // Makes the staged copy the shard (no graph rebuild), or does nothing if the shard is
  // already at the snapshot's index. Errors: FailedPrecondition (a foreign descriptor, no
  // staged copy), those of Shard::Open, IOError: fatal for the node.
  Status InstallSnapshot(const raft::Snapshot& snap) override;

  // Where a fetched copy is written (SnapshotFetcher's staging directory).
  std::string staging_dir() const { return base_ + ".staging"; }
  // A complete, fsynced copy at `index` is in staging_dir(), and `term` is the term of its
  // sender's log entry `index` with membership `conf` there (term 0: not known). Loop thread.
  void SetStaged(uint64_t index, uint64_t term = 0, raft::ConfState conf = {});
  // Called (loop thread) when a snapshot needs a copy fetched from `from` at or past `index`.
  void set_fetch(std::function<void(const NodeId& from, uint64_t index)> fetch) { fetch_ = std::move(fetch); }
  // Makes a snapshot copy of the shard in `dest` (Shard::SnapshotTo); its applied index.
  // Thread-safe.
  Result<uint64_t> SnapshotTo(const std::string& dest) const { return shard()->SnapshotTo(dest); }

  // Splits (docs/cluster.md, "Splits"), called from the apply task (executor thread):
  // `exists` says whether the new group is already on this worker (the split was applied
  // before a crash); `staging` is where to build its shard; `found` makes the built shard
  // the new group's, durably, before the parent drops its half (the worker writes its
  // group.meta, moves the directory into place and opens the group on its loop);
  // `readable` (may be empty) says that readable_index() moved past applied_index() as the
  // split's apply began (the worker serves the reads waiting for it).
  struct SplitHooks {
    std::function<bool(uint64_t new_group)> exists;
    std::function<std::string(uint64_t new_group)> staging;
    std::function<Status(const ShardSplit& split, uint64_t index, const std::string& built)> found;
    std::function<void()> readable;
  };
  void set_split_hooks(SplitHooks hooks) { split_hooks_ = std::move(hooks); }
  // The group's current route (range and epoch). Thread-safe.
  ShardRoute route() const;
  uint64_t epoch() const { return route().epoch; }

  // The outcomes of commands applied since the last call, in log order (only those with a
  // request id). Call on the loop thread after the group's apply task finished.
  std::vector<ShardOutcome> TakeOutcomes();
  // The shard, for reads (thread-safe); shared so that a read in flight keeps it open,
  // also across a snapshot install.
  std::shared_ptr<Shard> shard() const;
  // The replica is being dropped: its shard, and any generation an apply still running
  // opens, write no index file from now on (Shard::Discard). Any thread.
  void Discard();
  // Snapshots installed since the state machine was opened.
  uint64_t snapshots_installed() const { return installed_.load(std::memory_order_acquire); }

 private:
  ShardStateMachine(std::string base, CollectionConfig config, DatabaseOptions options, uint64_t flush_entries);
  // The directory of generation `gen`.
  std::string GenerationDir(uint64_t gen) const;
  // Opens generation `gen` as the shard, replacing the current one, whose directory is
  // removed when its last reader lets go. With `commit`, `dir.gen` is made to name `gen`
  // after the open and before the replacement.
  Status OpenGeneration(uint64_t gen, bool commit);
  // Applies one normal entry's command at `index`, as decoded by Apply (nullptr: the bytes
  // do not decode). Errors only for failures that are not the command's fault (I/O, disk
  // full): the node must stop.
  Status ApplyCommand(Shard& shard, uint64_t index, const ShardCommand* decoded);
  // Flushes the shard if `flush_entries_` entries were applied since the last flush.
  Status MaybeFlush(Shard& shard);
  // Applies a split at `index` (see ShardSplit).
  Status ApplySplit(Shard& shard, const ShardCommand& cmd, uint64_t index);
  // Whether `cmd` splits the current route (else ApplySplit only moves the index).
  bool SplitsRoute(const ShardCommand& cmd) const;
  // The last index of the run of entries from entries[pos] on that change no point once a
  // split of epoch `split_epoch` has applied (see readable_index()); `before` if
  // entries[pos] does (or there is none).
  static uint64_t NoOpRunEnd(const std::vector<raft::Entry>& entries, size_t pos, uint64_t split_epoch,
                             uint64_t split_term, uint64_t before);
  // Takes the route recorded in the current shard, if it has one.
  Status LoadRoute(const Shard& shard);
  // Open's work on a split's copy (see Open).
  Status FinishSplitCopy(uint64_t split_index, const ShardRoute& route);

  const std::string base_;
  const CollectionConfig config_;
  const DatabaseOptions options_;
  const uint64_t flush_entries_;
  uint64_t generation_ = 0;  // Executor task (or Open) only.
  mutable std::mutex shard_mu_;
  std::shared_ptr<Shard> shard_;  // GUARDED_BY(shard_mu_); replaced by installs only.
  std::shared_ptr<std::atomic<bool>> retired_;  // Set: shard_'s directory goes with it.
  // Set by Discard (under shard_mu_): a generation opened later is discarded too, and no
  // retired generation's directory is removed when let go (the drop removed them all, and
  // the path may be a group's created here again since).
  std::shared_ptr<std::atomic<bool>> dropped_ = std::make_shared<std::atomic<bool>>(false);
  std::atomic<uint64_t> applied_{0};
  std::atomic<uint64_t> readable_{0};  // See readable_index().
  std::atomic<uint64_t> readable_epoch_{0};  // The epoch of the split that set readable_,
  std::atomic<uint64_t> readable_term_{0};   // and its log entry's term.
  std::atomic<uint64_t> durable_{0};
  std::atomic<uint64_t> staged_{0};  // Index of the complete staged copy; 0: none.
  uint64_t staged_term_ = 0;         // Its term and membership (loop thread; term 0: unknown).
  raft::ConfState staged_conf_;
  std::atomic<uint64_t> installed_{0};
  std::function<void(const NodeId&, uint64_t)> fetch_;  // Loop thread.
  SplitHooks split_hooks_;
  mutable std::mutex route_mu_;
  ShardRoute route_;  // GUARDED_BY(route_mu_)
  std::mutex outcomes_mu_;
  std::vector<ShardOutcome> outcomes_;  // GUARDED_BY(outcomes_mu_)
};

}  // namespace vectron::net::cluster
