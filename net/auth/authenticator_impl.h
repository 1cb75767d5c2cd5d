// Authenticator's state, shared by authenticator.cc (store, tokens, keys) and
// auth_users.cc (users, passwords, sessions, grants). Internal to net/auth.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>

#include "net/auth/auth_records.h"
#include "net/auth/authenticator.h"
#include "storage/lmdb.h"

namespace vectron::net {

// The store as of one LMDB transaction.
struct AuthSnapshot {
  uint64_t txn_id = 0;
  std::map<std::string, UserRec, std::less<>> users;  // By name.
  std::map<std::string, KeyRec, std::less<>> keys;    // By id.
  JwtKeySet keyset;
  std::map<std::string, int64_t> key_created;  // kid → created_at
  std::string current_kid;
};

// What a verified token said, kept so that the same token is not parsed and its
// signature not checked again on every request.
struct VerifiedToken {
  std::string kind, sub, key_id, kid, uid;
  uint64_t epoch = 0;
  int64_t exp = 0, auth_time = 0;
};

struct Authenticator::Impl {
  AuthOptions options;
  std::optional<storage::LmdbEnv> env;
  storage::Dbi users, keys, signing, meta;
  std::unique_ptr<AuditLog> audit;
  std::shared_mutex mu;
  std::shared_ptr<const AuthSnapshot> snap;  // Guarded by mu.
  RateLimiter user_rl, peer_rl;
  std::string dummy_hash;  // Checked for unknown users, so timing does not tell them apart.
  std::mutex cache_mu;
  std::map<std::string, VerifiedToken, std::less<>> verified;  // Guarded by cache_mu.

  explicit Impl(const AuthOptions& o) : options(o), user_rl(o.user_limit), peer_rl(o.peer_limit) {}

  int64_t Now() const;
  // The store as of the last commit (of any process), reloaded when it changed.
  std::shared_ptr<const AuthSnapshot> Current();
  Result<std::shared_ptr<const AuthSnapshot>> Load();
  // Appends to the audit log; a failure is reported on stderr only.
  void Record(const std::string& event, const std::string& user, const std::string& peer,
              const nlohmann::json& detail);
  // A signed token with the standard claims added.
  Result<IssuedToken> Issue(const AuthSnapshot& s, nlohmann::json claims, int64_t exp);
  // A login token for `u` under its current session epoch.
  Result<IssuedToken> IssueLogin(const AuthSnapshot& s, const UserRec& u, int64_t auth_time);
  // Reads user `name` in a write transaction, lets `change` modify it (or refuse), and
  // writes it back. NotFound if missing; Unauthenticated if `id` is given and the record
  // has another (the name was re-created). Returns the written record.
  Result<UserRec> UpdateUser(const std::string& name, const std::string& id,
                             const std::function<Status(storage::WriteTxn&, UserRec&)>& change);
};

// "prefix" + base64url of `bytes` random bytes.
Result<std::string> RandomId(const char* prefix, size_t bytes);

}  // namespace vectron::net
