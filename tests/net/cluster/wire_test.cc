#include <doctest/doctest.h>

#include "net/cluster/wire.h"
#include "tests/net/cluster/host_harness.h"

namespace vectron::net::cluster {
namespace {

// One message of every kind, with every field set.
std::vector<Envelope> Samples() {
  std::vector<Envelope> out;
  raft::Message m;
  m.type = raft::MessageType::kSnapshot;
  m.from = 1;
  m.to = 2;
  m.term = 3;
  m.log_term = 4;
  m.index = 5;
  m.commit = 6;
  m.reject = true;
  m.reject_hint = 7;
  m.entries = {raft::Entry{3, 5, raft::EntryType::kNormal, std::string("a\0b", 3)},
               raft::Entry{3, 6, raft::EntryType::kConfChange, "cc"}};
  m.snapshot.metadata = {9, 3, raft::ConfState{{1, 2}, {4}}};
  m.snapshot.data = "descriptor";
  m.offset = 10;
  m.done = true;
  m.total = 11;
  m.seq = 12;
  m.sent_tick = 13;
  m.force = true;
  m.context = "ctx";
  m.hibernate = true;
  out.push_back(RaftBatch{{GroupMessage{7, m}, GroupMessage{8, raft::Message{}}}, 14});
  out.push_back(SnapshotFetchRequest{1, 2, 3, 4, 5});
  SnapshotFetchResponse sfr;
  sfr.group = 1;
  sfr.status = Status::FailedPrecondition("expired");
  sfr.data = std::string(1000, 'x');
  sfr.done = true;
  sfr.term = 5;
  sfr.conf = raft::ConfState{{1, 2, 3}, {7}};
  out.push_back(sfr);
  ShardWriteRequest w;
  w.rpc_id = 1;
  w.group = 2;
  w.epoch = 3;
  w.command.request = {4, 5, 6};
  std::vector<float> v = {1, 2};
  w.command.batch.Upsert("id", v, "{\"a\":1}");
  w.command.batch.Delete("gone");
  out.push_back(w);
  out.push_back(ShardWriteResponse{1, Status::Unavailable("not leader"), 3, true, 9, true, ShardRoute{4, 0, 6}});
  ShardReadRequest r;
  r.rpc_id = 1;
  r.kind = ShardReadRequest::Kind::kSearch;
  r.read.max_staleness_ms = 500;
  r.ids = {"a", "b"};
  r.get.include_vector = false;
  r.query = {0.5f, -1};
  r.search.k = 7;
  r.search.ef = 30;
  r.search.exact = true;
  r.search.where = "{\"x\":1}";
  r.search.filter_strategy = FilterStrategy::kGraph;
  r.where = "{}";
  out.push_back(r);
  ShardReadResponse rr;
  rr.rpc_id = 2;
  rr.points = {Point{"a", {1, 2}, "{}"}, std::nullopt};
  rr.hits = {Hit{"h", 0.25f, {3}, "m"}};
  rr.count = 5;
  rr.applied_index = 6;
  out.push_back(rr);
  out.push_back(PdHeartbeat{1, 2, "host:1", {ReplicaReport{3, 4, true, 5, {1, 2, 3}, {4}, 9, 2, 77, 1000, 123456789}, ReplicaReport{3, 4, false, 5, {}, {}, 0, 0, 0, 0, 0}}});
  PdHeartbeatResponse hr;
  hr.rpc_id = 1;
  hr.registered = true;
  hr.assignments = {GroupAssignment{GroupInfo{5, "docs", 1, 2, {1, 2, 3}, 0, {}, 0, {}, {}, 0, 0, 0}, "{\"dim\":3}", 0},
                    GroupAssignment{GroupInfo{6, "docs", 2, 2, {1, 2, 3}, 0, {4}, 17, {1, 2, 4}, {}, 9, 99, 5}, "{\"dim\":3}", 7}};
  hr.splits = {ShardSplitOrder{6, 2, ShardSplit{12, 9, 99, 50, {1, 2, 3}}}};
  hr.transfers = {LeaderTransfer{5, 2}, LeaderTransfer{7, 3}};
  hr.conf_changes = {ConfChangeOrder{6, raft::ConfChangeType::kAddVoter, 4},
                     ConfChangeOrder{6, raft::ConfChangeType::kRemoveVoter, 3}};
  hr.again_ms = 50;
  out.push_back(hr);
  out.push_back(PdMapRequest{1, 2});
  PdMapResponse mr;
  mr.rpc_id = 3;
  ClusterMap map;
  map.version = 4;
  map.workers[1] = WorkerInfo{1, "a:1", true};
  mr.map = map;
  out.push_back(mr);
  PdAdminRequest ar;
  ar.rpc_id = 1;
  ar.request = {2, 3, 1};
  ar.kind = PdAdminRequest::Kind::kDropCollection;
  ar.name = "docs";
  ar.config_json = "{}";
  ar.replication = 3;
  out.push_back(ar);
  out.push_back(PdAdminResponse{1, Status::AlreadyExists("x"), 2, 3});
  PdAuthRequest au;
  au.rpc_id = 1;
  au.kind = PdAuthRequest::Kind::kCommit;
  au.request = {1, 2, 0};
  au.if_version = 4;
  au.changes = {AuthChange{"user/a", "rec"}, AuthChange{"key/b", std::nullopt}};
  out.push_back(au);
  PdAuthResponse aur;
  aur.rpc_id = 2;
  aur.version = 9;
  aur.records = {{"user/a", "rec"}};
  out.push_back(aur);
  return out;
}

TEST_CASE("every cluster message survives the wire unchanged") {
  std::vector<Envelope> samples = Samples();
  CHECK(samples.size() == std::variant_size_v<Envelope>);
  NodeId from{NodeKind::kGateway, 42};
  for (const Envelope& e : samples) {
    std::string enc = EncodeEnvelope(from, e);
    NodeId got_from;
    Envelope got;
    REQUIRE_MESSAGE(DecodeEnvelope(enc, &got_from, &got).ok(), EnvelopeName(e));
    CHECK(got_from == from);
    CHECK(got.index() == e.index());
    // Encoding is deterministic: equal bytes after a round trip mean equal values.
    CHECK_MESSAGE(EncodeEnvelope(from, got) == enc, EnvelopeName(e));
  }
  // Spot checks of fields that re-encoding alone would not prove were read.
  NodeId f;
  Envelope got;
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, samples[0]), &f, &got).ok());
  const raft::Message& m = std::get<RaftBatch>(got).messages[0].msg;
  CHECK(m.entries[0].data == std::string("a\0b", 3));
  CHECK(m.snapshot.metadata.conf_state.learners == std::vector<uint64_t>{4});
  CHECK(m.hibernate);
  CHECK(std::get<RaftBatch>(got).incarnation == 14);
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, samples[2]), &f, &got).ok());
  CHECK(std::get<SnapshotFetchResponse>(got).term == 5);
  CHECK(std::get<SnapshotFetchResponse>(got).conf == raft::ConfState{{1, 2, 3}, {7}});
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, samples[6]), &f, &got).ok());
  CHECK_FALSE(std::get<ShardReadResponse>(got).points[1].has_value());
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, samples[4]), &f, &got).ok());
  CHECK(std::get<ShardWriteResponse>(got).duplicate);
  CHECK(std::get<ShardWriteResponse>(got).applied_by == ShardRoute{4, 0, 6});
  for (const Envelope& e : samples)
    if (std::holds_alternative<PdHeartbeatResponse>(e)) {
      REQUIRE(DecodeEnvelope(EncodeEnvelope(from, e), &f, &got).ok());
      CHECK(std::get<PdHeartbeatResponse>(got).again_ms == 50);
    }
  // Without them (what a peer older than these fields sends: absent from the table).
  ShardWriteResponse plain;
  plain.rpc_id = 7;
  plain.deleted = 3;
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, plain), &f, &got).ok());
  CHECK_FALSE(std::get<ShardWriteResponse>(got).duplicate);
  CHECK_FALSE(std::get<ShardWriteResponse>(got).applied_by.has_value());
  CHECK(std::get<ShardWriteResponse>(got).deleted == 3);
  SnapshotFetchResponse unplaced;  // A copy whose position its sender did not know.
  unplaced.index = 9;
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, unplaced), &f, &got).ok());
  CHECK(std::get<SnapshotFetchResponse>(got).term == 0);
  CHECK(std::get<SnapshotFetchResponse>(got).conf.voters.empty());
}

TEST_CASE("a damaged or hostile cluster frame is Corruption, never a crash") {
  SplitMixRng rng(1);
  NodeId from{NodeKind::kWorker, 1};
  int refused = 0;
  for (const Envelope& e : Samples()) {
    std::string enc = EncodeEnvelope(from, e);
    NodeId f;
    Envelope out;
    for (size_t n = 0; n < enc.size(); n += 1 + enc.size() / 64) {
      // Refused, or (when only trailing padding was cut) the very same message.
      Status s = DecodeEnvelope(enc.substr(0, n), &f, &out);
      CHECK((s.code() == StatusCode::kCorruption || (s.ok() && EncodeEnvelope(f, out) == enc)));
      refused += s.code() == StatusCode::kCorruption;
    }
    for (int i = 0; i < 200; ++i) {
      std::string bad = enc;
      for (int k = 0; k < 3; ++k) bad[rng.Below(bad.size())] = static_cast<char>(rng.Next());
      Status s = DecodeEnvelope(bad, &f, &out);  // Either decodes or is refused cleanly.
      CHECK((s.ok() || s.code() == StatusCode::kCorruption));
    }
  }
  CHECK(refused > 0);
  NodeId f;
  Envelope out;
  CHECK(DecodeEnvelope("", &f, &out).code() == StatusCode::kCorruption);
  CHECK(DecodeEnvelope(std::string(kMaxWireBytes + 1, 'x'), &f, &out).code() == StatusCode::kCorruption);
}

TEST_CASE("a scroll page request and answer survive the wire: cursor, limit, filter and 'more'") {
  ShardReadRequest sr;
  sr.rpc_id = 3;
  sr.kind = ShardReadRequest::Kind::kScroll;
  sr.after = "p7";
  sr.limit = 25;
  sr.where = "{\"v\":1}";
  sr.get.include_vector = true;
  ShardReadResponse sp;
  sp.rpc_id = 4;
  sp.points = {Point{"p8", {1}, ""}, Point{"p9", {2}, "{}"}};
  sp.more = true;
  NodeId from{NodeKind::kGateway, 1}, f;
  Envelope got;
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, Envelope(sr)), &f, &got).ok());
  const auto& r = std::get<ShardReadRequest>(got);
  CHECK(r.kind == ShardReadRequest::Kind::kScroll);
  CHECK(r.after == "p7");
  CHECK(r.limit == 25);
  CHECK(r.where == "{\"v\":1}");
  CHECK(r.get.include_vector);
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, Envelope(sp)), &f, &got).ok());
  const auto& a = std::get<ShardReadResponse>(got);
  CHECK(a.more);
  REQUIRE(a.points.size() == 2);
  CHECK(a.points[1]->id == "p9");
}

TEST_CASE("a search's unchanged_if_applied and its 'unchanged' answer survive the wire") {
  ShardReadRequest sr;
  sr.rpc_id = 5;
  sr.kind = ShardReadRequest::Kind::kSearch;
  sr.unchanged_if_applied = 42;
  ShardReadResponse sp;
  sp.rpc_id = 5;
  sp.applied_index = 42;
  sp.unchanged = true;
  NodeId from{NodeKind::kGateway, 1}, f;
  Envelope got;
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, Envelope(sr)), &f, &got).ok());
  CHECK(std::get<ShardReadRequest>(got).unchanged_if_applied == 42);
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, Envelope(sp)), &f, &got).ok());
  CHECK(std::get<ShardReadResponse>(got).unchanged);
  CHECK(std::get<ShardReadResponse>(got).applied_index == 42);
  // Left out, they keep their old meaning: search, and a full answer.
  sr.unchanged_if_applied = 0;
  sp.unchanged = false;
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, Envelope(sr)), &f, &got).ok());
  CHECK(std::get<ShardReadRequest>(got).unchanged_if_applied == 0);
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, Envelope(sp)), &f, &got).ok());
  CHECK_FALSE(std::get<ShardReadResponse>(got).unchanged);
}

TEST_CASE("a read's lone hint survives the wire, and is off when left out") {
  ShardReadRequest sr;
  sr.rpc_id = 5;
  sr.kind = ShardReadRequest::Kind::kSearch;
  sr.lone = true;
  NodeId from{NodeKind::kGateway, 1}, f;
  Envelope got;
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, Envelope(sr)), &f, &got).ok());
  CHECK(std::get<ShardReadRequest>(got).lone);
  sr.lone = false;
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, Envelope(sr)), &f, &got).ok());
  CHECK_FALSE(std::get<ShardReadRequest>(got).lone);
}

TEST_CASE("an index listing request and answer survive the wire; a bad index type is refused") {
  ShardReadRequest sr;
  sr.rpc_id = 5;
  sr.kind = ShardReadRequest::Kind::kIndexes;
  ShardReadResponse sp;
  sp.rpc_id = 6;
  sp.indexes = {PayloadIndexInfo{"genre", PayloadType::kKeyword}, PayloadIndexInfo{"meta.year", PayloadType::kInteger}};
  NodeId from{NodeKind::kWorker, 2}, f;
  Envelope got;
  REQUIRE(DecodeEnvelope(EncodeEnvelope(from, Envelope(sr)), &f, &got).ok());
  CHECK(std::get<ShardReadRequest>(got).kind == ShardReadRequest::Kind::kIndexes);
  std::string enc = EncodeEnvelope(from, Envelope(sp));
  REQUIRE(DecodeEnvelope(enc, &f, &got).ok());
  const auto& a = std::get<ShardReadResponse>(got);
  REQUIRE(a.indexes.size() == 2);
  CHECK(a.indexes[1].field == "meta.year");
  CHECK(a.indexes[1].type == PayloadType::kInteger);
  // An index type no build knows (here 9): refused whole, never cast into the enum.
  sp.indexes[0].type = static_cast<PayloadType>(9);
  CHECK(DecodeEnvelope(EncodeEnvelope(from, Envelope(sp)), &f, &got).code() == StatusCode::kCorruption);
}

}  // namespace
}  // namespace vectron::net::cluster
