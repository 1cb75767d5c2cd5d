// Helpers for tests: fresh temp directories and deterministic vectors.
#pragma once

#include <chrono>
#include <cstdlib>
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

// Polls `done` every 100 us until it returns true (then true) or `seconds` pass (then
// false). For waiting on another thread's progress: REQUIRE it, so a stall fails the test.
template <typename Pred>
bool WaitUntil(Pred done, double seconds = 60) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

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
