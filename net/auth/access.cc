#include "net/auth/access.h"

#include <algorithm>

namespace vectron::net {

unsigned ScopeFromName(std::string_view name) {
  if (name == "read") return kScopeRead;
  if (name == "write") return kScopeWrite;
  if (name == "admin") return kScopeAdmin;
  if (name == "feedback") return kScopeFeedback;
  return 0;
}

std::vector<std::string> ScopeNames(unsigned scopes) {
  std::vector<std::string> out;
  if (scopes & kScopeRead) out.push_back("read");
  if (scopes & kScopeWrite) out.push_back("write");
  if (scopes & kScopeAdmin) out.push_back("admin");
  if (scopes & kScopeFeedback) out.push_back("feedback");
  return out;
}

const char* AccessName(Access a) {
  switch (a) {
    case Access::kPublic: return "public";
    case Access::kLogin: return "login";
    case Access::kLoginAdmin: return "login-admin";
    case Access::kRead: return "read";
    case Access::kWrite: return "write";
    case Access::kAdmin: return "admin";
    case Access::kFeedback: return "feedback";
  }
  return "?";
}

unsigned Principal::GrantedOn(std::string_view name) const {
  if (unrestricted || !grants) return kScopeRead | kScopeWrite | kScopeAdmin | kScopeFeedback;
  unsigned g = 0;
  if (auto it = grants->find(name); it != grants->end()) g |= it->second;
  if (auto it = grants->find(kEveryCollection); it != grants->end()) g |= it->second;
  if (g & kScopeWrite) g |= kScopeFeedback;
  return g;
}

bool Principal::MayUseCollection(std::string_view name) const {
  if (unrestricted) return true;
  if (collections && std::find(collections->begin(), collections->end(), name) == collections->end()) return false;
  return GrantedOn(name) != 0;
}

namespace {

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

}  // namespace

Status Authorize(const Principal& who, const RouteAccess& route, std::string_view collection) {
  if (route.access == Access::kPublic || who.unrestricted) return Status::OK();
  if (who.kind == TokenKind::kNone) return Status::Unauthenticated("this route needs a token");
  const std::string name(collection);
  switch (route.access) {
    case Access::kPublic:
      return Status::OK();
    case Access::kLogin:
    case Access::kLoginAdmin:
      if (who.kind != TokenKind::kLogin)
        return Status::PermissionDenied(
            "this route needs a login token (POST /v1/auth/login); SDK tokens cannot manage users or keys");
      if (route.access == Access::kLoginAdmin && !who.user_admin)
        return Status::PermissionDenied("this route needs an admin user; " + who.user + " is not one");
      return Status::OK();
    case Access::kRead:
    case Access::kWrite:
    case Access::kAdmin:
    case Access::kFeedback: {
      if (who.kind == TokenKind::kLogin) {
        if (!route.console)
          return Status::PermissionDenied(
              "login tokens are for the console and account management; use an SDK token (POST /v1/keys) for the "
              "data API");
        if (!collection.empty() && !who.MayUseCollection(collection))
          return Status::PermissionDenied("user " + who.user + " has no grant on collection \"" + name + "\"");
        // Names and sizes of every collection: not for a user limited by grants.
        if (route.all_collections && who.grants)
          return Status::PermissionDenied("this route spans every collection; " + who.user + " is not an admin user");
        return Status::OK();
      }
      const unsigned need = route.access == Access::kRead       ? kScopeRead
                            : route.access == Access::kWrite    ? kScopeWrite
                            : route.access == Access::kFeedback ? kScopeFeedback | kScopeWrite
                                                                : kScopeAdmin;
      const std::string needed = route.access == Access::kFeedback ? "\"feedback\" (or \"write\")"
                                                                   : "\"" + std::string(AccessName(route.access)) + "\"";
      if (!(who.scopes & need))
        return Status::PermissionDenied("API key " + who.key_id + " lacks the " + needed +
                                        " scope (it has: " + Joined(ScopeNames(who.scopes)) + ")");
      if (route.all_collections && who.collections)
        return Status::PermissionDenied("API key " + who.key_id +
                                        " is restricted to some collections; this route spans every collection");
      if (collection.empty()) return Status::OK();
      if (who.collections &&
          std::find(who.collections->begin(), who.collections->end(), collection) == who.collections->end())
        return Status::PermissionDenied("API key " + who.key_id + " may not access collection \"" + name + "\"");
      // The key's owner must still hold a grant for it: revoking a grant narrows every key.
      if (!(who.GrantedOn(collection) & need))
        return Status::PermissionDenied("user " + who.user + " has no " + needed + " grant on collection \"" + name +
                                        "\" (an admin grants it: PUT /v1/users/" + who.user + "/grants/" + name + ")");
      return Status::OK();
    }
  }
  return Status::PermissionDenied("unknown access rule");
}

}  // namespace vectron::net
