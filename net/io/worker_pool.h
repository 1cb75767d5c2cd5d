// WorkerPool: a fixed set of threads running tasks from one bounded queue, so engine
// calls never run on (and never block) the event loop, and overload is refused rather
// than queued without limit.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vectron::net {

// Thread-safe.
class WorkerPool {
 public:
  // Starts `threads` (>= 1) workers; at most `queue_max` tasks wait beyond those running.
  WorkerPool(unsigned threads, size_t queue_max);
  // Runs the tasks already queued, then joins the threads.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; returns false (task dropped, nothing run) if the queue is full or the
  // pool is shutting down. The caller then answers "busy" (HTTP 503).
  bool TrySubmit(std::function<void()> task);
  // Stops accepting tasks, finishes queued and running ones, joins. Idempotent.
  void Shutdown();

  size_t queued() const;   // Tasks waiting.
  size_t running() const;  // Tasks executing now.
  bool idle() const;       // No task queued or running.
  // Blocks until idle() (returns at once if it is). Another thread's submit may end it
  // the moment this returns.
  void WaitIdle() const;
  unsigned threads() const { return static_cast<unsigned>(threads_.size()); }
  size_t queue_max() const { return queue_max_; }

 private:
  void Loop();

  const size_t queue_max_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  mutable std::condition_variable idle_cv_;  // Notified when the last running task ends with none queued.
  std::deque<std::function<void()>> queue_;  // Guarded by mu_.
  size_t running_ = 0;                       // Guarded by mu_.
  bool stopping_ = false;                    // Guarded by mu_.
  std::vector<std::thread> threads_;
};

}  // namespace vectron::net
