// RawNode: the deterministic Raft core, in the shape of etcd-io/raft's RawNode.
//
// It has no threads, clock, sockets or global randomness. The caller feeds it ticks,
// messages and proposals, and drives it with the Ready/Advance loop:
//
//   while (node.HasReady()) {
//     raft::Ready rd = node.GetReady();
//     storage.ApplySnapshot / Append / SetHardState  // 1. persist (durably)
//     transport.Send(rd.messages);                    // 2. send
//     state_machine.Apply(rd.committed_entries);      // 3. apply (and install rd.snapshot)
//     node.Advance(rd);
//   }
//
// Not thread-safe: one thread owns a RawNode and its Storage.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/storage.h"
#include "raft/types.h"

namespace vectron::raft {

// How ReadIndex confirms leadership.
enum class ReadOnlyOption : uint8_t {
  // A heartbeat round acknowledged by a quorum (no clock assumption).
  kSafe,
  // Served from the leader lease when valid, else as kSafe. Assumes that no node's tick rate
  // exceeds the leader's by more than election_ticks / lease_ticks (see Config::lease_ticks).
  kLeaseBased,
};

// Configuration of one node. Defaults suit a LAN with one tick ≈ 100 ms.
struct Config {
  uint64_t id = kNone;             // This node's id, nonzero.
  int election_ticks = 10;         // Base election timeout; randomized in [e, 2e).
  int heartbeat_ticks = 1;         // Leader heartbeat interval; must be < election_ticks.
  // Last index the state machine has applied, durably (on restart). Must lie in
  // [storage's snapshot index, commit index]: a state machine older than the snapshot installs
  // Storage::GetSnapshot() first (RawNode::Create refuses otherwise).
  uint64_t applied = 0;
  uint64_t max_bytes_per_msg = 1 << 20;  // Batch limit for MsgApp payloads (>= 1 entry sent).
  uint64_t max_entries_per_msg = 0;      // Entry-count cap per MsgApp; 0 = no cap.
  size_t max_inflight_msgs = 64;         // Pipelining window per follower (flow control).
  uint64_t max_committed_bytes_per_ready = 4 << 20;  // Apply batch limit (>= 1 entry).
  uint64_t snapshot_chunk_bytes = 1 << 20;  // InstallSnapshot chunk size.
  bool pre_vote = true;            // Pre-vote round before bumping the term.
  bool check_quorum = true;        // Leader steps down without a quorum for election_ticks;
                                   // followers ignore votes while they hear from a leader.
  ReadOnlyOption read_only = ReadOnlyOption::kSafe;
  // Lease length in the leader's ticks for kLeaseBased, measured from when the confirming
  // heartbeat was sent. Safe while (follower tick rate / leader tick rate) <
  // election_ticks / lease_ticks. 0 means election_ticks / 2. REQUIRES < election_ticks.
  int lease_ticks = 0;
  uint64_t seed = 1;               // Seeds the randomized election timeout.
  // Set only for a replica created just now from nothing (a founding replica bootstrapped
  // on its first start, a group split off another): it has acknowledged no leader, so under
  // kLeaseBased it may vote at once instead of waiting out one election timeout as a node
  // that restarts must (it may have forgotten a lease it acknowledged). Never set it for a
  // restart, nor for a replica created again after it was dropped.
  bool first_start = false;
  // Optional debug logger; receives one line per notable event.
  std::function<void(const std::string&)> logger;

  // Returns InvalidArgument naming the first bad field, else OK.
  Status Validate() const;
};

// A batch of work for the caller; see the loop at the top of this file.
struct Ready {
  SoftState soft_state;                  // Current leader and role (informational).
  std::optional<HardState> hard_state;   // Persist if set, before sending messages.
  std::vector<Entry> entries;            // Append to storage before sending messages.
  Snapshot snapshot;                     // If !empty(): ApplySnapshot to storage and install.
  std::vector<Message> messages;         // Send after persisting.
  std::vector<Entry> committed_entries;  // Apply in order after persisting.
  std::vector<ReadState> read_states;    // Serve each once applied >= index.
};

// Per-peer replication progress as seen by the leader (exposed for tests and status).
struct Progress {
  enum class State : uint8_t { kProbe, kReplicate, kSnapshot };
  uint64_t match = 0;
  uint64_t next = 1;
  State state = State::kProbe;
  bool learner = false;
  bool probe_sent = false;        // kProbe: one MsgApp outstanding until a response.
  bool recent_active = false;     // Heard from within the current check-quorum window.
  std::deque<uint64_t> inflights; // kReplicate: last index of each unacknowledged MsgApp.
  // kSnapshot: the snapshot being streamed, bytes acknowledged, chunk outstanding.
  std::shared_ptr<const Snapshot> snapshot;
  uint64_t snapshot_acked = 0;
  bool snapshot_chunk_sent = false;
  uint64_t hb_seq_acked = 0;      // Highest heartbeat round acknowledged this term.
  uint64_t lease_tick_acked = 0;  // Highest leader send-tick acknowledged this term.
  uint64_t match_at_heartbeat = UINT64_MAX;  // match at the previous retransmission check.
  // Heartbeat responses trigger retransmissions (a snapshot chunk, a probe, lost appends)
  // only from this tick on: at most once per heartbeat interval, however many responses
  // arrive (heartbeats also go out for every read round, and a follower that was busy
  // answers all it queued at once).
  uint64_t retransmit_tick = 0;
  bool hibernate_acked = false;   // Hibernating leader: the peer acknowledged hibernating.
};

class RawNode {
 public:
  // Builds a node over `storage` (which must outlive it), restoring hard state, log and
  // membership from it; committed entries after config.applied come out in the next Readys.
  // Errors: InvalidArgument from Config::Validate, or if config.applied is below the
  // storage's snapshot index (entries would be skipped) or beyond the commit index; storage
  // errors (Io, Corruption).
  static Status Create(const Config& config, Storage* storage, std::unique_ptr<RawNode>* out);

  // Advances logical time by one tick (elections, heartbeats, check-quorum, lease).
  void Tick();
  // Processes a message from a peer. Messages of unknown or stale origin are ignored.
  // Errors: InvalidArgument if m.to is not this node.
  Status Step(const Message& m);
  // Proposes `data` for appending. On a follower it is forwarded to the known leader.
  // Errors: ProposalDropped if no leader is known or a leadership transfer is in progress.
  // OK does not mean it will commit: it may be lost; callers retry with an id to dedupe.
  Status Propose(std::string data);
  // Proposes a membership change; only on the leader, one at a time. Takes effect on every
  // node when the entry is appended to its log. Errors: NotLeader; ConfChangePending while a
  // previous change, or the leader's first entry of its term, is uncommitted; InvalidArgument
  // for a change that touches the leader itself or would leave no voter.
  Status ProposeConfChange(const ConfChange& cc);
  // Requests a linearizable read. A ReadState with the same context appears in a later Ready
  // (or never, if leadership is lost: callers time out and retry).
  // Errors: ProposalDropped if no leader is known.
  Status ReadIndex(std::string context);
  // Asks the leader to hand leadership to `target` (must be a voter). Ignored by followers
  // (Errors: NotLeader). The transfer aborts after an election timeout.
  Status TransferLeader(uint64_t target);
  // Starts an election now (tests and operators); no-op on leaders and non-voters.
  void Campaign();

  // Hibernation of a quiet group (docs/raft.md, "Hibernation"); the driver decides when.
  // A hibernating node still counts ticks (the lease clock runs on), but a hibernating
  // leader neither heartbeats peers that acknowledged its hibernation nor checks quorum,
  // and a hibernating follower's election timer stands still. Any message other than a
  // heartbeat flagged `hibernate` (follower) or a heartbeat response (leader), a proposal,
  // read, conf change, transfer, campaign or new term wakes the node.
  //
  // Whether this leader's group is quiet: everything is committed, persisted and matched by
  // every peer (learners too), no read, conf change, transfer or snapshot is pending, and
  // the leader has been elected or awake for more than an election timeout.
  bool Quiescent() const;
  // Leader: starts hibernating if Quiescent(), sending every peer a heartbeat flagged
  // `hibernate` (repeated each heartbeat interval to peers that have not acknowledged it).
  // A follower that is caught up hibernates on it and says so in its response.
  void Hibernate();
  // Ends hibernation; no-op when awake. A leader heartbeats at once, starts a fresh
  // check-quorum window, and serves no lease read until a quorum acknowledges a heartbeat
  // sent after waking. A follower restarts its election timer and pokes its leader, so that
  // a hibernating leader that is alive wakes and heartbeats before the timer runs out.
  void Wake();
  bool hibernating() const { return hibernating_; }

  // Whether GetReady would return any work.
  bool HasReady(bool with_committed = true);
  // Returns pending work. REQUIRES: no other call on this node until Advance(rd).
  // `with_committed` false leaves committed entries out (they come in a later Ready): a
  // caller whose state machine is still applying the previous batch in the background
  // takes the rest (messages, entries to persist, read states) without waiting for it, so
  // the node keeps ticking, heartbeating and voting while a long apply runs.
  Ready GetReady(bool with_committed = true);
  // Acknowledges that `rd` was persisted and sent, and that its committed entries were
  // applied or handed, in order, to whatever applies them.
  void Advance(const Ready& rd);

  // Introspection (tests, checkers, metrics).
  uint64_t id() const { return id_; }
  uint64_t term() const { return term_; }
  uint64_t lead() const { return lead_; }
  Role role() const { return role_; }
  uint64_t committed() const { return committed_; }
  uint64_t applied() const { return applied_; }
  uint64_t last_index() const;
  // Term of entry i in this node's log, or 0 if it is compacted or absent.
  uint64_t TermAt(uint64_t i) const;
  // Current membership (including uncommitted appended changes).
  const ConfState& conf_state() const { return conf_; }
  // Leader only: replication progress per peer.
  const std::map<uint64_t, Progress>& progress() const { return prs_; }
  // Whether a lease read would be served now without a heartbeat round (leader only).
  bool LeaseValid() const;
  // Treats the lease as expired: only heartbeats sent from the next tick on renew it. For a host
  // whose tick count fell behind real time (ticks dropped after a pause or a long loop):
  // the lease is measured in this node's ticks, so a leader that missed ticks would count
  // it longer than it lasted on the followers' clocks.
  void ExpireLease();

 private:
  RawNode(const Config& c, Storage* storage);
  Status Init();

  // Log.
  uint64_t FirstIndex() const;
  bool MatchTerm(uint64_t i, uint64_t term) const { return TermOrErr(i).first && TermOrErr(i).second == term; }
  std::pair<bool, uint64_t> TermOrErr(uint64_t i) const;  // {ok, term}
  Status Slice(uint64_t lo, uint64_t hi, uint64_t max_bytes, uint64_t max_count, std::vector<Entry>* out) const;
  void AppendToLog(std::vector<Entry> ents);  // Truncates on conflict; updates config.
  void CommitTo(uint64_t index);
  bool IsUpToDate(uint64_t last_index, uint64_t last_term) const;
  uint64_t FindConflictByTerm(uint64_t index, uint64_t term) const;
  uint64_t LastTerm() const { return TermAt(last_index()); }

  // Roles.
  void BecomeFollower(uint64_t term, uint64_t lead);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void Reset(uint64_t term);
  void ResetRandomizedTimeout();
  void StartCampaign(bool pre, bool force);
  bool Promotable() const { return conf_.IsVoter(id_); }
  // Leader stickiness: whether we promised (by acknowledging a leader within the last
  // election timeout, or by having restarted less than one ago under kLeaseBased) not to
  // vote for another candidate. Always false without check_quorum.
  bool InLease() const;
  void HeardFromLeader(uint64_t leader);  // A follower accepted a leader's message.

  // Leader.
  void AppendLocal(std::vector<Entry> ents);
  void BroadcastAppend();
  bool SendAppend(uint64_t to, bool send_if_empty);
  void SendSnapshotChunk(uint64_t to, Progress& pr);
  // hibernate: the heartbeat asks followers to hibernate and skips peers that acknowledged.
  void BroadcastHeartbeat(bool hibernate = false);
  void WakeUp(bool poke_leader);
  bool MaybeCommit();
  void HandleAppendResp(const Message& m, Progress& pr);
  void HandleHeartbeatResp(const Message& m, Progress& pr);
  void ProcessReadRequest(uint64_t from, std::string context);
  void ReleaseReads();
  bool CommittedInTerm() const { return TermAt(committed_) == term_; }
  uint64_t QuorumValue(const std::function<uint64_t(uint64_t id, const Progress&)>& value) const;

  // Follower.
  void HandleAppend(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleSnapshotChunk(const Message& m);
  bool Restore(const Snapshot& snap);

  // Elections.
  void HandleVoteRequest(const Message& m);
  void HandleVoteResp(const Message& m);

  // Membership.
  void ApplyConfEntries(const std::vector<Entry>& ents);
  void SetConf(const ConfState& cs);
  void RecomputeConf();

  void Send(Message m);
  void Log(const std::string& line) const;
  uint64_t NextRandom();

  Config cfg_;
  Storage* storage_;
  uint64_t id_;
  uint64_t rng_state_;

  // Persistent state (mirrored in storage once Ready is handled).
  uint64_t term_ = 0;
  uint64_t vote_ = kNone;
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;
  HardState prev_hard_state_;

  // Unstable log tail: entries not yet handed to the caller for persisting, or handed but
  // not yet acknowledged by Advance. unstable_offset_ is the index of unstable_[0].
  std::vector<Entry> unstable_;
  uint64_t unstable_offset_ = 1;
  std::optional<Snapshot> unstable_snapshot_;

  // Volatile state.
  Role role_ = Role::kFollower;
  uint64_t lead_ = kNone;
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  uint64_t ticks_ = 0;  // Ticks since this node started (lease arithmetic).
  // When this node last accepted a leader's message (any term). Unlike lead_, which a
  // higher term clears, it keeps the stickiness promise a lease relies on.
  bool heard_leader_ = false;
  uint64_t heard_leader_tick_ = 0;
  std::map<uint64_t, bool> votes_;
  std::map<uint64_t, Progress> prs_;
  uint64_t lead_transferee_ = kNone;
  uint64_t pending_conf_index_ = 0;
  bool lease_revoked_ = false;
  bool needs_broadcast_ = false;
  bool needs_heartbeat_ = false;
  uint64_t last_broadcast_commit_ = 0;
  // Storage::RejoinedEmpty and DroppedLogEnd at start: while its log is empty this replica
  // votes only for candidates whose log reaches where its log ended when it was dropped.
  bool rejoined_empty_ = false;
  LogEnd dropped_end_;
  // Hibernation: whether hibernating; leader: the first heartbeat round asking for it, and
  // the tick of the last wake (lease acknowledgements of earlier heartbeats are ignored);
  // follower: the highest heartbeat round seen from this term's leader (a delayed
  // hibernation request from before a newer heartbeat is ignored).
  bool hibernating_ = false;
  uint64_t hibernate_seq_ = 0;
  uint64_t lease_floor_tick_ = 0;
  uint64_t awake_since_tick_ = 0;  // Leader: elected or last woken at this tick.
  uint64_t leader_hb_seq_ = 0;
  SoftState prev_soft_state_;

  // Membership: base_conf_ holds at base_conf_index_; conf_history_ has the state after each
  // conf-change entry in the log beyond it (effective on append).
  ConfState base_conf_;
  uint64_t base_conf_index_ = 0;
  std::map<uint64_t, ConfState> conf_history_;
  ConfState conf_;

  // Reads.
  struct PendingRead {
    uint64_t index;
    uint64_t seq;
    uint64_t from;
    std::string context;
  };
  uint64_t read_seq_ = 0;
  std::deque<PendingRead> pending_reads_;
  std::vector<std::pair<uint64_t, std::string>> reads_waiting_commit_;  // {from, context}
  std::vector<ReadState> read_states_;

  // Follower side of an in-progress chunked snapshot.
  Snapshot incoming_snapshot_;
  uint64_t incoming_snapshot_total_ = 0;

  std::vector<Message> msgs_;
};

}  // namespace vectron::raft
