// Interaction tests in the style of etcd-io/raft's: small clusters driven message by message.
#include <doctest/doctest.h>

#include "raft/tests/harness.h"

namespace vectron::raft {
namespace {

using testing::AppliedData;
using testing::Cluster;

// The classic protocol of the Raft paper: no pre-vote, no check-quorum (so a test can elect
// any up-to-date node at once, as etcd's paper tests do).
void NoPreVote(Config& c) {
  c.pre_vote = false;
  c.check_quorum = false;
}
// Pre-vote without leader stickiness.
void NoCheckQuorum(Config& c) { c.check_quorum = false; }

TEST_CASE("a three-node cluster elects the node that campaigns and replicates a proposal") {
  Cluster c(3);
  c.Elect(1);
  CHECK(c[2].lead() == 1);
  CHECK(c[3].lead() == 1);
  REQUIRE(c[1].Propose("x").ok());
  c.Stabilize();
  for (uint64_t id : {1, 2, 3}) CHECK(AppliedData(c.node(id)) == std::vector<std::string>{"x"});
  // Term 2: bootstrap is term 1, the election bumps it once (pre-vote does not).
  CHECK(c[1].term() == 2);
}

TEST_CASE("a heartbeat carries the leader's own commit index, even to a follower behind it") {
  Cluster c(3);
  c.Elect(1);
  c.Isolate(3);
  REQUIRE(c[1].Propose("x").ok());
  c.Stabilize();
  c.Isolate(3, false);
  c.ClearLog();
  c.Tick(1, 2);  // heartbeat_ticks
  c.Stabilize();
  bool seen = false;
  for (const Message& m : c.log()) {
    if (m.type != MessageType::kHeartbeat || m.to != 3 || seen) continue;
    seen = true;
    CHECK(m.commit < c[1].committed());  // What node 3 may commit: its match.
    CHECK(m.index == c[1].committed());  // The leader's commit index (follower reads).
  }
  CHECK(seen);
}

TEST_CASE("a proposal on a follower is forwarded to the leader") {
  Cluster c(3);
  c.Elect(1);
  REQUIRE(c[3].Propose("via-follower").ok());
  c.Stabilize();
  CHECK(AppliedData(c.node(1)) == std::vector<std::string>{"via-follower"});
}

TEST_CASE("a proposal with no known leader is dropped with an error") {
  Cluster c(3);
  Status s = c[2].Propose("x");
  CHECK(s.code() == Error::kProposalDropped);
}

TEST_CASE("split vote: two candidates each get half of four votes, a later round elects one") {
  Cluster c(4, NoPreVote);
  c[1].Campaign();
  c[2].Campaign();
  c.Process();
  // Deliver so that node 3 hears node 1 first and node 4 hears node 2 first.
  auto& q = c.queue();
  std::deque<Message> reordered;
  for (const Message& m : q)
    if ((m.from == 1 && m.to == 3) || (m.from == 2 && m.to == 4)) reordered.push_back(m);
  for (const Message& m : q)
    if (!((m.from == 1 && m.to == 3) || (m.from == 2 && m.to == 4))) reordered.push_back(m);
  q = reordered;
  c.Stabilize();
  CHECK(c[1].role() == Role::kCandidate);
  CHECK(c[2].role() == Role::kCandidate);
  CHECK(c[1].term() == 2);
  // A new round (randomized timeouts make one node go first) elects a single leader.
  c.Elect(3);
  CHECK(c[1].lead() == 3);
  CHECK(c[2].lead() == 3);
  CHECK(c[3].term() == 3);
}

TEST_CASE("randomized election timeouts elect exactly one leader from ticks alone") {
  Cluster c(5);
  c.TickAll(40);
  int leaders = 0;
  for (uint64_t id = 1; id <= 5; ++id) leaders += c[id].role() == Role::kLeader;
  CHECK(leaders == 1);
}

TEST_CASE("a stale leader steps down and its uncommitted entries are overwritten") {
  Cluster c(3, NoCheckQuorum);
  c.Elect(1);
  REQUIRE(c[1].Propose("committed").ok());
  c.Stabilize();
  c.Isolate(1);
  REQUIRE(c[1].Propose("lost-1").ok());
  REQUIRE(c[1].Propose("lost-2").ok());
  c.Stabilize();
  CHECK(c[1].last_index() == 5);
  CHECK(c[1].committed() == 3);
  c.Elect(2);
  REQUIRE(c[2].Propose("new").ok());
  c.Stabilize();
  c.Heal();
  // The old leader still believes it leads until it hears the new term.
  CHECK(c[1].role() == Role::kLeader);
  c.Tick(2, 1);  // Heartbeat from the new leader.
  c.Stabilize();
  CHECK(c[1].role() == Role::kFollower);
  CHECK(c[1].lead() == 2);
  CHECK(AppliedData(c.node(1)) == std::vector<std::string>{"committed", "new"});
  CHECK(c[1].TermAt(4) == c[2].TermAt(4));
  CHECK(c[1].last_index() == c[2].last_index());
}

TEST_CASE("a stale leader's appends are answered with the new term so it steps down") {
  Cluster c(3, NoCheckQuorum);
  c.Elect(1);
  c.Isolate(1);
  c.Elect(2);
  c.Heal();
  REQUIRE(c[1].Propose("stale").ok());
  c.Stabilize();
  CHECK(c[1].role() == Role::kFollower);
  CHECK(c[1].term() == c[2].term());
}

TEST_CASE("log divergence after leader changes is repaired with few probes (fast backtracking)") {
  Cluster c(3, NoPreVote);
  c.Elect(1);
  // Node 3 misses a long run of entries of term 2 while 1 and 2 commit them.
  c.Isolate(3);
  for (int i = 0; i < 30; ++i) REQUIRE(c[1].Propose(Cat("a", i)).ok());
  c.Stabilize();
  // Node 3 becomes a leader of its own (higher) term alone and appends 40 divergent entries.
  c.Isolate(3, false);
  c.Isolate(1);
  c.Isolate(2);
  c[3].Campaign();
  c.Stabilize();
  CHECK(c[3].role() == Role::kCandidate);
  // Node 2 (up to date) wins the next elections; node 3's extra uncommitted entries must go.
  c.Heal();
  c.Elect(2);
  for (int i = 0; i < 5; ++i) REQUIRE(c[2].Propose(Cat("b", i)).ok());
  c.ClearLog();
  c.Stabilize();
  CHECK(c[3].last_index() == c[2].last_index());
  CHECK(AppliedData(c.node(3)) == AppliedData(c.node(2)));
  // Rejections needed: one per divergent term at most, not one per entry.
  int rejects = 0;
  for (const Message& m : c.log()) rejects += m.type == MessageType::kAppendResp && m.reject;
  CHECK(rejects <= 2);
}

TEST_CASE("a follower with a long divergent suffix is repaired in one round trip per term") {
  Cluster c(3, NoPreVote);
  c.Elect(1);
  c.Isolate(1);
  // Old leader 1 appends 50 entries nobody else gets.
  for (int i = 0; i < 50; ++i) REQUIRE(c[1].Propose(Cat("x", i)).ok());
  c.Stabilize();
  c.Elect(2);
  REQUIRE(c[2].Propose("y").ok());
  c.Stabilize();
  c.Heal();
  c.ClearLog();
  c.Tick(2, 1);
  c.Stabilize();
  CHECK(c[1].role() == Role::kFollower);
  CHECK(c[1].last_index() == c[2].last_index());
  int rejects = 0;
  for (const Message& m : c.log()) rejects += m.type == MessageType::kAppendResp && m.reject;
  CHECK(rejects <= 2);
  CHECK(AppliedData(c.node(1)) == std::vector<std::string>{"y"});
}

TEST_CASE("a leader does not commit an entry of a previous term by counting replicas (Raft figure 8)") {
  Cluster c(5, [](Config& cfg) {
    NoPreVote(cfg);
    cfg.max_entries_per_msg = 1;
  });
  c.Elect(1);
  // Term 2: leader 1 replicates entry 3 ("old") only to node 2.
  c.Isolate(1);
  REQUIRE(c[1].Propose("old").ok());
  c.Isolate(1, false);
  c.Cut(1, 3);
  c.Cut(1, 4);
  c.Cut(1, 5);
  c.Stabilize();
  CHECK(c[2].last_index() == 3);
  CHECK(c[1].committed() == 2);
  // Node 5 is elected in term 3 by 3, 4, 5 and appends its no-op; it reaches nobody else.
  c.Heal();
  c.Isolate(1);
  c.Isolate(2);
  c.Cut(5, 3);
  c.Cut(5, 4);
  c.Cut(3, 5, false);
  c.Cut(4, 5, false);
  c.Cut(5, 3, false);
  c.Cut(5, 4, false);
  c[5].Campaign();
  c.Stabilize([](const Message& m) { return m.type != MessageType::kAppend; });
  CHECK(c[5].role() == Role::kLeader);
  c.queue().clear();
  // Node 2 (which holds "old") is elected in term 4 by 2, 3, 4; its first try at term 3
  // fails because nodes 3 and 4 already voted for 5 in term 3.
  c.Heal();
  c.Isolate(5);
  c.Isolate(1);
  auto votes_only = [](const Message& m) { return m.type == MessageType::kVote || m.type == MessageType::kVoteResp; };
  c[2].Campaign();
  c.Stabilize(votes_only);
  REQUIRE(c[2].role() == Role::kCandidate);
  c[2].Campaign();
  c.Stabilize(votes_only);
  REQUIRE(c[2].role() == Role::kLeader);
  CHECK(c[2].term() == 4);
  CHECK(c[2].TermAt(3) == 2);
  // It must not be committed by counting replicas: it is not of the current term.
  c.queue().clear();
  c.ClearLog();
  c.Tick(2, 1);
  // Nodes 3 and 4 receive the old entry; their acknowledgements of the new no-op (index 4)
  // are lost, so the leader knows that nodes 2, 3 and 4 (a majority) hold index 3.
  c.Stabilize([](const Message& m) { return !(m.type == MessageType::kAppendResp && !m.reject && m.index >= 4); });
  CHECK(c[3].TermAt(3) == 2);
  CHECK(c[2].progress().at(3).match == 3);
  CHECK(c[2].progress().at(4).match == 3);
  CHECK(c[2].committed() < 3);
  // Once the term-4 no-op is replicated to a majority, both commit together.
  for (int i = 0; i < 3; ++i) {
    c.Tick(2, 1);
    c.Stabilize();
  }
  CHECK(c[2].committed() == c[2].last_index());
  CHECK(c[2].TermAt(c[2].committed()) == 4);
}

TEST_CASE("pre-vote keeps a partitioned node from bumping its term and disrupting the leader") {
  Cluster c(3);
  c.Elect(1);
  uint64_t term = c[1].term();
  c.Isolate(3);
  c.TickAll(100);
  CHECK(c[3].term() == term);  // Pre-votes fail without bumping the term.
  CHECK(c[3].role() == Role::kPreCandidate);
  c.Heal();
  c.TickAll(5);
  CHECK(c[1].role() == Role::kLeader);
  CHECK(c[1].term() == term);
  CHECK(c[3].lead() == 1);
}

TEST_CASE("without pre-vote a partitioned node returns with a higher term and forces an election") {
  Cluster c(3, [](Config& cfg) {
    cfg.pre_vote = false;
    cfg.check_quorum = false;
  });
  c.Elect(1);
  uint64_t term = c[1].term();
  c.Isolate(3);
  c.TickAll(100);
  CHECK(c[3].term() > term);
  c.Heal();
  c.TickAll(50);
  // Someone leads at the inflated term; node 3's log was behind, so not node 3.
  CHECK(c[1].term() > term);
}

TEST_CASE("check-quorum: a leader cut off from the quorum steps down after an election timeout") {
  Cluster c(3);
  c.Elect(1);
  c.Isolate(1);
  for (int i = 0; i < 25; ++i) {
    c.Tick(1, 1);
    c.Stabilize();
  }
  CHECK(c[1].role() == Role::kFollower);
}

TEST_CASE("followers that hear from a leader ignore vote requests (leader stickiness)") {
  Cluster c(3);
  c.Elect(1);
  uint64_t term = c[1].term();
  // Node 3 is forced to campaign; nodes 1 and 2 have a live leader and ignore it.
  c.Isolate(3);
  c.Tick(3, 40);
  c.Stabilize();
  c.Heal();
  c[3].Campaign();
  c.Stabilize();
  CHECK(c[1].role() == Role::kLeader);
  CHECK(c[1].term() == term);
}

TEST_CASE("leadership transfer: the target catches up, gets TimeoutNow and wins") {
  Cluster c(3);
  c.Elect(1);
  c.Isolate(3);
  REQUIRE(c[1].Propose("x").ok());
  c.Stabilize();
  c.Heal();
  REQUIRE(c[1].TransferLeader(3).ok());
  // While the transfer is in progress, proposals are refused.
  CHECK(c[1].Propose("y").code() == Error::kProposalDropped);
  c.Stabilize();
  CHECK(c[3].role() == Role::kLeader);
  CHECK(c[1].lead() == 3);
  CHECK(c.CountDelivered(MessageType::kTimeoutNow) == 1);
  CHECK(AppliedData(c.node(3)) == std::vector<std::string>{"x"});
}

TEST_CASE("a leadership transfer to an unreachable node times out and the leader resumes") {
  Cluster c(3);
  c.Elect(1);
  c.Isolate(3);
  REQUIRE(c[1].TransferLeader(3).ok());
  CHECK(c[1].Propose("y").code() == Error::kProposalDropped);
  for (int i = 0; i < 12; ++i) {
    c.Tick(1, 1);
    c.Stabilize();
  }
  CHECK(c[1].role() == Role::kLeader);
  CHECK(c[1].Propose("z").ok());
}

TEST_CASE("TransferLeader on a follower fails with NotLeader") {
  Cluster c(3);
  c.Elect(1);
  CHECK(c[2].TransferLeader(3).code() == Error::kNotLeader);
  CHECK(c[1].TransferLeader(9).code() == Error::kInvalidArgument);
}

TEST_CASE("ReadIndex on the leader returns the commit index after a quorum heartbeat round") {
  Cluster c(3);
  c.Elect(1);
  REQUIRE(c[1].Propose("x").ok());
  c.Stabilize();
  REQUIRE(c[1].ReadIndex("r1").ok());
  c.Process();
  CHECK(c.node(1).read_states.empty());  // Not before the heartbeat round.
  c.Stabilize();
  REQUIRE(c.node(1).read_states.size() == 1);
  CHECK(c.node(1).read_states[0].context == "r1");
  CHECK(c.node(1).read_states[0].index == c[1].committed());
}

TEST_CASE("ReadIndex on a follower is answered by the leader") {
  Cluster c(3);
  c.Elect(1);
  REQUIRE(c[2].ReadIndex("f").ok());
  c.Stabilize();
  REQUIRE(c.node(2).read_states.size() == 1);
  CHECK(c.node(2).read_states[0].index == c[1].committed());
}

TEST_CASE("a partitioned leader cannot serve ReadIndex") {
  Cluster c(3);
  c.Elect(1);
  c.Isolate(1);
  REQUIRE(c[1].ReadIndex("stale?").ok());
  c.Stabilize();
  c.TickAll(3);
  CHECK(c.node(1).read_states.empty());
}

TEST_CASE("ReadIndex on a new leader waits until an entry of its term commits") {
  Cluster c(3);
  c[1].Campaign();
  // Deliver votes only: node 1 leads but its no-op is not yet replicated.
  c.Stabilize([](const Message& m) { return m.type != MessageType::kAppend; });
  REQUIRE(c[1].role() == Role::kLeader);
  REQUIRE(c[1].ReadIndex("early").ok());
  c.Stabilize([](const Message& m) { return m.type != MessageType::kAppend; });
  CHECK(c.node(1).read_states.empty());
  c.Tick(1, 1);
  c.Stabilize();
  REQUIRE(c.node(1).read_states.size() == 1);
  CHECK(c.node(1).read_states[0].index == c[1].committed());
}

TEST_CASE("lease-based reads are served without a heartbeat round while the lease holds") {
  Cluster c(3, [](Config& cfg) { cfg.read_only = ReadOnlyOption::kLeaseBased; });
  // Let the boot lease (one election timeout of refusing votes after a start) pass.
  c.TickAll(30);
  uint64_t leader = 0;
  for (uint64_t id = 1; id <= 3; ++id)
    if (c[id].role() == Role::kLeader) leader = id;
  REQUIRE(leader != 0);
  c.TickAll(2);  // A heartbeat round acknowledged by all: the lease is fresh.
  CHECK(c[leader].LeaseValid());
  c.ClearLog();
  REQUIRE(c[leader].ReadIndex("lease").ok());
  c.Process();
  REQUIRE(c.node(leader).read_states.size() == 1);
  // Cut off, the lease expires after lease_ticks and reads need a (failing) quorum round.
  c.Isolate(leader);
  c.Tick(leader, 6);
  c.Stabilize();
  CHECK_FALSE(c[leader].LeaseValid());
}

TEST_CASE("Config::Validate names the bad field") {
  Config cfg;
  CHECK(cfg.Validate().code() == Error::kInvalidArgument);
  cfg.id = 1;
  CHECK(cfg.Validate().ok());
  cfg.election_ticks = 1;
  CHECK(cfg.Validate().message().find("election_ticks") != std::string::npos);
  cfg.election_ticks = 10;
  cfg.read_only = ReadOnlyOption::kLeaseBased;
  cfg.check_quorum = false;
  CHECK(cfg.Validate().message().find("check_quorum") != std::string::npos);
}

TEST_CASE("a restarted node recovers term, vote, log and commit from storage") {
  Cluster c(3);
  c.Elect(1);
  REQUIRE(c[1].Propose("a").ok());
  REQUIRE(c[1].Propose("b").ok());
  c.Stabilize();
  uint64_t term = c[2].term(), last = c[2].last_index(), commit = c[2].committed();
  c.Restart(2);
  CHECK(c[2].term() == term);
  CHECK(c[2].last_index() == last);
  CHECK(c[2].committed() == commit);
  CHECK(c[2].role() == Role::kFollower);
  // Entries already applied before the crash are re-delivered (applied was the snapshot).
  c.node(2).applied.clear();
  c.Process();
  CHECK(AppliedData(c.node(2)) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("flow control: at most max_inflight_msgs appends are outstanding per follower") {
  Cluster c(3, [](Config& cfg) {
    cfg.max_inflight_msgs = 2;
    cfg.max_entries_per_msg = 1;
  });
  c.Elect(1);
  c.queue().clear();
  for (int i = 0; i < 10; ++i) {
    REQUIRE(c[1].Propose(Cat("p", i)).ok());
    c.Process();  // Messages accumulate but are not delivered.
  }
  int to2 = 0;
  for (const Message& m : c.queue()) to2 += m.type == MessageType::kAppend && m.to == 2;
  CHECK(to2 == 2);
  c.Stabilize();
  CHECK(AppliedData(c.node(2)).size() == 10);
}

TEST_CASE("batching: proposals between two Readys travel in one append") {
  Cluster c(3);
  c.Elect(1);
  c.queue().clear();
  for (int i = 0; i < 10; ++i) REQUIRE(c[1].Propose(Cat("p", i)).ok());
  c.Process();
  int to2 = 0;
  size_t entries = 0;
  for (const Message& m : c.queue())
    if (m.type == MessageType::kAppend && m.to == 2) ++to2, entries += m.entries.size();
  CHECK(to2 == 1);
  CHECK(entries == 10);
}

TEST_CASE("a lagging follower behind the compacted log receives a chunked snapshot") {
  Cluster c(3, [](Config& cfg) { cfg.snapshot_chunk_bytes = 4; });
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 5; ++i) REQUIRE(c[1].Propose(Cat("v", i)).ok());
  c.Stabilize();
  uint64_t applied = c[1].applied();
  REQUIRE(c.node(1).storage->CreateSnapshot(applied, c[1].conf_state(), "SNAPSHOT-DATA-0123456789", applied).ok());
  c.Heal();
  c.ClearLog();

  c.TickAll(2);
  int chunks = c.CountDelivered(MessageType::kSnapshot);
  CHECK(chunks >= 6);  // 24 bytes in 4-byte chunks.
  CHECK(c.node(3).installed.data == "SNAPSHOT-DATA-0123456789");
  CHECK(c.node(3).installed.metadata.index == applied);
  REQUIRE(c[1].Propose("after").ok());
  c.Stabilize();
  CHECK(AppliedData(c.node(3)) == std::vector<std::string>{"after"});
  CHECK(c[1].progress().at(3).state == Progress::State::kReplicate);
}

// A bench_moves run (2026-12-06): a learner that had just installed a snapshot answered, at
// once, the ~700 heartbeats its leader had sent meanwhile (one per read round, under a
// search load), and the leader resent the same append for every answer: 721 copies of
// 400 KB in one batch, 2 s of its loop, and its leadership lost.
TEST_CASE("heartbeat responses retransmit at most once per heartbeat interval, however many arrive") {
  Cluster c(3);
  c.Elect(1);
  REQUIRE(c[1].Propose("a").ok());
  c.Stabilize();
  c.Cut(1, 3);  // Node 3 misses an append.
  REQUIRE(c[1].Propose("b").ok());
  c.Stabilize();
  c.Heal();
  // 50 read rounds: 50 heartbeats to each follower before any answer is handled.
  for (int i = 0; i < 50; ++i) {
    REQUIRE(c[1].ReadIndex(Cat("r", static_cast<uint64_t>(i))).ok());
    c.Process();
  }
  int appends_to_3 = 0, snapshots = 0;
  c.Stabilize([&](const Message& m) {
    snapshots += m.type == MessageType::kSnapshot;
    if (m.type == MessageType::kAppend && m.to == 3 && !m.entries.empty()) {
      ++appends_to_3;
      return false;  // Node 3 is slow: nothing sent to it lands within this interval.
    }
    return true;
  });
  CHECK(appends_to_3 <= 1);
  CHECK(snapshots == 0);
  CHECK(c.node(1).read_states.size() == 50);  // Every read round is still confirmed.
  // The next heartbeat interval retransmits what node 3 missed.
  c.TickAll(3);
  CHECK(AppliedData(c.node(3)) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("a lost snapshot chunk is resent after the next heartbeat") {
  Cluster c(3, [](Config& cfg) { cfg.snapshot_chunk_bytes = 4; });
  c.Elect(1);
  c.Isolate(3);
  REQUIRE(c[1].Propose("v").ok());
  c.Stabilize();
  REQUIRE(c.node(1).storage->CreateSnapshot(c[1].applied(), c[1].conf_state(), "0123456789ab", c[1].applied()).ok());
  c.Heal();
  int dropped = 0;
  for (int i = 0; i < 4; ++i) {
    c.Tick(1, 1);
    c.Stabilize([&](const Message& m) {
      if (m.type == MessageType::kSnapshot && m.offset == 4 && dropped == 0) {
        ++dropped;
        return false;
      }
      return true;
    });
    if (dropped == 1 && i < 3) CHECK(c.node(3).installed.empty() == (c.CountDelivered(MessageType::kSnapshot) < 3));
  }
  CHECK(dropped == 1);
  CHECK(c.node(3).installed.data == "0123456789ab");
}

// cluster-sim seed 300123 (pre-vote and check-quorum off): a replica removed from a group
// while it was ahead in term (isolated, it had campaigned up to term 9) was added back as a
// learner, starting from its tombstone's term. It ignored the leader's appends of the
// earlier term, and, as a learner, never campaigned to raise the group's term: it stayed
// empty, and the move that added it never finished. A node ahead in term now answers a
// stale leader's append or heartbeat in every mode, so the leader steps down and the group
// elects again in a term the learner accepts.
TEST_CASE("membership: a learner ahead of its leader's term is not ignored for good: the group moves to its term") {
  Cluster c(3, [](Config& cfg) {
    cfg.pre_vote = false;
    cfg.check_quorum = false;
  });
  c.Elect(1);
  REQUIRE(c[1].Propose("a").ok());
  c.Stabilize();
  const uint64_t leader_term = c[1].term();
  auto ahead = std::make_unique<MemoryStorage>();
  REQUIRE(ahead->SetHardState(HardState{leader_term + 5, 0, 0}).ok());
  c.Add(4, std::move(ahead));
  REQUIRE(c[1].ProposeConfChange({ConfChangeType::kAddLearner, 4}).ok());
  c.Stabilize();
  bool caught_up = false;
  for (int round = 0; round < 200 && !caught_up; ++round) {
    c.TickAll(1);
    c.Stabilize();
    caught_up = AppliedData(c.node(4)) == std::vector<std::string>{"a"};
  }
  REQUIRE(caught_up);
  CHECK(c[4].role() == Role::kFollower);  // Still a learner: it never campaigned.
  CHECK(c[4].term() >= leader_term + 5);
  uint64_t leader = 0;
  for (uint64_t id = 1; id <= 3; ++id)
    if (c[id].role() == Role::kLeader) leader = id;
  REQUIRE(leader != 0);
  CHECK(c[leader].term() == c[4].term());
}

TEST_CASE("membership: a new learner catches up, is promoted, and then counts in the quorum") {
  Cluster c(3);
  c.Elect(1);
  REQUIRE(c[1].Propose("a").ok());
  c.Stabilize();
  c.Add(4, std::make_unique<MemoryStorage>());
  REQUIRE(c[1].ProposeConfChange({ConfChangeType::kAddLearner, 4}).ok());
  c.Stabilize();
  CHECK(c[1].conf_state().learners == std::vector<uint64_t>{4});
  CHECK(c[4].conf_state().learners == std::vector<uint64_t>{4});
  CHECK(AppliedData(c.node(4)) == std::vector<std::string>{"a"});
  // A learner never campaigns.
  c[4].Campaign();
  CHECK(c[4].role() == Role::kFollower);
  REQUIRE(c[1].ProposeConfChange({ConfChangeType::kAddVoter, 4}).ok());
  c.Stabilize();
  CHECK(c[1].conf_state().voters == std::vector<uint64_t>{1, 2, 3, 4});
  // With 4 voters, two nodes down stall commits.
  c.Isolate(3);
  c.Isolate(4);
  REQUIRE(c[1].Propose("stalled").ok());
  c.Stabilize();
  CHECK(AppliedData(c.node(1)).size() == 1);
  c.Heal();
  c.TickAll(3);  // Lost appends are retransmitted after a heartbeat round without progress.
  CHECK(AppliedData(c.node(1)).size() == 2);
}

TEST_CASE("membership: only one change may be pending, and a new leader must first commit its no-op") {
  Cluster c(3);
  c[1].Campaign();
  c.Stabilize([](const Message& m) { return m.type != MessageType::kAppend; });
  REQUIRE(c[1].role() == Role::kLeader);
  CHECK(c[1].ProposeConfChange({ConfChangeType::kAddLearner, 4}).code() == Error::kConfChangePending);
  c.Tick(1, 1);
  c.Stabilize();
  c.Add(4, std::make_unique<MemoryStorage>());
  REQUIRE(c[1].ProposeConfChange({ConfChangeType::kAddLearner, 4}).ok());
  CHECK(c[1].ProposeConfChange({ConfChangeType::kRemoveVoter, 3}).code() == Error::kConfChangePending);
  c.Stabilize();
  CHECK(c[1].ProposeConfChange({ConfChangeType::kRemoveVoter, 3}).ok());
  CHECK(c[2].ProposeConfChange({ConfChangeType::kRemoveVoter, 3}).code() == Error::kNotLeader);
  CHECK(c[1].ProposeConfChange({ConfChangeType::kRemoveVoter, 1}).code() == Error::kConfChangePending);
  c.Stabilize();
  CHECK(c[1].ProposeConfChange({ConfChangeType::kRemoveVoter, 1}).code() == Error::kInvalidArgument);
}

TEST_CASE("membership: a change takes effect on append and is undone if the entry is truncated") {
  Cluster c(3, NoPreVote);
  c.Elect(1);
  c.Isolate(1);
  REQUIRE(c[1].ProposeConfChange({ConfChangeType::kRemoveVoter, 3}).ok());
  c.Stabilize();
  // Effective at once on the leader (before commit).
  CHECK(c[1].conf_state().voters == std::vector<uint64_t>{1, 2});
  CHECK(c[1].committed() < c[1].last_index());
  // Node 2 leads term 3 with node 3; node 1's uncommitted change is truncated away.
  c.Heal();
  c.Isolate(1);
  c.Elect(2);
  c.Heal();
  c.Tick(2, 1);
  c.Stabilize();
  CHECK(c[1].role() == Role::kFollower);
  CHECK(c[1].conf_state().voters == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE("membership: a removed node is not disrupted-by and does not disrupt the cluster") {
  Cluster c(3);
  c.Elect(1);
  REQUIRE(c[1].ProposeConfChange({ConfChangeType::kRemoveVoter, 3}).ok());
  c.Stabilize();
  CHECK(c[1].conf_state().voters == std::vector<uint64_t>{1, 2});
  uint64_t term = c[1].term();
  // The leader stopped replicating to node 3 when the change was appended, so node 3 may
  // never learn of its removal and may campaign: pre-vote and leader stickiness make that
  // harmless.
  c.TickAll(60);
  CHECK(c[3].role() != Role::kLeader);
  CHECK(c[1].term() == term);
  CHECK(c[1].role() == Role::kLeader);
  REQUIRE(c[1].Propose("two-node").ok());
  c.Stabilize();
  CHECK(AppliedData(c.node(2)).back() == "two-node");
}

TEST_CASE("snapshot during a membership change: a new node joins from a snapshot that carries the config") {
  Cluster c(3, [](Config& cfg) {
    cfg.snapshot_chunk_bytes = 8;
    cfg.check_quorum = false;
  });
  c.Elect(1);
  for (int i = 0; i < 4; ++i) REQUIRE(c[1].Propose(Cat("s", i)).ok());
  c.Stabilize();
  c.Add(4, std::make_unique<MemoryStorage>());
  // The AddVoter entry is appended (effective) and compacted into a snapshot before node 4
  // hears anything, so node 4 learns the membership from the snapshot metadata.
  c.Isolate(4);
  REQUIRE(c[1].ProposeConfChange({ConfChangeType::kAddVoter, 4}).ok());
  c.Stabilize();
  ConfState cs = c[1].conf_state();
  CHECK(cs.voters == std::vector<uint64_t>{1, 2, 3, 4});
  REQUIRE(c.node(1).storage->CreateSnapshot(c[1].applied(), cs, "state-with-four-voters", c[1].applied()).ok());
  c.Heal();
  c.TickAll(3);
  CHECK(c.node(4).installed.metadata.conf_state == cs);
  CHECK(c[4].conf_state() == cs);
  // Node 4 is a full voter: with 1 and 4 cut from 2 and 3... a write needs three of four.
  REQUIRE(c[1].Propose("x").ok());
  c.Stabilize();
  CHECK(AppliedData(c.node(4)).back() == "x");
  // And it can lead.
  c.Elect(4);
}

TEST_CASE("a node with an empty log and no membership stays passive until the leader contacts it") {
  Cluster c(3);
  c.Add(9, std::make_unique<MemoryStorage>());
  c.Tick(9, 100);
  c.Stabilize();
  CHECK(c[9].role() == Role::kFollower);
  CHECK(c[9].term() == 0);
}

TEST_CASE("Step rejects a message addressed to another node") {
  Cluster c(3);
  Message m;
  m.type = MessageType::kHeartbeat;
  m.from = 2;
  m.to = 3;
  m.term = 5;
  CHECK(c[1].Step(m).code() == Error::kInvalidArgument);
}

}  // namespace
}  // namespace vectron::raft
