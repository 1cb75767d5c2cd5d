// The real seams of the cluster core for the daemons: a monotonic clock, an Rng seeded
// from the OS, and an Executor that runs each queue's tasks in order on a thread pool.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "net/cluster/clock.h"
#include "net/cluster/executor.h"

namespace vectron::net::daemon {

// CLOCK_MONOTONIC in milliseconds.
class SteadyClock final : public cluster::Clock {
 public:
  uint64_t NowMs() const override;
};

// SplitMix64 seeded from std::random_device (the OS).
class OsSeededRng final : public cluster::Rng {
 public:
  OsSeededRng();
  uint64_t Next() override { return rng_.Next(); }

 private:
  cluster::SplitMixRng rng_;
};

// Tasks of one queue run one at a time, in order; different queues run in parallel on
// `threads` threads. The destructor finishes the tasks already running and drops the rest.
class PoolExecutor final : public cluster::Executor {
 public:
  explicit PoolExecutor(int threads);
  ~PoolExecutor() override;
  void Post(uint64_t queue, std::function<void()> task) override;
  // Waits for the tasks now running, drops the queued ones and ignores later Posts.
  void Stop();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::deque<std::function<void()>>> queues_;  // Guarded by mu_.
  std::deque<uint64_t> ready_;     // Queues with work and no task running. Guarded by mu_.
  std::map<uint64_t, bool> busy_;  // Guarded by mu_.
  bool stop_ = false;              // Guarded by mu_.
  std::vector<std::thread> threads_;
};

}  // namespace vectron::net::daemon
