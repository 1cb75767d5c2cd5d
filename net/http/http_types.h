// HTTP/1.1 request and response values shared by the parser glue, the router and the
// REST handlers.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vectron::net {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // As sent: "/v1/collections?x=1".
  std::string path;    // Target without the query, percent-decoded.
  std::string query;   // After '?', raw.
  std::vector<std::pair<std::string, std::string>> headers;  // Names lower-cased.
  std::string body;
  bool keep_alive = true;
  int http_minor = 1;
  uint64_t start_ms = 0;  // Loop time when its first byte arrived.
  std::chrono::steady_clock::time_point start;  // The same, precise (latency metrics).
  std::string peer;
  uint64_t connection = 0;  // Connection::id() of the connection it came on.

  // First header named `name` (lower-case), or empty.
  std::string_view Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // Extra headers.
  std::string route = "unmatched";  // Metrics label: the route pattern that served it.
  bool close = false;               // Close the connection after sending.
};

// {"error": {"code": code, "message": message}} with `status`.
HttpResponse JsonError(int status, std::string_view code, std::string_view message);
// Standard reason phrase ("Not Found"), or "Unknown".
const char* HttpReason(int status);
// Serialises status line, headers (Content-Length, Connection) and body.
std::string SerializeResponse(const HttpResponse& r, bool keep_alive);

}  // namespace vectron::net
