// InlineGate: whether the event-loop thread may run a light request itself instead of
// handing it to the worker pool.
//
// A request served through the pool crosses threads twice (loop -> worker -> loop), and
// on a small machine each wake-up of a sleeping thread costs tens of microseconds: with
// one client that is a third of a 0.1 ms search. When the server has nothing else to
// do -- the pool idle, and no connection but this one has sent a request lately -- the
// loop runs the request at once. As soon as a second connection is active, or the pool
// has work, requests go to the pool again, so concurrent clients keep every worker
// thread and the loop stays free to read their requests.
#pragma once

#include <chrono>
#include <cstdint>

#include "net/io/worker_pool.h"

namespace vectron::net {

// Loop thread only (one gate per event loop, shared by every listener on it).
class InlineGate {
 public:
  // A connection is "the only active one" once no other connection has sent a request
  // for `window`.
  static constexpr std::chrono::microseconds kDefaultWindow{10000};

  // `enabled` false: TryEnter always answers false (every request goes to the pool).
  InlineGate(const WorkerPool& pool, bool enabled, std::chrono::microseconds window = kDefaultWindow)
      : pool_(pool), enabled_(enabled), window_(window) {}

  // Records that connection `conn` (an id unique in the process, Connection::id()) sent
  // a request at `now`, and answers whether the caller should run it on the loop now:
  // enabled, no other connection has sent one within the window, and the pool has no
  // task queued or running. Call for every request, light or not (`light` false: the
  // request is only recorded).
  bool TryEnter(uint64_t conn, bool light, std::chrono::steady_clock::time_point now);

  // Requests run on the loop so far (metrics, tests).
  uint64_t inlined() const { return inlined_; }

 private:
  const WorkerPool& pool_;
  const bool enabled_;
  const std::chrono::microseconds window_;
  uint64_t last_conn_ = 0;
  std::chrono::steady_clock::time_point last_switch_{};  // When last_conn_ last changed.
  uint64_t inlined_ = 0;
};

}  // namespace vectron::net
