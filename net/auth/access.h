// The access rules of `vectron serve`: who a request comes from (Principal), what a
// route asks of it (RouteAccess), scopes, per-collection grants, and the one check
// every REST route and RPC request goes through (Authorize). Pure logic; see
// docs/auth.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/status.h"

namespace vectron::net {

// API key scopes (bit flags). A route needs one of them; they do not imply each other,
// except that rating points (Access::kFeedback) takes feedback or write: a "feedback"
// key is one an end-user application may hold to rate results, and nothing else.
enum Scope : unsigned { kScopeRead = 1, kScopeWrite = 2, kScopeAdmin = 4, kScopeFeedback = 8 };
// "read", "write", "admin", "feedback"; 0 for an unknown name.
unsigned ScopeFromName(std::string_view name);
// The names of the bits set in `scopes`, in the order read, write, admin, feedback.
std::vector<std::string> ScopeNames(unsigned scopes);

// What a route asks of the caller's token. Stored in the route table.
enum class Access : uint8_t {
  kPublic,      // No token (/healthz, /readyz, /openapi.json, login).
  kLogin,       // A login token (account and key management).
  kLoginAdmin,  // A login token of an admin user (users, grants, audit, signing keys).
  kRead,        // An SDK token with the read scope (and the collection allowed).
  kWrite,       // ... the write scope.
  kAdmin,       // ... the admin scope.
  kFeedback,    // ... the feedback or the write scope (rating points).
};
// "public", "login", "login-admin", "read", "write", "admin" or "feedback".
const char* AccessName(Access a);

struct RouteAccess {
  Access access = Access::kPublic;
  // Login tokens may call it too (the console's views: list and inspect collections).
  bool console = false;
  // Keys restricted to some collections may not call it (it spans every collection).
  bool all_collections = false;
};

enum class TokenKind { kNone, kLogin, kSdk };

// A non-admin user's rights on collections: collection name, or "*" for every
// collection, to scopes (kScopeRead and/or kScopeWrite; write covers feedback). Admin
// users need none.
using Grants = std::map<std::string, unsigned, std::less<>>;
inline constexpr std::string_view kEveryCollection = "*";

// Who a request comes from, once its token checked out.
struct Principal {
  TokenKind kind = TokenKind::kNone;
  bool unrestricted = false;  // Auth is off: everything is allowed.
  std::string user;
  std::string user_id;  // The user record's id (a re-created name gets a new one).
  bool user_admin = false;
  std::string key_id;   // SDK tokens.
  unsigned scopes = 0;  // SDK tokens: the key's scopes, within what its owner may have.
  std::optional<std::vector<std::string>> collections;  // SDK tokens: the allow-list, if any.
  // The user's grants as of this request; nullopt for admin users (every collection).
  std::optional<Grants> grants;
  int64_t auth_time = 0;       // Login tokens: when the password was checked.
  uint64_t session_epoch = 0;  // Login tokens: the user's session epoch they carry.

  // The scopes the user was granted on collection `name` (its own grant and the "*"
  // one; kScopeFeedback with kScopeWrite); every scope for admin users and with auth off.
  unsigned GrantedOn(std::string_view name) const;
  // True if this principal may see collection `name` at all: the key's allow-list holds
  // it and (non-admin users) the user has some grant on it.
  bool MayUseCollection(std::string_view name) const;
};

// Checks `who` against a route's access. `collection` is the collection the request
// names ("" if none). Errors: Unauthenticated (no token), PermissionDenied (the message
// says which rule refused). Pure and thread-safe.
Status Authorize(const Principal& who, const RouteAccess& route, std::string_view collection);

}  // namespace vectron::net
