// The time and randomness seams of the cluster core (STYLE.md, "Injectable I/O and
// determinism"). Cluster code never reads a clock or a random source of its own: it is
// handed these. The daemons pass a monotonic clock and a seeded generator; the simulator
// passes per-node skewed clocks and one seeded generator per run.
#pragma once

#include <cstdint>

namespace vectron::net::cluster {

// A monotonic clock in milliseconds. Never goes back; its origin is arbitrary.
class Clock {
 public:
  virtual ~Clock() = default;
  // The current time in ms. Thread-safe in implementations used by daemons.
  virtual uint64_t NowMs() const = 0;
};

// A source of random 64-bit values. Not thread-safe: one owner.
class Rng {
 public:
  virtual ~Rng() = default;
  virtual uint64_t Next() = 0;
  // Uniform in [0, n); 0 for n == 0.
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  // Uniform in [lo, hi]. REQUIRES: lo <= hi.
  uint64_t Range(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }
  // True with probability p.
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0) < p; }
};

// splitmix64: a small deterministic generator (one seed replays a run).
class SplitMixRng final : public Rng {
 public:
  explicit SplitMixRng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t Next() override {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t s_;
};

// A clock the owner sets by hand (unit tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t now_ms = 0) : now_ms_(now_ms) {}
  uint64_t NowMs() const override { return now_ms_; }
  void Advance(uint64_t ms) { now_ms_ += ms; }
  void Set(uint64_t now_ms) { now_ms_ = now_ms; }

 private:
  uint64_t now_ms_;
};

// A quiet period that each event extends to `each_ms` after it, but that a run of events
// (one after another, each inside the period of the one before) holds at most `max_ms`
// after its first: the wait of background work after splits (WorkerNode).
class SettleWindow {
 public:
  SettleWindow(uint64_t each_ms, uint64_t max_ms) : each_ms_(each_ms), max_ms_(max_ms) {}
  void Extend(uint64_t now) {
    if (now >= until_) since_ = now;  // A new run.
    if (now + each_ms_ > until_) until_ = now + each_ms_;
  }
  bool Holds(uint64_t now) const { return now < until_ && now < since_ + max_ms_; }

 private:
  uint64_t each_ms_, max_ms_;
  uint64_t until_ = 0, since_ = 0;
};

}  // namespace vectron::net::cluster
