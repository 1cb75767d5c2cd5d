// CollectionImpl: the Collection behind the public interface, and the operations the
// rest of lib/ (Database, backup, compaction) needs of a collection. Not public.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "compact.h"
#include "rerank/result_cache.h"
#include "storage/lmdb.h"
#include "util/mutex.h"
#include "vectron/collection.h"
#include "vectron/shard.h"

namespace vectron {

// A collection directory holds shard-NNNN/ (one LMDB environment each), journal/ (an
// LMDB environment of multi-shard batches not yet applied everywhere) and write.lock.
// Thread-safety: as Collection.
class CollectionImpl final : public Collection {
 public:
  // Opens (creating if missing) the collection stored in `dir`, replaying any
  // multi-shard batch that a crash left half-applied.
  static Result<std::unique_ptr<CollectionImpl>> Open(const std::string& name, const std::string& dir,
                                                      const CollectionConfig& config, const DatabaseOptions& options);
  ~CollectionImpl() override;

  // --- Collection (see vectron/collection.h).
  const std::string& name() const override { return name_; }
  const CollectionConfig& config() const override { return config_; }
  Status Write(const WriteBatch& batch) override;
  Status Upsert(std::span<const Point> points) override;
  Status Delete(std::span<const std::string> ids) override;
  Result<std::vector<Hit>> Search(std::span<const float> query, const SearchParams& params) const override;
  Result<std::vector<std::vector<Hit>>> SearchBatch(std::span<const float> queries, const SearchParams& params,
                                                    unsigned threads) const override;
  // The shards' hits of one query (each shard's first k + offset, in any order) → the
  // collection's: sorted, cut to k + offset, offset skipped and the threshold applied.
  static void MergeShardHits(std::vector<Hit>& all, const SearchParams& params);
  Result<std::vector<std::optional<Point>>> Get(std::span<const std::string> ids,
                                                const GetOptions& options) const override;
  Result<uint64_t> Count(std::string_view where) const override;
  Result<ScrollPage> Scroll(std::string_view cursor, size_t limit, const GetOptions& options,
                            std::string_view where) const override;
  Result<std::vector<Point>> List(std::string_view where, size_t limit, uint64_t offset,
                                  const GetOptions& options) const override;
  Result<uint64_t> DeleteWhere(std::string_view where) override;
  Status CreatePayloadIndex(std::string_view field, PayloadType type) override;
  Status DropPayloadIndex(std::string_view field) override;
  Result<std::vector<PayloadIndexInfo>> ListPayloadIndexes() const override;
  Result<CollectionStats> Stats() const override;
  Status Checkpoint() override;
  Status Compact(const CompactOptions& options) override;  // compact.cc
  uint32_t ShardOf(std::string_view id) const override;
  // Reranking and feedback (collection_rerank.cc).
  Result<RerankedResult> SearchReranked(std::span<const float> query, const SearchParams& params,
                                        const RerankPipeline& pipeline, const RerankOptions& options) const override;
  using Collection::Feedback;
  Status Feedback(const Rating& r) override;
  Result<RatingStats> FeedbackStats(std::string_view point_id) const override;
  Status ExportFeedback(const std::function<Status(const Rating&)>& fn) const override;
  Result<std::string> ExportFeedbackPage(std::string_view cursor, size_t limit,
                                         const std::function<Status(const Rating&)>& fn) const override;
  Status SetDefaultRerank(std::string_view pipeline_json) override;
  Result<std::string> DefaultRerank() const override;
  Result<uint64_t> Version() const override;
  ResultCacheStats CacheStats() const override { return result_cache_.Stats(); }
  size_t shard_count() const override { return shards_.size(); }

  // --- For the rest of lib/. (No accessor hands out a shard: writing to one directly
  // would bypass the journal that keeps multi-shard batches atomic.)
  // Makes closing skip the index checkpoints (the files are about to be deleted).
  void MarkDropped();
  // Flushes every shard environment.
  Status Sync();
  // Copies the collection into `dest` (created; must not exist): each shard's LMDB
  // environment (compacted snapshot), its saved graph when one can be copied, and the
  // journal. A multi-shard collection's writes pause during the copy so the shards
  // agree. Reports to the options' progress. (backup.cc)
  Status Backup(const std::string& dest);

 private:
  CollectionImpl(std::string name, std::string dir, const CollectionConfig& config, const DatabaseOptions& options)
      : name_(std::move(name)), dir_(std::move(dir)), config_(config), options_(options) {}

  // Applies each shard's part of a validated batch with `log_index` (0 = none).
  Status ApplyParts(const WriteBatch& batch, const std::vector<std::string>& metadata, uint64_t log_index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // A validated batch spanning shards (only upserts and deletes): journaled, then
  // applied to each shard. REQUIRES: write.lock held.
  Status WriteSpanning(const WriteBatch& batch, const std::vector<std::string>& metadata)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The batch with every partial update replaced by the whole point it yields (an
  // upsert); `out_meta` its canonical metadata. Errors: NotFound (no such point),
  // InvalidArgument (merged metadata over the limit).
  Status ResolvePartialUpdates(const WriteBatch& batch, const std::vector<std::string>& metadata, WriteBatch* out,
                               std::vector<std::string>* out_meta) const;
  // Completes the multi-shard batches the journal still holds.
  Status ReplayJournal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Backup's copy of every shard and the journal. (backup.cc)
  Status CopyShards(const std::string& dest);

  const std::string name_, dir_;
  const CollectionConfig config_;
  const DatabaseOptions options_;
  mutable ResultCache result_cache_{options_.result_cache_bytes};  // Reranked searches (collection_rerank.cc).
  std::vector<std::unique_ptr<ShardImpl>> shards_;
  std::optional<storage::LmdbEnv> journal_;  // Only with more than one shard.
  storage::Dbi journal_batches_, journal_meta_;
  // Serialises writes of this process; write.lock (flock) serialises processes, so that
  // journal ids and shard commits happen in one global order.
  Mutex write_mu_;

  // Last member: destroyed first, so a background compaction stops before the shards go.
  BackgroundCompactor compactor_;
};

// The journal record of a multi-shard batch (exposed for crash-recovery tests).
std::string EncodeJournalRecord(const WriteBatch& batch, const std::vector<std::string>& metadata);

}  // namespace vectron
