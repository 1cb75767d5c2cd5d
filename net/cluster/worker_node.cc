#include "net/cluster/worker_node.h"

#include <algorithm>

#include "net/cluster/codec.h"
#include "util/files.h"

namespace vectron::net::cluster {

namespace {
// Executor queues: a group's applies run on the queue of its id; reads on their own
// (worker_reads.cc, with the top bit set); and these two:
// The queue of background work on graphs (compactions, saves), one at a time.
constexpr uint64_t kBackgroundQueue = uint64_t{1} << 60;
// The queue of the drops of hidden points (beside compactions, not behind them).
constexpr uint64_t kDropQueue = kBackgroundQueue + 1;
// Points one DropHidden batch deletes: a few ms of a shard's writer lock.
constexpr size_t kDropBatch = 1000;
// The wait before retrying after a failed batch, and between looks at the hosted shards
// when none had hidden points (a split's apply or open hides them; a look reads a flag
// per shard, which a worker with hundreds of idle groups need not do every iteration).
constexpr uint64_t kDropRetryMs = 1000;
constexpr uint64_t kDropCheckMs = 100;
// How often the hosted shards are asked whether an automatic graph checkpoint is due
// (MaybeCheckpoint), and the wait after a failed one.
constexpr uint64_t kCheckpointCheckMs = 100;
constexpr uint64_t kCheckpointRetryMs = 1000;
// A split's new group: how often the parent's leader campaigns for it again while it has
// no leader, and for how long (RetrySplitCampaigns).
constexpr uint64_t kSplitCampaignRetryMs = 100;
constexpr uint64_t kSplitCampaignForMs = 10'000;
// After a split's route switch here, and again after its new group opens, background work
// on graphs (the new group's graph save, checkpoints, drops of hidden points, compactions)
// waits this long: the replicas are then opening the new group, electing its leader and
// catching up on its first entries, and the reads the gateway retried after its map
// refresh wait for those (docs/cluster.md, "Splits").
constexpr uint64_t kSplitSettleMs = 2000;
// ...but no longer than this after the first of a run of splits (a worker splitting every
// second would otherwise never save a graph or drop a hidden point).
constexpr uint64_t kSplitSettleMaxMs = 10'000;
// A dropped group's directory is renamed to this name before it is removed (DropGroup).
constexpr char kDroppedSuffix[] = ".dropped";

// Whether two assignments of a group differ only in the leader hint (not worth a write).
bool SameAssignment(const GroupAssignment& a, const GroupAssignment& b) {
  GroupInfo x = a.group, y = b.group;
  x.leader = y.leader = 0;
  return x == y && a.config_json == b.config_json;
}

}  // namespace

WorkerNode::WorkerNode(WorkerNodeOptions options, Clock& clock, Transport& transport, GroupLogStore& store,
                       Executor& executor)
    : opt_(std::move(options)),
      clock_(clock),
      transport_(transport),
      store_(store),
      executor_(executor),
      loop_(opt_.wake),
      settle_(kSplitSettleMs, kSplitSettleMaxMs),
      rng_(opt_.seed ^ opt_.id) {
  opt_.raft.peer_kind = NodeKind::kWorker;
  // Automatic graph checkpoints are saved by MaybeCheckpoint, not by the apply that made
  // them due (the group's applies, and the reads waiting for them, would wait for it).
  opt_.shard_options.background_checkpoints = true;
  if (opt_.snapshot.tmp_dir.empty()) opt_.snapshot.tmp_dir = opt_.data_dir + "/snapshots";
}

WorkerNode::~WorkerNode() = default;

std::string WorkerNode::GroupDir(uint64_t group) const { return opt_.data_dir + "/groups/" + std::to_string(group); }

Status WorkerNode::Start() {
  RaftHost::Callbacks cb;
  cb.on_applied = [this](uint64_t g) { OnApplied(g); };
  cb.on_read_state = [this](uint64_t g, const raft::ReadState& rs) { OnReadState(g, rs); };
  cb.on_read_refused = [this](uint64_t g, const std::string& context, const Status& s) { OnReadRefused(g, context, s); };
  cb.on_soft_state = [this](uint64_t g, const raft::SoftState& ss) { OnSoftState(g, ss); };
  cb.on_installed = [this](uint64_t g, const raft::SnapshotMetadata& md) {
    Log("group " + std::to_string(g) + ": installed the snapshot at index " + std::to_string(md.index) + " (term " +
         std::to_string(md.term) + ", " + md.conf_state.ToString() + ")");
  };
  host_ = std::make_unique<RaftHost>(NodeId{NodeKind::kWorker, opt_.id}, opt_.raft, clock_, transport_, store_,
                                     executor_, loop_, std::move(cb));
  snapshot_server_ = std::make_unique<SnapshotServer>(
      opt_.snapshot, clock_, transport_, executor_, loop_,
      [this](uint64_t group, const std::string& dir) { return MakeSnapshot(group, dir); },
      [this](uint64_t group, uint64_t index) -> std::optional<CopyPosition> {
        auto at = host_->LogPosition(group, index);
        if (!at) return std::nullopt;
        return CopyPosition{index, at->first, std::move(at->second)};
      });
  snapshot_fetcher_ = std::make_unique<SnapshotFetcher>(
      opt_.snapshot, clock_, rng_, transport_, executor_, loop_,
      [this](uint64_t group) { return GroupDir(group) + "/shard.staging"; },
      [this](uint64_t group, const CopyPosition& at) {
        if (ShardStateMachine* sm = shard(group)) sm->SetStaged(at.index, at.term, at.conf);
      });
  // Copies a crash left behind.
  VECTRON_RETURN_IF_ERROR(RemoveAll(opt_.snapshot.tmp_dir));
  VECTRON_RETURN_IF_ERROR(MakeDirs(opt_.data_dir + "/groups"));
  // Groups with metadata are reopened; a log without metadata (a crash while the group was
  // being created, before its metadata was written) is dropped.
  std::set<uint64_t> with_meta;
  VECTRON_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(opt_.data_dir + "/groups"));
  for (const std::string& name : names) {
    if (name.ends_with(kDroppedSuffix)) {
      VECTRON_RETURN_IF_ERROR(RemoveAll(opt_.data_dir + "/groups/" + name));  // A drop a crash cut short.
      continue;
    }
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    uint64_t id = std::stoull(name);
    std::string meta = GroupDir(id) + "/group.meta";
    if (!PathExists(meta)) {
      VECTRON_RETURN_IF_ERROR(RemoveAll(GroupDir(id)));
      continue;
    }
    VECTRON_ASSIGN_OR_RETURN(std::string data, ReadFile(meta));
    GroupAssignment a;
    VECTRON_RETURN_IF_ERROR(DecodeGroupAssignment(data, &a).WithContext(meta));
    VECTRON_RETURN_IF_ERROR(OpenGroup(a));
    with_meta.insert(id);
  }
  std::vector<uint64_t> logs;
  VECTRON_RETURN_IF_ERROR(FromRaft(store_.ListGroups(&logs)));
  for (uint64_t id : logs)
    if (!with_meta.count(id)) VECTRON_RETURN_IF_ERROR(FromRaft(store_.DropGroup(id)));
  next_heartbeat_ms_ = clock_.NowMs();
  return Status::OK();
}

Result<std::unique_ptr<ShardStateMachine>> WorkerNode::OpenStateMachine(const GroupAssignment& a) const {
  VECTRON_ASSIGN_OR_RETURN(CollectionConfig cfg, CollectionConfig::FromJson(a.config_json));
  const std::string dir = GroupDir(a.group.id) + "/shard";
  // A group this worker's split made (its log starts at the split, bootstrap_index) starts
  // from its range at the split, which its open records in the copy if not yet done.
  if (a.bootstrap_index > 0)
    return ShardStateMachine::Open(dir, cfg, opt_.shard_options, opt_.shard_flush_entries,
                                   ShardRoute{a.group.range_start, a.group.range_end, 1}, a.bootstrap_index);
  // Otherwise the route the group's log starts from, not the map's current one
  // (cluster_map.h, FoundingRange); a shard that applied a split, or was made by one, has
  // its own.
  const auto [start, end] = FoundingRange(a.group, cfg.shards);
  return ShardStateMachine::Open(dir, cfg, opt_.shard_options, opt_.shard_flush_entries, ShardRoute{start, end, 1});
}

Status WorkerNode::OpenGroup(const GroupAssignment& a, std::unique_ptr<ShardStateMachine> opened) {
  uint64_t id = a.group.id;
  std::string dir = GroupDir(id);
  VECTRON_RETURN_IF_ERROR(MakeDirs(dir));
  VECTRON_RETURN_IF_ERROR(WriteFileAtomic(dir + "/group.meta", EncodeGroupAssignment(a)));
  std::unique_ptr<ShardStateMachine> sm = std::move(opened);
  if (!sm) {
    VECTRON_ASSIGN_OR_RETURN(sm, OpenStateMachine(a));
  }
  ShardStateMachine* raw = sm.get();
  raw->set_fetch([this, id](const NodeId& from, uint64_t index) { snapshot_fetcher_->Start(id, from, index); });
  raw->set_split_hooks(SplitHooksFor(a));
  // Only a founding voter of a group whose membership never changed bootstraps it; any
  // other replica (a learner PD is adding, or a voter of a changed group that lost or never
  // had its log) starts empty and waits for the leader to send it the group's state.
  raft::ConfState conf;
  conf.voters = a.group.replicas;
  const bool founding = (a.group.conf_index == 0 || a.bootstrap_index > 0) &&
                        std::find(a.group.replicas.begin(), a.group.replicas.end(), opt_.id) != a.group.replicas.end();
  // A group this worker split off its parent starts its log at the split's index.
  VECTRON_RETURN_IF_ERROR(host_->AddGroup(id, std::move(sm), founding ? &conf : nullptr,
                                          a.bootstrap_index > 0 ? a.bootstrap_index : 1));
  groups_[id] = Hosted{a, raw, heartbeat_rpc_};
  std::lock_guard lock(sources_mu_);
  sources_[id] = raw;
  return Status::OK();
}

ShardStateMachine::SplitHooks WorkerNode::SplitHooksFor(const GroupAssignment& parent) {
  // Executor thread: the filesystem only; the group is opened on the loop.
  ShardStateMachine::SplitHooks h;
  h.exists = [this](uint64_t ng) { return PathExists(GroupDir(ng) + "/group.meta"); };
  h.staging = [this](uint64_t ng) { return GroupDir(ng) + ".split"; };
  h.readable = [this, group = parent.group.id] {
    loop_.Post([this, group] {
      SettleAfterSplit();
      ServeReads(group);
    });
    if (opt_.on_split_readable) opt_.on_split_readable(group);
  };
  h.found = [this, parent](const ShardSplit& sp, uint64_t index, const std::string& built) -> Status {
    GroupAssignment a;
    a.group.id = sp.new_group;
    a.group.collection = parent.group.collection;
    a.group.shard = parent.group.shard;
    a.group.epoch = 1;
    a.group.replicas = sp.voters;
    a.group.conf_index = index;
    a.group.range_start = sp.key;
    a.group.range_end = sp.end;
    a.config_json = parent.config_json;
    a.bootstrap_index = index;
    const std::string dir = GroupDir(sp.new_group);
    VECTRON_RETURN_IF_ERROR(RemoveAll(dir));
    VECTRON_RETURN_IF_ERROR(MakeDirs(dir));
    VECTRON_RETURN_IF_ERROR(RenamePath(built, dir + "/shard"));
    VECTRON_RETURN_IF_ERROR(FsyncPath(dir));
    // The metadata last: with it the group exists (Start reopens it).
    {
      // Until the loop adds it, the map does not open this group (heartbeat answers).
      std::lock_guard lock(opening_mu_);
      opening_.insert(sp.new_group);
    }
    VECTRON_RETURN_IF_ERROR(WriteFileAtomic(dir + "/group.meta", EncodeGroupAssignment(a)));
    // Opened by a task of its own, off the loop and off the parent's apply: the open
    // deletes the copy's lower half and loads its graph, and the parent's reads and writes
    // wait for the split's apply (docs/cluster.md, "Splits").
    const uint64_t parent_id = parent.group.id;
    executor_.Post(sp.new_group, [this, a, parent_id] {
      auto opened = OpenStateMachine(a);
      // (A task must be copyable: the state machine travels in a shared holder.)
      auto holder = std::make_shared<Result<std::unique_ptr<ShardStateMachine>>>(std::move(opened));
      loop_.Post([this, a, parent_id, holder] {
        {
          std::lock_guard lock(opening_mu_);
          opening_.erase(a.group.id);
        }
        if (groups_.count(a.group.id)) return;
        Status s = holder->ok() ? OpenGroup(a, std::move(holder->value())) : holder->status();
        if (!s.ok()) {
          split_failures_.push_back(s.WithContext("opening split group " + std::to_string(a.group.id)));
          return;
        }
        // Its graph came over in memory (Shard::SplitCopyTo), not as a file: its shard
        // reports a checkpoint due, and MaybeCheckpoint saves it once the split has
        // settled, so that a restart finds it on disk instead of rebuilding it (a crash
        // before then rebuilds it).
        SettleAfterSplit();
        // The parent's leader campaigns at once, so the new group has a leader before PD
        // routes to it (rather than after an election timeout).
        if (host_->HasGroup(parent_id) && host_->group_role(parent_id).role == raft::Role::kLeader) {
          (void)host_->Campaign(a.group.id);
          const uint64_t now = clock_.NowMs();
          split_campaigns_[a.group.id] = SplitCampaign{now + kSplitCampaignRetryMs, now + kSplitCampaignForMs};
        }
      });
    });
    return Status::OK();
  };
  return h;
}

Status WorkerNode::DropGroup(uint64_t group) {
  // Pending requests of the group time out; the shard closes with its state machine (a
  // compaction of its graph stops at its next progress call).
  if (compacting_ == group && compact_cancel_) compact_cancel_->store(true);
  if (auto it = groups_.find(group); it != groups_.end()) it->second.sm->Discard();
  groups_.erase(group);
  {
    std::lock_guard lock(sources_mu_);
    sources_.erase(group);
  }
  snapshot_fetcher_->Cancel(group);
  VECTRON_RETURN_IF_ERROR(host_->RemoveGroup(group));
  // The shard may stay open a while (an apply still running, a search): it writes no file
  // by name any more (Discard above), and its files leave the group's path at once, by a
  // rename, so that the group placed here again later starts in an empty directory.
  const std::string dir = GroupDir(group), trash = dir + kDroppedSuffix;
  VECTRON_RETURN_IF_ERROR(RemoveAll(trash));
  if (PathExists(dir)) VECTRON_RETURN_IF_ERROR(RenamePath(dir, trash));
  return RemoveAll(trash);
}

Result<uint64_t> WorkerNode::MakeSnapshot(uint64_t group, const std::string& dir) {
  std::shared_ptr<Shard> shard;
  {
    std::lock_guard lock(sources_mu_);
    auto it = sources_.find(group);
    if (it == sources_.end()) return Status::NotFound("group " + std::to_string(group) + " is not hosted here");
    shard = it->second->shard();
  }
  // Outside the lock: a copy takes long, and the shared_ptr keeps the shard open.
  return shard->SnapshotTo(dir);
}

ShardStateMachine* WorkerNode::shard(uint64_t group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : it->second.sm;
}

void WorkerNode::Receive(const NodeId& from, Envelope msg) {
  if (auto* b = std::get_if<RaftBatch>(&msg)) {
    host_->Receive(from, std::move(*b));
  } else if (auto* w = std::get_if<ShardWriteRequest>(&msg)) {
    OnWrite(from, *w);
  } else if (auto* r = std::get_if<ShardReadRequest>(&msg)) {
    OnRead(from, std::move(*r));
  } else if (auto* h = std::get_if<PdHeartbeatResponse>(&msg)) {
    if (heartbeat_outstanding_ && h->rpc_id == heartbeat_rpc_) OnHeartbeatResponse(*h);
  } else if (auto* fr = std::get_if<SnapshotFetchRequest>(&msg)) {
    snapshot_server_->OnRequest(from, *fr);
  } else if (auto* fp = std::get_if<SnapshotFetchResponse>(&msg)) {
    snapshot_fetcher_->OnResponse(from, *fp);
  }
}

Status WorkerNode::RunOnce() {
  VECTRON_RETURN_IF_ERROR(host_->RunOnce());
  if (!split_failures_.empty()) return split_failures_.front();
  uint64_t now = clock_.NowMs();
  if (heartbeat_outstanding_ && now >= heartbeat_sent_ms_ + opt_.pd_timeout_ms) {
    heartbeat_outstanding_ = false;  // Lost or the PD is down: the next one goes elsewhere.
    pd_leader_ = 0;
    ++pd_target_;
  }
  if (!heartbeat_outstanding_ && now >= next_heartbeat_ms_) SendHeartbeat();
  snapshot_server_->RunOnce();
  snapshot_fetcher_->RunOnce();
  Timeouts();
  RetrySplitCampaigns(now);
  // Background work on graphs waits while a split settles (kSplitSettleMs), at most
  // kSplitSettleMaxMs.
  if (settle_.Holds(now)) return Status::OK();
  MaybeCheckpoint(now);
  MaybeCompact(now);
  MaybeDropHidden(now);
  return Status::OK();
}

void WorkerNode::MaybeCheckpoint(uint64_t now) {
  if (background_stopped_ || checkpointing_ != 0 || now < next_checkpoint_check_ms_) return;
  next_checkpoint_check_ms_ = now + kCheckpointCheckMs;
  for (const auto& [id, h] : groups_) {
    std::shared_ptr<Shard> shard = h.sm->shard();
    if (!shard->CheckpointDue()) continue;
    const uint64_t group = id;
    checkpointing_ = group;
    executor_.Post(kBackgroundQueue, [this, group, shard] {
      Status s = shard->Checkpoint(CheckpointHold::kWhileCopied);
      loop_.Post([this, group, s] {
        checkpointing_ = 0;
        ++checkpoints_;
        if (!s.ok()) {
          next_checkpoint_check_ms_ = clock_.NowMs() + kCheckpointRetryMs;
          Log("saving the graph of group " + std::to_string(group) + " failed: " + s.ToString());
        }
      });
    });
    return;
  }
}

void WorkerNode::SettleAfterSplit() { settle_.Extend(clock_.NowMs()); }

void WorkerNode::RetrySplitCampaigns(uint64_t now) {
  for (auto it = split_campaigns_.begin(); it != split_campaigns_.end();) {
    const uint64_t group = it->first;
    if (!host_->HasGroup(group) || now >= it->second.until_ms) {
      it = split_campaigns_.erase(it);
      continue;
    }
    const GroupRole st = host_->group_role(group);
    if (st.lead != raft::kNone) {
      it = split_campaigns_.erase(it);
      continue;
    }
    // A candidate's vote round is under way (its term is taken): let it end.
    if (now >= it->second.next_ms && st.role != raft::Role::kCandidate) {
      (void)host_->Campaign(group);
      it->second.next_ms = now + kSplitCampaignRetryMs;
    }
    ++it;
  }
}

void WorkerNode::MaybeDropHidden(uint64_t now) {
  if (background_stopped_ || dropping_ != 0 || now < next_drop_ms_) return;
  for (const auto& [id, h] : groups_) {
    std::shared_ptr<Shard> shard = h.sm->shard();
    if (!shard->HasHiddenPoints()) continue;
    const uint64_t group = id;
    dropping_ = group;
    executor_.Post(kDropQueue, [this, group, shard] {
      Result<uint64_t> left = shard->DropHidden(kDropBatch);
      loop_.Post([this, group, left] {
        dropping_ = 0;
        if (!left.ok()) {
          next_drop_ms_ = clock_.NowMs() + kDropRetryMs;
          Log("dropping the points group " + std::to_string(group) + " no longer owns failed: " +
              left.status().ToString());
        } else if (*left == 0) {
          ++drops_finished_;
          Log("group " + std::to_string(group) + " dropped the points its split hid");
        }
      });
    });
    return;
  }
  next_drop_ms_ = now + kDropCheckMs;
}

void WorkerNode::MaybeCompact(uint64_t now) {
  if (opt_.compact_deleted_share <= 0 || background_stopped_ || compacting_ != 0 || now < next_compact_check_ms_)
    return;
  next_compact_check_ms_ = now + opt_.compact_check_ms;
  for (const auto& [id, h] : groups_) {
    std::shared_ptr<Shard> shard = h.sm->shard();
    if (!shard->IndexCompactionDue(opt_.compact_deleted_share)) continue;
    // The graph is this replica's own (not replicated state): the rebuild reads an LMDB
    // snapshot, searches and applies go on, and the swap catches up with what was applied
    // meanwhile (IndexSync::CompactIndex). One at a time, on a queue of its own, so the
    // applies and reads of every group keep the executor's other threads.
    const uint64_t group = id;
    compacting_ = group;
    compact_cancel_ = std::make_shared<std::atomic<bool>>(false);
    Log("compacting the graph of group " + std::to_string(group) + " (at least " +
        std::to_string(static_cast<int>(opt_.compact_deleted_share * 100 + 0.5)) + "% of its slots deleted; " +
        (opt_.compact_priority == CompactPriority::kIdle ? "idle" : "normal") + " CPU priority)");
    executor_.Post(kBackgroundQueue, [this, group, shard, cancel = compact_cancel_, progress = opt_.shard_options.progress,
                                      start_ms = now] {
      ProgressFn keep_going = [&](std::string_view stage, uint64_t done, uint64_t total) {
        if (cancel->load()) return false;
        return !progress || progress(stage, done, total);
      };
      Status s = shard->CompactIndex(keep_going, opt_.compact_priority);
      loop_.Post([this, group, s, start_ms] {
        compacting_ = 0;
        if (s.ok()) ++compactions_;
        Log("compaction of group " + std::to_string(group) + "'s graph " +
            (s.ok() ? "done in " + std::to_string(clock_.NowMs() - start_ms) + " ms" : "stopped: " + s.ToString()));
      });
    });
    return;
  }
}

void WorkerNode::CancelBackground() {
  background_stopped_ = true;
  if (compact_cancel_) compact_cancel_->store(true);
}

void WorkerNode::SendHeartbeat() {
  if (opt_.pd_members.empty()) return;
  PdHeartbeat hb;
  hb.rpc_id = ++heartbeat_rpc_;
  hb.worker = opt_.id;
  hb.addr = opt_.addr;
  for (const auto& [id, h] : groups_) {
    GroupStatus st = host_->group_status(id);
    ReplicaReport rep{id, st.applied, st.role == raft::Role::kLeader, st.term, {}, {}, 0, 0, 0, 0, 0};
    if (rep.leader) {
      rep.voters = st.committed_conf.voters;
      rep.learners = st.committed_conf.learners;
      rep.conf_index = st.conf_index;
      const ShardRoute route = h.sm->route();
      rep.epoch = route.epoch;
      rep.range_end = route.end;
      std::shared_ptr<Shard> shard = h.sm->shard();
      if (auto size = shard->DataSize(); size.ok()) {  // Not Stats(): no directory walk.
        rep.points = size->points;
        rep.bytes = size->bytes;
      }
    }
    hb.replicas.push_back(std::move(rep));
  }
  uint64_t to = pd_leader_ ? pd_leader_ : opt_.pd_members[pd_target_ % opt_.pd_members.size()];
  heartbeat_outstanding_ = true;
  heartbeat_sent_ms_ = clock_.NowMs();
  next_heartbeat_ms_ = heartbeat_sent_ms_ + opt_.heartbeat_ms;
  transport_.Send(NodeId{NodeKind::kPd, to}, std::move(hb));
}

void WorkerNode::OnHeartbeatResponse(const PdHeartbeatResponse& r) {
  heartbeat_outstanding_ = false;
  if (!r.status.ok()) {
    // Not the leader: follow its hint at once, or try the next member.
    pd_leader_ = r.pd_leader;
    if (!pd_leader_) ++pd_target_;
    next_heartbeat_ms_ = clock_.NowMs();
    return;
  }
  pd_leader_ = r.pd_leader;
  // PD asks for the next heartbeat sooner when it has just started a step this worker
  // carries (a split's order); never later than the worker's own period, and never sooner
  // than kMinHeartbeatAgainMs (a PD answering every heartbeat with 1 ms would otherwise
  // make every loop send one).
  if (r.again_ms > 0)
    next_heartbeat_ms_ = std::min(next_heartbeat_ms_, clock_.NowMs() + std::max<uint64_t>(r.again_ms, kMinHeartbeatAgainMs));
  if (!r.registered) return;  // The map does not know this worker yet: host nothing new.
  // Leader balancing: hand over what PD asks for. A transfer this replica cannot start
  // (no longer leader, target not a voter) is dropped; PD forgets it after its timeout.
  for (const LeaderTransfer& t : r.transfers)
    if (groups_.count(t.group) && host_->TransferLeader(t.group, t.target).ok()) ++leader_transfers_;
  // Replica moves: the membership changes PD asks this leader to propose (refused ones are
  // asked for again after PD's timeout).
  for (const ConfChangeOrder& c : r.conf_changes)
    if (groups_.count(c.group) && host_->ProposeConfChange(c.group, raft::ConfChange{c.type, c.node}).ok())
      ++conf_changes_;
  std::set<uint64_t> assigned;
  for (const ShardSplitOrder& o : r.splits) {
    auto it = groups_.find(o.group);
    if (it == groups_.end() || it->second.sm->epoch() != o.epoch) continue;
    ShardCommand cmd;
    cmd.epoch = o.epoch;
    cmd.split = o.split;
    if (host_->Propose(o.group, EncodeShardCommand(cmd)).ok()) ++splits_proposed_;
  }
  for (const GroupAssignment& a : r.assignments) {
    assigned.insert(a.group.id);
    auto it = groups_.find(a.group.id);
    // A group being split off is made by applying its parent's split, not from the map,
    // unless this worker's parent replica went past the split without applying it; one
    // this worker's split made is being opened by a task (the split's apply marks it
    // opening before it changes the parent's route, so either check sees it).
    if (it == groups_.end() && a.group.split_from != 0 && !SplitPassedHere(a.group)) continue;
    if (it == groups_.end() && Opening(a.group.id)) continue;
    if (it == groups_.end()) {
      Status s = OpenGroup(a);
      if (!s.ok()) groups_.erase(a.group.id);  // Retried at the next heartbeat.
    } else if (!SameAssignment(it->second.assignment, a)) {
      it->second.assignment = a;
      (void)WriteFileAtomic(GroupDir(a.group.id) + "/group.meta", EncodeGroupAssignment(a));
    }
  }
  // Groups the leader's map no longer places here: their collection was dropped, or a
  // replica move removed this replica from the group's committed membership. Not a group
  // opened since this heartbeat was sent (made by a split: PD answered before it, and had
  // the worker drop the voter's log, which its leader, seeing it caught up, would never
  // send again).
  std::vector<uint64_t> gone;
  for (const auto& [id, h] : groups_)
    if (!assigned.count(id) && h.opened_at_heartbeat < r.rpc_id) gone.push_back(id);
  for (uint64_t id : gone) (void)DropGroup(id);
}

bool WorkerNode::SplitPassedHere(const GroupInfo& child) const {
  auto p = groups_.find(child.split_from);
  if (p == groups_.end()) return true;
  const ShardRoute r = p->second.sm->route();
  const uint64_t k = child.range_start;
  return !(k >= r.start && (r.end == 0 || k < r.end));
}

bool WorkerNode::Opening(uint64_t group) const {
  std::lock_guard lock(opening_mu_);
  return opening_.count(group) > 0;
}

bool WorkerNode::Routable(uint64_t group, uint64_t epoch) const {
  auto it = groups_.find(group);
  return it != groups_.end() && it->second.sm->epoch() == epoch;
}

void WorkerNode::OnWrite(const NodeId& from, const ShardWriteRequest& req) {
  ShardWriteResponse r;
  r.rpc_id = req.rpc_id;
  if (!Routable(req.group, req.epoch)) {
    r.stale_epoch = true;
    r.status = Status::FailedPrecondition("group " + std::to_string(req.group) + " epoch " +
                                          std::to_string(req.epoch) + " is not hosted here");
    return transport_.Send(from, std::move(r));
  }
  if (groups_.at(req.group).sm->splitting_epoch() == req.epoch) {
    // It would commit after the split and be refused as stale when it applies, seconds
    // from now (the split's copies): refused now. Waiting, it timed out at the gateway,
    // which then avoided this leader and sent reads to followers still copying.
    r.stale_epoch = true;
    r.status = Status::FailedPrecondition("group " + std::to_string(req.group) + " is applying a split that ends epoch " +
                                          std::to_string(req.epoch));
    return transport_.Send(from, std::move(r));
  }
  const GroupRole st = host_->group_role(req.group);
  if (st.role != raft::Role::kLeader) {
    r.leader_hint = st.lead;
    r.status = Status::Unavailable("not the leader of group " + std::to_string(req.group));
    return transport_.Send(from, std::move(r));
  }
  if (req.command.request.empty()) {
    r.status = Status::InvalidArgument("a write needs a request id");
    return transport_.Send(from, std::move(r));
  }
  ShardCommand cmd = req.command;
  cmd.epoch = req.epoch;  // Checked again when applied (a split may come first).
  cmd.split.reset();      // Splits are PD's to order.
  Status s = host_->Propose(req.group, EncodeShardCommand(cmd));
  if (!s.ok()) {
    r.status = s;
    return transport_.Send(from, std::move(r));
  }
  writes_[{req.command.request.client, req.command.request.seq}].push_back(
      WriteWaiter{from, req.rpc_id, req.group, clock_.NowMs() + opt_.request_timeout_ms});
}

void WorkerNode::OnApplied(uint64_t group) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return;
  for (ShardOutcome& o : it->second.sm->TakeOutcomes()) {
    auto w = writes_.find({o.request.client, o.request.seq});
    if (w == writes_.end()) continue;
    // Only this group's waiters: a write or broadcast rerouted after a split sends its
    // parts for several groups under one request id, and two of them may be led here.
    ShardWriteResponse r;
    r.status = o.status;
    r.deleted = o.deleted;
    r.stale_epoch = o.stale_epoch;
    r.duplicate = o.duplicate;
    r.applied_by = o.applied_by;
    AnswerWrites(group, r, w->second);
    if (w->second.empty()) writes_.erase(w);
  }
  ServeReads(group);
}

void WorkerNode::OnSoftState(uint64_t group, const raft::SoftState& ss) {
  // A group this worker now leads is reported at once: PD routes by leaders, and finishes
  // a split only once the new group has one.
  if (ss.lead == opt_.id) next_heartbeat_ms_ = clock_.NowMs();
  // The group's leader changed: a ReadIndex still unanswered (asked of the old leader, or
  // by it) will never be; the gateway retries it at once rather than after its timeout.
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (it->second.req.group != group || it->second.have_index) {
      ++it;
      continue;
    }
    RefuseRead(it->second.from, it->second.req.rpc_id,
               Status::Unavailable("leadership of group " + std::to_string(group) + " changed during the read"),
               ss.lead);
    it = reads_.erase(it);
  }
  if (ss.role == raft::Role::kLeader) return;
  // Lost leadership: the pending writes may still commit under the new leader; the
  // gateway retries them there with the same request id (applied once).
  const Status changed = Status::Unavailable("leadership of group " + std::to_string(group) + " changed");
  for (auto it = writes_.begin(); it != writes_.end();) {
    RefuseWrites(group, ss.lead, changed, it->second);
    it = it->second.empty() ? writes_.erase(it) : std::next(it);
  }
}

void WorkerNode::AnswerWrites(uint64_t group, const ShardWriteResponse& r, std::vector<WriteWaiter>& ws) {
  for (size_t i = 0; i < ws.size();) {
    if (ws[i].group != group) {
      ++i;
      continue;
    }
    ShardWriteResponse ri = r;
    ri.rpc_id = ws[i].rpc_id;
    transport_.Send(ws[i].from, std::move(ri));
    ws.erase(ws.begin() + static_cast<long>(i));
  }
}

void WorkerNode::RefuseWrites(uint64_t group, uint64_t leader_hint, const Status& s, std::vector<WriteWaiter>& ws) {
  ShardWriteResponse r;
  r.leader_hint = leader_hint;
  r.status = s;
  AnswerWrites(group, r, ws);
}

void WorkerNode::Timeouts() {
  uint64_t now = clock_.NowMs();
  for (auto it = writes_.begin(); it != writes_.end();) {
    auto& ws = it->second;
    for (size_t i = 0; i < ws.size();) {
      if (ws[i].deadline_ms > now) {
        ++i;
        continue;
      }
      ShardWriteResponse r;
      r.rpc_id = ws[i].rpc_id;
      r.status = Status::Unavailable("the write was not applied in time; retry");
      transport_.Send(ws[i].from, std::move(r));
      ws.erase(ws.begin() + static_cast<long>(i));
    }
    it = ws.empty() ? writes_.erase(it) : std::next(it);
  }
  for (auto it = reads_.begin(); it != reads_.end();) {
    const PendingRead& pr = it->second;
    const bool silent = pr.have_index && host_->LeaderSilent(pr.req.group, pr.index, opt_.read_leader_silence_ms);
    if (pr.deadline_ms > now && !silent) {
      ++it;
      continue;
    }
    if (silent && pr.deadline_ms > now) ++reads_leader_silent_;
    RefuseRead(pr.from, pr.req.rpc_id,
               silent ? Status::Unavailable("group " + std::to_string(pr.req.group) +
                                            ": this replica waits for log index " + std::to_string(pr.index) +
                                            " and has heard nothing from its leader for " +
                                            std::to_string(opt_.read_leader_silence_ms) +
                                            " ms (removed from the group, or cut off); retry at another replica")
                      : Status::Unavailable("the read could not be confirmed in time; retry"),
               0);
    it = reads_.erase(it);
  }
}

}  // namespace vectron::net::cluster
