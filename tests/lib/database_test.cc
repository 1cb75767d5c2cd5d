// Database: the catalog's locking (an open collection is found without waiting for a
// create, drop, sync or backup).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

using namespace vectron;
using testing::TempDir;
using testing::VectorForId;

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kDeadline = std::chrono::seconds(20);

std::unique_ptr<Database> OpenDb(const std::string& dir, DatabaseOptions o = {}) {
  auto db = Database::Open(dir, o);
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(db).value();
}

Collection* Create(Database& db, const std::string& name, uint32_t dim = 4) {
  auto c = db.CreateCollection(name, testing::SmallConfig(dim));
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  return *c;
}

void UpsertOne(Collection& c, const std::string& id) {
  WriteBatch b;
  b.Upsert(id, VectorForId(id, c.config().dim), "");
  Status s = c.Write(b);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
}

// A gate a progress callback stops at until the test opens it (or the deadline passes,
// so that a failing test still ends).
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, open = false;

  void Stop() {
    std::unique_lock l(mu);
    entered = true;
    cv.notify_all();
    cv.wait_until(l, Clock::now() + kDeadline, [&] { return open; });
  }
  bool WaitEntered() {
    std::unique_lock l(mu);
    return cv.wait_until(l, Clock::now() + kDeadline, [&] { return entered; });
  }
  void Open() {
    std::lock_guard l(mu);
    open = true;
    cv.notify_all();
  }
};

}  // namespace

TEST_CASE("an open collection is found concurrently with a backup in progress") {
  TempDir dir;
  Gate gate;
  DatabaseOptions o;
  o.progress = [&](std::string_view stage, uint64_t, uint64_t) {
    if (stage.rfind("backup of", 0) == 0) gate.Stop();
    return true;
  };
  auto db = OpenDb(dir / "db", o);
  Collection* a = Create(*db, "a");
  UpsertOne(*a, "x");

  // The backup holds the catalog while it copies; it stops at its first progress report.
  Status backup;
  std::thread t([&] { backup = db->Backup(dir / "copy"); });
  REQUIRE(gate.WaitEntered());
  auto got = std::async(std::launch::async, [&] { return db->GetCollection("a"); });
  auto names = std::async(std::launch::async, [&] { return db->ListCollections(); });
  const bool found_in_time = got.wait_for(kDeadline) == std::future_status::ready;
  const bool listed_in_time = names.wait_for(kDeadline) == std::future_status::ready;
  gate.Open();
  t.join();
  CHECK_MESSAGE(found_in_time, "GetCollection of an open collection waited for the backup");
  CHECK(listed_in_time);
  CHECK(backup.ok());
  auto c = got.get();
  REQUIRE(c.ok());
  CHECK(*c == a);
  CHECK(names.get().value() == std::vector<std::string>{"a"});
}

TEST_CASE("collections are looked up concurrently with create, drop and sync") {
  TempDir dir;
  auto db = OpenDb(dir / "db");
  Collection* stable = Create(*db, "stable");
  std::atomic<bool> stop{false};
  std::atomic<int> lookups{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r)
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto c = db->GetCollection("stable");
        if (!c.ok() || *c != stable) {
          FAIL("lookup failed: " << c.status().ToString());
          return;
        }
        auto tmp = db->GetCollection("tmp");  // Created and dropped meanwhile.
        if (!tmp.ok() && !tmp.status().IsNotFound()) {
          FAIL("lookup of tmp failed: " << tmp.status().ToString());
          return;
        }
        lookups.fetch_add(1);
      }
    });
  for (int i = 0; i < 20; ++i) {
    Collection* tmp = Create(*db, "tmp");
    UpsertOne(*tmp, "p" + std::to_string(i));
    CHECK(db->Sync().ok());
    CHECK(db->DropCollection("tmp").ok());
  }
  // Every reader made progress while the catalog changed (bounded: fail, not hang).
  const auto until = Clock::now() + kDeadline;
  while (lookups.load() < 100 && Clock::now() < until) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(lookups.load() >= 100);
  CHECK(db->ListCollections().value() == std::vector<std::string>{"stable"});
}
