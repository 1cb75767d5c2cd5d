// Encodings of the cluster core: shard commands, PD commands and state, the cluster map.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>

#include "net/cluster/cluster_map.h"
#include "net/cluster/codec.h"
#include "net/cluster/pd_state_machine.h"
#include "net/cluster/shard_command.h"
#include "tests/net/cluster/host_harness.h"
#include "vectron/database.h"

namespace vectron::net::cluster {
namespace {

using testing::Cat;

ShardCommand SampleWrite() {
  ShardCommand c;
  c.kind = ShardCommand::Kind::kWrite;
  c.request = RequestId{0xabcdef, 17, 12};
  std::vector<float> v = {1.5f, -2.0f, 3.25f};
  c.batch.Upsert("a", v, "{\"x\":1}");
  c.batch.Delete("b");
  c.batch.Upsert("c", v);
  return c;
}

TEST_CASE("shard commands round-trip through their encoding") {
  ShardCommand w = SampleWrite();
  ShardCommand out;
  REQUIRE(DecodeShardCommand(EncodeShardCommand(w), &out).ok());
  CHECK(out.kind == ShardCommand::Kind::kWrite);
  CHECK(out.request == w.request);
  REQUIRE(out.batch.size() == 3);
  CHECK(out.batch.entries()[0].id == "a");
  CHECK(out.batch.entries()[0].metadata == "{\"x\":1}");
  CHECK(std::vector<float>(out.batch.vector(out.batch.entries()[0]).begin(),
                           out.batch.vector(out.batch.entries()[0]).end()) == std::vector<float>{1.5f, -2.0f, 3.25f});
  CHECK(out.batch.entries()[1].op == WriteBatch::Op::kDelete);

  ShardCommand d;
  d.kind = ShardCommand::Kind::kDeleteWhere;
  d.where = "{\"year\": {\"$lt\": 2000}}";
  REQUIRE(DecodeShardCommand(EncodeShardCommand(d), &out).ok());
  CHECK(out.kind == ShardCommand::Kind::kDeleteWhere);
  CHECK(out.where == d.where);

  ShardCommand p;
  p.kind = ShardCommand::Kind::kCreatePayloadIndex;
  p.field = "meta.tag";
  p.type = PayloadType::kInteger;
  REQUIRE(DecodeShardCommand(EncodeShardCommand(p), &out).ok());
  CHECK(out.field == "meta.tag");
  CHECK(out.type == PayloadType::kInteger);
}

TEST_CASE("partial updates round-trip through the shard command encoding") {
  ShardCommand w;
  w.kind = ShardCommand::Kind::kWrite;
  w.request = RequestId{3, 4, 1};
  w.batch.SetMetadata("a", "{\"x\":1}");
  w.batch.SetMetadata("b", "{\"y\":null}", /*merge=*/true);
  w.batch.UpdateVector("c", std::vector<float>{1.0f, 2.0f});
  w.batch.SetMetadata("d", "");
  ShardCommand out;
  const std::string enc = EncodeShardCommand(w);
  REQUIRE(DecodeShardCommand(enc, &out).ok());
  REQUIRE(out.batch.size() == 4);
  const auto& e = out.batch.entries();
  CHECK((e[0].op == WriteBatch::Op::kSetMetadata && e[0].id == "a" && e[0].metadata == "{\"x\":1}"));
  CHECK((e[1].op == WriteBatch::Op::kMergeMetadata && e[1].metadata == "{\"y\":null}"));
  CHECK(e[2].op == WriteBatch::Op::kUpdateVector);
  CHECK(std::vector<float>(out.batch.vector(e[2]).begin(), out.batch.vector(e[2]).end()) == std::vector<float>{1.0f, 2.0f});
  CHECK((e[3].op == WriteBatch::Op::kSetMetadata && e[3].metadata.empty()));
  for (size_t n = 0; n < enc.size(); ++n)
    CHECK(DecodeShardCommand(enc.substr(0, n), &out).code() == StatusCode::kCorruption);
}

TEST_CASE("a truncated, extended or unknown shard command is Corruption, never a crash") {
  std::string enc = EncodeShardCommand(SampleWrite());
  ShardCommand out;
  for (size_t n = 0; n < enc.size(); ++n)
    CHECK(DecodeShardCommand(enc.substr(0, n), &out).code() == StatusCode::kCorruption);
  CHECK(DecodeShardCommand(enc + "x", &out).code() == StatusCode::kCorruption);
  std::string bad = enc;
  bad[0] = 9;  // version
  CHECK(DecodeShardCommand(bad, &out).code() == StatusCode::kCorruption);
  bad = enc;
  bad[1] = 77;  // kind
  CHECK(DecodeShardCommand(bad, &out).code() == StatusCode::kCorruption);
  // A count that claims more entries than the bytes can hold.
  bad = enc.substr(0, 26) + std::string("\xff\xff\xff\x7f", 4);
  CHECK(DecodeShardCommand(bad, &out).code() == StatusCode::kCorruption);
}

ShardCommand SampleRating() {
  ShardCommand c;
  c.kind = ShardCommand::Kind::kRate;
  c.request = RequestId{0x1234, 5, 3};
  c.rating.point_id = "doc-7";
  c.rating.rating = 4;
  c.rating.query_id = "0123456789abcdef0123456789abcdef";
  c.rating.comment = std::string("useful\0with a NUL", 17);
  c.rating.time_ms = 1764900000123;
  return c;
}

TEST_CASE("a rating round-trips through the shard command encoding") {
  const ShardCommand c = SampleRating();
  ShardCommand out;
  REQUIRE(DecodeShardCommand(EncodeShardCommand(c), &out).ok());
  CHECK(out.kind == ShardCommand::Kind::kRate);
  CHECK(out.request == c.request);
  CHECK(out.rating.point_id == "doc-7");
  CHECK(out.rating.rating == 4);
  CHECK(out.rating.query_id == c.rating.query_id);
  CHECK(out.rating.comment == c.rating.comment);
  CHECK(out.rating.time_ms == 1764900000123);
  // The largest fields pass; empty optional ones too.
  ShardCommand big = c;
  big.rating.point_id = std::string(kMaxIdBytes, 'p');
  big.rating.query_id = std::string(kMaxQueryIdBytes, 'q');
  big.rating.comment = std::string(kMaxFeedbackCommentBytes, 'c');
  REQUIRE(DecodeShardCommand(EncodeShardCommand(big), &out).ok());
  CHECK(out.rating.comment.size() == kMaxFeedbackCommentBytes);
  ShardCommand bare = c;
  bare.rating.query_id.clear();
  bare.rating.comment.clear();
  REQUIRE(DecodeShardCommand(EncodeShardCommand(bare), &out).ok());
  CHECK(out.rating.query_id.empty());
  CHECK(out.rating.comment.empty());
}

TEST_CASE("a truncated or oversize rating command is Corruption, never a crash") {
  const std::string enc = EncodeShardCommand(SampleRating());
  ShardCommand out;
  for (size_t n = 0; n < enc.size(); ++n)
    CHECK(DecodeShardCommand(enc.substr(0, n), &out).code() == StatusCode::kCorruption);
  CHECK(DecodeShardCommand(enc + "x", &out).code() == StatusCode::kCorruption);
  ShardCommand c = SampleRating();
  c.rating.comment = std::string(kMaxFeedbackCommentBytes + 1, 'c');
  CHECK(DecodeShardCommand(EncodeShardCommand(c), &out).code() == StatusCode::kCorruption);
  c = SampleRating();
  c.rating.query_id = std::string(kMaxQueryIdBytes + 1, 'q');
  CHECK(DecodeShardCommand(EncodeShardCommand(c), &out).code() == StatusCode::kCorruption);
  c = SampleRating();
  c.rating.point_id = std::string(kMaxIdBytes + 1, 'p');
  CHECK(DecodeShardCommand(EncodeShardCommand(c), &out).code() == StatusCode::kCorruption);
  c = SampleRating();
  c.rating.time_ms = -1;  // Encoded as a u64 above INT64_MAX.
  CHECK(DecodeShardCommand(EncodeShardCommand(c), &out).code() == StatusCode::kCorruption);
}

TEST_CASE("the write layout of version 1 still decodes; version 2 adds the epoch after the request id") {
  // An entry written before kind 5 existed (and before epochs) decodes to the same command.
  ShardCommand w;
  w.kind = ShardCommand::Kind::kDeleteWhere;
  w.request = RequestId{1, 2, 1};
  w.where = "{}";
  const std::string ids = std::string("\x01\0\0\0\0\0\0\0", 8) + std::string("\x02\0\0\0\0\0\0\0", 8) +
                          std::string("\x01\0\0\0\0\0\0\0", 8);
  const std::string v1 = std::string("\x01\x02", 2) + ids + std::string("\x02\0\0\0", 4) + "{}";
  ShardCommand out;
  REQUIRE(DecodeShardCommand(v1, &out).ok());
  CHECK(out.kind == w.kind);
  CHECK(out.request == w.request);
  CHECK(out.where == "{}");
  CHECK(out.epoch == 0);
  w.epoch = 3;
  const std::string v2 = std::string("\x02\x02", 2) + ids + std::string("\x03\0\0\0\0\0\0\0", 8) +
                         std::string("\x02\0\0\0", 4) + "{}";
  CHECK(EncodeShardCommand(w) == v2);
  // A split (kind 6) round-trips; one whose cut is outside its range is refused.
  ShardCommand sp;
  sp.epoch = 4;
  sp.split = ShardSplit{9, 100, 200, 150, {1, 2, 3}};
  REQUIRE(DecodeShardCommand(EncodeShardCommand(sp), &out).ok());
  CHECK(out.split == sp.split);
  CHECK(out.epoch == 4);
  sp.split->key = 250;
  CHECK(DecodeShardCommand(EncodeShardCommand(sp), &out).code() == StatusCode::kCorruption);
}

TEST_CASE("the cluster map round-trips and refuses truncation") {
  ClusterMap m;
  m.version = 9;
  m.pd_members = {1, 2, 3};
  m.pd_leader = 2;
  m.workers[4] = WorkerInfo{4, "10.0.0.4:7000", false};
  m.collections["docs"] = CollectionInfo{"docs", "{\"dim\":3}", 3, {5, 6}, "{\"owner\":\"me\"}", "{\"mmr\":{\"lambda\":0.5}}"};
  m.collections["bare"] = CollectionInfo{"bare", "{\"dim\":3}", 1, {}, "", ""};
  m.groups[5] = GroupInfo{5, "docs", 0, 2, {1, 4, 7}, 4, {9}, 33, {1, 7, 9}, {{1, 40}, {9, 12}},
                          InitialRange(0, 2).first, InitialRange(0, 2).second, 0};
  m.groups[6] = GroupInfo{6, "docs", 1, 1, {1, 4, 7}, 0, {}, 0, {}, {}, InitialRange(1, 2).first, InitialRange(1, 2).second, 0};
  std::string enc = EncodeClusterMap(m);
  ClusterMap out;
  REQUIRE(DecodeClusterMap(enc, &out).ok());
  CHECK(out == m);
  CHECK(out.GroupOf("docs", 1)->id == 6);
  CHECK(out.GroupOf("docs", 2) == nullptr);
  for (size_t n = 0; n < enc.size(); ++n) CHECK(DecodeClusterMap(enc.substr(0, n), &out).code() == StatusCode::kCorruption);
  // Maps of versions 3 (before replica moves), 2 (before default rerank pipelines) and 1
  // (before collection metadata too) still decode: each lacks its trailing sections.
  m.groups[5].learners.clear();
  m.groups[5].target.clear();
  m.groups[5].conf_index = 0;
  m.groups[5].applied.clear();
  std::string v3 = EncodeClusterMap(m);
  REQUIRE(v3[0] == 4);
  v3[0] = 3;
  v3.resize(v3.size() - 8 - 2 * 24);  // The empty membership and progress sections (u32 0 each), the ranges.
  REQUIRE(DecodeClusterMap(v3, &out).ok());
  CHECK(out == m);
  m.collections["docs"].rerank.clear();
  std::string v2 = EncodeClusterMap(m);
  v2[0] = 2;
  v2.resize(v2.size() - 12 - 2 * 24);  // The empty rerank, membership and progress sections, the ranges.
  REQUIRE(DecodeClusterMap(v2, &out).ok());
  CHECK(out == m);
  m.collections["docs"].metadata.clear();
  std::string v1 = EncodeClusterMap(m);
  v1[0] = 1;
  v1.resize(v1.size() - 16 - 2 * 24);  // The empty metadata, rerank, membership, progress sections, the ranges.
  REQUIRE(DecodeClusterMap(v1, &out).ok());
  CHECK(out == m);
}

TEST_CASE("ShardOfId places ids in the same shard as Collection::ShardOf") {
  char tmpl[] = "/tmp/cluster-shardof-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  {
    auto db = Database::Open(tmpl);
    REQUIRE(db.ok());
    CollectionConfig cfg;
    cfg.dim = 2;
    cfg.shards = 5;
    auto col = (*db)->CreateCollection("c", cfg);
    REQUIRE(col.ok());
    for (int i = 0; i < 200; ++i) {
      std::string id = Cat("point-", i);
      CHECK(ShardOfId(id, 5) == (*col)->ShardOf(id));
    }
  }
  std::filesystem::remove_all(tmpl);
}

// ---- PdStateMachine ----

raft::Entry Entry(uint64_t index, const PdCommand& c) { return raft::Entry{1, index, raft::EntryType::kNormal, EncodePdCommand(c)}; }

PdCommand Register(uint64_t id) {
  PdCommand c;
  c.kind = PdCommand::Kind::kRegisterWorker;
  c.worker = id;
  c.addr = Cat("w", id, ":7000");
  return c;
}

PdCommand Create(std::string name, std::vector<std::vector<uint64_t>> placement, RequestId req) {
  PdCommand c;
  c.kind = PdCommand::Kind::kCreateCollection;
  c.request = req;
  c.name = std::move(name);
  CollectionConfig cfg;
  cfg.dim = 4;
  cfg.shards = static_cast<uint32_t>(placement.size());
  c.config_json = cfg.ToJson();
  c.replication = static_cast<uint32_t>(placement[0].size());
  c.placement = std::move(placement);
  return c;
}

TEST_CASE("the PD state machine registers workers, places collections and checks placements") {
  PdStateMachine sm;
  uint64_t i = 1;
  REQUIRE(sm.Apply({Entry(i++, Register(1)), Entry(i++, Register(2)), Entry(i++, Register(3))}).ok());
  CHECK(sm.map().workers.size() == 3);
  REQUIRE(sm.Apply({Entry(i++, Create("docs", {{1, 2, 3}, {3, 2, 1}}, {7, 1, 0}))}).ok());
  auto out = sm.TakeOutcomes();
  REQUIRE(out.size() == 1);
  CHECK(out[0].status.ok());
  const CollectionInfo& c = sm.map().collections.at("docs");
  REQUIRE(c.groups.size() == 2);
  CHECK(sm.map().groups.at(c.groups[1]).replicas == std::vector<uint64_t>{1, 2, 3});
  CHECK(sm.map().version == 4);

  struct Bad {
    PdCommand cmd;
    StatusCode code;
  };
  std::vector<Bad> bad = {
      {Create("docs", {{1, 2, 3}}, {7, 2, 0}), StatusCode::kAlreadyExists},
      {Create("bad name!", {{1}}, {7, 3, 0}), StatusCode::kInvalidArgument},
      {Create("x", {{1, 1, 2}}, {7, 4, 0}), StatusCode::kInvalidArgument},
      {Create("x", {{1, 2, 9}}, {7, 5, 0}), StatusCode::kFailedPrecondition},
  };
  for (Bad& b : bad) {
    REQUIRE(sm.Apply({Entry(i++, b.cmd)}).ok());
    auto o = sm.TakeOutcomes();
    REQUIRE(o.size() == 1);
    CHECK(o[0].status.code() == b.code);
  }
  // A config whose shard count disagrees with the placement.
  PdCommand mismatch = Create("y", {{1}, {2}}, {7, 6, 0});
  CollectionConfig one;
  one.dim = 4;
  mismatch.config_json = one.ToJson();
  REQUIRE(sm.Apply({Entry(i++, mismatch)}).ok());
  CHECK(sm.TakeOutcomes()[0].status.code() == StatusCode::kInvalidArgument);
  CHECK(sm.map().collections.size() == 1);
  CHECK(sm.applied_index() == i - 1);
}

TEST_CASE("a retried PD command applies once and answers its first outcome") {
  PdStateMachine sm;
  REQUIRE(sm.Apply({Entry(1, Register(1))}).ok());
  PdCommand create = Create("docs", {{1}}, {5, 1, 0});
  PdCommand drop;
  drop.kind = PdCommand::Kind::kDropCollection;
  drop.name = "docs";
  drop.request = {5, 2, 0};
  REQUIRE(sm.Apply({Entry(2, create), Entry(3, drop), Entry(4, create)}).ok());
  auto out = sm.TakeOutcomes();
  REQUIRE(out.size() == 3);
  CHECK(out[0].status.ok());
  CHECK(out[1].status.ok());
  CHECK(out[2].status.ok());                   // The retry answers OK again...
  CHECK(sm.map().collections.count("docs") == 0);  // ...and does not re-create it.
  // Another request for the same name is a new command.
  REQUIRE(sm.Apply({Entry(5, Create("docs", {{1}}, {5, 3, 0}))}).ok());
  CHECK(sm.TakeOutcomes()[0].status.ok());
  CHECK(sm.map().collections.count("docs") == 1);
}

TEST_CASE("a PD rename moves the collection and its shard groups to the new name, or changes nothing") {
  PdStateMachine sm;
  REQUIRE(sm.Apply({Entry(1, Register(1)), Entry(2, Create("docs", {{1}, {1}}, {5, 1, 0})),
                    Entry(3, Create("other", {{1}}, {5, 2, 0}))})
              .ok());
  sm.TakeOutcomes();
  const std::vector<uint64_t> groups = sm.map().collections.at("docs").groups;
  auto rename = [](std::string from, std::string to, uint64_t seq) {
    PdCommand c;
    c.kind = PdCommand::Kind::kRenameCollection;
    c.name = std::move(from);
    c.addr = std::move(to);
    c.request = {6, seq, 0};
    return c;
  };
  // The command survives its encoding.
  PdCommand decoded;
  REQUIRE(DecodePdCommand(EncodePdCommand(rename("docs", "papers", 1)), &decoded).ok());
  CHECK(decoded.kind == PdCommand::Kind::kRenameCollection);
  CHECK(decoded.addr == "papers");
  REQUIRE(sm.Apply({Entry(4, rename("docs", "other", 1)), Entry(5, rename("nope", "x", 2)),
                    Entry(6, rename("docs", "bad name", 3)), Entry(7, rename("docs", "papers", 4))})
              .ok());
  auto out = sm.TakeOutcomes();
  REQUIRE(out.size() == 4);
  CHECK(out[0].status.code() == StatusCode::kAlreadyExists);
  CHECK(out[1].status.code() == StatusCode::kNotFound);
  CHECK(out[2].status.code() == StatusCode::kInvalidArgument);
  CHECK(out[3].status.ok());
  CHECK(sm.map().collections.count("docs") == 0);
  REQUIRE(sm.map().collections.count("papers") == 1);
  CHECK(sm.map().collections.at("papers").groups == groups);  // Same groups, same data.
  CHECK(sm.map().collections.at("papers").name == "papers");
  for (uint64_t g : groups) CHECK(sm.map().groups.at(g).collection == "papers");
  CHECK(sm.map().GroupOf("papers", 1) != nullptr);
  CHECK(sm.map().version == 7);
  // Collection metadata: set, refused when too big or not an object, removed.
  auto set = [](std::string name, std::string metadata, uint64_t seq) {
    PdCommand c;
    c.kind = PdCommand::Kind::kSetCollectionMetadata;
    c.name = std::move(name);
    c.addr = std::move(metadata);
    c.request = {7, seq, 0};
    return c;
  };
  REQUIRE(sm.Apply({Entry(8, set("papers", "{\"a\":1}", 1)), Entry(9, set("papers", "[1]", 2)),
                    Entry(10, set("nope", "{}", 4))})
              .ok());
  out = sm.TakeOutcomes();
  REQUIRE(out.size() == 3);
  CHECK(out[0].status.ok());
  CHECK(out[1].status.code() == StatusCode::kInvalidArgument);
  CHECK(out[2].status.code() == StatusCode::kNotFound);
  // Too big: refused before it is proposed (a command's text fields hold 64 KiB).
  CHECK(CheckCollectionMetadata("{\"x\":\"" + std::string(kMaxCollectionMetadataBytes, 'x') + "\"}").code() ==
        StatusCode::kInvalidArgument);
  CHECK(sm.map().collections.at("papers").metadata == "{\"a\":1}");
  REQUIRE(sm.Apply({Entry(12, set("papers", "", 5))}).ok());
  CHECK(sm.map().collections.at("papers").metadata.empty());
  // A default rerank pipeline: set (it round-trips as a command), refused for a missing
  // collection or a text that is not an object, kept by a rename, removed.
  auto rr = [](std::string name, std::string pipeline, uint64_t seq) {
    PdCommand c;
    c.kind = PdCommand::Kind::kSetDefaultRerank;
    c.name = std::move(name);
    c.addr = std::move(pipeline);
    c.request = {8, seq, 0};
    return c;
  };
  REQUIRE(DecodePdCommand(EncodePdCommand(rr("papers", "{\"mmr\":{\"lambda\":0.5}}", 1)), &decoded).ok());
  CHECK(decoded.kind == PdCommand::Kind::kSetDefaultRerank);
  CHECK(decoded.addr == "{\"mmr\":{\"lambda\":0.5}}");
  sm.TakeOutcomes();
  REQUIRE(sm.Apply({Entry(13, rr("papers", "{\"mmr\":{\"lambda\":0.5}}", 1)), Entry(14, rr("nope", "{}", 2)),
                    Entry(15, rr("papers", "[1]", 3))})
              .ok());
  out = sm.TakeOutcomes();
  REQUIRE(out.size() == 3);
  CHECK(out[0].status.ok());
  CHECK(out[1].status.code() == StatusCode::kNotFound);
  CHECK(out[2].status.code() == StatusCode::kInvalidArgument);
  CHECK(sm.map().version == 13);
  REQUIRE(sm.Apply({Entry(16, rename("papers", "books", 9))}).ok());
  CHECK(sm.map().collections.at("books").rerank == "{\"mmr\":{\"lambda\":0.5}}");
  REQUIRE(sm.Apply({Entry(17, rr("books", "", 4))}).ok());
  CHECK(sm.map().collections.at("books").rerank.empty());
}

TEST_CASE("PD auth records change all together and only at the expected version") {
  PdStateMachine sm;
  PdCommand put;
  put.kind = PdCommand::Kind::kAuthWrite;
  put.auth_changes = {AuthChange{"user/alice", "hash1"}, AuthChange{"key/k1", "alice"}};
  REQUIRE(sm.Apply({Entry(1, put)}).ok());
  CHECK(sm.auth().at("user/alice") == "hash1");
  CHECK(sm.auth().size() == 2);
  CHECK(sm.auth_version() == 1);
  CHECK(sm.map().auth_version == 1);
  PdCommand stale = put;
  stale.auth_changes = {AuthChange{"user/alice", "hash2"}};
  stale.if_version = 99;
  stale.request = {1, 1, 0};
  REQUIRE(sm.Apply({Entry(2, stale)}).ok());
  CHECK(sm.TakeOutcomes()[0].status.code() == StatusCode::kAborted);
  CHECK(sm.auth().at("user/alice") == "hash1");
  // Deleting a user and its key in one change; a bad change fails the whole batch.
  PdCommand bad;
  bad.kind = PdCommand::Kind::kAuthWrite;
  bad.auth_changes = {AuthChange{"user/alice", std::nullopt}, AuthChange{"", "x"}};
  bad.request = {1, 2, 0};
  REQUIRE(sm.Apply({Entry(3, bad)}).ok());
  CHECK(sm.TakeOutcomes()[0].status.code() == StatusCode::kInvalidArgument);
  CHECK(sm.auth().size() == 2);
  PdCommand del;
  del.kind = PdCommand::Kind::kAuthWrite;
  del.auth_changes = {AuthChange{"user/alice", std::nullopt}, AuthChange{"key/k1", std::nullopt}};
  del.if_version = 1;
  del.request = {1, 3, 0};
  REQUIRE(sm.Apply({Entry(4, del)}).ok());
  CHECK(sm.TakeOutcomes()[0].status.ok());
  CHECK(sm.auth().empty());
  CHECK(sm.auth_version() == 4);
}

TEST_CASE("a PD snapshot restores the same state, request table included") {
  PdStateMachine sm;
  PdCommand put;
  put.kind = PdCommand::Kind::kAuthWrite;
  put.auth_changes = {AuthChange{"k", "v"}};
  REQUIRE(sm.Apply({Entry(1, Register(1)), Entry(2, Register(2)), Entry(3, Create("docs", {{1, 2}}, {9, 1, 0})),
                    Entry(4, put)})
              .ok());
  auto data = sm.SnapshotData(4);
  REQUIRE(data.ok());
  CHECK(sm.SnapshotData(3).status().code() == StatusCode::kFailedPrecondition);
  PdStateMachine copy;
  raft::Snapshot snap;
  snap.metadata.index = 4;
  snap.data = *data;
  REQUIRE(copy.InstallSnapshot(snap).ok());
  CHECK(copy.map() == sm.map());
  CHECK(copy.auth() == sm.auth());
  CHECK(copy.applied_index() == 4);
  // The request table came along: the retry is recognised on the copy too.
  REQUIRE(copy.Apply({Entry(5, Create("docs", {{1, 2}}, {9, 1, 0}))}).ok());
  CHECK(copy.TakeOutcomes()[0].status.ok());
  // And group ids continue where they were.
  REQUIRE(copy.Apply({Entry(6, Create("more", {{1}}, {9, 2, 0}))}).ok());
  CHECK(copy.map().collections.at("more").groups[0] == copy.map().collections.at("docs").groups[0] + 1);
  // A truncated snapshot is refused and changes nothing.
  snap.data.resize(snap.data.size() - 3);
  CHECK(copy.InstallSnapshot(snap).code() == StatusCode::kCorruption);
  CHECK(copy.applied_index() == 6);
}

TEST_CASE("PD commands round-trip and refuse truncation") {
  PdCommand c = Create("docs", {{1, 2}, {2, 3}}, {3, 4, 5});
  c.auth_changes = {AuthChange{"key", "value"}, AuthChange{"gone", std::nullopt}};
  c.if_version = 8;
  std::string enc = EncodePdCommand(c);
  PdCommand out;
  REQUIRE(DecodePdCommand(enc, &out).ok());
  CHECK(out.placement == c.placement);
  CHECK(out.request == c.request);
  CHECK(out.if_version == 8);
  CHECK(out.auth_changes == c.auth_changes);
  for (size_t n = 0; n < enc.size(); ++n) CHECK(DecodePdCommand(enc.substr(0, n), &out).code() == StatusCode::kCorruption);
}

TEST_CASE("a group assignment round-trips, and group.meta files of version 1 still decode") {
  GroupAssignment a{GroupInfo{6, "docs", 2, 3, {1, 2, 3}, 0, {4}, 17, {1, 2, 4}, {}, 5, 77, 3}, "{\"dim\":3}", 40};
  std::string enc = EncodeGroupAssignment(a);
  GroupAssignment out;
  REQUIRE(DecodeGroupAssignment(enc, &out).ok());
  CHECK(out.group == a.group);
  CHECK(out.config_json == a.config_json);
  CHECK(out.bootstrap_index == 40);
  for (size_t n = 0; n < enc.size(); ++n) CHECK(DecodeGroupAssignment(enc.substr(0, n), &out).code() == StatusCode::kCorruption);
  // Version 1 (before replica moves) ends after the config: no learners, conf index 0.
  a.group.learners.clear();
  a.group.target.clear();
  a.group.conf_index = 0;
  a.group.range_start = a.group.range_end = a.group.split_from = 0;
  a.bootstrap_index = 0;
  std::string v1 = EncodeGroupAssignment(a);
  v1[0] = 1;
  v1.resize(v1.size() - 16 - 32);  // Two empty id lists (u32 0), the conf index, the range, split_from, bootstrap index.
  REQUIRE(DecodeGroupAssignment(v1, &out).ok());
  CHECK(out.group == a.group);
}

}  // namespace
}  // namespace vectron::net::cluster
