// Authentication of `vectron serve`: users (scrypt password hashes, session epochs,
// per-collection grants), API keys and JWT signing keys, stored in their own LMDB
// environment (DATA/auth/); login and SDK tokens; login rate limiting; the audit log
// (DATA/audit/, audit_log.h). The access rules are in access.h. See docs/auth.md.
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

#include "net/auth/access.h"
#include "net/auth/audit_log.h"
#include "net/auth/auth_store.h"
#include "net/auth/jwt.h"
#include "net/auth/rate_limiter.h"
#include "vectron/status.h"

namespace vectron::net {

struct ScryptParams {
  int log2_n = 15;  // N = 32768: 32 MiB and ~0.1 s per hash.
  int r = 8;
  int p = 1;
};

struct AuthOptions {
  // LMDB environment directory (created if missing) of the local store; unused with a
  // store given to Open.
  std::string dir;
  // The auth store's LMDB map (it holds only users, keys and signing keys; an older
  // store that is larger opens with its size plus room to migrate).
  uint64_t map_size_bytes = uint64_t{1} << 30;
  // The audit log's directory; empty: "audit" next to `dir` (DATA/audit/). Required
  // with a store given to Open.
  std::string audit_dir;
  uint64_t audit_max_bytes = uint64_t{64} << 20;  // See AuditOptions.
  int64_t audit_max_age_s = int64_t{90} * 86400;  // See AuditOptions.
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
// or API key in an in-memory copy of the store, reloaded whenever the store's version
// moved, so a revocation takes effect on the next request). Every change is a
// compare-and-set on the store's version (auth_store.h), retried when another writer
// came first. With a store that blocks on Commit (a gateway's), call the changing methods
// off the event loop. Errors are Status codes:
// Unauthenticated (401), PermissionDenied (403), RateLimited (429, with retry_after_s),
// InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, and those of LMDB.
class Authenticator {
 public:
  // Opens or creates the store and the audit log, upgrading a format-1 store (its audit
  // table moves to the audit log). On first start it creates a signing key and (see
  // create_admin_on_open) the admin user; `*bootstrap_note` then says so (with the
  // password if one was generated, the only time it is shown). Errors: those of LMDB,
  // InvalidArgument (options), FailedPrecondition (an unknown format version).
  static Result<std::unique_ptr<Authenticator>> Open(const AuthOptions& options, std::string* bootstrap_note);
  // The same over `store` (a cluster gateway's: the records live in the placement
  // driver), with the audit log in options.audit_dir. The signing key and the admin are
  // created only if the store has none (compare-and-set: of several gateways starting at
  // once, one creates them). Errors: those of the store and the audit log.
  static Result<std::unique_ptr<Authenticator>> Open(const AuthOptions& options, std::unique_ptr<AuthStore> store,
                                                     std::string* bootstrap_note);
  ~Authenticator();

  // If the store has no user, creates `admin_user` (an admin) with `admin_password`, or a
  // generated one, and says so in `*note` (with the generated password: its only showing).
  Status EnsureAdmin(std::string* note);

  // `authorization` is the Authorization header's value ("Bearer <jwt>"). Fills `*out`
  // on success; Unauthenticated otherwise.
  Status Authenticate(std::string_view authorization, Principal* out);
  // The same for a bare token (RPC). Tokens verified once are remembered (up to 4096),
  // so a repeated token costs a map look-up; expiry, the signing key and the key or
  // user record (its id and session epoch) are still checked every time.
  Status AuthenticateToken(std::string_view token, Principal* out);

  // Checks the user name's form (InvalidArgument, before anything else), the rate limits
  // per user and per peer address (RateLimited, not audited), then the password
  // (Unauthenticated), and issues a login token. `peer` is the client address.
  Result<IssuedToken> Login(const std::string& user, const std::string& password, const std::string& peer);
  // A new login token for a login principal, until session_max_s after its login.
  Result<IssuedToken> Refresh(const Principal& who, const std::string& peer);

  // API keys. CreateKey returns the SDK token (shown once). `expires_in_s` 0: never.
  // A non-admin user's key may hold only read and write, and each collection of its
  // allow-list must be granted to the user with every scope of the key
  // (PermissionDenied). Errors: InvalidArgument (name, scopes, collections).
  Result<IssuedToken> CreateKey(const Principal& owner, const std::string& name, unsigned scopes,
                                std::optional<std::vector<std::string>> collections, int64_t expires_in_s,
                                const std::string& peer);
  // The keys `who` may see (an admin sees all), without secrets.
  Result<nlohmann::json> ListKeys(const Principal& who);
  // Revokes at once. NotFound if missing or not `who`'s (unless admin).
  Status RevokeKey(const Principal& who, const std::string& key_id, const std::string& peer);

  // Users (callers check that `who` is an admin). `grants` only for non-admin users.
  // Errors: InvalidArgument (name, password, role, grants), AlreadyExists, NotFound,
  // FailedPrecondition (the last admin).
  Status CreateUser(const Principal& who, const std::string& name, const std::string& password, bool admin,
                    const std::string& peer, const Grants& grants = {});
  // [{"name", "role", "created_at", "grants"}], by name.
  Result<nlohmann::json> ListUsers();
  // Deletes the user (its id with it: its login tokens never work again, even once the
  // name is re-created) and revokes every key it owns.
  Status DeleteUser(const Principal& who, const std::string& name, const std::string& peer);
  // Changes `who`'s password (checking the old one: PermissionDenied, rate limited like
  // logins) and ends every session of the user (raises its session epoch). Returns a
  // new login token for the caller. The user's API keys stay valid (docs/auth.md).
  Result<IssuedToken> ChangePassword(const Principal& who, const std::string& old_password,
                                     const std::string& new_password, const std::string& peer);
  // Ends every login session of `who`'s user, this one included (raises its session
  // epoch); with `revoke_keys` also revokes all its API keys. Returns how many.
  Result<size_t> LogoutEverywhere(const Principal& who, bool revoke_keys, const std::string& peer);

  // Per-collection grants of a non-admin user (callers check that `who` is an admin).
  // SetGrant replaces the user's grant on `collection` (a name or "*") with `scopes`
  // (read and/or write; 0 removes it). Applies on the next request of every key the
  // user owns. Errors: NotFound (user), InvalidArgument (collection, scopes),
  // FailedPrecondition (an admin user: admins need no grants).
  Status SetGrant(const Principal& who, const std::string& user, const std::string& collection, unsigned scopes,
                  const std::string& peer);
  // The user's grants: {"docs": ["read"], ...}. NotFound if no such user.
  Result<nlohmann::json> UserGrants(const std::string& user);

  // Signing keys: a new key signs from now on, old ones still verify until retired.
  Result<std::string> RotateSigningKey(const Principal& who, const std::string& peer);
  Status RetireSigningKey(const Principal& who, const std::string& kid, const std::string& peer);
  Result<nlohmann::json> ListSigningKeys();

  // One page of audit events, newest first.
  Result<AuditPage> Audit(const AuditQuery& query);
  // Records an event: {"seq", "ts", "event", "user", "peer", "detail"} (bounded). A
  // failure is reported on stderr: it never undoes or blocks the change it records.
  void Record(const std::string& event, const std::string& user, const std::string& peer,
              const nlohmann::json& detail = nlohmann::json::object());

  struct Impl;

 private:
  explicit Authenticator(std::unique_ptr<Impl> impl);
  static Result<std::unique_ptr<Authenticator>> Open(const AuthOptions& options, std::unique_ptr<AuthStore> store,
                                                     std::unique_ptr<AuditLog> audit, std::string* bootstrap_note);
  std::unique_ptr<Impl> impl_;
};

// Copies the auth store `auth_dir` and the audit log `audit_dir` into `dest_auth` and
// `dest_audit` (new directories, mode 0700), each a consistent snapshot, also while a
// server writes them. A source that does not exist is skipped.
// REQUIRES: this process has neither environment open.
Status CopyAuthStores(const std::string& auth_dir, const std::string& audit_dir, const std::string& dest_auth,
                      const std::string& dest_audit);

// The first line of `path` without trailing CR and spaces: an admin password file
// (--admin-password-file). Errors: InvalidArgument naming the file.
Result<std::string> ReadPasswordFile(const std::string& path);

// "scrypt$<log2 N>$<r>$<p>$<salt>$<hash>" (base64url) of `password`.
Result<std::string> HashPassword(const std::string& password, const ScryptParams& params);
// True iff `password` matches `hash` (constant-time comparison). False for a malformed hash.
bool CheckPassword(const std::string& password, const std::string& hash);

}  // namespace vectron::net
