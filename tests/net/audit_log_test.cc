// The audit log (its own LMDB environment): bounded records, trimming by size and age,
// paging; and the credential store staying writable whatever is logged (issue 15).
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "net/auth/audit_log.h"
#include "net/auth/authenticator.h"
#include "temp_dir.h"

using namespace vectron;
using namespace vectron::net;
using vectron::net::testing::TempDir;
using nlohmann::json;

namespace {


struct LogFixture {
  std::string dir = TempDir("log");
  int64_t now = 1'800'000'000;
  std::unique_ptr<AuditLog> log;

  explicit LogFixture(uint64_t max_bytes = 64 << 10, int64_t max_age_s = 0) {
    AuditOptions o;
    o.dir = dir + "/audit";
    o.max_bytes = max_bytes;
    o.max_age_s = max_age_s;
    o.now_s = [this] { return now; };
    auto l = AuditLog::Open(o);
    REQUIRE_MESSAGE(l.ok(), l.status().ToString());
    log = std::move(*l);
  }
  ~LogFixture() {
    log.reset();
    std::filesystem::remove_all(dir);
  }
  std::vector<json> All() {
    AuditQuery q;
    q.limit = 1000000;
    q.max_bytes = SIZE_MAX;
    auto page = log->Read(q);
    REQUIRE(page.ok());
    return {page->events.begin(), page->events.end()};
  }
};

}  // namespace

TEST_CASE("AuditLog bounds every record: long strings are cut, a huge detail is dropped") {
  LogFixture f;
  const std::string huge(1 << 20, 'x');
  REQUIRE(f.log->Append("login_failed", huge, "1.2.3.4:5", {{"reason", huge}}).ok());
  json many = json::object();
  for (int i = 0; i < 100; ++i) many["k" + std::to_string(i)] = std::string(300, 'y');
  REQUIRE(f.log->Append("key_created", "bob", "p", {{"list", json::array({1, 2, 3})}, {"many", many}}).ok());
  json deep = "leaf";
  for (int i = 0; i < 50; ++i) deep = json::array({deep});
  REQUIRE(f.log->Append("e", "u", "p", {{"deep", deep}}).ok());
  auto events = f.All();
  REQUIRE(events.size() == 3);
  for (auto& e : events) CHECK(e.dump().size() <= kAuditRecordMax);
  const json& first = events[2];
  CHECK(first["user"].get<std::string>().size() <= kAuditStringMax);
  CHECK(first["user"].get<std::string>().rfind("xxx", 0) == 0);
  CHECK(first["detail"]["reason"].get<std::string>().size() <= kAuditStringMax);
  CHECK(events[1]["detail"] == json({{"cut", true}}));  // 16 × 256 bytes is still too big.
  CHECK(events[0]["detail"]["deep"].dump().find("leaf") == std::string::npos);
  CHECK(BoundAuditValue(json::array({1, 2, 3})) == json::array({1, 2, 3}));
  json long_array = json::array();
  for (int i = 0; i < 40; ++i) long_array.push_back(i);
  json cut = BoundAuditValue(long_array);
  CHECK(cut.size() == kAuditItemsMax + 1);
  CHECK(cut.back() == "+24 more");
  // A UTF-8 character is never split.
  std::string accents;
  for (int i = 0; i < 200; ++i) accents += "\xC3\xA9";
  std::string s = BoundAuditValue(accents).get<std::string>();
  CHECK(s.size() <= kAuditStringMax);
  CHECK_NOTHROW((void)json(s).dump(-1, ' ', false, json::error_handler_t::strict));
}

TEST_CASE("AuditLog trims the oldest events past max_bytes, whatever is appended") {
  LogFixture f(64 << 10);
  for (int i = 0; i < 3000; ++i) REQUIRE(f.log->Append("login_failed", "user" + std::to_string(i), "p").ok());
  auto bytes = f.log->StoredBytes();
  REQUIRE(bytes.ok());
  CHECK(*bytes <= (64u << 10));
  CHECK(*bytes > (48u << 10));
  auto events = f.All();
  CHECK(events.front()["user"] == "user2999");
  CHECK(events.front()["seq"] == 3000);
  // The kept events are the newest, without gaps.
  for (size_t i = 1; i < events.size(); ++i) CHECK(events[i]["seq"] == events[i - 1]["seq"].get<uint64_t>() - 1);
  size_t sum = 0;
  for (auto& e : events) sum += e.dump(-1, ' ', false, json::error_handler_t::replace).size() + 8;
  CHECK(sum == *bytes);
}

TEST_CASE("AuditLog trims events older than max_age_s as new ones arrive") {
  LogFixture f(64 << 10, 3600);
  for (int i = 0; i < 10; ++i) REQUIRE(f.log->Append("old", "u", "p").ok());
  f.now += 1800;
  REQUIRE(f.log->Append("middle", "u", "p").ok());
  CHECK(f.All().size() == 11);
  f.now += 2000;  // The first ten are now older than an hour.
  REQUIRE(f.log->Append("new", "u", "p").ok());
  auto events = f.All();
  REQUIRE(events.size() == 2);
  CHECK(events[0]["event"] == "new");
  CHECK(events[1]["event"] == "middle");
}

TEST_CASE("AuditLog pages newest first: limit, cursor, since and a byte budget") {
  LogFixture f;
  for (int i = 1; i <= 25; ++i) {
    f.now = 1000 + i;
    REQUIRE(f.log->Append("e" + std::to_string(i), "u", "p").ok());
  }
  AuditQuery q;
  q.limit = 10;
  std::vector<uint64_t> seqs;
  for (int pages = 0;; ++pages) {
    REQUIRE(pages < 5);
    auto page = f.log->Read(q);
    REQUIRE(page.ok());
    CHECK(page->events.size() <= 10);
    for (auto& e : page->events) seqs.push_back(e["seq"]);
    if (!page->next_cursor) break;
    q.cursor = page->next_cursor;
  }
  REQUIRE(seqs.size() == 25);
  for (size_t i = 0; i < seqs.size(); ++i) CHECK(seqs[i] == 25 - i);
  q = AuditQuery();
  q.since_s = 1020;
  auto recent = f.log->Read(q);
  REQUIRE(recent.ok());
  CHECK(recent->events.size() == 6);
  CHECK(recent->next_cursor == 0);
  q = AuditQuery();
  q.max_bytes = 300;  // Two or three records.
  auto small = f.log->Read(q);
  REQUIRE(small.ok());
  CHECK(small->events.size() >= 1);
  CHECK(small->events.size() < 5);
  CHECK(small->next_cursor == 25 - small->events.size());
  q = AuditQuery();
  q.cursor = 1000;  // Past the end: starts at the newest.
  CHECK(f.log->Read(q)->events[0]["seq"] == 25);
}

TEST_CASE("Logins with huge user names leave revocation, users and passwords working (issue 15)") {
  std::string dir = TempDir("flood");
  int64_t now = 1'800'000'000;
  {
    AuthOptions o;
    o.dir = dir + "/auth";
    o.scrypt = {10, 8, 1};
    o.admin_password = "admin-password";
    o.map_size_bytes = 2 << 20;  // A small credential store: 200 × 64 KiB used to fill it.
    o.audit_max_bytes = 64 << 10;
    o.now_s = [&] { return now; };
    auto a = Authenticator::Open(o, nullptr);
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    Authenticator& auth = **a;
    auto t = auth.Login("admin", "admin-password", "10.0.0.1:1");
    REQUIRE(t.ok());
    Principal admin;
    REQUIRE(auth.Authenticate("Bearer " + t->token, &admin).ok());
    auto key = auth.CreateKey(admin, "k", kScopeRead, std::nullopt, 0, "");
    REQUIRE(key.ok());
    const std::string huge(64 << 10, 'x');
    for (int i = 0; i < 200; ++i) {
      auto r = auth.Login(huge + std::to_string(i), "password", "10.0.0.2:" + std::to_string(i));
      CHECK(r.status().code() == StatusCode::kInvalidArgument);
    }
    // Well-formed failures from many addresses, past every rate limit.
    for (int i = 0; i < 400; ++i) {
      StatusCode c = auth.Login("u" + std::to_string(i % 7), "wrong-password", "10.0.1." + std::to_string(i % 3) + ":9")
                         .status()
                         .code();
      CHECK((c == StatusCode::kUnauthenticated || c == StatusCode::kRateLimited));
    }
    REQUIRE(auth.RevokeKey(admin, key->key_id, "").ok());
    Principal p;
    CHECK(auth.AuthenticateToken(key->token, &p).code() == StatusCode::kUnauthenticated);
    REQUIRE(auth.CreateUser(admin, "bob", "bob-password", false, "").ok());
    REQUIRE(auth.DeleteUser(admin, "bob", "").ok());
    CHECK(auth.ChangePassword(admin, "admin-password", "new-admin-password", "").ok());
    AuditQuery q;
    q.limit = 10000;
    q.max_bytes = SIZE_MAX;
    auto page = auth.Audit(q);
    REQUIRE(page.ok());
    size_t failed = 0;
    for (auto& e : page->events) {
      CHECK(e["event"] != "login_rate_limited");
      CHECK(e.dump().size() <= kAuditRecordMax);
      failed += e["event"] == "login_failed";
    }
    CHECK(failed < 400);  // The refused attempts left nothing.
  }
  std::filesystem::remove_all(dir);
}
