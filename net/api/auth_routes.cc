#include "net/api/auth_routes.h"

#include <cstdlib>

#include "net/api/api_util.h"
#include "net/auth/auth_records.h"

namespace vectron::net::api {

using nlohmann::json;

namespace {

json TokenJson(const IssuedToken& t) {
  return {{"token", t.token}, {"token_type", "Bearer"}, {"expires_at", t.expires_at}};
}

unsigned GetScopes(const json& j, bool allow_empty) {
  auto sc = j.find("scopes");
  if (sc == j.end() || !sc->is_array() || (sc->empty() && !allow_empty))
    Bad("\"scopes\" is required: a" + std::string(allow_empty ? "n" : " non-empty") +
        " array of \"read\", \"write\", \"admin\", \"feedback\"");
  if (sc->size() > 4) Bad("\"scopes\" holds at most read, write, admin and feedback");
  unsigned scopes = 0;
  for (auto& x : *sc) {
    unsigned s = x.is_string() ? ScopeFromName(x.get<std::string>()) : 0;
    if (!s) Bad("\"scopes\" may hold only \"read\", \"write\", \"admin\" and \"feedback\"");
    scopes |= s;
  }
  return scopes;
}


// A decimal integer in lo..hi from a query parameter (def if absent).
int64_t QueryInt(const std::string& text, const char* name, int64_t def, int64_t lo, int64_t hi) {
  if (text.empty()) return def;
  if (text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
    Bad(std::string(name) + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  int64_t v = std::strtoll(text.c_str(), nullptr, 10);
  if (v < lo || v > hi) Bad(std::string(name) + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  return v;
}

}  // namespace

HttpResponse Login(Authenticator& auth, const HttpRequest& req, const PathParams&, const Principal&) {
  json j = ParseBody(req, {"username", "password"});
  std::string user = GetString(j, "username", true), password = GetString(j, "password", true);
  return Json(200, TokenJson(Take(auth.Login(user, password, req.peer))));
}

HttpResponse Refresh(Authenticator& auth, const HttpRequest& req, const PathParams&, const Principal& who) {
  return Json(200, TokenJson(Take(auth.Refresh(who, req.peer))));
}

HttpResponse Me(Authenticator&, const HttpRequest&, const PathParams&, const Principal& who) {
  json out = {{"user", who.user}, {"role", who.user_admin ? "admin" : "user"}, {"auth_time", who.auth_time}};
  if (who.grants) {
    json g = json::object();
    for (auto& [c, s] : *who.grants) g[c] = ScopeNames(s);
    out["grants"] = g;
  }
  return Json(200, out);
}

HttpResponse ChangePassword(Authenticator& auth, const HttpRequest& req, const PathParams&, const Principal& who) {
  json j = ParseBody(req, {"old_password", "new_password"});
  IssuedToken t = Take(auth.ChangePassword(who, GetString(j, "old_password", true),
                                                 GetString(j, "new_password", true), req.peer));
  // Every earlier login token of the user ended; the caller goes on with this one.
  json out = TokenJson(t);
  out["user"] = who.user;
  out["password_changed"] = true;
  return Json(200, out);
}

HttpResponse LogoutEverywhere(Authenticator& auth, const HttpRequest& req, const PathParams&, const Principal& who) {
  json j = req.body.empty() ? json::object() : ParseBody(req, {"revoke_keys"});
  size_t revoked = Take(auth.LogoutEverywhere(who, GetBool(j, "revoke_keys", false), req.peer));
  return Json(200, {{"user", who.user}, {"sessions_ended", true}, {"keys_revoked", revoked}});
}

HttpResponse CreateKey(Authenticator& auth, const HttpRequest& req, const PathParams&, const Principal& who) {
  json j = ParseBody(req, {"name", "scopes", "collections", "expires_in"});
  std::string name = GetString(j, "name", true);
  unsigned scopes = GetScopes(j, false);
  std::optional<std::vector<std::string>> collections;
  if (auto c = j.find("collections"); c != j.end() && !c->is_null()) {
    if (!c->is_array()) Bad("\"collections\" must be an array of collection names");
    collections.emplace();
    for (auto& x : *c) {
      if (!x.is_string()) Bad("\"collections\" must be an array of collection names");
      collections->push_back(x.get<std::string>());
    }
  }
  int64_t expires_in = GetInt(j, "expires_in", 0, 1, int64_t{100} * 365 * 86400);
  IssuedToken t = Take(auth.CreateKey(who, name, scopes, std::move(collections), expires_in, req.peer));
  json out = {{"key_id", t.key_id}, {"token", t.token}, {"name", name}, {"scopes", ScopeNames(scopes)}};
  out["expires_at"] = t.expires_at ? json(t.expires_at) : json(nullptr);
  return Json(201, out);
}

HttpResponse ListKeys(Authenticator& auth, const HttpRequest&, const PathParams&, const Principal& who) {
  return Json(200, {{"keys", Take(auth.ListKeys(who))}});
}

HttpResponse RevokeKey(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who) {
  Check(auth.RevokeKey(who, Param(p, "key_id"), req.peer));
  return Json(200, {{"key_id", Param(p, "key_id")}, {"revoked", true}});
}

HttpResponse CreateUser(Authenticator& auth, const HttpRequest& req, const PathParams&, const Principal& who) {
  json j = ParseBody(req, {"username", "password", "role", "grants"});
  std::string name = GetString(j, "username", true), password = GetString(j, "password", true);
  std::string role = GetString(j, "role", false);
  if (role.empty()) role = "user";
  if (role != "user" && role != "admin") Bad("\"role\" must be \"user\" or \"admin\"");
  Grants grants;
  if (auto g = j.find("grants"); g != j.end() && !g->is_null()) {
    if (g->size() > 1024) Bad("\"grants\" may name at most 1024 collections");
    grants = Take(GrantsFrom(*g));
  }
  Check(auth.CreateUser(who, name, password, role == "admin", req.peer, grants));
  json out = {{"username", name}, {"role", role}};
  if (!grants.empty()) out["grants"] = GrantsJson(grants);
  return Json(201, out);
}

HttpResponse ListUsers(Authenticator& auth, const HttpRequest&, const PathParams&, const Principal&) {
  return Json(200, {{"users", Take(auth.ListUsers())}});
}

HttpResponse DeleteUser(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who) {
  Check(auth.DeleteUser(who, Param(p, "name"), req.peer));
  return Json(200, {{"username", Param(p, "name")}, {"deleted", true}});
}

HttpResponse GetGrants(Authenticator& auth, const HttpRequest&, const PathParams& p, const Principal&) {
  return Json(200, {{"username", Param(p, "name")}, {"grants", Take(auth.UserGrants(Param(p, "name")))}});
}

HttpResponse SetGrant(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who) {
  json j = ParseBody(req, {"scopes"});
  unsigned scopes = GetScopes(j, true);
  Check(auth.SetGrant(who, Param(p, "name"), Param(p, "collection"), scopes, req.peer));
  return Json(200,
              {{"username", Param(p, "name")}, {"collection", Param(p, "collection")}, {"scopes", ScopeNames(scopes)}});
}

HttpResponse RevokeGrant(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who) {
  Check(auth.SetGrant(who, Param(p, "name"), Param(p, "collection"), 0, req.peer));
  return Json(200, {{"username", Param(p, "name")}, {"collection", Param(p, "collection")}, {"revoked", true}});
}

HttpResponse ReadAudit(Authenticator& auth, const HttpRequest& req, const PathParams&, const Principal&) {
  auto param = [&](const char* k) { return QueryValue(req.query, k, {"limit", "cursor", "since"}).value_or(""); };
  AuditQuery q;
  q.limit = static_cast<size_t>(QueryInt(param("limit"), "limit", 100, 1, 10000));
  q.cursor = static_cast<uint64_t>(QueryInt(param("cursor"), "cursor", 0, 1, INT64_MAX));
  q.since_s = QueryInt(param("since"), "since", 0, 0, INT64_MAX);
  q.max_bytes = 1 << 20;  // Bounds the answer whatever the limit.
  AuditPage page = Take(auth.Audit(q));
  return Json(200, {{"events", std::move(page.events)},
                    {"next_cursor", page.next_cursor ? json(std::to_string(page.next_cursor)) : json(nullptr)}});
}

HttpResponse ListSigningKeys(Authenticator& auth, const HttpRequest&, const PathParams&, const Principal&) {
  return Json(200, {{"signing_keys", Take(auth.ListSigningKeys())}});
}

HttpResponse RotateSigningKey(Authenticator& auth, const HttpRequest& req, const PathParams&, const Principal& who) {
  return Json(201, {{"kid", Take(auth.RotateSigningKey(who, req.peer))}});
}

HttpResponse RetireSigningKey(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who) {
  Check(auth.RetireSigningKey(who, Param(p, "kid"), req.peer));
  return Json(200, {{"kid", Param(p, "kid")}, {"retired", true}});
}

const std::vector<AuthRoute>& AuthRoutes() {
  static constexpr RouteAccess kOpen{Access::kPublic};
  static constexpr RouteAccess kLoginOnly{Access::kLogin};
  static constexpr RouteAccess kLoginAdminOnly{Access::kLoginAdmin};
  static const std::vector<AuthRoute> kRoutes = {
      {"POST", "/v1/auth/login", &Login, kOpen},
      {"POST", "/v1/auth/refresh", &Refresh, kLoginOnly},
      {"GET", "/v1/auth/me", &Me, kLoginOnly},
      {"POST", "/v1/auth/password", &ChangePassword, kLoginOnly},
      {"POST", "/v1/auth/logout-all", &LogoutEverywhere, kLoginOnly},
      {"GET", "/v1/auth/signing-keys", &ListSigningKeys, kLoginAdminOnly},
      {"POST", "/v1/auth/signing-keys", &RotateSigningKey, kLoginAdminOnly},
      {"DELETE", "/v1/auth/signing-keys/{kid}", &RetireSigningKey, kLoginAdminOnly},
      {"POST", "/v1/keys", &CreateKey, kLoginOnly},
      {"GET", "/v1/keys", &ListKeys, kLoginOnly},
      {"DELETE", "/v1/keys/{key_id}", &RevokeKey, kLoginOnly},
      {"POST", "/v1/users", &CreateUser, kLoginAdminOnly},
      {"GET", "/v1/users", &ListUsers, kLoginAdminOnly},
      {"DELETE", "/v1/users/{name}", &DeleteUser, kLoginAdminOnly},
      {"GET", "/v1/users/{name}/grants", &GetGrants, kLoginAdminOnly},
      {"PUT", "/v1/users/{name}/grants/{collection}", &SetGrant, kLoginAdminOnly},
      {"DELETE", "/v1/users/{name}/grants/{collection}", &RevokeGrant, kLoginAdminOnly},
      {"GET", "/v1/audit", &ReadAudit, kLoginAdminOnly},
  };
  return kRoutes;
}

HttpResponse RunAuthRoute(AuthFn fn, Authenticator& auth, const HttpRequest& req, const PathParams& params,
                          const Principal& who) {
  return Guarded([&] { return fn(auth, req, params, who); });
}

}  // namespace vectron::net::api
