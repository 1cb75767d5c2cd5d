// The AuthStore seam (net/auth/auth_store.h): the Authenticator over a store shared by
// several openers (as gateways share the placement driver's records), compare-and-set
// commits retried when another writer came first, and LmdbAuthStore's own checks.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <mutex>

#include "net/auth/audit_log.h"
#include "net/auth/authenticator.h"
#include "temp_dir.h"

using namespace vectron;
using namespace vectron::net;
using vectron::net::testing::TempDir;

namespace {

// The records in memory, versioned like the PD's table: every commit adds one. Shared by
// every Authenticator of a test through SharedStoreHandle.
struct MemoryRecords {
  std::mutex mu;
  AuthStore::Snapshot snap;
  int commits = 0;
  // Runs once before the next commit is checked: another writer's change.
  std::function<void(AuthStore::Snapshot&)> interleave;
};

class SharedStoreHandle final : public AuthStore {
 public:
  explicit SharedStoreHandle(std::shared_ptr<MemoryRecords> r) : r_(std::move(r)) {}
  Result<Snapshot> Load() override {
    std::lock_guard lock(r_->mu);
    return r_->snap;
  }
  Result<uint64_t> Commit(uint64_t if_version, std::vector<AuthChange> changes) override {
    std::lock_guard lock(r_->mu);
    if (auto f = std::move(r_->interleave)) {
      r_->interleave = nullptr;
      f(r_->snap);
      ++r_->snap.version;
    }
    if (if_version != 0 && if_version != r_->snap.version) return Status::Aborted("changed meanwhile");
    for (auto& c : changes) {
      if (c.value) r_->snap.records[c.key] = *c.value;
      else r_->snap.records.erase(c.key);
    }
    ++r_->commits;
    return ++r_->snap.version;
  }
  uint64_t version() override {
    std::lock_guard lock(r_->mu);
    return r_->snap.version;
  }

 private:
  std::shared_ptr<MemoryRecords> r_;
};

struct Gateway {
  std::unique_ptr<Authenticator> auth;
  std::string note;
  Gateway(const std::string& dir, std::shared_ptr<MemoryRecords> records) {
    AuthOptions o;
    o.audit_dir = dir;
    o.scrypt = {10, 8, 1};  // Fast for tests.
    o.admin_password = "admin-password";
    auto a = Authenticator::Open(o, std::make_unique<SharedStoreHandle>(std::move(records)), &note);
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    auth = std::move(*a);
  }
  Principal Login(const std::string& user, const std::string& pw) {
    auto t = auth->Login(user, pw, "127.0.0.1:1");
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    Principal p;
    REQUIRE(auth->Authenticate("Bearer " + t->token, &p).ok());
    return p;
  }
  Status Check(const std::string& token) {
    Principal p;
    return auth->Authenticate("Bearer " + token, &p);
  }
};

}  // namespace

TEST_CASE("AuthStore: two openers of one store share users, keys, signing keys and revocations") {
  std::string dir = TempDir("auth-store");
  auto records = std::make_shared<MemoryRecords>();
  Gateway a(dir + "/audit-a", records);
  Gateway b(dir + "/audit-b", records);
  // The first opener made the signing key and the admin; the second found them.
  CHECK(a.note.find("created admin user \"admin\"") != std::string::npos);
  CHECK(b.note.empty());
  size_t users = 0, signing = 0;
  for (auto& [k, v] : records->snap.records) {
    users += k.rfind("user/", 0) == 0;
    signing += k.rfind("signing/", 0) == 0;
  }
  CHECK(users == 1);
  CHECK(signing == 1);
  // A key made through A works on B (same signing key, same records)...
  Principal admin = a.Login("admin", "admin-password");
  REQUIRE(a.auth->CreateUser(admin, "bob", "bob-password", false, "", Grants{{"docs", kScopeRead}}).ok());
  Principal bob = b.Login("bob", "bob-password");
  auto key = b.auth->CreateKey(bob, "ci", kScopeRead, std::vector<std::string>{"docs"}, 0, "");
  REQUIRE(key.ok());
  CHECK(a.Check(key->token).ok());
  CHECK(b.Check(key->token).ok());
  // ... and a revocation through one holds on both at once.
  REQUIRE(a.auth->RevokeKey(admin, key->key_id, "").ok());
  CHECK(a.Check(key->token).code() == StatusCode::kUnauthenticated);
  CHECK(b.Check(key->token).message() == "API key " + key->key_id + " was revoked");
  // So does a deleted user's login session.
  REQUIRE(b.auth->DeleteUser(admin, "bob", "").ok());
  CHECK(a.auth->Login("bob", "bob-password", "").status().code() == StatusCode::kUnauthenticated);
  std::filesystem::remove_all(dir);
}

TEST_CASE("AuthStore: a change that lost the race is decided again on the new records") {
  std::string dir = TempDir("auth-store");
  auto records = std::make_shared<MemoryRecords>();
  Gateway a(dir + "/audit-a", records);
  Gateway b(dir + "/audit-b", records);
  Principal admin = a.Login("admin", "admin-password");
  REQUIRE(a.auth->CreateUser(admin, "root2", "root2-password", true, "").ok());
  // B deletes root2 while (just before A's commit) A deletes admin: each alone would
  // leave one admin; both must not leave none. A's commit loses the race, A decides again
  // on the records without root2 and refuses.
  Principal root2 = b.Login("root2", "root2-password");
  records->interleave = [](AuthStore::Snapshot& s) { s.records.erase("user/root2"); };
  CHECK(a.auth->DeleteUser(root2, "admin", "").code() == StatusCode::kFailedPrecondition);
  CHECK(records->snap.records.count("user/admin") == 1);
  // A change that lost the race to an unrelated one is applied on the new records.
  records->interleave = [](AuthStore::Snapshot& s) { s.records["meta/other"] = "x"; };
  const int commits = records->commits;
  REQUIRE(a.auth->CreateUser(admin, "carl", "carl-password", false, "").ok());
  CHECK(records->commits == commits + 1);
  CHECK(records->snap.records.count("user/carl") == 1);
  CHECK(records->snap.records.count("meta/other") == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("LmdbAuthStore: commits are compare-and-set on the version and refuse unknown record kinds") {
  std::string dir = TempDir("auth-store");
  AuditOptions ao;
  ao.dir = dir + "/audit";
  auto audit = AuditLog::Open(ao);
  REQUIRE(audit.ok());
  bool migrated = true;
  auto store = LmdbAuthStore::Open(dir, uint64_t{1} << 24, **audit, 1 << 20, &migrated);
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  CHECK_FALSE(migrated);
  auto& s = **store;
  const uint64_t v0 = s.version();
  auto v1 = s.Commit(v0, {{"user/x", "{}"}, {"meta/current_kid", "k-1"}});
  REQUIRE(v1.ok());
  CHECK(*v1 > v0);
  CHECK(s.version() == *v1);
  // Stale: nothing applied.
  CHECK(s.Commit(v0, {{"user/y", "{}"}}).status().code() == StatusCode::kAborted);
  CHECK(s.Commit(*v1, {{"user/z", "{}"}, {"bogus/1", "{}"}}).status().code() == StatusCode::kInvalidArgument);
  CHECK(s.Commit(*v1, {{"meta/format_version", "9"}}).status().code() == StatusCode::kInvalidArgument);
  auto snap = s.Load();
  REQUIRE(snap.ok());
  CHECK(snap->version == *v1);
  CHECK(snap->records == std::map<std::string, std::string>{{"user/x", "{}"}, {"meta/current_kid", "k-1"}});
  // A delete, unconditionally.
  REQUIRE(s.Commit(0, {{"user/x", std::nullopt}}).ok());
  CHECK(s.Load()->records.count("user/x") == 0);
  store->reset();
  std::filesystem::remove_all(dir);
}
