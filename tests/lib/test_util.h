// Helpers for tests: fresh temp directories and deterministic vectors.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "util/files.h"
#include "vectron/vectron.h"

namespace vectron::testing {

// A fresh directory under $TMPDIR, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/vectron-test-XXXXXX";
    char* p = mkdtemp(tmpl.data());
    if (!p) std::abort();
    path_ = p;
  }
  ~TempDir() { (void)RemoveAll(path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& sub) const { return path_ + "/" + sub; }

 private:
  std::string path_;
};

// n × dim floats, uniform in [-1, 1), from `seed`.
inline std::vector<float> RandomVectors(size_t n, uint32_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n * dim);
  for (auto& x : v) x = u(rng);
  return v;
}

// The vector a test writes for `id`, reproducible from the id alone.
inline std::vector<float> VectorForId(const std::string& id, uint32_t dim) {
  return RandomVectors(1, dim, std::hash<std::string>{}(id));
}

inline CollectionConfig SmallConfig(uint32_t dim, Metric metric = Metric::kL2) {
  CollectionConfig c;
  c.dim = dim;
  c.metric = metric;
  return c;
}

// Wakes a test thread that waits for a condition other threads change: each of them
// calls Notify() after a change, and the test calls Wait(done). No polling: the waiter
// sleeps on a condition variable and checks `done` again after each Notify. `done` runs
// outside the object's lock, so it may itself wait for a thread that calls Notify.
class Progress {
 public:
  void Notify() {
    {
      std::lock_guard lock(mu_);
      ++changes_;
    }
    cv_.notify_all();
  }
  // True as soon as `done()` is; false if it is still not after `seconds` (REQUIRE it, so a
  // stall fails the test).
  template <typename Pred>
  bool Wait(Pred done, double seconds = 60) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                                 std::chrono::duration<double>(seconds));
    for (;;) {
      uint64_t seen;
      {
        std::lock_guard lock(mu_);
        seen = changes_;
      }
      if (done()) return true;
      // A change after `seen` was read, even one before this wait, ends it.
      std::unique_lock lock(mu_);
      if (!cv_.wait_until(lock, deadline, [&] { return changes_ != seen; })) {
        lock.unlock();
        return done();
      }
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t changes_ = 0;  // Notify calls so far.
};

// A count that other threads raise and a test thread waits on (woken by each raise, no
// polling). Reads like std::atomic's fetch_add and load.
class Counter {
 public:
  // Adds `n`; returns the count before.
  uint64_t fetch_add(uint64_t n) {
    const uint64_t before = value_.fetch_add(n);
    progress_.Notify();
    return before;
  }
  uint64_t load() const { return value_.load(); }
  // True once the count is above `than`; false if it is not after `seconds` (REQUIRE it).
  bool WaitAbove(uint64_t than, double seconds = 60) const {
    return progress_.Wait([&] { return value_.load() > than; }, seconds);
  }

 private:
  std::atomic<uint64_t> value_{0};
  mutable Progress progress_;
};

// Records the stages reported through DatabaseOptions::progress.
struct Stages {
  std::vector<std::string> seen;
  // Options whose progress callback records into `seen` (keep this object alive).
  DatabaseOptions Options() {
    DatabaseOptions o;
    o.progress = [this](std::string_view stage, uint64_t, uint64_t) {
      seen.emplace_back(stage);
      return true;
    };
    return o;
  }
};

}  // namespace vectron::testing
