#include <doctest/doctest.h>
#include <stdlib.h>
#include <filesystem>

#include "tests/net/cluster/host_harness.h"

namespace vectron::net::cluster {
namespace {

using testing::HostCluster;

RaftHostOptions HostOptions() {
  RaftHostOptions o;
  o.tick_ms = 100;
  o.raft.election_ticks = 10;
  o.raft.heartbeat_ticks = 2;
  o.compact_entries = 1000;
  return o;
}

// The same, with hibernation of idle groups on (a group quiet for 10 ticks hibernates).
RaftHostOptions HibernatingOptions() {
  RaftHostOptions o = HostOptions();
  o.hibernate_after_ticks = 10;
  return o;
}

// Proposes "k<i>=v<i>" on every group at its leader.
void ProposeEverywhere(HostCluster& c, const std::vector<uint64_t>& groups, int i) {
  for (uint64_t g : groups) {
    uint64_t l = c.Leader(g);
    REQUIRE(l != 0);
    REQUIRE(c.node(l).host->Propose(g, testing::Cat("k", i, "=v", i)).ok());
  }
}

bool AllApplied(HostCluster& c, const std::vector<uint64_t>& groups, const std::vector<uint64_t>& nodes, size_t keys) {
  for (uint64_t n : nodes)
    for (uint64_t g : groups)
      if (c.node(n).sms.at(g)->kv().size() != keys) return false;
  return true;
}

// With `node`'s tasks held, runs rounds until its group `g` has handed committed entries to
// its executor (an apply is running); false if that does not happen within 20 rounds.
bool RunUntilApplying(HostCluster& c, uint64_t node, uint64_t g) {
  c.HoldTasks(node);
  for (int i = 0; i < 20 && !c.node(node).host->group_status(g).applying; ++i) c.Round();
  return c.node(node).host->group_status(g).applying;
}

TEST_CASE("RaftHost runs many groups with one log write per loop and one message per peer per loop") {
  std::vector<uint64_t> groups = {3, 7, 11, 12, 20, 21, 40, 41};
  HostCluster c(3, groups, HostOptions());
  c.ElectAll();
  uint64_t writes0 = 0, loops0 = 0;
  for (uint64_t n = 1; n <= 3; ++n) {
    writes0 += c.node(n).host->stats().log_writes;
    loops0 += c.node(n).host->stats().loops;
  }
  c.batches_per_link().clear();
  int rounds = 0;
  for (int i = 0; i < 20; ++i) {
    ProposeEverywhere(c, groups, i);
    c.Round();
    ++rounds;
  }
  for (int i = 0; i < 50 && !AllApplied(c, groups, {1, 2, 3}, 20); ++i, ++rounds) c.Round();
  REQUIRE(AllApplied(c, groups, {1, 2, 3}, 20));
  for (uint64_t g : groups) CHECK(c.node(1).sms.at(g)->kv() == c.node(3).sms.at(g)->kv());
  // At most one envelope per (sender, receiver) per round, however many groups talk.
  for (auto& [link, n] : c.batches_per_link()) CHECK(n <= static_cast<uint64_t>(rounds));
  uint64_t writes = 0, loops = 0, raft_msgs = 0, envelopes = 0;
  for (uint64_t n = 1; n <= 3; ++n) {
    const auto& st = c.node(n).host->stats();
    writes += st.log_writes;
    loops += st.loops;
    raft_msgs += st.raft_messages;
    envelopes += st.transport_messages;
  }
  CHECK(writes - writes0 <= loops - loops0);
  // 8 groups share each envelope: far fewer envelopes than Raft messages.
  CHECK(raft_msgs >= 4 * envelopes);
}

TEST_CASE("RaftHost hands committed entries to one apply task at a time, in order, and goes on meanwhile") {
  HostCluster c(3, {5}, HostOptions());
  c.ElectAll();
  uint64_t l = c.Leader(5);
  RaftHost& host = *c.node(l).host;
  REQUIRE(host.Propose(5, "a=1").ok());
  REQUIRE(RunUntilApplying(c, l, 5));
  const uint64_t first = host.group_status(5).commit;
  // While that apply runs, a proposal is taken at once, replicated and committed, and the
  // followers apply it; the leader hands it to no second task.
  REQUIRE(host.Propose(5, "a=2").ok());
  for (int i = 0; i < 20 && host.group_status(5).commit == first; ++i) c.Round();
  CHECK(host.group_status(5).commit > first);
  c.Rounds(3);
  CHECK(c.node(l).executor.size() == 1);
  CHECK(c.node(l).sms.at(5)->kv().empty());
  for (uint64_t n = 1; n <= 3; ++n)
    if (n != l) CHECK(c.node(n).sms.at(5)->kv().at("a") == "2");
  c.ReleaseTasks(l);
  c.Rounds(3);
  CHECK_FALSE(host.group_status(5).applying);
  CHECK(c.node(l).sms.at(5)->apply_tasks() == 2);
  CHECK(c.node(l).sms.at(5)->kv().at("a") == "2");  // In order.
}

TEST_CASE("RaftHost: a leader whose apply runs longer than election timeouts stays the leader") {
  // A split's copies take seconds on the parent's leader. Before, a group applying was not
  // ticked: its leader sent no heartbeats, and a follower was elected meanwhile.
  HostCluster c(3, {5}, HostOptions());
  c.ElectAll();
  uint64_t l = c.Leader(5);
  const uint64_t term = c.node(l).host->group_status(5).term;
  REQUIRE(c.node(l).host->Propose(5, "a=1").ok());
  REQUIRE(RunUntilApplying(c, l, 5));
  for (int i = 0; i < 60; ++i) {  // 6 s: three times the longest election timeout.
    c.Round(100);
    REQUIRE(c.Leader(5) == l);
  }
  CHECK(c.node(l).host->group_status(5).applying);
  for (uint64_t n = 1; n <= 3; ++n) CHECK(c.node(n).host->group_status(5).term == term);
  // Reads are confirmed meanwhile, and served once the apply reaches their index.
  REQUIRE(c.node(l).host->ReadIndex(5, "r").ok());
  c.Rounds(3);
  REQUIRE(c.node(l).reads.size() == 1);
  CHECK(c.node(l).reads[0].second.index > c.node(l).sms.at(5)->applied_index());
  c.ReleaseTasks(l);
  c.Rounds(3);
  CHECK(c.node(l).sms.at(5)->applied_index() >= c.node(l).reads[0].second.index);
  CHECK(c.node(l).sms.at(5)->kv().at("a") == "1");
}

TEST_CASE("RaftHost: a leader hands over leadership while it applies") {
  HostCluster c(3, {5}, HostOptions());
  c.ElectAll();
  uint64_t l = c.Leader(5);
  uint64_t target = l == 1 ? 2 : 1;
  RaftHost& host = *c.node(l).host;
  REQUIRE(host.Propose(5, "a=1").ok());
  REQUIRE(RunUntilApplying(c, l, 5));
  CHECK(host.TransferLeader(5, target).ok());
  for (int i = 0; i < 50 && c.Leader(5) != target; ++i) c.Round();
  CHECK(c.Leader(5) == target);
  CHECK(host.group_status(5).applying);  // Its apply still held.
  c.ReleaseTasks(l);
  c.Rounds(3);
  CHECK(c.node(l).sms.at(5)->kv().at("a") == "1");
  // A follower is refused: only the leader can hand over.
  uint64_t follower = 0;
  for (uint64_t n = 1; n <= 3; ++n)
    if (n != target) follower = n;
  CHECK(c.node(follower).host->TransferLeader(5, target).code() == StatusCode::kUnavailable);
}

// Issue 16, "idle groups cost little": 500 idle groups on 3 nodes with the daemons' Raft
// timing (100 ms ticks, heartbeats every 2 ticks). Counted per node over 10 s of
// simulated time with a loop every 10 ms: an idle group writes nothing to its log (no
// fsync), and the heartbeats of all groups between two nodes travel together (at most
// 40 envelopes per second per node, however many groups). With hibernation on, the
// groups stop heartbeating: no Raft messages at all, and one keepalive per peer per
// heartbeat interval. The counts are printed for docs/cluster.md.
TEST_CASE("RaftHost: 500 idle groups cost no log writes and as many envelopes as one group") {
  for (bool hibernate : {false, true}) {
    CAPTURE(hibernate);
    std::vector<uint64_t> groups;
    for (uint64_t g = 1; g <= 500; ++g) groups.push_back(g);
    HostCluster c(3, groups, hibernate ? HibernatingOptions() : HostOptions());
    c.ElectAll();
    // Let the elections' entries commit and apply everywhere (and the groups hibernate:
    // a leader does after an election timeout and 10 quiet ticks).
    c.Rounds(hibernate ? 300 : 100);
    struct Counts {
      uint64_t loops, writes, envelopes, msgs;
    };
    auto snapshot = [&](uint64_t n) {
      const auto& st = c.node(n).host->stats();
      return Counts{st.loops, st.log_writes, st.transport_messages, st.raft_messages};
    };
    std::map<uint64_t, Counts> before;
    for (uint64_t n = 1; n <= 3; ++n) before[n] = snapshot(n);
    constexpr int kRounds = 1000;  // 10 s at 10 ms per loop.
    c.Rounds(kRounds);
    for (uint64_t n = 1; n <= 3; ++n) {
      Counts now = snapshot(n);
      uint64_t writes = now.writes - before[n].writes, envelopes = now.envelopes - before[n].envelopes,
               msgs = now.msgs - before[n].msgs;
      MESSAGE("hibernation " << std::string(hibernate ? "on" : "off") << ", node " << n << " over 10 s idle: " << writes
                             << " log writes, " << envelopes << " envelopes, " << msgs << " Raft messages");
      CHECK(writes == 0);
      // Per peer and tick (100 ms; groups heartbeat on alternate ticks), at most one
      // envelope of heartbeats and one of responses, whatever the number of groups:
      // 2 peers x 2 x 10 ticks/s x 10 s.
      CHECK(envelopes <= 2 * 2 * 10 * 10);
      if (hibernate) {
        CHECK(msgs == 0);
        CHECK(envelopes <= 2 * 5 * 10);  // A keepalive per peer per heartbeat interval.
        CHECK(c.node(n).host->hibernating_groups() == groups.size());
      }
    }
    for (uint64_t g : groups) CHECK(c.Leader(g) != 0);  // Nobody timed out: no elections.
  }
}

// Runs rounds until every replica of every group in `groups` hibernates; false after 1000.
bool RunUntilHibernating(HostCluster& c, const std::vector<uint64_t>& groups, const std::vector<uint64_t>& nodes) {
  for (int i = 0; i < 1000; ++i) {
    bool all = true;
    for (uint64_t n : nodes)
      for (uint64_t g : groups) all = all && c.node(n).host->group_status(g).hibernating;
    if (all) return true;
    c.Round();
  }
  return false;
}

uint64_t RaftMessages(HostCluster& c) {
  uint64_t n = 0;
  for (uint64_t id = 1; id <= 3; ++id)
    if (c.node(id).host) n += c.node(id).host->stats().raft_messages;
  return n;
}

TEST_CASE("RaftHost: a quiet group hibernates, and a proposal or a read wakes it and completes at once") {
  HostCluster c(3, {5}, HibernatingOptions());
  c.ElectAll();
  uint64_t l = c.Leader(5);
  REQUIRE(c.node(l).host->Propose(5, "a=1").ok());
  REQUIRE(RunUntilHibernating(c, {5}, {1, 2, 3}));
  CHECK(AllApplied(c, {5}, {1, 2, 3}, 1));
  uint64_t term = c.node(l).host->group_status(5).term;
  uint64_t msgs = RaftMessages(c);
  c.Rounds(500);  // 5 s: no Raft message, no election.
  CHECK(RaftMessages(c) == msgs);
  CHECK(c.Leader(5) == l);
  CHECK(c.node(l).host->group_status(5).term == term);

  // A proposal on the leader commits everywhere within a few loops.
  REQUIRE(c.node(l).host->Propose(5, "b=2").ok());
  int rounds = 0;
  for (; rounds < 20 && !AllApplied(c, {5}, {1, 2, 3}, 2); ++rounds) c.Round();
  CHECK(rounds < 10);
  CHECK_FALSE(c.node(l).host->group_status(5).hibernating);

  // A proposal on a hibernating follower is forwarded and wakes the leader.
  REQUIRE(RunUntilHibernating(c, {5}, {1, 2, 3}));
  uint64_t f = l == 1 ? 2 : 1;
  REQUIRE(c.node(f).host->Propose(5, "c=3").ok());
  for (rounds = 0; rounds < 20 && !AllApplied(c, {5}, {1, 2, 3}, 3); ++rounds) c.Round();
  CHECK(rounds < 10);

  // A read on a hibernating leader and on a hibernating follower: one heartbeat round.
  REQUIRE(RunUntilHibernating(c, {5}, {1, 2, 3}));
  REQUIRE(c.node(l).host->ReadIndex(5, "r1").ok());
  REQUIRE(c.node(f).host->ReadIndex(5, "r2").ok());
  for (rounds = 0; rounds < 20 && (c.node(l).reads.empty() || c.node(f).reads.empty()); ++rounds) c.Round();
  CHECK(rounds < 10);
  REQUIRE(c.node(l).reads.size() == 1);
  REQUIRE(c.node(f).reads.size() == 1);
  CHECK(c.node(l).reads[0].second.context == "r1");
  CHECK(c.node(f).reads[0].second.context == "r2");
  CHECK(c.node(l).reads[0].second.index >= 3);
  CHECK(c.Leader(5) == l);
  CHECK(c.node(l).host->group_status(5).term == term);  // Woken without an election.
}

TEST_CASE("RaftHost: a leadership transfer wakes a hibernating group") {
  HostCluster c(3, {5}, HibernatingOptions());
  c.ElectAll();
  REQUIRE(RunUntilHibernating(c, {5}, {1, 2, 3}));
  uint64_t l = c.Leader(5);
  uint64_t target = l == 3 ? 2 : 3;
  REQUIRE(c.node(l).host->TransferLeader(5, target).ok());
  for (int i = 0; i < 50 && c.Leader(5) != target; ++i) c.Round();
  CHECK(c.Leader(5) == target);
  CHECK(RunUntilHibernating(c, {5}, {1, 2, 3}));  // And it hibernates again under the new leader.
}

TEST_CASE("RaftHost: when a hibernating leader's node crashes, the others elect a new leader in bounded time") {
  HostCluster c(3, {5, 6}, HibernatingOptions());
  c.ElectAll();
  REQUIRE(RunUntilHibernating(c, {5, 6}, {1, 2, 3}));
  uint64_t l = c.Leader(5);
  c.Crash(l);
  // The followers notice the node's silence after an election timeout (10 ticks), wake, and
  // campaign after their randomized timeout (10 to 20 ticks): within 40 ticks (4 s).
  int rounds = 0;
  for (; rounds < 1000 && (c.Leader(5) == 0 || c.Leader(5) == l); ++rounds) c.Round();
  MESSAGE("new leader after " << rounds * 10 << " ms");
  CHECK(rounds <= 400);
  uint64_t nl = c.Leader(5);
  REQUIRE(nl != 0);
  REQUIRE(c.node(nl).host->Propose(5, "x=1").ok());
  c.Start(l);  // Restarts awake, catches up, and the group hibernates again.
  for (int i = 0; i < 300 && !AllApplied(c, {5}, {1, 2, 3}, 1); ++i) c.Round();
  CHECK(AllApplied(c, {5}, {1, 2, 3}, 1));
  CHECK(RunUntilHibernating(c, {5, 6}, {1, 2, 3}));
}

TEST_CASE("RaftHost: a partitioned hibernating leader serves no lease read and steps down") {
  RaftHostOptions o = HibernatingOptions();
  o.raft.read_only = raft::ReadOnlyOption::kLeaseBased;
  HostCluster c(3, {5}, o);
  c.ElectAll();
  uint64_t l = c.Leader(5);
  REQUIRE(c.node(l).host->Propose(5, "a=1").ok());
  REQUIRE(RunUntilHibernating(c, {5}, {l}));
  // Hibernated moments ago: the lease acknowledged with the hibernation request would
  // still hold, but a woken leader treats it as expired.
  for (uint64_t n = 1; n <= 3; ++n)
    if (n != l) c.Cut(l, n);
  REQUIRE(c.node(l).host->ReadIndex(5, "stale?").ok());
  bool stepped_down = false;
  uint64_t nl = 0;
  for (int i = 0; i < 1000 && !(stepped_down && nl != 0); ++i) {
    c.Round();
    CHECK(c.node(l).reads.empty());
    stepped_down = c.node(l).host->group_status(5).role != raft::Role::kLeader;
    nl = 0;
    for (uint64_t n = 1; n <= 3; ++n)
      if (n != l && c.node(n).host->group_status(5).role == raft::Role::kLeader) nl = n;
  }
  CHECK(stepped_down);
  REQUIRE(nl != 0);
  // The new leader's writes; the old one, healed, follows.
  REQUIRE(c.node(nl).host->Propose(5, "a=2").ok());
  c.Heal();
  for (int i = 0; i < 300 && c.node(l).sms.at(5)->kv().at("a") != "2"; ++i) c.Round();
  CHECK(c.node(l).sms.at(5)->kv().at("a") == "2");
  CHECK(c.node(l).reads.empty());  // The read asked of the deposed leader was never answered.
}

// A split's new group is bootstrapped on three workers at once; under lease reads every
// replica refused votes for an election timeout after it was created, as if it had
// restarted, and the new group (and the searches routed to it) waited ~1 s for a leader.
TEST_CASE("RaftHost: under lease reads a group bootstrapped here elects at once; after a restart it waits an election timeout") {
  RaftHostOptions o = HostOptions();
  o.raft.read_only = raft::ReadOnlyOption::kLeaseBased;
  HostCluster c(3, {7}, o);
  REQUIRE(c.node(1).host->Campaign(7).ok());
  // Pre-vote, vote and their answers: a loop and a delivery each, well within one tick.
  for (int i = 0; i < 9 && c.Leader(7) == 0; ++i) c.Round();
  CHECK(c.Leader(7) == 1);
  REQUIRE(c.node(1).host->Propose(7, "a=1").ok());
  c.Rounds(3);
  for (uint64_t n = 1; n <= 3; ++n) c.Crash(n);
  for (uint64_t n = 1; n <= 3; ++n) c.Start(n);
  REQUIRE(c.node(1).host->Campaign(7).ok());
  int rounds = 0;
  for (; rounds < 500 && c.Leader(7) == 0; ++rounds) c.Round();
  MESSAGE("leader after a restart in " << rounds * 10 << " ms");
  CHECK(rounds >= 90);  // An election timeout (10 ticks of 100 ms), less a loop's ticks.
  CHECK(c.Leader(7) != 0);
}

TEST_CASE("RaftHost: a follower restarting while its group hibernates causes no election") {
  HostCluster c(3, {5}, HibernatingOptions());
  c.ElectAll();
  REQUIRE(RunUntilHibernating(c, {5}, {1, 2, 3}));
  uint64_t l = c.Leader(5);
  uint64_t term = c.node(l).host->group_status(5).term;
  uint64_t f = l == 1 ? 2 : 1;
  c.Crash(f);
  c.Rounds(20);  // 200 ms: shorter than an election timeout, so only its new incarnation tells.
  c.Start(f);
  c.Rounds(500);
  CHECK(c.Leader(5) == l);
  CHECK(c.node(l).host->group_status(5).term == term);
  CHECK(c.node(f).host->group_status(5).lead == l);
  CHECK(RunUntilHibernating(c, {5}, {1, 2, 3}));
}

TEST_CASE("RaftHost compacts a log only up to the durable applied index") {
  RaftHostOptions o = HostOptions();
  o.compact_entries = 10;
  HostCluster c(3, {1, 2}, o, /*sync_every=*/7);
  c.ElectAll();
  for (int i = 0; i < 60; ++i) {
    ProposeEverywhere(c, {1, 2}, i);
    c.Round();
    for (uint64_t n = 1; n <= 3; ++n)
      for (uint64_t g : {1, 2}) {
        uint64_t snap = c.node(n).store.group(g)->FirstIndex() - 1;
        CHECK(snap <= c.node(n).disks[g].index);
      }
  }
  c.Rounds(30);
  for (uint64_t n = 1; n <= 3; ++n) {
    CHECK(c.node(n).host->stats().compactions > 0);
    CHECK(c.node(n).store.group(1)->FirstIndex() > 30);
  }
}

// Elects group 9's leader, cuts one follower off and commits 40 entries without it, until
// the leader's log is compacted past what that follower has. Returns {leader, lagging};
// the cut stays (the caller heals it).
std::pair<uint64_t, uint64_t> CompactPastLaggingReplica(HostCluster& c) {
  c.ElectAll();
  const uint64_t l = c.Leader(9);
  const uint64_t lagging = l == 3 ? 2 : 3;
  for (uint64_t n = 1; n <= 3; ++n)
    if (n != lagging) c.Cut(n, lagging);
  for (int i = 0; i < 40; ++i) {
    REQUIRE(c.node(l).host->Propose(9, testing::Cat("k", i, "=", i)).ok());
    c.Round();
  }
  c.Rounds(20);
  REQUIRE(c.node(l).store.group(9)->FirstIndex() > 20);
  return {l, lagging};
}

TEST_CASE("RaftHost brings a replica behind the compacted log up to date with a snapshot") {
  RaftHostOptions o = HostOptions();
  o.compact_entries = 5;
  o.raft.snapshot_chunk_bytes = 16;  // Several chunks.
  HostCluster c(3, {9}, o);
  const auto [l, lagging] = CompactPastLaggingReplica(c);
  c.Heal();
  for (int i = 0; i < 200 && c.node(lagging).sms.at(9)->kv().size() < 40; ++i) c.Round();
  c.Rounds(5);  // The install's completion, then the log's ApplySnapshot.
  CHECK(c.node(lagging).host->stats().snapshots_installed >= 1);
  CHECK(c.node(lagging).store.group(9)->FirstIndex() > 20);
  CHECK(c.node(lagging).sms.at(9)->kv() == c.node(l).sms.at(9)->kv());
}

TEST_CASE("RaftHost restarts a crashed node from its log and its synced state") {
  HostCluster c(3, {4, 6}, HostOptions(), /*sync_every=*/3);
  c.ElectAll();
  for (int i = 0; i < 10; ++i) {
    ProposeEverywhere(c, {4, 6}, i);
    c.Round();
  }
  // Crash node 2 right after a loop: its apply tasks never run.
  c.clock().Advance(10);
  REQUIRE(c.node(2).host->RunOnce().ok());
  c.Crash(2);
  for (int i = 10; i < 20; ++i) {
    uint64_t g = i % 2 ? 4 : 6;
    for (int r = 0; r < 100 && c.Leader(g) == 0; ++r) c.Round(50);
    REQUIRE(c.node(c.Leader(g)).host->Propose(g, testing::Cat("k", i, "=x")).ok());
    c.Round();
  }
  c.Start(2);
  for (int i = 0; i < 300 && !(c.node(2).sms.at(4)->kv().size() == 15 && c.node(2).sms.at(6)->kv().size() == 15); ++i)
    c.Round(20);
  CHECK(c.node(2).sms.at(4)->kv() == c.node(c.Leader(4)).sms.at(4)->kv());
  CHECK(c.node(2).sms.at(6)->kv() == c.node(c.Leader(6)).sms.at(6)->kv());
}

// Three hosts of group 8: its leader `l`, a follower `fw`, and "x=1" committed on both.
// (Not `f`: doctest names a fixture's test function so.)
struct OneWriteCommitted {
  HostCluster c{3, {8}, HostOptions()};
  uint64_t l = 0, fw = 0;
  OneWriteCommitted() {
    c.ElectAll();
    l = c.Leader(8);
    fw = l == 1 ? 2 : 1;
    REQUIRE(c.node(l).host->Propose(8, "x=1").ok());
    c.Rounds(30, 20);
  }
};

TEST_CASE("RaftHost: a follower installing a snapshot answers the heartbeats it queued meanwhile once, not each") {
  RaftHostOptions o = HostOptions();
  o.compact_entries = 5;
  HostCluster c(3, {9}, o);
  const auto [l, lagging] = CompactPastLaggingReplica(c);
  // The lagging replica gets the snapshot; its install is held (busy: messages queue).
  c.HoldTasks(lagging);
  c.Heal();
  for (int i = 0; i < 200 && !c.node(lagging).host->group_status(9).busy; ++i) c.Round();
  REQUIRE(c.node(lagging).host->group_status(9).busy);
  const uint64_t answered = c.raft_sent(lagging, raft::MessageType::kHeartbeatResp);
  for (int i = 0; i < 30; ++i) {
    REQUIRE(c.node(l).host->ReadIndex(9, testing::Cat("r", i)).ok());
    c.Round(1);
  }
  c.Rounds(3, 1);
  CHECK(c.node(l).reads.size() == 30);  // Confirmed by the other follower meanwhile.
  CHECK(c.raft_sent(lagging, raft::MessageType::kHeartbeatResp) == answered);
  CHECK(c.node(lagging).host->stats().heartbeats_coalesced >= 25);
  c.ReleaseTasks(lagging);
  c.Rounds(5, 1);
  CHECK_FALSE(c.node(lagging).host->group_status(9).busy);
  CHECK(c.node(lagging).sms.at(9)->kv() == c.node(l).sms.at(9)->kv());
  CHECK(c.raft_sent(lagging, raft::MessageType::kHeartbeatResp) - answered <= 3);
}

TEST_CASE_FIXTURE(OneWriteCommitted, "RaftHost: a follower answers heartbeats while it applies") {
  c.HoldTasks(fw);
  REQUIRE(c.node(l).host->Propose(8, "y=2").ok());
  for (int i = 0; i < 100 && !c.node(fw).host->group_status(8).applying; ++i) c.Round(5);
  REQUIRE(c.node(fw).host->group_status(8).applying);
  const uint64_t answered = c.raft_sent(fw, raft::MessageType::kHeartbeatResp);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(c.node(l).host->ReadIndex(8, testing::Cat("r", i)).ok());
    c.Round(1);
  }
  c.Rounds(3, 1);
  CHECK(c.node(l).reads.size() == 10);
  CHECK(c.raft_sent(fw, raft::MessageType::kHeartbeatResp) - answered >= 10);
  c.ReleaseTasks(fw);
  c.Rounds(3, 1);
  CHECK(c.node(fw).sms.at(8)->kv().count("y") == 1);
}

TEST_CASE_FIXTURE(OneWriteCommitted, "RaftHost: a follower is fresh while it hears its leader, and not once cut off") {
  CHECK(c.node(fw).sms.at(8)->kv().count("x") == 1);
  CHECK(c.node(fw).host->FreshWithin(8, 500));
  CHECK_FALSE(c.node(l).host->FreshWithin(8, 500));  // The leader never answers stale reads.
  c.Cut(l, fw);
  c.Rounds(40, 20);  // 800 ms without the leader.
  CHECK_FALSE(c.node(fw).host->FreshWithin(8, 500));
  CHECK(c.node(fw).host->FreshWithin(8, 5000));
}

TEST_CASE("RaftHost: a leader whose loop ran late, or that was paused, serves no read from its lease until a new heartbeat round") {
  RaftHostOptions o = HostOptions();
  o.raft.read_only = raft::ReadOnlyOption::kLeaseBased;
  HostCluster c(3, {8}, o);
  c.ElectAll();
  c.Rounds(30, 20);
  const uint64_t l = c.Leader(8);
  auto served = [&] { return c.node(l).reads.size(); };
  // The lease holds: a read is served in the leader's own loop, before any message returns.
  REQUIRE(c.node(l).host->ReadIndex(8, "a").ok());
  c.Round(1);
  REQUIRE(served() == 1);
  // One loop a second late (10 ticks of 100 ms; a loop runs at most 3): counted in ticks,
  // the lease (5 ticks) would still hold, though it ran out in real time.
  c.Round(1000);
  REQUIRE(c.Leader(8) == l);
  REQUIRE(c.node(l).host->ReadIndex(8, "b").ok());
  c.Round(1);
  CHECK(served() == 1);  // Not from the lease: a heartbeat round first.
  c.Rounds(3, 1);
  CHECK(served() == 2);
  // Renewed by that round: served at once again.
  REQUIRE(c.node(l).host->ReadIndex(8, "c").ok());
  c.Round(1);
  CHECK(served() == 3);
  // Paused for a second, a read is the first thing it gets: taken by the next loop, after
  // the ticks (not answered from the lease on the tick count of before the pause).
  c.clock().Advance(1000);
  REQUIRE(c.node(l).host->ReadIndex(8, "d").ok());
  c.Round(0);
  CHECK(served() == 3);
  c.Rounds(3, 1);
  CHECK(served() == 4);
}

TEST_CASE_FIXTURE(OneWriteCommitted, "RaftHost: a follower waiting for an index it does not know committed sees its leader's silence") {
  const uint64_t known = c.node(fw).host->group_status(8).commit;
  REQUIRE(known == c.node(l).host->group_status(8).commit);
  CHECK_FALSE(c.node(fw).host->LeaderSilent(8, known + 1, 500));  // Heard within a heartbeat.
  CHECK_FALSE(c.node(l).host->LeaderSilent(8, known + 5, 0));    // The leader waits on no one.
  // Cut off from its leader (as a replica removed from the group is: the leader no longer
  // sends to it) while the other two commit more.
  c.Cut(l, fw);
  REQUIRE(c.node(l).host->Propose(8, "y=2").ok());
  c.Rounds(40, 20);  // 800 ms: under the election timeout, so the follower does not campaign.
  const uint64_t ahead = c.node(l).host->group_status(8).commit;
  REQUIRE(ahead > known);
  REQUIRE(c.node(fw).host->group_status(8).commit == known);
  CHECK(c.node(fw).host->LeaderSilent(8, ahead, 500));
  CHECK_FALSE(c.node(fw).host->LeaderSilent(8, ahead, 5000));
  CHECK_FALSE(c.node(fw).host->LeaderSilent(8, known, 500));  // Committed: only its apply is left.
  c.Heal();
  c.Rounds(10, 20);
  CHECK_FALSE(c.node(fw).host->LeaderSilent(8, ahead, 500));
  CHECK(c.node(fw).host->group_status(8).commit >= ahead);
}

TEST_CASE_FIXTURE(OneWriteCommitted, "RaftHost: a read held for the next loop that finds no leader is reported refused") {
  // Cut off from both peers past the election timeout: the follower campaigns and knows no
  // leader.
  c.Cut(fw, l);
  const uint64_t third = 6 - l - fw;
  c.Cut(fw, third);
  for (int i = 0; i < 100 && c.node(fw).host->group_status(8).lead != 0; ++i) c.Round(50);
  REQUIRE(c.node(fw).host->group_status(8).lead == 0);
  c.Round(1);
  // Asked between loops with its ticks current: refused at once.
  CHECK(c.node(fw).host->ReadIndex(8, "now").code() == StatusCode::kUnavailable);
  // Asked when a tick is due: held for the next loop, which reports it refused (the worker
  // answers the gateway then rather than at its request timeout).
  c.clock().Advance(1000);
  REQUIRE(c.node(fw).host->ReadIndex(8, "held").ok());
  CHECK(c.node(fw).refused.empty());
  c.Round(0);
  REQUIRE(c.node(fw).refused.size() == 1);
  CHECK(c.node(fw).refused[0] == std::pair<uint64_t, std::string>{8, "held"});
  CHECK(c.node(fw).reads.empty());
  // A leader's held read is not refused: it is confirmed.
  c.Heal();
  for (int i = 0; i < 100 && c.Leader(8) == 0; ++i) c.Round(50);
  const uint64_t leader = c.Leader(8);
  REQUIRE(leader != 0);
  c.clock().Advance(1000);
  REQUIRE(c.node(leader).host->ReadIndex(8, "ok").ok());
  c.Rounds(5, 1);
  CHECK(c.node(leader).refused.empty());
  CHECK_FALSE(c.node(leader).reads.empty());
}

}  // namespace
}  // namespace vectron::net::cluster

namespace vectron::net::cluster {
namespace {

class NullTransport final : public Transport {
 public:
  void Send(const NodeId&, Envelope) override {}
};

TEST_CASE("RaftHost over the LMDB log store keeps committed entries across a restart") {
  char tmpl[] = "/tmp/cluster-host-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  testing::KvDisk disk;  // Never synced (sync_every huge): the log alone must restore the state.
  ManualClock clock(0);
  NullTransport transport;
  InlineExecutor executor;
  raft::ConfState conf{{1}, {}};
  for (int run = 0; run < 2; ++run) {
    std::unique_ptr<LmdbGroupLogStore> store;
    REQUIRE(LmdbGroupLogStore::Open(dir, {}, &store).ok());
    LoopQueue loop;
    RaftHostOptions o;
    RaftHost host(NodeId{NodeKind::kWorker, 1}, o, clock, transport, *store, executor, loop, {});
    auto sm = std::make_unique<testing::KvStateMachine>(&disk, 1u << 30);
    testing::KvStateMachine* kv = sm.get();
    REQUIRE(host.AddGroup(77, std::move(sm), &conf).ok());
    for (int i = 0; i < 300 && host.group_status(77).role != raft::Role::kLeader; ++i) {
      clock.Advance(100);
      REQUIRE(host.RunOnce().ok());
    }
    REQUIRE(host.group_status(77).role == raft::Role::kLeader);
    if (run == 0) {
      for (int i = 0; i < 5; ++i) REQUIRE(host.Propose(77, testing::Cat("k", i, "=", i)).ok());
    }
    for (int i = 0; i < 5; ++i) REQUIRE(host.RunOnce().ok());
    CHECK(kv->kv().size() == 5);
    std::vector<uint64_t> groups;
    REQUIRE(store->ListGroups(&groups).ok());
    CHECK(groups == std::vector<uint64_t>{77});
  }
  std::filesystem::remove_all(dir);
}

// Keeps the vote answers a host sends.
class VoteRespTransport final : public Transport {
 public:
  void Send(const NodeId& to, Envelope msg) override {
    if (!std::holds_alternative<RaftBatch>(msg)) return;
    for (GroupMessage& gm : std::get<RaftBatch>(msg).messages)
      if (gm.msg.type == raft::MessageType::kVoteResp) answers.push_back({to.id, gm.msg});
  }
  std::vector<std::pair<uint64_t, raft::Message>> answers;  // (to, answer)
};

// cluster-sim seed 101 and its sequel: a worker that dropped its replica of a group and was
// placed in the group again forgot the vote it had cast, and could vote for a second
// candidate in the same term. The log store keeps the dropped replica's term and vote.
TEST_CASE("RaftHost: a replica created again after a drop does not vote for a second candidate in the term it voted in") {
  char tmpl[] = "/tmp/cluster-host-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  testing::KvDisk disk;
  ManualClock clock(0);
  VoteRespTransport transport;
  InlineExecutor executor;
  LoopQueue loop;
  raft::ConfState conf{{1, 2, 3}, {}};
  std::unique_ptr<LmdbGroupLogStore> store;
  REQUIRE(LmdbGroupLogStore::Open(dir, {}, &store).ok());
  RaftHost host(NodeId{NodeKind::kWorker, 1}, HostOptions(), clock, transport, *store, executor, loop, {});
  // A vote request of `from` in term 5 with a log as long as any this replica may hold
  // (force: it is not held back by a leader's lease, so only the vote decides).
  auto ask = [&](uint64_t from, uint64_t term = 5, uint64_t log_term = 4) {
    RaftBatch b;
    GroupMessage gm;
    gm.group = 31;
    gm.msg.type = raft::MessageType::kVote;
    gm.msg.from = from;
    gm.msg.to = 1;
    gm.msg.term = term;
    gm.msg.index = 100;
    gm.msg.log_term = log_term;
    gm.msg.force = true;
    b.messages.push_back(gm);
    transport.answers.clear();
    host.Receive(NodeId{NodeKind::kWorker, from}, std::move(b));
    for (int i = 0; i < 3; ++i) {
      clock.Advance(10);
      REQUIRE(host.RunOnce().ok());
    }
    REQUIRE(transport.answers.size() == 1);
    CHECK(transport.answers[0].first == from);
    return transport.answers[0].second;
  };
  REQUIRE(host.AddGroup(31, std::make_unique<testing::KvStateMachine>(&disk, 1), &conf).ok());
  REQUIRE_FALSE(ask(2).reject);  // Votes for 2 in term 5.
  REQUIRE(host.RemoveGroup(31).ok());
  CHECK_FALSE(host.HasGroup(31));
  // Placed here again, as a founding replica would be (the bootstrap membership given).
  REQUIRE(host.AddGroup(31, std::make_unique<testing::KvStateMachine>(&disk, 1), &conf).ok());
  CHECK(host.group_status(31).term == 5);
  CHECK(ask(3).reject);
  CHECK(host.group_status(31).term == 5);
  // In a later term it votes, as its earlier self would have, for a log that reaches where
  // its own ended (the bootstrap's entries, in term 0 or 1), and not for one that ends in
  // an earlier term than its own did.
  CHECK(ask(3, 6, 0).reject);
  CHECK_FALSE(ask(3, 7, 4).reject);
  CHECK(host.group_status(31).term == 7);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vectron::net::cluster
