// Collection: N shards (points hashed by id). Writes split by shard and apply
// atomically across them; searches fan out and merge the top k.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/options.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron {

class Shard;

// Thread-safety: every method may be called from any thread concurrently. Owned by its
// Database; a Collection* stays valid until DropCollection or the Database closes.
class Collection {
 public:
  ~Collection();
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;

  const std::string& name() const;
  const CollectionConfig& config() const;

  // Applies all of `batch` or none of it; returns after it is durable (per Durability).
  // Errors: InvalidArgument naming the bad entry (wrong dimension, NaN/Inf, empty or
  // oversize id, id repeated in the batch, metadata not a JSON object); nothing written.
  Status Write(const WriteBatch& batch);
  // Convenience: one batch of upserts / deletes.
  Status Upsert(std::span<const Point> points);
  Status Delete(std::span<const std::string> ids);

  // The k nearest points to `query`, nearest first.
  // Errors: InvalidArgument (dimension, NaN/Inf, k <= 0, ef < 0).
  Result<std::vector<Hit>> Search(std::span<const float> query, const SearchParams& params) const;
  // Many queries (row-major, n × dim) in one call, spread over `threads` (0 = all).
  Result<std::vector<std::vector<Hit>>> SearchBatch(std::span<const float> queries,
                                                    const SearchParams& params,
                                                    unsigned threads = 0) const;

  // Points for `ids`, in order; nullopt where an id does not exist.
  Result<std::vector<std::optional<Point>>> Get(std::span<const std::string> ids,
                                                const GetOptions& options = {}) const;
  // Live points, or with `where` (JSON filter text) those whose metadata matches.
  Result<uint64_t> Count(std::string_view where = {}) const;
  // A page of up to `limit` points in id order, starting after `cursor` ("" = start);
  // with `where`, only matching points (the page may then be shorter than `limit`
  // before the end only if the end is reached: it is filled across the id space).
  Result<ScrollPage> Scroll(std::string_view cursor, size_t limit,
                            const GetOptions& options = {}, std::string_view where = {}) const;
  // Deletes every point whose metadata matches `where`, atomically; returns how many.
  // Errors: InvalidArgument (malformed filter); nothing deleted.
  Result<uint64_t> DeleteWhere(std::string_view where);

  // Payload indexes: an index over metadata field `field` (dotted path) for values of
  // `type`, stored in LMDB and updated in the same transaction as every write. Filters
  // use them to build allow-lists. Errors: InvalidArgument (empty or bad path),
  // AlreadyExists (field already indexed). Creating one indexes existing points.
  Status CreatePayloadIndex(std::string_view field, PayloadType type);
  // Errors: NotFound.
  Status DropPayloadIndex(std::string_view field);
  Result<std::vector<PayloadIndexInfo>> ListPayloadIndexes() const;

  Result<CollectionStats> Stats() const;
  // Saves every shard's index to disk now.
  Status Checkpoint();

  // The shard that owns `id` (stable: FNV-1a 64 of the id, modulo shard count).
  uint32_t ShardOf(std::string_view id) const;
  size_t shard_count() const;
  Shard& shard(size_t i);

  struct Impl;
  explicit Collection(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vectron
