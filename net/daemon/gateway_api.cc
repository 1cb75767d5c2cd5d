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
#include "net/api/rest_points.h"
#include "net/http/router.h"

namespace vectron::net::daemon {

using json = nlohmann::json;

namespace {

// The body (with only `allowed` fields); an empty body is {} where `optional`.
json BodyOf(const HttpRequest& req, std::initializer_list<const char*> allowed, bool optional = false) {
  if (optional && req.body.empty()) return json::object();
  return ParseBody(req, allowed);
}

json MetadataJson(const std::string& m) {
  if (m.empty()) return nullptr;
  json j = json::parse(m, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

HttpResponse Json(int status, const json& j) {
  HttpResponse r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

const std::string& Param(const PathParams& p, const char* name) {
  for (auto& [k, v] : p)
    if (k == name) return v;
  static const std::string kEmpty;
  return kEmpty;
}

using Fn = GatewayApi::Fn;

void ClusterMapRoute(cluster::Router& r, const HttpRequest&, const PathParams&, const Principal&, Responder respond) {
  const cluster::ClusterMap& m = r.map();
  json workers = json::array(), groups = json::array(), collections = json::array();
  for (auto& [id, w] : m.workers) workers.push_back({{"id", id}, {"addr", w.addr}, {"alive", w.alive}});
  for (auto& [id, g] : m.groups)
    groups.push_back({{"id", id}, {"collection", g.collection}, {"shard", g.shard}, {"epoch", g.epoch},
                      {"replicas", g.replicas}, {"leader", g.leader}});
  for (auto& [name, c] : m.collections)
    collections.push_back({{"name", name}, {"replication", c.replication}, {"groups", c.groups}});
  respond(Json(200, {{"version", m.version},
                     {"pd", {{"members", m.pd_members}, {"leader", m.pd_leader}}},
                     {"workers", workers},
                     {"collections", collections},
                     {"shards", groups},
                     {"has_map", r.has_map()}}));
}

void CreateCollection(cluster::Router& r, const HttpRequest& req, const PathParams&, const Principal& who,
                      Responder respond) {
  json j = BodyOf(req, {"name", "dim", "metric", "hnsw", "m", "M", "ef_construction", "ef_search", "seed", "shards",
                      "flat_max_points", "checkpoint_every_ops", "quantization", "replication"});
  auto name_it = j.find("name");
  if (name_it == j.end() || !name_it->is_string()) Bad("\"name\" is required (a string)");
  std::string name = name_it->get<std::string>();
  // The route's access check had no collection name to look at: the body has it.
  if (Status s = Authorize(who, {Access::kAdmin}, name); !s.ok()) throw ApiError{s};
  // The same fields, defaults and messages as `vectron serve`'s create.
  CollectionConfig cfg = api::CollectionConfigOf(j);
  if (Status s = cfg.Validate(); !s.ok()) Bad(s.message());
  uint32_t replication = static_cast<uint32_t>(GetInt(j, "replication", 0, 0, 7));
  r.CreateCollection(name, cfg, replication, [respond, name, cfg](Status s) {
    if (!s.ok()) return respond(StatusResponse(s));
    respond(Json(201, {{"name", name}, {"config", json::parse(cfg.ToJson(), nullptr, false)}}));
  });
}

void ListCollections(cluster::Router& r, const HttpRequest&, const PathParams&, const Principal& who, Responder respond) {
  json out = json::array();
  for (auto& [name, c] : r.map().collections) {
    if (!who.MayUseCollection(name)) continue;  // A key restricted to some collections sees only those.
    auto cfg = CollectionConfig::FromJson(c.config_json);
    if (!cfg.ok()) continue;
    out.push_back({{"name", name}, {"dim", cfg->dim}, {"metric", MetricName(cfg->metric)}, {"shards", cfg->shards},
                   {"replication", c.replication}});
  }
  respond(Json(200, {{"collections", out}}));
}

void GetCollection(cluster::Router& r, const HttpRequest&, const PathParams& p, const Principal&, Responder respond) {
  auto it = r.map().collections.find(Param(p, "name"));
  if (it == r.map().collections.end())
    return respond(StatusResponse(Status::NotFound("collection \"" + Param(p, "name") + "\" does not exist")));
  std::string name = it->first;
  json cfg = json::parse(it->second.config_json, nullptr, false);
  r.Count(name, "", cluster::ReadOptions{}, [respond, name, cfg](Result<uint64_t> n) {
    if (!n.ok()) return respond(StatusResponse(n.status()));
    respond(Json(200, {{"name", name}, {"config", cfg}, {"stats", {{"count", *n}}}}));
  });
}

void DropCollection(cluster::Router& r, const HttpRequest&, const PathParams& p, const Principal&, Responder respond) {
  std::string name = Param(p, "name");
  r.DropCollection(name, [respond, name](Status s) {
    if (!s.ok()) return respond(StatusResponse(s));
    respond(Json(200, {{"name", name}, {"dropped", true}}));
  });
}

void UpsertPoints(cluster::Router& r, const HttpRequest& req, const PathParams& p, const Principal&, Responder respond) {
  json j = BodyOf(req, {"points"});
  auto it = j.find("points");
  if (it == j.end() || !it->is_array() || it->empty())
    Bad("\"points\" must be a non-empty array of {\"id\", \"vector\", \"metadata\"?}");
  WriteBatch batch;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& pt = (*it)[i];
    std::string what = "points[" + std::to_string(i) + "]";
    if (!pt.is_object() || !pt.contains("id") || !pt.contains("vector"))
      Bad(what + " must be an object {\"id\", \"vector\", \"metadata\"?}");
    for (auto f = pt.begin(); f != pt.end(); ++f)
      if (f.key() != "id" && f.key() != "vector" && f.key() != "metadata") Bad("unknown field \"" + f.key() + "\" in " + what);
    std::string meta;
    if (auto m = pt.find("metadata"); m != pt.end() && !m->is_null()) {
      if (!m->is_object()) Bad(what + ".metadata must be a JSON object");
      meta = m->dump();
    }
    std::vector<float> v;
    AppendVector(pt["vector"], what + ".vector", &v);
    batch.Upsert(IdOf(pt["id"], what + ".id"), v, std::move(meta));
  }
  size_t n = batch.size();
  r.Write(Param(p, "name"), batch, [respond, n](Status s) {
    if (!s.ok()) return respond(StatusResponse(s));
    respond(Json(200, {{"upserted", n}}));
  });
}

// Partial updates: replicated like any write (each shard's part is one logged command,
// read-modify-write inside the shard's transaction).
void WriteUpdates(cluster::Router& r, const PathParams& p, const WriteBatch& batch, Responder respond) {
  size_t n = batch.size();
  r.Write(Param(p, "name"), batch, [respond, n](Status s) {
    if (!s.ok()) return respond(StatusResponse(s));
    respond(Json(200, {{"updated", n}}));
  });
}

void UpdateMetadata(cluster::Router& r, const HttpRequest& req, const PathParams& p, const Principal&, Responder respond) {
  WriteUpdates(r, p, api::MetadataUpdatesOf(BodyOf(req, {"points", "ids", "metadata", "merge"})), std::move(respond));
}

void UpdateVectors(cluster::Router& r, const HttpRequest& req, const PathParams& p, const Principal&, Responder respond) {
  WriteUpdates(r, p, api::VectorUpdatesOf(BodyOf(req, {"points"})), std::move(respond));
}

json PointJson(const Point& p, bool meta, bool vec) {
  json o = {{"id", p.id}};
  if (vec) o["vector"] = p.vector;
  if (meta) o["metadata"] = MetadataJson(p.metadata);
  return o;
}

void GetPoints(cluster::Router& r, const HttpRequest& req, const PathParams& p, const Principal&, Responder respond) {
  json j = BodyOf(req, {"ids", "include", "include_metadata", "include_vector", "max_staleness_ms"});
  std::vector<std::string> ids = GetIds(j);
  auto [meta, vec] = GetInclude(j, {true, true});
  cluster::ReadOptions ro;
  ro.max_staleness_ms = static_cast<uint64_t>(GetInt(j, "max_staleness_ms", 0, 0, 3600000));
  r.Get(Param(p, "name"), ids, GetOptions{vec, meta}, ro,
        [respond, ids, meta, vec](Result<std::vector<std::optional<Point>>> pts) {
          if (!pts.ok()) return respond(StatusResponse(pts.status()));
          json found = json::array(), missing = json::array();
          for (size_t i = 0; i < pts->size(); ++i) {
            if ((*pts)[i]) found.push_back(PointJson(*(*pts)[i], meta, vec));
            else missing.push_back(ids[i]);
          }
          respond(Json(200, {{"points", found}, {"not_found", missing}}));
        });
}

void DeletePoints(cluster::Router& r, const HttpRequest& req, const PathParams& p, const Principal&, Responder respond) {
  json j = BodyOf(req, {"ids", "where"});
  bool has_ids = j.contains("ids"), has_where = j.contains("where") && !j["where"].is_null();
  if (has_ids == has_where) Bad("give exactly one of \"ids\" and \"where\"");
  std::string name = Param(p, "name");
  if (has_where) {
    r.DeleteWhere(name, GetWhere(j), [respond](Result<uint64_t> n) {
      if (!n.ok()) return respond(StatusResponse(n.status()));
      respond(Json(200, {{"deleted", *n}}));
    });
    return;
  }
  // As `vectron serve`: "deleted" counts the ids that existed just before.
  std::vector<std::string> ids = GetIds(j);
  r.Get(name, ids, GetOptions{false, false}, cluster::ReadOptions{},
        [&r, respond, ids, name](Result<std::vector<std::optional<Point>>> pts) {
          if (!pts.ok()) return respond(StatusResponse(pts.status()));
          std::set<std::string> existing;
          for (auto& pt : *pts)
            if (pt) existing.insert(pt->id);
          WriteBatch batch;
          for (const std::string& id : ids) batch.Delete(id);
          size_t n = existing.size();
          r.Write(name, batch, [respond, n](Status s) {
            if (!s.ok()) return respond(StatusResponse(s));
            respond(Json(200, {{"deleted", n}}));
          });
        });
}

void CountPoints(cluster::Router& r, const HttpRequest& req, const PathParams& p, const Principal&, Responder respond) {
  json j = BodyOf(req, {"where", "max_staleness_ms"}, true);
  cluster::ReadOptions ro;
  ro.max_staleness_ms = static_cast<uint64_t>(GetInt(j, "max_staleness_ms", 0, 0, 3600000));
  r.Count(Param(p, "name"), GetWhere(j), ro, [respond](Result<uint64_t> n) {
    if (!n.ok()) return respond(StatusResponse(n.status()));
    respond(Json(200, {{"count", *n}}));
  });
}

void Search(cluster::Router& r, const HttpRequest& req, const PathParams& p, const Principal&, Responder respond) {
  json j = BodyOf(req, {"vector", "vectors", "k", "ef", "exact", "where", "include", "include_metadata", "include_vector",
                      "max_staleness_ms", "offset", "score_threshold"});
  if (j.contains("vectors")) Bad("the gateway serves one query per search (\"vector\"); batch searches are not built yet");
  if (!j.contains("vector")) Bad("\"vector\" is required");
  SearchParams sp;
  sp.k = static_cast<int>(GetInt(j, "k", 10, 1, 10000));
  sp.ef = static_cast<int>(GetInt(j, "ef", 0, 0, 1 << 20));
  sp.exact = GetBool(j, "exact", false);
  // offset and score_threshold are applied here, to the merged hits: the shards are
  // asked for the first k + offset.
  SearchParams trim;
  trim.k = sp.k;
  trim.offset = static_cast<int>(GetInt(j, "offset", 0, 0, 10000));
  if (auto t = j.find("score_threshold"); t != j.end() && !t->is_null()) {
    if (!t->is_number()) Bad("\"score_threshold\" must be a number (the largest distance kept)");
    const double d = t->get<double>();
    trim.score_threshold = d > 3.4e38 ? INFINITY : d < -3.4e38 ? -INFINITY : static_cast<float>(d);
  }
  sp.k += trim.offset;
  auto [meta, vec] = GetInclude(j, {false, false});
  sp.include_metadata = meta;
  sp.include_vector = vec;
  sp.where = GetWhere(j);
  cluster::ReadOptions ro;
  ro.max_staleness_ms = static_cast<uint64_t>(GetInt(j, "max_staleness_ms", 0, 0, 3600000));
  std::vector<float> q;
  AppendVector(j["vector"], "vector", &q);
  r.Search(Param(p, "name"), std::move(q), sp, ro, [respond, meta, vec, trim](Result<std::vector<Hit>> hits) {
    if (!hits.ok()) return respond(StatusResponse(hits.status()));
    hits->erase(hits->begin(), hits->begin() + std::min(hits->size(), static_cast<size_t>(trim.offset)));
    if (trim.score_threshold)
      hits->erase(std::find_if(hits->begin(), hits->end(), [&](const Hit& h) { return h.score > *trim.score_threshold; }),
                  hits->end());
    json out = json::array();
    for (const Hit& h : *hits) {
      json o = {{"id", h.id}, {"score", h.score}};
      if (meta) o["metadata"] = MetadataJson(h.metadata);
      if (vec) o["vector"] = h.vector;
      out.push_back(std::move(o));
    }
    respond(Json(200, {{"hits", out}}));
  });
}

void CreateIndex(cluster::Router& r, const HttpRequest& req, const PathParams& p, const Principal&, Responder respond) {
  json j = BodyOf(req, {"field", "type"});
  auto f = j.find("field"), t = j.find("type");
  if (f == j.end() || !f->is_string() || t == j.end() || !t->is_string())
    Bad("\"field\" and \"type\" (keyword, integer, float, bool) are required strings");
  PayloadType type;
  if (!ParsePayloadType(t->get<std::string>(), &type)) Bad("\"type\" must be keyword, integer, float or bool");
  std::string field = f->get<std::string>(), type_name = t->get<std::string>();
  r.CreatePayloadIndex(Param(p, "name"), field, type, [respond, field, type_name](Status s) {
    if (!s.ok()) return respond(StatusResponse(s));
    respond(Json(201, {{"field", field}, {"type", type_name}}));
  });
}

void DropIndex(cluster::Router& r, const HttpRequest&, const PathParams& p, const Principal&, Responder respond) {
  std::string field = Param(p, "field");
  r.DropPayloadIndex(Param(p, "name"), field, [respond, field](Status s) {
    if (!s.ok()) return respond(StatusResponse(s));
    respond(Json(200, {{"field", field}, {"dropped", true}}));
  });
}

void Healthz(cluster::Router&, const HttpRequest&, const PathParams&, const Principal&, Responder respond) {
  respond(Json(200, {{"status", "ok"}}));
}

void Readyz(cluster::Router& r, const HttpRequest&, const PathParams&, const Principal&, Responder respond) {
  if (!r.has_map()) return respond(StatusResponse(Status::Unavailable("no cluster map from the placement driver yet")));
  // Worker counts, so that a starter (vectron cluster up) can wait for them without a token.
  size_t alive = 0;
  for (auto& [id, w] : r.map().workers) alive += w.alive ? 1 : 0;
  respond(Json(200, {{"status", "ready"}, {"workers", r.map().workers.size()}, {"workers_alive", alive}}));
}

// The access each route needs: as `vectron serve`'s table (net/api/rest_api.cc).
constexpr RouteAccess kOpen{Access::kPublic};
constexpr RouteAccess kReadAccess{Access::kRead};
constexpr RouteAccess kReadOrConsole{Access::kRead, /*console=*/true};
constexpr RouteAccess kWriteAccess{Access::kWrite};
constexpr RouteAccess kAdminAccess{Access::kAdmin};
// Like /metrics: the whole cluster's layout, for admins (keys or logins).
constexpr RouteAccess kClusterAccess{Access::kAdmin, /*console=*/true, /*all_collections=*/true};

struct DataRoute {
  const char* method;
  const char* pattern;
  Fn fn;
  RouteAccess access;
  bool bulk;  // Carries points, ids, vectors or filters: the server's body limit.
};

const std::vector<DataRoute>& DataRoutes() {
  static const std::vector<DataRoute> kRoutes = {
      {"GET", "/healthz", &Healthz, kOpen, false},
      {"GET", "/readyz", &Readyz, kOpen, false},
      {"GET", "/v1/cluster", &ClusterMapRoute, kClusterAccess, false},
      {"POST", "/v1/collections", &CreateCollection, kAdminAccess, false},
      {"GET", "/v1/collections", &ListCollections, kReadOrConsole, false},
      {"GET", "/v1/collections/{name}", &GetCollection, kReadOrConsole, false},
      {"DELETE", "/v1/collections/{name}", &DropCollection, kAdminAccess, false},
      {"PUT", "/v1/collections/{name}/points", &UpsertPoints, kWriteAccess, true},
      {"POST", "/v1/collections/{name}/points/get", &GetPoints, kReadAccess, true},
      {"POST", "/v1/collections/{name}/points/delete", &DeletePoints, kWriteAccess, true},
      {"POST", "/v1/collections/{name}/points/metadata", &UpdateMetadata, kWriteAccess, true},
      {"POST", "/v1/collections/{name}/points/vectors", &UpdateVectors, kWriteAccess, true},
      {"POST", "/v1/collections/{name}/count", &CountPoints, kReadAccess, true},
      {"POST", "/v1/collections/{name}/search", &Search, kReadAccess, true},
      {"POST", "/v1/collections/{name}/indexes", &CreateIndex, kWriteAccess, false},
      {"DELETE", "/v1/collections/{name}/indexes/{field}", &DropIndex, kWriteAccess, false},
  };
  return kRoutes;
}

HttpResponse NoRoute(const HttpRequest& request, const std::string& allow) {
  if (!allow.empty()) {
    HttpResponse r = JsonError(405, "method_not_allowed", "use " + allow);
    r.headers.push_back({"Allow", allow});
    return r;
  }
  return JsonError(501, "not_implemented",
                   "the gateway does not serve " + request.method + " " + request.path +
                       " (see docs/cluster.md, \"What the gateway serves\")");
}

HttpResponse Starting() {
  return StatusResponse(
      Status::Unavailable("the gateway is starting: the auth records are not loaded from the placement driver yet"));
}

}  // namespace

GatewayApi::GatewayApi(cluster::Router& router, WorkerPool& pool, bool auth_on)
    : router_(router), pool_(pool), auth_on_(auth_on) {
  for (const DataRoute& r : DataRoutes())
    routes_.Add(r.method, r.pattern, Entry{r.fn, nullptr, r.access, r.bulk ? 0 : kSmallBodyBytes});
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
  if (e.fn == &Readyz && auth_on_ && !auth_.load(std::memory_order_acquire)) return respond(Starting());
  try {
    e.fn(router_, request, m.params, who, respond);
  } catch (const ApiError& err) {
    respond(StatusResponse(err.status));
  } catch (const json::exception& err) {
    respond(StatusResponse(Status::InvalidArgument(std::string("bad JSON value: ") + err.what())));
  }
}

}  // namespace vectron::net::daemon
