// Caps on open connections, shared by the listeners of one server: in total and per
// client address, so that one client (or a flood of them) cannot take every file
// descriptor and the memory each connection holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace vectron::net {

// Not thread-safe: used on the loop thread that owns the listeners.
class ConnectionLimiter {
 public:
  // 0 for either: no cap of that kind.
  ConnectionLimiter(size_t max_total, size_t max_per_ip) : max_total_(max_total), max_per_ip_(max_per_ip) {}

  // Takes a slot for a new connection from address `ip` (no port). False, counting a
  // refusal, if the total or that address is at its cap; the caller then closes it.
  bool Acquire(const std::string& ip);
  // Gives back a slot taken by Acquire. REQUIRES: a matching successful Acquire.
  void Release(const std::string& ip);

  size_t open() const { return open_; }
  size_t open_from(const std::string& ip) const;
  // Connections refused since start, by which cap.
  uint64_t refused_total_cap() const { return refused_total_; }
  uint64_t refused_ip_cap() const { return refused_ip_; }
  size_t max_total() const { return max_total_; }
  size_t max_per_ip() const { return max_per_ip_; }

 private:
  size_t max_total_, max_per_ip_;
  size_t open_ = 0;
  uint64_t refused_total_ = 0, refused_ip_ = 0;
  std::unordered_map<std::string, size_t> per_ip_;  // Only addresses with open connections.
};

}  // namespace vectron::net
