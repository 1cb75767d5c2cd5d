#include "net/api/rest_api.h"

#include <chrono>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "net/api/api_util.h"
#include "net/api/auth_routes.h"
#include "net/api/request_json.h"
#include "net/api/rest_points.h"
#include "net/api/rest_rerank.h"
#include "util/untrusted_json.h"

namespace vectron::net {

using nlohmann::json;

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kAborted: return 409;
    case StatusCode::kResourceExhausted: return 507;  // Storage (an LMDB map, the disk) or memory: not a rate limit.
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kCancelled: return 503;
    case StatusCode::kCorruption: return 500;
    case StatusCode::kIOError: return 500;
    case StatusCode::kInternal: return 500;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kRateLimited: return 429;
  }
  return 500;
}

HttpResponse StatusResponse(const Status& s) {
  HttpResponse r = JsonError(HttpStatusFor(s.code()), StatusCodeName(s.code()), s.message());
  if (s.code() == StatusCode::kUnauthenticated) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"vectron\"");
  if (s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kRateLimited)
    r.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, s.retry_after_s())));
  return r;
}

namespace api {

HttpResponse Guarded(const std::function<HttpResponse()>& fn) {
  try {
    return fn();
  } catch (const ApiError& e) {
    return StatusResponse(e.status);
  } catch (const json::exception& e) {
    return JsonError(400, "invalid_argument", std::string("bad JSON value: ") + e.what());
  } catch (const std::bad_alloc&) {
    return StatusResponse(Status::ResourceExhausted("out of memory for this request"));
  } catch (const std::exception& e) {
    return JsonError(500, "internal", e.what());
  }
}

void Check(const Status& s) {
  if (!s.ok()) throw ApiError{s};
}

// --- JSON output written by hand where it is hot (search hits, points). ---
void AppendString(std::string* out, std::string_view s) {
  *out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}
void AppendFloat(std::string* out, float f) {
  char buf[32];
  int n = std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(f));
  out->append(buf, static_cast<size_t>(n));
}
void AppendFloats(std::string* out, std::span<const float> v) {
  *out += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) *out += ',';
    AppendFloat(out, v[i]);
  }
  *out += ']';
}
void AppendMetadata(std::string* out, const std::string& m) { *out += m.empty() ? "null" : m; }

void AppendHits(std::string* out, const std::vector<Hit>& hits, bool meta, bool vec) {
  *out += "{\"hits\":[";
  for (size_t i = 0; i < hits.size(); ++i) {
    const Hit& h = hits[i];
    if (i) *out += ',';
    *out += "{\"id\":";
    AppendString(out, h.id);
    *out += ",\"score\":";
    AppendFloat(out, h.score);
    if (meta) {
      *out += ",\"metadata\":";
      AppendMetadata(out, h.metadata);
    }
    if (vec) {
      *out += ",\"vector\":";
      AppendFloats(out, h.vector);
    }
    *out += '}';
  }
  *out += "]}";
}

void AppendPoint(std::string* out, const Point& p, bool meta, bool vec) {
  *out += "{\"id\":";
  AppendString(out, p.id);
  if (vec) {
    *out += ",\"vector\":";
    AppendFloats(out, p.vector);
  }
  if (meta) {
    *out += ",\"metadata\":";
    AppendMetadata(out, p.metadata);
  }
  *out += '}';
}

HttpResponse Json(int status, const json& j) {
  HttpResponse r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  r.body += '\n';
  return r;
}
HttpResponse Raw(std::string body) {
  HttpResponse r;
  r.body = std::move(body);
  r.body += '\n';
  return r;
}

const std::string& Param(const PathParams& p, const char* name) {
  for (auto& [k, v] : p) {
    if (k == name) return v;
  }
  static const std::string kEmpty;
  return kEmpty;
}

json ConfigJson(const Collection& c) {
  json cfg = json::parse(c.config().ToJson(), nullptr, false);
  return cfg.is_discarded() ? json::object() : cfg;
}

json StatsJson(const CollectionStats& st) {
  return {{"count", st.count},
          {"index_memory_bytes", st.index_memory_bytes},
          {"disk_bytes", st.disk_bytes},
          {"deleted_slots", st.deleted_slots},
          {"index_kind", st.index_kind}};
}

}  // namespace api

using namespace api;

namespace {

// ------------------------------------------------------------------ handlers

HttpResponse Healthz(RestApi&, const HttpRequest&, const PathParams&, const Principal&) { return Raw(R"({"status":"ok"})"); }

HttpResponse Readyz(RestApi& api, const HttpRequest&, const PathParams&, const Principal&) {
  if (api.draining_) {
    HttpResponse r = JsonError(503, "unavailable", "shutting down");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  return Raw(R"({"status":"ready"})");
}

HttpResponse OpenApi(RestApi& api, const HttpRequest&, const PathParams&, const Principal&) {
  return Raw(RestApi::OpenApiJson(api.auth_ != nullptr));
}

HttpResponse MetricsRoute(RestApi& api, const HttpRequest& req, const PathParams&, const Principal&) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  // The runtime gauges were rendered on the loop thread and passed in the body.
  r.body = req.body;
  api.metrics_.Render(&r.body);
  std::shared_lock lock(api.collections_mu_);
  auto names = api.db_.ListCollections();
  if (!names.ok()) return r;
  std::string points, mem, disk, cache;
  for (auto& n : *names) {
    auto c = api.db_.GetCollection(n);
    if (!c.ok()) continue;
    auto st = (*c)->Stats();
    if (!st.ok()) continue;
    std::string lbl = "{collection=\"" + PromEscape(n) + "\"} ";
    points += "vectron_collection_points" + lbl + std::to_string(st->count) + "\n";
    mem += "vectron_collection_index_memory_bytes" + lbl + std::to_string(st->index_memory_bytes) + "\n";
    disk += "vectron_collection_disk_bytes" + lbl + std::to_string(st->disk_bytes) + "\n";
    cache += RerankCacheMetrics(n, (*c)->CacheStats());  // rest_rerank.cc
  }
  r.body += "# HELP vectron_collections Collections in the database.\n# TYPE vectron_collections gauge\n";
  r.body += "vectron_collections " + std::to_string(names->size()) + "\n";
  r.body += "# HELP vectron_collection_points Live points per collection.\n# TYPE vectron_collection_points gauge\n" + points;
  r.body += "# HELP vectron_collection_index_memory_bytes In-memory index size per collection.\n"
            "# TYPE vectron_collection_index_memory_bytes gauge\n" + mem;
  r.body += "# HELP vectron_collection_disk_bytes LMDB data plus saved index files per collection.\n"
            "# TYPE vectron_collection_disk_bytes gauge\n" + disk;
  r.body += RerankCacheMetricsHelp() + cache;
  return r;
}

HttpResponse CreateCollection(RestApi& api, const HttpRequest& req, const PathParams&, const Principal& who) {
  json j = ParseBody(req, {"name", "dim", "metric", "hnsw", "m", "M", "ef_construction", "ef_search", "seed", "shards",
                           "flat_max_points", "checkpoint_every_ops", "quantization", "metadata"});
  std::string metadata;
  if (auto m = j.find("metadata"); m != j.end() && !m->is_null()) {
    if (!m->is_object()) Bad("\"metadata\" must be a JSON object or null");
    metadata = m->dump();
  }
  std::string name = GetString(j, "name", true);
  // The route's access check had no collection name to look at: the body has it.
  Check(Authorize(who, {Access::kAdmin}, name));
  CollectionConfig cfg = CollectionConfigOf(j);
  std::shared_lock lock(api.collections_mu_);
  Collection* c = Take(api.db_.CreateCollection(name, cfg, metadata));
  return Json(201, {{"name", name}, {"config", ConfigJson(*c)}, {"metadata", CollectionMetadataJson(api, name)}});
}

HttpResponse ListCollections(RestApi& api, const HttpRequest&, const PathParams&, const Principal& who) {
  std::shared_lock lock(api.collections_mu_);
  json out = json::array();
  for (auto& n : Take(api.db_.ListCollections())) {
    if (!who.MayUseCollection(n)) continue;  // A key restricted to some collections sees only those.
    auto c = api.db_.GetCollection(n);
    if (!c.ok()) continue;
    const auto& cfg = (*c)->config();
    json item = {{"name", n}, {"dim", cfg.dim}, {"metric", MetricName(cfg.metric)}, {"shards", cfg.shards}};
    // The console's collection table: size and index next to the shape.
    if (auto st = (*c)->Stats(); st.ok()) {
      item["count"] = st->count;
      item["index_kind"] = st->index_kind;
      item["index_memory_bytes"] = st->index_memory_bytes;
      item["disk_bytes"] = st->disk_bytes;
    } else {
      auto count = (*c)->Count();
      item["count"] = count.ok() ? *count : 0;
    }
    out.push_back(std::move(item));
  }
  return Json(200, {{"collections", out}});
}

HttpResponse GetCollection(RestApi& api, const HttpRequest&, const PathParams& p, const Principal&) {
  std::shared_lock lock(api.collections_mu_);
  Collection* c = Take(api.db_.GetCollection(Param(p, "name")));
  CollectionStats st = Take(c->Stats());
  return Json(200, {{"name", c->name()}, {"config", ConfigJson(*c)}, {"stats", StatsJson(st)},
                    {"metadata", CollectionMetadataJson(api, c->name())}});
}

HttpResponse DropCollection(RestApi& api, const HttpRequest&, const PathParams& p, const Principal&) {
  std::unique_lock lock(api.collections_mu_);
  Check(api.db_.DropCollection(Param(p, "name")));
  return Json(200, {{"name", Param(p, "name")}, {"dropped", true}});
}

HttpResponse UpsertPoints(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  json j = ParseBody(req, {"points"});
  auto it = j.find("points");
  if (it == j.end() || !it->is_array()) Bad("\"points\" must be an array of {\"id\", \"vector\", \"metadata\"?}");
  if (it->empty()) Bad("\"points\" is empty");
  WriteBatch batch;
  std::vector<float> v;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& pt = (*it)[i];
    std::string what = "points[" + std::to_string(i) + "]";
    if (!pt.is_object()) Bad(what + " must be an object {\"id\", \"vector\", \"metadata\"?}");
    CheckFields(pt, {"id", "vector", "metadata"}, "", " in " + what);
    if (!pt.contains("id")) Bad(what + ".id is required");
    if (!pt.contains("vector")) Bad(what + ".vector is required");
    std::string id = IdOf(pt["id"], what + ".id");
    v.clear();
    AppendVector(pt["vector"], what + ".vector", &v);
    std::string meta;
    if (auto m = pt.find("metadata"); m != pt.end() && !m->is_null()) {
      if (!m->is_object()) Bad(what + ".metadata must be a JSON object");
      meta = m->dump();
    }
    batch.Upsert(std::move(id), v, std::move(meta));
  }
  std::shared_lock lock(api.collections_mu_);
  Collection* c = Take(api.db_.GetCollection(Param(p, "name")));
  Check(c->Write(batch));
  return Json(200, {{"upserted", batch.size()}});
}

HttpResponse GetPoints(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  json j = ParseBody(req, {"ids", "include", "include_metadata", "include_vector"});
  std::vector<std::string> ids = GetIds(j);
  Include inc = GetInclude(j, {true, true});
  std::shared_lock lock(api.collections_mu_);
  Collection* c = Take(api.db_.GetCollection(Param(p, "name")));
  GetOptions go;
  go.include_metadata = inc.metadata;
  go.include_vector = inc.vector;
  auto pts = Take(c->Get(ids, go));
  std::string out = "{\"points\":[";
  std::string missing = "\"not_found\":[";
  bool first = true, first_missing = true;
  for (size_t i = 0; i < pts.size(); ++i) {
    if (pts[i]) {
      if (!first) out += ',';
      first = false;
      AppendPoint(&out, *pts[i], inc.metadata, inc.vector);
    } else {
      if (!first_missing) missing += ',';
      first_missing = false;
      AppendString(&missing, ids[i]);
    }
  }
  out += "]," + missing + "]}";
  return Raw(std::move(out));
}

HttpResponse DeletePoints(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  json j = ParseBody(req, {"ids", "where"});
  bool has_ids = j.contains("ids"), has_where = j.contains("where") && !j["where"].is_null();
  if (has_ids == has_where) Bad("give exactly one of \"ids\" and \"where\"");
  std::shared_lock lock(api.collections_mu_);
  if (has_ids) {
    std::vector<std::string> ids = GetIds(j);
    Collection* c = Take(api.db_.GetCollection(Param(p, "name")));
    GetOptions go;
    go.include_metadata = false;
    go.include_vector = false;
    auto found = Take(c->Get(ids, go));
    std::set<std::string> existing;
    for (auto& f : found) {
      if (f) existing.insert(f->id);
    }
    Check(c->Delete(ids));
    return Json(200, {{"deleted", existing.size()}});
  }
  std::string where = GetWhere(j);
  Collection* c = Take(api.db_.GetCollection(Param(p, "name")));
  return Json(200, {{"deleted", Take(c->DeleteWhere(where))}});
}

HttpResponse CountPoints(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  json j = req.body.empty() ? json::object() : ParseBody(req, {"where"});
  std::string where = GetWhere(j);
  std::shared_lock lock(api.collections_mu_);
  Collection* c = Take(api.db_.GetCollection(Param(p, "name")));
  return Json(200, {{"count", Take(c->Count(where))}});
}

HttpResponse ScrollPoints(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  json j = req.body.empty() ? json::object() : ParseBody(req, {"limit", "cursor", "where", "include", "include_metadata", "include_vector"});
  size_t limit = static_cast<size_t>(GetInt(j, "limit", 100, 1, static_cast<int64_t>(api.options_.max_scroll_limit)));
  std::string cursor = GetString(j, "cursor", false);
  std::string where = GetWhere(j);
  Include inc = GetInclude(j, {true, false});
  std::shared_lock lock(api.collections_mu_);
  Collection* c = Take(api.db_.GetCollection(Param(p, "name")));
  GetOptions go;
  go.include_metadata = inc.metadata;
  go.include_vector = inc.vector;
  ScrollPage page = Take(c->Scroll(cursor, limit, go, where));
  std::string out = "{\"points\":[";
  for (size_t i = 0; i < page.points.size(); ++i) {
    if (i) out += ',';
    AppendPoint(&out, page.points[i], inc.metadata, inc.vector);
  }
  out += "],\"next_cursor\":";
  if (page.next_cursor.empty()) out += "null";
  else AppendString(&out, page.next_cursor);
  out += '}';
  return Raw(std::move(out));
}

HttpResponse Search(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  json j = ParseBody(req, {"vector", "vectors", "k", "ef", "exact", "where", "include", "include_metadata", "include_vector",
                           "filter_strategy", "offset", "score_threshold", "rerank", "explain", "cache"});
  bool single = j.contains("vector"), batch = j.contains("vectors");
  if (single == batch) Bad("give exactly one of \"vector\" (one query) and \"vectors\" (a list of queries)");
  SearchParams sp;
  sp.k = static_cast<int>(GetInt(j, "k", 10, 1, api.options_.max_k));
  sp.ef = static_cast<int>(GetInt(j, "ef", 0, 0, 1 << 20));
  sp.exact = GetBool(j, "exact", false);
  sp.offset = static_cast<int>(GetInt(j, "offset", 0, 0, api.options_.max_k));
  if (auto t = j.find("score_threshold"); t != j.end() && !t->is_null()) {
    if (!t->is_number()) Bad("\"score_threshold\" must be a number (the largest distance kept)");
    const double d = t->get<double>();  // Out of float range: all or nothing kept.
    sp.score_threshold = d > FLT_MAX ? INFINITY : d < -FLT_MAX ? -INFINITY : static_cast<float>(d);
  }
  if (std::string strategy = GetString(j, "filter_strategy", false); !strategy.empty())
    sp.filter_strategy = Take(ParseFilterStrategy(strategy));
  Include inc = GetInclude(j, {false, false});
  sp.include_metadata = inc.metadata;
  sp.include_vector = inc.vector;
  sp.where = GetWhere(j);
  std::vector<float> q;
  size_t n = 1;
  if (single) {
    AppendVector(j["vector"], "vector", &q);
  } else {
    const json& vs = j["vectors"];
    if (!vs.is_array()) Bad("\"vectors\" must be an array of arrays of numbers");
    if (vs.empty()) Bad("\"vectors\" is empty");
    if (vs.size() > api.options_.max_batch_queries)
      Bad("\"vectors\" holds " + std::to_string(vs.size()) + " queries; the limit is " +
          std::to_string(api.options_.max_batch_queries));
    n = vs.size();
    size_t dim = 0;
    for (size_t i = 0; i < n; ++i) {
      size_t before = q.size();
      AppendVector(vs[i], "vectors[" + std::to_string(i) + "]", &q);
      size_t d = q.size() - before;
      if (i == 0) dim = d;
      else if (d != dim)
        Bad("vectors[" + std::to_string(i) + "] has " + std::to_string(d) + " numbers, vectors[0] has " + std::to_string(dim));
    }
  }
  const bool explain = GetBool(j, "explain", false), cache = GetBool(j, "cache", true);
  std::shared_lock lock(api.collections_mu_);
  Collection* c = Take(api.db_.GetCollection(Param(p, "name")));
  // Reranked (a "rerank" pipeline, the collection's default, or "explain"): rest_rerank.cc.
  std::optional<RerankPipeline> pipeline = SearchPipeline(j, *c);
  if (!pipeline && explain) pipeline.emplace();
  if (single) {
    if (pipeline) return Raw(RerankedSearchJson(*c, q, sp, *pipeline, explain, cache));
    auto hits = Take(c->Search(q, sp));
    std::string out;
    AppendHits(&out, hits, inc.metadata, inc.vector);
    AddQueryId(&out);
    return Raw(std::move(out));
  }
  if (q.size() != n * c->config().dim)
    Bad("each query must have " + std::to_string(c->config().dim) + " numbers (the collection's dimension), got " +
        std::to_string(q.size() / n));
  if (pipeline) {
    const size_t dim = c->config().dim;
    std::string out = "{\"results\":[";
    for (size_t i = 0; i < n; ++i) {
      if (i) out += ',';
      out += RerankedSearchJson(*c, std::span<const float>(q).subspan(i * dim, dim), sp, *pipeline, explain, cache);
    }
    out += "]}";
    return Raw(std::move(out));
  }
  // One worker thread per request: concurrency comes from concurrent requests.
  auto results = Take(c->SearchBatch(q, sp, /*threads=*/1));
  std::string out = "{\"results\":[";
  for (size_t i = 0; i < results.size(); ++i) {
    if (i) out += ',';
    std::string one;
    AppendHits(&one, results[i], inc.metadata, inc.vector);
    AddQueryId(&one);
    out += one;
  }
  out += "]}";
  return Raw(std::move(out));
}

HttpResponse CreateIndex(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  json j = ParseBody(req, {"field", "type"});
  std::string field = GetString(j, "field", true);
  std::string type = GetString(j, "type", true);
  std::shared_lock lock(api.collections_mu_);
  Collection* c = Take(api.db_.GetCollection(Param(p, "name")));
  Check(c->CreatePayloadIndex(field, Take(ParsePayloadType(type))));
  return Json(201, {{"field", field}, {"type", type}});
}

HttpResponse ListIndexes(RestApi& api, const HttpRequest&, const PathParams& p, const Principal&) {
  std::shared_lock lock(api.collections_mu_);
  Collection* c = Take(api.db_.GetCollection(Param(p, "name")));
  json out = json::array();
  for (auto& i : Take(c->ListPayloadIndexes())) out.push_back({{"field", i.field}, {"type", PayloadTypeName(i.type)}});
  return Json(200, {{"indexes", out}});
}

HttpResponse DropIndex(RestApi& api, const HttpRequest&, const PathParams& p, const Principal&) {
  std::shared_lock lock(api.collections_mu_);
  Collection* c = Take(api.db_.GetCollection(Param(p, "name")));
  Check(c->DropPayloadIndex(Param(p, "field")));
  return Json(200, {{"field", Param(p, "field")}, {"dropped", true}});
}


// --- debug routes (tests): hold a worker until released or `ms` pass.
HttpResponse DebugBlock(RestApi& api, const HttpRequest& req, const PathParams&, const Principal&) {
  json j = req.body.empty() ? json::object() : ParseBody(req, {"ms"});
  auto ms = GetInt(j, "ms", 10000, 0, 600000);
  std::unique_lock lock(api.debug_mu_);
  uint64_t gen = api.debug_generation_;
  ++api.debug_blocked_;
  bool released = api.debug_cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return api.debug_generation_ != gen; });
  --api.debug_blocked_;
  return Json(200, {{"released", released}});
}

HttpResponse DebugRelease(RestApi& api, const HttpRequest&, const PathParams&, const Principal&) {
  {
    std::lock_guard lock(api.debug_mu_);
    ++api.debug_generation_;
  }
  api.debug_cv_.notify_all();
  return Json(200, {{"released", true}});
}

HttpResponse DebugState(RestApi& api, const HttpRequest&, const PathParams&, const Principal&) {
  std::lock_guard lock(api.debug_mu_);
  return Json(200, {{"blocked", api.debug_blocked_}, {"queued", api.pool_.queued()}, {"running", api.pool_.running()}});
}

HttpResponse Run(RestApi::Fn fn, RestApi& api, const HttpRequest& req, const PathParams& params, const Principal& who) {
  return Guarded([&] { return fn(api, req, params, who); });
}


// The route table. `access` is what the caller's token must allow (docs/auth.md).
struct RouteSpec {
  const char* method;
  const char* pattern;
  RestApi::Fn fn;
  bool inline_on_loop;
  RouteAccess access;
  enum Group { kCore, kDebug } group;
};

// The body limit of a route: those that carry points, ids, vectors or filters take the
// server's --max-body-bytes (0 here); every other route takes a few fields (credentials,
// names, settings; login is open to anyone), so kSmallBodyBytes.
size_t MaxBodyBytes(const RouteSpec& r) {
  const bool bulk = r.fn == &UpsertPoints || r.fn == &GetPoints || r.fn == &DeletePoints || r.fn == &CountPoints ||
                    r.fn == &ScrollPoints || r.fn == &Search || r.fn == &UpdateMetadata || r.fn == &UpdateVectors ||
                    r.fn == &ListPoints || r.fn == &PutRerank;
  return bulk ? 0 : kSmallBodyBytes;
}

constexpr RouteAccess kOpen{Access::kPublic};
constexpr RouteAccess kReadAccess{Access::kRead};
constexpr RouteAccess kReadOrConsole{Access::kRead, /*console=*/true};
constexpr RouteAccess kWriteAccess{Access::kWrite};
constexpr RouteAccess kAdminAccess{Access::kAdmin};

const std::vector<RouteSpec>& Specs() {
  static const std::vector<RouteSpec> kSpecs = {
      {"GET", "/healthz", &Healthz, true, kOpen, RouteSpec::kCore},
      {"GET", "/readyz", &Readyz, true, kOpen, RouteSpec::kCore},
      {"GET", "/metrics", &MetricsRoute, false, {Access::kAdmin, true, true}, RouteSpec::kCore},
      {"GET", "/openapi.json", &OpenApi, true, kOpen, RouteSpec::kCore},
      {"GET", "/v1/openapi.json", &OpenApi, true, kOpen, RouteSpec::kCore},
      {"POST", "/v1/collections", &CreateCollection, false, kAdminAccess, RouteSpec::kCore},
      {"GET", "/v1/collections", &ListCollections, false, kReadOrConsole, RouteSpec::kCore},
      {"GET", "/v1/collections/{name}", &GetCollection, false, kReadOrConsole, RouteSpec::kCore},
      {"DELETE", "/v1/collections/{name}", &DropCollection, false, kAdminAccess, RouteSpec::kCore},
      {"PUT", "/v1/collections/{name}/metadata", &SetCollectionMetadata, false, kAdminAccess, RouteSpec::kCore},
      {"POST", "/v1/collections/{name}/rename", &RenameCollection, false, kAdminAccess, RouteSpec::kCore},
      {"PUT", "/v1/collections/{name}/points", &UpsertPoints, false, kWriteAccess, RouteSpec::kCore},
      {"POST", "/v1/collections/{name}/points/get", &GetPoints, false, kReadAccess, RouteSpec::kCore},
      {"POST", "/v1/collections/{name}/points/delete", &DeletePoints, false, kWriteAccess, RouteSpec::kCore},
      {"POST", "/v1/collections/{name}/points/metadata", &UpdateMetadata, false, kWriteAccess, RouteSpec::kCore},
      {"POST", "/v1/collections/{name}/points/vectors", &UpdateVectors, false, kWriteAccess, RouteSpec::kCore},
      {"POST", "/v1/collections/{name}/points/list", &ListPoints, false, kReadAccess, RouteSpec::kCore},
      {"POST", "/v1/collections/{name}/count", &CountPoints, false, kReadAccess, RouteSpec::kCore},
      {"POST", "/v1/collections/{name}/scroll", &ScrollPoints, false, kReadAccess, RouteSpec::kCore},
      {"POST", "/v1/collections/{name}/search", &Search, false, kReadAccess, RouteSpec::kCore},
      {"POST", "/v1/collections/{name}/indexes", &CreateIndex, false, kWriteAccess, RouteSpec::kCore},
      {"POST", "/v1/collections/{name}/feedback", &PostFeedback, false, kWriteAccess, RouteSpec::kCore},
      {"GET", "/v1/collections/{name}/feedback", &GetFeedback, false, kReadAccess, RouteSpec::kCore},
      {"GET", "/v1/collections/{name}/feedback/export", &ExportFeedback, false, kReadAccess, RouteSpec::kCore},
      {"GET", "/v1/collections/{name}/rerank", &GetRerank, false, kReadAccess, RouteSpec::kCore},
      {"PUT", "/v1/collections/{name}/rerank", &PutRerank, false, kWriteAccess, RouteSpec::kCore},
      {"DELETE", "/v1/collections/{name}/rerank", &DeleteRerank, false, kWriteAccess, RouteSpec::kCore},
      {"GET", "/v1/collections/{name}/indexes", &ListIndexes, false, kReadAccess, RouteSpec::kCore},
      {"DELETE", "/v1/collections/{name}/indexes/{field}", &DropIndex, false, kWriteAccess, RouteSpec::kCore},
      {"POST", "/v1/_debug/block", &DebugBlock, false, kAdminAccess, RouteSpec::kDebug},
      {"POST", "/v1/_debug/release", &DebugRelease, true, kAdminAccess, RouteSpec::kDebug},
      {"GET", "/v1/_debug/state", &DebugState, true, kAdminAccess, RouteSpec::kDebug},
  };
  return kSpecs;
}

bool Served(const RouteSpec& r, bool debug) { return r.group == RouteSpec::kCore || (r.group == RouteSpec::kDebug && debug); }

}  // namespace

std::vector<RouteInfo> RestApi::Routes(bool auth, bool debug_routes) {
  std::vector<RouteInfo> out;
  for (const auto& r : Specs())
    if (Served(r, debug_routes)) out.push_back({r.method, r.pattern, r.access});
  if (auth)
    for (const auto& r : api::AuthRoutes()) out.push_back({r.method, r.pattern, r.access});
  return out;
}

RestApi::RestApi(Database& db, WorkerPool& pool, RequestMetrics& metrics, ApiOptions options,
                 std::function<std::string()> runtime_gauges, Authenticator* auth)
    : db_(db),
      pool_(pool),
      metrics_(metrics),
      options_(options),
      runtime_gauges_(std::move(runtime_gauges)),
      auth_(auth) {
  for (const auto& r : Specs()) {
    if (Served(r, options_.debug_routes)) router_.Add(r.method, r.pattern, {r.fn, r.inline_on_loop, r.access, MaxBodyBytes(r)});
  }
  if (auth_) {
    for (const auto& r : api::AuthRoutes())
      router_.Add(r.method, r.pattern, {nullptr, false, r.access, kSmallBodyBytes, r.fn});
  }
}

Status CheckRouteAccess(Authenticator* auth, const RouteAccess& access, const HttpRequest& req,
                        const PathParams& params, Principal* who) {
  *who = Principal();
  if (!auth) {
    who->unrestricted = true;
    return Status::OK();
  }
  if (access.access == Access::kPublic) return Status::OK();
  VECTRON_RETURN_IF_ERROR(auth->Authenticate(req.Header("authorization"), who));
  // Data routes name their collection in the path; the allow-list applies to it.
  bool data = access.access == Access::kRead || access.access == Access::kWrite || access.access == Access::kAdmin;
  return Authorize(*who, access, data ? std::string_view(Param(params, "name")) : std::string_view());
}

Status RestApi::CheckAccess(const Handler& h, const HttpRequest& req, const PathParams& params, Principal* who) {
  return CheckRouteAccess(auth_, h.access, req, params, who);
}

HttpResponse RestApi::Dispatch(const Handler& h, const HttpRequest& req, const PathParams& params) {
  // Checked again although Admit passed it: a token revoked while the body arrived is
  // refused, and a token verified before costs a map look-up.
  Principal who;
  if (Status st = CheckAccess(h, req, params, &who); !st.ok()) return StatusResponse(st);
  if (h.auth_fn) return api::RunAuthRoute(h.auth_fn, *auth_, req, params, who);
  return Run(h.fn, *this, req, params, who);
}

namespace {

HttpResponse NoRoute(const HttpRequest& request, const Router<RestApi::Handler>::Match& m) {
  HttpResponse r;
  if (!m.allow.empty()) {
    r = JsonError(405, "method_not_allowed",
                  request.method + " is not allowed on " + Excerpt(request.path, 200) + " (allowed: " + m.allow + ")");
    r.headers.emplace_back("Allow", m.allow);
  } else {
    r = JsonError(404, "not_found", "no route " + request.method + " " + Excerpt(request.path, 200));
  }
  return r;
}

}  // namespace

Admission RestApi::Admit(const HttpRequest& head) {
  return AdmitRoute(router_, head, [&](const Router<Handler>::Match& m) { return NoRoute(head, m); },
                    [&](const Handler& h, const PathParams& params, Principal* who) {
                      return CheckAccess(h, head, params, who);
                    });
}

RestApi::~RestApi() = default;

void RestApi::Handle(HttpRequest request, Responder respond) {
  auto m = router_.Find(request.method, request.path);
  if (!m.route) {
    respond(NoRoute(request, m));
    return;
  }
  const std::string& route = m.route->pattern;
  Handler h = m.route->handler;
  if (h.inline_on_loop) {
    HttpResponse r = Dispatch(h, request, m.params);
    r.route = route;
    respond(std::move(r));
    return;
  }
  if (h.fn == &MetricsRoute) {
    // Loop-owned gauges are read here, on the loop thread; engine gauges on a worker.
    std::string body = runtime_gauges_ ? runtime_gauges_() : std::string();
    request.body = std::move(body);
  }
  auto task = [this, h, route, req = std::move(request), params = std::move(m.params), respond]() {
    HttpResponse r = Dispatch(h, req, params);
    r.route = route;
    respond(std::move(r));
  };
  if (!pool_.TrySubmit(std::move(task))) {
    HttpResponse r = JsonError(503, "unavailable",
                               "server busy: " + std::to_string(pool_.queue_max()) +
                                   " requests already queued; retry later");
    r.headers.emplace_back("Retry-After", std::to_string(options_.retry_after_s));
    r.route = route;
    respond(std::move(r));
  }
}

}  // namespace vectron::net
