#include "collection_handle.h"

namespace vectron {

CollectionHandle::CollectionHandle(std::unique_ptr<CollectionImpl> impl)
    : name_(impl->name()), config_(impl->config()), impl_(std::move(impl)) {}

// A handle is destroyed when its last holder lets go. Database closes every handle it
// made before it lets go of it, so this only frees what Close() left.
CollectionHandle::~CollectionHandle() = default;

void CollectionHandle::Close(const Status& why, bool dropped) {
  MutexLock lock(close_mu_);
  if (gate_.closing()) return;
  why_closed_ = why;
  gate_.Close();
  if (dropped) impl_->MarkDropped();
  impl_.reset();  // Stops background compaction, closes the environments.
  gate_.EndClose();
}

Status CollectionHandle::Sync() {
  return Run([](CollectionImpl& c) { return c.Sync(); });
}

Status CollectionHandle::Backup(const std::string& dest) {
  return Run([&](CollectionImpl& c) { return c.Backup(dest); });
}

Status CollectionHandle::Write(const WriteBatch& batch) {
  return Run([&](CollectionImpl& c) { return c.Write(batch); });
}

Status CollectionHandle::Upsert(std::span<const Point> points) {
  return Run([&](CollectionImpl& c) { return c.Upsert(points); });
}

Status CollectionHandle::Delete(std::span<const std::string> ids) {
  return Run([&](CollectionImpl& c) { return c.Delete(ids); });
}

Result<std::vector<Hit>> CollectionHandle::Search(std::span<const float> query, const SearchParams& params) const {
  return Run([&](const CollectionImpl& c) { return c.Search(query, params); });
}

Result<std::vector<std::vector<Hit>>> CollectionHandle::SearchBatch(std::span<const float> queries,
                                                                    const SearchParams& params,
                                                                    unsigned threads) const {
  return Run([&](const CollectionImpl& c) { return c.SearchBatch(queries, params, threads); });
}

Result<std::vector<std::optional<Point>>> CollectionHandle::Get(std::span<const std::string> ids,
                                                                const GetOptions& options) const {
  return Run([&](const CollectionImpl& c) { return c.Get(ids, options); });
}

Result<uint64_t> CollectionHandle::Count(std::string_view where) const {
  return Run([&](const CollectionImpl& c) { return c.Count(where); });
}

Result<ScrollPage> CollectionHandle::Scroll(std::string_view cursor, size_t limit, const GetOptions& options,
                                            std::string_view where) const {
  return Run([&](const CollectionImpl& c) { return c.Scroll(cursor, limit, options, where); });
}

Result<std::vector<Point>> CollectionHandle::List(std::string_view where, size_t limit, uint64_t offset,
                                                  const GetOptions& options) const {
  return Run([&](const CollectionImpl& c) { return c.List(where, limit, offset, options); });
}

Result<uint64_t> CollectionHandle::DeleteWhere(std::string_view where) {
  return Run([&](CollectionImpl& c) { return c.DeleteWhere(where); });
}

Status CollectionHandle::CreatePayloadIndex(std::string_view field, PayloadType type) {
  return Run([&](CollectionImpl& c) { return c.CreatePayloadIndex(field, type); });
}

Status CollectionHandle::DropPayloadIndex(std::string_view field) {
  return Run([&](CollectionImpl& c) { return c.DropPayloadIndex(field); });
}

Result<std::vector<PayloadIndexInfo>> CollectionHandle::ListPayloadIndexes() const {
  return Run([](const CollectionImpl& c) { return c.ListPayloadIndexes(); });
}

Result<CollectionStats> CollectionHandle::Stats() const {
  return Run([](const CollectionImpl& c) { return c.Stats(); });
}

Status CollectionHandle::Checkpoint() {
  return Run([](CollectionImpl& c) { return c.Checkpoint(); });
}

Status CollectionHandle::Compact(const CompactOptions& options) {
  return Run([&](CollectionImpl& c) { return c.Compact(options); });
}

Result<RerankedResult> CollectionHandle::SearchReranked(std::span<const float> query, const SearchParams& params,
                                                        const RerankPipeline& pipeline,
                                                        const RerankOptions& options) const {
  return Run([&](const CollectionImpl& c) { return c.SearchReranked(query, params, pipeline, options); });
}

Status CollectionHandle::Feedback(const Rating& r) {
  return Run([&](CollectionImpl& c) { return c.Feedback(r); });
}

Result<RatingStats> CollectionHandle::FeedbackStats(std::string_view point_id) const {
  return Run([&](const CollectionImpl& c) { return c.FeedbackStats(point_id); });
}

Status CollectionHandle::ExportFeedback(const std::function<Status(const Rating&)>& fn) const {
  return Run([&](const CollectionImpl& c) { return c.ExportFeedback(fn); });
}

Result<std::string> CollectionHandle::ExportFeedbackPage(std::string_view cursor, size_t limit,
                                                         const std::function<Status(const Rating&)>& fn) const {
  return Run([&](const CollectionImpl& c) { return c.ExportFeedbackPage(cursor, limit, fn); });
}

Status CollectionHandle::SetDefaultRerank(std::string_view pipeline_json) {
  return Run([&](CollectionImpl& c) { return c.SetDefaultRerank(pipeline_json); });
}

Result<std::string> CollectionHandle::DefaultRerank() const {
  return Run([](const CollectionImpl& c) { return c.DefaultRerank(); });
}

ResultCacheStats CollectionHandle::CacheStats() const {
  if (!gate_.TryEnter()) return ResultCacheStats{};  // Closed: its cache is gone.
  GateCall call(gate_);
  return impl_->CacheStats();
}

Result<uint64_t> CollectionHandle::Version() const {
  return Run([](const CollectionImpl& c) { return c.Version(); });
}

}  // namespace vectron
