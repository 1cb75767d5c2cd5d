// The Authenticator's user records (issue 15): tokens tied to the user's id and session
// epoch (deleted users stay deleted, a password change or "log out everywhere" ends
// sessions), per-collection grants bounding every key, and the upgrade of a format-1
// store written as the previous release wrote it.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <tuple>

#include "net/auth/authenticator.h"
#include "temp_dir.h"
#include "net/auth/base64url.h"
#include "storage/lmdb.h"

using namespace vectron;
using namespace vectron::net;
using vectron::net::testing::TempDir;
using nlohmann::json;

namespace {

constexpr int64_t kClockNow = 1'800'000'000;


struct Fixture {
  std::string dir = TempDir("auth");
  int64_t now = kClockNow;
  std::unique_ptr<Authenticator> auth;

  Fixture() {
    AuthOptions o;
    o.dir = dir + "/auth";
    o.scrypt = {10, 8, 1};
    o.admin_password = "admin-password";
    o.now_s = [this] { return now; };
    auto a = Authenticator::Open(o, nullptr);
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    auth = std::move(*a);
  }
  ~Fixture() {
    auth.reset();
    std::filesystem::remove_all(dir);
  }
  std::string Token(const std::string& user, const std::string& pw) {
    auto t = auth->Login(user, pw, "127.0.0.1:1");
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    return t->token;
  }
  Principal Who(const std::string& token) {
    Principal p;
    Status st = auth->AuthenticateToken(token, &p);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    return p;
  }
  Status Check(const std::string& token) {
    Principal p;
    return auth->AuthenticateToken(token, &p);
  }
};

}  // namespace

TEST_CASE("A login token of a deleted user stays refused after the name is re-created") {
  Fixture f;
  Principal admin = f.Who(f.Token("admin", "admin-password"));
  REQUIRE(f.auth->CreateUser(admin, "bob", "bob-password", false, "").ok());
  std::string old_bob = f.Token("bob", "bob-password");
  Principal old_who = f.Who(old_bob);
  REQUIRE(f.auth->CreateKey(old_who, "old", kScopeRead, std::nullopt, 0, "").ok());
  REQUIRE(f.auth->DeleteUser(admin, "bob", "").ok());
  REQUIRE(f.auth->CreateUser(admin, "bob", "new-bob-password", true, "").ok());
  Status st = f.Check(old_bob);
  CHECK(st.code() == StatusCode::kUnauthenticated);
  CHECK(st.message().find("no longer exists") != std::string::npos);
  // Nor can a principal taken before the deletion act for the new user.
  CHECK(f.auth->Refresh(old_who, "").status().code() == StatusCode::kUnauthenticated);
  CHECK(f.auth->CreateKey(old_who, "k", kScopeRead, std::nullopt, 0, "").status().code() ==
        StatusCode::kUnauthenticated);
  CHECK(f.auth->ChangePassword(old_who, "bob-password", "whatever-123", "").status().code() ==
        StatusCode::kUnauthenticated);
  Principal new_bob = f.Who(f.Token("bob", "new-bob-password"));
  CHECK(new_bob.user_admin);
  CHECK(new_bob.user_id != old_who.user_id);
  // The old user's keys are not the new one's (an admin still sees them all).
  auto all = f.auth->ListKeys(new_bob);
  REQUIRE(all.ok());
  CHECK(all->size() == 1);  // bob is an admin now: he sees every key, the old one revoked.
  CHECK((*all)[0]["revoked"] == true);
  REQUIRE(f.auth->CreateUser(admin, "carl", "carl-password", false, "").ok());
  Principal old_carl = f.Who(f.Token("carl", "carl-password"));
  auto carl_key = f.auth->CreateKey(old_carl, "k", kScopeRead, std::nullopt, 0, "");
  REQUIRE(carl_key.ok());
  REQUIRE(f.auth->DeleteUser(admin, "carl", "").ok());
  REQUIRE(f.auth->CreateUser(admin, "carl", "carl-password", false, "").ok());
  Principal new_carl = f.Who(f.Token("carl", "carl-password"));
  CHECK(f.auth->ListKeys(new_carl)->empty());
  CHECK(f.auth->RevokeKey(new_carl, carl_key->key_id, "").code() == StatusCode::kNotFound);
}

TEST_CASE("A password change ends every earlier session: no call, refresh or key minting") {
  Fixture f;
  Principal admin = f.Who(f.Token("admin", "admin-password"));
  REQUIRE(f.auth->CreateUser(admin, "bob", "bob-password", false, "", Grants{{"*", kScopeRead}}).ok());
  std::string stolen = f.Token("bob", "bob-password");
  Principal stolen_who = f.Who(stolen);
  std::string mine = f.Token("bob", "bob-password");
  auto key = f.auth->CreateKey(f.Who(mine), "ci", kScopeRead, std::nullopt, 0, "");
  REQUIRE(key.ok());
  CHECK(f.auth->ChangePassword(f.Who(mine), "wrong-password", "new-bob-password", "").status().code() ==
        StatusCode::kPermissionDenied);
  auto fresh = f.auth->ChangePassword(f.Who(mine), "bob-password", "new-bob-password", "");
  REQUIRE(fresh.ok());
  for (const std::string& t : {stolen, mine}) {
    Status st = f.Check(t);
    CHECK(st.code() == StatusCode::kUnauthenticated);
    CHECK(st.message().find("session ended") != std::string::npos);
  }
  CHECK(f.auth->Refresh(stolen_who, "").status().code() == StatusCode::kUnauthenticated);
  CHECK(f.auth->CreateKey(stolen_who, "evil", kScopeRead, std::nullopt, 0, "").status().code() ==
        StatusCode::kUnauthenticated);
  CHECK(f.Check(fresh->token).ok());
  CHECK(f.auth->Refresh(f.Who(fresh->token), "").ok());
  // The key lives on (docs/auth.md: keys are revoked one by one, or by log-out-everywhere).
  CHECK(f.Check(key->token).ok());
  CHECK_FALSE(f.auth->Login("bob", "bob-password", "").ok());
  CHECK(f.auth->Login("bob", "new-bob-password", "").ok());
}

TEST_CASE("Log out everywhere ends the user's sessions, and with revoke_keys its keys") {
  Fixture f;
  Principal admin = f.Who(f.Token("admin", "admin-password"));
  REQUIRE(f.auth->CreateUser(admin, "bob", "bob-password", false, "", Grants{{"*", kScopeRead}}).ok());
  std::string a = f.Token("bob", "bob-password"), b = f.Token("bob", "bob-password");
  auto key = f.auth->CreateKey(f.Who(a), "ci", kScopeRead, std::nullopt, 0, "");
  REQUIRE(key.ok());
  auto n = f.auth->LogoutEverywhere(f.Who(a), false, "");
  REQUIRE(n.ok());
  CHECK(*n == 0);
  CHECK(f.Check(a).code() == StatusCode::kUnauthenticated);
  CHECK(f.Check(b).code() == StatusCode::kUnauthenticated);
  CHECK(f.Check(key->token).ok());
  std::string c = f.Token("bob", "bob-password");
  n = f.auth->LogoutEverywhere(f.Who(c), true, "");
  REQUIRE(n.ok());
  CHECK(*n == 1);
  CHECK(f.Check(key->token).message().find("revoked") != std::string::npos);
  CHECK(f.Check(f.Token("admin", "admin-password")).ok());  // Other users keep theirs.
}

TEST_CASE("Grants: a non-admin user's keys cannot exceed its grants, at creation and on each request") {
  Fixture f;
  Principal admin = f.Who(f.Token("admin", "admin-password"));
  REQUIRE(f.auth->CreateUser(admin, "bob", "bob-password", false, "", Grants{{"docs", kScopeRead}}).ok());
  CHECK(f.auth->CreateUser(admin, "root2", "root2-password", true, "", Grants{{"docs", kScopeRead}}).code() ==
        StatusCode::kInvalidArgument);
  CHECK(f.auth->CreateUser(admin, "carl", "carl-password", false, "", Grants{{"bad name", kScopeRead}}).code() ==
        StatusCode::kInvalidArgument);
  Principal bob = f.Who(f.Token("bob", "bob-password"));
  REQUIRE(bob.grants.has_value());
  CHECK(bob.GrantedOn("docs") == kScopeRead);
  CHECK(bob.GrantedOn("other") == 0);
  CHECK(bob.MayUseCollection("docs"));
  CHECK_FALSE(bob.MayUseCollection("other"));
  // At creation.
  auto too_much = f.auth->CreateKey(bob, "rw", kScopeRead | kScopeWrite, std::vector<std::string>{"docs"}, 0, "");
  CHECK(too_much.status().code() == StatusCode::kPermissionDenied);
  CHECK(too_much.status().message().find("\"write\" grant on collection \"docs\"") != std::string::npos);
  CHECK(f.auth->CreateKey(bob, "adm", kScopeAdmin, std::nullopt, 0, "").status().code() ==
        StatusCode::kPermissionDenied);
  auto docs_key = f.auth->CreateKey(bob, "r", kScopeRead, std::vector<std::string>{"docs"}, 0, "");
  REQUIRE(docs_key.ok());
  auto any_key = f.auth->CreateKey(bob, "any", kScopeRead | kScopeWrite, std::nullopt, 0, "");
  REQUIRE(any_key.ok());
  // On each request.
  Principal k = f.Who(any_key->token);
  CHECK(Authorize(k, {Access::kRead}, "docs").ok());
  CHECK(Authorize(k, {Access::kWrite}, "docs").code() == StatusCode::kPermissionDenied);
  CHECK(Authorize(k, {Access::kRead}, "other").message().find("no \"read\" grant on collection \"other\"") !=
        std::string::npos);
  REQUIRE(f.auth->SetGrant(admin, "bob", "docs", kScopeRead | kScopeWrite, "").ok());
  CHECK(Authorize(f.Who(any_key->token), {Access::kWrite}, "docs").ok());
  REQUIRE(f.auth->SetGrant(admin, "bob", "docs", 0, "").ok());
  CHECK(Authorize(f.Who(any_key->token), {Access::kRead}, "docs").code() == StatusCode::kPermissionDenied);
  CHECK(Authorize(f.Who(docs_key->token), {Access::kRead}, "docs").code() == StatusCode::kPermissionDenied);
  REQUIRE(f.auth->SetGrant(admin, "bob", "*", kScopeRead, "").ok());
  CHECK(Authorize(f.Who(any_key->token), {Access::kRead}, "anything").ok());
  auto grants = f.auth->UserGrants("bob");
  REQUIRE(grants.ok());
  CHECK(*grants == json({{"*", {"read"}}}));
  CHECK(f.auth->SetGrant(admin, "admin", "docs", kScopeRead, "").code() == StatusCode::kFailedPrecondition);
  CHECK(f.auth->SetGrant(admin, "ghost", "docs", kScopeRead, "").code() == StatusCode::kNotFound);
  CHECK(f.auth->SetGrant(admin, "bob", "docs", kScopeAdmin, "").code() == StatusCode::kInvalidArgument);
  // Admin users need no grants; their keys are bounded by their scopes alone.
  auto admin_key = f.auth->CreateKey(admin, "a", kScopeRead | kScopeAdmin, std::nullopt, 0, "");
  REQUIRE(admin_key.ok());
  CHECK(Authorize(f.Who(admin_key->token), {Access::kRead}, "anything").ok());
}

namespace {

// A format-1 store, written record by record as the previous release wrote it.
struct V1Store {
  std::string sdk_token, login_token;
  std::string huge_user = std::string(1 << 20, 'x');

  explicit V1Store(const std::string& dir) {
    std::filesystem::create_directories(dir);
    storage::EnvOptions eo;
    eo.map_size_bytes = uint64_t{1} << 30;
    eo.max_dbs = 8;
    auto env = storage::LmdbEnv::Open(dir, eo);
    REQUIRE(env.ok());
    auto wt = storage::WriteTxn::Begin(*env);
    REQUIRE(wt.ok());
    auto dbi = [&](const char* name) {
      auto d = wt->OpenDbi(name, MDB_CREATE);
      REQUIRE(d.ok());
      return *d;
    };
    storage::Dbi users = dbi("users"), keys = dbi("keys"), signing = dbi("signing_keys"), audit = dbi("audit"),
                 meta = dbi("meta");
    auto key = JwtKey::Generate(JwtAlg::kEdDSA, "k-v1key");
    REQUIRE(key.ok());
    auto put = [&](storage::Dbi d, const std::string& k, const json& v) { REQUIRE(wt->Put(d, k, v.dump()).ok()); };
    REQUIRE(wt->Put(meta, "format_version", "1").ok());
    REQUIRE(wt->Put(meta, "current_kid", "k-v1key").ok());
    put(signing, "k-v1key",
        {{"kid", "k-v1key"}, {"alg", "EdDSA"}, {"secret", ""}, {"private_key", Base64UrlEncode(key->private_key)},
         {"public_key", Base64UrlEncode(key->public_key)}, {"created_at", kClockNow - 100}});
    for (auto [name, pw, role] : {std::tuple{"admin", "admin-password", "admin"}, std::tuple{"bob", "bob-password", "user"}}) {
      auto hash = HashPassword(pw, {10, 8, 1});
      REQUIRE(hash.ok());
      put(users, name, {{"name", name}, {"hash", *hash}, {"role", role}, {"created_at", kClockNow - 100}});
    }
    put(keys, "vk_v1bobkey0000000",
        {{"id", "vk_v1bobkey0000000"}, {"owner", "bob"}, {"name", "ci"}, {"scopes", {"read", "write"}},
         {"collections", nullptr}, {"created_at", kClockNow - 50}, {"expires_at", 0}, {"revoked", false},
         {"revoked_at", 0}});
    const std::vector<json> events = {
        {{"seq", 1}, {"ts", kClockNow - 100}, {"event", "signing_key_created"}, {"user", ""}, {"peer", ""},
         {"detail", {{"kid", "k-v1key"}}}},
        {{"seq", 2}, {"ts", kClockNow - 90}, {"event", "login_failed"}, {"user", huge_user}, {"peer", "1.2.3.4:5"},
         {"detail", {{"reason", "unknown user"}}}},
        {{"seq", 3}, {"ts", kClockNow - 50}, {"event", "key_created"}, {"user", "bob"}, {"peer", "1.2.3.4:6"},
         {"detail", {{"key_id", "vk_v1bobkey0000000"}}}}};
    for (const json& e : events) {
      std::string k(8, '\0');
      k[7] = static_cast<char>(e["seq"].get<int>());
      put(audit, k, e);
    }
    REQUIRE(std::move(*wt).Commit().ok());
    JwtKey signer = *key;
    auto sdk = JwtSign({{"sub", "bob"}, {"kind", "sdk"}, {"key_id", "vk_v1bobkey0000000"}, {"scopes", {"read", "write"}},
                        {"iss", "vectron"}, {"aud", "vectron"}, {"iat", kClockNow - 50}, {"nbf", kClockNow - 50},
                        {"exp", kClockNow + 86400}, {"jti", "j1"}},
                       signer);
    auto login = JwtSign({{"sub", "bob"}, {"kind", "login"}, {"auth_time", kClockNow - 10}, {"iss", "vectron"},
                          {"aud", "vectron"}, {"iat", kClockNow - 10}, {"nbf", kClockNow - 10}, {"exp", kClockNow + 800},
                          {"jti", "j2"}},
                         signer);
    REQUIRE(sdk.ok());
    REQUIRE(login.ok());
    sdk_token = *sdk;
    login_token = *login;
  }
};

}  // namespace

TEST_CASE("A format-1 auth store opens: passwords and keys still work, its audit moves to DATA/audit") {
  std::string dir = TempDir("v1");
  V1Store v1(dir + "/auth");
  for (int round = 0; round < 2; ++round) {  // The upgrade, then a plain reopen.
    AuthOptions o;
    o.dir = dir + "/auth";
    o.scrypt = {10, 8, 1};
    o.now_s = [] { return kClockNow; };
    std::string note;
    auto a = Authenticator::Open(o, &note);
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    Authenticator& auth = **a;
    CHECK(note.empty());  // The admin exists: nothing bootstrapped.
    auto bob = auth.Login("bob", "bob-password", "");
    REQUIRE(bob.ok());
    CHECK(auth.Login("admin", "admin-password", "").ok());
    Principal key;
    REQUIRE(auth.AuthenticateToken(v1.sdk_token, &key).ok());
    CHECK(key.user == "bob");
    CHECK(key.scopes == (kScopeRead | kScopeWrite));
    // Format 1 let every user make read/write keys for every collection: the "*" grant.
    CHECK(Authorize(key, {Access::kWrite}, "docs").ok());
    Principal old_login;
    Status st = auth.AuthenticateToken(v1.login_token, &old_login);
    CHECK(st.code() == StatusCode::kUnauthenticated);
    CHECK(st.message().find("log in again") != std::string::npos);
    AuditQuery q;
    q.limit = 100;
    auto page = auth.Audit(q);
    REQUIRE(page.ok());
    std::vector<std::string> kinds;
    for (auto& e : page->events) {
      kinds.push_back(e["event"]);
      CHECK(e.dump().size() <= kAuditRecordMax);
    }
    REQUIRE(kinds.size() >= 4);
    CHECK(std::count(kinds.begin(), kinds.end(), "signing_key_created") == 1);  // Moved once.
    CHECK(std::count(kinds.begin(), kinds.end(), "store_upgraded") == 1);
    CHECK(std::find(kinds.begin(), kinds.end(), "key_created") != kinds.end());
  }
  CHECK(std::filesystem::exists(dir + "/audit/data.mdb"));
  {
    storage::EnvOptions eo;
    eo.max_dbs = 8;
    auto env = storage::LmdbEnv::Open(dir + "/auth", eo);
    REQUIRE(env.ok());
    auto wt = storage::WriteTxn::Begin(*env);
    REQUIRE(wt.ok());
    auto meta = wt->OpenDbi("meta");
    REQUIRE(meta.ok());
    CHECK(*wt->Get(*meta, "format_version") == std::optional<std::string_view>("2"));
    MDB_dbi gone;
    CHECK(mdb_dbi_open(wt->get(), "audit", 0, &gone) == MDB_NOTFOUND);  // The table is gone.
  }
  std::filesystem::remove_all(dir);
}
