// WorkerNode: one worker (docs/cluster.md; the read path is in worker_reads.cc). It hosts
// shard replicas, each a Raft group on its RaftHost with a ShardStateMachine; heartbeats
// the placement driver and creates (or drops) the groups the map places on it; and serves
// the gateways' shard requests: writes are proposed on the group's leader and answered
// once applied, reads wait for a ReadIndex (or, if allowed, answer from a fresh enough
// follower) and run on the Executor.
//
// On disk (data_dir): groups/<group id>/group.meta (the assignment: collection, shard,
// epoch, replicas, config) and groups/<group id>/shard/ (the Shard). The Raft logs are in
// the GroupLogStore the worker is given.
//
// Not thread-safe: Receive and RunOnce are called on the node's loop thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "net/cluster/clock.h"
#include "net/cluster/executor.h"
#include "net/cluster/raft_host.h"
#include "net/cluster/shard_state_machine.h"
#include "net/cluster/snapshot_transfer.h"
#include "vectron/options.h"
#include "vectron/shard.h"

namespace vectron::net::cluster {

struct WorkerNodeOptions {
  uint64_t id = 0;                    // Nonzero; the worker's Raft id in every group.
  std::string addr;                   // Reported to the PD (where peers reach this worker).
  std::string data_dir;
  std::vector<uint64_t> pd_members;
  RaftHostOptions raft;               // peer_kind is set to kWorker.
  DatabaseOptions shard_options;      // How shards are opened.
  uint64_t heartbeat_ms = 500;        // To the PD.
  uint64_t pd_timeout_ms = 1000;      // No answer: try the next PD.
  uint64_t request_timeout_ms = 3000; // A write or read not done by then is answered Unavailable.
  // A read confirmed by the leader but waiting for entries the leader has not sent (nothing
  // of the group from it for this long, RaftHost::LeaderSilent) is answered Unavailable,
  // and the gateway retries it at another replica: a replica removed from its group, or cut
  // off from its leader, would otherwise hold it until request_timeout_ms.
  uint64_t read_leader_silence_ms = 500;
  // A light read (a search that is not exact, a get of a few ids) sent `lone` by its
  // gateway runs on the loop thread when no read is with the executor and no other node
  // sent a read in the last 10 ms (two gateways' lone reads would otherwise take turns on
  // the loop instead of using the executor's threads side by side): a read handed to
  // the executor crosses threads twice (loop -> executor -> loop), which on a small
  // machine costs tens of microseconds of wake-ups (docs/benchmarks.md, "Cluster vs
  // `vectron serve`"). Off: every read goes to the executor (`vectron worker
  // --no-inline-reads`).
  bool inline_reads = true;
  // Shard snapshots sent to and fetched from peers (docs/cluster.md, "Snapshots"); an empty
  // tmp_dir means data_dir/snapshots.
  SnapshotTransferOptions snapshot;
  // Seeds the node's random choices (snapshot fetch ids): a different one each start, so
  // that a restarted node's fetches never look like its previous life's.
  uint64_t seed = 0;
  // A shard is flushed to disk after this many applied entries (ShardStateMachine::Open).
  uint64_t shard_flush_entries = 256;
  // Background graph compaction (docs/cluster.md, "Graph compaction"): a hosted shard
  // whose graph has at least this share of its slots deleted (and 1000 slots) is rebuilt
  // without them, off the loop, while it serves; one shard at a time per worker. A split
  // leaves each half with about half of its slots deleted. 0 (the default here; `vectron
  // worker` uses 0.6) turns it off: the rebuilds slow the searches on the same cores while
  // they run (docs/cluster.md, "Graph compaction").
  double compact_deleted_share = 0;
  // The CPU priority of those rebuilds: kIdle (the default) takes only cycles no other
  // thread wants (Shard::CompactIndex); the swap at the end runs at normal priority.
  CompactPriority compact_priority = CompactPriority::kIdle;
  // How often the hosted shards are looked at for that.
  uint64_t compact_check_ms = 1000;
  // Lines worth a log (compactions begun and ended); empty: silent. Loop thread.
  std::function<void(const std::string&)> log;
  // Called from the executor's thread after it posts a completion to the node's loop queue
  // (the daemon wakes its loop to run RunOnce soon); empty: completions wait for the next run.
  std::function<void()> wake;
  // For the simulator: called on the apply's thread when a split's apply has made reads
  // servable early (ShardStateMachine::readable_index), before its copies. The simulator
  // runs the cluster from inside it, as if the copies took that long.
  std::function<void(uint64_t group)> on_split_readable;
};

// The soonest a worker heartbeats again when PD asks it to (PdHeartbeatResponse::again_ms).
inline constexpr uint64_t kMinHeartbeatAgainMs = 20;

// The highest log index a read confirmed at some index may be served at now, on a replica
// in role `now` that has applied `applied`, while its state machine allows `readable`
// (ShardStateMachine::readable_index: past `applied` while a split applies). A read goes
// past `applied` only if this replica confirmed it as the leader (`read_leader_term`, 0
// if not) in the term it leads now: the argument is in WorkerNode::ServeReads.
uint64_t ReadServeLimit(const GroupRole& now, uint64_t applied, uint64_t readable, uint64_t read_leader_term);

class WorkerNode {
 public:
  // All references must outlive the node.
  WorkerNode(WorkerNodeOptions options, Clock& clock, Transport& transport, GroupLogStore& store, Executor& executor);
  ~WorkerNode();
  // Reopens every group found on disk. Errors: I/O, corrupt metadata, the groups' errors.
  Status Start();
  void Receive(const NodeId& from, Envelope msg);
  // One loop: Raft, heartbeats, timeouts. Errors are fatal (the node must stop).
  Status RunOnce();

  RaftHost& host() { return *host_; }
  // Leadership transfers PD asked for that this node started (leader balancing).
  uint64_t leader_transfers() const { return leader_transfers_; }
  // Reads answered Unavailable because the leader fell silent while they waited
  // (WorkerOptions::read_leader_silence_ms).
  uint64_t reads_leader_silent() const { return reads_leader_silent_; }
  // Reads served past the applied index while a split applied (ServeReads).
  uint64_t reads_served_early() const { return reads_served_early_; }
  // Reads run on the loop thread (WorkerNodeOptions::inline_reads).
  uint64_t reads_inlined() const { return reads_inlined_; }
  // Membership changes PD asked for that this node proposed (replica moves).
  uint64_t conf_changes() const { return conf_changes_; }
  // Splits PD asked for that this node proposed.
  uint64_t splits_proposed() const { return splits_proposed_; }
  // Graph compactions finished (compact_deleted_share), and the group being compacted (0: none).
  uint64_t compactions() const { return compactions_; }
  uint64_t compacting() const { return compacting_; }
  // Shards that finished dropping the points a split hid (Shard::DropHidden), and the
  // group whose batch is running (0: none).
  uint64_t drops_finished() const { return drops_finished_; }
  uint64_t dropping() const { return dropping_; }
  // Automatic graph checkpoints run by MaybeCheckpoint (saved or failed).
  uint64_t checkpoints() const { return checkpoints_; }
  // Stops a running compaction (it ends Cancelled, nothing changed) and starts no other:
  // called before the executor is stopped, so that the stop does not wait for it.
  void CancelBackground();
  // The state machine of a hosted group, or nullptr.
  ShardStateMachine* shard(uint64_t group) const;
  // The loop queue executor tasks report to (drained by RunOnce).
  LoopQueue& loop() { return loop_; }
  uint64_t id() const { return opt_.id; }

 private:
  struct Hosted {
    GroupAssignment assignment;
    ShardStateMachine* sm = nullptr;  // Owned by host_.
    // The last heartbeat sent when the group was opened: an answer to it (or to an earlier
    // one) was computed without knowing of a group this worker made by applying a split
    // since, and does not drop it.
    uint64_t opened_at_heartbeat = 0;
  };
  struct WriteWaiter {
    NodeId from;
    uint64_t rpc_id;
    uint64_t group;
    uint64_t deadline_ms;
  };
  struct PendingRead {
    NodeId from;
    ShardReadRequest req;
    uint64_t deadline_ms = 0;
    bool have_index = false;
    uint64_t index = 0;
    // The term in which this worker, as the group's leader, confirmed the index (0: its
    // leader did, or this worker was not leading): only such a read may be served past the
    // applied index while a split applies (ServeReads).
    uint64_t leader_term = 0;
  };

  // `opened`: the group's state machine, already opened off the loop (a split's new group:
  // opening a large shard loads its graph); null: opened here.
  Status OpenGroup(const GroupAssignment& a, std::unique_ptr<ShardStateMachine> opened = nullptr);
  // The state machine of group `a` over its directory (thread-safe: any thread).
  Result<std::unique_ptr<ShardStateMachine>> OpenStateMachine(const GroupAssignment& a) const;
  // What a group's state machine does to split (docs/cluster.md, "Splits").
  ShardStateMachine::SplitHooks SplitHooksFor(const GroupAssignment& parent);
  // Stops hosting `group` and deletes its files. Its shard may stay open a while (an apply
  // still running, a search in flight): it is discarded first (no file written by name any
  // more) and its directory renamed away before removal, so the same group placed here
  // again starts empty. The failed last apply of a removed group stops nothing.
  Status DropGroup(uint64_t group);
  void OnWrite(const NodeId& from, const ShardWriteRequest& req);
  void OnRead(const NodeId& from, ShardReadRequest req);
  void OnHeartbeatResponse(const PdHeartbeatResponse& r);
  void OnApplied(uint64_t group);
  void OnReadState(uint64_t group, const raft::ReadState& rs);
  void OnReadRefused(uint64_t group, const std::string& context, const Status& s);
  // The pending read a ReadIndex context names (reads_.end() if none, or malformed).
  std::map<uint64_t, PendingRead>::iterator PendingReadOf(std::string_view context);
  void OnSoftState(uint64_t group, const raft::SoftState& ss);
  // Answers a read with an error, nothing read: `leader_hint` for the gateway's retry (0:
  // none), `stale_epoch` when the read was routed with an epoch this replica is not at.
  void RefuseRead(const NodeId& to, uint64_t rpc_id, Status s, uint64_t leader_hint, bool stale_epoch = false);
  // Sends `r` (with each waiter's rpc_id) to the waiters in `ws` of `group`, and removes
  // them (the others are a rerouted write's parts for other groups led here).
  void AnswerWrites(uint64_t group, const ShardWriteResponse& r, std::vector<WriteWaiter>& ws);
  // Answers `s` (with the leader hint) to the waiters in `ws` of `group`, and removes them.
  void RefuseWrites(uint64_t group, uint64_t leader_hint, const Status& s, std::vector<WriteWaiter>& ws);
  void ServeReads(uint64_t group);
  void Execute(uint64_t read_id, PendingRead pr);
  // Whether `req`, from `from`, runs on the loop thread (WorkerNodeOptions::inline_reads):
  // sent lone, light, no read with the executor, and `from` the only node that sent reads
  // here for the last kInlineSoleSenderMs.
  bool InlineRead(const NodeId& from, const ShardReadRequest& req) const;
  void SendHeartbeat();
  void Timeouts();
  // Checks that `group` is hosted with `epoch`; else fills the stale answer and returns false.
  bool Routable(uint64_t group, uint64_t epoch) const;
  std::string GroupDir(uint64_t group) const;

  // Makes a snapshot copy of `group`'s shard in `dir` (executor thread).
  Result<uint64_t> MakeSnapshot(uint64_t group, const std::string& dir);
  // Starts compacting the graph of the first hosted shard that needs it, unless one is
  // being compacted.
  void MaybeCompact(uint64_t now);
  // Deletes one batch of the points a split hid in the first hosted shard that has any
  // (docs/cluster.md, "Splits"), off the loop, unless a batch is running: one batch per
  // loop iteration, so the drop never holds a shard's writers for long and stops with
  // the worker (the next start goes on where it stopped).
  void MaybeDropHidden(uint64_t now);
  // A split's new group: its peers open it only when their own apply of the split ends
  // (later on a slower replica), and a pre-vote that reaches a worker before that is
  // dropped; the campaign the parent's leader started as it opened the group would then
  // wait for an election timeout (1-2 s, measured) to try again. It tries again every
  // 100 ms instead, while the group has no leader (for 10 s at most). Pre-votes take no
  // term: only a successful one starts a real election, left to end on its own.
  void RetrySplitCampaigns(uint64_t now);
  // Saves the graph of a hosted shard whose automatic checkpoint is due
  // (DatabaseOptions::background_checkpoints, set for every shard here), on the queue of
  // background work, one at a time, with the group's writers held only while the graph
  // is copied in memory (CheckpointHold::kWhileCopied).
  void MaybeCheckpoint(uint64_t now);
  // A split's route switch or its new group's open here: background work on graphs waits
  // kSplitSettleMs from now (worker_node.cc).
  void SettleAfterSplit();
  void Log(const std::string& line) const {
    if (opt_.log) opt_.log(line);
  }

  WorkerNodeOptions opt_;
  Clock& clock_;
  Transport& transport_;
  GroupLogStore& store_;
  Executor& executor_;
  LoopQueue loop_;
  std::unique_ptr<RaftHost> host_;
  uint64_t leader_transfers_ = 0;
  uint64_t reads_leader_silent_ = 0;
  uint64_t reads_served_early_ = 0;
  uint64_t reads_inlined_ = 0;
  uint64_t reads_in_executor_ = 0;  // Handed to the executor, not yet answered.
  static constexpr uint64_t kInlineSoleSenderMs = 10;
  NodeId read_sender_;                // The sender of the last read received,
  uint64_t read_sender_since_ms_ = 0;  // and since when it sent every read.
  uint64_t conf_changes_ = 0;
  uint64_t splits_proposed_ = 0;
  // Background compaction (loop thread): the group being compacted, its stop flag (read
  // by the task), when to look again, and how many finished.
  uint64_t compacting_ = 0;
  std::shared_ptr<std::atomic<bool>> compact_cancel_;
  bool background_stopped_ = false;
  uint64_t next_compact_check_ms_ = 0;
  uint64_t compactions_ = 0;
  // Background drops of hidden points (loop thread): the group whose batch runs, when to
  // try again after a failed batch, and how many shards finished.
  uint64_t dropping_ = 0;
  uint64_t next_drop_ms_ = 0;
  uint64_t drops_finished_ = 0;
  // Background checkpoints (loop thread): the group being saved, when to look again, and
  // how many were run.
  uint64_t checkpointing_ = 0;
  uint64_t next_checkpoint_check_ms_ = 0;
  uint64_t checkpoints_ = 0;
  struct SplitCampaign {
    uint64_t next_ms = 0;   // The next campaign.
    uint64_t until_ms = 0;  // Given up then.
  };
  std::map<uint64_t, SplitCampaign> split_campaigns_;  // By new group (loop thread).
  // Background work on graphs waits while it holds (loop thread; SettleAfterSplit).
  SettleWindow settle_;
  // Groups a split made here whose state machine a task is opening (executor and loop).
  mutable std::mutex opening_mu_;
  std::set<uint64_t> opening_;  // GUARDED_BY(opening_mu_)
  bool Opening(uint64_t group) const;
  // Whether this worker will not make the group being split off, `child`, by applying its
  // parent's split: it hosts no replica of the parent, or its replica's route no longer
  // holds the child's range (it passed the split in a snapshot, so the apply never ran
  // here). Such a replica is opened from the map, empty, and waits for the child's leader.
  bool SplitPassedHere(const GroupInfo& child) const;
  std::vector<Status> split_failures_;  // A split group that could not be opened: fatal.
  std::map<uint64_t, Hosted> groups_;
  SplitMixRng rng_;
  std::unique_ptr<SnapshotServer> snapshot_server_;
  std::unique_ptr<SnapshotFetcher> snapshot_fetcher_;
  // The state machines snapshot copies are made of, on the executor: an entry goes before
  // its state machine is destroyed.
  std::mutex sources_mu_;
  std::map<uint64_t, ShardStateMachine*> sources_;  // GUARDED_BY(sources_mu_)
  std::map<std::pair<uint64_t, uint64_t>, std::vector<WriteWaiter>> writes_;  // (client, seq)
  std::map<uint64_t, PendingRead> reads_;  // read id -> read
  uint64_t next_read_id_ = 1;
  // PD heartbeats.
  uint64_t pd_target_ = 0;       // Index into pd_members, or the leader hint.
  uint64_t pd_leader_ = 0;
  uint64_t next_heartbeat_ms_ = 0;
  uint64_t heartbeat_rpc_ = 0;
  uint64_t heartbeat_sent_ms_ = 0;
  bool heartbeat_outstanding_ = false;
};

}  // namespace vectron::net::cluster
