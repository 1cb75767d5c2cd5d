// Collection metadata and renaming (Database::SetCollectionMetadata / RenameCollection).
#include <doctest/doctest.h>

#include <string>
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
    Collection* c = db->CreateCollection("old", cfg, R"({"k":1})").value();
    Fill(*c, 30);
    REQUIRE(db->RenameCollection("old", "new").ok());
    CHECK(db->GetCollection("old").status().IsNotFound());
    Collection* n = db->GetCollection("new").value();
    CHECK(n->name() == "new");
    CHECK(n->Count().value() == 30);
    CHECK(n->config().shards == 2);
    CHECK(db->GetCollectionMetadata("new").value() == R"({"k":1})");
    CHECK(db->ListCollections().value() == std::vector<std::string>{"new"});
    // The old name is free again: a new collection gets its own directory.
    Collection* again = db->CreateCollection("old", testing::SmallConfig(4)).value();
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

}  // namespace vectron
