#include "net/daemon/gateway_api.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

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

using Fn = void (*)(cluster::Router&, const HttpRequest&, const PathParams&, Responder);

void ClusterMapRoute(cluster::Router& r, const HttpRequest&, const PathParams&, Responder respond) {
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

void CreateCollection(cluster::Router& r, const HttpRequest& req, const PathParams&, Responder respond) {
  json j = BodyOf(req, {"name", "dim", "metric", "shards", "replication", "m", "M", "ef_construction", "ef_search",
                      "seed", "flat_max_points"});
  auto name_it = j.find("name");
  if (name_it == j.end() || !name_it->is_string()) Bad("\"name\" is required (a string)");
  std::string name = name_it->get<std::string>();
  if (!j.contains("dim")) Bad("\"dim\" is required");
  CollectionConfig cfg;
  cfg.dim = static_cast<uint32_t>(GetInt(j, "dim", 0, 1, kMaxDim));
  if (auto m = j.find("metric"); m != j.end() && !m->is_null()) {
    if (!m->is_string()) Bad("\"metric\" must be a string");
    auto metric = ParseMetric(m->get<std::string>());
    if (!metric.ok()) Bad(metric.status().message());
    cfg.metric = *metric;
  }
  const int64_t kU32 = 0xffffffffll;
  cfg.shards = static_cast<uint32_t>(GetInt(j, "shards", cfg.shards, 1, 4096));
  cfg.hnsw.m = static_cast<uint32_t>(GetInt(j, "m", GetInt(j, "M", cfg.hnsw.m, 0, kU32), 0, kU32));
  cfg.hnsw.ef_construction = static_cast<uint32_t>(GetInt(j, "ef_construction", cfg.hnsw.ef_construction, 0, kU32));
  cfg.hnsw.ef_search = static_cast<uint32_t>(GetInt(j, "ef_search", cfg.hnsw.ef_search, 0, kU32));
  cfg.hnsw.seed = static_cast<uint64_t>(GetInt(j, "seed", static_cast<int64_t>(cfg.hnsw.seed), 0, INT64_MAX));
  cfg.flat_max_points =
      static_cast<uint64_t>(GetInt(j, "flat_max_points", static_cast<int64_t>(cfg.flat_max_points), 0, INT64_MAX));
  uint32_t replication = static_cast<uint32_t>(GetInt(j, "replication", 0, 0, 7));
  r.CreateCollection(name, cfg, replication, [respond, name, cfg](Status s) {
    if (!s.ok()) return respond(StatusResponse(s));
    respond(Json(201, {{"name", name}, {"config", json::parse(cfg.ToJson(), nullptr, false)}}));
  });
}

void ListCollections(cluster::Router& r, const HttpRequest&, const PathParams&, Responder respond) {
  json out = json::array();
  for (auto& [name, c] : r.map().collections) {
    auto cfg = CollectionConfig::FromJson(c.config_json);
    if (!cfg.ok()) continue;
    out.push_back({{"name", name}, {"dim", cfg->dim}, {"metric", MetricName(cfg->metric)}, {"shards", cfg->shards},
                   {"replication", c.replication}});
  }
  respond(Json(200, {{"collections", out}}));
}

void GetCollection(cluster::Router& r, const HttpRequest&, const PathParams& p, Responder respond) {
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

void DropCollection(cluster::Router& r, const HttpRequest&, const PathParams& p, Responder respond) {
  std::string name = Param(p, "name");
  r.DropCollection(name, [respond, name](Status s) {
    if (!s.ok()) return respond(StatusResponse(s));
    respond(Json(200, {{"name", name}, {"dropped", true}}));
  });
}

void UpsertPoints(cluster::Router& r, const HttpRequest& req, const PathParams& p, Responder respond) {
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

void UpdateMetadata(cluster::Router& r, const HttpRequest& req, const PathParams& p, Responder respond) {
  WriteUpdates(r, p, api::MetadataUpdatesOf(BodyOf(req, {"points", "ids", "metadata", "merge"})), std::move(respond));
}

void UpdateVectors(cluster::Router& r, const HttpRequest& req, const PathParams& p, Responder respond) {
  WriteUpdates(r, p, api::VectorUpdatesOf(BodyOf(req, {"points"})), std::move(respond));
}

json PointJson(const Point& p, bool meta, bool vec) {
  json o = {{"id", p.id}};
  if (vec) o["vector"] = p.vector;
  if (meta) o["metadata"] = MetadataJson(p.metadata);
  return o;
}

void GetPoints(cluster::Router& r, const HttpRequest& req, const PathParams& p, Responder respond) {
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

void DeletePoints(cluster::Router& r, const HttpRequest& req, const PathParams& p, Responder respond) {
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

void CountPoints(cluster::Router& r, const HttpRequest& req, const PathParams& p, Responder respond) {
  json j = BodyOf(req, {"where", "max_staleness_ms"}, true);
  cluster::ReadOptions ro;
  ro.max_staleness_ms = static_cast<uint64_t>(GetInt(j, "max_staleness_ms", 0, 0, 3600000));
  r.Count(Param(p, "name"), GetWhere(j), ro, [respond](Result<uint64_t> n) {
    if (!n.ok()) return respond(StatusResponse(n.status()));
    respond(Json(200, {{"count", *n}}));
  });
}

void Search(cluster::Router& r, const HttpRequest& req, const PathParams& p, Responder respond) {
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

void CreateIndex(cluster::Router& r, const HttpRequest& req, const PathParams& p, Responder respond) {
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

void DropIndex(cluster::Router& r, const HttpRequest&, const PathParams& p, Responder respond) {
  std::string field = Param(p, "field");
  r.DropPayloadIndex(Param(p, "name"), field, [respond, field](Status s) {
    if (!s.ok()) return respond(StatusResponse(s));
    respond(Json(200, {{"field", field}, {"dropped", true}}));
  });
}

void Healthz(cluster::Router&, const HttpRequest&, const PathParams&, Responder respond) {
  respond(Json(200, {{"status", "ok"}}));
}

void Readyz(cluster::Router& r, const HttpRequest&, const PathParams&, Responder respond) {
  if (!r.has_map()) return respond(StatusResponse(Status::Unavailable("no cluster map from the placement driver yet")));
  respond(Json(200, {{"status", "ready"}}));
}

const Router<Fn>& Routes() {
  static const Router<Fn>* routes = [] {
    auto* t = new Router<Fn>();
    t->Add("GET", "/healthz", &Healthz);
    t->Add("GET", "/readyz", &Readyz);
    t->Add("GET", "/v1/cluster", &ClusterMapRoute);
    t->Add("POST", "/v1/collections", &CreateCollection);
    t->Add("GET", "/v1/collections", &ListCollections);
    t->Add("GET", "/v1/collections/{name}", &GetCollection);
    t->Add("DELETE", "/v1/collections/{name}", &DropCollection);
    t->Add("PUT", "/v1/collections/{name}/points", &UpsertPoints);
    t->Add("POST", "/v1/collections/{name}/points/get", &GetPoints);
    t->Add("POST", "/v1/collections/{name}/points/delete", &DeletePoints);
    t->Add("POST", "/v1/collections/{name}/points/metadata", &UpdateMetadata);
    t->Add("POST", "/v1/collections/{name}/points/vectors", &UpdateVectors);
    t->Add("POST", "/v1/collections/{name}/count", &CountPoints);
    t->Add("POST", "/v1/collections/{name}/search", &Search);
    t->Add("POST", "/v1/collections/{name}/indexes", &CreateIndex);
    t->Add("DELETE", "/v1/collections/{name}/indexes/{field}", &DropIndex);
    return t;
  }();
  return *routes;
}

}  // namespace

void GatewayApi::Handle(HttpRequest request, Responder respond) {
  auto m = Routes().Find(request.method, request.path);
  if (!m.route) {
    if (!m.allow.empty()) {
      HttpResponse r = JsonError(405, "method_not_allowed", "use " + m.allow);
      r.headers.push_back({"Allow", m.allow});
      return respond(std::move(r));
    }
    return respond(JsonError(501, "not_implemented",
                             "the gateway does not serve " + request.method + " " + request.path +
                                 " (see docs/cluster.md, \"What the gateway serves\")"));
  }
  try {
    m.route->handler(router_, request, m.params, respond);
  } catch (const ApiError& e) {
    respond(StatusResponse(e.status));
  } catch (const json::exception& e) {
    respond(StatusResponse(Status::InvalidArgument(std::string("bad JSON value: ") + e.what())));
  }
}

}  // namespace vectron::net::daemon
