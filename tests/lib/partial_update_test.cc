// Partial updates (WriteBatch::SetMetadata / UpdateVector), Collection::List (get with
// where / limit / offset) and search offset / score_threshold.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "collection_internal.h"
#include "db_test_util.h"
#include "vectron/shard.h"

namespace vectron {
namespace {

using testing::OpenDb;

using testing::TempDir;
using testing::VectorForId;

std::shared_ptr<Collection> Make(Database& db, uint32_t shards, bool payload_index = false) {
  CollectionConfig cfg = testing::SmallConfig(4);
  cfg.shards = shards;
  auto c = db.CreateCollection("c", cfg);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  if (payload_index) REQUIRE((*c)->CreatePayloadIndex("tag", PayloadType::kKeyword).ok());
  WriteBatch b;
  for (int i = 0; i < 20; ++i) {
    std::string id = "p" + std::to_string(100 + i);
    b.Upsert(id, VectorForId(id, 4), "{\"i\":" + std::to_string(i) + ",\"tag\":\"t" + std::to_string(i % 2) + "\"}");
  }
  REQUIRE((*c)->Write(b).ok());
  return *c;
}

Point GetOne(const Collection& c, const std::string& id) {
  std::vector<std::string> ids = {id};
  auto got = c.Get(ids).value();
  REQUIRE(got[0].has_value());
  return *got[0];
}

}  // namespace

TEST_CASE("partial updates: set and merge metadata keep the vector, update vector keeps metadata") {
  for (uint32_t shards : {1u, 3u}) {
    CAPTURE(shards);
    TempDir dir;
    auto db = OpenDb(dir.path());
    std::shared_ptr<Collection> c = Make(*db, shards, /*payload_index=*/true);
    const std::vector<float> v101 = VectorForId("p101", 4);
    WriteBatch b;
    b.SetMetadata("p101", "{\"tag\":\"new\",\"k\":{\"a\":1,\"b\":2}}");
    b.SetMetadata("p102", "{\"tag\":\"t9\",\"x\":null,\"k\":{\"b\":null,\"c\":3}}", /*merge=*/true);
    b.UpdateVector("p103", std::vector<float>{1, 2, 3, 4});
    b.SetMetadata("p104", "");  // clears
    REQUIRE_MESSAGE(c->Write(b).ok(), c->Write(b).ToString());
    Point p = GetOne(*c, "p101");
    CHECK(p.vector == v101);
    CHECK(p.metadata == "{\"tag\":\"new\",\"k\":{\"a\":1,\"b\":2}}");
    CHECK(GetOne(*c, "p102").metadata == "{\"i\":2,\"tag\":\"t9\",\"k\":{\"c\":3}}");
    CHECK(GetOne(*c, "p102").vector == VectorForId("p102", 4));
    CHECK(GetOne(*c, "p103").vector == std::vector<float>{1, 2, 3, 4});
    CHECK(GetOne(*c, "p103").metadata == "{\"i\":3,\"tag\":\"t1\"}");
    CHECK(GetOne(*c, "p104").metadata.empty());
    // The payload index and filters follow: t0 lost p102 (now t9), p104 (cleared).
    CHECK(c->Count("{\"tag\":\"new\"}").value() == 1);
    CHECK(c->Count("{\"tag\":\"t9\"}").value() == 1);
    CHECK(c->Count("{\"tag\":\"t0\"}").value() == 8);  // 10 less p102 and p104
    // Search sees the new vector and the new metadata.
    SearchParams sp;
    sp.k = 1;
    sp.exact = true;
    sp.include_metadata = true;
    auto hits = c->Search(std::vector<float>{1, 2, 3, 4}, sp).value();
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].id == "p103");
    sp.where = "{\"tag\":\"new\"}";
    CHECK(c->Search(v101, sp).value()[0].id == "p101");
    CHECK(c->Count().value() == 20);
  }
}

TEST_CASE("partial updates: a missing id or bad input refuses the whole batch, nothing written") {
  for (uint32_t shards : {1u, 3u}) {
    CAPTURE(shards);
    TempDir dir;
    auto db = OpenDb(dir.path());
    std::shared_ptr<Collection> c = Make(*db, shards);
    const std::string before = GetOne(*c, "p105").metadata;
    WriteBatch b;
    b.SetMetadata("p105", "{\"changed\":true}");
    b.Upsert("new1", VectorForId("new1", 4));
    b.SetMetadata("nope", "{\"a\":1}", true);
    for (int i = 0; i < 10; ++i) b.Delete("p1" + std::to_string(10 + i));  // spans shards
    Status s = c->Write(b);
    CHECK(s.IsNotFound());
    CHECK(s.message().find("nope") != std::string::npos);
    CHECK(GetOne(*c, "p105").metadata == before);
    CHECK(c->Count().value() == 20);
    WriteBatch uv;
    uv.UpdateVector("missing", std::vector<float>{1, 1, 1, 1});
    CHECK(c->Write(uv).IsNotFound());
    WriteBatch bad;
    bad.SetMetadata("p105", "[1,2]");
    CHECK(c->Write(bad).IsInvalidArgument());
    WriteBatch dim;
    dim.UpdateVector("p105", std::vector<float>{1, 2});
    CHECK(c->Write(dim).IsInvalidArgument());
    // A merge whose result is over the metadata limit.
    WriteBatch big1, big2;
    big1.SetMetadata("p105", "{\"a\":\"" + std::string(kMaxMetadataBytes / 2, 'x') + "\"}", true);
    REQUIRE(c->Write(big1).ok());
    big2.SetMetadata("p105", "{\"b\":\"" + std::string(kMaxMetadataBytes / 2, 'y') + "\"}", true);
    big2.Delete("p110");
    big2.Delete("p111");
    big2.Delete("p112");
    CHECK(c->Write(big2).IsInvalidArgument());
    CHECK(c->Count().value() == 20);
    CHECK(GetOne(*c, "p105").metadata.find("\"b\"") == std::string::npos);
  }
}

TEST_CASE("partial updates survive a reopen (journaled across shards)") {
  TempDir dir;
  {
    auto db = OpenDb(dir.path());
    std::shared_ptr<Collection> c = Make(*db, 3);
    WriteBatch b;
    for (int i = 0; i < 20; ++i) b.SetMetadata("p" + std::to_string(100 + i), "{\"n\":" + std::to_string(i) + "}", true);
    REQUIRE(c->Write(b).ok());
  }
  auto db = OpenDb(dir.path());
  std::shared_ptr<Collection> c = db->GetCollection("c").value();
  CHECK(GetOne(*c, "p107").metadata == "{\"i\":7,\"tag\":\"t1\",\"n\":7}");
  CHECK(GetOne(*c, "p107").vector == VectorForId("p107", 4));
}

TEST_CASE("partial updates through Shard::ApplyLogged: deterministic, a missing id is a rejection") {
  TempDir dir;
  DatabaseOptions o;
  o.map_size_bytes = 64ull << 20;
  auto s = Shard::Open(dir.path(), testing::SmallConfig(2), o).value();
  LoggedCommand up;
  up.batch.Upsert("a", std::vector<float>{1, 0}, "{\"x\":1}");
  REQUIRE(s->ApplyLogged(up, 1, RequestId{}).value().status.ok());
  LoggedCommand merge;
  merge.batch.SetMetadata("a", "{\"y\":2}", true);
  merge.batch.UpdateVector("a", std::vector<float>{0, 1});
  CHECK(s->ApplyLogged(merge, 2, RequestId{}).value().status.IsInvalidArgument());  // id twice
  LoggedCommand ok;
  ok.batch.SetMetadata("a", "{\"y\":2}", true);
  REQUIRE(s->ApplyLogged(ok, 3, RequestId{}).value().status.ok());
  LoggedCommand missing;
  missing.batch.UpdateVector("a", std::vector<float>{0, 1});
  missing.batch.SetMetadata("b", "{}");
  auto out = s->ApplyLogged(missing, 4, RequestId{}).value();
  CHECK(out.status.IsNotFound());
  CHECK(s->applied_index().value() == 4);
  std::vector<std::string> ids = {"a"};
  auto got = s->Get(ids, GetOptions{}).value();
  REQUIRE(got[0]);
  CHECK(got[0]->metadata == "{\"x\":1,\"y\":2}");
  CHECK(got[0]->vector == std::vector<float>{1, 0});
}

TEST_CASE("List: where, limit and offset page in id order") {
  for (uint32_t shards : {1u, 3u}) {
    CAPTURE(shards);
    TempDir dir;
    auto db = OpenDb(dir.path());
    std::shared_ptr<Collection> c = Make(*db, shards);
    auto all = c->List("", 100).value();
    REQUIRE(all.size() == 20);
    for (size_t i = 0; i < all.size(); ++i) CHECK(all[i].id == "p" + std::to_string(100 + i));
    auto page = c->List("", 5, 3).value();
    REQUIRE(page.size() == 5);
    CHECK(page[0].id == "p103");
    CHECK(page[4].id == "p107");
    CHECK_FALSE(page[0].vector.empty());
    auto even = c->List("{\"tag\":\"t0\"}", 3, 2, GetOptions{false, true}).value();
    REQUIRE(even.size() == 3);
    CHECK(even[0].id == "p104");
    CHECK(even[2].id == "p108");
    CHECK(even[0].vector.empty());
    CHECK(even[0].metadata == "{\"i\":4,\"tag\":\"t0\"}");
    CHECK(c->List("", 5, 18).value().size() == 2);
    CHECK(c->List("", 5, 20).value().empty());
    CHECK(c->List("", 5, 1000).value().empty());
    CHECK(c->List("", 0).status().IsInvalidArgument());
    CHECK(c->List("", kMaxListLimit + 1).status().IsInvalidArgument());
    CHECK(c->List("{\"tag\":", 5).status().IsInvalidArgument());
  }
}

TEST_CASE("Search: offset pages the ranking and score_threshold drops far hits") {
  for (uint32_t shards : {1u, 3u}) {
    CAPTURE(shards);
    TempDir dir;
    auto db = OpenDb(dir.path());
    std::shared_ptr<Collection> c = Make(*db, shards);
    const std::vector<float> q = VectorForId("p100", 4);
    SearchParams sp;
    sp.k = 10;
    sp.exact = true;
    auto ten = c->Search(q, sp).value();
    REQUIRE(ten.size() == 10);
    CHECK(ten[0].id == "p100");
    sp.k = 4;
    sp.offset = 3;
    auto page = c->Search(q, sp).value();
    REQUIRE(page.size() == 4);
    for (size_t i = 0; i < 4; ++i) CHECK(page[i].id == ten[i + 3].id);
    sp.offset = 18;
    CHECK(c->Search(q, sp).value().size() == 2);
    sp.offset = 0;
    sp.k = 10;
    sp.score_threshold = ten[4].score;
    auto near = c->Search(q, sp).value();
    CHECK(near.size() >= 5);
    for (const Hit& h : near) CHECK(h.score <= ten[4].score);
    sp.score_threshold = -1.0f;
    CHECK(c->Search(q, sp).value().empty());
    sp.score_threshold.reset();
    sp.offset = -1;
    CHECK(c->Search(q, sp).status().IsInvalidArgument());
    sp.offset = 100000;
    auto r = c->Search(q, sp);
    CHECK_MESSAGE(r.status().IsInvalidArgument(), r.status().ToString());
  }
}

}  // namespace vectron
