// Collection metadata and renaming (Database::SetCollectionMetadata / RenameCollection).
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "db_test_util.h"
#include "storage/lmdb.h"
#include "util/files.h"

namespace vectron {
namespace {

using testing::OpenDb;

using testing::TempDir;
using testing::VectorForId;

void Fill(Collection& c, int n) {
  WriteBatch b;
  for (int i = 0; i < n; ++i) {
    std::string id = "p" + std::to_string(i);
    b.Upsert(id, VectorForId(id, 4), "{\"i\":" + std::to_string(i) + "}");
  }
  REQUIRE(c.Write(b).ok());
}


// Every call on `c` that reports a status fails with `code` and a message holding `why`;
// what needs no engine keeps answering.
void CheckClosed(Collection& c, StatusCode code, const std::string& why) {
  auto expect = [&](const Status& s, const char* call) {
    INFO(call, ": ", s.ToString());
    CHECK(s.code() == code);
    CHECK(s.message().find(why) != std::string::npos);
  };
  const std::vector<float> q = VectorForId("p1", 4);
  const std::vector<std::string> ids = {"p1"};
  const Point p{"p9", q, ""};
  WriteBatch b;
  b.Upsert("p9", q);
  SearchParams sp;
  sp.k = 3;
  auto each = [](const Rating&) { return Status::OK(); };
  expect(c.Write(b), "Write");
  expect(c.Upsert(std::span<const Point>(&p, 1)), "Upsert");
  expect(c.Delete(ids), "Delete");
  expect(c.Search(q, sp).status(), "Search");
  expect(c.SearchBatch(q, sp).status(), "SearchBatch");
  expect(c.Get(ids).status(), "Get");
  expect(c.Count().status(), "Count");
  expect(c.Scroll("", 10).status(), "Scroll");
  expect(c.List("", 10).status(), "List");
  expect(c.DeleteWhere(R"({"i": 1})").status(), "DeleteWhere");
  expect(c.CreatePayloadIndex("i", PayloadType::kInteger), "CreatePayloadIndex");
  expect(c.DropPayloadIndex("i"), "DropPayloadIndex");
  expect(c.ListPayloadIndexes().status(), "ListPayloadIndexes");
  expect(c.Stats().status(), "Stats");
  expect(c.Checkpoint(), "Checkpoint");
  expect(c.Compact(), "Compact");
  expect(c.SearchReranked(q, sp, RerankPipeline{}).status(), "SearchReranked");
  expect(c.Feedback("p1", 5), "Feedback");
  expect(c.FeedbackStats("p1").status(), "FeedbackStats");
  expect(c.ExportFeedback(each), "ExportFeedback");
  expect(c.ExportFeedbackPage("", 10, each).status(), "ExportFeedbackPage");
  expect(c.SetDefaultRerank(""), "SetDefaultRerank");
  expect(c.DefaultRerank().status(), "DefaultRerank");
  expect(c.Version().status(), "Version");
  CHECK(c.CacheStats().entries == 0);
  CHECK(c.config().dim == 4);
  CHECK(c.ShardOf("p1") < c.shard_count());
}

CollectionConfig TwoShards() {
  CollectionConfig cfg = testing::SmallConfig(4);
  cfg.shards = 2;
  return cfg;
}

}  // namespace

TEST_CASE("collection metadata is stored, replaced, validated and dropped with the collection") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  REQUIRE(db->CreateCollection("a", testing::SmallConfig(4), R"({"owner": "me", "n": 1})").ok());
  CHECK(db->GetCollectionMetadata("a").value() == R"({"owner":"me","n":1})");
  REQUIRE(db->CreateCollection("b", testing::SmallConfig(4)).ok());
  CHECK(db->GetCollectionMetadata("b").value().empty());
  CHECK(db->SetCollectionMetadata("b", R"({"x":[1,2]})").ok());
  CHECK(db->GetCollectionMetadata("b").value() == R"({"x":[1,2]})");
  // Bad input changes nothing.
  CHECK(db->SetCollectionMetadata("b", "[1]").IsInvalidArgument());
  CHECK(db->SetCollectionMetadata("b", "{\"a\":\"" + std::string(70000, 'x') + "\"}").IsInvalidArgument());
  CHECK(db->GetCollectionMetadata("b").value() == R"({"x":[1,2]})");
  CHECK(db->CreateCollection("c", testing::SmallConfig(4), "nope").status().IsInvalidArgument());
  CHECK(db->GetCollection("c").status().IsNotFound());
  CHECK(db->SetCollectionMetadata("zz", "{}").IsNotFound());
  CHECK(db->GetCollectionMetadata("zz").status().IsNotFound());
  CHECK(db->SetCollectionMetadata("b", "").ok());
  CHECK(db->GetCollectionMetadata("b").value().empty());
  REQUIRE(db->DropCollection("a").ok());
  REQUIRE(db->CreateCollection("a", testing::SmallConfig(4)).ok());
  CHECK(db->GetCollectionMetadata("a").value().empty());
}

TEST_CASE("a renamed collection keeps its points, config and metadata, and survives a reopen") {
  TempDir dir;
  {
    auto db = OpenDb(dir.path());
    CollectionConfig cfg = testing::SmallConfig(4);
    cfg.shards = 2;
    std::shared_ptr<Collection> c = db->CreateCollection("old", cfg, R"({"k":1})").value();
    Fill(*c, 30);
    REQUIRE(db->RenameCollection("old", "new").ok());
    CHECK(db->GetCollection("old").status().IsNotFound());
    std::shared_ptr<Collection> n = db->GetCollection("new").value();
    CHECK(n->name() == "new");
    CHECK(n->Count().value() == 30);
    CHECK(n->config().shards == 2);
    CHECK(db->GetCollectionMetadata("new").value() == R"({"k":1})");
    CHECK(db->ListCollections().value() == std::vector<std::string>{"new"});
    // The old name is free again: a new collection gets its own directory.
    std::shared_ptr<Collection> again = db->CreateCollection("old", testing::SmallConfig(4)).value();
    CHECK(again->Count().value() == 0);
    Fill(*again, 3);
    CHECK(db->GetCollection("new").value()->Count().value() == 30);
    // Errors change nothing.
    CHECK(db->RenameCollection("new", "old").code() == StatusCode::kAlreadyExists);
    CHECK(db->RenameCollection("ghost", "x").IsNotFound());
    CHECK(db->RenameCollection("new", "bad name").IsInvalidArgument());
    CHECK(db->RenameCollection("new", "new").ok());
  }
  {  // A rename moved the catalog to format version 2 (older builds refuse it).
    auto env = storage::LmdbEnv::Open(dir / "catalog", {}).value();
    auto wt = storage::WriteTxn::Begin(env).value();  // Aborted: only read.
    auto meta = wt.OpenDbi("meta");
    REQUIRE(meta.ok());
    CHECK(wt.Get(*meta, "format_version").value().value() == std::to_string(Database::kRenamedFormatVersion));
  }
  auto db = OpenDb(dir.path());  // The reopen keeps both directories (neither is garbage).
  CHECK(db->GetCollection("new").value()->Count().value() == 30);
  CHECK(db->GetCollection("old").value()->Count().value() == 3);
  // Renaming back and forth, dropping, and backing up follow the catalog.
  REQUIRE(db->RenameCollection("new", "third").ok());
  REQUIRE(db->DropCollection("old").ok());
  REQUIRE(db->RenameCollection("third", "old").ok());
  CHECK(db->GetCollection("old").value()->Count().value() == 30);
  TempDir backup_parent;
  REQUIRE(db->Backup(backup_parent / "copy").ok());
  auto copy = OpenDb(backup_parent / "copy");
  CHECK(copy->GetCollection("old").value()->Count().value() == 30);
  CHECK(copy->GetCollectionMetadata("old").value() == R"({"k":1})");
}

TEST_CASE("every call on the handle of a dropped collection returns NotFound naming it") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = db->CreateCollection("docs", TwoShards()).value();
  Fill(*c, 20);
  REQUIRE(c->Feedback("p1", 4).ok());
  std::shared_ptr<Collection> same = db->GetCollection("docs").value();
  CHECK(same == c);  // One handle per open collection.
  REQUIRE(db->DropCollection("docs").ok());
  CHECK(!PathExists(dir / "collections/docs"));
  CheckClosed(*c, StatusCode::kNotFound, "collection \"docs\" was dropped");
  CHECK(c->name() == "docs");
  CHECK(!PathExists(dir / "collections/docs"));  // The failed writes created nothing.
  // A new collection by the same name is another one: the old handle does not reach it.
  std::shared_ptr<Collection> fresh = db->CreateCollection("docs", TwoShards()).value();
  CHECK(fresh != c);
  CHECK(c->Count().status().IsNotFound());
  Fill(*fresh, 2);
  CHECK(fresh->Count().value() == 2);
  CHECK(c->Upsert(std::vector<Point>{{"x", VectorForId("x", 4), ""}}).IsNotFound());
  CHECK(fresh->Count().value() == 2);
}

TEST_CASE("after a rename the old handle returns NotFound and the new one works") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> old = db->CreateCollection("a", testing::SmallConfig(4)).value();
  Fill(*old, 10);
  REQUIRE(db->RenameCollection("a", "b").ok());
  CheckClosed(*old, StatusCode::kNotFound, "collection \"a\" was renamed to \"b\"");
  std::shared_ptr<Collection> renamed = db->GetCollection("b").value();
  CHECK(renamed != old);
  CHECK(renamed->name() == "b");
  CHECK(renamed->Count().value() == 10);
  Fill(*renamed, 12);
  CHECK(renamed->Count().value() == 12);
}

TEST_CASE("a handle that outlives its Database returns FailedPrecondition, and its data was saved") {
  TempDir dir;
  std::shared_ptr<Collection> kept;
  {
    auto db = OpenDb(dir.path());
    kept = db->CreateCollection("docs", TwoShards()).value();
    Fill(*kept, 15);
  }
  CheckClosed(*kept, StatusCode::kFailedPrecondition, "is closed");
  auto db = OpenDb(dir.path());  // The directory is free again, and the points are there.
  CHECK(db->GetCollection("docs").value()->Count().value() == 15);
  CHECK(kept->Count().status().code() == StatusCode::kFailedPrecondition);
}

TEST_CASE("a drop waits for a call in flight, whose later calls on the handle return NotFound") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = db->CreateCollection("docs", testing::SmallConfig(4)).value();
  Fill(*c, 5);
  REQUIRE(c->Feedback("p1", 5).ok());
  std::atomic<bool> in_call{false};
  std::thread dropper;
  Status nested_during_drop;
  bool files_during_drop = false;
  Status exported = c->ExportFeedback([&](const Rating&) {
    CHECK(c->Count().value() == 5);  // A call from inside a call is fine.
    in_call = true;
    dropper = std::thread([&] {
      while (!in_call) std::this_thread::yield();
      CHECK(db->DropCollection("docs").ok());
    });
    // The drop has begun once new calls fail; it cannot end before this call does.
    Status s;
    while ((s = c->Count().status()).ok()) std::this_thread::yield();
    nested_during_drop = s;
    files_during_drop = PathExists(dir / "collections/docs");
    return Status::OK();
  });
  dropper.join();
  CHECK(exported.ok());
  CHECK(nested_during_drop.IsNotFound());
  CHECK(files_during_drop);
  CHECK(!PathExists(dir / "collections/docs"));
}

TEST_CASE("a collection dropped concurrently with searches and upserts through its handles: each call succeeds or "
          "returns NotFound") {
  TempDir dir;
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = db->CreateCollection("docs", TwoShards()).value();
  Fill(*c, 50);
  constexpr int kThreads = 4;
  std::atomic<int> started{0}, other_errors{0}, ok_calls{0};
  std::vector<Status> last(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SearchParams sp;
      sp.k = 5;
      bool counted = false;
      for (int i = 0;; ++i) {
        // Half the threads look the collection up each time (their lookups may find it
        // gone), half keep the handle they were given.
        Result<std::shared_ptr<Collection>> h = t % 2 ? db->GetCollection("docs") : Result<std::shared_ptr<Collection>>(c);
        Status s = h.status();
        if (s.ok()) {
          const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i % 20);
          s = i % 2 ? (*h)->Search(VectorForId(id, 4), sp).status()
                    : (*h)->Upsert(std::vector<Point>{{id, VectorForId(id, 4), ""}});
        }
        if (!s.ok()) {
          if (!s.IsNotFound()) ++other_errors;
          last[t] = s;
          return;
        }
        ++ok_calls;
        if (!counted) ++started, counted = true;
      }
    });
  }
  while (started < kThreads) std::this_thread::yield();  // Every thread is mid-loop.
  REQUIRE(db->DropCollection("docs").ok());
  for (auto& th : threads) th.join();
  CHECK(other_errors == 0);
  CHECK(ok_calls >= kThreads);
  for (const Status& s : last) CHECK(s.IsNotFound());
  CHECK(!PathExists(dir / "collections/docs"));
  CHECK(db->ListCollections().value().empty());
}

}  // namespace vectron
