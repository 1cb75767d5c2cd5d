#include <doctest/doctest.h>

#include "storage/keys.h"
#include "storage/lmdb.h"
#include "test_util.h"

using namespace vectron;
using namespace vectron::storage;

TEST_CASE("WriteTxn aborts when dropped uncommitted") {
  testing::TempDir dir;
  auto env = LmdbEnv::Open(dir.path(), {}).value();
  Dbi d;
  {
    auto wt = WriteTxn::Begin(env).value();
    d = wt.OpenDbi("t").value();
    REQUIRE(wt.Put(d, "a", "1").ok());
    REQUIRE(std::move(wt).Commit().ok());
  }
  {
    auto wt = WriteTxn::Begin(env).value();
    REQUIRE(wt.Put(d, "b", "2").ok());
  }  // dropped: aborted
  auto rt = ReadTxn::Begin(env).value();
  CHECK(rt.Get(d, "a").value() == std::optional<std::string_view>("1"));
  CHECK_FALSE(rt.Get(d, "b").value().has_value());
  CHECK(rt.Count(d).value() == 1);
}

TEST_CASE("a read transaction is a snapshot that ignores later commits") {
  testing::TempDir dir;
  auto env = LmdbEnv::Open(dir.path(), {}).value();
  auto wt = WriteTxn::Begin(env).value();
  Dbi d = wt.OpenDbi("t").value();
  REQUIRE(wt.Put(d, "k", "old").ok());
  REQUIRE(std::move(wt).Commit().ok());
  auto rt = ReadTxn::Begin(env).value();
  auto wt2 = WriteTxn::Begin(env).value();
  REQUIRE(wt2.Put(d, "k", "new").ok());
  REQUIRE(std::move(wt2).Commit().ok());
  CHECK(*rt.Get(d, "k").value() == "old");
}

TEST_CASE("a read transaction's id is the last commit it sees") {
  testing::TempDir dir;
  auto env = LmdbEnv::Open(dir.path(), {}).value();
  auto wt = WriteTxn::Begin(env).value();
  Dbi d = wt.OpenDbi("t").value();
  REQUIRE(std::move(wt).Commit().ok());
  auto before = ReadTxn::Begin(env).value();
  CHECK(before.id() == env.LastTxnId());
  auto wt2 = WriteTxn::Begin(env).value();
  REQUIRE(wt2.Put(d, "k", "v").ok());
  REQUIRE(std::move(wt2).Commit().ok());
  CHECK(env.LastTxnId() == before.id() + 1);
  auto after = ReadTxn::Begin(env).value();
  CHECK(after.id() == env.LastTxnId());
}

TEST_CASE("cursors iterate keys in byte order and big-endian u64 keys sort numerically") {
  testing::TempDir dir;
  auto env = LmdbEnv::Open(dir.path(), {}).value();
  auto wt = WriteTxn::Begin(env).value();
  Dbi d = wt.OpenDbi("t").value();
  for (uint64_t v : {300ull, 2ull, 70000ull, 1ull}) REQUIRE(wt.Put(d, EncodeU64(v), "").ok());
  REQUIRE(std::move(wt).Commit().ok());
  auto rt = ReadTxn::Begin(env).value();
  auto c = rt.OpenCursor(d).value();
  std::vector<uint64_t> got;
  for (bool ok = c.First().value(); ok; ok = c.Next().value()) got.push_back(DecodeU64(c.key()));
  CHECK(got == std::vector<uint64_t>{1, 2, 300, 70000});
  CHECK(c.Seek(EncodeU64(3)).value());
  CHECK(DecodeU64(c.key()) == 300);
}

TEST_CASE("a cursor walk deleting rows visits every row once: after a delete, Next is the row that followed") {
  testing::TempDir dir;
  auto env = LmdbEnv::Open(dir.path(), {}).value();
  auto wt = WriteTxn::Begin(env).value();
  Dbi d = wt.OpenDbi("t").value();
  for (uint64_t v = 1; v <= 2000; ++v) REQUIRE(wt.Put(d, EncodeU64(v), std::string(v % 300, 'x')).ok());
  auto c = wt.OpenCursor(d).value();
  std::vector<uint64_t> seen;
  for (bool more = c.First().value(); more; more = c.Next().value()) {
    seen.push_back(DecodeU64(c.key()));
    if (seen.back() % 3 != 0) REQUIRE(c.Delete().ok());  // Runs of two deletes, across pages.
  }
  CHECK(seen.size() == 2000);
  REQUIRE(std::move(wt).Commit().ok());
  auto rt = ReadTxn::Begin(env).value();
  CHECK(rt.Count(d).value() == 666);
  auto rc = rt.OpenCursor(d).value();
  uint64_t want = 3;
  for (bool more = rc.First().value(); more; more = rc.Next().value(), want += 3) CHECK(DecodeU64(rc.key()) == want);
}

TEST_CASE("a full map is reported as ResourceExhausted and the commit changes nothing") {
  testing::TempDir dir;
  EnvOptions eo;
  eo.map_size_bytes = 1 << 20;
  auto env = LmdbEnv::Open(dir.path(), eo).value();
  auto wt = WriteTxn::Begin(env).value();
  Dbi d = wt.OpenDbi("t").value();
  REQUIRE(std::move(wt).Commit().ok());
  auto big = WriteTxn::Begin(env).value();
  Status s;
  std::string value(4096, 'x');
  for (int i = 0; i < 1000 && s.ok(); ++i) s = big.Put(d, EncodeU64(i), value);
  CHECK(s.code() == StatusCode::kResourceExhausted);
}

TEST_CASE("opening a missing directory is NotFound") {
  auto env = LmdbEnv::Open("/nonexistent/vectron/dir", {});
  CHECK(env.status().IsNotFound());
}

TEST_CASE("a cursor may outlive the commit of its write transaction") {
  testing::TempDir dir;
  auto env = LmdbEnv::Open(dir.path(), {}).value();
  auto wt = WriteTxn::Begin(env).value();
  Dbi d = wt.OpenDbi("t").value();
  REQUIRE(wt.Put(d, "a", "1").ok());
  auto c = wt.OpenCursor(d).value();
  CHECK(c.First().value());
  REQUIRE(std::move(wt).Commit().ok());
}  // ~Cursor must not close what the commit freed (ASan checks).
