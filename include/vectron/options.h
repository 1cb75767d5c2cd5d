// Configuration structs: DatabaseOptions (how a database directory is opened) and
// CollectionConfig (what a collection is). Defaults live here; Validate() is called at
// Open/Create and names the offending field.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "vectron/status.h"

namespace vectron {

// Distance used by a collection. Every search score is a distance: lower is nearer.
//   kL2:     squared Euclidean distance.
//   kCosine: 1 - cosine similarity, in [0, 2] (vectors are normalised on write).
//   kIP:     negative inner product (-dot(a, b)).
// Persisted by name ("l2", "cosine", "ip").
enum class Metric { kL2, kCosine, kIP };

// "l2", "cosine" or "ip" (the persisted name).
std::string_view MetricName(Metric m);
// Parses "l2" | "cosine" | "ip". Errors: InvalidArgument naming the value.
Result<Metric> ParseMetric(std::string_view name);

// When a commit is durable. Process crashes (kill -9) never lose an acknowledged write
// in any mode; the modes differ on operating-system crash or power loss.
enum class Durability {
  kFull,        // fsync data and meta page on every commit (default).
  kNoMetaSync,  // fsync data, not the meta page: power loss may undo the last commit,
                // never corrupts.
  kNoSync,      // no fsync (bulk import): power loss may lose recent commits; call
                // Database::Sync() at the end. Never corrupts on a filesystem that
                // preserves write order.
};

// "full", "nometasync", "nosync": the names ParseDurability reads.
std::string_view DurabilityName(Durability d);
// Parses a DurabilityName (also "no_meta_sync", "no_sync"). Errors: InvalidArgument
// naming the value.
Result<Durability> ParseDurability(std::string_view name);

// Called from long operations (index build, import): `done` of `total` units.
// Returning false asks the operation to stop; it then fails with Cancelled and leaves
// the stored data as it was before the operation (or as of its last committed batch).
using ProgressFn = std::function<bool(std::string_view stage, uint64_t done, uint64_t total)>;

struct DatabaseOptions {
  // Behaviour
  bool create_if_missing = true;     // Else opening a missing directory is NotFound.
  Durability durability = Durability::kFull;
  // Reports index builds on open; nullptr is silent.
  ProgressFn progress = nullptr;

  // Performance
  // Virtual address space reserved per shard. Disk use grows only with data; a write that
  // would exceed it fails with ResourceExhausted.
  uint64_t map_size_bytes = 1ull << 38;  // 256 GiB
  // Threads used for batch search and parallel index inserts. 0 = hardware threads.
  unsigned threads = 0;
  // When a shard's HNSW graph has at least this share of deleted slots (and at least
  // 1000 slots), a write starts a background rebuild of that graph without them
  // (Collection::Compact with files = false). 0 turns it off; else in (0, 1].
  double auto_compact_deleted_share = 0.5;
  // Memory for each collection's cache of reranked search answers (docs/rerank.md,
  // "Result cache"); 0 turns it off.
  uint64_t result_cache_bytes = 64ull << 20;
  // An automatic checkpoint (CollectionConfig::checkpoint_every_ops changes since the last)
  // is not saved by the write that made it due, which would hold the shard's writers for
  // the whole save (about 1 s for a 200k × 100 graph on a busy machine): Shard::
  // CheckpointDue() turns true, and the owner of the shard calls Shard::Checkpoint off
  // its writers' path. The cluster's workers do, on a background thread (docs/cluster.md).
  bool background_checkpoints = false;

  // OK, or InvalidArgument naming the first bad field.
  Status Validate() const;
};

// What Collection::Compact does.
struct CompactOptions {
  // Rebuild each HNSW graph without its deleted slots, while searches and writes go on,
  // and swap it in atomically.
  bool index = true;
  // Then rewrite each shard's LMDB file compactly so the disk space of deleted points is
  // returned. Needs this process to be the only one with the collection open.
  bool files = true;
};

struct HnswParams {
  uint32_t m = 16;                // Graph degree: higher = better recall, more memory.
  uint32_t ef_construction = 200; // Build beam width: higher = better graph, slower build.
  uint32_t ef_search = 64;        // Default search beam width (per-query override).
  uint64_t seed = 100;            // Level generator seed: same inserts → same graph.
};

// How an HNSW graph is searched (docs/benchmarks.md, "Quantization"). Persisted by name
// ("none", "sq8"); a stored config without the field is kNone.
//   kNone: the graph is walked on the float32 vectors; distances are exact.
//   kSq8:  one byte per dimension (per-dimension ranges learnt from the data) is kept
//          beside the graph, the graph is walked on those codes, and the best
//          candidates are rescored exactly with the float vectors, so the scores
//          returned are exact. Costs dim bytes per point (+4 for L2), rounded up to a
//          power of two or a multiple of 64. The codes are rebuilt when an index loads.
enum class Quantization { kNone, kSq8 };

std::string_view QuantizationName(Quantization q);
// Parses "none" | "sq8". Errors: InvalidArgument naming the value.
Result<Quantization> ParseQuantization(std::string_view name);

struct CollectionConfig {
  uint32_t dim = 0;               // Required: vector dimension, 1..65536.
  Metric metric = Metric::kCosine;
  HnswParams hnsw;
  Quantization quantization = Quantization::kNone;
  uint32_t shards = 1;            // Points are hashed by id to shards, 1..256.
  // Per shard: while it holds at most this many points, search is exact (FlatIndex);
  // past it the shard builds an HNSW graph and searches approximately.
  uint64_t flat_max_points = 10000;
  // Save the HNSW graph to disk after this many index changes since the last save
  // (and always on close), so reopening loads it instead of rebuilding.
  uint64_t checkpoint_every_ops = 200000;

  // OK, or InvalidArgument naming the first bad field.
  Status Validate() const;
  // JSON text of this config (the catalog format); FromJson rejects unknown versions.
  std::string ToJson() const;
  static Result<CollectionConfig> FromJson(std::string_view json);
};

}  // namespace vectron
