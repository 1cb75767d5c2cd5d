// Authenticator: users, passwords, sessions and per-collection grants.
#include <cmath>

#include "net/auth/authenticator_impl.h"

namespace vectron::net {

using nlohmann::json;

namespace {

Status CheckNewPassword(const std::string& password, const char* what) {
  if (password.size() < 8 || password.size() > 1024)
    return Status::InvalidArgument(std::string(what) + " must have 8-1024 characters");
  return Status::OK();
}

Status CheckGrant(const std::string& collection, unsigned scopes) {
  if (!ValidGrantTarget(collection))
    return Status::InvalidArgument("a grant names a collection (1-64 of [A-Za-z0-9_-]) or \"*\" (every collection)");
  if (scopes & ~unsigned{kScopeRead | kScopeWrite})
    return Status::InvalidArgument("grants may hold only \"read\" and \"write\" (admin users have every right)");
  return Status::OK();
}

// Revokes every live key (in `s`) of the user with id `owner_id`; returns how many.
size_t RevokeKeysOf(const AuthSnapshot& s, const std::string& owner_id, int64_t now, std::vector<AuthChange>* changes) {
  size_t n = 0;
  for (auto& [id, key] : s.keys) {
    if (key.owner_id != owner_id || key.revoked) continue;
    KeyRec k = key;
    k.revoked = true;
    k.revoked_at = now;
    changes->push_back(PutKey(k));
    ++n;
  }
  return n;
}

}  // namespace

Status Authenticator::CreateUser(const Principal& who, const std::string& name, const std::string& password,
                                 bool admin, const std::string& peer, const Grants& grants) {
  Impl& m = *impl_;
  if (!ValidUserName(name)) return Status::InvalidArgument("user name must be 1-64 of [A-Za-z0-9_.@-]");
  VECTRON_RETURN_IF_ERROR(CheckNewPassword(password, "password"));
  if (admin && !grants.empty()) return Status::InvalidArgument("admin users have every right: give them no grants");
  for (auto& [c, s] : grants) VECTRON_RETURN_IF_ERROR(CheckGrant(c, s));
  UserRec u;
  u.name = name;
  u.admin = admin;
  u.created_at = m.Now();
  u.grants = grants;
  VECTRON_ASSIGN_OR_RETURN(u.id, RandomId("u_", 12));
  VECTRON_ASSIGN_OR_RETURN(u.hash, HashPassword(password, m.options.scrypt));
  VECTRON_RETURN_IF_ERROR(m.Mutate([&](const AuthSnapshot& s, std::vector<AuthChange>* changes) -> Status {
    if (s.users.count(name)) return Status::AlreadyExists("user " + name + " exists");
    changes->push_back(PutUser(u));
    return Status::OK();
  }));
  m.Record("user_created", who.user, peer,
           {{"name", name}, {"role", admin ? "admin" : "user"}, {"grants", GrantsJson(grants)}});
  return Status::OK();
}

Result<json> Authenticator::ListUsers() {
  auto s = impl_->Current();
  json out = json::array();
  for (auto& [n, u] : s->users)
    out.push_back({{"name", u.name},
                   {"role", u.admin ? "admin" : "user"},
                   {"created_at", u.created_at},
                   {"grants", GrantsJson(u.grants)}});
  return out;
}

Status Authenticator::DeleteUser(const Principal& who, const std::string& name, const std::string& peer) {
  Impl& m = *impl_;
  size_t revoked = 0;
  VECTRON_RETURN_IF_ERROR(m.Mutate([&](const AuthSnapshot& s, std::vector<AuthChange>* changes) -> Status {
    auto it = s.users.find(name);
    if (it == s.users.end()) return Status::NotFound("no user " + name);
    const UserRec& u = it->second;
    size_t admins = 0;
    for (auto& [n, other] : s.users) admins += other.admin ? 1 : 0;
    if (u.admin && admins <= 1) return Status::FailedPrecondition("cannot delete the last admin user");
    revoked = RevokeKeysOf(s, u.id, m.Now(), changes);
    // The record goes with its id: tokens name the id, so a re-created name is a new user.
    changes->push_back({"user/" + name, std::nullopt});
    return Status::OK();
  }));
  m.Record("user_deleted", who.user, peer, {{"name", name}, {"keys_revoked", revoked}});
  return Status::OK();
}

Result<IssuedToken> Authenticator::ChangePassword(const Principal& who, const std::string& old_password,
                                                  const std::string& new_password, const std::string& peer) {
  Impl& m = *impl_;
  if (who.kind != TokenKind::kLogin) return Status::PermissionDenied("only a logged-in user can change its password");
  const double now = static_cast<double>(m.Now());
  if (double wait = m.user_rl.WaitSeconds(who.user, now); wait > 0)
    return Status::RateLimited("too many failed password checks; retry later",
                               std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait))));
  VECTRON_RETURN_IF_ERROR(CheckNewPassword(new_password, "new password"));
  if (old_password.size() > 1024) return Status::PermissionDenied("the old password is wrong");
  auto s = m.Current();
  auto u = s->users.find(who.user);
  if (u == s->users.end() || u->second.id != who.user_id) return Status::Unauthenticated("user no longer exists");
  if (!CheckPassword(old_password, u->second.hash)) {
    m.user_rl.Consume(who.user, now);
    m.Record("password_change_failed", who.user, peer, json::object());
    return Status::PermissionDenied("the old password is wrong");
  }
  VECTRON_ASSIGN_OR_RETURN(std::string hash, HashPassword(new_password, m.options.scrypt));
  VECTRON_ASSIGN_OR_RETURN(UserRec rec, m.UpdateUser(who.user, who.user_id, [&](const AuthSnapshot&, UserRec& r, std::vector<AuthChange>*) {
    if (r.epoch != who.session_epoch) return Status::Unauthenticated("the session ended; log in again");
    r.hash = hash;
    ++r.epoch;  // Every login token issued before ends here, the caller's too.
    return Status::OK();
  }));
  m.Record("password_changed", who.user, peer, {{"sessions_ended", true}});
  // The caller proved the password just now: a fresh session under the new epoch.
  return m.IssueLogin(*m.Current(), rec, m.Now());
}

Result<size_t> Authenticator::LogoutEverywhere(const Principal& who, bool revoke_keys, const std::string& peer) {
  Impl& m = *impl_;
  if (who.kind != TokenKind::kLogin) return Status::PermissionDenied("only a logged-in user can end its sessions");
  size_t revoked = 0;
  VECTRON_RETURN_IF_ERROR(m.UpdateUser(who.user, who.user_id,
                                       [&](const AuthSnapshot& s, UserRec& r, std::vector<AuthChange>* changes) -> Status {
                             ++r.epoch;
                             revoked = revoke_keys ? RevokeKeysOf(s, r.id, m.Now(), changes) : 0;
                             return Status::OK();
                           }).status());
  m.Record("logged_out_everywhere", who.user, peer, {{"keys_revoked", revoked}});
  return revoked;
}

Status Authenticator::SetGrant(const Principal& who, const std::string& user, const std::string& collection,
                               unsigned scopes, const std::string& peer) {
  Impl& m = *impl_;
  VECTRON_RETURN_IF_ERROR(CheckGrant(collection, scopes));
  VECTRON_RETURN_IF_ERROR(m.UpdateUser(user, "", [&](const AuthSnapshot&, UserRec& r, std::vector<AuthChange>*) -> Status {
                             if (r.admin)
                               return Status::FailedPrecondition("user " + user +
                                                                 " is an admin: admins have every right and no grants");
                             if (scopes) r.grants[collection] = scopes;
                             else r.grants.erase(collection);
                             return Status::OK();
                           }).status());
  m.Record(scopes ? "grant_set" : "grant_revoked", who.user, peer,
           {{"user", user}, {"collection", collection}, {"scopes", ScopeNames(scopes)}});
  return Status::OK();
}

Result<json> Authenticator::UserGrants(const std::string& user) {
  auto s = impl_->Current();
  auto u = s->users.find(user);
  if (u == s->users.end()) return Status::NotFound("no user " + user);
  return GrantsJson(u->second.grants);
}

}  // namespace vectron::net
