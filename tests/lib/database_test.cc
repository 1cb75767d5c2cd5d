// Database: the catalog's locking (an open collection is found without waiting for a
// create, drop, sync or backup) and opening a directory again in a forked child.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "db_test_util.h"

using namespace vectron;
using testing::TempDir;
using testing::VectorForId;

namespace {

using testing::OpenDb;

using Clock = std::chrono::steady_clock;
constexpr auto kDeadline = std::chrono::seconds(20);

std::shared_ptr<Collection> Create(Database& db, const std::string& name, uint32_t dim = 4) {
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
  std::shared_ptr<Collection> a = Create(*db, "a");
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
  std::shared_ptr<Collection> stable = Create(*db, "stable");
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
    std::shared_ptr<Collection> tmp = Create(*db, "tmp");
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

namespace {

// Runs `child` in a fork()ed process; its exit code, or -1 if it did not end within the
// deadline (then it is killed).
int RunForked(const std::function<int()>& child) {
  const pid_t pid = fork();
  if (pid == 0) _exit(child());
  REQUIRE(pid > 0);
  auto exited = std::async(std::launch::async, [pid] {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  });
  if (exited.wait_for(kDeadline) != std::future_status::ready) kill(pid, SIGKILL);  // Hung: fail.
  const int status = exited.get();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("a forked child may open a directory its parent has open, once") {
  TempDir dir;
  auto db = OpenDb(dir / "db");
  UpsertOne(*Create(*db, "a"), "x");
  // The parent's Database is inherited but must not be used (or destroyed) in the child:
  // the child opens its own.
  const int code = RunForked([&] {
    auto mine = Database::Open(dir / "db");
    if (!mine.ok()) return 10;
    if (Database::Open(dir / "db").status().code() != StatusCode::kFailedPrecondition) return 11;
    auto a = (*mine)->GetCollection("a");
    if (!a.ok() || (*a)->Count().value() != 1) return 12;
    return 0;
  });
  CHECK(code == 0);
  // The parent's own registration is untouched by the child's open and close.
  CHECK(Database::Open(dir / "db").status().code() == StatusCode::kFailedPrecondition);
  db.reset();
  CHECK(Database::Open(dir / "db").ok());
}
