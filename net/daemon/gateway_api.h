// GatewayApi: the REST/JSON routes a gateway serves over the cluster Router, with the
// request and response shapes of `vectron serve` (docs/server.md) for the routes it has:
// collections (create, list, get, drop), points (upsert, get, delete by ids or filter),
// count, search (one query, with a filter), payload indexes (create, drop), and
// GET /v1/cluster (the map). Other routes answer 501 naming what the gateway lacks.
#pragma once

#include "net/cluster/router.h"
#include "net/http/http_server.h"

namespace vectron::net::daemon {

class GatewayApi {
 public:
  // `router` must outlive the API; both are used on the loop thread only.
  explicit GatewayApi(cluster::Router& router) : router_(router) {}
  // Answers `request` (now, or when the router's operation completes).
  void Handle(HttpRequest request, Responder respond);

 private:
  cluster::Router& router_;
};

}  // namespace vectron::net::daemon
