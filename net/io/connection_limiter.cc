#include "net/io/connection_limiter.h"

#include "vectron/status.h"

namespace vectron::net {

bool ConnectionLimiter::Acquire(const std::string& ip) {
  if (max_total_ != 0 && open_ >= max_total_) {
    ++refused_total_;
    return false;
  }
  size_t& n = per_ip_[ip];
  if (max_per_ip_ != 0 && n >= max_per_ip_) {
    ++refused_ip_;
    return false;
  }
  ++n;
  ++open_;
  return true;
}

void ConnectionLimiter::Release(const std::string& ip) {
  auto it = per_ip_.find(ip);
  VECTRON_CHECK(it != per_ip_.end() && it->second > 0 && open_ > 0);
  --open_;
  if (--it->second == 0) per_ip_.erase(it);
}

size_t ConnectionLimiter::open_from(const std::string& ip) const {
  auto it = per_ip_.find(ip);
  return it == per_ip_.end() ? 0 : it->second;
}

}  // namespace vectron::net
