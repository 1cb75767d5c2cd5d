// Token buckets per key (a user name, a peer address) for login attempts. Pure logic:
// the caller passes the time, so tests drive it without sleeping. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace vectron::net {

struct RateLimit {
  double burst = 5;            // Attempts allowed at once (bucket size).
  double refill_per_s = 1.0 / 60;  // Attempts regained per second.
};

class RateLimiter {
 public:
  // `max_keys` bounds memory: past it, full buckets are forgotten, then the oldest.
  explicit RateLimiter(RateLimit limit, size_t max_keys = 100000) : limit_(limit), max_keys_(max_keys) {}

  // Seconds until `key` has an attempt left at time `now_s` (0: it has one now).
  // Does not consume.
  double WaitSeconds(const std::string& key, double now_s);
  // Takes one attempt from `key`'s bucket (going to at most 0).
  void Consume(const std::string& key, double now_s);
  // Refills `key`'s bucket (a successful login clears its failures).
  void Reset(const std::string& key);

 private:
  struct Bucket {
    double tokens;
    double at_s;
  };
  Bucket& Get(const std::string& key, double now_s);  // REQUIRES: mu_ held.
  RateLimit limit_;
  size_t max_keys_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;  // Guarded by mu_.
};

}  // namespace vectron::net
