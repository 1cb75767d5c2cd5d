// ShardStore: the LMDB side of a shard, the source of truth. It owns the environment
// and its named databases and knows the schema: how points, the change log, the
// counters and the payload postings are encoded and kept in step
// (docs/formats/storage.md). It holds no in-memory index: LMDB serialises writers, and
// the shard serialises this process's (ShardImpl). Its one piece of memory is the range
// whose outside its reads hide (set_hidden), behind a mutex of its own.
//
// The schema:
//   meta:    "format" → "1", "config" → CollectionConfig JSON, "seq", "applied_index",
//            "next_label", "checkpoint_seq", "feedback_seq", "route_start", "route_end",
//            "route_epoch", "route_hidden" → u64 big-endian, "route_drop_after" → an id,
//            "payload_indexes" → JSON list of payload index definitions,
//            "rerank_default" → the collection's default rerank pipeline (shard 0).
//   ids:     point id → label (u64 BE).
//   points:  label (u64 BE) → [dim × f32 LE][u16 id length][id][metadata JSON].
//   free:    label (u64 BE) → "" (labels of deleted points, reused first).
//   changes: seq (u64 BE) → repeated [u8 op][label u64 BE]: which labels a batch touched.
//   payload: [u32 slot][value key][u64 label] → "" (payload index postings).
//   payload_other: [u32 slot][u64 label] → "" (values an index cannot hold).
//   requests: [u64 client][u64 seq] → outcome of a logged request (deduplication), with
//            the route of the group that applied it (cluster splits).
//   clients:  u64 client → [u64 acked_below][u64 last log index] (requests.cc).
//   feedback: ratings of points, deleted with their point (feedback_store.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "filter/filter.h"
#include "payload/payload.h"
#include "storage/lmdb.h"
#include "util/mutex.h"
#include "vectron/shard.h"
#include "vectron/options.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron {

// The u64 counters under meta.
namespace meta_key {
inline constexpr std::string_view kSeq = "seq";                      // batches that changed points
inline constexpr std::string_view kAppliedIndex = "applied_index";   // last external log index
inline constexpr std::string_view kNextLabel = "next_label";         // next never-used label
inline constexpr std::string_view kCheckpointSeq = "checkpoint_seq"; // seq of the saved graph
inline constexpr std::string_view kFeedbackSeq = "feedback_seq";     // ratings ever added
inline constexpr std::string_view kRouteStart = "route_start";       // ShardRoute (cluster splits)
inline constexpr std::string_view kRouteEnd = "route_end";
inline constexpr std::string_view kRouteEpoch = "route_epoch";
inline constexpr std::string_view kRouteHidden = "route_hidden";        // points hidden, not yet dropped
inline constexpr std::string_view kRouteDropAfter = "route_drop_after"; // text: the id DropHidden is past
}  // namespace meta_key

// The range of route keys a shard owns while it still holds points outside it
// (Shard::ApplyRoute hid them, Shard::DropHidden has not deleted them all yet).
struct HiddenRange {
  uint64_t start = 0;
  uint64_t end = 0;
  uint32_t shards = 1;  // the collection's initial shard count (RouteKey)
  bool Hides(std::string_view id) const { return !RangeHolds(start, end, RouteKey(id, shards)); }
};

// The requests table's bounds: a client's records live until it acknowledges them or
// until it has been idle for kRequestIdleEntries log indexes (a gateway that went away);
// idle clients are looked for every kRequestSweepEvery log indexes.
inline constexpr uint64_t kRequestIdleEntries = 1'000'000;
inline constexpr uint64_t kRequestSweepEvery = 4096;

// A requests-table record (docs/formats/storage.md, "requests"): the outcome of a logged
// request, with the route it was given (LoggedOutcome::applied_by) if any. Decoding sets
// `duplicate` (a record is read only for a request applied before) and also reads records
// written before routes were recorded (applied_by unset). Errors: Corruption.
std::string EncodeRequestOutcome(const LoggedOutcome& outcome);
Result<LoggedOutcome> DecodeRequestOutcome(std::string_view record);

// What a set of labels holds in one snapshot, as the index needs it: the present ones
// with vector (normalised for cosine), id and metadata, and the absent ones.
struct LabelChanges {
  std::vector<uint64_t> up_labels;
  std::vector<float> up_vectors;  // up_labels.size() × dim, row-major
  std::vector<std::string> up_ids;
  std::vector<std::string> up_meta;
  std::vector<uint64_t> rm_labels;
};

// The payload index definitions as a writer needs them, parsed once per stored text.
class PayloadSchema {
 public:
  // Re-reads meta "payload_indexes" in `txn` and parses it if the text changed.
  // Errors: Corruption (unparsable definitions).
  Status Refresh(const class ShardStore& store, const storage::Txn& txn);
  const std::vector<payload::Definition>& defs() const { return defs_; }
  // The parsed field path of each definition, parallel to defs().
  const std::vector<filter::FieldPath>& paths() const { return paths_; }

 private:
  std::string raw_;
  std::vector<payload::Definition> defs_;
  std::vector<filter::FieldPath> paths_;
};

// Move-only (it owns the environment). Every method may be called from any thread; the
// write methods take the caller's WriteTxn, so LMDB's single writer serialises them.
class ShardStore {
 public:
  // Opens (creating it and `dir` if missing) the shard environment and its databases.
  // A new shard stores its format version and `config`; an existing one must match them.
  // Errors: FailedPrecondition (another format version, dim or metric), Corruption,
  // IOError.
  static Result<ShardStore> Open(const std::string& dir, const CollectionConfig& config,
                                 const DatabaseOptions& options);
  ShardStore(ShardStore&&) = default;

  // The environment (its own methods are thread-safe).
  storage::LmdbEnv& env() { return env_; }
  const storage::LmdbEnv& env() const { return env_; }
  const std::string& dir() const { return dir_; }
  const CollectionConfig& config() const { return config_; }

  // A meta counter (see meta_key), 0 if never written. Errors: Corruption (bad size).
  Result<uint64_t> Counter(const storage::Txn& txn, std::string_view key) const;
  Status PutCounter(storage::WriteTxn& txn, std::string_view key, uint64_t value) const;

  // Points outside `range` are hidden from every read below (nullopt: none are): the
  // state ApplyRoute leaves until DropHidden has deleted them. Open sets it from meta.
  std::optional<HiddenRange> hidden() const;
  void set_hidden(std::optional<HiddenRange> range);

  // --- Reads. Views and points are copied out: nothing outlives the transaction. None
  // returns a hidden point (set_hidden), but CountRecords, DataBytes and MetadataLoader
  // (whose labels come from the in-memory index, which holds no hidden point).
  // Live points in the snapshot (entries of ids, less those hidden; CountRecords counts
  // every record, hidden or not).
  Result<uint64_t> CountPoints(const storage::Txn& txn) const;
  Result<uint64_t> CountRecords(const storage::Txn& txn) const;
  // Bytes of the pages the shard's tables use in the snapshot (its live data: points,
  // payloads, payload indexes and bookkeeping; unlike the file, it shrinks with deletes).
  Result<uint64_t> DataBytes(const storage::Txn& txn) const;
  // The points for `ids`, nullopt for ids that do not exist. Errors: Corruption.
  Result<std::vector<std::optional<Point>>> Get(const storage::Txn& txn, std::span<const std::string> ids,
                                                const GetOptions& options) const;
  // Up to `limit` points with id > `after`, in id order, restricted to `allow` if given.
  Result<ScrollPage> Scroll(const storage::Txn& txn, std::string_view after, size_t limit,
                            const GetOptions& options, const payload::Bitmap* allow) const;
  // Fills the vector and/or metadata of `hits` (by id); hits whose point is gone since
  // the search keep their id and score only.
  Status FillHits(const storage::Txn& txn, std::vector<Hit>& hits, const GetOptions& options) const;
  // A loader of each label's metadata text from `txn`, for filters. REQUIRES: `txn`
  // outlives the loader.
  payload::MetadataLoader MetadataLoader(const storage::Txn& txn) const;
  // label → id of every live point ("" for free labels).
  Result<std::vector<std::string>> ReadLabelIds(const storage::Txn& txn) const;
  // Every point, `chunk` at a time in label order: `fn(labels, vectors)` with vectors
  // normalised for cosine; ids[label] is set for each. Stops at fn's first error.
  Status ScanPoints(const storage::Txn& txn, size_t chunk, std::vector<std::string>& ids,
                    const std::function<Status(std::span<const uint64_t>, std::span<const float>)>& fn) const;

  // Hiding and dropping (Shard::ApplyRoute, Shard::DropHidden).
  // The change-log entry ([u8 delete][u64 BE label] each) of every point `range` hides.
  Result<std::string> HiddenLabels(const storage::Txn& txn, const HiddenRange& range) const;
  // Up to `max` ids that `range` hides, in id order after `after` ("": from the first);
  // `*at_end` is set if the walk reached the last id.
  Result<std::vector<std::string>> HiddenIdsAfter(const storage::Txn& txn, const HiddenRange& range,
                                                  std::string_view after, size_t max, bool* at_end) const;

  // --- The change log.
  // True if the log holds the entry right after seq `after` (it was not trimmed past).
  Result<bool> ChangeLogReaches(const storage::Txn& txn, uint64_t after) const;
  // The labels touched by batches logged after seq `after`, sorted and unique. False if
  // the log no longer starts right after `after` (it was trimmed).
  Result<bool> LabelsChangedAfter(const storage::Txn& txn, uint64_t after, std::vector<uint64_t>* labels) const;
  // What each of `labels` (sorted) holds in `txn`.
  Result<LabelChanges> ReadLabels(const storage::Txn& txn, std::span<const uint64_t> labels) const;
  // Appends batch `seq`'s entry (`touched`: [u8 op][u64 BE label]...) and sets seq.
  Status LogBatch(storage::WriteTxn& txn, uint64_t seq, std::string_view touched) const;
  // Deletes up to `max_entries` of the oldest entries with seq <= `upto` (bounds the
  // cost a commit pays).
  Status TrimChangeLog(storage::WriteTxn& txn, uint64_t upto, int max_entries) const;

  // --- Payload indexes.
  // The stored definitions text ("" for none).
  Result<std::string> PayloadDefinitionsText(const storage::Txn& txn) const;
  Result<std::vector<payload::Definition>> PayloadDefinitions(const storage::Txn& txn) const;
  Status PutPayloadDefinitions(storage::WriteTxn& txn, const std::vector<payload::Definition>& defs) const;
  // The in-memory payload state (live labels and every index) of snapshot `txn`.
  Result<payload::PayloadState> ReadPayload(const storage::Txn& txn) const;
  // Indexes every point's `path` values of `type` under `slot`; returns how many points
  // it read. `progress(done, n)` returning false stops it with Cancelled (the caller's
  // transaction then aborts).
  Result<uint64_t> IndexField(storage::WriteTxn& txn, const filter::FieldPath& path, PayloadType type, uint32_t slot,
                    const std::function<bool(uint64_t, uint64_t)>& progress) const;
  // Deletes every posting under `slot`.
  Status DropField(storage::WriteTxn& txn, uint32_t slot) const;

  // --- The requests table: outcomes of logged requests, for deduplication
  // (shard_requests.cc, docs/formats/storage.md).
  // The recorded outcome of `request` (duplicate set); for a sequence below what its
  // client acknowledged (forgotten), an Aborted outcome; nullopt if never recorded.
  Result<std::optional<LoggedOutcome>> RequestOutcome(const storage::Txn& txn, const RequestId& request) const;
  // Records `outcome` for `request` (not empty) at `log_index`, forgets the client's
  // requests below request.acked_below, and at every kRequestSweepEvery-th log index
  // forgets the clients not heard from for kRequestIdleEntries log indexes.
  Status RecordRequest(storage::WriteTxn& txn, const RequestId& request, const LoggedOutcome& outcome,
                       uint64_t log_index) const;

  // --- Feedback (feedback_store.h).
  // The "feedback" database.
  storage::Dbi feedback_dbi() const { return feedback_; }
  // A text value under meta `key` ("" if none), and its replacement ("" deletes it).
  Result<std::string> MetaText(const storage::Txn& txn, std::string_view key) const;
  Status PutMetaText(storage::WriteTxn& txn, std::string_view key, std::string_view text) const;
  // True if point `id` exists in `txn`.
  Result<bool> HasPoint(const storage::Txn& txn, std::string_view id) const;

  // Decodes a point record (a view into LMDB) into a Point.
  Result<Point> DecodePoint(std::string_view record, const GetOptions& options) const;

 private:
  friend class PointWriter;
  friend class PayloadSchema;
  ShardStore(storage::LmdbEnv env, std::string dir, const CollectionConfig& config)
      : env_(std::move(env)), dir_(std::move(dir)), config_(config) {}

  struct Hidden {  // Behind a pointer: ShardStore moves.
    mutable Mutex mu;
    std::optional<HiddenRange> range ABSL_GUARDED_BY(mu);
    // range.has_value(), readable without mu: the reads of a shard that hides nothing
    // (all but a split's halves until their drops end) take no lock for it.
    std::atomic<bool> any{false};
  };
  storage::LmdbEnv env_;
  std::string dir_;
  CollectionConfig config_;
  std::unique_ptr<Hidden> hidden_ = std::make_unique<Hidden>();
  storage::Dbi meta_, ids_, points_, free_, changes_, payload_, payload_other_, requests_, clients_, feedback_;
  // Every table of a shard's environment, by its LMDB name: opened by Open, summed by
  // DataBytes.
  static constexpr std::pair<const char*, storage::Dbi ShardStore::*> kTables[] = {
      {"meta", &ShardStore::meta_},         {"ids", &ShardStore::ids_},
      {"points", &ShardStore::points_},     {"free", &ShardStore::free_},
      {"changes", &ShardStore::changes_},   {"payload", &ShardStore::payload_},
      {"payload_other", &ShardStore::payload_other_}, {"requests", &ShardStore::requests_},
      {"clients", &ShardStore::clients_},   {"feedback", &ShardStore::feedback_}};
};

// The point writes of one batch inside one LMDB write transaction: ids, labels (a free
// one reused first), records, payload postings, and the change-log entry to log.
class PointWriter {
 public:
  // REQUIRES: `txn`, `store` and `schema` outlive the writer; schema refreshed in `txn`.
  PointWriter(const ShardStore& store, storage::WriteTxn& txn, const PayloadSchema& schema, uint64_t next_label)
      : store_(store), txn_(txn), schema_(schema), next_label_(next_label) {}

  // Inserts or replaces point `id`. Errors: ResourceExhausted (no label left), LMDB's.
  Status Upsert(std::string_view id, std::span<const float> vector, std::string_view metadata);
  // Deletes point `id`; a missing id is a no-op.
  Status Delete(std::string_view id);
  // Replaces (or with `merge`, RFC 7396 merge-patches) the metadata of point `id`,
  // keeping its vector; `metadata` is canonical JSON-object text or empty.
  // Errors: NotFound (no point `id`), InvalidArgument (merged metadata over the limit).
  Status SetMetadata(std::string_view id, std::string_view metadata, bool merge);
  // Replaces the vector of point `id`, keeping its metadata. Errors: NotFound.
  Status UpdateVector(std::string_view id, std::span<const float> vector);
  // Room for `points` change-log notes (saves reallocations in a large batch).
  void Reserve(size_t points) { touched_.reserve(points * 9); }
  // The change-log entry of what was written ("" if nothing changed).
  const std::string& touched() const { return touched_; }
  uint64_t next_label() const { return next_label_; }

 private:
  Result<std::optional<uint64_t>> LabelOf(std::string_view id);
  Result<uint64_t> TakeLabel();
  // Adds or deletes the postings of `metadata` under every payload index.
  Status Postings(uint64_t label, std::string_view metadata, bool add);
  // Deletes the postings of the record `label` holds now, if any.
  Status UnindexOld(uint64_t label);
  // Rewrites the record of existing point `id` with `vector` and `metadata`, keeping
  // its label, and re-indexes its postings.
  Status Rewrite(std::string_view id, uint64_t label, std::span<const float> vector, std::string_view metadata);
  void Note(WriteBatch::Op op, uint64_t label);

  const ShardStore& store_;
  storage::WriteTxn& txn_;
  const PayloadSchema& schema_;
  uint64_t next_label_;
  std::string touched_;
  std::vector<std::string> keys_;  // scratch
};

}  // namespace vectron
