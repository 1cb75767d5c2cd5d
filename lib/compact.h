// Compaction internals: the online index rebuild of a shard, LMDB file compaction, and
// the background trigger driven by DatabaseOptions::auto_compact_deleted_share.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <thread>

#include "shard_impl.h"

namespace vectron {

// Rebuilds the shard's HNSW graph from an LMDB snapshot without holding any lock, then
// under write_mu applies the batches committed meanwhile and swaps it in (searches see
// the old graph or the new one, never a mix) and saves a checkpoint. No-op for a flat
// index. `progress` may stop it (Cancelled, nothing changed).
Status CompactShardIndex(Shard::Impl& shard, const ProgressFn& progress);
// Rewrites the shard's LMDB file compactly (LmdbEnv::CompactFiles) with its writers held.
// Errors: FailedPrecondition if another process has the shard open.
Status CompactShardFiles(Shard::Impl& shard);

// Runs at most one background index compaction per collection at a time. Destroying it
// stops a running compaction (Cancelled, nothing changed) and waits for it.
class BackgroundCompactor {
 public:
  BackgroundCompactor() = default;
  BackgroundCompactor(const BackgroundCompactor&) = delete;
  BackgroundCompactor& operator=(const BackgroundCompactor&) = delete;
  ~BackgroundCompactor();
  // Starts compacting the indexes of `shards` whose deleted share reached `share`,
  // unless a run is going on. Cheap when nothing is due; no-op when share <= 0.
  // REQUIRES: the shards outlive this object.
  void MaybeStart(std::span<const std::unique_ptr<Shard>> shards, double share);

 private:
  std::mutex mu_;
  std::thread thread_;  // GUARDED_BY(mu_)
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
};

}  // namespace vectron
