#include "net/api/rest_api.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "net/api/api_util.h"
#include "net/api/auth_routes.h"
#include "net/api/request_json.h"
#include "net/api/rest_data.h"
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
  // Most ids are printable ASCII with nothing to escape: quoted as they are. Anything
  // else (escapes, UTF-8, invalid bytes replaced) through the serialiser.
  const bool plain = std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
  if (!plain) {
    *out += DumpJson(json(s));
    return;
  }
  *out += '"';
  *out += s;
  *out += '"';
}
void AppendFloat(std::string* out, float f) {
  // As printf's %.9g (9 significant digits: a float reads back exactly), without the
  // format parsing and locale.
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), static_cast<double>(f), std::chars_format::general, 9);
  out->append(buf, ec == std::errc() ? static_cast<size_t>(end - buf) : 0);
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
  r.body = DumpJson(j);
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
  std::string points, mem, disk, cache;
  // A collection dropped meanwhile answers NotFound through its handle and is skipped.
  auto names = api.db_.ListCollections();
  if (names.ok()) {
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
  }
  if (!names.ok()) return r;
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


// The routes beside the data operations (whose table is DataOps(), operations.h).
// `access` is what the caller's token must allow (docs/auth.md).
struct RouteSpec {
  const char* method;
  const char* pattern;
  RestApi::Fn fn;
  bool inline_on_loop;
  RouteAccess access;
  enum Group { kCore, kDebug } group;
};

constexpr RouteAccess kOpen{Access::kPublic};
constexpr RouteAccess kAdminAccess{Access::kAdmin};

const std::vector<RouteSpec>& Specs() {
  static const std::vector<RouteSpec> kSpecs = {
      {"GET", "/healthz", &Healthz, true, kOpen, RouteSpec::kCore},
      {"GET", "/readyz", &Readyz, true, kOpen, RouteSpec::kCore},
      {"GET", "/metrics", &MetricsRoute, false, {Access::kAdmin, true, true}, RouteSpec::kCore},
      {"GET", "/openapi.json", &OpenApi, true, kOpen, RouteSpec::kCore},
      {"GET", "/v1/openapi.json", &OpenApi, true, kOpen, RouteSpec::kCore},
      // (The feedback and default rerank pipeline routes are rows of the operation table.)
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
  for (const OpSpec& op : DataOps()) out.push_back({op.method, op.pattern, op.access});
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
      service_(db),
      auth_(auth) {
  for (const auto& r : Specs()) {
    if (Served(r, options_.debug_routes)) router_.Add(r.method, r.pattern, {r.fn, r.inline_on_loop, r.access, kSmallBodyBytes});
  }
  // Routes that carry points, ids, vectors or filters take the server's --max-body-bytes
  // (0 here); the others a few fields, so kSmallBodyBytes.
  for (const OpSpec& op : DataOps()) {
    Handler h{nullptr, false, op.access, op.bulk ? 0 : kSmallBodyBytes};
    h.data = true;
    h.op = op.id;
    router_.Add(op.method, op.pattern, h);
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
  bool data = access.access == Access::kRead || access.access == Access::kWrite || access.access == Access::kAdmin ||
              access.access == Access::kFeedback;
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
  if (h.data) {
    // The local service answers before it returns, on this thread.
    std::optional<HttpResponse> out;
    RestDataContext ctx{&service_, &options_.limits, {}, nullptr};
    ctx.rerank = [this](const std::string& name, const nlohmann::json& body, std::span<const float> queries, size_t nq,
                        const SearchParams& sp) { return api::RerankedSearch(*this, name, body, queries, nq, nq == 1 && body.contains("vector"), sp);
    };
    RunRestData(h.op, ctx, req, params, who, [&out](HttpResponse r) { out = std::move(r); });
    return out ? std::move(*out) : JsonError(500, "internal", "the operation answered nothing");
  }
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

// Light enough for the loop to run when the server has nothing else to do (InlineGate):
// a search or a get whose body holds a query or a few ids. The body is not parsed here:
// a search body naming "exact" (or "vectors", a batch) anywhere goes to the pool.
bool LightRoute(const RestApi::Handler& h, const HttpRequest& req) {
  constexpr size_t kLightBodyBytes = 32 << 10;
  if (!h.data || req.body.size() > kLightBodyBytes) return false;
  if (h.op == OpId::kGet) return true;
  return h.op == OpId::kSearch && req.body.find("\"exact\"") == std::string::npos &&
         req.body.find("\"vectors\"") == std::string::npos;
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
  // Runs the route here, on whichever thread calls it, and answers.
  auto run = [this](const Handler& h, const HttpRequest& req, const PathParams& params, const std::string& route,
                    const Responder& respond) {
    HttpResponse r = Dispatch(h, req, params);
    r.route = route;
    respond(std::move(r));
  };
  if (h.inline_on_loop) {
    run(h, request, m.params, route, respond);
    return;
  }
  if (h.fn == &MetricsRoute) {
    // Loop-owned gauges are read here, on the loop thread; engine gauges on a worker.
    std::string body = runtime_gauges_ ? runtime_gauges_() : std::string();
    request.body = std::move(body);
  }
  if (options_.gate &&
      options_.gate->TryEnter(request.connection, LightRoute(h, request), std::chrono::steady_clock::now())) {
    // The server's only work: run it here rather than wake a worker and then the loop.
    run(h, request, m.params, route, respond);
    return;
  }
  auto task = [run, h, route, req = std::move(request), params = std::move(m.params), respond]() {
    run(h, req, params, route, respond);
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
