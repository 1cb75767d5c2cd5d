// Collection: N shards (points hashed by id). Writes split by shard and apply
// atomically across them; searches fan out and merge the top k.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/feedback.h"
#include "vectron/options.h"
#include "vectron/rerank.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron {

// The largest page Collection::List returns.
inline constexpr size_t kMaxListLimit = 10000;

// Thread-safety: every method may be called from any thread concurrently.
// Lifetime: Database hands out a shared_ptr to it (a handle), safe to keep and call for
// as long as it is held. Once the collection is dropped or renamed, every method that
// returns a Status or Result returns NotFound naming it (`collection "docs" was
// dropped`), and once its Database is destroyed FailedPrecondition; CacheStats() then
// returns zeros. name(), config(), ShardOf() and shard_count() keep answering (the
// references name() and config() return live as long as the handle). A callback given
// to a method (ExportFeedback's fn, a custom scorer) runs inside that call: it may call
// the collection again, but must not drop or rename it, nor destroy its Database.
class Collection {
 public:
  virtual ~Collection() = default;
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;

  // The name it was created with (1-64 of [A-Za-z0-9_-]).
  virtual const std::string& name() const = 0;
  // Its configuration as created (dimension, metric, shards, index parameters).
  virtual const CollectionConfig& config() const = 0;

  // Applies all of `batch` or none of it; returns after it is durable (per Durability).
  // Errors: InvalidArgument naming the bad entry (wrong dimension, NaN/Inf, empty or
  // oversize id, id repeated in the batch, metadata not a JSON object); nothing written.
  virtual Status Write(const WriteBatch& batch) = 0;
  // Convenience: one batch of upserts / deletes (as Write).
  virtual Status Upsert(std::span<const Point> points) = 0;
  virtual Status Delete(std::span<const std::string> ids) = 0;

  // The k nearest points to `query`, nearest first.
  // Errors: InvalidArgument (dimension, NaN/Inf, k <= 0, ef < 0).
  virtual Result<std::vector<Hit>> Search(std::span<const float> query, const SearchParams& params) const = 0;
  // Many queries (row-major, n × dim) in one call, spread over `threads` (0 = all).
  // Each is answered as Search answers it. An exact search (params.exact), or any
  // search of a collection whose shards are all flat, reads every vector once per block
  // of queries instead of once per query (about 4x the QPS on 1,000 queries,
  // docs/benchmarks.md, "Exact batch search").
  // Errors: InvalidArgument (as Search, naming the query; or a size not n × dim).
  virtual Result<std::vector<std::vector<Hit>>> SearchBatch(std::span<const float> queries,
                                                            const SearchParams& params,
                                                            unsigned threads = 0) const = 0;

  // Points for `ids`, in order; nullopt where an id does not exist.
  // Errors: InvalidArgument (a malformed id).
  virtual Result<std::vector<std::optional<Point>>> Get(std::span<const std::string> ids,
                                                        const GetOptions& options = {}) const = 0;
  // Live points, or with `where` (JSON filter text) those whose metadata matches.
  // Errors: InvalidArgument (malformed filter).
  virtual Result<uint64_t> Count(std::string_view where = {}) const = 0;
  // A page of up to `limit` points in id order, starting after `cursor` ("" = start);
  // with `where`, only matching points (the page may then be shorter than `limit`
  // before the end only if the end is reached: it is filled across the id space).
  // Errors: InvalidArgument (limit 0 or over 100000, malformed filter).
  virtual Result<ScrollPage> Scroll(std::string_view cursor, size_t limit, const GetOptions& options = {},
                                    std::string_view where = {}) const = 0;
  // The page get(where, limit, offset) of the Python API and REST: up to `limit` points
  // (1..kMaxListLimit) matching `where` (JSON filter text; empty = all), in id order
  // (bytewise, the stable order Scroll uses), after skipping the first `offset` of them.
  // Cost grows with offset + limit (the skipped points are read, without payload);
  // Scroll's cursor pages large sets cheaper.
  // Errors: InvalidArgument (limit 0 or over kMaxListLimit, malformed filter).
  virtual Result<std::vector<Point>> List(std::string_view where, size_t limit, uint64_t offset = 0,
                                          const GetOptions& options = {}) const = 0;
  // Deletes every point whose metadata matches `where`, atomically; returns how many.
  // Errors: InvalidArgument (malformed filter); nothing deleted.
  virtual Result<uint64_t> DeleteWhere(std::string_view where) = 0;

  // Payload indexes: an index over metadata field `field` (dotted path) for values of
  // `type`, stored in LMDB and updated in the same transaction as every write. Filters
  // use them to build allow-lists. Errors: InvalidArgument (empty or bad path),
  // AlreadyExists (field already indexed). Creating one indexes existing points.
  virtual Status CreatePayloadIndex(std::string_view field, PayloadType type) = 0;
  // Errors: NotFound.
  virtual Status DropPayloadIndex(std::string_view field) = 0;
  // The payload indexes, in creation order.
  virtual Result<std::vector<PayloadIndexInfo>> ListPayloadIndexes() const = 0;

  // Counts, memory and disk use, summed over the shards.
  virtual Result<CollectionStats> Stats() const = 0;
  // Saves every shard's index to disk now.
  virtual Status Checkpoint() = 0;
  // Gives back the memory and disk of deleted points (see CompactOptions): rebuilds the
  // HNSW graphs without deleted slots while searches and writes continue, swapping each
  // in atomically, then compacts the LMDB files. Reports to DatabaseOptions::progress;
  // returning false stops it with Cancelled, leaving every shard as it was or compacted.
  // Errors: FailedPrecondition (files: another process has the collection open; the
  // indexes are compacted anyway), Cancelled, IOError.
  virtual Status Compact(const CompactOptions& options = {}) = 0;

  // --- Reranking and feedback (docs/rerank.md).
  // Searches for p.CandidatesFor(k + offset) candidates with `params` (its filter,
  // ef, exact...), reranks them with `pipeline` and returns the best k after offset,
  // with a fresh query id. params.score_threshold applies to the candidates' distance.
  // Errors: InvalidArgument (as Search, or a bad pipeline, naming the stage), the custom
  // scorer's. Thread-safe.
  virtual Result<RerankedResult> SearchReranked(std::span<const float> query, const SearchParams& params,
                                                const RerankPipeline& pipeline,
                                                const RerankOptions& options = {}) const = 0;
  // Stores a rating of r.point_id durably (committed when this returns); time_ms 0 is
  // stamped with the system clock. Errors: InvalidArgument (ValidateRating), NotFound
  // (no such point).
  virtual Status Feedback(const Rating& r) = 0;
  // Convenience: Feedback(Rating{point_id, rating, query_id, comment}).
  Status Feedback(std::string_view point_id, int rating, std::string_view query_id = {},
                  std::string_view comment = {});
  // The ratings of `point_id` (zero counts if it has none or does not exist).
  // Errors: InvalidArgument (malformed id).
  virtual Result<RatingStats> FeedbackStats(std::string_view point_id) const = 0;
  // Calls fn with every rating (shard by shard, each shard one snapshot, in point-id
  // order), stopping at fn's first error, which it returns.
  virtual Status ExportFeedback(const std::function<Status(const Rating&)>& fn) const = 0;
  // A page of the same export: calls fn with up to `limit` ratings after `cursor` (""
  // = from the first), in ExportFeedback's order, and returns the cursor to pass for the
  // next page, or "" when no rating is left. Each page reads each shard at one snapshot:
  // a rating added meanwhile to a point the export has passed is in no later page.
  // Errors: InvalidArgument (limit 0; a cursor that is not one this collection returned,
  // naming what is wrong), fn's.
  virtual Result<std::string> ExportFeedbackPage(std::string_view cursor, size_t limit,
                                                 const std::function<Status(const Rating&)>& fn) const = 0;
  // Stores `pipeline_json` (ParseRerankPipeline's form; "" removes it) as the default
  // pipeline, durably. Errors: InvalidArgument (unparsable pipeline).
  virtual Status SetDefaultRerank(std::string_view pipeline_json) = 0;
  // The stored default pipeline's JSON, "" if none.
  virtual Result<std::string> DefaultRerank() const = 0;
  // The result cache's counters (see RerankOptions::cache).
  virtual ResultCacheStats CacheStats() const = 0;
  // A number that grows with every committed write or rating (from any process) once a
  // search can see it: a search that starts after reading version v sees at least v.
  // Result caches key on it.
  virtual Result<uint64_t> Version() const = 0;

  // The shard that owns `id` (stable: FNV-1a 64 of the id, modulo shard count).
  virtual uint32_t ShardOf(std::string_view id) const = 0;
  // The number of shards (config().shards).
  virtual size_t shard_count() const = 0;

 protected:
  Collection() = default;
};

}  // namespace vectron
