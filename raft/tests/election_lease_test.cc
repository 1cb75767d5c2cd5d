// Regression tests for election-timer and leader-lease bugs (issue 14, "Raft and Shard"):
// each reproduces the interleaving that broke the old core, message by message.
#include <doctest/doctest.h>

#include "raft/tests/harness.h"

namespace vectron::raft {
namespace {

using testing::Cluster;

// Removes and returns the queued messages matching `pred` (held back: "delayed").
std::vector<Message> Hold(Cluster& c, const std::function<bool(const Message&)>& pred) {
  std::vector<Message> held;
  std::deque<Message> rest;
  for (Message& m : c.queue()) (pred(m) ? held.push_back(m) : rest.push_back(m));
  c.queue() = std::move(rest);
  return held;
}

// Steps every held message into its addressee, then handles the Readys.
void Deliver(Cluster& c, const std::vector<Message>& msgs) {
  for (const Message& m : msgs) REQUIRE(c[m.to].Step(m).ok());
  c.Process();
}

// raft-sim --seed 51672: after the faults stopped, two nodes with stale logs and fast clocks
// took turns campaigning without pre-vote. Each of their vote requests carried a higher term,
// and stepping down to that term restarted the up-to-date nodes' election timers, so they
// never timed out and no leader was elected. Raft's rule (Figure 2): the timer restarts only
// on hearing from the current leader or on granting a vote.
TEST_CASE("a stale candidate's rejected vote requests do not restart the up-to-date nodes' election timers") {
  Cluster c(3, [](Config& cfg) { cfg.pre_vote = false; });
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 3; ++i) REQUIRE(c[1].Propose(Cat("x", static_cast<uint64_t>(i))).ok());
  c.Stabilize();
  REQUIRE(c[2].last_index() > c[3].last_index());  // Node 3's log is stale.
  c.Isolate(1);  // The leader is gone for good.
  c.Cut(3, 1);
  c.Cut(1, 3);
  c.Cut(3, 2, false);
  c.Cut(2, 3, false);
  // Node 3's clock runs 3x faster than node 2's: it campaigns every few of node 2's ticks.
  bool elected = false;
  for (int tick = 0; tick < 60 && !elected; ++tick) {
    c.Tick(2, 1);
    c.Tick(3, 3);
    c.Stabilize();
    elected = c[2].role() == Role::kLeader;
    if (!elected) CHECK(c[3].role() != Role::kLeader);  // Its log is stale: never elected.
  }
  // Node 2 times out within 2 election timeouts of its last contact and wins node 3's vote.
  CHECK(elected);
  CHECK(c[3].lead() == 2);
}

// Ticks every node through the boot window of lease-based reads (a node refuses votes for one
// election timeout after it starts) and drops whatever campaigns that caused.
void PassBootWindow(Cluster& c) {
  for (uint64_t id = 1; id <= 3; ++id) c.Tick(id, 10);
  c.Process();
  c.queue().clear();
}

// The boot window protects leases a node acknowledged before it restarted; a replica on its
// first start (Config::first_start: a founding replica, a split's new group) acknowledged
// none, and waiting out the window only delayed the new group's first election by an
// election timeout (about 1 s in the cluster, measured in a split).
TEST_CASE("under lease reads a replica on its first start votes at once; one that restarts waits an election timeout") {
  Cluster first(3, [](Config& cfg) {
    cfg.read_only = ReadOnlyOption::kLeaseBased;
    cfg.first_start = true;
  });
  first[1].Campaign();
  first.Stabilize();
  CHECK(first[1].role() == Role::kLeader);

  Cluster restarted(3, [](Config& cfg) { cfg.read_only = ReadOnlyOption::kLeaseBased; });
  restarted[1].Campaign();
  restarted.Stabilize();
  CHECK(restarted[1].role() != Role::kLeader);  // Both peers refuse within the window.
  // Node 1 gets ahead by an election timeout and campaigns; the others are still in theirs.
  restarted.Tick(1, 10);
  restarted.Process();
  restarted.queue().clear();
  restarted[1].Campaign();
  restarted.Stabilize();
  CHECK(restarted[1].role() != Role::kLeader);
  // Once the peers are past it too, the same campaign wins.
  restarted.Tick(2, 10);
  restarted.Tick(3, 10);
  restarted.Process();
  restarted.queue().clear();
  restarted[1].Campaign();
  restarted.Stabilize();
  CHECK(restarted[1].role() == Role::kLeader);
}

// Cuts node 3 off from nodes 1 and 2 (both directions), reconnecting 1 and 2.
void IsolateOnly3(Cluster& c) {
  c.Heal();
  c.Isolate(3);
}

// A follower promises, by acknowledging a heartbeat, not to help elect anyone else for an
// election timeout; the leader's lease rests on that promise. The promise was kept in `lead_`,
// which any message with a higher term clears; a same-term vote request was then granted.
// Pre-vote does not close this hole: the candidate's pre-vote quorum can be gathered before
// the lease starts, and the higher term reaches the follower in a delayed response.
TEST_CASE("a follower that acknowledged the leader's lease does not vote after a non-vote message bumps its term") {
  for (bool pre_vote : {false, true}) {
    CAPTURE(pre_vote);
    Cluster c(3, [&](Config& cfg) {
      cfg.read_only = ReadOnlyOption::kLeaseBased;
      cfg.pre_vote = pre_vote;
    });
    PassBootWindow(c);
    c.Elect(1);
    const uint64_t t = c[1].term();
    c.Isolate(1);
    std::vector<Message> vote;  // Node 3's vote request to node 2, delayed.
    std::vector<Message> bump;  // A message with term t+1 that is not a vote request.
    if (pre_vote) {
      // Nodes 2 and 3 stop hearing from node 1 for an election timeout and pre-campaign for
      // t+1. Node 2's pre-vote to node 3 is delayed; node 3's reaches node 2, which grants it.
      c.Tick(2, 10);
      c.Tick(3, 10);
      c.Process();
      c.queue().clear();
      c[2].Campaign();
      c.Process();
      std::vector<Message> late = Hold(c, [](const Message& m) { return m.from == 2 && m.to == 3; });
      REQUIRE(late.size() == 1);
      c[3].Campaign();
      c.Process();
      Deliver(c, Hold(c, [](const Message& m) { return m.from == 3 && m.to == 2; }));
      Deliver(c, Hold(c, [](const Message& m) { return m.from == 2 && m.to == 3; }));
      REQUIRE(c[3].role() == Role::kCandidate);
      REQUIRE(c[3].term() == t + 1);
      vote = Hold(c, [](const Message& m) { return m.from == 3 && m.to == 2; });
      // Node 2's late pre-vote reaches node 3, which rejects it with its term, t+1.
      Deliver(c, late);
      bump = Hold(c, [](const Message& m) { return m.from == 3 && m.to == 2; });
      REQUIRE(bump.size() == 1);
      CHECK(bump[0].type == MessageType::kPreVoteResp);
    } else {
      // Node 3 campaigns at t+1; its vote request to node 2 is delayed.
      c[3].Campaign();
      c.Process();
      vote = Hold(c, [](const Message& m) { return m.from == 3 && m.to == 2; });
      // Any message with term t+1 will do; say node 3's answer to an append that node 2 sent
      // long ago, when it led an earlier term.
      Message m;
      m.type = MessageType::kAppendResp;
      m.from = 3;
      m.to = 2;
      m.term = t + 1;
      bump.push_back(m);
    }
    REQUIRE(vote.size() == 1);
    REQUIRE(vote[0].type == MessageType::kVote);
    REQUIRE(bump[0].term == t + 1);
    // Node 1 is back for node 2, which (still at term t) acknowledges a heartbeat: the lease.
    c.queue().clear();
    IsolateOnly3(c);
    c.Tick(1, 1);
    c.Stabilize();
    REQUIRE(c[2].lead() == 1);
    REQUIRE(c[2].term() == t);
    REQUIRE(c[1].LeaseValid());
    // The delayed messages arrive: first the term bump, then the vote request.
    Deliver(c, bump);
    REQUIRE(c[2].term() == t + 1);
    Deliver(c, vote);
    // Node 2 must refuse while node 1 serves reads from its lease.
    REQUIRE(c[1].LeaseValid());
    std::vector<Message> answer = Hold(c, [](const Message& m) { return m.from == 2 && m.to == 3; });
    bool granted = false;
    for (const Message& m : answer) granted |= m.type == MessageType::kVoteResp && !m.reject;
    CHECK_FALSE(granted);
    Deliver(c, answer);
    CHECK(c[3].role() != Role::kLeader);
  }
}

// cluster-sim seed 101 (worker ids are Raft ids, so a worker that hosted a group, dropped its
// replica and later joins again empty had forgotten its term and vote): the empty replica
// granted its vote in a term it had already voted in, to a node with a stale membership that
// still listed it, and the group had two leaders in one term. A replica created again after
// a drop (Storage::RejoinedEmpty) judges a candidate by the log it had when dropped
// (Storage::DroppedLogEnd), not by its empty one: it votes, pre-vote or vote, only for a log
// that reaches that end, and for none if the end is not known. cluster-sim seed 100108: a
// replica that never existed on its node (a split's new group created from the map before
// its snapshot came) refused too, and once the group's leader died for good the one replica
// with the log could never be elected; it votes.
TEST_CASE("a replica rejoined empty after a drop votes only for a log that reaches where its own ended; one that never existed votes") {
  Cluster c(3);
  auto rejoined = [](LogEnd end) {
    auto st = std::make_unique<MemoryStorage>();
    REQUIRE(st->SetHardState(HardState{3, 1, 0}).ok());  // The tombstone's term and vote.
    st->MarkRejoined(end);
    return st;
  };
  c.Add(4, rejoined(LogEnd{3, 21}));             // Its log went one entry further than the candidate's.
  c.Add(5, std::make_unique<MemoryStorage>());  // Never held the group: no log, no membership.
  c.Add(6, rejoined(LogEnd{3, 20}));             // Exactly as far as the candidate's.
  c.Add(7, rejoined(LogEnd::Unknown()));        // A tombstone that did not record its end.
  c.Add(8, rejoined(LogEnd{2, 40}));             // Longer, but in an earlier term.
  for (uint64_t voter : {4, 5, 6, 7, 8}) {
    for (MessageType type : {MessageType::kPreVote, MessageType::kVote}) {
      Message m;
      m.type = type;
      m.from = 2;
      m.to = voter;
      m.term = 4;
      m.index = 20;
      m.log_term = 3;
      REQUIRE(c[voter].Step(m).ok());
      c.Process();
      std::vector<Message> answers =
          Hold(c, [voter](const Message& r) { return r.from == voter && r.to == 2; });
      REQUIRE(answers.size() == 1);
      CHECK_MESSAGE(answers[0].reject == (voter == 4 || voter == 7), "voter " << voter);
    }
  }
  // Once it has the group's state (here: a bootstrapped node of the same shape), it votes.
  Message m;
  m.type = MessageType::kVote;
  m.from = 2;
  m.to = 3;
  m.term = 4;
  m.index = 20;
  m.log_term = 3;
  REQUIRE(c[3].Step(m).ok());
  c.Process();
  std::vector<Message> answers = Hold(c, [](const Message& r) { return r.from == 3 && r.to == 2; });
  REQUIRE(answers.size() == 1);
  CHECK_FALSE(answers[0].reject);
}

// The liveness gap the rule above closes (docs/cluster.md): a group whose replica on node 3
// was dropped and created again empty, before the leader's snapshot reached it, loses a
// second voter (node 2) for good. Node 1, which has the whole log, must still be elected with
// node 3's vote; while rejoined empty replicas refused every vote, it never was.
TEST_CASE("a group left with one replica with the log and one rejoined empty elects the one with the log") {
  Cluster c(3);
  c.Elect(1);
  for (int i = 0; i < 3; ++i) REQUIRE(c[1].Propose(Cat("x", static_cast<uint64_t>(i))).ok());
  c.Stabilize();
  const LogEnd end = c.node(3).storage->End();
  REQUIRE(end.index == c[1].last_index());
  // Node 3 drops its replica (keeping term, vote and log end) and creates it again, empty.
  const HardState hs = c.node(3).storage->hard_state();
  auto again = std::make_unique<MemoryStorage>();
  REQUIRE(again->SetHardState(HardState{hs.term, hs.vote, 0}).ok());
  again->MarkRejoined(end);
  c.Add(3, std::move(again));
  REQUIRE(c[3].last_index() == 0);
  c.Isolate(2);     // Node 2 is gone for good.
  c.Restart(1);     // And node 1 lost its leadership (a crash): an election is needed.
  bool elected = false;
  for (int tick = 0; tick < 100 && !elected; ++tick) {
    c.Tick(1, 1);
    c.Tick(3, 1);
    c.Stabilize();
    elected = c[1].role() == Role::kLeader;
    CHECK(c[3].role() != Role::kLeader);  // Its own log is empty: never elected.
  }
  REQUIRE(elected);
  // The new leader brings node 3 up to date, and commits with it.
  REQUIRE(c[1].Propose("after").ok());
  c.Stabilize();
  CHECK(c[3].last_index() == c[1].last_index());
  CHECK(c.node(3).applied.back().data == "after");
}

}  // namespace
}  // namespace vectron::raft
