// CollectionHandle: the Collection a Database hands out (as a shared_ptr). It forwards
// each call to the open CollectionImpl until Close() (drop, rename, the Database
// closing); from then on every call returns the status Close() was given. Not public.
#pragma once

#include <memory>
#include <string>

#include "collection_internal.h"
#include "util/call_gate.h"
#include "util/mutex.h"
#include "vectron/collection.h"

namespace vectron {

// Thread-safety: as Collection. Close() waits for the calls in flight (a CallGate), so
// no call uses a closed collection, and a closed handle never touches its files again.
class CollectionHandle final : public Collection {
 public:
  explicit CollectionHandle(std::unique_ptr<CollectionImpl> impl);
  ~CollectionHandle() override;

  // Refuses new calls (they return `why`), waits for the calls in flight, then closes
  // the collection: its background work stops and its environments close, saving the
  // index checkpoints unless `dropped` (its files are about to be deleted). Later
  // Close()s do nothing. REQUIRES: not called from inside a call on this handle (a
  // callback), which it would wait for.
  void Close(const Status& why, bool dropped);

  // --- For Database (each returns the Close() status once closed).
  // Flushes every shard environment.
  Status Sync();
  // CollectionImpl::Backup.
  Status Backup(const std::string& dest);

  // --- Collection (see vectron/collection.h).
  const std::string& name() const override { return name_; }
  const CollectionConfig& config() const override { return config_; }
  Status Write(const WriteBatch& batch) override;
  Status Upsert(std::span<const Point> points) override;
  Status Delete(std::span<const std::string> ids) override;
  Result<std::vector<Hit>> Search(std::span<const float> query, const SearchParams& params) const override;
  Result<std::vector<std::vector<Hit>>> SearchBatch(std::span<const float> queries, const SearchParams& params,
                                                    unsigned threads) const override;
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
  Status Compact(const CompactOptions& options) override;
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
  ResultCacheStats CacheStats() const override;
  Result<uint64_t> Version() const override;
  uint32_t ShardOf(std::string_view id) const override { return ShardOfId(id, config_.shards); }
  size_t shard_count() const override { return config_.shards; }

 private:
  // f(collection) as one call in flight, or the Close() status once closed.
  template <typename F>
  auto Run(F&& f) const -> decltype(f(std::declval<CollectionImpl&>())) {
    if (!gate_.TryEnter()) return why_closed_;
    GateCall call(gate_);
    return f(*impl_);
  }

  // Copies, so that the references name() and config() return outlive a Close().
  const std::string name_;
  const CollectionConfig config_;
  mutable CallGate gate_;
  std::unique_ptr<CollectionImpl> impl_ ABSL_GUARDED_BY(gate_);  // Null once closed.
  // Serialises Close()s.
  Mutex close_mu_;
  // Written once by Close() before the gate closes, and read only by a call whose
  // TryEnter() failed, which sees the gate closed and so this write.
  Status why_closed_;
};

}  // namespace vectron
