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
#include "net/auth/auth_store.h"
#include "net/auth/authenticator.h"

namespace vectron::net {

// The records as of one version of the store, parsed.
struct AuthSnapshot {
  uint64_t version = 0;
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
  std::unique_ptr<AuthStore> store;
  std::unique_ptr<AuditLog> audit;
  std::shared_mutex mu;
  std::shared_ptr<const AuthSnapshot> snap;  // Guarded by mu.
  RateLimiter user_rl, peer_rl;
  std::string dummy_hash;  // Checked for unknown users, so timing does not tell them apart.
  std::mutex cache_mu;
  std::map<std::string, VerifiedToken, std::less<>> verified;  // Guarded by cache_mu.

  explicit Impl(const AuthOptions& o) : options(o), user_rl(o.user_limit), peer_rl(o.peer_limit) {}

  int64_t Now() const;
  // The records as of the last commit (of any process or gateway), reloaded when the
  // store's version moved.
  std::shared_ptr<const AuthSnapshot> Current();
  Result<std::shared_ptr<const AuthSnapshot>> Load();
  // Lets `decide` turn the freshest records into changes (or refuse), and commits them
  // if no other writer (thread, process, gateway) changed the records in between; else
  // decides again. So a check-then-write ("not the last admin") is atomic.
  using Decide = std::function<Status(const AuthSnapshot&, std::vector<AuthChange>*)>;
  Status Mutate(const Decide& decide);
  // Appends to the audit log; a failure is reported on stderr only.
  void Record(const std::string& event, const std::string& user, const std::string& peer,
              const nlohmann::json& detail);
  // A signed token with the standard claims added.
  Result<IssuedToken> Issue(const AuthSnapshot& s, nlohmann::json claims, int64_t exp);
  // A login token for `u` under its current session epoch.
  Result<IssuedToken> IssueLogin(const AuthSnapshot& s, const UserRec& u, int64_t auth_time);
  // Reads user `name` from the freshest records, lets `change` modify it (or refuse;
  // it may add changes of its own), and writes it back (Mutate). NotFound if missing;
  // Unauthenticated if `id` is given and the record has another (the name was
  // re-created). Returns the written record.
  using UserChange = std::function<Status(const AuthSnapshot&, UserRec&, std::vector<AuthChange>*)>;
  Result<UserRec> UpdateUser(const std::string& name, const std::string& id, const UserChange& change);
};

// "prefix" + base64url of `bytes` random bytes.
Result<std::string> RandomId(const char* prefix, size_t bytes);

// The changes that write a record (auth_store.h names them).
AuthChange PutUser(const UserRec& u);
AuthChange PutKey(const KeyRec& k);

}  // namespace vectron::net
