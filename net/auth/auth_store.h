// AuthStore: where the Authenticator keeps its records (docs/cluster.md, "Auth state").
// `vectron serve` keeps them in its own LMDB environment (LmdbAuthStore, DATA/auth/); a
// cluster gateway keeps them in the placement driver's replicated state (an adapter over
// the gateway's Router, net/daemon/cluster_auth_store.h), so that every gateway sees the
// same users, keys and signing keys and a revocation holds cluster-wide.
//
// Records: "user/<name>", "key/<id>", "signing/<kid>" (the JSON of auth_records.h and
// the signing key JSON) and "meta/current_kid" (the kid that signs).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vectron/status.h"

namespace vectron::net {

class AuditLog;

// One change to a record: put `value` at `key`, or delete `key` if !value.
struct AuthChange {
  std::string key;
  std::optional<std::string> value;
  bool operator==(const AuthChange&) const = default;
};

// Implementations are thread-safe.
class AuthStore {
 public:
  struct Snapshot {
    uint64_t version = 0;
    std::map<std::string, std::string> records;
  };
  virtual ~AuthStore() = default;
  // Every record and their version. Errors: those of the store (Unavailable while a
  // cluster store has not loaded the records yet).
  virtual Result<Snapshot> Load() = 0;
  // Applies all of `changes` or none, if the records are still at `if_version` (0:
  // unconditionally), and answers the new version. Errors: Aborted (changed meanwhile:
  // Load and decide again), InvalidArgument (a key outside the four kinds), those of the
  // store.
  virtual Result<uint64_t> Commit(uint64_t if_version, std::vector<AuthChange> changes) = 0;
  // The version Load would answer now, cheaply (the Authenticator reloads when it moved).
  virtual uint64_t version() = 0;
};

// The local store: an LMDB environment with the tables users, keys, signing_keys and
// meta (docs/formats/auth.md); the version is the environment's last transaction id, so
// a change made by another process (vectron users ...) is seen too.
class LmdbAuthStore final : public AuthStore {
 public:
  // Opens or creates the environment in `dir`, upgrading a format-1 store (its audit
  // table moves to `audit`; `*migrated` says so). Errors: those of LMDB, Corruption,
  // FailedPrecondition (an unknown format version).
  static Result<std::unique_ptr<LmdbAuthStore>> Open(const std::string& dir, uint64_t map_size_bytes, AuditLog& audit,
                                                     uint64_t audit_max_bytes, bool* migrated);
  ~LmdbAuthStore() override;

  Result<Snapshot> Load() override;
  Result<uint64_t> Commit(uint64_t if_version, std::vector<AuthChange> changes) override;
  uint64_t version() override;

  struct Impl;

 private:
  explicit LmdbAuthStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vectron::net
