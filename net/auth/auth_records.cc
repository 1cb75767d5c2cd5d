#include "net/auth/auth_records.h"

namespace vectron::net {

using nlohmann::json;

json GrantsJson(const Grants& g) {
  json out = json::object();
  for (auto& [c, s] : g) out[c] = ScopeNames(s);
  return out;
}

Result<Grants> GrantsFrom(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("grants must be an object {collection: [\"read\", \"write\"]}");
  Grants g;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!ValidGrantTarget(it.key()))
      return Status::InvalidArgument("grants name a bad collection (1-64 of [A-Za-z0-9_-], or \"*\")");
    if (!it->is_array()) return Status::InvalidArgument("the grant on \"" + it.key() + "\" must be a list of scopes");
    unsigned s = 0;
    for (auto& x : *it) {
      unsigned bit = x.is_string() ? ScopeFromName(x.get<std::string>()) : 0;
      if (bit != kScopeRead && bit != kScopeWrite)
        return Status::InvalidArgument("grants may hold only \"read\" and \"write\" (the grant on \"" + it.key() +
                                       "\")");
      s |= bit;
    }
    if (s) g[it.key()] = s;
  }
  return g;
}

json UserJson(const UserRec& u) {
  return {{"id", u.id},           {"name", u.name},   {"hash", u.hash},
          {"role", u.admin ? "admin" : "user"}, {"created_at", u.created_at}, {"epoch", u.epoch},
          {"grants", GrantsJson(u.grants)}};
}

UserRec UserFrom(const json& j) {
  UserRec u;
  u.id = j.at("id").get<std::string>();
  u.name = j.at("name").get<std::string>();
  u.hash = j.at("hash").get<std::string>();
  u.admin = j.at("role") == "admin";
  u.created_at = j.at("created_at").get<int64_t>();
  u.epoch = j.at("epoch").get<uint64_t>();
  auto g = GrantsFrom(j.at("grants"));
  if (!g.ok()) throw json::other_error::create(501, "user " + u.name + ": " + g.status().message(), &j);
  u.grants = std::move(*g);
  return u;
}

json KeyJson(const KeyRec& k) {
  json j = {{"id", k.id},
            {"owner", k.owner},
            {"owner_id", k.owner_id},
            {"name", k.name},
            {"scopes", ScopeNames(k.scopes)},
            {"created_at", k.created_at},
            {"expires_at", k.expires_at},
            {"revoked", k.revoked},
            {"revoked_at", k.revoked_at}};
  j["collections"] = k.collections ? json(*k.collections) : json(nullptr);
  return j;
}

KeyRec KeyFrom(const json& j) {
  KeyRec k;
  k.id = j.at("id").get<std::string>();
  k.owner = j.at("owner").get<std::string>();
  k.owner_id = j.at("owner_id").get<std::string>();
  k.name = j.at("name").get<std::string>();
  for (auto& s : j.at("scopes")) k.scopes |= ScopeFromName(s.get<std::string>());
  if (!j.at("collections").is_null()) k.collections = j.at("collections").get<std::vector<std::string>>();
  k.created_at = j.at("created_at").get<int64_t>();
  k.expires_at = j.at("expires_at").get<int64_t>();
  k.revoked = j.at("revoked").get<bool>();
  k.revoked_at = j.value("revoked_at", int64_t{0});
  return k;
}

bool ValidUserName(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.' || c == '@';
    if (!ok) return false;
  }
  return true;
}

bool ValidGrantTarget(std::string_view c) {
  if (c == kEveryCollection) return true;
  if (c.empty() || c.size() > 64) return false;
  for (char ch : c) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

json UpgradeUserV1(const json& v1, const std::string& id) {
  json u = v1;
  u["id"] = id;
  u["epoch"] = 1;
  u["grants"] = json::object();
  if (u.at("role") != "admin") u["grants"][std::string(kEveryCollection)] = {"read", "write"};
  return u;
}

json UpgradeKeyV1(const json& v1, const std::string& owner_id) {
  json k = v1;
  k["owner_id"] = owner_id;
  return k;
}

}  // namespace vectron::net
