#include "net/auth/authenticator.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "net/auth/base64url.h"
#include "net/io/crypto.h"
#include "storage/lmdb.h"

namespace vectron::net {

using nlohmann::json;

unsigned ScopeFromName(std::string_view name) {
  if (name == "read") return kScopeRead;
  if (name == "write") return kScopeWrite;
  if (name == "admin") return kScopeAdmin;
  return 0;
}

std::vector<std::string> ScopeNames(unsigned scopes) {
  std::vector<std::string> out;
  if (scopes & kScopeRead) out.push_back("read");
  if (scopes & kScopeWrite) out.push_back("write");
  if (scopes & kScopeAdmin) out.push_back("admin");
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
  }
  return "?";
}

bool Principal::MayUseCollection(std::string_view name) const {
  if (unrestricted || !collections) return true;
  return std::find(collections->begin(), collections->end(), name) != collections->end();
}

AuthFailure Authorize(const Principal& who, const RouteAccess& route, std::string_view collection) {
  if (route.access == Access::kPublic || who.unrestricted) return {};
  if (who.kind == TokenKind::kNone) return AuthFailure::Unauthenticated("this route needs a token");
  switch (route.access) {
    case Access::kPublic:
      return {};
    case Access::kLogin:
    case Access::kLoginAdmin:
      if (who.kind != TokenKind::kLogin)
        return AuthFailure::Denied(
            "this route needs a login token (POST /v1/auth/login); SDK tokens cannot manage users or keys");
      if (route.access == Access::kLoginAdmin && !who.user_admin)
        return AuthFailure::Denied("this route needs an admin user; " + who.user + " is not one");
      return {};
    case Access::kRead:
    case Access::kWrite:
    case Access::kAdmin: {
      if (who.kind == TokenKind::kLogin) {
        if (route.console) return {};
        return AuthFailure::Denied(
            "login tokens are for the console and account management; use an SDK token (POST /v1/keys) for the "
            "data API");
      }
      unsigned need = route.access == Access::kRead ? kScopeRead : route.access == Access::kWrite ? kScopeWrite : kScopeAdmin;
      if (!(who.scopes & need)) {
        std::string has;
        for (auto& s : ScopeNames(who.scopes)) has += (has.empty() ? "" : ", ") + s;
        return AuthFailure::Denied("API key " + who.key_id + " lacks the \"" + AccessName(route.access) +
                                   "\" scope (it has: " + (has.empty() ? "none" : has) + ")");
      }
      if (route.all_collections && who.collections)
        return AuthFailure::Denied("API key " + who.key_id +
                                   " is restricted to some collections; this route spans every collection");
      if (!collection.empty() && !who.MayUseCollection(collection))
        return AuthFailure::Denied("API key " + who.key_id + " may not access collection \"" + std::string(collection) +
                                   "\"");
      return {};
    }
  }
  return AuthFailure::Denied("unknown access rule");
}

Status AuthOptions::Validate() const {
  if (dir.empty()) return Status::InvalidArgument("auth directory must not be empty");
  if (login_ttl_s < 10) return Status::InvalidArgument("login token lifetime must be at least 10 s");
  if (scrypt.log2_n < 1 || scrypt.log2_n > 24 || scrypt.r < 1 || scrypt.p < 1)
    return Status::InvalidArgument("bad scrypt parameters");
  if (admin_user.empty()) return Status::InvalidArgument("admin user name must not be empty");
  if (!admin_password.empty() && (admin_password.size() < 8 || admin_password.size() > 1024))
    return Status::InvalidArgument("the admin password must have 8-1024 characters");
  return Status::OK();
}

// ------------------------------------------------------------------ passwords

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

namespace {

struct UserRec {
  std::string name, hash;
  bool admin = false;
  int64_t created_at = 0;
};

struct KeyRec {
  std::string id, owner, name;
  unsigned scopes = 0;
  std::optional<std::vector<std::string>> collections;
  int64_t created_at = 0, expires_at = 0;  // 0: never.
  bool revoked = false;
  int64_t revoked_at = 0;
};

struct Snapshot {
  uint64_t txn_id = 0;
  std::map<std::string, UserRec> users;
  std::map<std::string, KeyRec> keys;
  JwtKeySet keyset;
  std::map<std::string, int64_t> key_created;  // kid → created_at
  std::string current_kid;
};

json UserJson(const UserRec& u) {
  return {{"name", u.name}, {"hash", u.hash}, {"role", u.admin ? "admin" : "user"}, {"created_at", u.created_at}};
}
UserRec UserFrom(const json& j) {
  return {j.at("name").get<std::string>(), j.at("hash").get<std::string>(), j.at("role") == "admin",
          j.at("created_at").get<int64_t>()};
}
json KeyJson(const KeyRec& k) {
  json j = {{"id", k.id},        {"owner", k.owner},           {"name", k.name},       {"scopes", ScopeNames(k.scopes)},
            {"created_at", k.created_at}, {"expires_at", k.expires_at}, {"revoked", k.revoked}, {"revoked_at", k.revoked_at}};
  j["collections"] = k.collections ? json(*k.collections) : json(nullptr);
  return j;
}
KeyRec KeyFrom(const json& j) {
  KeyRec k;
  k.id = j.at("id").get<std::string>();
  k.owner = j.at("owner").get<std::string>();
  k.name = j.at("name").get<std::string>();
  for (auto& s : j.at("scopes")) k.scopes |= ScopeFromName(s.get<std::string>());
  if (!j.at("collections").is_null()) k.collections = j.at("collections").get<std::vector<std::string>>();
  k.created_at = j.at("created_at").get<int64_t>();
  k.expires_at = j.at("expires_at").get<int64_t>();
  k.revoked = j.at("revoked").get<bool>();
  k.revoked_at = j.value("revoked_at", int64_t{0});
  return k;
}
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

std::string SeqKey(uint64_t seq) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[static_cast<size_t>(i)] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return k;
}
uint64_t SeqOf(std::string_view k) {
  uint64_t s = 0;
  for (char c : k) s = (s << 8) | static_cast<unsigned char>(c);
  return s;
}

std::string PeerHost(const std::string& peer) {
  // "1.2.3.4:5678" or "[::1]:5678" → the address alone.
  size_t c = peer.rfind(':');
  if (c == std::string::npos) return peer;
  std::string h = peer.substr(0, c);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return h;
}

bool ValidUserName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.' || c == '@';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> RandomId(const char* prefix, size_t bytes) {
  VECTRON_ASSIGN_OR_RETURN(std::string r, crypto::RandomBytes(bytes));
  return std::string(prefix) + Base64UrlEncode(r);
}

}  // namespace

// What a verified token said, kept so that the same token is not parsed and its
// signature not checked again on every request.
struct Verified {
  std::string kind, sub, key_id, kid;
  int64_t exp = 0, auth_time = 0;
};
constexpr size_t kVerifiedCacheMax = 4096;

struct Authenticator::Impl {
  AuthOptions options;
  std::optional<storage::LmdbEnv> env;
  storage::Dbi users, keys, signing, audit, meta;
  std::shared_mutex mu;
  std::shared_ptr<const Snapshot> snap;  // Guarded by mu.
  RateLimiter user_rl, peer_rl;
  std::string dummy_hash;  // Checked for unknown users, so timing does not tell them apart.
  std::mutex cache_mu;
  std::map<std::string, Verified, std::less<>> verified;  // Guarded by cache_mu.

  explicit Impl(const AuthOptions& o) : options(o), user_rl(o.user_limit), peer_rl(o.peer_limit) {}

  int64_t Now() const { return options.now_s ? options.now_s() : static_cast<int64_t>(std::time(nullptr)); }

  Result<std::shared_ptr<const Snapshot>> Load() {
    auto s = std::make_shared<Snapshot>();
    VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(*env));
    s->txn_id = rt.id();
    try {
      {
        VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, rt.OpenCursor(users));
        VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
        for (; more;) {
          UserRec u = UserFrom(json::parse(c.value()));
          s->users[u.name] = std::move(u);
          VECTRON_ASSIGN_OR_RETURN(more, c.Next());
        }
      }
      {
        VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, rt.OpenCursor(keys));
        VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
        for (; more;) {
          KeyRec k = KeyFrom(json::parse(c.value()));
          s->keys[k.id] = std::move(k);
          VECTRON_ASSIGN_OR_RETURN(more, c.Next());
        }
      }
      {
        VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, rt.OpenCursor(signing));
        VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
        for (; more;) {
          json j = json::parse(c.value());
          JwtKey k = SigningFrom(j);
          s->key_created[k.kid] = j.value("created_at", int64_t{0});
          s->keyset.Add(std::move(k));
          VECTRON_ASSIGN_OR_RETURN(more, c.Next());
        }
      }
    } catch (const json::exception& e) {
      return Status::Corruption(std::string("auth store: ") + e.what());
    }
    VECTRON_ASSIGN_OR_RETURN(auto cur, rt.Get(meta, "current_kid"));
    if (cur) s->current_kid = std::string(*cur);
    s->keyset.SetSigning(s->current_kid);
    return std::shared_ptr<const Snapshot>(std::move(s));
  }

  // The store as of the last commit (of any process), reloaded when it changed.
  std::shared_ptr<const Snapshot> Current() {
    uint64_t id = env->LastTxnId();
    {
      std::shared_lock lock(mu);
      if (snap && snap->txn_id == id) return snap;
    }
    auto fresh = Load();
    std::unique_lock lock(mu);
    if (!fresh.ok()) {
      std::fprintf(stderr, "error auth store reload failed (using the last good copy): %s\n",
                   fresh.status().ToString().c_str());
      return snap;
    }
    if (!snap || (*fresh)->txn_id >= snap->txn_id) snap = *fresh;
    return snap;
  }

  Status AppendAudit(storage::WriteTxn& wt, const std::string& event, const std::string& user, const std::string& peer,
                     const json& detail) {
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(audit));
    VECTRON_ASSIGN_OR_RETURN(bool any, c.Last());
    uint64_t seq = any ? SeqOf(c.key()) + 1 : 1;
    json e = {{"seq", seq}, {"ts", Now()}, {"event", event}, {"user", user}, {"peer", peer}, {"detail", detail}};
    return wt.Put(audit, SeqKey(seq), e.dump(-1, ' ', false, json::error_handler_t::replace));
  }

  Result<IssuedToken> Issue(const Snapshot& s, json claims, int64_t exp) {
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

  Result<IssuedToken> IssueLogin(const Snapshot& s, const std::string& user, int64_t auth_time) {
    int64_t exp = std::min(Now() + options.login_ttl_s, auth_time + options.session_max_s);
    return Issue(s, {{"sub", user}, {"kind", "login"}, {"auth_time", auth_time}}, exp);
  }
};

Authenticator::Authenticator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Authenticator::~Authenticator() = default;

Result<std::unique_ptr<Authenticator>> Authenticator::Open(const AuthOptions& options, std::string* note) {
  VECTRON_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>(options);
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::IOError(options.dir + ": " + std::strerror(errno));
  storage::EnvOptions eo;
  eo.map_size_bytes = 1ull << 30;
  eo.max_dbs = 8;
  VECTRON_ASSIGN_OR_RETURN(storage::LmdbEnv env, storage::LmdbEnv::Open(options.dir, eo));
  impl->env.emplace(std::move(env));
  Impl& m = *impl;
  {
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
    VECTRON_ASSIGN_OR_RETURN(m.users, wt.OpenDbi("users", MDB_CREATE));
    VECTRON_ASSIGN_OR_RETURN(m.keys, wt.OpenDbi("keys", MDB_CREATE));
    VECTRON_ASSIGN_OR_RETURN(m.signing, wt.OpenDbi("signing_keys", MDB_CREATE));
    VECTRON_ASSIGN_OR_RETURN(m.audit, wt.OpenDbi("audit", MDB_CREATE));
    VECTRON_ASSIGN_OR_RETURN(m.meta, wt.OpenDbi("meta", MDB_CREATE));
    VECTRON_ASSIGN_OR_RETURN(auto version, wt.Get(m.meta, "format_version"));
    if (version && *version != "1")
      return Status::FailedPrecondition("auth store " + options.dir + " has format version " + std::string(*version) +
                                        ", this build reads 1");
    if (!version) VECTRON_RETURN_IF_ERROR(wt.Put(m.meta, "format_version", "1"));
    VECTRON_ASSIGN_OR_RETURN(auto cur, wt.Get(m.meta, "current_kid"));
    if (!cur) {
      VECTRON_ASSIGN_OR_RETURN(std::string kid, RandomId("k-", 6));
      VECTRON_ASSIGN_OR_RETURN(JwtKey key, JwtKey::Generate(options.alg, kid));
      VECTRON_RETURN_IF_ERROR(wt.Put(m.signing, kid, SigningJson(key, m.Now()).dump()));
      VECTRON_RETURN_IF_ERROR(wt.Put(m.meta, "current_kid", kid));
      VECTRON_RETURN_IF_ERROR(
          m.AppendAudit(wt, "signing_key_created", "", "", {{"kid", kid}, {"alg", JwtAlgName(options.alg)}}));
    }
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
  VECTRON_ASSIGN_OR_RETURN(m.dummy_hash, HashPassword("not a password", options.scrypt));
  if (!m.Current()) return Status::Internal("auth store could not be read");
  std::unique_ptr<Authenticator> a(new Authenticator(std::move(impl)));
  if (options.create_admin_on_open) VECTRON_RETURN_IF_ERROR(a->EnsureAdmin(note));
  return a;
}

Status Authenticator::EnsureAdmin(std::string* note) {
  Impl& m = *impl_;
  const AuthOptions& options = m.options;
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
  VECTRON_ASSIGN_OR_RETURN(uint64_t nusers, wt.Count(m.users));
  if (nusers != 0) return Status::OK();
  std::string password = options.admin_password;
  bool generated = password.empty();
  if (generated) {
    VECTRON_ASSIGN_OR_RETURN(std::string r, crypto::RandomBytes(18));
    password = Base64UrlEncode(r);
  }
  VECTRON_ASSIGN_OR_RETURN(std::string hash, HashPassword(password, options.scrypt));
  UserRec u{options.admin_user, hash, true, m.Now()};
  VECTRON_RETURN_IF_ERROR(wt.Put(m.users, u.name, UserJson(u).dump()));
  VECTRON_RETURN_IF_ERROR(m.AppendAudit(wt, "user_created", u.name, "", {{"role", "admin"}, {"bootstrap", true}}));
  VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  if (note) {
    *note = generated ? "created admin user \"" + u.name + "\" with generated password " + password +
                            " (shown only this once)"
                      : "created admin user \"" + u.name + "\" with the given password";
  }
  return Status::OK();
}

AuthFailure Authenticator::Authenticate(std::string_view authorization, Principal* out) {
  *out = Principal();
  if (authorization.empty())
    return AuthFailure::Unauthenticated(
        "missing token: send \"Authorization: Bearer <token>\" (a login token from POST /v1/auth/login, or an API "
        "key's token from POST /v1/keys)");
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() || authorization.substr(0, kBearer.size()) != kBearer)
    return AuthFailure::Unauthenticated("the Authorization header must be \"Bearer <token>\"");
  std::string_view token = authorization.substr(kBearer.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  return AuthenticateToken(token, out);
}

AuthFailure Authenticator::AuthenticateToken(std::string_view token, Principal* out) {
  *out = Principal();
  if (token.empty()) return AuthFailure::Unauthenticated("missing token");
  Impl& m = *impl_;
  auto s = m.Current();
  const int64_t now = m.Now();
  Verified v;
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
      return AuthFailure::Unauthenticated("invalid token: token signed with an unknown or retired key id \"" + v.kid +
                                          "\"");
    if (now > v.exp + m.options.leeway_s)
      return AuthFailure::Unauthenticated("invalid token: token expired " + std::to_string(now - v.exp) + " s ago");
  } else {
    JwtVerifyOptions vo;
    vo.issuer = m.options.issuer;
    vo.audience = m.options.audience;
    vo.now_s = now;
    vo.leeway_s = m.options.leeway_s;
    auto claims = JwtVerify(token, s->keyset, vo);
    if (!claims.ok()) return AuthFailure::Unauthenticated("invalid token: " + claims.status().message());
    const json& c = *claims;
    auto str = [&](const char* k) -> std::string {
      auto it = c.find(k);
      return it != c.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    v.kind = str("kind");
    v.sub = str("sub");
    v.key_id = str("key_id");
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
      return AuthFailure::Unauthenticated("invalid token: user \"" + v.sub + "\" no longer exists");
    out->kind = TokenKind::kLogin;
    out->user = v.sub;
    out->user_admin = u->second.admin;
    out->auth_time = v.auth_time;
    return {};
  }
  if (v.kind == "sdk") {
    const std::string& id = v.key_id;
    auto k = s->keys.find(id);
    if (k == s->keys.end()) return AuthFailure::Unauthenticated("invalid token: API key \"" + id + "\" does not exist");
    const KeyRec& key = k->second;
    if (key.revoked) return AuthFailure::Unauthenticated("API key " + id + " was revoked");
    if (key.expires_at && now >= key.expires_at) return AuthFailure::Unauthenticated("API key " + id + " expired");
    if (key.owner != v.sub || !s->users.count(key.owner))
      return AuthFailure::Unauthenticated("invalid token: API key " + id + " has no owner");
    out->kind = TokenKind::kSdk;
    out->user = key.owner;
    out->key_id = id;
    out->scopes = key.scopes;
    out->collections = key.collections;
    return {};
  }
  return AuthFailure::Unauthenticated("invalid token: unknown token kind \"" + v.kind + "\"");
}

AuthFailure Authenticator::Login(const std::string& user, const std::string& password, const std::string& peer,
                                 IssuedToken* out) {
  Impl& m = *impl_;
  const std::string host = PeerHost(peer);
  const double now = static_cast<double>(m.Now());
  double wait = std::max(m.user_rl.WaitSeconds(user, now), m.peer_rl.WaitSeconds(host, now));
  if (wait > 0) {
    Record("login_rate_limited", user, peer);
    AuthFailure f{429, "rate_limited", "too many failed logins for this user or address; retry in " +
                                           std::to_string(static_cast<int64_t>(std::ceil(wait))) + " s",
                  std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait)))};
    return f;
  }
  auto s = m.Current();
  auto u = s->users.find(user);
  bool ok = CheckPassword(password, u == s->users.end() ? m.dummy_hash : u->second.hash) && u != s->users.end();
  if (!ok) {
    m.user_rl.Consume(user, now);
    m.peer_rl.Consume(host, now);
    Record("login_failed", user, peer, {{"reason", u == s->users.end() ? "unknown user" : "wrong password"}});
    return AuthFailure::Unauthenticated("wrong user name or password");
  }
  m.user_rl.Reset(user);
  auto t = m.IssueLogin(*s, user, m.Now());
  if (!t.ok()) return {500, "internal", t.status().ToString(), 0};
  *out = std::move(*t);
  Record("login_ok", user, peer);
  return {};
}

AuthFailure Authenticator::Refresh(const Principal& who, const std::string& peer, IssuedToken* out) {
  if (who.kind != TokenKind::kLogin) return AuthFailure::Denied("only login tokens can be refreshed");
  Impl& m = *impl_;
  if (m.Now() >= who.auth_time + m.options.session_max_s)
    return AuthFailure::Unauthenticated("session is older than " + std::to_string(m.options.session_max_s) +
                                        " s; log in again");
  auto t = m.IssueLogin(*m.Current(), who.user, who.auth_time);
  if (!t.ok()) return {500, "internal", t.status().ToString(), 0};
  *out = std::move(*t);
  Record("token_refreshed", who.user, peer);
  return {};
}

Result<IssuedToken> Authenticator::CreateKey(const Principal& owner, const std::string& name, unsigned scopes,
                                             std::optional<std::vector<std::string>> collections,
                                             int64_t expires_in_s, const std::string& peer) {
  Impl& m = *impl_;
  if (owner.kind != TokenKind::kLogin) return Status::InvalidArgument("only a logged-in user can create API keys");
  if (name.empty() || name.size() > 128) return Status::InvalidArgument("\"name\" must have 1-128 characters");
  if (scopes == 0) return Status::InvalidArgument("\"scopes\" must name at least one of read, write, admin");
  if (collections) {
    if (collections->empty())
      return Status::InvalidArgument("\"collections\" must not be empty (omit it to allow every collection)");
    for (auto& c : *collections)
      if (c.empty() || c.size() > 64) return Status::InvalidArgument("\"collections\" holds a bad name: \"" + c + "\"");
  }
  if (expires_in_s < 0) return Status::InvalidArgument("\"expires_in\" must be a positive number of seconds");
  KeyRec k;
  VECTRON_ASSIGN_OR_RETURN(k.id, RandomId("vk_", 12));
  k.owner = owner.user;
  k.name = name;
  k.scopes = scopes;
  k.collections = std::move(collections);
  k.created_at = m.Now();
  k.expires_at = expires_in_s ? k.created_at + expires_in_s : 0;
  {
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
    VECTRON_RETURN_IF_ERROR(wt.Put(m.keys, k.id, KeyJson(k).dump(-1, ' ', false, json::error_handler_t::replace)));
    VECTRON_RETURN_IF_ERROR(m.AppendAudit(wt, "key_created", owner.user, peer,
                                          {{"key_id", k.id}, {"name", k.name}, {"scopes", ScopeNames(scopes)}}));
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
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
    if (k.owner != who.user && !who.user_admin) continue;
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
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
  VECTRON_ASSIGN_OR_RETURN(auto v, wt.Get(m.keys, key_id));
  if (!v) return Status::NotFound("no API key " + key_id);
  KeyRec k = KeyFrom(json::parse(*v));
  if (k.owner != who.user && !who.user_admin) return Status::NotFound("no API key " + key_id);
  if (k.revoked) return Status::OK();
  k.revoked = true;
  k.revoked_at = m.Now();
  VECTRON_RETURN_IF_ERROR(wt.Put(m.keys, k.id, KeyJson(k).dump(-1, ' ', false, json::error_handler_t::replace)));
  VECTRON_RETURN_IF_ERROR(m.AppendAudit(wt, "key_revoked", who.user, peer, {{"key_id", k.id}, {"owner", k.owner}}));
  return std::move(wt).Commit();
}

Status Authenticator::CreateUser(const Principal& who, const std::string& name, const std::string& password,
                                 bool admin, const std::string& peer) {
  Impl& m = *impl_;
  if (!ValidUserName(name)) return Status::InvalidArgument("user name must be 1-64 of [A-Za-z0-9_.@-]");
  if (password.size() < 8) return Status::InvalidArgument("password must have at least 8 characters");
  if (password.size() > 1024) return Status::InvalidArgument("password must have at most 1024 characters");
  VECTRON_ASSIGN_OR_RETURN(std::string hash, HashPassword(password, m.options.scrypt));
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
  VECTRON_ASSIGN_OR_RETURN(auto v, wt.Get(m.users, name));
  if (v) return Status::AlreadyExists("user " + name + " exists");
  UserRec u{name, hash, admin, m.Now()};
  VECTRON_RETURN_IF_ERROR(wt.Put(m.users, name, UserJson(u).dump()));
  VECTRON_RETURN_IF_ERROR(
      m.AppendAudit(wt, "user_created", who.user, peer, {{"name", name}, {"role", admin ? "admin" : "user"}}));
  return std::move(wt).Commit();
}

Result<json> Authenticator::ListUsers() {
  auto s = impl_->Current();
  json out = json::array();
  for (auto& [n, u] : s->users)
    out.push_back({{"name", u.name}, {"role", u.admin ? "admin" : "user"}, {"created_at", u.created_at}});
  return out;
}

Status Authenticator::DeleteUser(const Principal& who, const std::string& name, const std::string& peer) {
  Impl& m = *impl_;
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
  VECTRON_ASSIGN_OR_RETURN(auto v, wt.Get(m.users, name));
  if (!v) return Status::NotFound("no user " + name);
  UserRec u = UserFrom(json::parse(*v));
  std::vector<KeyRec> owned;
  size_t admins = 0;
  {
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(m.users));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
    for (; more;) {
      admins += UserFrom(json::parse(c.value())).admin ? 1 : 0;
      VECTRON_ASSIGN_OR_RETURN(more, c.Next());
    }
  }
  if (u.admin && admins <= 1) return Status::FailedPrecondition("cannot delete the last admin user");
  {
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(m.keys));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
    for (; more;) {
      KeyRec k = KeyFrom(json::parse(c.value()));
      if (k.owner == name && !k.revoked) owned.push_back(std::move(k));
      VECTRON_ASSIGN_OR_RETURN(more, c.Next());
    }
  }
  for (auto& k : owned) {
    k.revoked = true;
    k.revoked_at = m.Now();
    VECTRON_RETURN_IF_ERROR(wt.Put(m.keys, k.id, KeyJson(k).dump(-1, ' ', false, json::error_handler_t::replace)));
  }
  VECTRON_ASSIGN_OR_RETURN(bool deleted, wt.Del(m.users, name));
  (void)deleted;
  VECTRON_RETURN_IF_ERROR(
      m.AppendAudit(wt, "user_deleted", who.user, peer, {{"name", name}, {"keys_revoked", owned.size()}}));
  return std::move(wt).Commit();
}

AuthFailure Authenticator::ChangePassword(const Principal& who, const std::string& old_password,
                                          const std::string& new_password, const std::string& peer) {
  Impl& m = *impl_;
  if (who.kind != TokenKind::kLogin) return AuthFailure::Denied("only a logged-in user can change its password");
  const double now = static_cast<double>(m.Now());
  if (double wait = m.user_rl.WaitSeconds(who.user, now); wait > 0)
    return {429, "rate_limited", "too many failed password checks; retry later",
            std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait)))};
  if (new_password.size() < 8 || new_password.size() > 1024)
    return {400, "invalid_argument", "new password must have 8-1024 characters", 0};
  auto s = m.Current();
  auto u = s->users.find(who.user);
  if (u == s->users.end()) return AuthFailure::Unauthenticated("user no longer exists");
  if (!CheckPassword(old_password, u->second.hash)) {
    m.user_rl.Consume(who.user, now);
    Record("password_change_failed", who.user, peer);
    return AuthFailure::Denied("the old password is wrong");
  }
  auto hash = HashPassword(new_password, m.options.scrypt);
  if (!hash.ok()) return {500, "internal", hash.status().ToString(), 0};
  Status st = [&]() -> Status {
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
    VECTRON_ASSIGN_OR_RETURN(auto v, wt.Get(m.users, who.user));
    if (!v) return Status::NotFound("user no longer exists");
    UserRec rec = UserFrom(json::parse(*v));
    rec.hash = *hash;
    VECTRON_RETURN_IF_ERROR(wt.Put(m.users, rec.name, UserJson(rec).dump()));
    VECTRON_RETURN_IF_ERROR(m.AppendAudit(wt, "password_changed", who.user, peer, json::object()));
    return std::move(wt).Commit();
  }();
  if (!st.ok()) return {500, "internal", st.ToString(), 0};
  return {};
}

Result<std::string> Authenticator::RotateSigningKey(const Principal& who, const std::string& peer) {
  Impl& m = *impl_;
  VECTRON_ASSIGN_OR_RETURN(std::string kid, RandomId("k-", 6));
  VECTRON_ASSIGN_OR_RETURN(JwtKey key, JwtKey::Generate(m.options.alg, kid));
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
  VECTRON_RETURN_IF_ERROR(wt.Put(m.signing, kid, SigningJson(key, m.Now()).dump()));
  VECTRON_RETURN_IF_ERROR(wt.Put(m.meta, "current_kid", kid));
  VECTRON_RETURN_IF_ERROR(
      m.AppendAudit(wt, "signing_key_rotated", who.user, peer, {{"kid", kid}, {"alg", JwtAlgName(m.options.alg)}}));
  VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  return kid;
}

Status Authenticator::RetireSigningKey(const Principal& who, const std::string& kid, const std::string& peer) {
  Impl& m = *impl_;
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
  VECTRON_ASSIGN_OR_RETURN(auto cur, wt.Get(m.meta, "current_kid"));
  if (cur && *cur == kid)
    return Status::FailedPrecondition("signing key " + kid + " is the current one; rotate first");
  VECTRON_ASSIGN_OR_RETURN(bool found, wt.Del(m.signing, kid));
  if (!found) return Status::NotFound("no signing key " + kid);
  VECTRON_RETURN_IF_ERROR(m.AppendAudit(wt, "signing_key_retired", who.user, peer, {{"kid", kid}}));
  return std::move(wt).Commit();
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

Result<json> Authenticator::Audit(size_t limit) {
  Impl& m = *impl_;
  VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(*m.env));
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, rt.OpenCursor(m.audit));
  json out = json::array();
  VECTRON_ASSIGN_OR_RETURN(bool any, c.Last());
  if (!any || limit == 0) return out;
  uint64_t last = SeqOf(c.key());
  uint64_t first = last >= limit ? last - limit + 1 : 0;
  VECTRON_ASSIGN_OR_RETURN(bool more, c.Seek(SeqKey(first)));
  for (; more;) {
    json e = json::parse(c.value(), nullptr, false);
    if (!e.is_discarded()) out.push_back(std::move(e));
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  std::reverse(out.begin(), out.end());
  return out;
}

void Authenticator::Record(const std::string& event, const std::string& user, const std::string& peer,
                           const json& detail) {
  Impl& m = *impl_;
  Status st = [&]() -> Status {
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
    VECTRON_RETURN_IF_ERROR(m.AppendAudit(wt, event, user, peer, detail));
    return std::move(wt).Commit();
  }();
  if (!st.ok()) std::fprintf(stderr, "error audit log write failed (%s): %s\n", event.c_str(), st.ToString().c_str());
}

}  // namespace vectron::net
