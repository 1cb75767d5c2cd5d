// Where the cluster core runs slow work (applying committed entries, installing snapshots,
// serving reads) and how its results get back to the node's loop thread.
//
// A node's mutable state belongs to its loop thread. Work handed to an Executor touches
// only what the task was given (a Shard is thread-safe; a state machine is used by one task
// at a time), and reports back by posting a closure to the node's LoopQueue, which the loop
// drains at the start of its next iteration.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <utility>

namespace vectron::net::cluster {

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `task` later, possibly on another thread. Tasks posted with the same `queue` run one
  // at a time in the order posted; tasks of different queues may run in parallel.
  virtual void Post(uint64_t queue, std::function<void()> task) = 0;
};

// Runs every task at once on the caller's thread (unit tests, the placement driver whose
// state machine is tiny).
class InlineExecutor final : public Executor {
 public:
  void Post(uint64_t, std::function<void()> task) override { task(); }
};

// Closures for the loop thread, posted from any thread. Thread-safe.
class LoopQueue {
 public:
  // `wake` (may be empty) is called after each Post, from the posting thread: the daemon's
  // loop uses it to wake up (uv_async_send).
  explicit LoopQueue(std::function<void()> wake = {}) : wake_(std::move(wake)) {}
  void Post(std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      q_.push_back(std::move(fn));
    }
    if (wake_) wake_();
  }
  // Runs every closure posted so far, in order, on the calling (loop) thread; closures
  // posted while draining run in the next Drain. Returns how many ran.
  size_t Drain() {
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(q_);
    }
    for (auto& fn : batch) fn();
    return batch.size();
  }
  // Forgets everything posted (a simulated crash).
  void Clear() {
    std::lock_guard lock(mu_);
    q_.clear();
  }

 private:
  std::function<void()> wake_;
  std::mutex mu_;
  std::deque<std::function<void()>> q_;  // GUARDED_BY(mu_)
};

}  // namespace vectron::net::cluster
