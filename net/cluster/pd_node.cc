#include "net/cluster/pd_node.h"

#include <algorithm>

#include "net/cluster/codec.h"
#include "vectron/options.h"

namespace vectron::net::cluster {

namespace {
// How soon the leader of a group PD has just proposed to split is asked to heartbeat again
// (PdHeartbeatResponse::again_ms): enough for PD to commit the split's start.
constexpr uint32_t kSplitOrderSoonMs = 50;
}  // namespace

PdNode::PdNode(PdNodeOptions options, Clock& clock, Transport& transport, GroupLogStore& store)
    : opt_(std::move(options)), clock_(clock), transport_(transport), store_(store) {
  opt_.raft.peer_kind = NodeKind::kPd;
}

PdNode::~PdNode() = default;

Status PdNode::Start() {
  RaftHost::Callbacks cb;
  cb.on_applied = [this](uint64_t) { OnApplied(); };
  cb.on_soft_state = [this](uint64_t, const raft::SoftState& ss) { OnSoftState(ss); };
  host_ = std::make_unique<RaftHost>(NodeId{NodeKind::kPd, opt_.id}, opt_.raft, clock_, transport_, store_, executor_,
                                     loop_, std::move(cb));
  auto sm = std::make_unique<PdStateMachine>();
  sm_ = sm.get();
  raft::ConfState conf;
  conf.voters = opt_.members;
  std::sort(conf.voters.begin(), conf.voters.end());
  return host_->AddGroup(kPdGroupId, std::move(sm), &conf);
}

bool PdNode::IsLeader() const { return host_->group_role(kPdGroupId).role == raft::Role::kLeader; }

uint64_t PdNode::leader() const { return host_->group_role(kPdGroupId).lead; }

bool PdNode::WorkerAlive(uint64_t worker) const {
  uint64_t now = clock_.NowMs();
  // A new leader has no heartbeat history: every worker counts as alive for one timeout.
  if (now < leader_since_ms_ + opt_.worker_dead_ms) return true;
  auto it = last_heartbeat_ms_.find(worker);
  return it != last_heartbeat_ms_.end() && now < it->second + opt_.worker_dead_ms;
}

ClusterMap PdNode::Map() const {
  ClusterMap m = sm_->map();
  m.pd_members = opt_.members;
  m.pd_leader = leader();
  for (auto& [id, w] : m.workers) w.alive = WorkerAlive(id);
  for (auto& [id, g] : m.groups) {
    auto it = group_leader_.find(id);
    if (it != group_leader_.end()) g.leader = it->second.second;
    if (g.target.empty() && g.learners.empty()) continue;
    // A group being moved: how far each member has come (cluster status shows it).
    for (const std::vector<uint64_t>* ws : {&g.replicas, &g.learners, &g.target})
      for (uint64_t w : *ws)
        if (auto a = applied_.find({id, w}); a != applied_.end()) g.applied[w] = a->second;
  }
  return m;
}

void PdNode::Receive(const NodeId& from, Envelope msg) {
  if (auto* b = std::get_if<RaftBatch>(&msg)) {
    host_->Receive(from, std::move(*b));
  } else if (auto* hb = std::get_if<PdHeartbeat>(&msg)) {
    OnHeartbeat(from, *hb);
  } else if (auto* mr = std::get_if<PdMapRequest>(&msg)) {
    OnMapRequest(from, *mr);
  } else if (auto* ar = std::get_if<PdAdminRequest>(&msg)) {
    OnAdmin(from, *ar);
  } else if (auto* au = std::get_if<PdAuthRequest>(&msg)) {
    OnAuth(from, *au);
  }
}

Status PdNode::RunOnce() {
  Status s = host_->RunOnce();
  uint64_t now = clock_.NowMs();
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto& ws = it->second;
    for (size_t i = 0; i < ws.size();) {
      if (ws[i].deadline_ms <= now) {
        ReplyAdmin(ws[i], Status::Unavailable("the command was not applied in time; retry"));
        ws.erase(ws.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
    it = ws.empty() ? waiters_.erase(it) : std::next(it);
  }
  return s;
}

void PdNode::OnSoftState(const raft::SoftState& ss) {
  if (ss.role == raft::Role::kLeader) {
    leader_since_ms_ = clock_.NowMs();
    // Everything earlier leaders committed is at or below this index (our first entry of
    // the term is the last one); our map is not to be served before it is applied.
    term_start_index_ = host_->group_status(kPdGroupId).last_index;
    last_heartbeat_ms_.clear();
    group_leader_.clear();
    register_sent_ms_.clear();
    applied_.clear();
    pending_transfers_.clear();
    membership_.clear();
    pending_steps_.clear();
    sizes_.clear();
    split_asked_ms_.clear();
    split_done_ms_.clear();
    conf_proposed_ms_.clear();
    plan_proposed_ms_ = 0;
    return;
  }
  // No longer leader: pending commands may or may not apply; the callers retry (deduped).
  for (auto& [key, ws] : waiters_)
    for (const Waiter& w : ws) ReplyAdmin(w, Status::Unavailable("placement driver leadership changed; retry"));
  waiters_.clear();
}

void PdNode::OnApplied() {
  for (const PdOutcome& o : sm_->TakeOutcomes()) {
    auto it = waiters_.find({o.request.client, o.request.seq});
    if (it == waiters_.end()) continue;
    for (const Waiter& w : it->second) ReplyAdmin(w, o.status);
    waiters_.erase(it);
  }
}

void PdNode::ReplyAdmin(const Waiter& w, Status s) {
  if (w.auth) {
    PdAuthResponse r;
    r.rpc_id = w.rpc_id;
    r.status = std::move(s);
    r.pd_leader = leader();
    r.version = sm_->auth_version();
    transport_.Send(w.from, std::move(r));
    return;
  }
  PdAdminResponse r;
  r.rpc_id = w.rpc_id;
  r.status = std::move(s);
  r.pd_leader = leader();
  r.map_version = sm_->map().version;
  transport_.Send(w.from, std::move(r));
}

void PdNode::OnHeartbeat(const NodeId& from, const PdHeartbeat& hb) {
  PdHeartbeatResponse r;
  r.rpc_id = hb.rpc_id;
  r.pd_leader = leader();
  if (!IsLeader()) {
    r.status = Status::Unavailable("not the placement driver leader");
    transport_.Send(from, std::move(r));
    return;
  }
  uint64_t now = clock_.NowMs();
  last_heartbeat_ms_[hb.worker] = now;
  for (const ReplicaReport& rep : hb.replicas) {
    applied_[{rep.group, hb.worker}] = rep.applied_index;
    if (!rep.leader) continue;
    auto& gl = group_leader_[rep.group];
    if (rep.term >= gl.first) gl = {rep.term, hb.worker};
    NoteMembership(rep, now);
    NoteSplit(hb.worker, rep);
  }
  if (host_->group_status(kPdGroupId).applied < term_start_index_) {
    // A new leader whose map may be older than one an earlier leader served (entries
    // committed before its election not applied yet): it must not tell a worker to drop a
    // group it has since joined (a voter forgetting its log and votes), nor plan on it.
    // Unregistered: the worker hosts nothing new and drops nothing (asks again later).
    r.registered = false;
    transport_.Send(from, std::move(r));
    return;
  }
  const ClusterMap& m = sm_->map();
  auto w = m.workers.find(hb.worker);
  r.registered = w != m.workers.end() && w->second.addr == hb.addr;
  if (!r.registered) {
    auto sent = register_sent_ms_.find(hb.worker);
    if (sent == register_sent_ms_.end() || now >= sent->second + opt_.register_retry_ms) {
      register_sent_ms_[hb.worker] = now;
      PdCommand cmd;
      cmd.kind = PdCommand::Kind::kRegisterWorker;
      cmd.worker = hb.worker;
      cmd.addr = hb.addr;
      (void)host_->Propose(kPdGroupId, EncodePdCommand(cmd));  // Retried on a later heartbeat.
    }
  }
  for (const auto& [id, g] : m.groups) {
    if (!g.Places(hb.worker)) continue;
    GroupAssignment a;
    a.group = g;
    auto gl = group_leader_.find(id);
    if (gl != group_leader_.end()) a.group.leader = gl->second.second;
    a.config_json = m.collections.at(g.collection).config_json;
    r.assignments.push_back(std::move(a));
  }
  if (r.registered) {
    r.transfers = BalanceLeaders(hb.worker, now);
    MoveSteps(hb.worker, now, &r);
    SplitSteps(hb.worker, now, &r);
    const uint64_t split = PlanSplit(now);
    if (split == 0) PlanMoves(now);
    // The order of the split goes to its group's leader in a heartbeat answer once the
    // split is committed: if that is this worker, it comes back soon rather than at its
    // period (the order's wait was a sixth of a split's window, docs/benchmarks.md).
    if (auto gl = group_leader_.find(split); split != 0 && gl != group_leader_.end() && gl->second.second == hb.worker)
      r.again_ms = kSplitOrderSoonMs;
  }
  transport_.Send(from, std::move(r));
}

std::vector<LeaderTransfer> PdNode::BalanceLeaders(uint64_t w, uint64_t now) {
  // After a PD election the leader hints and liveness are relearned for one timeout.
  if (!opt_.balance_leaders || now < leader_since_ms_ + opt_.worker_dead_ms) return {};
  const ClusterMap& m = sm_->map();
  bool busy = false;  // A transfer from w is still in flight: one at a time per worker.
  std::vector<LeaderTransfer> chained;  // The second step of a chain, planned at another's heartbeat.
  for (auto it = pending_transfers_.begin(); it != pending_transfers_.end();) {
    auto gl = group_leader_.find(it->first);
    bool done = gl != group_leader_.end() && gl->second.second == it->second.to;
    if (done || !m.groups.count(it->first) || now >= it->second.since_ms + opt_.leader_transfer_timeout_ms) {
      it = pending_transfers_.erase(it);
      continue;
    }
    if (it->second.from == w && !it->second.asked) {
      it->second.asked = true;
      it->second.since_ms = now;
      chained.push_back(LeaderTransfer{it->first, it->second.to});
    }
    busy = busy || it->second.from == w;
    ++it;
  }
  if (!chained.empty()) return chained;
  if (busy || !WorkerAlive(w)) return {};
  // Leaders per live worker, counting transfers in flight as done.
  auto leader_of = [&](uint64_t g) -> uint64_t {
    auto p = pending_transfers_.find(g);
    if (p != pending_transfers_.end()) return p->second.to;
    auto gl = group_leader_.find(g);
    return gl == group_leader_.end() ? 0 : gl->second.second;
  };
  std::map<uint64_t, uint64_t> leads;
  for (const auto& [id, info] : m.workers)
    if (WorkerAlive(id)) leads[id] = 0;
  for (const auto& [g, info] : m.groups) {
    uint64_t l = leader_of(g);
    if (leads.count(l) && std::find(info.replicas.begin(), info.replicas.end(), l) != info.replicas.end()) ++leads[l];
  }
  // Whether worker t can take over group g from its leader `from`: a live replica other
  // than `from`, staying (in the group's wanted voters), caught up (not one that joined
  // empty and has applied nothing yet). Not for a group being moved (a transfer would
  // hold its membership steps) or with a transfer in flight.
  auto can_take = [&](uint64_t g, const GroupInfo& info, uint64_t from, uint64_t t) {
    if (leader_of(g) != from || pending_transfers_.count(g) || !info.target.empty() || !info.learners.empty()) return false;
    if (t == from || !leads.count(t) || std::find(info.replicas.begin(), info.replicas.end(), t) == info.replicas.end())
      return false;
    if (std::find(info.wanted().begin(), info.wanted().end(), t) == info.wanted().end()) return false;  // Leaving.
    auto own = applied_.find({g, from});
    uint64_t leader_applied = own == applied_.end() ? 0 : own->second;
    auto a = applied_.find({g, t});
    return a != applied_.end() && a->second != 0 && a->second + opt_.leader_transfer_max_lag >= leader_applied;
  };
  // The least loaded replica (lowest id on ties) leading at most `max_leads` groups that
  // can take g over from `from`, or 0.
  auto taker = [&](uint64_t g, const GroupInfo& info, uint64_t from, uint64_t max_leads) -> uint64_t {
    uint64_t best = 0;
    for (uint64_t t : info.replicas)
      if (can_take(g, info, from, t) && leads[t] <= max_leads && (best == 0 || leads[t] < leads[best])) best = t;
    return best;
  };
  if (leads[w] < 2) return {};
  // The first group w leads with a caught-up replica on a worker leading 2 fewer. Each
  // move lowers the sum of squared counts, so balancing ends.
  for (const auto& [g, info] : m.groups) {
    uint64_t best = taker(g, info, w, leads[w] - 2);
    if (best == 0) continue;
    pending_transfers_[g] = PendingTransfer{w, best, now};
    return {LeaderTransfer{g, best}};
  }
  // Else a chain of two: w hands a group g to a worker t leading one fewer, which hands
  // one of its groups g2 to a worker y leading 2 fewer than w (none of w's groups has a
  // replica there that can take it). Counted as done, the pair lowers the sum of squared
  // counts like one move; t is asked at its next heartbeat.
  for (const auto& [g, info] : m.groups) {
    for (uint64_t t : info.replicas) {
      if (!leads.count(t) || leads[t] + 1 != leads[w] || !can_take(g, info, w, t)) continue;
      for (const auto& [g2, info2] : m.groups) {
        uint64_t y = g2 == g ? 0 : taker(g2, info2, t, leads[w] - 2);
        if (y == 0) continue;
        pending_transfers_[g] = PendingTransfer{w, t, now};
        pending_transfers_[g2] = PendingTransfer{t, y, now, false};
        return {LeaderTransfer{g, t}};
      }
    }
  }
  return {};
}

void PdNode::OnMapRequest(const NodeId& from, const PdMapRequest& req) {
  PdMapResponse r;
  r.rpc_id = req.rpc_id;
  r.pd_leader = leader();
  if (!IsLeader()) {
    r.status = Status::Unavailable("not the placement driver leader");
  } else if (req.known_version == 0 || req.known_version < sm_->map().version ||
             clock_.NowMs() >= leader_since_ms_ + opt_.worker_dead_ms) {
    // Liveness and leader hints change without a version: send the map whenever asked
    // after the grace period, and always when the caller's is older.
    r.map = Map();
  }
  transport_.Send(from, std::move(r));
}

Status PdNode::PlaceShards(uint32_t shards, uint32_t replication, std::vector<std::vector<uint64_t>>* out) const {
  const ClusterMap& m = sm_->map();
  std::map<uint64_t, uint64_t> load;  // worker -> replicas hosted
  for (const auto& [id, w] : m.workers)
    if (WorkerAlive(id)) load[id] = 0;
  if (replication == 0) replication = static_cast<uint32_t>(std::min<size_t>(3, load.size()));
  if (replication == 0 || load.size() < replication)
    return Status::FailedPrecondition("replication factor " + std::to_string(replication) + " needs that many live workers; " +
                                      std::to_string(load.size()) + " are alive");
  for (const auto& [id, g] : m.groups)
    for (uint64_t w : g.wanted())
      if (load.count(w)) ++load[w];
  out->assign(shards, {});
  for (uint32_t s = 0; s < shards; ++s) {
    std::vector<std::pair<uint64_t, uint64_t>> order;  // (load, worker): least loaded first
    for (const auto& [w, n] : load) order.emplace_back(n, w);
    std::sort(order.begin(), order.end());
    for (uint32_t r = 0; r < replication; ++r) {
      (*out)[s].push_back(order[r].second);
      ++load[order[r].second];
    }
  }
  return Status::OK();
}

void PdNode::Propose(const PdCommand& cmd, const Waiter& reply) {
  Waiter w = reply;
  w.deadline_ms = clock_.NowMs() + opt_.request_timeout_ms;
  Status s = host_->Propose(kPdGroupId, EncodePdCommand(cmd));
  if (!s.ok()) {
    ReplyAdmin(w, s);
    return;
  }
  waiters_[{cmd.request.client, cmd.request.seq}].push_back(w);
}

void PdNode::OnAdmin(const NodeId& from, const PdAdminRequest& req) {
  Waiter reply{from, req.rpc_id, 0};
  if (!IsLeader()) return ReplyAdmin(reply, Status::Unavailable("not the placement driver leader"));
  if (req.request.empty()) return ReplyAdmin(reply, Status::InvalidArgument("an admin request needs a request id"));
  PdCommand cmd;
  cmd.request = req.request;
  cmd.name = req.name;
  if (req.kind == PdAdminRequest::Kind::kDropCollection) {
    cmd.kind = PdCommand::Kind::kDropCollection;
    return Propose(cmd, reply);
  }
  if (req.kind == PdAdminRequest::Kind::kRenameCollection) {
    cmd.kind = PdCommand::Kind::kRenameCollection;
    cmd.addr = req.new_name;  // The command's format carries the new name there.
    return Propose(cmd, reply);
  }
  // Checked before proposing: a command over the format's limits would not decode.
  if (req.kind == PdAdminRequest::Kind::kSetDefaultRerank) {
    if (req.metadata.size() > kMaxCollectionMetadataBytes)
      return ReplyAdmin(reply, Status::InvalidArgument("a default rerank pipeline of " +
                                                       std::to_string(req.metadata.size()) + " bytes; at most " +
                                                       std::to_string(kMaxCollectionMetadataBytes) + " allowed"));
    cmd.kind = PdCommand::Kind::kSetDefaultRerank;
    cmd.addr = req.metadata;
    return Propose(cmd, reply);
  }
  if (Status s = CheckCollectionMetadata(req.metadata); !s.ok()) return ReplyAdmin(reply, s);
  if (req.kind == PdAdminRequest::Kind::kSetCollectionMetadata) {
    cmd.kind = PdCommand::Kind::kSetCollectionMetadata;
    cmd.addr = req.metadata;  // ...and the metadata.
    return Propose(cmd, reply);
  }
  cmd.kind = PdCommand::Kind::kCreateCollection;
  if (!ValidCollectionName(req.name))
    return ReplyAdmin(reply, Status::InvalidArgument("collection name \"" + req.name + "\": use 1-64 of [A-Za-z0-9_-]"));
  Result<CollectionConfig> cfg = CollectionConfig::FromJson(req.config_json);
  if (!cfg.ok()) return ReplyAdmin(reply, cfg.status());
  Status valid = cfg->Validate();
  if (!valid.ok()) return ReplyAdmin(reply, valid);
  cmd.config_json = req.config_json;
  cmd.addr = req.metadata;
  if (!sm_->map().collections.count(req.name)) {
    Status placed = PlaceShards(cfg->shards, req.replication, &cmd.placement);
    if (!placed.ok()) return ReplyAdmin(reply, placed);
    cmd.replication = static_cast<uint32_t>(cmd.placement[0].size());
  }
  // An existing name is proposed too: a retry of this very request gets its first outcome
  // from the state machine's request table, another request AlreadyExists.
  Propose(cmd, reply);
}

void PdNode::OnAuth(const NodeId& from, const PdAuthRequest& req) {
  Waiter reply{from, req.rpc_id, 0, true};
  if (!IsLeader()) return ReplyAdmin(reply, Status::Unavailable("not the placement driver leader"));
  if (req.kind == PdAuthRequest::Kind::kLoad) {
    PdAuthResponse r;
    r.rpc_id = req.rpc_id;
    r.pd_leader = leader();
    r.version = sm_->auth_version();
    for (const auto& [k, v] : sm_->auth()) r.records.emplace_back(k, v);
    return transport_.Send(from, std::move(r));
  }
  if (req.request.empty()) return ReplyAdmin(reply, Status::InvalidArgument("an auth commit needs a request id"));
  PdCommand cmd;
  cmd.kind = PdCommand::Kind::kAuthWrite;
  cmd.request = req.request;
  cmd.if_version = req.if_version;
  cmd.auth_changes = req.changes;
  Propose(cmd, reply);
}

}  // namespace vectron::net::cluster
