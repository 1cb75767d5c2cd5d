// The records of the auth store (DATA/auth/, docs/formats/auth.md): users and API keys
// as JSON, their validation, and the upgrade of format-1 records. Internal to net/auth.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/auth/access.h"

namespace vectron::net {

inline constexpr std::string_view kAuthFormatVersion = "2";

struct UserRec {
  std::string id;  // "u_" + 16 base64url characters; a re-created name gets a new one.
  std::string name, hash;
  bool admin = false;
  int64_t created_at = 0;
  // Session epoch: login tokens carry the one they were issued under and are refused
  // once it was raised (a password change, "log out everywhere").
  uint64_t epoch = 1;
  Grants grants;  // Non-admin users: what they (and their keys) may use.
};

struct KeyRec {
  std::string id, owner, owner_id, name;
  unsigned scopes = 0;
  std::optional<std::vector<std::string>> collections;
  int64_t created_at = 0, expires_at = 0;  // 0: never.
  bool revoked = false;
  int64_t revoked_at = 0;
};

// Throw nlohmann::json::exception on a record that does not have the format-2 shape.
nlohmann::json UserJson(const UserRec& u);
UserRec UserFrom(const nlohmann::json& j);
nlohmann::json KeyJson(const KeyRec& k);
KeyRec KeyFrom(const nlohmann::json& j);

// {"docs": ["read"], "*": ["read", "write"]}.
nlohmann::json GrantsJson(const Grants& g);
// Errors: InvalidArgument naming the bad collection or scope.
Result<Grants> GrantsFrom(const nlohmann::json& j);

// 1-64 of [A-Za-z0-9_.@-].
bool ValidUserName(std::string_view n);
// A collection name (1-64 of [A-Za-z0-9_-]) or "*".
bool ValidGrantTarget(std::string_view c);

// Format 1 → 2. A user gets `id`, epoch 1 and, if not an admin, the grant "*": read and
// write (format 1 let every user make read/write keys for every collection). A key gets
// its owner's id (`user_ids`: name → id; empty for an owner that no longer exists).
nlohmann::json UpgradeUserV1(const nlohmann::json& v1, const std::string& id);
nlohmann::json UpgradeKeyV1(const nlohmann::json& v1, const std::string& owner_id);

}  // namespace vectron::net
