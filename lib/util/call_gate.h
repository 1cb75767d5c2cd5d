// CallGate: counts the calls in flight on an object so that one closer can wait for them.
// Once Close() starts, TryEnter() fails at once: a stream of callers cannot starve the
// closer (as the readers of a reader-preferring rwlock could), and a call made from
// inside another call (a callback) fails instead of deadlocking against a waiting
// closer. The call path is lock-free: one atomic add to enter, one to leave.
//
// For clang's thread-safety analysis the gate is a capability: a call holds it shared
// between TryEnter() and Leave() (GateCall adopts and leaves it), and the closer holds it
// exclusively from Close() to EndClose(), so members it guards are read by calls and
// torn down by the closer.
#pragma once

#include <absl/base/thread_annotations.h>

#include <atomic>
#include <cstdint>

namespace vectron {

class ABSL_LOCKABLE CallGate {
 public:
  CallGate() = default;
  CallGate(const CallGate&) = delete;
  CallGate& operator=(const CallGate&) = delete;

  // Enters a call: true unless Close() has started (then nothing is entered).
  bool TryEnter() ABSL_SHARED_TRYLOCK_FUNCTION(true) {
    if (!(state_.fetch_add(1, std::memory_order_acquire) & kClosing)) return true;
    Release();
    return false;
  }
  // Leaves a call TryEnter() entered.
  void Leave() ABSL_UNLOCK_FUNCTION() { Release(); }

  // Refuses new calls, then waits until every call in flight has left. Everything
  // written before Close() is seen by a TryEnter() that fails. REQUIRES: called once.
  void Close() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    uint32_t s = state_.fetch_or(kClosing, std::memory_order_acq_rel) | kClosing;
    while (s != kClosing) {
      state_.wait(s, std::memory_order_acquire);
      s = state_.load(std::memory_order_acquire);
    }
  }
  // Ends the closer's exclusive section (for the analysis); the gate stays closed.
  void EndClose() ABSL_UNLOCK_FUNCTION() {}
  // Whether Close() has started.
  bool closing() const { return state_.load(std::memory_order_acquire) & kClosing; }

 private:
  static constexpr uint32_t kClosing = 1u << 31;  // The low bits count calls in flight.

  void Release() {
    if (state_.fetch_sub(1, std::memory_order_acq_rel) == kClosing + 1) state_.notify_all();
  }

  std::atomic<uint32_t> state_{0};
};

// Leaves an entered call at the end of its scope.
//   if (!gate.TryEnter()) return closed_status;
//   GateCall call(gate);
class ABSL_SCOPED_LOCKABLE GateCall {
 public:
  explicit GateCall(CallGate& gate) ABSL_SHARED_LOCKS_REQUIRED(gate) : gate_(gate) {}
  ~GateCall() ABSL_UNLOCK_FUNCTION() { gate_.Leave(); }
  GateCall(const GateCall&) = delete;
  GateCall& operator=(const GateCall&) = delete;

 private:
  CallGate& gate_;
};

}  // namespace vectron
