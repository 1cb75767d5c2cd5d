#include "net/cluster/raft_host.h"

#include <algorithm>
#include <optional>

namespace vectron::net::cluster {

Status FromRaft(const raft::Status& s) {
  switch (s.code()) {
    case raft::Error::kOk: return Status::OK();
    case raft::Error::kInvalidArgument: return Status::InvalidArgument(s.message());
    case raft::Error::kCorruption: return Status::Corruption(s.message());
    case raft::Error::kIo: return Status::IOError(s.message());
    case raft::Error::kProposalDropped:
    case raft::Error::kNotLeader:
    case raft::Error::kConfChangePending: return Status::Unavailable(s.ToString());
    case raft::Error::kCompacted:
    case raft::Error::kUnavailable:
    case raft::Error::kSnapshotOutOfDate: return Status::FailedPrecondition(s.ToString());
  }
  return Status::Internal(s.ToString());
}

struct RaftHost::Group {
  uint64_t id = 0;
  std::unique_ptr<StateMachine> sm;
  raft::LogStorage* log = nullptr;
  std::unique_ptr<raft::RawNode> node;
  Stage stage = Stage::kIdle;
  raft::Ready rd;  // The Ready in flight (stage != kIdle).
  // An apply task of this group is in the executor: the group goes on (ticks, messages,
  // proposals, persisting), but takes no more committed entries until it has finished.
  bool applying = false;
  bool removing = false;
  // Held while busy.
  std::deque<std::pair<NodeId, raft::Message>> inbox;
  uint64_t pending_ticks = 0;
  bool expire_lease = false;  // Ticks were dropped: the leader lease is expired when next fed.
  std::deque<std::string> reads;
  uint64_t transfer_to = 0;  // A leadership transfer asked for while busy (0: none).
  std::optional<raft::ConfChange> conf_change;  // A membership change asked for while busy.
  raft::SoftState soft;
  // Membership at the log's snapshot and after each conf change handed to the state
  // machine since, so a compaction records the membership at its index.
  raft::ConfState base_conf;
  std::map<uint64_t, raft::ConfState> conf_changes;
  // Follower reads: (arrival ms, leader commit) of recent leader messages, oldest first, and
  // the arrival time of the newest one whose commit this replica has applied.
  mutable std::deque<std::pair<uint64_t, uint64_t>> leader_commits;
  mutable uint64_t fresh_at_ms = 0;
  mutable bool fresh_known = false;
  uint64_t fresh_term = 0;
  // When the last message of this group from its leader arrived (queued or stepped).
  uint64_t leader_heard_ms = 0;
  // Hibernation: ticks this led group has been quiet; a wake asked for while busy.
  uint64_t quiet_ticks = 0;
  bool wake = false;
};

RaftHost::RaftHost(NodeId self, RaftHostOptions options, Clock& clock, Transport& transport, GroupLogStore& store,
                   Executor& executor, LoopQueue& loop, Callbacks callbacks)
    : self_(self),
      opt_(std::move(options)),
      clock_(clock),
      transport_(transport),
      store_(store),
      executor_(executor),
      loop_(loop),
      cb_(std::move(callbacks)),
      last_tick_ms_(clock.NowMs()),
      // New at each start (the monotonic clock has moved on), which is all a peer compares.
      incarnation_(clock.NowMs() + 1) {}

RaftHost::~RaftHost() = default;

Status RaftHost::AddGroup(uint64_t group, std::unique_ptr<StateMachine> sm, const raft::ConfState* bootstrap,
                          uint64_t bootstrap_index) {
  if (groups_.count(group)) return Status::AlreadyExists("group " + std::to_string(group) + " is already hosted");
  auto g = std::make_unique<Group>();
  g->id = group;
  g->sm = std::move(sm);
  VECTRON_RETURN_IF_ERROR(FromRaft(store_.OpenGroup(group, &g->log)));
  raft::HardState hs;
  raft::ConfState cs;
  VECTRON_RETURN_IF_ERROR(FromRaft(g->log->InitialState(&hs, &cs)));
  // A founding replica bootstraps only on a node that never held the group: one that hosted
  // it before and dropped it starts from the term and vote it kept (the log store's
  // tombstone, so hs is not empty) and waits for the leader's snapshot like any replica
  // joining empty. Bootstrapping it would hand it a log it may have acknowledged beyond,
  // and with that log it could vote for a candidate missing entries it helped commit.
  bool first_start = false;
  if (bootstrap && hs.empty() && g->log->LastIndex() == 0) {
    first_start = true;  // Never acknowledged a leader of this group: it may vote at once.
    std::string data;
    if (bootstrap_index > 1) {
      VECTRON_ASSIGN_OR_RETURN(data, g->sm->SnapshotData(bootstrap_index));
    }
    VECTRON_RETURN_IF_ERROR(FromRaft(raft::Bootstrap(*g->log, *bootstrap, std::move(data), bootstrap_index)));
    VECTRON_RETURN_IF_ERROR(FromRaft(g->log->InitialState(&hs, &cs)));
  }
  g->base_conf = cs;
  uint64_t snap_index = g->log->FirstIndex() - 1;
  if (snap_index > 0 && g->sm->applied_index() < snap_index) {
    // A founding replica (the bootstrap snapshot), or a state machine that lost more than
    // the log kept: it starts from the log's snapshot.
    raft::Snapshot snap;
    VECTRON_RETURN_IF_ERROR(FromRaft(g->log->GetSnapshot(&snap)));
    VECTRON_RETURN_IF_ERROR(g->sm->InstallSnapshot(snap));
  }
  // The state machine may be ahead of the log's commit index (a snapshot installed just
  // before a crash); the entries in between are skipped by the state machine.
  uint64_t applied = std::max(snap_index, std::min(g->sm->applied_index(), hs.commit));
  // Membership history of the applied entries the log still holds.
  if (applied > snap_index) {
    std::vector<raft::Entry> ents;
    VECTRON_RETURN_IF_ERROR(FromRaft(g->log->Entries(snap_index + 1, applied + 1, UINT64_MAX, &ents)));
    NoteCommitted(*g, ents);
  }
  raft::Config cfg = opt_.raft;
  cfg.id = self_.id;
  cfg.applied = applied;
  cfg.first_start = first_start;
  cfg.seed = opt_.raft.seed * 0x9E3779B97F4A7C15ull + group * 1000003 + self_.id;
  if (cfg.logger) {
    cfg.logger = [log = cfg.logger, group](const std::string& line) {
      log("group " + std::to_string(group) + " " + line);
    };
  }
  VECTRON_RETURN_IF_ERROR(FromRaft(raft::RawNode::Create(cfg, g->log, &g->node)));
  groups_.emplace(group, std::move(g));
  return Status::OK();
}

Status RaftHost::RemoveGroup(uint64_t group) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return Status::NotFound("group " + std::to_string(group) + " is not hosted");
  if (it->second->stage != Stage::kIdle || it->second->applying) {
    it->second->removing = true;  // Erased when its Ready and its apply are done.
    return Status::OK();
  }
  EraseGroup(group);
  return fatal_;
}

void RaftHost::EraseGroup(uint64_t group) {
  groups_.erase(group);
  Status s = FromRaft(store_.DropGroup(group));
  if (!s.ok() && fatal_.ok()) fatal_ = s.WithContext("dropping group " + std::to_string(group));
}

bool RaftHost::HasGroup(uint64_t group) const { return groups_.count(group) > 0; }

std::vector<uint64_t> RaftHost::groups() const {
  std::vector<uint64_t> out;
  for (const auto& [id, g] : groups_) out.push_back(id);
  return out;
}

StateMachine* RaftHost::state_machine(uint64_t group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : it->second->sm.get();
}

GroupRole RaftHost::group_role(uint64_t group) const {
  const raft::RawNode& node = *groups_.at(group)->node;
  return GroupRole{node.role(), node.lead(), node.term()};
}

GroupStatus RaftHost::group_status(uint64_t group) const {
  const Group& g = *groups_.at(group);
  GroupStatus s;
  s.role = g.node->role();
  s.lead = g.node->lead();
  s.term = g.node->term();
  s.commit = g.node->committed();
  s.applied = g.sm->applied_index();
  s.first_index = g.log->FirstIndex();
  s.last_index = g.node->last_index();
  s.busy = g.stage != Stage::kIdle;
  s.applying = g.applying;
  s.hibernating = g.node->hibernating();
  s.conf = g.node->conf_state();
  if (g.conf_changes.empty()) {
    s.committed_conf = g.base_conf;
    s.conf_index = g.log->FirstIndex() - 1;
  } else {
    s.committed_conf = g.conf_changes.rbegin()->second;
    s.conf_index = g.conf_changes.rbegin()->first;
  }
  return s;
}

std::vector<raft::Entry> RaftHost::CommittedEntries(uint64_t group, uint64_t lo, uint64_t hi, uint64_t max_bytes) const {
  std::vector<raft::Entry> out;
  auto it = groups_.find(group);
  if (it == groups_.end() || lo >= hi || hi - 1 > it->second->node->committed()) return out;
  // Committed entries are in the log: a node persists its entries before it sends them,
  // so before anyone (itself included) acknowledges them.
  if (!it->second->log->Entries(lo, hi, max_bytes, &out).ok()) out.clear();
  return out;
}

size_t RaftHost::hibernating_groups() const {
  size_t n = 0;
  for (const auto& [id, g] : groups_) n += g->node->hibernating() ? 1 : 0;
  return n;
}

void RaftHost::Receive(const NodeId& from, RaftBatch batch) {
  if (from.kind == opt_.peer_kind) {
    uint64_t now = clock_.NowMs();
    Peer& p = peers_[from.id];
    uint64_t timeout_ms = static_cast<uint64_t>(opt_.raft.election_ticks) * opt_.tick_ms;
    bool restarted = batch.incarnation != 0 && p.incarnation != 0 && batch.incarnation != p.incarnation;
    bool back = p.heard_ms != 0 && now > p.heard_ms + timeout_ms;
    if (restarted || back) returned_peers_.insert(from.id);
    if (batch.incarnation != 0) p.incarnation = batch.incarnation;
    p.heard_ms = now;
  }
  for (GroupMessage& gm : batch.messages) {
    auto it = groups_.find(gm.group);
    if (it == groups_.end()) continue;
    Group& g = *it->second;
    if (gm.msg.from != raft::kNone && gm.msg.from == g.node->lead() && gm.msg.term >= g.node->term())
      g.leader_heard_ms = clock_.NowMs();
    // A heartbeat right after another of the same leader and term replaces it: the later one
    // carries everything the earlier did (commit, read round and lease tick only grow), and
    // its answer confirms the earlier read rounds too. A group busy for a second under read
    // load otherwise queued hundreds, and answered each (docs/raft.md, bug 13).
    if (gm.msg.type == raft::MessageType::kHeartbeat && !g.inbox.empty()) {
      const raft::Message& last = g.inbox.back().second;
      if (last.type == raft::MessageType::kHeartbeat && last.from == gm.msg.from && last.term == gm.msg.term &&
          last.seq <= gm.msg.seq) {
        g.inbox.back() = {from, std::move(gm.msg)};
        ++stats_.heartbeats_coalesced;
        continue;
      }
    }
    if (g.inbox.size() >= opt_.inbox_max) continue;
    g.inbox.emplace_back(from, std::move(gm.msg));
  }
}

void RaftHost::Step(Group& g, const NodeId& from, const raft::Message& m) {
  if (m.type == raft::MessageType::kSnapshot) {
    raft::Message snap = m;
    if (!g.sm->SnapshotReady(from, &snap)) return;
    if (snap.snapshot.metadata.index != m.snapshot.metadata.index) ++stats_.snapshots_forwarded;
    (void)g.node->Step(snap);
    return;
  }
  (void)g.node->Step(m);  // Errors only for a misaddressed message: dropped.
  // Follower reads: remember when the leader's commit index arrived.
  if ((m.type == raft::MessageType::kAppend || m.type == raft::MessageType::kHeartbeat) &&
      m.from == g.node->lead() && m.term == g.node->term() && g.node->role() == raft::Role::kFollower) {
    if (g.fresh_term != m.term) {
      g.leader_commits.clear();
      g.fresh_known = false;
      g.fresh_term = m.term;
    }
    uint64_t leader_commit = m.type == raft::MessageType::kAppend ? m.commit : m.index;
    g.leader_commits.emplace_back(clock_.NowMs(), leader_commit);
    if (g.leader_commits.size() > 64) g.leader_commits.pop_front();
  }
}

bool RaftHost::FreshWithin(uint64_t group, uint64_t max_staleness_ms) const {
  auto it = groups_.find(group);
  if (it == groups_.end()) return false;
  const Group& g = *it->second;
  if (g.node->role() != raft::Role::kFollower || g.node->lead() == raft::kNone || g.fresh_term != g.node->term())
    return false;
  uint64_t applied = g.sm->applied_index();
  while (!g.leader_commits.empty() && g.leader_commits.front().second <= applied) {
    g.fresh_at_ms = g.leader_commits.front().first;
    g.fresh_known = true;
    g.leader_commits.pop_front();
  }
  return g.fresh_known && g.fresh_at_ms + max_staleness_ms >= clock_.NowMs();
}

bool RaftHost::LeaderSilent(uint64_t group, uint64_t index, uint64_t silence_ms) const {
  auto it = groups_.find(group);
  if (it == groups_.end()) return false;
  const Group& g = *it->second;
  if (g.node->role() == raft::Role::kLeader || g.node->committed() >= index) return false;
  return g.leader_heard_ms + silence_ms <= clock_.NowMs();
}

bool RaftHost::ShouldWake(const Group& g, uint64_t now) const {
  uint64_t timeout_ms = static_cast<uint64_t>(opt_.raft.election_ticks) * opt_.tick_ms;
  auto alive = [&](uint64_t id) {
    auto it = peers_.find(id);
    return it != peers_.end() && it->second.heard_ms + timeout_ms >= now;
  };
  const raft::ConfState& cs = g.node->conf_state();
  if (g.node->role() == raft::Role::kLeader) {
    // Without a quorum of live nodes, wake so that check-quorum can step down.
    size_t live = 0;
    for (uint64_t v : cs.voters) live += (v == self_.id || alive(v)) ? 1 : 0;
    if (live < cs.voters.size() / 2 + 1) return true;
    // A member that restarted or came back may have woken (or never hibernated): heartbeat
    // it before it campaigns.
    for (uint64_t id : returned_peers_)
      if (cs.Contains(id)) return true;
    return false;
  }
  // A follower wakes when its leader's node is silent for an election timeout (it elects
  // a new leader as usual), or restarted (its groups start awake, without leadership).
  uint64_t lead = g.node->lead();
  if (lead == raft::kNone || lead == self_.id) return true;
  return !alive(lead) || returned_peers_.count(lead) > 0;
}

void RaftHost::SendKeepalives(uint64_t now, std::map<NodeId, RaftBatch>& out) {
  std::set<uint64_t> members;
  for (const auto& [id, g] : groups_) {
    const raft::ConfState& cs = g->node->conf_state();
    members.insert(cs.voters.begin(), cs.voters.end());
    members.insert(cs.learners.begin(), cs.learners.end());
  }
  members.erase(self_.id);
  uint64_t every_ms = static_cast<uint64_t>(opt_.raft.heartbeat_ticks) * opt_.tick_ms;
  for (uint64_t id : members) {
    NodeId to{opt_.peer_kind, id};
    if (out.count(to)) continue;
    auto it = peers_.find(id);
    if (it != peers_.end() && it->second.sent_ms + every_ms > now) continue;
    out[to];  // An empty batch: "this node is alive".
  }
}

void RaftHost::FeedIdle(Group& g, uint64_t ticks) {
  if (g.expire_lease) {
    g.node->ExpireLease();
    g.expire_lease = false;
  }
  if (g.wake) {
    g.node->Wake();
    g.wake = false;
  }
  // Reads a follower forwarded are stepped after the ticks, like this node's own (below):
  // a leader answers them from its lease, which must be judged on a current tick count.
  std::vector<std::pair<NodeId, raft::Message>> read_requests;
  while (!g.inbox.empty()) {
    auto [from, m] = std::move(g.inbox.front());
    g.inbox.pop_front();
    if (m.type == raft::MessageType::kReadIndex) {
      read_requests.emplace_back(from, std::move(m));
      continue;
    }
    Step(g, from, m);
  }
  for (uint64_t i = 0; i < ticks + g.pending_ticks; ++i) g.node->Tick();
  g.pending_ticks = 0;
  for (auto& [from, m] : read_requests) Step(g, from, m);
  while (!g.reads.empty()) {
    std::string context = std::move(g.reads.front());
    g.reads.pop_front();
    Status s = FromRaft(g.node->ReadIndex(context));  // Refused only with no leader known.
    if (!s.ok() && cb_.on_read_refused) cb_.on_read_refused(g.id, context, s);
  }
  if (g.transfer_to != 0) {
    (void)g.node->TransferLeader(g.transfer_to);  // No longer leader: dropped.
    g.transfer_to = 0;
  }
  if (g.conf_change) {
    (void)g.node->ProposeConfChange(*g.conf_change);  // Refused: PD asks again later.
    g.conf_change.reset();
  }
}

void RaftHost::NoteCommitted(Group& g, const std::vector<raft::Entry>& entries) {
  for (const raft::Entry& e : entries) {
    if (e.type != raft::EntryType::kConfChange) continue;
    raft::ConfChange cc;
    if (!raft::ConfChange::Decode(e.data, &cc)) continue;
    raft::ConfState cur = g.conf_changes.empty() ? g.base_conf : g.conf_changes.rbegin()->second;
    g.conf_changes[e.index] = raft::ApplyConfChangeTo(cur, cc);
  }
}

raft::ConfState RaftHost::ConfAt(const Group& g, uint64_t index) const {
  auto it = g.conf_changes.upper_bound(index);
  if (it == g.conf_changes.begin()) return g.base_conf;
  return std::prev(it)->second;
}

std::optional<std::pair<uint64_t, raft::ConfState>> RaftHost::LogPosition(uint64_t group, uint64_t index) const {
  auto it = groups_.find(group);
  if (it == groups_.end()) return std::nullopt;
  const Group& g = *it->second;
  // The membership history (NoteCommitted) covers the log's snapshot up to what Raft has
  // handed to the state machine.
  if (index == 0 || index + 1 < g.log->FirstIndex() || index > g.sm->applied_index()) return std::nullopt;
  uint64_t term = 0;
  if (!g.log->Term(index, &term).ok() || term == 0) return std::nullopt;
  return std::make_pair(term, ConfAt(g, index));
}

void RaftHost::MaybeCompact(Group& g, std::vector<GroupWrite>& writes) {
  uint64_t snap_index = g.log->FirstIndex() - 1;
  uint64_t durable = std::min(g.sm->durable_applied_index(), g.log->LastIndex());
  if (durable < snap_index + opt_.compact_entries) return;
  Result<std::string> data = g.sm->SnapshotData(durable);
  if (!data.ok()) return;  // Try again next loop; compaction is an optimization.
  GroupWrite w;  // The conf state is read before the history below is trimmed.
  w.kind = GroupWrite::Kind::kCreateSnapshot;
  w.group = g.id;
  w.snapshot.metadata.index = durable;
  w.snapshot.metadata.conf_state = ConfAt(g, durable);
  w.snapshot.data = std::move(data).value();
  w.durable_applied_index = durable;
  writes.push_back(std::move(w));
  g.base_conf = ConfAt(g, durable);
  g.conf_changes.erase(g.conf_changes.begin(), g.conf_changes.upper_bound(durable));
  ++stats_.compactions;
}

Status RaftHost::RunOnce() {
  loop_.Drain();
  if (!fatal_.ok()) return fatal_;
  ++stats_.loops;

  uint64_t now = clock_.NowMs();
  uint64_t ticks = 0;
  bool dropped = false;  // Real time ran on past the ticks this loop runs.
  const uint64_t max_ticks = static_cast<uint64_t>(opt_.max_ticks_per_loop);
  if (now > last_tick_ms_ && opt_.tick_ms > 0) {
    ticks = (now - last_tick_ms_) / opt_.tick_ms;
    last_tick_ms_ += ticks * opt_.tick_ms;
    dropped = ticks > max_ticks;
    if (dropped) ticks = max_ticks;
  }

  // Collect every group's Ready; persist them all with one write.
  const bool hibernation = opt_.hibernate_after_ticks > 0;
  std::vector<GroupWrite> writes;
  std::vector<Group*> persisting;
  for (auto& [id, gp] : groups_) {
    Group& g = *gp;
    if (hibernation && ticks > 0 && !g.wake && g.node->hibernating() && ShouldWake(g, now)) {
      g.wake = true;  // At once if idle, else when next fed.
      ++stats_.wakes;
    }
    // Leader leases are counted in ticks: a group that loses some expires its lease first
    // (before it steps the messages that queued meanwhile), so a leader that was paused
    // never serves a read from a lease that ran out in real time.
    if (dropped || (g.stage != Stage::kIdle && g.pending_ticks + ticks > max_ticks)) g.expire_lease = true;
    if (g.stage != Stage::kIdle) {
      g.pending_ticks = std::min(g.pending_ticks + ticks, max_ticks);
      if (g.stage != Stage::kPersistPending) continue;
    } else {
      if (g.removing) continue;  // Waits only for its apply to finish.
      FeedIdle(g, ticks);
      if (hibernation) {
        if (g.node->hibernating()) {
          g.quiet_ticks = 0;
        } else {
          // Quiet ticks are counted on ticks only (Quiescent reads a term from the log);
          // any work in between resets the count (below).
          if (ticks > 0 && g.node->role() == raft::Role::kLeader) {
            g.quiet_ticks = g.node->Quiescent() ? g.quiet_ticks + ticks : 0;
            if (g.quiet_ticks >= opt_.hibernate_after_ticks) {
              g.node->Hibernate();
              g.quiet_ticks = 0;
              if (g.node->hibernating()) ++stats_.hibernations;
            }
          }
        }
      }
      // While the previous batch applies, everything else of the group goes on: a long
      // apply (a split's copies) does not stop a leader's heartbeats.
      if (!g.node->HasReady(!g.applying)) {
        if (!g.applying) MaybeCompact(g, writes);  // SnapshotData: no task may be running.
        continue;
      }
      g.rd = g.node->GetReady(!g.applying);
      if (!g.rd.entries.empty() || !g.rd.committed_entries.empty() || !g.rd.read_states.empty()) g.quiet_ticks = 0;
      if (!g.rd.snapshot.empty()) {
        // Install first (off the loop); the log takes the snapshot in a later loop's write.
        g.stage = Stage::kInstalling;
        StateMachine* sm = g.sm.get();
        raft::Snapshot snap = g.rd.snapshot;
        executor_.Post(id, [this, id, sm, snap = std::move(snap)] {
          Status s = sm->InstallSnapshot(snap);
          loop_.Post([this, id, s] { OnInstalled(id, s); });
        });
        continue;
      }
    }
    if (!g.rd.snapshot.empty()) {
      GroupWrite w;
      w.kind = GroupWrite::Kind::kApplySnapshot;
      w.group = g.id;
      w.snapshot = g.rd.snapshot;
      writes.push_back(std::move(w));
    }
    if (!g.rd.entries.empty() || g.rd.hard_state) {
      GroupWrite w;
      w.kind = GroupWrite::Kind::kSave;
      w.group = g.id;
      w.entries = g.rd.entries;
      w.hs = g.rd.hard_state;
      writes.push_back(std::move(w));
    }
    persisting.push_back(&g);
  }
  if (!writes.empty()) {
    Status s = FromRaft(store_.Write(writes));
    ++stats_.log_writes;
    if (!s.ok()) {
      fatal_ = s.WithContext("raft log write");
      return fatal_;
    }
    if (opt_.crash_after_persist && opt_.crash_after_persist()) {
      fatal_ = Status::Aborted("simulated crash after persisting, before sending");
      return fatal_;
    }
  }

  // Send: one envelope per destination, every group's messages in it.
  std::map<NodeId, RaftBatch> out;
  for (Group* g : persisting) {
    for (raft::Message& m : g->rd.messages) {
      NodeId to{opt_.peer_kind, m.to};
      out[to].messages.push_back(GroupMessage{g->id, std::move(m)});
    }
    g->rd.messages.clear();
  }
  // Node liveness replaces the heartbeats of hibernating groups: a peer that got nothing
  // for a heartbeat interval gets an empty batch.
  if (hibernation && ticks > 0) SendKeepalives(now, out);
  if (ticks > 0) returned_peers_.clear();  // Every hibernating group has looked at them.
  for (auto& [to, batch] : out) {
    stats_.raft_messages += batch.messages.size();
    if (batch.messages.empty()) ++stats_.keepalives;
    ++stats_.transport_messages;
    batch.incarnation = incarnation_;
    if (to.kind == opt_.peer_kind) peers_[to.id].sent_ms = now;
    transport_.Send(to, std::move(batch));
  }

  // Apply (off the loop), or advance at once when there is nothing to apply.
  for (Group* gp : persisting) {
    Group& g = *gp;
    if (!(g.rd.soft_state == g.soft)) {
      g.soft = g.rd.soft_state;
      if (cb_.on_soft_state) cb_.on_soft_state(g.id, g.soft);
    }
    if (!g.rd.snapshot.empty()) {
      g.base_conf = g.rd.snapshot.metadata.conf_state;
      g.conf_changes.clear();
    }
    if (g.rd.committed_entries.empty()) {
      Finish(g);
      continue;
    }
    // Handed to the executor (in order, one batch at a time) and advanced at once: the
    // node's next Readys carry no committed entries until OnApplied (etcd/raft's
    // applications likewise Advance before their apply has finished).
    NoteCommitted(g, g.rd.committed_entries);
    g.applying = true;
    uint64_t id = g.id;
    StateMachine* sm = g.sm.get();
    executor_.Post(id, [this, id, sm, ents = g.rd.committed_entries] {
      Status s = sm->Apply(ents);
      loop_.Post([this, id, s] { OnApplied(id, s); });
    });
    Finish(g);
  }
  return fatal_;
}

void RaftHost::Finish(Group& g) {
  std::vector<raft::ReadState> reads = std::move(g.rd.read_states);
  g.node->Advance(g.rd);
  g.rd = raft::Ready{};
  g.stage = Stage::kIdle;
  if (g.removing) {
    if (!g.applying) EraseGroup(g.id);
    return;
  }
  // A read state may be ahead of the state machine (its apply still running): the callback
  // serves it once applied_index() reaches its index.
  if (cb_.on_read_state)
    for (const raft::ReadState& rs : reads) cb_.on_read_state(g.id, rs);
}

void RaftHost::OnApplied(uint64_t group, Status s) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return;
  Group& g = *it->second;
  // A group being removed may fail its last apply (its files are being deleted): its
  // state no longer matters, so that is not the node's failure.
  if (!s.ok() && !g.removing && fatal_.ok()) fatal_ = s.WithContext("applying group " + std::to_string(group));
  g.applying = false;
  if (g.removing) {
    if (g.stage == Stage::kIdle) EraseGroup(group);
    return;
  }
  if (cb_.on_applied) cb_.on_applied(group);
}

void RaftHost::OnInstalled(uint64_t group, Status s) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return;
  if (!s.ok()) {
    if (fatal_.ok()) fatal_ = s.WithContext("installing a snapshot of group " + std::to_string(group));
    return;
  }
  ++stats_.snapshots_installed;
  it->second->stage = Stage::kPersistPending;
  if (cb_.on_installed) cb_.on_installed(group, it->second->rd.snapshot.metadata);
}

Status RaftHost::Propose(uint64_t group, std::string data) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return Status::NotFound("group " + std::to_string(group) + " is not hosted");
  Group& g = *it->second;
  // Only a follower installs a snapshot; the caller asks its leader instead.
  if (g.stage != Stage::kIdle) return Status::Unavailable("group " + std::to_string(group) + " is installing a snapshot");
  return FromRaft(g.node->Propose(std::move(data)));
}

Status RaftHost::ReadIndex(uint64_t group, std::string context) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return Status::NotFound("group " + std::to_string(group) + " is not hosted");
  Group& g = *it->second;
  // At once only while the group's ticks are current: a leader may answer from its lease,
  // counted in ticks (after a pause, the first thing a node does may be to receive a read,
  // before its loop has run the ticks that fell due or expired the lease). Else the next
  // RunOnce takes it, after the ticks.
  const bool ticks_current = opt_.tick_ms == 0 || clock_.NowMs() < last_tick_ms_ + opt_.tick_ms;
  if (g.stage == Stage::kIdle && ticks_current) return FromRaft(g.node->ReadIndex(std::move(context)));
  if (g.reads.size() >= opt_.pending_max) return Status::Unavailable("too many reads waiting");
  g.reads.push_back(std::move(context));
  return Status::OK();
}

Status RaftHost::TransferLeader(uint64_t group, uint64_t target) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return Status::NotFound("group " + std::to_string(group) + " is not hosted");
  Group& g = *it->second;
  if (g.stage == Stage::kIdle) return FromRaft(g.node->TransferLeader(target));
  // Busy installing: started when the group is next fed (if it still leads then).
  if (g.node->role() != raft::Role::kLeader) return Status::Unavailable("not the group's leader");
  g.transfer_to = target;
  return Status::OK();
}

Status RaftHost::ProposeConfChange(uint64_t group, const raft::ConfChange& cc) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return Status::NotFound("group " + std::to_string(group) + " is not hosted");
  Group& g = *it->second;
  if (g.stage == Stage::kIdle) return FromRaft(g.node->ProposeConfChange(cc));
  if (g.node->role() != raft::Role::kLeader) return Status::Unavailable("not the group's leader");
  g.conf_change = cc;
  return Status::OK();
}

Status RaftHost::Campaign(uint64_t group) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return Status::NotFound("group " + std::to_string(group) + " is not hosted");
  if (it->second->stage != Stage::kIdle) return Status::Unavailable("group is busy");
  it->second->node->Campaign();
  return Status::OK();
}

}  // namespace vectron::net::cluster
