#include "net/daemon/gateway_api.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "net/api/auth_routes.h"
#include "net/api/request_json.h"
#include "net/api/rest_api.h"
#include "net/api/rest_data.h"
#include "net/http/router.h"
#include "util/untrusted_json.h"

namespace vectron::net::daemon {

using json = nlohmann::json;

namespace {

HttpResponse Json(int status, const json& j) {
  HttpResponse r;
  r.status = status;
  r.body = DumpJson(j) + "\n";
  return r;
}

using Fn = GatewayApi::Fn;

void ClusterMapRoute(GatewayApi& api, const HttpRequest&, const PathParams&, const Principal&, Responder respond) {
  cluster::Router& r = api.router();
  const cluster::ClusterMap& m = r.map();
  const ResultCacheStats cs = api.result_cache_stats();
  json workers = json::array(), groups = json::array(), collections = json::array();
  for (auto& [id, w] : m.workers) workers.push_back({{"id", id}, {"addr", w.addr}, {"alive", w.alive}});
  for (auto& [id, g] : m.groups) {
    json j = {{"id", id},         {"collection", g.collection}, {"shard", g.shard},   {"epoch", g.epoch},
              {"replicas", g.replicas}, {"learners", g.learners}, {"leader", g.leader}, {"conf_index", g.conf_index},
              {"range_start", g.range_start}, {"range_end", g.range_end}};
    if (g.split_from != 0) j["split_from"] = g.split_from;
    // A replica move in progress (docs/cluster.md, "Replica moves"): where to, and how far
    // each member has applied (the PD leader's view).
    if (!g.target.empty() || !g.learners.empty()) {
      json applied = json::object();
      for (auto& [w, index] : g.applied) applied[std::to_string(w)] = index;
      j["move"] = {{"target", g.wanted()}, {"applied", applied}};
    }
    groups.push_back(std::move(j));
  }
  for (auto& [name, c] : m.collections)
    collections.push_back({{"name", name}, {"replication", c.replication}, {"groups", c.groups}});
  respond(Json(200, {{"version", m.version},
                     {"pd", {{"members", m.pd_members}, {"leader", m.pd_leader}}},
                     {"workers", workers},
                     {"collections", collections},
                     {"shards", groups},
                     {"has_map", r.has_map()},
                     // This gateway's cache of reranked search answers (docs/cluster.md, "Reranking").
                     {"result_cache",
                      {{"hits", cs.hits},
                       {"misses", cs.misses},
                       {"evictions", cs.evictions},
                       {"invalidations", cs.invalidations},
                       {"entries", cs.entries},
                       {"bytes", cs.bytes},
                       {"capacity_bytes", cs.capacity_bytes}}}}));
}

void Healthz(GatewayApi&, const HttpRequest&, const PathParams&, const Principal&, Responder respond) {
  respond(Json(200, {{"status", "ok"}}));
}

void Readyz(GatewayApi& api, const HttpRequest&, const PathParams&, const Principal&, Responder respond) {
  cluster::Router& r = api.router();
  if (!r.has_map()) return respond(StatusResponse(Status::Unavailable("no cluster map from the placement driver yet")));
  // Worker counts, so that a starter (vectron cluster up) can wait for them without a token.
  size_t alive = 0;
  for (auto& [id, w] : r.map().workers) alive += w.alive ? 1 : 0;
  respond(Json(200, {{"status", "ready"}, {"workers", r.map().workers.size()}, {"workers_alive", alive}}));
}

// The routes beside the data operations (whose table, access rules and limits are
// net/api/operations.h's, as in `vectron serve`).
constexpr RouteAccess kOpen{Access::kPublic};
// Like /metrics: the whole cluster's layout, for admins (keys or logins).
constexpr RouteAccess kClusterAccess{Access::kAdmin, /*console=*/true, /*all_collections=*/true};

struct OwnRoute {
  const char* method;
  const char* pattern;
  Fn fn;
  RouteAccess access;
  bool bulk;  // Carries points, ids, vectors or filters: the server's body limit.
};

const std::vector<OwnRoute>& OwnRoutes() {
  static const std::vector<OwnRoute> kRoutes = {
      {"GET", "/healthz", &Healthz, kOpen, false},
      {"GET", "/readyz", &Readyz, kOpen, false},
      {"GET", "/v1/cluster", &ClusterMapRoute, kClusterAccess, false},
  };
  return kRoutes;
}

HttpResponse NoRoute(const HttpRequest& request, const std::string& allow) {
  if (!allow.empty()) {
    HttpResponse r = JsonError(405, "method_not_allowed", "use " + allow);
    r.headers.push_back({"Allow", allow});
    return r;
  }
  return RestNotServed(request);
}

HttpResponse Starting() {
  return StatusResponse(
      Status::Unavailable("the gateway is starting: the auth records are not loaded from the placement driver yet"));
}

}  // namespace

GatewayApi::GatewayApi(cluster::Router& router, WorkerPool& pool, bool auth_on, uint64_t result_cache_bytes)
    : router_(router), pool_(pool), auth_on_(auth_on), service_(router), result_cache_(result_cache_bytes) {
  for (const OwnRoute& r : OwnRoutes())
    routes_.Add(r.method, r.pattern, Entry{r.fn, nullptr, r.access, r.bulk ? 0 : kSmallBodyBytes});
  for (const OpSpec& op : DataOps()) {
    Entry e{nullptr, nullptr, op.access, op.bulk ? 0 : kSmallBodyBytes};
    e.data = true;
    e.op = op.id;
    routes_.Add(op.method, op.pattern, e);
  }
  if (auth_on_) {
    for (const api::AuthRoute& r : api::AuthRoutes())
      routes_.Add(r.method, r.pattern, Entry{nullptr, r.fn, r.access, kSmallBodyBytes});
  }
}

Status GatewayApi::Check(const Entry& e, const HttpRequest& req, const PathParams& params, Principal* who) {
  if (!auth_on_ || e.access.access == Access::kPublic) return CheckRouteAccess(nullptr, e.access, req, params, who);
  Authenticator* auth = auth_.load(std::memory_order_acquire);
  if (!auth) return Status::Unavailable("the gateway is starting: the auth records are not loaded yet");
  return CheckRouteAccess(auth, e.access, req, params, who);
}

Admission GatewayApi::Admit(const HttpRequest& head) {
  // An operation the cluster does not serve is answered 501 before its body is read.
  if (auto m = routes_.Find(head.method, head.path);
      m.route && m.route->handler.data && !service_.Supports(m.route->handler.op)) {
    Admission a;
    a.admit = false;
    a.refusal = RestNotServed(head);
    a.refusal.route = m.route->pattern;
    return a;
  }
  return AdmitRoute(routes_, head, [&](const Router<Entry>::Match& m) { return NoRoute(head, m.allow); },
                    [&](const Entry& e, const PathParams& params, Principal* who) { return Check(e, head, params, who); });
}

void GatewayApi::Handle(HttpRequest request, Responder respond) {
  auto m = routes_.Find(request.method, request.path);
  if (!m.route) return respond(NoRoute(request, m.allow));
  const Entry e = m.route->handler;
  // Checked again although Admit passed it: a token revoked while the body arrived is refused.
  Principal who;
  if (Status st = Check(e, request, m.params, &who); !st.ok()) return respond(StatusResponse(st));
  if (e.auth_fn) {
    Authenticator* auth = auth_.load(std::memory_order_acquire);
    if (!auth) return respond(Starting());
    auto task = [auth, fn = e.auth_fn, req = std::move(request), params = std::move(m.params), who, respond]() {
      respond(api::RunAuthRoute(fn, *auth, req, params, who));
    };
    if (!pool_.TrySubmit(std::move(task))) {
      HttpResponse r = JsonError(503, "unavailable", "gateway busy: too many auth requests queued; retry later");
      r.headers.emplace_back("Retry-After", "1");
      respond(std::move(r));
    }
    return;
  }
  if (e.data) {
    RestDataContext ctx{&service_, &limits_, {}, &result_cache_};
    return RunRestData(e.op, ctx, request, m.params, who, respond);
  }
  if (e.fn == &Readyz && auth_on_ && !auth_.load(std::memory_order_acquire)) return respond(Starting());
  try {
    e.fn(*this, request, m.params, who, respond);
  } catch (const ApiError& err) {
    respond(StatusResponse(err.status));
  } catch (const json::exception& err) {
    respond(StatusResponse(Status::InvalidArgument(std::string("bad JSON value: ") + err.what())));
  }
}

}  // namespace vectron::net::daemon
