// Shard: one LMDB environment plus one in-memory Index. The unit of storage, of
// replication and of placement. Apply() is the state machine that a replication log
// drives: atomic, and idempotent by log index.
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
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron {

// Identifies a request of a replication log's client, so that a retried or duplicated
// proposal applies once (docs/formats/shard-entry.md). `client` is chosen at random by
// each client process (a gateway), `seq` increases per request, and the client never
// retries a sequence below `acked_below` (its answer arrived), so the shard may forget it.
struct RequestId {
  uint64_t client = 0;  // 0: no id (not deduplicated).
  uint64_t seq = 0;
  uint64_t acked_below = 0;
  // True for "no id".
  bool empty() const { return client == 0; }
  bool operator==(const RequestId&) const = default;
};

// One command of a replication log, as Shard::ApplyLogged applies it.
struct LoggedCommand {
  // Persisted (docs/formats/shard-entry.md): values never change.
  enum class Kind : uint8_t {
    kWrite = 1,
    kDeleteWhere = 2,
    kCreatePayloadIndex = 3,
    kDropPayloadIndex = 4,
    kRate = 5,  // One rating of one point (feedback.h).
  };
  Kind kind = Kind::kWrite;
  WriteBatch batch;                          // kWrite
  std::string where;                         // kDeleteWhere: JSON filter text
  std::string field;                         // k*PayloadIndex: dotted path
  PayloadType type = PayloadType::kKeyword;  // kCreatePayloadIndex
  Rating rating;                             // kRate: time_ms set by the proposer (> 0)
};

// Where a shard sits in a cluster (net/cluster, docs/cluster.md "Splits"): the range of
// route keys it owns, [start, end) (end 0: to the end of the key space), and the epoch of
// that range (bumped by each split). All zero: never set (the cluster's initial range).
struct ShardRoute {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t epoch = 0;
  bool operator==(const ShardRoute&) const = default;
};

// FNV-1a 64 of a point id (docs/formats/storage.md): Collection places a point in shard
// IdHash(id) % shards (ShardOfId), and a cluster routes it by RouteKey.
uint64_t IdHash(std::string_view id);
// The shard of `shards` that owns `id`: IdHash(id) % shards (0 if shards is 0). The
// embedded Collection::ShardOf and the cluster's initial groups agree through it.
uint32_t ShardOfId(std::string_view id, uint32_t shards);
// Route keys (docs/cluster.md, "Splits"): a point's place in a 64-bit key space that a
// collection's groups divide into ranges. With h = IdHash(id) and n the collection's
// initial shard count, W = (2^64-1)/n: key = (h mod n)*W + min(h div n, W-1). So the
// initial shard i owns [i*W, (i+1)*W) (the last one up to the end): exactly the points
// h % n places in it; a split halves a range.
uint64_t RouteKey(std::string_view id, uint32_t shards);
// True if `key` lies in [start, end) (end 0: to the end of the key space).
inline bool RangeHolds(uint64_t start, uint64_t end, uint64_t key) { return key >= start && (end == 0 || key < end); }

// What Shard::ApplyLogged did with a command.
struct LoggedOutcome {
  // OK, or why the command was rejected: the same on every replica (InvalidArgument for a
  // bad entry, filter or rating, AlreadyExists / NotFound for payload index changes,
  // NotFound for a rating of a missing point).
  Status status;
  uint64_t deleted = 0;    // kDeleteWhere: points deleted.
  bool duplicate = false;  // The request was applied before: status and deleted are the
                           // first outcome (Aborted if it was already forgotten).
  bool replay = false;     // log_index <= applied_index(): nothing was done.
  // The route of the group that first applied the request, as ApplyLogged was given it
  // (recorded with the outcome, so a group split off, which copied the parent's records,
  // answers a duplicate with the parent's route). Unset: none was given, or a record
  // written before routes were recorded.
  std::optional<ShardRoute> applied_by;
};

// What Shard::DataSize reports: both from one snapshot of the shard.
struct ShardDataSize {
  uint64_t points = 0;
  // The LMDB pages the shard's tables use (points, payloads, payload indexes).
  uint64_t bytes = 0;
};

// What Shard::Stats reports.
struct ShardStats {
  uint64_t count = 0;               // Live points.
  uint64_t seq = 0;                 // Mutation batches applied, ever.
  uint64_t applied_index = 0;       // Last external log index applied (0 = none).
  uint64_t index_memory_bytes = 0;  // In-memory index, label → id map and payload indexes.
  uint64_t disk_bytes = 0;          // LMDB data plus saved index files.
  uint64_t deleted_slots = 0;       // Index slots of deleted or replaced points, until compaction.
  std::string index_kind;           // "flat" or "hnsw".
};

// Thread-safety: all methods may be called concurrently; writes are serialised
// (across processes too: LMDB has one writer at a time), searches run in parallel.
// The CPU priority of a graph compaction's rebuild (Shard::CompactIndex).
enum class CompactPriority { kNormal, kIdle };
// What a shard's writers wait for while Shard::Checkpoint saves its graph: the graph's
// write into the page cache (kWhileWritten), or only its copy in memory (kWhileCopied:
// about a fifth of the time, measured; the copy, the graph's size in memory, is written
// after and then freed). Neither waits for the disk (fsync, checksum).
enum class CheckpointHold { kWhileWritten, kWhileCopied };

class Shard {
 public:
  // Opens or creates the shard in `dir` (created if missing). Loads the saved index
  // checkpoint if it is valid and catches up from LMDB; otherwise rebuilds the index
  // from LMDB, reporting progress to options.progress.
  // Errors: FailedPrecondition if `dir` holds a shard of another config or format
  // version; Corruption for damaged LMDB files; IOError.
  static Result<std::unique_ptr<Shard>> Open(const std::string& dir,
                                             const CollectionConfig& config,
                                             const DatabaseOptions& options);
  // Saves an index checkpoint if the index changed since the last one.
  virtual ~Shard() = default;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Applies `batch` atomically: returns after the LMDB commit, or changes nothing.
  // If log_index > 0 it is stored with the batch, and a batch whose log_index is <=
  // applied_index() is skipped (OK) so that replays are harmless.
  // Errors: InvalidArgument for a bad entry (named by position and id), nothing written.
  virtual Status Apply(const WriteBatch& batch, uint64_t log_index = 0) = 0;
  // A cluster's split (docs/cluster.md, "Splits"): records `route` and log_index (> 0)
  // and hides every point whose route key (RouteKey(id, config().shards)) lies outside
  // the route, in one transaction, so the points and the range they belong to change
  // together. From that commit on no read of this shard sees a hidden point (search,
  // get, count, scroll, filters, ratings, sizes, the open of a copy), though its rows stay
  // until DropHidden deletes them in batches; writes must not name hidden ids (a cluster
  // routes them elsewhere). The hidden set is the route's complement, so a narrower route
  // recorded before the drop ends hides more (routes never widen: no merges). A replay
  // (log_index <= applied_index()) changes nothing. Returns the points hidden.
  // Errors: InvalidArgument (log_index 0), Corruption, IOError, ResourceExhausted (map full).
  virtual Result<uint64_t> ApplyRoute(const ShardRoute& route, uint64_t log_index) = 0;
  // Deletes up to `max_points` of the hidden points (ApplyRoute) in one transaction,
  // leaving the points, payload postings, ratings, free labels and change log that
  // deletes of those ids would; the applied index does not move (this is the replica's
  // own housekeeping, not replicated state). Returns how many are still hidden (0: none
  // left, and reads stop checking). Each call's commit is a consistent state: after a
  // crash the open hides the rest again and the next call goes on where it stopped.
  // Errors: Corruption, IOError.
  virtual Result<uint64_t> DropHidden(size_t max_points) = 0;
  // True while hidden points await DropHidden (in memory; cheap).
  virtual bool HasHiddenPoints() const = 0;
  // The route last recorded (all zero if none).
  virtual Result<ShardRoute> Route() const = 0;

  // Applies one replication-log command at `log_index` (> 0) in one LMDB transaction
  // that also records log_index as the applied index and, unless `request` is empty, the
  // request's outcome. Whatever becomes of the command (applied, rejected, a duplicate),
  // the index is recorded, so replicas stay at the same applied index and a replay
  // (log_index <= applied_index()) does nothing. A request already recorded is not
  // applied again: its first outcome is returned with duplicate set. A rejected command
  // changes nothing but the index (and the request record).
  // Errors (the node must stop, the entry was not applied): IOError, Corruption,
  // ResourceExhausted (the map is full), InvalidArgument if log_index is 0.
  // `applied_by` (a cluster group's current route) is recorded with the request's outcome
  // and answered as LoggedOutcome::applied_by, for this request and its duplicates.
  virtual Result<LoggedOutcome> ApplyLogged(const LoggedCommand& cmd, uint64_t log_index, const RequestId& request,
                                            const std::optional<ShardRoute>& applied_by) = 0;
  // ApplyLogged recording no route.
  Result<LoggedOutcome> ApplyLogged(const LoggedCommand& cmd, uint64_t log_index, const RequestId& request) {
    return ApplyLogged(cmd, log_index, request, std::nullopt);
  }

  // The k nearest points to `query`, nearest first.
  // Errors: InvalidArgument for a bad query (dimension, NaN/Inf, k <= 0, ef < 0).
  virtual Result<std::vector<Hit>> Search(std::span<const float> query, const SearchParams& params) const = 0;

  // Points for `ids` in order; nullopt for ids that do not exist.
  // Errors: InvalidArgument (a malformed id), Corruption.
  virtual Result<std::vector<std::optional<Point>>> Get(std::span<const std::string> ids,
                                                        const GetOptions& options) const = 0;
  // Live points, or those matching `where` (JSON filter text; empty = all).
  // Errors: InvalidArgument (malformed filter).
  virtual Result<uint64_t> Count(std::string_view where = {}) const = 0;
  // Up to `limit` points with id > `after` (bytewise order) that match `where`;
  // next_cursor as in ScrollPage. Errors: InvalidArgument (limit 0, malformed filter).
  virtual Result<ScrollPage> Scroll(std::string_view after, size_t limit, const GetOptions& options,
                                    std::string_view where = {}) const = 0;

  // The payload indexes, in the order they were created. Errors: those of LMDB.
  virtual Result<std::vector<PayloadIndexInfo>> ListPayloadIndexes() const = 0;

  // The rating summaries of `ids`, in order (zero counts for unrated or missing points),
  // in one snapshot. Errors: Corruption, those of LMDB.
  virtual Result<std::vector<RatingStats>> RatingStatsOf(std::span<const std::string> ids) const = 0;
  // Calls fn on every rating whose key is above `after` ("" = from the first), in key
  // order (point id length, point id, number), in one snapshot, until fn fails; fn also
  // gets the rating's key (valid during the call; pass it as `after` to go on after it).
  // Errors: Corruption, those of LMDB, fn's.
  virtual Status ScanRatingsAfter(std::string_view after,
                                  const std::function<Status(const Rating&, std::string_view key)>& fn) const = 0;

  // Saves the index to disk now (no-op for a flat index or an unchanged one).
  virtual Status Checkpoint(CheckpointHold hold) = 0;
  // With DatabaseOptions::background_checkpoints: true while an automatic checkpoint is
  // due and not yet saved (cheap).
  virtual bool CheckpointDue() const = 0;
  Status Checkpoint() { return Checkpoint(CheckpointHold::kWhileWritten); }
  // The shard's directory is about to be deleted (a dropped replica) while this handle
  // may stay open a while (a search, an apply still running): from now on it writes no
  // index file, on close or otherwise, since its path may soon be another shard's. Its
  // LMDB writes go on to the deleted files.
  virtual void Discard() = 0;
  // Whether at least `deleted_share` of the graph's slots (and at least 1000) are deleted
  // points (false for a flat index). Cheap.
  virtual bool IndexCompactionDue(double deleted_share) const = 0;
  // Rebuilds the graph without its deleted slots while searches and writes go on, and
  // swaps it in (Collection::Compact with files = false). `progress` returning false
  // stops it: Cancelled, nothing changed. With CompactPriority::kIdle the rebuild (all
  // but the short swap) runs on threads of the lowest CPU priority, which take only
  // cycles nothing else wants (Linux SCHED_IDLE; elsewhere normal priority): on a busy
  // machine it waits. Errors: Cancelled, those of LMDB.
  virtual Status CompactIndex(const ProgressFn& progress, CompactPriority priority) = 0;
  // Makes a consistent copy of the shard in directory `dest` (created; empty or new): a
  // snapshot of the LMDB environment and the graph checkpoint (saved first), fsynced.
  // Shard::Open opens the copy without rebuilding the graph (it catches up from the
  // checkpoint to the LMDB snapshot). Writes may go on meanwhile. Returns the copy's
  // applied index: a Raft snapshot of the shard at that index (docs/cluster.md,
  // "Snapshots"). Errors: IOError, those of LMDB.
  virtual Result<uint64_t> SnapshotTo(const std::string& dest) = 0;
  // As SnapshotTo, for a copy that this process opens next (a split's new group): the
  // graph is not saved but copied in memory and handed to the copy's Shard::Open, which
  // takes it instead of loading a file (a copy opened elsewhere, or after a restart,
  // rebuilds its graph); that shard's next Checkpoint saves it. Cheaper than saving
  // (docs/cluster.md, "Splits"). Errors: ResourceExhausted (no memory for the graph's
  // copy), IOError, those of LMDB.
  virtual Result<uint64_t> SplitCopyTo(const std::string& dest) = 0;
  // Flushes every committed write to disk (fsync), whatever the shard's Durability, and
  // returns the applied index the flushed data includes: after a machine crash the shard
  // reopens at that index or later. Errors: IOError, those of LMDB.
  virtual Result<uint64_t> Flush() = 0;
  // Brings the in-memory index up to date with commits made by other processes.
  virtual Status Refresh() = 0;
  // Counts, memory and disk use (see ShardStats).
  virtual Result<ShardStats> Stats() const = 0;
  // Points and bytes of live data, read in one transaction. The bytes are the LMDB pages
  // the shard's tables use (points, payloads, payload indexes): unlike the file's size
  // they shrink with deletes; the graph is not counted. Cheap (no directory walk), for a
  // worker's report of every group it leads. Errors: those of LMDB.
  virtual Result<ShardDataSize> DataSize() const = 0;
  // The last log index applied (0 = none). Errors: those of LMDB (an unreadable store
  // never reads as "nothing applied", which would have a log replayed onto it).
  virtual Result<uint64_t> applied_index() const = 0;
  // The configuration it was opened with.
  virtual const CollectionConfig& config() const = 0;

 protected:
  Shard() = default;
};

}  // namespace vectron
