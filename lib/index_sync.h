// IndexSync: keeps a shard's IndexCache in step with its ShardStore. It catches the
// cache up after commits (this process's and other processes'), rebuilds it when it
// cannot catch up, saves and loads its checkpoints (docs/durability.md), compacts it,
// and owns the write lock that serialises all of that, and this process's LMDB writers,
// within the process (LMDB serialises the commits themselves across processes).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "index_cache.h"
#include "shard_store.h"
#include "storage/lmdb.h"
#include "util/files.h"
#include "util/mutex.h"
#include "vectron/options.h"

namespace vectron {

class IndexSync {
 public:
  // REQUIRES: store, cache and options outlive this object.
  IndexSync(ShardStore& store, IndexCache& cache, const DatabaseOptions& options)
      : store_(store), cache_(cache), options_(options) {}
  IndexSync(const IndexSync&) = delete;
  IndexSync& operator=(const IndexSync&) = delete;

  // The write lock.
  Mutex& mu() ABSL_LOCK_RETURNED(mu_) { return mu_; }

  // Holds the write lock for a writer of this process (a batch, an index build, a
  // compaction) and counts it meanwhile, so that a search that finds the index behind
  // LMDB does not queue behind it (the writer catches up itself).
  class ABSL_SCOPED_LOCKABLE LocalWriter {
   public:
    explicit LocalWriter(IndexSync& s) ABSL_EXCLUSIVE_LOCK_FUNCTION(s.mu_) : s_(s) {
      s_.local_writers_.fetch_add(1);
      s_.mu_.Lock();
    }
    ~LocalWriter() ABSL_UNLOCK_FUNCTION() {
      s_.mu_.Unlock();
      s_.local_writers_.fetch_sub(1);
    }
    LocalWriter(const LocalWriter&) = delete;
    LocalWriter& operator=(const LocalWriter&) = delete;

   private:
    IndexSync& s_;
  };

  // At open: loads the saved checkpoint if it is usable, else rebuilds the index from
  // LMDB (reporting to options.progress), then catches up.
  Status Start() ABSL_LOCKS_EXCLUDED(mu_);
  // Makes the cache reflect the latest committed LMDB state.
  Status CatchUp() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // CatchUp after a commit whose change-log entry (seq `seq`) only removed `labels` from
  // what reads see (Shard::ApplyRoute's hide): when the cache is at seq - 1, they leave it
  // at once, without reading their records (a hide of 100k points would read 100k
  // records, most on pages this process never mapped); else as CatchUp. Removals do not
  // count toward the next checkpoint (replaying them is as cheap as this).
  Status CatchUpRemoved(std::vector<uint64_t> labels, uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // CatchUp for readers: a no-op when no commit happened since the last catch-up, and
  // when this process's own writer holds the lock (it catches up itself).
  Status MaybeRefresh() ABSL_LOCKS_EXCLUDED(mu_);
  // CatchUp under the lock.
  Status Refresh() ABSL_LOCKS_EXCLUDED(mu_);
  // Saves a checkpoint now if the graph changed since the last one. Holds mu_ (writers)
  // only while the graph is written (or copied, by `hold`), not while it is made durable
  // (index_checkpoint.cc).
  Status Checkpoint(CheckpointHold hold) ABSL_LOCKS_EXCLUDED(mu_);
  // An automatic checkpoint is due and was left to the owner (background_checkpoints).
  bool checkpoint_due() const { return checkpoint_due_.load(std::memory_order_acquire); }
  // A copy of the graph in memory at the seq it has reached, for a copy of the shard
  // (OfferGraph); nullopt for a flat index (a copy builds that from its data).
  Result<std::optional<HandedGraph>> CloneGraph() ABSL_LOCKS_EXCLUDED(mu_);
  // At close: saves a checkpoint (errors are printed) and flushes LMDB when commits
  // were not synced.
  void Close() ABSL_LOCKS_EXCLUDED(mu_);
  // The shard's files are being deleted (a dropped replica): from now on no checkpoint is
  // written, on close or otherwise (the directory's path may soon be another shard's).
  void Discard() { discarded_.store(true, std::memory_order_release); }

  // Rebuilds the graph from an LMDB snapshot without holding the lock, then under it
  // applies the batches committed meanwhile, swaps it in (searches see the old graph or
  // the new one, never a mix) and saves a checkpoint. No-op for a flat index.
  // `progress` may stop it (Cancelled, nothing changed). With kIdle the rebuild runs on
  // idle-priority threads (RunAtIdlePriority); the swap on the caller's. Defined in
  // compact.cc.
  Status CompactIndex(const ProgressFn& progress, CompactPriority priority) ABSL_LOCKS_EXCLUDED(mu_);
  // Rewrites the LMDB file compactly (LmdbEnv::CompactFiles) with this process's
  // writers held. Errors: FailedPrecondition if another process has the shard open.
  Status CompactFiles() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  unsigned threads() const;
  // True if no write transaction committed since the last catch-up.
  bool CaughtUp() const { return store_.env().LastTxnId() == seen_txnid_.load(); }

  // CatchUp's steps.
  // Reloads the payload state if a payload index was created or dropped (maybe by
  // another process); labels synced afterwards are applied on top.
  Status SyncPayloadDefinitions(const storage::ReadTxn& rt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After `n` changes reached the cache: turns an outgrown flat index into a graph, and
  // saves a checkpoint when checkpoint_every_ops changes have accumulated.
  Status AfterChanges(const storage::ReadTxn& rt, uint64_t seq, uint64_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Builds a fresh index (flat or graph by size) from snapshot `rt` and installs it.
  Status RebuildIndex(const storage::ReadTxn& rt, uint64_t seq, const char* reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Inserts every point of `rt` (n of them) into `index`; returns label → id.
  // `progress` (may be empty) stops it with Cancelled(`cancelled`).
  Result<std::vector<std::string>> FillIndex(Index& index, const storage::ReadTxn& rt, uint64_t n,
                                             const std::string& stage, const ProgressFn& progress,
                                             const char* cancelled) const;
  // Replaces the cache's payload state with snapshot `rt`'s.
  Status LoadPayload(const storage::Txn& txn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Checkpoints (index_checkpoint.cc). Loads the graph handed over in memory for this
  // copy (TakeGraph), or else the one index.meta names, if it is whole and the change log
  // reaches back to it; else says why not in `why_not`.
  Status LoadCheckpoint(std::string* why_not) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Installs `g` if the change log reaches back to its seq.
  Status InstallHanded(HandedGraph g, std::string* why_not) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Saves the graph (temp, fsync, checksum, rename, index.meta) if it changed.
  Status SaveCheckpoint() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteCheckpoint(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A checkpoint in two parts: the graph written to a temporary file (under mu_: the
  // graph cannot change meanwhile), then made durable and named (no mu_ needed).
  struct CheckpointWrite {
    FileLock lock;      // checkpoint.lock, held until the checkpoint is named
    std::string file;   // Its final name in the shard's directory.
    uint64_t seq = 0;
    uint64_t count = 0;
    uint64_t ops = 0;   // ops_since_checkpoint_ when written.
  };
  // Nothing (nullopt) if the graph is saved already, or is no graph.
  Result<std::optional<CheckpointWrite>> WriteCheckpointGraph() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // WriteCheckpointGraph's first part: the checks, checkpoint.lock and the file's name
  // (count 0: nothing written yet).
  Result<std::optional<CheckpointWrite>> StartCheckpoint() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // False if there is nothing to save: no graph, a discarded shard, or the graph saved at
  // its seq already (StartCheckpoint's first check).
  bool CheckpointWanted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status FinishCheckpoint(const CheckpointWrite& w) const;

  ShardStore& store_;
  IndexCache& cache_;
  const DatabaseOptions& options_;

  Mutex mu_;
  // How many of this process's writers hold or wait for mu_. A search that finds the
  // index behind LMDB waits for mu_ only when this is 0, i.e. when the holder is
  // another search catching up on other processes' commits.
  std::atomic<int> local_writers_{0};
  std::atomic<uint64_t> seen_txnid_{0};                    // LMDB txn id last caught up to
  uint64_t checkpoint_seq_ ABSL_GUARDED_BY(mu_) = 0;        // seq of the saved graph
  uint64_t ops_since_checkpoint_ ABSL_GUARDED_BY(mu_) = 0;
  bool force_checkpoint_ ABSL_GUARDED_BY(mu_) = false;      // save even if seq is unchanged
  std::atomic<bool> discarded_{false};
  std::atomic<bool> checkpoint_due_{false};  // See checkpoint_due().
};

}  // namespace vectron
