// Background compaction, driven by DatabaseOptions::auto_compact_deleted_share. The
// compaction itself is IndexSync::CompactIndex / CompactFiles (in compact.cc with this).
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <thread>

#include "shard_impl.h"
#include "util/mutex.h"

namespace vectron {

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
  void MaybeStart(std::span<const std::unique_ptr<ShardImpl>> shards, double share) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Mutex mu_;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
};

}  // namespace vectron
