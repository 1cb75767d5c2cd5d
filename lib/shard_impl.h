// ShardImpl: the Shard behind the public interface, and the operations the rest of lib/
// (Collection, compaction, backup) needs of a shard. It is three parts:
//   ShardStore  (shard_store.h)  the LMDB environment: the source of truth;
//   IndexCache  (index_cache.h)  the in-memory index, label → id and payload state;
//   IndexSync   (index_sync.h)   keeps the cache in step with the store (catch-up,
//                                rebuilds, checkpoints, compaction) and owns the write
//                                lock that serialises this process's writers.
// The write path (shard_write.cc) commits a batch to the store, then has IndexSync
// catch the cache up. The read paths (shard.cc) read the store and search the cache.
#pragma once

#include <atomic>
#include <functional>
#include <utility>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "filter/filter.h"
#include "index_cache.h"
#include "index_sync.h"
#include "shard_store.h"
#include "vectron/feedback.h"
#include "vectron/shard.h"

namespace vectron {

// Thread-safety: as Shard; every method may be called from any thread.
class ShardImpl final : public Shard {
 public:
  // As Shard::Open.
  static Result<std::unique_ptr<ShardImpl>> Open(const std::string& dir, const CollectionConfig& config,
                                                 const DatabaseOptions& options);
  // Saves an index checkpoint unless SkipCheckpointOnClose was called.
  ~ShardImpl() override;

  // --- Shard (see vectron/shard.h).
  Status Apply(const WriteBatch& batch, uint64_t log_index) override;
  Result<uint64_t> ApplyRoute(const ShardRoute& route, uint64_t log_index) override;
  Result<uint64_t> DropHidden(size_t max_points) override;
  bool HasHiddenPoints() const override { return store_.hidden().has_value(); }
  Result<ShardRoute> Route() const override;
  using Shard::ApplyLogged;
  Result<LoggedOutcome> ApplyLogged(const LoggedCommand& cmd, uint64_t log_index, const RequestId& request,
                                    const std::optional<ShardRoute>& applied_by) override;
  Result<std::vector<Hit>> Search(std::span<const float> query, const SearchParams& params) const override;
  // Many queries (rows laid end to end) at once, each answered as Search answers it. An
  // exact search, or any search of a flat shard, makes one pass over the vectors for
  // all of them (IndexCache::SearchBatchExact); others run one by one.
  // Errors: as Search's, naming the query (numbered from `first_query`).
  Result<std::vector<std::vector<Hit>>> SearchBatch(std::span<const float> queries, const SearchParams& params,
                                                    size_t first_query = 0) const;
  // True if this shard's searches are exact whatever the options (a flat index).
  bool always_exact() const { return cache_.always_exact(); }
  // Begins the snapshot a filter reads metadata from (`*rt`) and its loader.
  Status BeginMetadataRead(std::optional<storage::ReadTxn>* rt, payload::MetadataLoader* load) const;
  Result<std::vector<std::optional<Point>>> Get(std::span<const std::string> ids,
                                                const GetOptions& options) const override;
  Result<uint64_t> Count(std::string_view where) const override;
  Result<ScrollPage> Scroll(std::string_view after, size_t limit, const GetOptions& options,
                            std::string_view where) const override;
  using Shard::Checkpoint;
  Status Checkpoint(CheckpointHold hold) override;
  bool CheckpointDue() const override { return sync_.checkpoint_due(); }
  void Discard() override;
  Result<ShardDataSize> DataSize() const override;
  Result<uint64_t> SnapshotTo(const std::string& dest) override;
  Result<uint64_t> SplitCopyTo(const std::string& dest) override;
  Result<uint64_t> Flush() override;
  Status Refresh() override;
  Result<ShardStats> Stats() const override;
  Result<uint64_t> applied_index() const override;
  const CollectionConfig& config() const override;

  // --- For the rest of lib/.
  // Apply for a batch that ValidateBatch accepted, `metadata` being its canonical
  // metadata per entry. Returns after the LMDB commit and the index catch-up.
  Status ApplyValidated(const WriteBatch& batch, const std::vector<std::string>& metadata, uint64_t log_index);
  // Ids of the live points matching `f`.
  Result<std::vector<std::string>> IdsWhere(const filter::Filter& f) const;
  // As Collection's, for this shard.
  Status CreatePayloadIndex(std::string_view field, PayloadType type);
  Status DropPayloadIndex(std::string_view field);
  Result<std::vector<PayloadIndexInfo>> ListPayloadIndexes() const override;
  // See IndexSync::CompactIndex / CompactFiles.
  Status CompactIndex(const ProgressFn& progress, CompactPriority priority) override {
    return sync_.CompactIndex(progress, priority);
  }
  Status CompactFiles() { return sync_.CompactFiles(); }
  // True if the index is a graph with enough slots of which `deleted_share` or more
  // are deleted, so that a background compaction is worth it.
  bool IndexCompactionDue(double deleted_share) const override;
  // Copies the shard into directory `dest` (created): a fresh checkpoint's graph and
  // a compacted snapshot of the LMDB environment. Writes may continue. `link`: the graph
  // file is a second name of the checkpoint's (for copies that are only read), not a copy
  // of its own. (backup.cc)
  Status CopyTo(const std::string& dest, bool link = false, CheckpointHold hold = CheckpointHold::kWhileWritten);
  // The applied index of the copy in `dest`, after fsyncing the directory.
  Result<uint64_t> FinishCopy(const std::string& dest);
  // Makes closing skip the checkpoint (the files are about to be deleted).
  void SkipCheckpointOnClose() { skip_checkpoint_on_close_.store(true); }
  // Feedback (shard_feedback.cc). Stores `r` (validated, time_ms set) after the LMDB
  // commit. Errors: NotFound (no point r.point_id), those of LMDB.
  Status AddRating(const Rating& r);
  // The rating summaries of `ids` (zero counts for unrated or missing points).
  Result<std::vector<RatingStats>> RatingStatsOf(std::span<const std::string> ids) const override;
  // Every rating whose key is above `after` ("" = every rating), in one snapshot
  // (feedback::ScanAfter).
  Status ScanRatingsAfter(std::string_view after,
                          const std::function<Status(const Rating&, std::string_view key)>& fn) const override;
  // The shard's version: (the change-log seq the in-memory index reflects, once caught
  // up as a search would be; ratings ever committed). Grows with every write and rating
  // that a search can see.
  Result<std::pair<uint64_t, uint64_t>> Version() const;
  // A text under meta `key` ("" if none) and its durable replacement ("" deletes).
  Result<std::string> MetaText(std::string_view key) const;
  Status PutMetaText(std::string_view key, std::string_view text);
  // Flushes the LMDB environment to disk.
  Status Sync() { return store_.env().Sync(true); }
  const std::string& dir() const { return store_.dir(); }

 private:
  ShardImpl(ShardStore store, const DatabaseOptions& options)
      : options_(options), store_(std::move(store)), cache_(store_.config().metric) {}

  // ApplyValidated's steps (shard_write.cc).
  // Writes the batch in one LMDB transaction and commits it; false if nothing was
  // committed (a replayed log index, or a batch that changed nothing).
  Result<bool> CommitBatch(const WriteBatch& batch, const std::vector<std::string>& metadata, uint64_t log_index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_.mu());
  // Writes the points of `batch` into `wt`, with their change-log entry; false if no
  // point changed.
  Result<bool> WritePoints(storage::WriteTxn& wt, const WriteBatch& batch, const std::vector<std::string>& metadata)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_.mu());
  // CreatePayloadIndex / DropPayloadIndex inside `wt` (not committed). Errors as theirs.
  Status CreatePayloadIndexIn(storage::WriteTxn& wt, std::string_view field, PayloadType type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_.mu());
  Status DropPayloadIndexIn(storage::WriteTxn& wt, std::string_view field) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_.mu());
  // AddRating inside `wt` (not committed): the point is checked in `wt`. Errors as
  // AddRating's.
  Status AddRatingIn(storage::WriteTxn& wt, const Rating& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sync_.mu());
  // Trims the change log at `seq`, keeping what a reopen from the last checkpoint and
  // other processes' catch-up need.
  Status TrimChangeLog(storage::WriteTxn& txn, uint64_t seq) const;

  const DatabaseOptions options_;
  ShardStore store_;
  IndexCache cache_;
  // Catching up is what a const reader may have to do first (other processes commit
  // too): it changes the cache, never what the shard holds.
  mutable IndexSync sync_{store_, cache_, options_};
  PayloadSchema schema_ ABSL_GUARDED_BY(sync_.mu());  // as of the last write transaction
  std::atomic<bool> skip_checkpoint_on_close_{false};
};

}  // namespace vectron
