// Authentication and authorisation of `vectron serve`: users (scrypt password hashes),
// API keys, JWT signing keys and the audit log, stored in their own LMDB environment
// (DATA/auth/); login and SDK tokens; the access check every route goes through; login
// rate limiting. See docs/auth.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "net/auth/jwt.h"
#include "net/auth/rate_limiter.h"
#include "vectron/status.h"

namespace vectron::net {

// API key scopes (bit flags). A route needs one of them; they do not imply each other.
enum Scope : unsigned { kScopeRead = 1, kScopeWrite = 2, kScopeAdmin = 4 };
// "read", "write", "admin"; 0 for an unknown name.
unsigned ScopeFromName(std::string_view name);
std::vector<std::string> ScopeNames(unsigned scopes);

// What a route asks of the caller's token. Stored in the route table.
enum class Access : uint8_t {
  kPublic,      // No token (/healthz, /readyz, /openapi.json, login).
  kLogin,       // A login token (account and key management).
  kLoginAdmin,  // A login token of an admin user (users, audit, signing keys).
  kRead,        // An SDK token with the read scope (and the collection allowed).
  kWrite,       // ... the write scope.
  kAdmin,       // ... the admin scope.
};
const char* AccessName(Access a);

struct RouteAccess {
  Access access = Access::kPublic;
  // Login tokens may call it too (the console's views: list and inspect collections).
  bool console = false;
  // Keys restricted to some collections may not call it (it spans every collection).
  bool all_collections = false;
};

enum class TokenKind { kNone, kLogin, kSdk };

// Who a request comes from, once its token checked out.
struct Principal {
  TokenKind kind = TokenKind::kNone;
  bool unrestricted = false;  // Auth is off: everything is allowed.
  std::string user;
  bool user_admin = false;
  std::string key_id;  // SDK tokens.
  unsigned scopes = 0;  // SDK tokens.
  std::optional<std::vector<std::string>> collections;  // SDK tokens: the allow-list, if any.
  int64_t auth_time = 0;  // Login tokens: when the password was checked.

  // True if this principal may touch collection `name` (allow-list).
  bool MayUseCollection(std::string_view name) const;
};

// Why a request is refused: an HTTP status (401, 403, 429, ...) and a message that
// says what is wrong. ok() when nothing is.
struct AuthFailure {
  int http_status = 0;
  std::string code;
  std::string message;
  int64_t retry_after_s = 0;  // 429: seconds to wait.
  bool ok() const { return http_status == 0; }
  static AuthFailure Unauthenticated(std::string message) { return {401, "unauthenticated", std::move(message), 0}; }
  static AuthFailure Denied(std::string message) { return {403, "permission_denied", std::move(message), 0}; }
};

// Checks `who` against a route's access. `collection` is the collection the request
// names ("" if none). Pure and thread-safe.
AuthFailure Authorize(const Principal& who, const RouteAccess& route, std::string_view collection);

struct ScryptParams {
  int log2_n = 15;  // N = 32768: 32 MiB and ~0.1 s per hash.
  int r = 8;
  int p = 1;
};

struct AuthOptions {
  std::string dir;                    // LMDB environment directory (created if missing).
  std::string issuer = "vectron";     // "iss" of every token; verified.
  std::string audience = "vectron";   // "aud" of every token; verified.
  JwtAlg alg = JwtAlg::kEdDSA;        // For signing keys generated from now on.
  int64_t login_ttl_s = 900;          // Login tokens expire after this (refresh before).
  int64_t session_max_s = 12 * 3600;  // Refresh stops this long after the password login.
  int64_t leeway_s = 30;              // Clock skew allowed on exp/nbf/iat.
  ScryptParams scrypt;
  RateLimit user_limit{5, 1.0 / 60};  // Failed logins per user name.
  RateLimit peer_limit{20, 1.0 / 3};  // Login attempts per peer address.
  std::string admin_user = "admin";   // Created on first start.
  std::string admin_password;         // Its password; empty: generate one.
  // Open() creates the admin (if there is no user). Off: the caller calls EnsureAdmin()
  // itself, e.g. once nothing else can fail, so a generated password is never lost.
  bool create_admin_on_open = true;
  // Unix time in seconds (injectable for tests).
  std::function<int64_t()> now_s;

  Status Validate() const;
};

struct IssuedToken {
  std::string token;
  int64_t expires_at = 0;  // Unix seconds.
  std::string key_id;      // SDK tokens.
};

// Thread-safe. Every request calls Authenticate (a JWT check plus a look-up of the user
// or API key in an in-memory copy of the store, reloaded whenever the LMDB environment
// changed, so a revocation takes effect on the next request).
class Authenticator {
 public:
  // Opens or creates the store. On first start it creates a signing key and (see
  // create_admin_on_open) the admin user; `*bootstrap_note` then says so (with the password if one was generated, the
  // only time it is shown). Errors: those of LMDB, InvalidArgument (options).
  static Result<std::unique_ptr<Authenticator>> Open(const AuthOptions& options, std::string* bootstrap_note);
  ~Authenticator();

  // If the store has no user, creates `admin_user` (an admin) with `admin_password`, or a
  // generated one, and says so in `*note` (with the generated password: its only showing).
  Status EnsureAdmin(std::string* note);

  // `authorization` is the Authorization header's value ("Bearer <jwt>").
  AuthFailure Authenticate(std::string_view authorization, Principal* out);
  // The same for a bare token (RPC). Tokens verified once are remembered (up to 4096),
  // so a repeated token costs a map look-up; expiry, the signing key and the key or
  // user record are still checked every time.
  AuthFailure AuthenticateToken(std::string_view token, Principal* out);

  // Checks the password (rate limited per user and per peer address) and issues a
  // login token. `peer` is the client address (audit, limits).
  AuthFailure Login(const std::string& user, const std::string& password, const std::string& peer,
                    IssuedToken* out);
  // A new login token for a login principal, until session_max_s after its login.
  AuthFailure Refresh(const Principal& who, const std::string& peer, IssuedToken* out);

  // API keys. CreateKey returns the SDK token (shown once). `expires_in_s` 0: never.
  // Errors: InvalidArgument (name, scopes, collections), plus store errors.
  Result<IssuedToken> CreateKey(const Principal& owner, const std::string& name, unsigned scopes,
                                std::optional<std::vector<std::string>> collections, int64_t expires_in_s,
                                const std::string& peer);
  // The keys `who` may see (an admin sees all), without secrets.
  Result<nlohmann::json> ListKeys(const Principal& who);
  // Revokes at once. NotFound if missing or not `who`'s (unless admin).
  Status RevokeKey(const Principal& who, const std::string& key_id, const std::string& peer);

  // Users (callers check that `who` is an admin). Errors: InvalidArgument (name,
  // password, role), AlreadyExists, NotFound, FailedPrecondition (the last admin).
  Status CreateUser(const Principal& who, const std::string& name, const std::string& password, bool admin,
                    const std::string& peer);
  Result<nlohmann::json> ListUsers();
  // Deletes the user and revokes every key it owns.
  Status DeleteUser(const Principal& who, const std::string& name, const std::string& peer);
  // Changes `who`'s password (checking the old one).
  AuthFailure ChangePassword(const Principal& who, const std::string& old_password, const std::string& new_password,
                             const std::string& peer);

  // Signing keys: a new key signs from now on, old ones still verify until retired.
  Result<std::string> RotateSigningKey(const Principal& who, const std::string& peer);
  Status RetireSigningKey(const Principal& who, const std::string& kid, const std::string& peer);
  Result<nlohmann::json> ListSigningKeys();

  // The newest `limit` audit events, newest first.
  Result<nlohmann::json> Audit(size_t limit);
  // Records an event: {"seq", "ts", "event", "user", "peer", "detail"}.
  void Record(const std::string& event, const std::string& user, const std::string& peer,
              const nlohmann::json& detail = nlohmann::json::object());

  struct Impl;

 private:
  explicit Authenticator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "scrypt$<log2 N>$<r>$<p>$<salt>$<hash>" (base64url) of `password`.
Result<std::string> HashPassword(const std::string& password, const ScryptParams& params);
// True iff `password` matches `hash` (constant-time comparison). False for a malformed hash.
bool CheckPassword(const std::string& password, const std::string& hash);

}  // namespace vectron::net
