// Value types of the data API: points, write batches, search parameters and hits.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/status.h"

namespace vectron {

// Limits, checked on every write.
inline constexpr size_t kMaxIdBytes = 256;
inline constexpr size_t kMaxMetadataBytes = 1 << 20;
inline constexpr uint32_t kMaxDim = 65536;
// Deepest nesting of arrays and objects accepted in JSON from outside: metadata, filters
// and (in `vectron serve`) every request body. The top level counts as 1. Deeper text is
// refused with InvalidArgument before it is parsed.
inline constexpr int kMaxJsonNesting = 128;

// A stored point. `metadata` is JSON-object text, or empty for none.
struct Point {
  std::string id;
  std::vector<float> vector;
  std::string metadata;
};

// A batch of upserts, deletes and partial updates, applied atomically (all or nothing)
// by Collection::Write. Vectors are copied in. Not thread-safe.
class WriteBatch {
 public:
  // Persisted (journal records, replication log entries): values never change.
  enum class Op : uint8_t { kUpsert = 1, kDelete = 2, kSetMetadata = 3, kMergeMetadata = 4, kUpdateVector = 5 };
  struct Entry {
    Op op;
    std::string id;
    size_t vector_offset = 0;  // into vectors(), for upserts and vector updates
    size_t vector_size = 0;
    std::string metadata;      // JSON object text or empty
  };

  // Inserts `id` or replaces its vector and metadata. `metadata` is JSON-object text
  // or empty. Checked at Write time.
  void Upsert(std::string id, std::span<const float> vector, std::string metadata = {});
  // Deletes `id` (a missing id is a no-op at Write time).
  void Delete(std::string id);
  // Partial updates of an existing point; at Write time a missing id refuses the whole
  // batch with NotFound naming it (nothing written).
  // Replaces the metadata of `id` with `metadata` (JSON-object text, or empty to clear
  // it), keeping its vector. With `merge`, `metadata` is instead an RFC 7396 merge patch
  // of the stored object: its keys are set (recursively for objects), a null value
  // removes a key, other keys stay.
  void SetMetadata(std::string id, std::string metadata, bool merge = false);
  // Replaces the vector of `id`, keeping its metadata.
  void UpdateVector(std::string id, std::span<const float> vector);
  // Adds an entry of any op (as the methods above; `vector` is ignored by ops without
  // one, `metadata` by ops without metadata). For decoders and splitters.
  void Add(Op op, std::string id, std::span<const float> vector, std::string metadata);
  // Removes every entry.
  void Clear();

  // Number of entries (upserts and deletes).
  size_t size() const { return entries_.size(); }
  // True when there is no entry.
  bool empty() const { return entries_.empty(); }
  // The entries in the order they were added.
  const std::vector<Entry>& entries() const { return entries_; }
  // The vector of entry `e` (empty for ops without one); valid until the batch changes.
  // REQUIRES: `e` is one of entries().
  std::span<const float> vector(const Entry& e) const {
    return std::span<const float>(vectors_.data() + e.vector_offset, e.vector_size);
  }

 private:
  std::vector<Entry> entries_;
  std::vector<float> vectors_;
};

// How a filtered search runs (docs/filter.md, "Planner"). kAuto lets the planner pick
// per query from the number of matching points; the others force one plan (for
// tests, benchmarks, and users who know their data).
enum class FilterStrategy : uint8_t {
  kAuto,        // Choose per query.
  kExact,       // Brute force over the matching points: exact, cost ∝ matches.
  kGraph,       // Filtered HNSW traversal (two-hop at low selectivity).
  kPostFilter,  // Plain HNSW search for more than k, then drop non-matching hits;
                // falls back to kGraph if fewer than k survive.
};
// "auto", "exact", "graph", "post_filter": the names ParseFilterStrategy reads (it also
// takes "postfilter"). Errors: InvalidArgument naming the value.
const char* FilterStrategyName(FilterStrategy strategy);
Result<FilterStrategy> ParseFilterStrategy(std::string_view name);

struct SearchParams {
  int k = 10;                  // Number of hits wanted, >= 1.
  int offset = 0;              // Hits skipped first (paging), >= 0; k + offset <= 100000.
  // If set, hits with a score (distance) above it are dropped, so fewer than k may come.
  std::optional<float> score_threshold;
  int ef = 0;                  // HNSW beam width; 0 = the collection's ef_search.
  bool exact = false;          // Brute-force search even on an HNSW shard.
  bool include_vector = false;
  bool include_metadata = false;
  // Optional metadata filter: a JSON `where` object (see docs/filter.md); empty = none.
  // Only points whose metadata matches are returned, and k of them whenever at least
  // k points match. A malformed filter is InvalidArgument naming position and problem.
  std::string where;
  FilterStrategy filter_strategy = FilterStrategy::kAuto;
};

// One search result. `score` is a distance (lower is nearer, see Metric).
struct Hit {
  std::string id;
  float score = 0;
  std::vector<float> vector;   // Filled if include_vector.
  std::string metadata;        // Filled if include_metadata (JSON text, may be empty).
};

struct GetOptions {
  bool include_vector = true;
  bool include_metadata = true;
};

// A page of a scroll: points in id order (bytewise), and the cursor to pass for the
// next page; an empty next_cursor means the end.
struct ScrollPage {
  std::vector<Point> points;
  std::string next_cursor;
};

// Value types a payload index can hold for a metadata field (see
// Collection::CreatePayloadIndex). Values of other types in that field stay filterable,
// only unindexed.
enum class PayloadType : uint8_t { kKeyword = 1, kInteger = 2, kFloat = 3, kBool = 4 };
// "keyword", "integer", "float" or "bool" (a static string).
const char* PayloadTypeName(PayloadType type);
// Sets *type from its name; returns false (and leaves *type) on an unknown name.
bool ParsePayloadType(std::string_view name, PayloadType* type);
// The type named `name`. Errors: InvalidArgument naming it and the valid names.
Result<PayloadType> ParsePayloadType(std::string_view name);

struct PayloadIndexInfo {
  std::string field;  // Dotted path, e.g. "meta.year".
  PayloadType type;
};

struct CollectionStats {
  uint64_t count = 0;               // Live points.
  uint64_t index_memory_bytes = 0;  // In-memory index size (all shards).
  uint64_t disk_bytes = 0;          // LMDB data plus saved index files.
  uint64_t deleted_slots = 0;       // Index slots of deleted or replaced points, until compaction.
  std::string index_kind;           // "flat", "hnsw", or "mixed" across shards.
};

}  // namespace vectron
