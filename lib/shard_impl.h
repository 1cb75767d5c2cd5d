// Shard internals shared with Collection (which validates once and then applies).
#pragma once

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include <deque>
#include <memory>

#include "filter/filter.h"
#include "index/hnsw_index.h"
#include "payload/payload.h"
#include "storage/lmdb.h"
#include "vectron/shard.h"

namespace vectron {

// The LMDB schema of a shard (docs/formats/storage.md).
//   meta:    "format" → "1", "config" → CollectionConfig JSON, "seq", "applied_index",
//            "next_label", "checkpoint_seq" → u64 big-endian.
//   ids:     point id → label (u64 BE).
//   points:  label (u64 BE) → [dim × f32 LE][u16 id length][id][metadata JSON].
//   free:    label (u64 BE) → "" (labels of deleted points, reused first).
//   changes: seq (u64 BE) → repeated [u8 op][label u64 BE]: which labels a batch touched.
//   payload: [u32 slot][value key][u64 label] → "" (payload index postings).
//   payload_other: [u32 slot][u64 label] → "" (values an index cannot hold).
//   meta "payload_indexes" → JSON list of payload index definitions.
struct Shard::Impl {
  std::string dir;
  CollectionConfig config;
  DatabaseOptions options;
  storage::LmdbEnv env;
  storage::Dbi meta, ids, points, free_labels, changes, payload_dbi, payload_other;
  bool closing_without_checkpoint = false;

  // Serialises this process's writers, catch-up and checkpoints (LMDB serialises the
  // commits themselves across processes).
  std::mutex write_mu;
  // How many of this process's writers (batches, index builds, compactions) hold or
  // wait for write_mu. A search that finds the index behind LMDB waits for write_mu
  // only when this is 0, i.e. when the holder is another search catching up on other
  // processes' commits, never behind a local write (which catches up itself).
  std::atomic<int> local_writers{0};
  struct LocalWriter {
    explicit LocalWriter(std::atomic<int>& n) : n_(n) { n_.fetch_add(1); }
    ~LocalWriter() { n_.fetch_sub(1); }
    std::atomic<int>& n_;
  };
  // Guards the index contents together with label_ids and index_seq, so a search maps
  // labels to ids consistently with the graph it searched.
  mutable std::shared_mutex state_mu;
  // Searches waiting for state_mu. A catch-up that inserts a large batch chunk by chunk
  // lets them in between chunks (else the writer, re-locking at once, could win every
  // time and searches would wait for the whole batch after all).
  mutable std::atomic<int> searches_waiting{0};
  std::shared_lock<std::shared_mutex> SearchLock() const {
    searches_waiting.fetch_add(1);
    std::shared_lock s(state_mu);
    searches_waiting.fetch_sub(1);
    return s;
  }
  std::unique_ptr<Index> index;         // GUARDED_BY(state_mu)
  std::vector<std::string> label_ids;   // GUARDED_BY(state_mu), label → id, "" = free
  uint64_t index_seq = 0;               // GUARDED_BY(state_mu), LMDB seq the index reflects
  uint64_t checkpoint_seq = 0;          // GUARDED_BY(write_mu), seq of the saved graph
  uint64_t ops_since_checkpoint = 0;    // GUARDED_BY(write_mu)
  bool force_checkpoint = false;        // GUARDED_BY(write_mu): save even if seq is unchanged
  std::atomic<uint64_t> seen_txnid{0};  // LMDB txn id last caught up to
  payload::PayloadState payload;        // GUARDED_BY(state_mu), live labels + payload indexes
  // Payload index definitions as last read inside a write transaction.
  std::string defs_raw;                         // GUARDED_BY(write_mu)
  std::vector<payload::Definition> defs;        // GUARDED_BY(write_mu)
  std::vector<filter::FieldPath> def_paths;     // GUARDED_BY(write_mu), parallel to defs

  // Recently computed allow-lists, keyed by canonical filter text and payload version.
  struct CachedAllow {
    std::string key;
    uint64_t version;
    std::shared_ptr<const payload::Bitmap> allow;
  };
  mutable std::mutex allow_mu;
  mutable std::deque<CachedAllow> allow_cache;  // GUARDED_BY(allow_mu)

  explicit Impl(storage::LmdbEnv e) : env(std::move(e)) {}

  // Writes a validated batch (canonical metadata per entry) in one LMDB transaction,
  // then brings the index up to date. REQUIRES: ValidateBatch passed.
  Status ApplyValidated(const WriteBatch& batch, const std::vector<std::string>& metadata,
                        uint64_t log_index);
  // Makes the index reflect the latest committed LMDB state.
  Status CatchUp();  // REQUIRES: write_mu held.
  // The labels touched by the batches logged after seq `after`, sorted and unique.
  // False if the change log no longer starts right after `after` (it was trimmed).
  Result<bool> LabelsChangedAfter(const storage::Txn& txn, uint64_t after, std::vector<uint64_t>* labels) const;
  // Points a catch-up inserts while searches wait (the first chunks of a batch; later
  // ones are 1/32 of the batch so far, when that is larger).
  static constexpr size_t kStageChunk = 32;
  // Catch-up's bookkeeping once the index holds the changes: label → id, payload, seq.
  // REQUIRES: write_mu and state_mu (exclusive) held. Moves from up_ids.
  void PublishLocked(std::span<const uint64_t> rm_labels, std::span<const uint64_t> up_labels,
                     std::vector<std::string>& up_ids, std::span<const std::string> up_meta, uint64_t seq);
  Status RebuildIndex(const storage::ReadTxn& txn, uint64_t seq, const char* reason);  // REQUIRES: write_mu
  Status LoadCheckpoint(std::string* why_not);  // REQUIRES: write_mu
  Status SaveCheckpoint();                      // REQUIRES: write_mu
  Status MaybeRefresh();
  Result<Point> DecodePoint(std::string_view value, const GetOptions& options) const;
  // Rebuilds `payload` (live labels and payload indexes) from snapshot `txn`.
  Status LoadPayload(const storage::Txn& txn);  // REQUIRES: state_mu not held
  // The exact set of live labels matching `f`, possibly cached.
  // REQUIRES: state_mu held (shared); `txn` is a snapshot for reading metadata.
  Result<std::shared_ptr<const payload::Bitmap>> Allow(const filter::Filter& f, const storage::Txn& txn) const;
  // Reads the payload index definitions inside a write txn (cached by raw text).
  Status ReadDefinitions(const storage::Txn& txn);  // REQUIRES: write_mu
  Status CreatePayloadIndex(std::string_view field, PayloadType type);
  Status DropPayloadIndex(std::string_view field);
  Result<std::vector<PayloadIndexInfo>> ListPayloadIndexes() const;
  // Ids of the live points matching `f`. REQUIRES: state_mu not held.
  Result<std::vector<std::string>> IdsWhere(const filter::Filter& f) const;
  bool IsHnsw() const { return index && index->kind() == "hnsw"; }
  unsigned threads() const;
};

// The one door from the rest of lib/ into a Shard's internals.
struct ShardAccess {
  static Shard::Impl& Of(Shard& s) { return *s.impl_; }
};

}  // namespace vectron
