// PdNode: one placement driver replica (docs/cluster.md, "Placement driver"). It runs the
// PD Raft group (a PdStateMachine) on a RaftHost and, while leader, serves workers'
// heartbeats (liveness, registration, which replicas to host), gateways' map requests and
// admin commands (create/drop collection: placement is decided here and proposed as data).
//
// Not thread-safe: Receive and RunOnce are called on the node's loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "net/cluster/clock.h"
#include "net/cluster/executor.h"
#include "net/cluster/pd_state_machine.h"
#include "net/cluster/raft_host.h"

namespace vectron::net::cluster {

// The PD group's id in the PD nodes' log stores.
inline constexpr uint64_t kPdGroupId = 0;

struct PdNodeOptions {
  uint64_t id = 0;                // This PD's id (its Raft id), nonzero.
  std::vector<uint64_t> members;  // Every PD's id (the founding voters), including this one.
  RaftHostOptions raft;           // peer_kind is set to kPd.
  // A worker not heard from for this long is reported dead (and gets no new replicas).
  uint64_t worker_dead_ms = 3000;
  // An admin command not applied within this long is answered Unavailable (retry).
  uint64_t request_timeout_ms = 3000;
  // A registration is proposed again at most this often for one worker.
  uint64_t register_retry_ms = 500;
  // Leader balancing (docs/cluster.md, "Leader balancing"): PD asks a worker that leads
  // at least 2 groups more than another replica of one of them to hand that group over.
  bool balance_leaders = true;
  // A transfer not seen done (the target reporting itself leader) within this long is
  // forgotten, and the group may be moved again.
  uint64_t leader_transfer_timeout_ms = 3000;
  // A target must have applied within this many entries of the leader's last report
  // (a lagging target would stall the group's writes while it catches up).
  uint64_t leader_transfer_max_lag = 256;
  // Replica moves (docs/cluster.md, "Replica moves"). Repair: a worker not heard from for
  // dead_after_ms has each of its replicas replaced by one on another live worker (0: never).
  uint64_t dead_after_ms = 60000;
  // Rebalance: replicas are moved from the most to the least loaded live worker until the
  // replica counts differ by at most one (a worker that joins gets its share).
  bool rebalance_replicas = true;
  // At most this many groups are being moved at once (repairs first).
  uint32_t max_moves = 2;
  // A membership change asked of a group's leader and not seen committed within this long
  // is asked for again.
  uint64_t move_step_timeout_ms = 3000;
  // Splits (docs/cluster.md, "Splits"): a group whose leader reports more points than
  // split_points, or more bytes of live data than split_bytes, is split at the middle of
  // its range (0: not by that measure).
  uint64_t split_points = 0;
  uint64_t split_bytes = 0;
  // A group is not split again within this long of its last split (reads of a group wait
  // while it splits: back-to-back splits would keep them waiting).
  uint64_t split_cooldown_ms = 5000;
};

class PdNode {
 public:
  // All references must outlive the node.
  PdNode(PdNodeOptions options, Clock& clock, Transport& transport, GroupLogStore& store);
  ~PdNode();
  // Opens the PD group (bootstrapping a new store with the members as voters).
  // Errors: those of RaftHost::AddGroup.
  Status Start();
  // Handles one inbound message (the node's loop thread).
  void Receive(const NodeId& from, Envelope msg);
  // One loop: Raft, then request timeouts. Errors are fatal (see RaftHost::RunOnce).
  Status RunOnce();

  bool IsLeader() const;
  // The PD leader as this node knows it (0 = none).
  uint64_t leader() const;
  // The replicated map, with this node's view of liveness and group leaders filled in.
  ClusterMap Map() const;
  const PdStateMachine& state() const { return *sm_; }
  RaftHost& host() { return *host_; }

 private:
  struct Waiter {
    NodeId from;
    uint64_t rpc_id;
    uint64_t deadline_ms;
    bool auth = false;  // Answered with a PdAuthResponse (else PdAdminResponse).
  };
  void OnHeartbeat(const NodeId& from, const PdHeartbeat& hb);
  void OnMapRequest(const NodeId& from, const PdMapRequest& req);
  void OnAdmin(const NodeId& from, const PdAdminRequest& req);
  void OnAuth(const NodeId& from, const PdAuthRequest& req);
  void OnApplied();
  void OnSoftState(const raft::SoftState& ss);
  Status PlaceShards(uint32_t shards, uint32_t replication, std::vector<std::vector<uint64_t>>* out) const;
  bool WorkerAlive(uint64_t worker) const;
  // At most one leadership transfer for worker `w` to start (none while one of its
  // transfers is pending). Updates pending_transfers_.
  std::vector<LeaderTransfer> BalanceLeaders(uint64_t w, uint64_t now);
  void Propose(const PdCommand& cmd, const Waiter& w);
  // Replica moves (pd_moves.cc). Notes the membership a group's leader reported (and
  // records it in the map if it is newer); the next step of the moves of the groups `w`
  // leads; and new moves (repairs, then rebalancing), proposed as group targets.
  void NoteMembership(const ReplicaReport& rep, uint64_t now);
  void MoveSteps(uint64_t w, uint64_t now, PdHeartbeatResponse* r);
  void PlanMoves(uint64_t now);
  // Splits: a report's size and route; the order (or the finish) for groups `w` leads; a
  // new split, proposed as a PD command.
  void NoteSplit(uint64_t w, const ReplicaReport& rep);
  void SplitSteps(uint64_t w, uint64_t now, PdHeartbeatResponse* r);
  // Proposes the split of the first group over a threshold; returns it (0: none).
  uint64_t PlanSplit(uint64_t now);
  // Whether `worker` has not been heard from for dead_after_ms (as this leader knows).
  bool DeadLong(uint64_t worker, uint64_t now) const;
  bool CaughtUp(uint64_t group, uint64_t worker, uint64_t leader) const;
  void ReplyAdmin(const Waiter& w, Status s);

  PdNodeOptions opt_;
  Clock& clock_;
  Transport& transport_;
  GroupLogStore& store_;
  InlineExecutor executor_;
  LoopQueue loop_;
  std::unique_ptr<RaftHost> host_;
  PdStateMachine* sm_ = nullptr;  // Owned by host_.
  uint64_t leader_since_ms_ = 0;
  uint64_t term_start_index_ = 0;  // The PD log's last index when this node became leader.
  std::map<uint64_t, uint64_t> last_heartbeat_ms_;   // worker -> when (leader's clock)
  std::map<uint64_t, uint64_t> register_sent_ms_;    // worker -> when its registration was proposed
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> group_leader_;  // group -> (term, worker)
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> applied_;      // (group, worker) -> applied index
  struct PendingTransfer {
    uint64_t from = 0, to = 0, since_ms = 0;
    bool asked = true;  // False: the second step of a chain, asked at from's next heartbeat.
  };
  std::map<uint64_t, PendingTransfer> pending_transfers_;  // group -> transfer asked for
  // Replica moves: each group's committed membership as its leader last reported it
  // (highest term, then newest), the step asked of it, and when its membership and a
  // new move were last proposed.
  struct Membership {
    uint64_t term = 0, conf_index = 0;
    std::vector<uint64_t> voters, learners;
  };
  std::map<uint64_t, Membership> membership_;
  struct PendingStep {
    uint64_t conf_index = 0, since_ms = 0;
  };
  std::map<uint64_t, PendingStep> pending_steps_;
  std::map<uint64_t, uint64_t> conf_proposed_ms_;
  struct GroupSize {
    uint64_t term = 0, epoch = 0, points = 0, bytes = 0;
  };
  std::map<uint64_t, GroupSize> sizes_;             // group -> its leader's last report
  std::map<uint64_t, uint64_t> split_asked_ms_;     // new group -> when its split was ordered or finished
  std::map<uint64_t, uint64_t> split_done_ms_;      // group -> when its last split was finished
  uint64_t plan_proposed_ms_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, std::vector<Waiter>> waiters_;  // (client, seq)
  uint64_t next_seq_ = 1;  // This node's own request ids (registrations).
};

}  // namespace vectron::net::cluster
