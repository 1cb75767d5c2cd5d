// A blocking HTTP/1.1 client of the REST API, for tools (the `vectron` CLI with --url):
// one keep-alive connection (TLS through BlockingSocket), the bearer token on every
// request, answers parsed by http-parser within size bounds, one deadline per call, and
// retries with backoff for idempotent calls: the policy of every client
// (docs/clients.md, "Retries, timeouts and errors").
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "net/io/blocking_socket.h"
#include "net/io/tls.h"
#include "vectron/status.h"

namespace vectron::net {

struct HttpClientOptions {
  TlsClientOptions tls;          // Trust settings for https:// URLs.
  std::string token;             // Sent as "Authorization: Bearer <token>"; empty: none.
  // One deadline per call: every attempt and every wait between attempts.
  int timeout_ms = 30000;
  size_t max_response_bytes = size_t{256} << 20;  // Larger answers fail the call.
  // Extra attempts of an idempotent call after a connection error, a 429 or a 503. The
  // wait before retry n is drawn from [d/2, d], d = min(backoff_max_ms, backoff_ms * 2^n);
  // after a Retry-After, that long plus up to d/2. A wait past the deadline is not
  // started: the call fails at once with what the last attempt got.
  int retries = 3;
  int backoff_ms = 100;
  int backoff_max_ms = 5000;
};

// One answer: status and body, whatever the status.
struct HttpReply {
  int status = 0;
  std::string body;
  std::string retry_after;  // The Retry-After header, empty if none.
};

// Not thread-safe: one client per thread.
class HttpClient {
 public:
  // `url` is "http://host[:port][/prefix]" or "https://...", port 80/443 by default.
  // Connects at the first call. Errors: InvalidArgument (URL; a CA file that does not
  // load), also naming the option.
  static Result<HttpClient> Open(const std::string& url, const HttpClientOptions& options);
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  ~HttpClient();

  // Sends `method` `prefix + path` with `body` (JSON, or empty for none) and returns the
  // answer. `idempotent`: the call may be repeated (see HttpClientOptions::retries).
  // Errors: Unavailable / IOError for the connection (after the retries), naming the
  // URL, also when the deadline passes; ResourceExhausted for an answer over
  // max_response_bytes.
  Result<HttpReply> Send(std::string_view method, std::string_view path, std::string_view body, bool idempotent);
  // Send, then a 2xx answer's body, or the server's {"error": {"code", "message"}} as a
  // Status of that code (the table of RpcStatus: not_found is NotFound, ...).
  Result<std::string> Call(std::string_view method, std::string_view path, std::string_view body, bool idempotent);

  const std::string& url() const { return url_; }

 private:
  HttpClient() = default;
  // One exchange on the current connection (opened if needed), reads and writes bounded
  // by `timeout_ms`.
  Result<HttpReply> Exchange(const std::string& request, int timeout_ms);
  Status Connect();

  std::string url_, host_, prefix_, host_header_;
  int port_ = 0;
  HttpClientOptions options_;
  std::shared_ptr<TlsContext> tls_;  // Null for http://.
  std::unique_ptr<BlockingSocket> sock_;
};

}  // namespace vectron::net
