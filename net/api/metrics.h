// Request metrics in Prometheus text format: counts per route, method and status (or
// RPC method and code) and latency histograms per route.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace vectron::net {

// Thread-safe.
class RequestMetrics {
 public:
  // Upper bounds of the latency buckets, in seconds.
  static constexpr std::array<double, 14> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                      0.025,  0.05,    0.1,    0.25,  0.5,    1,     5};

  // Records one HTTP request that took `seconds`.
  void ObserveHttp(const std::string& method, const std::string& route, int status, double seconds);
  // Records one RPC request; `code` is a StatusCodeName ("ok", "not_found"...).
  void ObserveRpc(const std::string& method, const std::string& code, double seconds);
  // Appends the counters and histograms to `*out` (Prometheus text format 0.0.4).
  void Render(std::string* out) const;

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
    void Observe(double s);
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> http_counts_;  // Guarded by mu_.
  std::map<std::pair<std::string, std::string>, Histogram> http_latency_;      // Guarded by mu_.
  std::map<std::pair<std::string, std::string>, uint64_t> rpc_counts_;         // Guarded by mu_.
  std::map<std::string, Histogram> rpc_latency_;                               // Guarded by mu_.
};

// Escapes a Prometheus label value (backslash, quote, newline).
std::string PromEscape(const std::string& s);

}  // namespace vectron::net
