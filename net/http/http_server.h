// HTTP/1.1 server on a TcpListener: Debian's http-parser turns bytes into requests
// (keep-alive, pipelining: responses go out in request order), limits and timeouts are
// enforced here, and each complete request goes to one HttpHandler.
#pragma once

#include <functional>
#include <memory>

#include "net/http/http_types.h"
#include "net/io/event_loop.h"
#include "net/io/tcp.h"
#include "vectron/status.h"

namespace vectron::net {

struct HttpLimits {
  size_t max_header_bytes = 16 << 10;   // Request line + headers; past it: 431.
  size_t max_body_bytes = 64 << 20;     // Past it (declared or streamed): 413. Grown as
                                        // bytes arrive, never reserved from Content-Length.
  uint64_t idle_timeout_ms = 60000;     // Keep-alive connection with no request: closed.
  uint64_t request_timeout_ms = 10000;  // First byte to last byte of one request: 408.
  size_t max_pipelined = 64;            // Parsed requests waiting; past it reading pauses.
  // Body bytes of a refused request (413, or refused at admission) read and dropped
  // after its answer, so that a client still sending reads the answer instead of a
  // reset; past it the connection is cut. Dropping holds no memory; the request
  // timeout bounds it in time as well. 0: cut at the first byte of such a body.
  size_t max_discard_bytes = 64 << 20;
};

// What one public port allows a client: request limits and timeouts, connection caps
// (ConnectionLimiter) and the TLS handshake deadline. `vectron serve` and the gateway
// take the same flags for it (tools/cli.h, AddPortLimitFlags).
struct PortLimits {
  HttpLimits http;
  // Open connections (in total, and per client address) past which new ones are refused
  // at once: an HTTP 503 on plain HTTP, a bare close under TLS. 0: no cap.
  size_t max_connections = 1024;
  size_t max_connections_per_ip = 256;
  uint64_t tls_handshake_timeout_ms = 10000;  // A TLS handshake must be done within this.

  // Errors: InvalidArgument naming the flag (--max-body-bytes, ...).
  Status Validate() const;
  // How often the listeners' timeouts are swept: a quarter of the shortest timeout,
  // between 5 and 250 ms (one timer per loop rather than one per connection).
  uint64_t SweepMs() const;
};

// What a plain-HTTP port sends to a connection its ConnectionLimiter refuses (before
// closing it): a 503 with Retry-After that names the flags.
std::string ConnectionCapRefusal();

// Delivers the response of one request. Thread-safe, callable from any thread; call
// exactly once (later calls are ignored). Dropping it unanswered answers 500.
class Responder {
 public:
  struct State;
  explicit Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void operator()(HttpResponse response) const;

 private:
  std::shared_ptr<State> state_;
};

// What the server does with a request once its headers are in, before any of its body
// is read (authentication, the route's body limit).
struct Admission {
  bool admit = true;
  // admit == false: the answer, sent without reading the body. If a body follows, it is
  // read and dropped (never buffered, at most HttpLimits::max_discard_bytes of it) and the
  // connection then closes; a request that said "Expect: 100-continue" gets this instead
  // of "100 Continue" and the connection closes at once. A body over the limit (413) is
  // treated the same way.
  HttpResponse refusal;
  size_t max_body_bytes = 0;  // The route's body limit; 0 = HttpLimits::max_body_bytes.
};
// Called on the loop thread with a request whose body is still empty (method, target,
// path, query, headers, peer set). Must be cheap: it runs before every request.
using HttpAdmit = std::function<Admission(const HttpRequest& head)>;

// Called on the loop thread for each complete request, in order per connection; the
// next request of the same connection is handed over only after this one is answered.
using HttpHandler = std::function<void(HttpRequest request, Responder respond)>;
// Called on the loop thread after a response is queued (logging, metrics).
using HttpObserver = std::function<void(const HttpRequest& req, const HttpResponse& resp, double ms)>;

class HttpServer {
 public:
  // `admit` may be null (every request admitted, up to HttpLimits::max_body_bytes).
  HttpServer(EventLoop& loop, HttpLimits limits, HttpHandler handler, HttpObserver observer,
             HttpAdmit admit = nullptr);
  ~HttpServer();
  // Factory for TcpListener::Listen.
  TcpListener::Factory Factory();
  // From now on every response says Connection: close and the connection closes.
  void SetDraining() { *draining_ = true; }

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<bool> draining_;
};

}  // namespace vectron::net
