#include "net/api/metrics.h"

#include <cstdio>

namespace vectron::net {

std::string PromEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void RequestMetrics::Histogram::Observe(double s) {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (s <= kBuckets[i]) ++buckets[i];
  }
  ++count;
  sum += s;
}

void RequestMetrics::ObserveHttp(const std::string& method, const std::string& route, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++http_counts_[{method, route, status}];
  http_latency_[{method, route}].Observe(seconds);
}

void RequestMetrics::ObserveRpc(const std::string& method, const std::string& code, double seconds) {
  std::lock_guard lock(mu_);
  ++rpc_counts_[{method, code}];
  rpc_latency_[method].Observe(seconds);
}

namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace

void RequestMetrics::Render(std::string* out) const {
  std::lock_guard lock(mu_);
  auto hist = [&](const std::string& name, const std::string& labels, const Histogram& h) {
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      *out += name + "_bucket{" + labels + ",le=\"" + Num(kBuckets[i]) + "\"} " + std::to_string(h.buckets[i]) + "\n";
    }
    *out += name + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    *out += name + "_sum{" + labels + "} " + Num(h.sum) + "\n";
    *out += name + "_count{" + labels + "} " + std::to_string(h.count) + "\n";
  };
  *out += "# HELP vectron_http_requests_total HTTP requests answered, by method, route and status.\n";
  *out += "# TYPE vectron_http_requests_total counter\n";
  for (auto& [k, n] : http_counts_) {
    auto& [method, route, status] = k;
    *out += "vectron_http_requests_total{method=\"" + PromEscape(method) + "\",route=\"" + PromEscape(route) +
            "\",status=\"" + std::to_string(status) + "\"} " + std::to_string(n) + "\n";
  }
  *out += "# HELP vectron_http_request_duration_seconds HTTP request latency, first byte to response queued.\n";
  *out += "# TYPE vectron_http_request_duration_seconds histogram\n";
  for (auto& [k, h] : http_latency_) {
    hist("vectron_http_request_duration_seconds",
         "method=\"" + PromEscape(k.first) + "\",route=\"" + PromEscape(k.second) + "\"", h);
  }
  *out += "# HELP vectron_rpc_requests_total RPC requests answered, by method and status code.\n";
  *out += "# TYPE vectron_rpc_requests_total counter\n";
  for (auto& [k, n] : rpc_counts_) {
    *out += "vectron_rpc_requests_total{method=\"" + PromEscape(k.first) + "\",code=\"" + PromEscape(k.second) +
            "\"} " + std::to_string(n) + "\n";
  }
  *out += "# HELP vectron_rpc_request_duration_seconds RPC request latency, frame decoded to response queued.\n";
  *out += "# TYPE vectron_rpc_request_duration_seconds histogram\n";
  for (auto& [m, h] : rpc_latency_) hist("vectron_rpc_request_duration_seconds", "method=\"" + PromEscape(m) + "\"", h);
}

}  // namespace vectron::net
