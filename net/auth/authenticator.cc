#include "net/auth/authenticator.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>

#include "net/auth/authenticator_impl.h"
#include "net/auth/base64url.h"
#include "net/io/crypto.h"
#include "storage/lmdb.h"
#include "util/files.h"
#include "util/untrusted_json.h"

namespace vectron::net {

using nlohmann::json;

Status AuthOptions::Validate() const {
  if (login_ttl_s < 10) return Status::InvalidArgument("login token lifetime must be at least 10 s");
  if (scrypt.log2_n < 1 || scrypt.log2_n > 24 || scrypt.r < 1 || scrypt.p < 1)
    return Status::InvalidArgument("bad scrypt parameters");
  if (admin_user.empty()) return Status::InvalidArgument("admin user name must not be empty");
  if (!admin_password.empty() && (admin_password.size() < 8 || admin_password.size() > 1024))
    return Status::InvalidArgument("the admin password must have 8-1024 characters");
  if (map_size_bytes < (uint64_t{1} << 20)) return Status::InvalidArgument("auth map size must be at least 1 MiB");
  return Status::OK();
}

// ------------------------------------------------------------------ passwords

Result<std::string> ReadPasswordFile(const std::string& path) {
  std::ifstream f(path);
  std::string password;
  if (!f || !std::getline(f, password))
    return Status::InvalidArgument("--admin-password-file " + path + ": cannot read it");
  while (!password.empty() && (password.back() == '\r' || password.back() == ' ')) password.pop_back();
  return password;
}

Result<std::string> HashPassword(const std::string& password, const ScryptParams& params) {
  VECTRON_ASSIGN_OR_RETURN(std::string salt, crypto::RandomBytes(16));
  VECTRON_ASSIGN_OR_RETURN(std::string h, crypto::Scrypt(password, salt, uint64_t{1} << params.log2_n,
                                                         static_cast<uint64_t>(params.r), static_cast<uint64_t>(params.p), 32));
  return "scrypt$" + std::to_string(params.log2_n) + "$" + std::to_string(params.r) + "$" + std::to_string(params.p) +
         "$" + Base64UrlEncode(salt) + "$" + Base64UrlEncode(h);
}

bool CheckPassword(const std::string& password, const std::string& hash) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t d = hash.find('$', start);
    parts.push_back(hash.substr(start, d == std::string::npos ? std::string::npos : d - start));
    if (d == std::string::npos) break;
    start = d + 1;
  }
  if (parts.size() != 6 || parts[0] != "scrypt") return false;
  int log2_n = 0, r = 0, p = 0;
  try {
    log2_n = std::stoi(parts[1]);
    r = std::stoi(parts[2]);
    p = std::stoi(parts[3]);
  } catch (...) {
    return false;
  }
  if (log2_n < 1 || log2_n > 24 || r < 1 || r > 64 || p < 1 || p > 16) return false;
  auto salt = Base64UrlDecode(parts[4]);
  auto want = Base64UrlDecode(parts[5]);
  if (!salt || !want || want->empty()) return false;
  auto got = crypto::Scrypt(password, *salt, uint64_t{1} << log2_n, static_cast<uint64_t>(r), static_cast<uint64_t>(p),
                            want->size());
  return got.ok() && crypto::ConstantTimeEqual(*got, *want);
}

// ------------------------------------------------------------------ store

Result<std::string> RandomId(const char* prefix, size_t bytes) {
  VECTRON_ASSIGN_OR_RETURN(std::string r, crypto::RandomBytes(bytes));
  return std::string(prefix) + Base64UrlEncode(r);
}

namespace {

constexpr size_t kVerifiedCacheMax = 4096;
json SigningJson(const JwtKey& k, int64_t created_at) {
  return {{"kid", k.kid},
          {"alg", JwtAlgName(k.alg)},
          {"secret", Base64UrlEncode(k.secret)},
          {"private_key", Base64UrlEncode(k.private_key)},
          {"public_key", Base64UrlEncode(k.public_key)},
          {"created_at", created_at}};
}
JwtKey SigningFrom(const json& j) {
  JwtKey k;
  k.kid = j.at("kid").get<std::string>();
  k.alg = j.at("alg") == "HS256" ? JwtAlg::kHS256 : JwtAlg::kEdDSA;
  k.secret = Base64UrlDecode(j.at("secret").get<std::string>()).value_or("");
  k.private_key = Base64UrlDecode(j.at("private_key").get<std::string>()).value_or("");
  k.public_key = Base64UrlDecode(j.at("public_key").get<std::string>()).value_or("");
  return k;
}


std::string PeerHost(const std::string& peer) {
  // "1.2.3.4:5678" or "[::1]:5678" → the address alone.
  size_t c = peer.rfind(':');
  if (c == std::string::npos) return peer;
  std::string h = peer.substr(0, c);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return h;
}

std::string ParentDir(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  size_t slash = d.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : d.substr(0, slash);
}

}  // namespace

int64_t Authenticator::Impl::Now() const {
  return options.now_s ? options.now_s() : static_cast<int64_t>(std::time(nullptr));
}

AuthChange PutUser(const UserRec& u) { return {"user/" + u.name, DumpJson(UserJson(u))}; }
AuthChange PutKey(const KeyRec& k) { return {"key/" + k.id, DumpJson(KeyJson(k))}; }

Result<std::shared_ptr<const AuthSnapshot>> Authenticator::Impl::Load() {
  VECTRON_ASSIGN_OR_RETURN(AuthStore::Snapshot raw, store->Load());
  auto s = std::make_shared<AuthSnapshot>();
  s->version = raw.version;
  try {
    for (auto& [key, v] : raw.records) {
      if (key.rfind("user/", 0) == 0) {
        UserRec u = UserFrom(json::parse(v));
        s->users[u.name] = std::move(u);
      } else if (key.rfind("key/", 0) == 0) {
        KeyRec k = KeyFrom(json::parse(v));
        s->keys[k.id] = std::move(k);
      } else if (key.rfind("signing/", 0) == 0) {
        json j = json::parse(v);
        JwtKey k = SigningFrom(j);
        s->key_created[k.kid] = j.value("created_at", int64_t{0});
        s->keyset.Add(std::move(k));
      } else if (key == "meta/current_kid") {
        s->current_kid = v;
      }
    }
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("auth store: ") + e.what());
  }
  s->keyset.SetSigning(s->current_kid);
  return std::shared_ptr<const AuthSnapshot>(std::move(s));
}

Status Authenticator::Impl::Mutate(const Decide& decide) {
  constexpr int kAttempts = 16;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    VECTRON_ASSIGN_OR_RETURN(auto s, Load());
    std::vector<AuthChange> changes;
    Status st;
    try {
      st = decide(*s, &changes);
    } catch (const json::exception& e) {
      st = Status::Corruption(std::string("auth store: ") + e.what());
    }
    VECTRON_RETURN_IF_ERROR(st);
    if (changes.empty()) return Status::OK();
    auto committed = store->Commit(s->version, std::move(changes));
    if (committed.ok()) return Status::OK();
    if (committed.status().code() != StatusCode::kAborted) return committed.status();
  }
  return Status::Aborted("the auth records kept changing under this change (" + std::to_string(kAttempts) +
                         " attempts); retry");
}

std::shared_ptr<const AuthSnapshot> Authenticator::Impl::Current() {
  uint64_t id = store->version();
  {
    std::shared_lock lock(mu);
    if (snap && snap->version == id) return snap;
  }
  auto fresh = Load();
  std::unique_lock lock(mu);
  if (!fresh.ok()) {
    std::fprintf(stderr, "error auth store reload failed (using the last good copy): %s\n",
                 fresh.status().ToString().c_str());
    return snap;
  }
  if (!snap || (*fresh)->version >= snap->version) snap = *fresh;
  return snap;
}

void Authenticator::Impl::Record(const std::string& event, const std::string& user, const std::string& peer,
                                 const json& detail) {
  Status st = audit->Append(event, user, peer, detail);
  if (!st.ok()) std::fprintf(stderr, "error audit log write failed (%s): %s\n", event.c_str(), st.ToString().c_str());
}

Result<IssuedToken> Authenticator::Impl::Issue(const AuthSnapshot& s, json claims, int64_t exp) {
  const JwtKey* key = s.keyset.signing_key();
  if (!key) return Status::Internal("no signing key");
  int64_t now = Now();
  claims["iss"] = options.issuer;
  claims["aud"] = options.audience;
  claims["iat"] = now;
  claims["nbf"] = now;
  claims["exp"] = exp;
  VECTRON_ASSIGN_OR_RETURN(std::string jti, RandomId("", 12));
  claims["jti"] = jti;
  IssuedToken t;
  VECTRON_ASSIGN_OR_RETURN(t.token, JwtSign(claims, *key));
  t.expires_at = exp;
  return t;
}

Result<IssuedToken> Authenticator::Impl::IssueLogin(const AuthSnapshot& s, const UserRec& u, int64_t auth_time) {
  int64_t exp = std::min(Now() + options.login_ttl_s, auth_time + options.session_max_s);
  return Issue(s,
               {{"sub", u.name}, {"kind", "login"}, {"uid", u.id}, {"epoch", u.epoch}, {"auth_time", auth_time}},
               exp);
}

Result<UserRec> Authenticator::Impl::UpdateUser(const std::string& name, const std::string& id,
                                                const UserChange& change) {
  UserRec written;
  VECTRON_RETURN_IF_ERROR(Mutate([&](const AuthSnapshot& s, std::vector<AuthChange>* changes) -> Status {
    auto it = s.users.find(name);
    if (it == s.users.end())
      return id.empty() ? Status::NotFound("no user " + name) : Status::Unauthenticated("user no longer exists");
    UserRec u = it->second;
    if (!id.empty() && u.id != id) return Status::Unauthenticated("user no longer exists");
    VECTRON_RETURN_IF_ERROR(change(s, u, changes));
    changes->push_back(PutUser(u));
    written = u;
    return Status::OK();
  }));
  return written;
}

Authenticator::Authenticator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Authenticator::~Authenticator() = default;

Result<std::unique_ptr<Authenticator>> Authenticator::Open(const AuthOptions& options, std::string* note) {
  VECTRON_RETURN_IF_ERROR(options.Validate());
  if (options.dir.empty()) return Status::InvalidArgument("auth directory must not be empty");
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::IOError(options.dir + ": " + std::strerror(errno));
  AuditOptions ao;
  ao.dir = options.audit_dir.empty() ? ParentDir(options.dir) + "/audit" : options.audit_dir;
  ao.max_bytes = options.audit_max_bytes;
  ao.max_age_s = options.audit_max_age_s;
  ao.now_s = options.now_s;
  VECTRON_ASSIGN_OR_RETURN(std::unique_ptr<AuditLog> audit, AuditLog::Open(ao));
  bool migrated = false;
  VECTRON_ASSIGN_OR_RETURN(std::unique_ptr<LmdbAuthStore> store,
                           LmdbAuthStore::Open(options.dir, options.map_size_bytes, *audit, options.audit_max_bytes,
                                               &migrated));
  if (migrated) {
    Status st = audit->Append("store_upgraded", "", "", {{"from", 1}, {"to", 2}});
    if (!st.ok()) std::fprintf(stderr, "error audit log write failed (store_upgraded): %s\n", st.ToString().c_str());
  }
  return Open(options, std::move(store), std::move(audit), note);
}

Result<std::unique_ptr<Authenticator>> Authenticator::Open(const AuthOptions& options, std::unique_ptr<AuthStore> store,
                                                           std::string* note) {
  VECTRON_RETURN_IF_ERROR(options.Validate());
  if (options.audit_dir.empty()) return Status::InvalidArgument("the audit log directory must be given");
  AuditOptions ao;
  ao.dir = options.audit_dir;
  ao.max_bytes = options.audit_max_bytes;
  ao.max_age_s = options.audit_max_age_s;
  ao.now_s = options.now_s;
  VECTRON_ASSIGN_OR_RETURN(std::unique_ptr<AuditLog> audit, AuditLog::Open(ao));
  return Open(options, std::move(store), std::move(audit), note);
}

Result<std::unique_ptr<Authenticator>> Authenticator::Open(const AuthOptions& options, std::unique_ptr<AuthStore> store,
                                                           std::unique_ptr<AuditLog> audit, std::string* note) {
  auto impl = std::make_unique<Impl>(options);
  Impl& m = *impl;
  m.audit = std::move(audit);
  m.store = std::move(store);
  // A signing key, made by whichever opener (process, gateway) finds none first.
  std::string created_kid;
  VECTRON_RETURN_IF_ERROR(m.Mutate([&](const AuthSnapshot& s, std::vector<AuthChange>* changes) -> Status {
    created_kid.clear();
    if (!s.current_kid.empty()) return Status::OK();
    VECTRON_ASSIGN_OR_RETURN(created_kid, RandomId("k-", 6));
    VECTRON_ASSIGN_OR_RETURN(JwtKey key, JwtKey::Generate(options.alg, created_kid));
    changes->push_back({"signing/" + created_kid, SigningJson(key, m.Now()).dump()});
    changes->push_back({"meta/current_kid", created_kid});
    return Status::OK();
  }));
  if (!created_kid.empty())
    m.Record("signing_key_created", "", "", {{"kid", created_kid}, {"alg", JwtAlgName(options.alg)}});
  VECTRON_ASSIGN_OR_RETURN(m.dummy_hash, HashPassword("not a password", options.scrypt));
  if (!m.Current()) return Status::Internal("auth store could not be read");
  std::unique_ptr<Authenticator> a(new Authenticator(std::move(impl)));
  if (options.create_admin_on_open) VECTRON_RETURN_IF_ERROR(a->EnsureAdmin(note));
  return a;
}

Status Authenticator::EnsureAdmin(std::string* note) {
  Impl& m = *impl_;
  const AuthOptions& options = m.options;
  if (!m.Current()->users.empty()) return Status::OK();
  UserRec u;
  std::string password = options.admin_password;
  const bool generated = password.empty();
  if (generated) {
    VECTRON_ASSIGN_OR_RETURN(std::string r, crypto::RandomBytes(18));
    password = Base64UrlEncode(r);
  }
  VECTRON_ASSIGN_OR_RETURN(u.id, RandomId("u_", 12));
  u.name = options.admin_user;
  VECTRON_ASSIGN_OR_RETURN(u.hash, HashPassword(password, options.scrypt));
  u.admin = true;
  u.created_at = m.Now();
  // Only while there is no user: of two openers (gateways) starting at once, one creates it.
  bool created = false;
  VECTRON_RETURN_IF_ERROR(m.Mutate([&](const AuthSnapshot& s, std::vector<AuthChange>* changes) -> Status {
    created = s.users.empty();
    if (created) changes->push_back(PutUser(u));
    return Status::OK();
  }));
  if (!created) return Status::OK();
  m.Record("user_created", u.name, "", {{"role", "admin"}, {"bootstrap", true}});
  if (note) {
    *note = generated ? "created admin user \"" + u.name + "\" with generated password " + password +
                            " (shown only this once)"
                      : "created admin user \"" + u.name + "\" with the given password";
  }
  return Status::OK();
}

Status Authenticator::Authenticate(std::string_view authorization, Principal* out) {
  *out = Principal();
  if (authorization.empty())
    return Status::Unauthenticated(
        "missing token: send \"Authorization: Bearer <token>\" (a login token from POST /v1/auth/login, or an API "
        "key's token from POST /v1/keys)");
  // The scheme name is case-insensitive (RFC 9110 11.1): "bearer" and "BEARER" work too.
  constexpr std::string_view kBearer = "bearer ";
  bool bearer = authorization.size() > kBearer.size();
  for (size_t i = 0; bearer && i < kBearer.size(); ++i)
    bearer = (authorization[i] | (i + 1 < kBearer.size() ? 0x20 : 0)) == kBearer[i];
  if (!bearer) return Status::Unauthenticated("the Authorization header must be \"Bearer <token>\"");
  std::string_view token = authorization.substr(kBearer.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  return AuthenticateToken(token, out);
}

Status Authenticator::AuthenticateToken(std::string_view token, Principal* out) {
  *out = Principal();
  if (token.empty()) return Status::Unauthenticated("missing token");
  Impl& m = *impl_;
  auto s = m.Current();
  const int64_t now = m.Now();
  VerifiedToken v;
  bool cached = false;
  {
    std::lock_guard lock(m.cache_mu);
    auto it = m.verified.find(token);
    if (it != m.verified.end()) {
      v = it->second;
      cached = true;
    }
  }
  if (cached) {
    // The exact bytes verified before; what can have changed since is time and the key set.
    if (!s->keyset.Find(v.kid))
      return Status::Unauthenticated("invalid token: token signed with an unknown or retired key id \"" + v.kid + "\"");
    if (now > v.exp + m.options.leeway_s)
      return Status::Unauthenticated("invalid token: token expired " + std::to_string(now - v.exp) + " s ago");
  } else {
    JwtVerifyOptions vo;
    vo.issuer = m.options.issuer;
    vo.audience = m.options.audience;
    vo.now_s = now;
    vo.leeway_s = m.options.leeway_s;
    auto claims = JwtVerify(token, s->keyset, vo);
    if (!claims.ok()) return Status::Unauthenticated("invalid token: " + claims.status().message());
    const json& c = *claims;
    auto str = [&](const char* k) -> std::string {
      auto it = c.find(k);
      return it != c.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    auto uint = [&](const char* k) -> uint64_t {
      auto it = c.find(k);
      return it != c.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
    };
    v.kind = str("kind");
    v.sub = str("sub");
    v.key_id = str("key_id");
    v.uid = str("uid");
    v.epoch = uint("epoch");
    v.exp = c["exp"].is_number_integer() ? c["exp"].get<int64_t>() : static_cast<int64_t>(c["exp"].get<double>());
    auto at = c.find("auth_time");
    v.auth_time = at != c.end() && at->is_number_integer() ? at->get<int64_t>() : 0;
    // The kid checked out (JwtVerify found it): the header is valid JSON with a string kid.
    size_t dot = token.find('.');
    json header = json::parse(*Base64UrlDecode(token.substr(0, dot)), nullptr, false);
    v.kid = header.value("kid", "");
    std::lock_guard lock(m.cache_mu);
    if (m.verified.size() >= kVerifiedCacheMax) m.verified.clear();
    m.verified.emplace(std::string(token), v);
  }
  if (v.kind == "login") {
    auto u = s->users.find(v.sub);
    if (u == s->users.end())
      return Status::Unauthenticated("invalid token: user \"" + v.sub + "\" no longer exists");
    if (v.uid.empty()) return Status::Unauthenticated("invalid token: a login token of an older version; log in again");
    // The name alone is not the user: a deleted and re-created name is someone else.
    if (u->second.id != v.uid)
      return Status::Unauthenticated("invalid token: user \"" + v.sub +
                                     "\" no longer exists (the name now belongs to a new user)");
    if (u->second.epoch != v.epoch)
      return Status::Unauthenticated(
          "invalid token: the session ended (password changed or logged out everywhere); log in again");
    out->kind = TokenKind::kLogin;
    out->user = v.sub;
    out->user_id = v.uid;
    out->user_admin = u->second.admin;
    if (!u->second.admin) out->grants = u->second.grants;
    out->auth_time = v.auth_time;
    out->session_epoch = v.epoch;
    return Status::OK();
  }
  if (v.kind == "sdk") {
    const std::string& id = v.key_id;
    auto k = s->keys.find(id);
    if (k == s->keys.end()) return Status::Unauthenticated("invalid token: API key \"" + id + "\" does not exist");
    const KeyRec& key = k->second;
    if (key.revoked) return Status::Unauthenticated("API key " + id + " was revoked");
    if (key.expires_at && now >= key.expires_at) return Status::Unauthenticated("API key " + id + " expired");
    auto owner = s->users.find(key.owner);
    if (key.owner != v.sub || owner == s->users.end() || owner->second.id != key.owner_id)
      return Status::Unauthenticated("invalid token: API key " + id + " has no owner");
    const UserRec& u = owner->second;
    out->kind = TokenKind::kSdk;
    out->user = key.owner;
    out->user_id = u.id;
    out->user_admin = u.admin;
    out->key_id = id;
    // Never more than the owner may have now: a non-admin's grants bound every key.
    out->scopes = key.scopes & (u.admin ? ~0u : unsigned{kScopeRead | kScopeWrite | kScopeFeedback});
    out->collections = key.collections;
    if (!u.admin) out->grants = u.grants;
    return Status::OK();
  }
  return Status::Unauthenticated("invalid token: unknown token kind \"" + v.kind + "\"");
}

Result<IssuedToken> Authenticator::Login(const std::string& user, const std::string& password,
                                         const std::string& peer) {
  Impl& m = *impl_;
  // The form first: nothing (no limiter entry, no audit record) is kept for a name that
  // cannot exist.
  if (!ValidUserName(user)) return Status::InvalidArgument("\"username\" must be 1-64 of [A-Za-z0-9_.@-]");
  if (password.size() > 1024) return Status::InvalidArgument("\"password\" must have at most 1024 characters");
  const std::string host = PeerHost(peer);
  const double now = static_cast<double>(m.Now());
  double wait = std::max(m.user_rl.WaitSeconds(user, now), m.peer_rl.WaitSeconds(host, now));
  if (wait > 0) {
    // Not audited: a flood of refused attempts must cost the server nothing.
    int64_t s = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait)));
    return Status::RateLimited("too many failed logins for this user or address; retry in " + std::to_string(s) + " s",
                               s);
  }
  auto s = m.Current();
  auto u = s->users.find(user);
  bool ok = CheckPassword(password, u == s->users.end() ? m.dummy_hash : u->second.hash) && u != s->users.end();
  if (!ok) {
    m.user_rl.Consume(user, now);
    m.peer_rl.Consume(host, now);
    m.Record("login_failed", user, peer, {{"reason", u == s->users.end() ? "unknown user" : "wrong password"}});
    return Status::Unauthenticated("wrong user name or password");
  }
  m.user_rl.Reset(user);
  VECTRON_ASSIGN_OR_RETURN(IssuedToken t, m.IssueLogin(*s, u->second, m.Now()));
  m.Record("login_ok", user, peer, json::object());
  return t;
}

Result<IssuedToken> Authenticator::Refresh(const Principal& who, const std::string& peer) {
  if (who.kind != TokenKind::kLogin) return Status::PermissionDenied("only login tokens can be refreshed");
  Impl& m = *impl_;
  if (m.Now() >= who.auth_time + m.options.session_max_s)
    return Status::Unauthenticated("session is older than " + std::to_string(m.options.session_max_s) +
                                   " s; log in again");
  auto s = m.Current();
  auto u = s->users.find(who.user);
  if (u == s->users.end() || u->second.id != who.user_id || u->second.epoch != who.session_epoch)
    return Status::Unauthenticated("the session ended; log in again");
  VECTRON_ASSIGN_OR_RETURN(IssuedToken t, m.IssueLogin(*s, u->second, who.auth_time));
  m.Record("token_refreshed", who.user, peer, json::object());
  return t;
}

Result<IssuedToken> Authenticator::CreateKey(const Principal& owner, const std::string& name, unsigned scopes,
                                             std::optional<std::vector<std::string>> collections,
                                             int64_t expires_in_s, const std::string& peer) {
  Impl& m = *impl_;
  if (owner.kind != TokenKind::kLogin) return Status::InvalidArgument("only a logged-in user can create API keys");
  if (name.empty() || name.size() > 128) return Status::InvalidArgument("\"name\" must have 1-128 characters");
  if (scopes == 0 || (scopes & ~unsigned{kScopeRead | kScopeWrite | kScopeAdmin | kScopeFeedback}))
    return Status::InvalidArgument("\"scopes\" must name at least one of read, write, admin, feedback");
  if (collections) {
    if (collections->empty())
      return Status::InvalidArgument("\"collections\" must not be empty (omit it to allow every collection)");
    if (collections->size() > 1024) return Status::InvalidArgument("\"collections\" may name at most 1024");
    for (auto& c : *collections)
      if (c.empty() || c.size() > 64) return Status::InvalidArgument("\"collections\" holds a bad name");
  }
  if (expires_in_s < 0) return Status::InvalidArgument("\"expires_in\" must be a positive number of seconds");
  KeyRec k;
  VECTRON_ASSIGN_OR_RETURN(k.id, RandomId("vk_", 12));
  k.owner = owner.user;
  k.owner_id = owner.user_id;
  k.name = name;
  k.scopes = scopes;
  k.collections = std::move(collections);
  k.created_at = m.Now();
  k.expires_at = expires_in_s ? k.created_at + expires_in_s : 0;
  // Checked against the owner's record in the transaction that writes the key, so a
  // session ended or a grant revoked a moment ago is seen.
  auto check_and_put = [&](const AuthSnapshot&, UserRec& rec, std::vector<AuthChange>* changes) -> Status {
    if (rec.epoch != owner.session_epoch) return Status::Unauthenticated("the session ended; log in again");
    if (!rec.admin) {
      if (scopes & kScopeAdmin)
        return Status::PermissionDenied("only admin users may create keys with the \"admin\" scope; " + rec.name +
                                        " is not one");
      Principal p;
      p.grants = rec.grants;
      for (auto& c : k.collections.value_or(std::vector<std::string>{})) {
        unsigned missing = scopes & ~p.GrantedOn(c);
        if (missing)
          return Status::PermissionDenied("user " + rec.name + " has no \"" + ScopeNames(missing)[0] +
                                          "\" grant on collection \"" + c + "\": a key cannot exceed its owner's grants");
      }
    }
    changes->push_back(PutKey(k));
    return Status::OK();
  };
  VECTRON_RETURN_IF_ERROR(m.UpdateUser(owner.user, owner.user_id, check_and_put).status());
  m.Record("key_created", owner.user, peer,
           {{"key_id", k.id}, {"name", k.name}, {"scopes", ScopeNames(scopes)},
            {"collections", k.collections ? json(*k.collections) : json(nullptr)}});
  json claims = {{"sub", k.owner}, {"kind", "sdk"}, {"key_id", k.id}, {"scopes", ScopeNames(scopes)}};
  if (k.collections) claims["collections"] = *k.collections;
  // A key without expiry still gets an "exp" (verifiers require one): far away.
  int64_t exp = k.expires_at ? k.expires_at : k.created_at + int64_t{100} * 365 * 86400;
  VECTRON_ASSIGN_OR_RETURN(IssuedToken t, m.Issue(*m.Current(), claims, exp));
  t.key_id = k.id;
  t.expires_at = k.expires_at;
  return t;
}

Result<json> Authenticator::ListKeys(const Principal& who) {
  auto s = impl_->Current();
  json out = json::array();
  for (auto& [id, k] : s->keys) {
    if (k.owner_id != who.user_id && !who.user_admin) continue;
    json j = {{"key_id", k.id},
              {"name", k.name},
              {"owner", k.owner},
              {"scopes", ScopeNames(k.scopes)},
              {"created_at", k.created_at},
              {"revoked", k.revoked}};
    j["collections"] = k.collections ? json(*k.collections) : json(nullptr);
    j["expires_at"] = k.expires_at ? json(k.expires_at) : json(nullptr);
    if (k.revoked) j["revoked_at"] = k.revoked_at;
    out.push_back(std::move(j));
  }
  return out;
}

Status Authenticator::RevokeKey(const Principal& who, const std::string& key_id, const std::string& peer) {
  Impl& m = *impl_;
  KeyRec k;
  bool changed = false;
  VECTRON_RETURN_IF_ERROR(m.Mutate([&](const AuthSnapshot& s, std::vector<AuthChange>* changes) -> Status {
    auto it = s.keys.find(key_id);
    if (it == s.keys.end()) return Status::NotFound("no API key " + key_id);
    k = it->second;
    if (k.owner_id != who.user_id && !who.user_admin) return Status::NotFound("no API key " + key_id);
    changed = !k.revoked;
    if (!changed) return Status::OK();
    k.revoked = true;
    k.revoked_at = m.Now();
    changes->push_back(PutKey(k));
    return Status::OK();
  }));
  if (changed) m.Record("key_revoked", who.user, peer, {{"key_id", k.id}, {"owner", k.owner}});
  return Status::OK();
}

Result<std::string> Authenticator::RotateSigningKey(const Principal& who, const std::string& peer) {
  Impl& m = *impl_;
  VECTRON_ASSIGN_OR_RETURN(std::string kid, RandomId("k-", 6));
  VECTRON_ASSIGN_OR_RETURN(JwtKey key, JwtKey::Generate(m.options.alg, kid));
  const std::string record = SigningJson(key, m.Now()).dump();
  VECTRON_RETURN_IF_ERROR(m.Mutate([&](const AuthSnapshot&, std::vector<AuthChange>* changes) -> Status {
    changes->push_back({"signing/" + kid, record});
    changes->push_back({"meta/current_kid", kid});
    return Status::OK();
  }));
  m.Record("signing_key_rotated", who.user, peer, {{"kid", kid}, {"alg", JwtAlgName(m.options.alg)}});
  return kid;
}

Status Authenticator::RetireSigningKey(const Principal& who, const std::string& kid, const std::string& peer) {
  Impl& m = *impl_;
  VECTRON_RETURN_IF_ERROR(m.Mutate([&](const AuthSnapshot& s, std::vector<AuthChange>* changes) -> Status {
    if (s.current_kid == kid) return Status::FailedPrecondition("signing key " + kid + " is the current one; rotate first");
    if (!s.keyset.Find(kid)) return Status::NotFound("no signing key " + kid);
    changes->push_back({"signing/" + kid, std::nullopt});
    return Status::OK();
  }));
  m.Record("signing_key_retired", who.user, peer, {{"kid", kid}});
  return Status::OK();
}

Result<json> Authenticator::ListSigningKeys() {
  auto s = impl_->Current();
  json out = json::array();
  for (auto& [kid, k] : s->keyset.keys()) {
    json j = {{"kid", kid}, {"alg", JwtAlgName(k.alg)}, {"current", kid == s->current_kid}};
    auto it = s->key_created.find(kid);
    j["created_at"] = it == s->key_created.end() ? 0 : it->second;
    if (k.alg == JwtAlg::kEdDSA) j["public_key"] = Base64UrlEncode(k.public_key);
    out.push_back(std::move(j));
  }
  return out;
}

Result<AuditPage> Authenticator::Audit(const AuditQuery& query) { return impl_->audit->Read(query); }

void Authenticator::Record(const std::string& event, const std::string& user, const std::string& peer,
                           const json& detail) {
  impl_->Record(event, user, peer, detail);
}

Status CopyAuthStores(const std::string& auth_dir, const std::string& audit_dir, const std::string& dest_auth,
                      const std::string& dest_audit) {
  for (auto [from, to] : {std::pair{auth_dir, dest_auth}, std::pair{audit_dir, dest_audit}}) {
    if (!PathExists(from + "/data.mdb")) continue;
    if (::mkdir(to.c_str(), 0700) != 0) return Status::IOError(to + ": " + std::strerror(errno));
    storage::EnvOptions eo;
    eo.map_size_bytes = uint64_t{1} << 30;  // LMDB maps at least the file's used size.
    eo.max_dbs = 8;
    VECTRON_ASSIGN_OR_RETURN(storage::LmdbEnv env, storage::LmdbEnv::Open(from, eo));
    VECTRON_RETURN_IF_ERROR(env.CopyCompact(to));
    VECTRON_RETURN_IF_ERROR(FsyncPath(to + "/data.mdb"));
    VECTRON_RETURN_IF_ERROR(FsyncPath(to));
  }
  return Status::OK();
}

}  // namespace vectron::net
