#include "net/auth/rate_limiter.h"

#include <algorithm>

namespace vectron::net {

RateLimiter::Bucket& RateLimiter::Get(const std::string& key, double now_s) {
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) {
      // Forget buckets that have refilled; if none has, the one least recently touched.
      for (auto b = buckets_.begin(); b != buckets_.end();) {
        double t = b->second.tokens + (now_s - b->second.at_s) * limit_.refill_per_s;
        b = t >= limit_.burst ? buckets_.erase(b) : std::next(b);
      }
      if (buckets_.size() >= max_keys_) {
        auto oldest = std::min_element(buckets_.begin(), buckets_.end(),
                                       [](auto& a, auto& b) { return a.second.at_s < b.second.at_s; });
        buckets_.erase(oldest);
      }
    }
    it = buckets_.emplace(key, Bucket{limit_.burst, now_s}).first;
  }
  Bucket& b = it->second;
  if (now_s > b.at_s) {
    b.tokens = std::min(limit_.burst, b.tokens + (now_s - b.at_s) * limit_.refill_per_s);
    b.at_s = now_s;
  }
  return b;
}

double RateLimiter::WaitSeconds(const std::string& key, double now_s) {
  std::lock_guard lock(mu_);
  if (buckets_.find(key) == buckets_.end()) return 0;
  Bucket& b = Get(key, now_s);
  if (b.tokens >= 1) return 0;
  return limit_.refill_per_s > 0 ? (1 - b.tokens) / limit_.refill_per_s : 1e9;
}

void RateLimiter::Consume(const std::string& key, double now_s) {
  std::lock_guard lock(mu_);
  Bucket& b = Get(key, now_s);
  b.tokens = std::max(0.0, b.tokens - 1);
}

void RateLimiter::Reset(const std::string& key) {
  std::lock_guard lock(mu_);
  buckets_.erase(key);
}

}  // namespace vectron::net
