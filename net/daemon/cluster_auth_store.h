// ClusterAuthStore: a gateway's AuthStore (net/auth/auth_store.h), an adapter over its
// Router's LoadAuth/CommitAuth: the records live in the placement driver's replicated
// state (docs/cluster.md, "Auth state"), so every gateway sees the same users, keys and
// signing keys. The gateway keeps a copy, reloaded when its map shows a newer
// auth_version (the map is refreshed every second), and at once after its own commits.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "net/auth/auth_store.h"
#include "net/cluster/router.h"
#include "net/io/event_loop.h"

namespace vectron::net::daemon {

class ClusterAuthStore final : public AuthStore {
 public:
  // `loop` runs `router` (both outlive this store). `timeout_ms` bounds a blocking call.
  ClusterAuthStore(EventLoop& loop, cluster::Router& router, uint64_t timeout_ms);

  // Loop thread, every step: loads the records the first time a map is in, and again
  // whenever the map's auth_version passed the copy's. The PD's records start at
  // version 0, which a commit cannot name (0 means "unconditionally"): an empty table
  // gets a marker record first ("meta/cluster", unconditionally; written twice is the
  // same), so that every later change is a true compare-and-set.
  void Poll();

  // Not on the loop thread: waits until the records were loaded once. Unavailable after
  // `timeout_ms`.
  Status WaitLoaded(uint64_t timeout_ms);

  // The copy, never blocking. Unavailable until the first load.
  Result<Snapshot> Load() override;
  // Blocks until the PD answers: never call it on the loop thread. After an Aborted (or
  // a commit whose base was not the copy's version) the copy is reloaded before it
  // returns. Errors: Aborted, Unavailable (no answer within the router's deadline).
  Result<uint64_t> Commit(uint64_t if_version, std::vector<AuthChange> changes) override;
  uint64_t version() override { return version_.load(std::memory_order_acquire); }

  // An AuthStore forwarding to this one, which must outlive it: for the Authenticator,
  // while the gateway keeps this store (its loop polls it).
  std::unique_ptr<AuthStore> Borrow();

 private:
  // Loop thread: asks for the records; `then` (loop thread) runs after they came in.
  void StartLoad();
  // Takes `r` as the copy if it is newer. Any thread.
  void Adopt(cluster::Router::AuthRecords r);
  // Not on the loop thread: loads the records now and takes them.
  Status ReloadBlocking();

  EventLoop& loop_;
  cluster::Router& router_;
  const uint64_t timeout_ms_;
  std::mutex mu_;
  std::condition_variable loaded_cv_;
  std::optional<Snapshot> copy_;  // Guarded by mu_.
  std::atomic<uint64_t> version_{0};
  // Loop thread only.
  bool loading_ = false;
  uint64_t next_try_ms_ = 0;
};

}  // namespace vectron::net::daemon
