// GatewayApi: the REST/JSON routes a gateway serves: the data operations through the
// same REST codec and operation table as `vectron serve` (net/api/rest_data.h,
// operations.h) over a ClusterDataService, the auth routes (login, keys, users, grants,
// signing keys, audit: net/api/auth_routes.h) and GET /v1/cluster (the map). An
// operation the cluster does not serve answers 501 naming it.
//
// Access is checked as `vectron serve` checks it: the same scopes and per-collection
// grants per route, on the headers before the body is read (Admit), and again when the
// request runs.
#pragma once

#include <atomic>

#include "net/api/operations.h"
#include "net/api/rest_api.h"
#include "net/api/versioned_result_cache.h"
#include "net/daemon/cluster_data_service.h"
#include "net/auth/authenticator.h"
#include "net/cluster/router.h"
#include "net/http/http_server.h"
#include "net/http/router.h"
#include "net/io/worker_pool.h"

namespace vectron::net::daemon {

class GatewayApi {
 public:
  // `router` and `pool` (where auth routes run: password hashing, commits to the PD)
  // must outlive the API. `auth_on`: every route but /healthz, /readyz and login needs a
  // token, checked by the Authenticator given to SetAuthenticator; until then those
  // routes answer 503. Off: every route is open (development).
  // `result_cache_bytes`: the bound of the result cache of reranked searches (docs/
  // cluster.md, "Reranking"); 0 turns it off.
  GatewayApi(cluster::Router& router, WorkerPool& pool, bool auth_on, uint64_t result_cache_bytes = 64ull << 20);
  // Any thread; `auth` must outlive the API.
  void SetAuthenticator(Authenticator* auth) { auth_.store(auth, std::memory_order_release); }
  // What the RPC port serves too (RpcEngine): the same operations, limits and
  // Authenticator (null until SetAuthenticator).
  DataService& service() { return service_; }
  const OpLimits& limits() const { return limits_; }
  const std::atomic<Authenticator*>& authenticator() const { return auth_; }
  cluster::Router& router() { return router_; }
  // The result cache's counters (GET /v1/cluster shows them). Loop thread.
  ResultCacheStats result_cache_stats() const { return result_cache_.Stats(); }
  // Decides on a request whose headers are in (HttpAdmit): unknown routes 404/405/501,
  // missing or insufficient tokens 401/403, and the route's body limit. Loop thread.
  Admission Admit(const HttpRequest& head);
  // Answers `request` (now, or when the router's operation or the auth task completes).
  // Loop thread.
  void Handle(HttpRequest request, Responder respond);

  // The handler of a route beside the operation table (/healthz, /readyz, /v1/cluster),
  // on the loop thread.
  using Fn = void (*)(GatewayApi&, const HttpRequest&, const PathParams&, const Principal& who, Responder);
  struct Entry {
    Fn fn = nullptr;                      // A route beside the table.
    RestApi::AuthFn auth_fn = nullptr;    // An auth route (runs on the pool).
    RouteAccess access;
    size_t max_body_bytes = 0;            // 0: HttpLimits::max_body_bytes.
    bool data = false;                    // A row of the operation table.
    OpId op = OpId::kListCollections;
  };

 private:
  Status Check(const Entry& e, const HttpRequest& req, const PathParams& params, Principal* who);

  cluster::Router& router_;
  WorkerPool& pool_;
  const bool auth_on_;
  std::atomic<Authenticator*> auth_{nullptr};
  Router<Entry> routes_;
  ClusterDataService service_;
  OpLimits limits_;
  VersionedResultCache result_cache_;
};

}  // namespace vectron::net::daemon
