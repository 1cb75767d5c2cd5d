// RaftHost: the Raft groups of one node, driven by one loop (docs/cluster.md, "RaftHost").
//
// Each group is a raft::RawNode over its handle of the node's one GroupLogStore, and a
// StateMachine. One RunOnce() is one loop: completions, clock ticks, inbound messages, every
// group's Ready, ONE durable write for all of them, ONE transport message per peer, then the
// committed entries go to the state machines through the Executor and the group is
// Advanced. While a group's apply task runs, the group goes on (ticks, messages, proposals,
// reads, persisting and sending) but takes no further committed entries until the task has
// finished: a long apply does not silence a leader. While a snapshot is being installed,
// its inbound messages, ticks and proposals wait.
//
// Not thread-safe: every method is called on the node's loop thread. Executor tasks touch
// only their group's StateMachine and report back through the LoopQueue.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "net/cluster/clock.h"
#include "net/cluster/executor.h"
#include "net/cluster/group_log_store.h"
#include "net/cluster/transport.h"
#include "raft/raw_node.h"
#include "vectron/status.h"

namespace vectron::net::cluster {

// Converts a raft library status to a Vectron one (the code mapping of docs/cluster.md).
Status FromRaft(const raft::Status& s);

// What a group replicates. applied_index() and durable_applied_index() are read on the loop
// thread while a task may be applying, so implementations make them thread-safe.
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // Index of the last entry applied (after a restart: what survived).
  virtual uint64_t applied_index() const = 0;
  // Highest applied index whose effects survive a crash of the node: the log is never
  // compacted past it.
  virtual uint64_t durable_applied_index() const = 0;
  // Applies committed entries in log order: normal entries, the empty entries new leaders
  // append, and conf changes; each advances applied_index(). Entries at or below
  // applied_index() are skipped. Runs as an executor task. An error is fatal for the node.
  virtual Status Apply(const std::vector<raft::Entry>& entries) = 0;
  // The data of a log snapshot at `index` (== durable_applied_index() when called, and no
  // task is running). For state that is small, the state; for a shard, a descriptor.
  virtual Result<std::string> SnapshotData(uint64_t index) = 0;
  // Whether a MsgSnap from `from` may be stepped now, i.e. its data is available here.
  // False: the host drops the message (the leader resends it); the state machine may start
  // fetching the data meanwhile. Loop thread.
  // It may rewrite the message's snapshot (ShardStateMachine: a copy past its index).
  virtual bool SnapshotReady(const NodeId& from, raft::Message* m) {
    (void)from;
    (void)m;
    return true;
  }
  // Installs `snap` (a snapshot Raft delivered, or the log's own at start); afterwards
  // applied_index() >= snap.metadata.index. Runs as an executor task (at start: inline).
  virtual Status InstallSnapshot(const raft::Snapshot& snap) = 0;
};

struct RaftHostOptions {
  // Kind of the nodes that host this node's groups' other replicas (Raft ids are their ids).
  NodeKind peer_kind = NodeKind::kWorker;
  // One Raft tick per this many ms of the monotonic clock.
  uint64_t tick_ms = 100;
  // A loop that runs late ticks at most this many times (the rest is dropped).
  int max_ticks_per_loop = 3;
  // Template for every group's raft::Config (id, applied and seed are set per group).
  raft::Config raft;
  // Compact a group's log once its state machine's durable applied index is this many
  // entries past the log's snapshot.
  uint64_t compact_entries = 1000;
  // Inbound messages held per busy group; more are dropped (Raft retransmits).
  size_t inbox_max = 4096;
  // Reads held per group for its next loop; more are refused with Unavailable.
  size_t pending_max = 1024;
  // Hibernation of idle groups (docs/cluster.md, "Hibernation"): a group this node leads
  // that stays quiet (raft::RawNode::Quiescent) for this many ticks stops heartbeating, and
  // its followers stop their election timers; the hosts then exchange one small keepalive
  // per peer every heartbeat interval instead, and wake the groups of a peer that falls
  // silent for an election timeout, restarts, or comes back. 0 = off (every group
  // heartbeats on its own).
  uint64_t hibernate_after_ticks = 0;
  // Test hook (the simulator's crash point "after persisting, before sending"): called after
  // each loop's log write; returning true makes RunOnce fail with Aborted before anything of
  // the loop is sent or applied, as if the process died there.
  std::function<bool()> crash_after_persist;
};

struct GroupStatus {
  raft::Role role = raft::Role::kFollower;
  uint64_t lead = 0;
  uint64_t term = 0;
  uint64_t commit = 0;
  uint64_t applied = 0;       // The state machine's.
  uint64_t first_index = 0;   // Of the log.
  uint64_t last_index = 0;
  bool busy = false;      // A Ready in flight (a snapshot installing): messages are held.
  bool applying = false;  // An apply task is running (the group goes on meanwhile).
  bool hibernating = false;
  raft::ConfState conf;            // Including appended, uncommitted changes.
  // The membership committed as far as this replica knows (its log's snapshot and the
  // changes committed since), and the log index it dates from.
  raft::ConfState committed_conf;
  uint64_t conf_index = 0;
};

// A group's role as this replica sees it: the cheap part of GroupStatus (no membership copy),
// for paths that ask per request.
struct GroupRole {
  raft::Role role = raft::Role::kFollower;
  uint64_t lead = 0;
  uint64_t term = 0;
};

class RaftHost {
 public:
  struct Callbacks {
    // A group's apply task finished (its state machine's outcomes may be collected).
    std::function<void(uint64_t group)> on_applied;
    // A linearizable read may be served once the group has applied rs.index.
    std::function<void(uint64_t group, const raft::ReadState& rs)> on_read_state;
    // A read ReadIndex held (the group was busy, or a tick was due) was refused when the
    // loop asked for it: no leader known (Unavailable). It will never be confirmed.
    std::function<void(uint64_t group, const std::string& context, const Status& s)> on_read_refused;
    // A group's leader or role changed.
    std::function<void(uint64_t group, const raft::SoftState& ss)> on_soft_state;
    // A snapshot Raft delivered was installed in a group's state machine.
    std::function<void(uint64_t group, const raft::SnapshotMetadata& md)> on_installed;
  };
  struct Stats {
    uint64_t loops = 0;
    uint64_t log_writes = 0;          // GroupLogStore::Write calls (one per loop with work)
    uint64_t transport_messages = 0;  // RaftBatch envelopes sent
    uint64_t raft_messages = 0;       // Raft messages inside them
    uint64_t snapshots_installed = 0;
    uint64_t snapshots_forwarded = 0;  // MsgSnaps stepped at their staged copy's later index
    uint64_t compactions = 0;
    uint64_t keepalives = 0;          // Envelopes sent only to show this node is alive
    uint64_t hibernations = 0;        // Groups this node led into hibernation
    uint64_t wakes = 0;               // Groups woken by a peer's silence, restart or return
    uint64_t heartbeats_coalesced = 0;  // Queued heartbeats replaced by a later one (busy groups)
  };

  // Every reference must outlive the host. REQUIRES: no task of this host is left in
  // `executor` when the host is destroyed.
  RaftHost(NodeId self, RaftHostOptions options, Clock& clock, Transport& transport, GroupLogStore& store,
           Executor& executor, LoopQueue& loop, Callbacks callbacks);
  ~RaftHost();
  RaftHost(const RaftHost&) = delete;
  RaftHost& operator=(const RaftHost&) = delete;

  // Starts hosting `group`. If its log is empty and `bootstrap` is given, the log is
  // bootstrapped with that membership (a founding replica); an empty log without it waits
  // for a leader to contact it, and so does a group this node hosted and dropped before,
  // bootstrap or not: it starts from the term and vote it kept (GroupLogStore::DropGroup). A state machine behind the log's snapshot installs it first.
  // Errors: AlreadyExists; the log's errors; InvalidArgument from raft::RawNode::Create.
  // A group split off another (docs/cluster.md, "Splits") is bootstrapped at the split's
  // log index `bootstrap_index` instead of 1, with the state machine's snapshot data there
  // (its state machine is already at that index).
  Status AddGroup(uint64_t group, std::unique_ptr<StateMachine> sm, const raft::ConfState* bootstrap,
                  uint64_t bootstrap_index = 1);
  // Stops hosting `group` and deletes its log (at once if idle, else when its Ready is done),
  // keeping only its term and vote (GroupLogStore::DropGroup). Errors: NotFound.
  Status RemoveGroup(uint64_t group);
  bool HasGroup(uint64_t group) const;
  // Ids of the hosted groups, ascending.
  std::vector<uint64_t> groups() const;
  // The group's state machine, or nullptr. Owned by the host.
  StateMachine* state_machine(uint64_t group) const;
  // Snapshot of a group's state. REQUIRES: HasGroup(group).
  GroupStatus group_status(uint64_t group) const;
  // Its role, leader and term only. REQUIRES: HasGroup(group).
  GroupRole group_role(uint64_t group) const;

  // Queues the Raft messages of `batch` for their groups (stepped in the next RunOnce).
  // Messages for groups not hosted here are dropped. Any batch, even an empty one, shows
  // that `from` is alive (hibernation).
  void Receive(const NodeId& from, RaftBatch batch);

  // One loop (see the top of this file). Errors: a failed log write or a failed apply or
  // install (fatal: the node must stop; nothing of this loop was sent).
  Status RunOnce();

  // Proposes `data` on `group`, at once (also while an apply runs). OK does not mean it will
  // commit. Errors: NotFound, Unavailable (no leader known, a leadership transfer in
  // progress, or the replica is installing a snapshot).
  Status Propose(uint64_t group, std::string data);
  // Requests a linearizable read; on_read_state reports it (or never, if leadership is
  // lost). Errors: NotFound, Unavailable (no leader known, or too many held). A read held
  // for the next loop that is refused then is reported by on_read_refused.
  Status ReadIndex(uint64_t group, std::string context);
  // Leadership transfer (PD's leader balancing, operators, tests) and campaigns. A
  // transfer asked for while the group is busy (installing a snapshot) starts when it is next fed.
  // Errors: NotFound, Unavailable (not the leader; for a transfer to an idle group, the
  // Raft node's refusals).
  Status TransferLeader(uint64_t group, uint64_t target);
  Status Campaign(uint64_t group);
  // Proposes a membership change on the group's leader (PD's replica moves); held until
  // the group is next fed if it is busy. OK does not mean it will commit.
  // Errors: NotFound, Unavailable (not the leader, another change pending), InvalidArgument
  // (a change that touches the leader itself or leaves no voter).
  Status ProposeConfChange(uint64_t group, const raft::ConfChange& cc);

  // Whether this replica (a follower) had applied everything its leader had committed at
  // some moment at most `max_staleness_ms` ago (measured from when the leader's message
  // arrived). Always false on the leader and on a replica that knows no leader.
  bool FreshWithin(uint64_t group, uint64_t max_staleness_ms) const;

  // Whether this replica (a follower) is waiting on its leader for log index `index`: it
  // does not know that `index` is committed, and nothing of `group` has arrived from its
  // leader for at least `silence_ms`. A replica removed from the group, or cut off from
  // its leader, is in that state for good (the leader no longer sends to a removed one).
  // False on the leader, and where `index` is known committed (only the apply is left).
  bool LeaderSilent(uint64_t group, uint64_t index, uint64_t silence_ms) const;

  // The term of `group`'s log entry `index` and the membership after it, for a snapshot
  // copy made at that applied index (SnapshotServer::Position); nullopt if the log no
  // longer holds the entry (compacted past it) or this replica has not applied it.
  std::optional<std::pair<uint64_t, raft::ConfState>> LogPosition(uint64_t group, uint64_t index) const;

  // The group's committed log entries in [lo, hi), at most `max_bytes` of them (at least
  // one); empty if the group is not hosted, hi - 1 is not known committed, or the log no
  // longer holds lo. They may not be applied yet (WorkerNode: reads during a split).
  std::vector<raft::Entry> CommittedEntries(uint64_t group, uint64_t lo, uint64_t hi, uint64_t max_bytes) const;

  // Number of hosted groups that are hibernating (led or followed).
  size_t hibernating_groups() const;

  const Stats& stats() const { return stats_; }
  const NodeId& self() const { return self_; }

 private:
  struct Group;
  enum class Stage : uint8_t { kIdle, kInstalling, kPersistPending };

  void Step(Group& g, const NodeId& from, const raft::Message& m);
  void FeedIdle(Group& g, uint64_t ticks);
  void NoteCommitted(Group& g, const std::vector<raft::Entry>& entries);
  raft::ConfState ConfAt(const Group& g, uint64_t index) const;
  void MaybeCompact(Group& g, std::vector<GroupWrite>& writes);
  void Finish(Group& g);  // Advance and return to idle.
  void OnApplied(uint64_t group, Status s);
  void OnInstalled(uint64_t group, Status s);
  void EraseGroup(uint64_t group);
  // Hibernation: whether the node's liveness view asks `g` (hibernating) to wake.
  bool ShouldWake(const Group& g, uint64_t now) const;
  void SendKeepalives(uint64_t now, std::map<NodeId, RaftBatch>& out);

  NodeId self_;
  RaftHostOptions opt_;
  Clock& clock_;
  Transport& transport_;
  GroupLogStore& store_;
  Executor& executor_;
  LoopQueue& loop_;
  Callbacks cb_;
  uint64_t last_tick_ms_;
  Status fatal_;
  std::map<uint64_t, std::unique_ptr<Group>> groups_;
  Stats stats_;
  // Hibernation: this host's incarnation, and what it knows of each peer (by Raft id).
  struct Peer {
    uint64_t heard_ms = 0;     // Last envelope received.
    uint64_t sent_ms = 0;      // Last envelope sent.
    uint64_t incarnation = 0;  // The peer's, as last received.
  };
  uint64_t incarnation_;
  std::map<uint64_t, Peer> peers_;
  // Peers that restarted or came back after an election timeout of silence since the last
  // loop: the hibernating groups they take part in wake.
  std::set<uint64_t> returned_peers_;
};

}  // namespace vectron::net::cluster
