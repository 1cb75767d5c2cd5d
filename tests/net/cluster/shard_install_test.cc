// ShardStateMachine's snapshot path (docs/cluster.md, "Snapshots"): descriptors, staged
// copies fetched from a peer, installing them as a new generation of the shard's
// directory, flushing for log compaction, and what a restart finds.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <tuple>

#include "net/cluster/shard_state_machine.h"
#include "net/cluster/snapshot_transfer.h"
#include "tests/net/cluster/host_harness.h"
#include "tests/net/temp_dir.h"
#include "util/files.h"

namespace vectron::net::cluster {
namespace {

namespace fs = std::filesystem;
using net::testing::ScopedTempDir;
using testing::Cat;

CollectionConfig Config() {
  CollectionConfig c;
  c.dim = 4;
  c.metric = Metric::kL2;
  return c;
}

DatabaseOptions ShardOptions() {
  DatabaseOptions o;
  o.durability = Durability::kNoSync;
  o.map_size_bytes = 64ull << 20;
  o.threads = 1;
  return o;
}

// A term-1 log entry at `index` holding `cmd`.
raft::Entry EntryOf(uint64_t index, const ShardCommand& cmd) {
  return raft::Entry{1, index, raft::EntryType::kNormal, EncodeShardCommand(cmd)};
}

// A log entry at `index` that upserts point "p<index>".
raft::Entry Upsert(uint64_t index) {
  ShardCommand cmd;
  cmd.kind = LoggedCommand::Kind::kWrite;
  const float v[4] = {static_cast<float>(index), 1, 2, 3};
  cmd.batch.Upsert(Cat("p", index), v);
  return EntryOf(index, cmd);
}

Status ApplyUpserts(ShardStateMachine& sm, uint64_t from, uint64_t to) {
  std::vector<raft::Entry> entries;
  for (uint64_t i = from; i <= to; ++i) entries.push_back(Upsert(i));
  return sm.Apply(entries);
}

uint64_t Count(ShardStateMachine& sm) {
  auto n = sm.shard()->Count();
  REQUIRE(n.ok());
  return *n;
}

// Copies `source`'s shard into `dest`'s staging directory as a fetch would: a snapshot
// copy streamed through SnapshotArchive into a SnapshotWriter in small chunks.
uint64_t Stage(ShardStateMachine& source, ShardStateMachine& dest, const std::string& tmp) {
  auto index = source.SnapshotTo(tmp + "/copy");
  REQUIRE(index.ok());
  auto archive = SnapshotArchive::Scan(tmp + "/copy", *index);
  REQUIRE(archive.ok());
  auto writer = SnapshotWriter::Create(dest.staging_dir());
  REQUIRE(writer.ok());
  for (uint64_t off = 0; off < archive->total();) {
    std::string chunk;
    REQUIRE(archive->Read(off, 4096, &chunk).ok());
    REQUIRE((*writer)->Append(chunk).ok());
    off += chunk.size();
  }
  REQUIRE((*writer)->complete());
  fs::remove_all(tmp + "/copy");
  dest.SetStaged(*index);
  return *index;
}

raft::Message SnapMessage(uint64_t index) {
  raft::Message m;
  m.type = raft::MessageType::kSnapshot;
  m.snapshot.metadata.index = index;
  m.snapshot.metadata.term = 1;
  return m;
}

raft::Snapshot Snap(ShardStateMachine& sm, uint64_t index) {
  raft::Snapshot s;
  s.metadata.index = index;
  s.metadata.term = 1;
  auto data = sm.SnapshotData(index);
  REQUIRE(data.ok());
  s.data = *data;
  return s;
}

// A leader's shard (in a/) and a follower's (in b/), with entries 1..leader_n and
// 1..follower_n applied (one point each).
struct LeaderAndFollower {
  ScopedTempDir tmp;
  std::unique_ptr<ShardStateMachine> leader, follower;
  explicit LeaderAndFollower(const char* name, uint64_t leader_n = 30, uint64_t follower_n = 0) : tmp(name) {
    auto l = ShardStateMachine::Open(tmp.path + "/a/shard", Config(), ShardOptions());
    auto f = ShardStateMachine::Open(tmp.path + "/b/shard", Config(), ShardOptions());
    REQUIRE(l.ok());
    REQUIRE(f.ok());
    leader = std::move(l).value();
    follower = std::move(f).value();
    REQUIRE(ApplyUpserts(*leader, 1, leader_n).ok());
    if (follower_n > 0) REQUIRE(ApplyUpserts(*follower, 1, follower_n).ok());
  }
};

TEST_CASE("a replica installs a peer's staged shard copy as a new generation, reads in flight keep the old one") {
  LeaderAndFollower pair("shard-install");
  const ScopedTempDir& tmp = pair.tmp;
  ShardStateMachine& a = *pair.leader;
  ShardStateMachine& b = *pair.follower;

  // Without a staged copy the snapshot message waits, and a fetch from its sender starts.
  std::vector<std::pair<NodeId, uint64_t>> fetches;
  b.set_fetch([&](const NodeId& from, uint64_t index) { fetches.emplace_back(from, index); });
  const NodeId leader_id{NodeKind::kWorker, 1};
  raft::Message waiting = SnapMessage(20);
  CHECK_FALSE(b.SnapshotReady(leader_id, &waiting));
  REQUIRE(fetches.size() == 1);
  CHECK(fetches[0].first == leader_id);
  CHECK(fetches[0].second == 20);
  // Installing without the copy is refused and changes nothing.
  Status refused = b.InstallSnapshot(Snap(a, 20));
  CHECK(refused.code() == StatusCode::kFailedPrecondition);
  CHECK(b.applied_index() == 0);

  const uint64_t staged = Stage(a, b, tmp.path);
  CHECK(staged == 30);  // The copy is at the leader's applied index, past the descriptor's.
  raft::Message ready = SnapMessage(20);
  CHECK(b.SnapshotReady(leader_id, &ready));
  CHECK(ready.snapshot.metadata.index == 20);  // Its position unknown: stepped as it came.
  std::shared_ptr<Shard> old = b.shard();  // A read in flight.
  REQUIRE(b.InstallSnapshot(Snap(a, 20)).ok());
  CHECK(b.applied_index() == 30);
  CHECK(b.durable_applied_index() == 30);
  CHECK(b.snapshots_installed() == 1);
  CHECK(Count(b) == 30);
  auto got = b.shard()->Get(std::vector<std::string>{"p7"}, GetOptions{});
  REQUIRE(got.ok());
  REQUIRE((*got)[0].has_value());
  CHECK((*got)[0]->vector[0] == 7.0f);
  CHECK(fs::exists(tmp.path + "/b/shard.1"));
  CHECK_FALSE(fs::exists(b.staging_dir()));
  // The old generation serves its reader until it lets go, then its directory goes.
  auto old_count = old->Count();
  REQUIRE(old_count.ok());
  CHECK(*old_count == 0);
  CHECK(fs::exists(tmp.path + "/b/shard"));
  old.reset();
  CHECK_FALSE(fs::exists(tmp.path + "/b/shard"));

  // Raft re-delivers entries past the snapshot's index: those the copy has are skipped.
  REQUIRE(ApplyUpserts(b, 21, 35).ok());
  CHECK(b.applied_index() == 35);
  CHECK(Count(b) == 35);

  // A restart opens the installed generation.
  pair.follower.reset();
  auto reopened = ShardStateMachine::Open(tmp.path + "/b/shard", Config(), ShardOptions());
  REQUIRE(reopened.ok());
  CHECK((*reopened)->applied_index() == 35);
  CHECK(Count(**reopened) == 35);
}

TEST_CASE("a staged copy past the snapshot, with its sender's term and membership, is stepped as a snapshot at its own index") {
  LeaderAndFollower pair("shard-install-forward");
  const ScopedTempDir& tmp = pair.tmp;
  ShardStateMachine& a = *pair.leader;
  ShardStateMachine& b = *pair.follower;
  const NodeId leader_id{NodeKind::kWorker, 1};
  // The leader's MsgSnap: its log's snapshot at 20, the descriptor in one chunk.
  auto msg = [&] {
    raft::Message m = SnapMessage(20);
    m.snapshot = Snap(a, 20);
    m.snapshot.metadata.conf_state = raft::ConfState{{1, 2, 3}, {}};
    m.offset = 0;
    m.total = m.snapshot.data.size();
    m.done = true;
    return m;
  };
  REQUIRE(Stage(a, b, tmp.path) == 30);
  const raft::ConfState at30{{1, 2, 3}, {4}};

  // What cannot be rewritten is stepped as it came: a membership Raft could not take, a
  // snapshot in several chunks, a position of unknown term.
  b.SetStaged(30, 2, raft::ConfState{{3, 1, 2}, {4}});
  raft::Message m = msg();
  CHECK(b.SnapshotReady(leader_id, &m));
  CHECK(m.snapshot.metadata.index == 20);
  b.SetStaged(30, 2, raft::ConfState{{1, 2, 3}, {3}});
  m = msg();
  CHECK(b.SnapshotReady(leader_id, &m));
  CHECK(m.snapshot.metadata.index == 20);
  b.SetStaged(30, 2, at30);
  m = msg();
  m.done = false;
  CHECK(b.SnapshotReady(leader_id, &m));
  CHECK(m.snapshot.metadata.index == 20);
  b.SetStaged(30, 0, at30);
  m = msg();
  CHECK(b.SnapshotReady(leader_id, &m));
  CHECK(m.snapshot.metadata.index == 20);

  // Known: the message becomes a snapshot at 30, with the sender's term and membership
  // there, and installs as one (Raft then goes on from 31).
  b.SetStaged(30, 2, at30);
  m = msg();
  CHECK(b.SnapshotReady(leader_id, &m));
  CHECK(m.snapshot.metadata.index == 30);
  CHECK(m.snapshot.metadata.term == 2);
  CHECK(m.snapshot.metadata.conf_state == at30);
  CHECK(m.snapshot.data == Snap(a, 30).data);
  CHECK(m.total == m.snapshot.data.size());
  CHECK(m.done);
  REQUIRE(b.InstallSnapshot(m.snapshot).ok());
  CHECK(b.applied_index() == 30);
  CHECK(Count(b) == 30);
}

TEST_CASE("a shard snapshot with a foreign descriptor is refused") {
  ScopedTempDir tmp("shard-install");
  auto sm = ShardStateMachine::Open(tmp.path + "/shard", Config(), ShardOptions());
  REQUIRE(sm.ok());
  raft::Snapshot s;
  s.metadata.index = 5;
  s.data = "not a descriptor";
  Status st = (*sm)->InstallSnapshot(s);
  CHECK(st.code() == StatusCode::kFailedPrecondition);
  CHECK(st.message().find("descriptor") != std::string::npos);
  // A descriptor names its index: one for another index is foreign too.
  s.data = *(*sm)->SnapshotData(4);
  CHECK((*sm)->InstallSnapshot(s).code() == StatusCode::kFailedPrecondition);
  CHECK((*sm)->applied_index() == 0);
}

TEST_CASE("a crash before the generation file is written leaves the old generation current") {
  LeaderAndFollower pair("shard-install", 12, 3);
  const ScopedTempDir& tmp = pair.tmp;
  Stage(*pair.leader, *pair.follower, tmp.path);
  pair.follower.reset();
  // What a crash in the middle of an install leaves: the copy renamed, no generation file.
  fs::rename(tmp.path + "/b/shard.staging", tmp.path + "/b/shard.1");
  auto reopened = ShardStateMachine::Open(tmp.path + "/b/shard", Config(), ShardOptions());
  REQUIRE(reopened.ok());
  CHECK((*reopened)->applied_index() == 3);
  CHECK(Count(**reopened) == 3);
  CHECK_FALSE(fs::exists(tmp.path + "/b/shard.1"));
  // A staged copy is a leftover too.
  Stage(*pair.leader, **reopened, tmp.path);
  reopened->reset();
  auto again = ShardStateMachine::Open(tmp.path + "/b/shard", Config(), ShardOptions());
  REQUIRE(again.ok());
  CHECK_FALSE(fs::exists(tmp.path + "/b/shard.staging"));
  CHECK((*again)->applied_index() == 3);
  // A generation file naming a missing generation is corruption, not an empty shard.
  again->reset();
  REQUIRE(WriteFileAtomic(tmp.path + "/b/shard.gen", "4").ok());
  auto bad = ShardStateMachine::Open(tmp.path + "/b/shard", Config(), ShardOptions());
  CHECK(bad.status().code() == StatusCode::kCorruption);
}

TEST_CASE("the durable applied index advances with each flush, every flush_entries entries") {
  ScopedTempDir tmp("shard-install");
  auto sm = ShardStateMachine::Open(tmp.path + "/shard", Config(), ShardOptions(), /*flush_entries=*/10);
  REQUIRE(sm.ok());
  REQUIRE(ApplyUpserts(**sm, 1, 9).ok());
  CHECK((*sm)->applied_index() == 9);
  CHECK((*sm)->durable_applied_index() == 0);  // kNoSync: flushed when opened, not since.
  REQUIRE(ApplyUpserts(**sm, 10, 10).ok());
  CHECK((*sm)->durable_applied_index() == 10);
  REQUIRE(ApplyUpserts(**sm, 11, 25).ok());
  CHECK((*sm)->durable_applied_index() == 25);
  CHECK((*sm)->SnapshotData(25).value().find("index=25") != std::string::npos);
}

// A split entry (docs/cluster.md, "Splits") at `index` of a group owning [start, end) at `epoch`.
raft::Entry SplitEntry(uint64_t index, uint64_t epoch, uint64_t start, uint64_t end, uint64_t key) {
  ShardCommand cmd;
  cmd.epoch = epoch;
  cmd.split = ShardSplit{7, start, end, key, {1, 2, 3}};
  return EntryOf(index, cmd);
}

TEST_CASE("a split keeps the lower half, builds the new group's shard from the upper half, and is applied once") {
  ScopedTempDir tmp("shard-split");
  const std::string dir = tmp.path + "/g1/shard";
  REQUIRE(MakeDirs(tmp.path + "/g1").ok());
  auto opened = ShardStateMachine::Open(dir, Config(), ShardOptions(), 1000, ShardRoute{0, 0, 1});
  REQUIRE(opened.ok());
  ShardStateMachine& sm = **opened;
  REQUIRE(ApplyUpserts(sm, 1, 200).ok());
  const uint64_t key = RangeMiddle(0, 0);
  std::vector<std::string> upper;
  for (uint64_t i = 1; i <= 200; ++i)
    if (RouteKey(Cat("p", i), 1) >= key) upper.push_back(Cat("p", i));
  REQUIRE(upper.size() > 50);
  REQUIRE(upper.size() < 150);
  std::string built_at;
  uint64_t found_index = 0;
  int founds = 0;
  ShardStateMachine::SplitHooks hooks;
  hooks.exists = [&](uint64_t ng) { CHECK(ng == 7); return founds > 0; };
  hooks.staging = [&](uint64_t) { return tmp.path + "/g7.split"; };
  hooks.found = [&](const ShardSplit& sp, uint64_t index, const std::string& built) {
    CHECK(sp.new_group == 7);
    CHECK(sp.voters == std::vector<uint64_t>{1, 2, 3});
    ++founds;
    found_index = index;
    built_at = Cat(tmp.path, "/g7-", index);
    return RenamePath(built, built_at);
  };
  sm.set_split_hooks(hooks);
  // A write routed with another epoch is rejected (stale), recorded by index only.
  REQUIRE(sm.Apply({SplitEntry(201, 1, 0, 0, key)}).ok());
  CHECK(founds == 1);
  CHECK(found_index == 201);
  CHECK(sm.applied_index() == 201);
  CHECK(sm.route() == ShardRoute{0, key, 2});
  CHECK(Count(sm) == 200 - upper.size());
  // What the split hands over: the parent's shard as it was before the split entry.
  {
    auto copy = Shard::Open(built_at, Config(), ShardOptions());
    REQUIRE(copy.ok());
    CHECK(*(*copy)->Count() == 200);
    CHECK(*(*copy)->applied_index() == 200);
  }
  // Opened as the new group's (at the split's index): the upper half, at the split's index,
  // with its own route; a second open changes nothing; a copy at another index is refused.
  CHECK(ShardStateMachine::Open(built_at, Config(), ShardOptions(), 1000, ShardRoute{key, 0, 1}, 203).status().code() ==
        StatusCode::kCorruption);
  for (int open = 0; open < 2; ++open) {
    auto copy = ShardStateMachine::Open(built_at, Config(), ShardOptions(), 1000, ShardRoute{key, 0, 1}, 201);
    REQUIRE(copy.ok());
    CHECK(Count(**copy) == upper.size());
    CHECK((*copy)->applied_index() == 201);
    CHECK((*copy)->durable_applied_index() == 201);
    CHECK((*copy)->route() == ShardRoute{key, 0, 1});
    CHECK(*(*copy)->shard()->Route() == ShardRoute{key, 0, 1});
    auto got = (*copy)->shard()->Get(upper, GetOptions{});
    REQUIRE(got.ok());
    for (const auto& p : *got) CHECK(p.has_value());
  }
  // The same split again (ordered twice) changes nothing but the index.
  REQUIRE(sm.Apply({SplitEntry(202, 1, 0, 0, key)}).ok());
  CHECK(founds == 1);
  CHECK(sm.route() == ShardRoute{0, key, 2});
  // A write routed before the split (epoch 1) is refused as stale; with epoch 2 it applies.
  ShardCommand w;
  w.epoch = 1;
  w.request = RequestId{9, 1, 0};
  const float v[4] = {1, 1, 1, 1};
  w.batch.Upsert("late", v);
  REQUIRE(sm.Apply({EntryOf(203, w)}).ok());
  auto outs = sm.TakeOutcomes();
  REQUIRE(outs.size() == 1);
  CHECK(outs[0].stale_epoch);
  CHECK(Count(sm) == 200 - upper.size());
  w.epoch = 2;
  REQUIRE(sm.Apply({EntryOf(204, w)}).ok());
  outs = sm.TakeOutcomes();
  REQUIRE(outs.size() == 1);
  CHECK_FALSE(outs[0].stale_epoch);
  CHECK(outs[0].status.ok());
  // The route is the shard's: a reopen finds it (not the map's initial one).
  opened->reset();
  auto again = ShardStateMachine::Open(dir, Config(), ShardOptions(), 1000, ShardRoute{0, 0, 1});
  REQUIRE(again.ok());
  CHECK((*again)->route() == ShardRoute{0, key, 2});
  // It splits again: its copy carries its own recorded route ([0, key) at epoch 2), and
  // the new group's open records the new group's ({key2, key} at epoch 1), not that one.
  const uint64_t key2 = RangeMiddle(0, key);
  (*again)->set_split_hooks(hooks);
  founds = 0;
  REQUIRE((*again)->Apply({SplitEntry(205, 2, 0, key, key2)}).ok());
  REQUIRE(founds == 1);
  CHECK((*again)->route() == ShardRoute{0, key2, 3});
  const uint64_t left = Count(**again);  // Keys in [0, key2) (the keys of these ids cluster).
  auto second = ShardStateMachine::Open(built_at, Config(), ShardOptions(), 1000, ShardRoute{key2, key, 1}, 205);
  REQUIRE(second.ok());
  CHECK((*second)->route() == ShardRoute{key2, key, 1});
  CHECK(*(*second)->shard()->Route() == ShardRoute{key2, key, 1});
  uint64_t want_left = 0, want_second = 0;
  for (uint64_t i = 1; i <= 201; ++i) {
    const uint64_t k = RouteKey(i <= 200 ? Cat("p", i) : std::string("late"), 1);
    want_left += k < key2;
    want_second += k >= key2 && k < key;
  }
  CHECK(left == want_left);
  CHECK(Count(**second) == want_second);
}

// Group 1's shard (the whole key space, epoch 1) under tmp/g1, with entries 1..50 applied.
std::unique_ptr<ShardStateMachine> FiftyPointsInGroupOne(const ScopedTempDir& tmp) {
  REQUIRE(MakeDirs(tmp.path + "/g1").ok());
  auto opened = ShardStateMachine::Open(tmp.path + "/g1/shard", Config(), ShardOptions(), 1000, ShardRoute{0, 0, 1});
  REQUIRE(opened.ok());
  REQUIRE(ApplyUpserts(**opened, 1, 50).ok());
  return std::move(opened).value();
}

// A write of one point, routed with `epoch`.
ShardCommand UpsertRoutedAt(uint64_t epoch, const char* id) {
  ShardCommand cmd;
  cmd.epoch = epoch;
  const float v[4] = {9, 9, 9, 9};
  cmd.batch.Upsert(id, v);
  return cmd;
}

TEST_CASE("reads are served at a split's index, and at the no-op entries after it, while the split applies") {
  ScopedTempDir tmp("shard-split-readable");
  std::unique_ptr<ShardStateMachine> opened = FiftyPointsInGroupOne(tmp);
  ShardStateMachine& sm = *opened;
  const uint64_t key = RangeMiddle(0, 0);
  // After the split (51): a leader's no-op (52), a write routed with the split's epoch
  // (53, stale once the split has applied), then one with the new epoch (54), which changes
  // the shard: reads past 53 wait for the apply.
  const ShardCommand stale = UpsertRoutedAt(1, "stale"), fresh = UpsertRoutedAt(2, "fresh");
  const std::vector<raft::Entry> batch = {SplitEntry(51, 1, 0, 0, key), raft::Entry{1, 52, raft::EntryType::kNormal, ""},
                                          EntryOf(53, stale), EntryOf(54, fresh)};
  int readable_calls = 0;
  uint64_t readable_at_found = 0, applied_at_found = 0;
  ShardStateMachine::SplitHooks hooks;
  hooks.exists = [](uint64_t) { return false; };
  hooks.staging = [&](uint64_t) { return tmp.path + "/g7.split"; };
  hooks.found = [&](const ShardSplit&, uint64_t, const std::string& built) {
    // In the middle of the split's apply, after its copy: nothing of it is applied yet.
    readable_at_found = sm.readable_index();
    applied_at_found = sm.applied_index();
    return RenamePath(built, tmp.path + "/g7");
  };
  hooks.readable = [&] {
    ++readable_calls;
    CHECK(sm.applied_index() == 50);
    CHECK(sm.readable_index() == 53);
    CHECK(sm.route() == ShardRoute{0, 0, 1});  // Still the whole range: reads see it all.
  };
  sm.set_split_hooks(hooks);
  CHECK(sm.readable_index() == 50);
  REQUIRE(sm.Apply(batch).ok());
  CHECK(readable_calls == 1);
  CHECK(applied_at_found == 50);
  CHECK(readable_at_found == 53);
  CHECK(sm.applied_index() == 54);
  CHECK(sm.readable_index() == 54);
  CHECK(sm.route() == ShardRoute{0, key, 2});
  // A split ordered again (no longer this route's) takes no early reads.
  REQUIRE(sm.Apply({SplitEntry(55, 1, 0, 0, key), raft::Entry{1, 56, raft::EntryType::kNormal, ""}}).ok());
  CHECK(readable_calls == 1);
  CHECK(sm.readable_index() == 56);
}

TEST_CASE("while a split applies, the reads' run extends over the no-op entries committed after its batch") {
  ScopedTempDir tmp("shard-split-extend");
  std::unique_ptr<ShardStateMachine> opened = FiftyPointsInGroupOne(tmp);
  ShardStateMachine& sm = *opened;
  const ShardCommand stale = UpsertRoutedAt(1, "stale"), fresh = UpsertRoutedAt(2, "fresh");
  const raft::Entry conf{1, 54, raft::EntryType::kConfChange, ""};
  // Committed while the copies run (read from the log by the worker).
  const std::vector<raft::Entry> later = {EntryOf(53, stale), conf, EntryOf(55, fresh), EntryOf(56, stale)};
  uint64_t extended = 0, gapped = 0, new_term = 0;
  ShardStateMachine::SplitHooks hooks;
  hooks.exists = [](uint64_t) { return false; };
  hooks.staging = [&](uint64_t) { return tmp.path + "/g7.split"; };
  hooks.found = [&](const ShardSplit&, uint64_t, const std::string& built) {
    gapped = sm.ExtendReadable({EntryOf(54, stale)});  // Not the next index: ignored.
    // A later term's first entry (a new leader's, empty) ends the run.
    new_term = sm.ExtendReadable({raft::Entry{2, 53, raft::EntryType::kNormal, ""}, EntryOf(54, stale)});
    extended = sm.ExtendReadable(later);
    return RenamePath(built, tmp.path + "/g7");
  };
  sm.set_split_hooks(hooks);
  REQUIRE(sm.Apply({SplitEntry(51, 1, 0, 0, RangeMiddle(0, 0)), raft::Entry{1, 52, raft::EntryType::kNormal, ""}}).ok());
  CHECK(gapped == 52);
  CHECK(new_term == 52);
  CHECK(extended == 54);  // Through the membership change; the write with the new epoch stops it.
  CHECK(sm.applied_index() == 52);
  CHECK(sm.ExtendReadable({EntryOf(53, stale)}) == 54);  // Not the next index.
  // Once everything up to the run's end has applied, nothing extends it.
  REQUIRE(sm.Apply(later).ok());
  CHECK(sm.ExtendReadable({EntryOf(57, stale)}) == 56);
  CHECK(sm.readable_index() == 56);
}

TEST_CASE("a split of a shard with a graph hands it over in memory; the new group marks its lower half and saves it later") {
  ScopedTempDir tmp("shard-split-graph");
  CollectionConfig cfg = Config();
  cfg.flat_max_points = 0;  // A graph from the first point.
  const std::string dir = tmp.path + "/g1/shard";
  REQUIRE(MakeDirs(tmp.path + "/g1").ok());
  auto opened = ShardStateMachine::Open(dir, cfg, ShardOptions(), 1000, ShardRoute{0, 0, 1});
  REQUIRE(opened.ok());
  ShardStateMachine& sm = **opened;
  REQUIRE(ApplyUpserts(sm, 1, 200).ok());
  const uint64_t key = RangeMiddle(0, 0);
  std::vector<std::string> upper;
  for (uint64_t i = 1; i <= 200; ++i)
    if (RouteKey(Cat("p", i), 1) >= key) upper.push_back(Cat("p", i));
  const std::string built_at = tmp.path + "/g7";
  ShardStateMachine::SplitHooks hooks;
  hooks.exists = [&](uint64_t) { return PathExists(built_at); };
  hooks.staging = [&](uint64_t) { return tmp.path + "/g7.split"; };
  hooks.found = [&](const ShardSplit&, uint64_t, const std::string& built) { return RenamePath(built, built_at); };
  sm.set_split_hooks(hooks);
  auto graph_files = [](const std::string& d) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(d))
      if (e.path().filename().string().rfind("index-", 0) == 0) names.insert(e.path().filename().string());
    return names;
  };
  const std::set<std::string> parent_graphs = graph_files(dir);
  REQUIRE(sm.Apply({SplitEntry(201, 1, 0, 0, key)}).ok());
  // Nothing was saved for the split: neither the parent's graph nor a file in the copy.
  CHECK(graph_files(dir) == parent_graphs);
  CHECK(graph_files(built_at).empty());
  CHECK(PathExists(built_at + "/graph.handoff"));
  // The new group opens with the graph handed over: its lower half is marked deleted (a
  // rebuild would have no deleted slots), and a search finds only upper points.
  auto copy = ShardStateMachine::Open(built_at, cfg, ShardOptions(), 1000, ShardRoute{key, 0, 1}, 201);
  REQUIRE(copy.ok());
  CHECK_FALSE(PathExists(built_at + "/graph.handoff"));
  CHECK(Count(**copy) == upper.size());
  auto stats = (*copy)->shard()->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->deleted_slots == 200 - upper.size());
  const std::string& probe = upper.front();
  const float q[4] = {static_cast<float>(std::stoull(probe.substr(1))), 1, 2, 3};
  SearchParams sp;
  sp.k = 3;
  auto hits = (*copy)->shard()->Search(q, sp);
  REQUIRE(hits.ok());
  REQUIRE_FALSE(hits->empty());
  CHECK((*hits)[0].id == probe);
  for (const Hit& h : *hits) CHECK(RouteKey(h.id, 1) >= key);
  // The parent's graph is its own: writes to one are not seen by the other.
  REQUIRE(ApplyUpserts(sm, 202, 210).ok());
  CHECK(Count(sm) == 200 - upper.size() + 9);
  CHECK(Count(**copy) == upper.size());
  // The next checkpoint saves the handed graph (there was no file to skip it for), and a
  // reopen loads it with its marks.
  REQUIRE((*copy)->shard()->Checkpoint().ok());
  CHECK(graph_files(built_at).size() == 1);
  copy->reset();
  auto reopened = ShardStateMachine::Open(built_at, cfg, ShardOptions(), 1000, ShardRoute{key, 0, 1}, 201);
  REQUIRE(reopened.ok());
  CHECK(Count(**reopened) == upper.size());
  stats = (*reopened)->shard()->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->deleted_slots == 200 - upper.size());
  // A copy whose graph this process does not hold (opened after a restart) rebuilds it
  // from its data.
  const std::string other = tmp.path + "/other";
  REQUIRE(sm.shard()->SplitCopyTo(other).ok());
  REQUIRE(WriteFileAtomic(other + "/graph.handoff", "not-offered").ok());
  auto rebuilt = Shard::Open(other, cfg, DatabaseOptions());
  REQUIRE(rebuilt.ok());
  CHECK((*rebuilt)->Count().value() == 200 - upper.size() + 9);
  stats = (*rebuilt)->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->deleted_slots == 0);
}

TEST_CASE("a group's founding range is the initial range holding its start, however often it was split") {
  GroupInfo g;
  std::tie(g.range_start, g.range_end) = InitialRange(1, 4);
  CHECK(FoundingRange(g, 4) == InitialRange(1, 4));
  g.range_end = RangeMiddle(g.range_start, g.range_end);  // Split: it keeps the lower half.
  g.range_end = RangeMiddle(g.range_start, g.range_end);  // And again.
  g.epoch = 3;
  CHECK(FoundingRange(g, 4) == InitialRange(1, 4));
  GroupInfo last;  // The last initial range runs to the end of the key space (end 0).
  std::tie(last.range_start, last.range_end) = InitialRange(3, 4);
  CHECK(FoundingRange(last, 4) == InitialRange(3, 4));
  GroupInfo off;  // Split off the last range's upper half: inside it.
  off.range_start = RangeMiddle(last.range_start, 0);
  CHECK(FoundingRange(off, 4) == InitialRange(3, 4));
  CHECK(FoundingRange(g, 1) == std::pair<uint64_t, uint64_t>{0, 0});
}

TEST_CASE("a replica that replays a split group's log from its start, with the founding route, ends like the others") {
  // Found by the cluster simulation: a replica that joined a group after a split (or
  // restarted behind it) took the map's route, epoch 2, and refused as stale the writes
  // routed with epoch 1 that its log replayed, and the split itself.
  ScopedTempDir tmp("shard-split-replay");
  const uint64_t key = RangeMiddle(0, 0);
  std::vector<raft::Entry> log;
  for (uint64_t i = 1; i <= 40; ++i) {
    ShardCommand w;
    w.epoch = 1;
    w.request = RequestId{9, i, 0};
    const float v[4] = {static_cast<float>(i), 1, 2, 3};
    w.batch.Upsert(Cat("p", i), v);
    log.push_back(EntryOf(i, w));
  }
  log.push_back(SplitEntry(41, 1, 0, 0, key));
  GroupInfo now;  // The map after the split.
  now.range_end = key;
  now.epoch = 2;
  const auto [start, end] = FoundingRange(now, 1);
  uint64_t counts[2] = {0, 0};
  for (int r = 0; r < 2; ++r) {
    const std::string g = tmp.path + "/r" + std::to_string(r);
    REQUIRE(MakeDirs(g).ok());
    auto opened = ShardStateMachine::Open(g + "/shard", Config(), ShardOptions(), 1000, ShardRoute{start, end, 1});
    REQUIRE(opened.ok());
    ShardStateMachine& sm = **opened;
    ShardStateMachine::SplitHooks hooks;
    bool made = false;
    hooks.exists = [&](uint64_t) { return made; };
    hooks.staging = [&](uint64_t) { return g + "/g7.split"; };
    hooks.found = [&](const ShardSplit&, uint64_t, const std::string& built) {
      made = true;
      return RenamePath(built, g + "/g7");
    };
    sm.set_split_hooks(hooks);
    // The first replica applies the log as it is written; the second replays it whole.
    if (r == 0) {
      for (const raft::Entry& e : log) REQUIRE(sm.Apply({e}).ok());
    } else {
      REQUIRE(sm.Apply(log).ok());
    }
    for (const ShardOutcome& o : sm.TakeOutcomes()) CHECK_FALSE(o.stale_epoch);
    CHECK(made);
    CHECK(sm.route() == ShardRoute{0, key, 2});
    counts[r] = Count(sm);
  }
  CHECK(counts[0] == counts[1]);
  CHECK(counts[0] > 0);
  CHECK(counts[0] < 40);
}

}  // namespace
}  // namespace vectron::net::cluster
