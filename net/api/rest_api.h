// The REST/JSON API under /v1: collections, points, search, count, scroll, payload
// indexes, and the operations routes (/healthz, /readyz, /metrics, /openapi.json).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "net/api/local_data_service.h"
#include "net/api/metrics.h"
#include "net/api/operations.h"
#include "net/auth/authenticator.h"
#include "net/http/http_server.h"
#include "net/http/router.h"
#include "net/io/inline_gate.h"
#include "net/io/worker_pool.h"
#include "vectron/database.h"

namespace vectron::net {

struct ApiOptions {
  // Enables /v1/_debug/{block,release,state}: a request that holds a worker until
  // released, for tests of backpressure and shutdown. Never on in production.
  bool debug_routes = false;
  OpLimits limits;  // The data operations' limits (operations.h), as RPC's.
  // Seconds put in Retry-After when the worker queue is full.
  int retry_after_s = 1;
  // Optional, on the loop thread, outliving the RestApi: lets the loop run a light
  // request (one search, a small get) itself when the server is otherwise idle
  // (net/io/inline_gate.h). Null: every engine call goes to the pool.
  InlineGate* gate = nullptr;
};

// The body limit of routes that take a few fields (login, keys, users, creating a
// collection or an index); routes carrying points, ids, vectors or filters take
// HttpLimits::max_body_bytes (--max-body-bytes).
inline constexpr size_t kSmallBodyBytes = 64 << 10;

// The one translation table from engine Status codes to HTTP statuses.
int HttpStatusFor(StatusCode code);
// {"error": {"code": "not_found", "message": ...}} with HttpStatusFor(s.code()).
HttpResponse StatusResponse(const Status& s);

// Checks the caller's token (the Authorization header of `req`) against `access`, with
// the collection named in the path (`params` "name") for data routes; fills `*who`.
// `auth` null: authentication is off, every caller is unrestricted. Thread-safe.
// Errors: Unauthenticated (401), PermissionDenied (403).
Status CheckRouteAccess(Authenticator* auth, const RouteAccess& access, const HttpRequest& req,
                        const PathParams& params, Principal* who);

// The admission of a request whose headers are in (HttpAdmit), over a route table whose
// handlers have `max_body_bytes`: `no_route(match)` answers a path or method the table
// lacks; `check(handler, params, &who)` the caller's access (401/403 refuse it). An
// admitted request gets its route's body limit. Shared by RestApi and the gateway.
template <typename H, typename NoRouteFn, typename CheckFn>
Admission AdmitRoute(const Router<H>& routes, const HttpRequest& head, NoRouteFn no_route, CheckFn check) {
  Admission a;
  auto m = routes.Find(head.method, head.path);
  if (!m.route) {
    a.admit = false;
    a.refusal = no_route(m);
    return a;
  }
  Principal who;
  if (Status st = check(m.route->handler, m.params, &who); !st.ok()) {
    a.admit = false;
    a.refusal = StatusResponse(st);
    a.refusal.route = m.route->pattern;
    return a;
  }
  a.max_body_bytes = m.route->handler.max_body_bytes;
  return a;
}

// One row of the route table: what it serves and the token it needs.
struct RouteInfo {
  std::string method;
  std::string pattern;
  RouteAccess access;
};

// Routes requests to handlers: cheap ones run on the loop thread, engine calls on the
// worker pool. Handle() is called on the loop thread; the rest is thread-safe.
class RestApi {
 public:
  // `db`, `pool`, `metrics` and `auth` must outlive this object. `runtime_gauges` is
  // called on the loop thread for /metrics and returns Prometheus lines (connections,
  // queue depth). `auth` null: authentication is off and every route is open.
  RestApi(Database& db, WorkerPool& pool, RequestMetrics& metrics, ApiOptions options,
          std::function<std::string()> runtime_gauges, Authenticator* auth = nullptr);
  ~RestApi();

  void Handle(HttpRequest request, Responder respond);
  // Decides on a request whose headers are in, before its body is read (HttpAdmit): an
  // unknown route gets 404/405, a route needing a token is authenticated and authorised
  // here (401/403/429), and an admitted request gets its route's body limit. Loop thread.
  Admission Admit(const HttpRequest& head);
  // /readyz answers 503 from now on (shutting down).
  void SetDraining() { draining_ = true; }
  // The OpenAPI 3.0 document describing every route (with auth routes and each
  // operation's "x-vectron-access" when `auth`).
  static std::string OpenApiJson(bool auth = true);
  // The route table: every route served with these options, and the access it needs.
  static std::vector<RouteInfo> Routes(bool auth, bool debug_routes);

  // A handler: request in, response out. Runs where its Route says. `who` is the
  // caller, already authenticated and authorised for the route.
  using Fn = HttpResponse (*)(RestApi& api, const HttpRequest& req, const PathParams& params, const Principal& who);
  // An auth route's handler (auth_routes.h): it needs only the Authenticator.
  using AuthFn = HttpResponse (*)(Authenticator& auth, const HttpRequest& req, const PathParams& params,
                                  const Principal& who);
  struct Handler {
    Fn fn;                // Null for an auth route and a data operation.
    bool inline_on_loop;  // Cheap and engine-free: no trip through the worker pool.
    RouteAccess access;   // The token the route needs.
    size_t max_body_bytes;  // 0: HttpLimits::max_body_bytes.
    AuthFn auth_fn = nullptr;  // An auth route's handler.
    bool data = false;         // A row of the operation table: `op`, through the REST codec.
    OpId op = OpId::kListCollections;
  };
  // The data operations' implementation (also given to the RPC server).
  LocalDataService& service() { return service_; }

  // Handlers' shared state (public for the handler functions in rest_api.cc and auth_routes.cc).
  Database& db_;
  WorkerPool& pool_;
  RequestMetrics& metrics_;
  ApiOptions options_;
  std::function<std::string()> runtime_gauges_;
  std::atomic<bool> draining_{false};
  LocalDataService service_;
  Authenticator* auth_;  // Null: auth off.
  // Debug blockers (see ApiOptions::debug_routes).
  std::mutex debug_mu_;
  std::condition_variable debug_cv_;
  int debug_blocked_ = 0;         // Guarded by debug_mu_.
  uint64_t debug_generation_ = 0; // Guarded by debug_mu_; bumped by release.

 private:
  // Authenticates and authorises, then runs the handler.
  HttpResponse Dispatch(const Handler& h, const HttpRequest& req, const PathParams& params);
  // The caller's token checked against the route's access (and the collection named in
  // the path). Thread-safe.
  Status CheckAccess(const Handler& h, const HttpRequest& req, const PathParams& params, Principal* who);
  Router<Handler> router_;
};

}  // namespace vectron::net
