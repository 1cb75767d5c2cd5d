// EventLoop: one libuv loop run by one thread, plus the thread-safe ways in (Post) and
// the loop-thread services the servers need (periodic timers, signals).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

struct uv_loop_s;

namespace vectron::net {

// Owns a uv_loop_t. Every method except Post() and Stop() must be called on the loop
// thread (the thread in Run(), or any thread before Run() starts).
class EventLoop {
 public:
  EventLoop();
  // REQUIRES: Run() has returned (or never ran). Closes every handle it created.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs callbacks until Stop(). Returns on the calling thread.
  void Run();
  // Runs the callbacks that are ready now, without blocking (tests, fuzzers).
  void RunNoWait();
  // Thread-safe: makes Run() return after the callbacks now running finish.
  void Stop();
  // Thread-safe: runs `fn` on the loop thread soon, in posting order. Functions posted
  // after Run() has returned are dropped (destroyed) by the destructor.
  void Post(std::function<void()> fn);
  // Calls `fn` on the loop thread every `interval_ms` until the loop is destroyed.
  void Every(uint64_t interval_ms, std::function<void()> fn);
  // Calls `fn` on the loop thread whenever `signum` arrives (e.g. SIGTERM).
  void OnSignal(int signum, std::function<void()> fn);
  // Busy polling: after a pass of the loop in which `activity()` changed (e.g. a request
  // was answered on the loop), Run() keeps polling without sleeping until `window` passes
  // with no change, then sleeps as usual. A client that sends its next request within the
  // window then finds the loop awake: on a VM, waking an idle vCPU costs tens of
  // microseconds per request. `window` 0 (the default) turns it off. Call before Run().
  void SetBusyPoll(std::chrono::microseconds window, std::function<uint64_t()> activity);
  // Passes of Run() that polled instead of sleeping (metrics, tests).
  uint64_t busy_polls() const;
  // The loop's cached monotonic time in milliseconds.
  uint64_t NowMs() const;

  uv_loop_s* raw();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vectron::net
