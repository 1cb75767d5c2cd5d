#include "raft/sim/simulation.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <sstream>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "raft/sim/linearizability.h"
#include "raft/sim/simulation_internal.h"

namespace vectron::raft::sim {

namespace detail {

namespace {

constexpr uint64_t kKeys = 4;
constexpr uint64_t kClientTimeoutSteps = 200;
constexpr size_t kTraceTail = 400;

}  // namespace

void Simulation::Trace(const std::string& line, bool verbose) {
  if (bench_) return;
  std::string l = "[" + std::to_string(now_) + "] " + line;
  if (opt_.trace) std::printf("%s\n", l.c_str());
  if (verbose) return;
  trace_.push_back(std::move(l));
  if (trace_.size() > kTraceTail) trace_.pop_front();
}

void Simulation::Fail(const std::string& why) {
  if (failed_) return;
  failed_ = true;
  failure_ = "step " + std::to_string(now_) + ": " + why;
  Trace("CHECK FAILED: " + why);
}

Config Simulation::MakeConfig(uint64_t id, uint64_t applied) {
  Config c;
  c.id = id;
  c.election_ticks = 10;
  c.heartbeat_ticks = 2;
  c.applied = applied;
  c.max_entries_per_msg = max_entries_per_msg_;
  c.max_bytes_per_msg = 4096;
  c.max_inflight_msgs = max_inflight_;
  c.snapshot_chunk_bytes = chunk_bytes_;
  c.pre_vote = pre_vote_;
  c.check_quorum = check_quorum_;
  c.read_only = lease_ ? ReadOnlyOption::kLeaseBased : ReadOnlyOption::kSafe;
  c.lease_ticks = 5;
  c.seed = opt_.seed * 1000 + id + now_;
  return c;
}

SimNode* Simulation::Node(uint64_t id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

SimNode* Simulation::Leader() {
  SimNode* best = nullptr;
  for (auto& [id, n] : nodes_) {
    if (n.up() && n.raft->role() == Role::kLeader && (!best || n.raft->term() > best->raft->term())) best = &n;
  }
  return best;
}

void Simulation::StartNode(SimNode& n) {
  Snapshot snap;
  (void)n.storage->GetSnapshot(&snap);
  if (sm_sync_every_ > 0) {
    // Its own copy only: the log's snapshot stands in for data it does not read back.
    n.state = n.synced_state;
    n.applied_conf = n.synced_conf;
    n.applied_index = n.synced_index;
  } else {
    n.state = KvState::Parse(snap.data);
    n.applied_conf = snap.metadata.conf_state;
    n.applied_index = snap.metadata.index;
  }
  n.pending_writes.clear();
  n.reads_waiting_index.clear();
  n.reads_waiting_apply.clear();
  n.accum = 0;
  Config cfg = MakeConfig(n.id, n.applied_index);
  cfg.first_start = !n.started;  // It has acknowledged no leader yet: no boot window.
  n.started = true;
  Status s = RawNode::Create(cfg, n.storage.get(), &n.raft);
  if (!s.ok()) Fail("node " + std::to_string(n.id) + " failed to start: " + s.ToString());
  n.last_role = Role::kFollower;
  n.last_term = n.up() ? n.raft->term() : 0;
}

void Simulation::CrashNode(SimNode& n) {
  // Everything not in storage is lost: raft's volatile state, the state machine, pending ops.
  n.raft.reset();
  n.state = KvState{};
  n.pending_writes.clear();
  n.reads_waiting_index.clear();
  n.reads_waiting_apply.clear();
}

void Simulation::Setup() {
  int nodes = rng_.Chance(0.5) ? 3 : 5;
  if (opt_.faults) {
    drop_p_ = rng_.Chance(0.3) ? 0.0 : 0.01 * static_cast<double>(rng_.Range(1, 10));
    dup_p_ = rng_.Chance(0.5) ? 0.0 : 0.01 * static_cast<double>(rng_.Range(1, 5));
    long_delay_p_ = 0.01 * static_cast<double>(rng_.Range(0, 5));
    max_delay_ = rng_.Range(1, 6);
    skew_ = static_cast<int>(rng_.Range(0, 3));  // Up to 30% slower clocks.
    crash_p_ = 1.0 / static_cast<double>(rng_.Range(300, 1500));
    partition_p_ = 1.0 / static_cast<double>(rng_.Range(200, 1200));
    if (rng_.Chance(0.25)) {
      // Storm: frequent, short crashes and partitions, for much leader churn.
      storm_ = true;
      crash_p_ = 1.0 / static_cast<double>(rng_.Range(60, 200));
      partition_p_ = 1.0 / static_cast<double>(rng_.Range(60, 200));
    }
  }
  if (opt_.membership) {
    conf_p_ = 1.0 / static_cast<double>(rng_.Range(150, 600));
    transfer_p_ = 1.0 / static_cast<double>(rng_.Range(200, 1000));
  }
  pre_vote_ = !rng_.Chance(0.2);
  check_quorum_ = !rng_.Chance(0.2);
  lease_ = check_quorum_ && rng_.Chance(0.5);
  const uint64_t epm[] = {0, 1, 3};
  max_entries_per_msg_ = epm[rng_.Below(3)];
  const size_t inflight[] = {1, 4, 64};
  max_inflight_ = inflight[rng_.Below(3)];
  chunk_bytes_ = rng_.Chance(0.5) ? 48 : 1024;
  compact_after_ = rng_.Range(8, 60);
  sm_sync_every_ = rng_.Chance(0.5) ? 0 : rng_.Range(1, 20);
  liveness_from_ = opt_.steps >= 1000 ? opt_.steps - opt_.steps / 3 : opt_.steps;

  std::ostringstream os;
  os << "nodes=" << nodes << (storm_ ? " storm" : "") << " drop=" << drop_p_ << " dup=" << dup_p_ << " long_delay=" << long_delay_p_
     << " max_delay=" << max_delay_ << " skew=" << skew_ * 10 << "% pre_vote=" << pre_vote_
     << " check_quorum=" << check_quorum_ << " lease=" << lease_ << " entries/msg=" << max_entries_per_msg_
     << " inflight=" << max_inflight_ << " chunk=" << chunk_bytes_ << " compact_after=" << compact_after_
     << " sm_sync=" << sm_sync_every_;
  config_line_ = os.str();
  Trace("config: " + config_line_);

  ConfState cs;
  for (int i = 0; i < nodes; ++i) cs.voters.push_back(next_id_++);
  for (uint64_t id : cs.voters) {
    SimNode& n = nodes_[id];
    n.id = id;
    n.storage = std::make_unique<MemoryStorage>();
    Status s = Bootstrap(*n.storage, cs, KvState{}.Serialize());
    if (!s.ok()) Fail("bootstrap: " + s.ToString());
    n.synced_conf = cs;
    n.synced_index = 1;  // The bootstrap state, as a founding member's state machine has it.
    n.period = kStepsPerTick + static_cast<int>(rng_.Below(static_cast<uint64_t>(skew_) + 1));
    StartNode(n);
  }
  int nclients = static_cast<int>(rng_.Range(2, 4));
  for (int i = 0; i < nclients; ++i) {
    Client c;
    c.id = static_cast<uint64_t>(i + 1);
    clients_.push_back(c);
  }
}

void Simulation::Send(const Message& m) {
  ++stats_.messages;
  if (bench_) {
    net_.push(InFlight{now_ + 2, ++msg_seq_, m});
    return;
  }
  if (Blocked(m.from, m.to) || rng_.Chance(drop_p_)) {
    Trace("drop " + m.ToString(), true);
    return;
  }
  int copies = rng_.Chance(dup_p_) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    uint64_t delay = rng_.Range(1, max_delay_);
    if (rng_.Chance(long_delay_p_)) delay += rng_.Range(10, 80);
    net_.push(InFlight{now_ + delay, ++msg_seq_, m});
  }
}

void Simulation::DeliverMessages() {
  // Messages sent while delivering go out with delay >= 1, so this loop terminates.
  while (!net_.empty() && net_.top().at <= now_) {
    InFlight f = net_.top();
    net_.pop();
    SimNode* n = Node(f.m.to);
    if (!n || !n->up() || Blocked(f.m.from, f.m.to)) continue;
    Trace("recv " + f.m.ToString(), true);
    Status s = n->raft->Step(f.m);
    if (!s.ok()) Fail("Step: " + s.ToString());
  }
}

void Simulation::TickNodes() {
  for (auto& [id, n] : nodes_) {
    if (!n.up()) continue;
    if (++n.accum >= n.period) {
      n.accum = 0;
      n.raft->Tick();
    }
  }
}

void Simulation::ApplyEntry(SimNode& n, const Entry& e) {
  if (e.index != n.applied_index + 1) {
    Fail("node " + std::to_string(n.id) + " applied index " + std::to_string(e.index) + " after " +
         std::to_string(n.applied_index));
    return;
  }
  uint64_t h = HashEntry(e);
  auto [it, inserted] = applied_hash_.emplace(e.index, h);
  if (!inserted && it->second != h) {
    Fail("state machine safety: node " + std::to_string(n.id) + " applied a different entry at index " +
         std::to_string(e.index));
  }
  n.applied_index = e.index;
  if (e.type == EntryType::kConfChange) {
    ConfChange cc;
    if (ConfChange::Decode(e.data, &cc)) {
      n.applied_conf = ApplyConfChangeTo(n.applied_conf, cc);
      if (n.raft->role() == Role::kLeader) Trace("committed " + cc.ToString() + " -> " + n.applied_conf.ToString());
    }
    return;
  }
  Command c;
  if (!Command::Decode(e.data, &c)) return;  // No-op entry.
  if (bench_) {
    if (n.raft->role() == Role::kLeader) {
      auto pit = bench_proposed_at_.find(c.seq);
      if (pit != bench_proposed_at_.end()) {
        bench_latencies_.push_back(now_ - pit->second);
        bench_proposed_at_.erase(pit);
      }
    }
    return;
  }
  auto& last = n.state.sessions[c.client];
  if (c.seq <= last) return;  // Duplicate (the network duplicated a forwarded proposal).
  last = c.seq;
  n.state.kv[c.key] = c.value;
  auto pw = n.pending_writes.find({c.client, c.seq});
  if (pw != n.pending_writes.end()) {
    n.pending_writes.erase(pw);
    CompleteOp(c.client, c.seq, c.value);
  }
}

void Simulation::CompleteOp(uint64_t client, uint64_t seq, uint64_t value) {
  Client& cl = clients_[client - 1];
  if (!cl.busy || cl.seq != seq) return;  // Late answer to an abandoned op.
  KvOp& op = history_[cl.op];
  op.ret = Event();
  if (!op.is_write) op.value = value;
  (op.is_write ? stats_.writes_ok : stats_.reads_ok)++;
  if (op.is_write && now_ >= liveness_from_) ++writes_ok_after_liveness_;
  cl.busy = false;
  cl.idle_until = now_ + rng_.Range(0, 20);
  Trace("client " + std::to_string(client) + (op.is_write ? " put k" : " get k") + std::to_string(op.key) + " = " +
        ValueName(op.value) + " ok");
}

void Simulation::ServeReads(SimNode& n) {
  auto& w = n.reads_waiting_apply;
  for (size_t i = 0; i < w.size();) {
    if (w[i].index <= n.applied_index) {
      PendingRead r = w[i];
      w.erase(w.begin() + static_cast<long>(i));
      auto it = n.state.kv.find(r.key);
      CompleteOp(r.client, r.seq, it == n.state.kv.end() ? 0 : it->second);
    } else {
      ++i;
    }
  }
}

void Simulation::HandleReady(SimNode& n) {
  for (int guard = 0; guard < 64 && n.up() && n.raft->HasReady(); ++guard) {
    Ready rd = n.raft->GetReady();
    // 1. Persist.
    if (!rd.snapshot.empty()) {
      Status s = n.storage->ApplySnapshot(rd.snapshot);
      if (!s.ok()) Fail("ApplySnapshot: " + s.ToString());
      n.state = KvState::Parse(rd.snapshot.data);
      n.applied_conf = rd.snapshot.metadata.conf_state;
      n.applied_index = rd.snapshot.metadata.index;
      SyncStateMachine(n);  // Installing a snapshot is durable.
      ++stats_.snapshots_installed;
      Trace("node " + std::to_string(n.id) + " installed snapshot " + std::to_string(rd.snapshot.metadata.index));
    }
    if (!rd.entries.empty()) {
      Status s = n.storage->Append(rd.entries);
      if (!s.ok()) Fail("Append: " + s.ToString());
    }
    if (rd.hard_state) {
      Status s = n.storage->SetHardState(*rd.hard_state);
      if (!s.ok()) Fail("SetHardState: " + s.ToString());
    }
    // A crash after persisting but before sending loses the messages and volatile state.
    if (!bench_ && opt_.faults && now_ < liveness_from_ && rng_.Chance(crash_p_ / 20)) {
      Trace("node " + std::to_string(n.id) + " crashed mid-Ready (after persist, before send)");
      ++stats_.crashes;
      CrashNode(n);
      n.down_until = now_ + rng_.Range(20, 400);
      return;
    }
    // 2. Send.
    for (const Message& m : rd.messages) Send(m);
    // 3. Apply.
    for (const Entry& e : rd.committed_entries) ApplyEntry(n, e);
    for (const ReadState& rs : rd.read_states) {
      auto it = n.reads_waiting_index.find(rs.context);
      if (it == n.reads_waiting_index.end()) continue;
      PendingRead r = it->second;
      n.reads_waiting_index.erase(it);
      r.index = rs.index;
      n.reads_waiting_apply.push_back(r);
    }
    n.raft->Advance(rd);
    ServeReads(n);
    if (sm_sync_every_ > 0 && n.applied_index >= n.synced_index + sm_sync_every_) SyncStateMachine(n);
    // Compaction: snapshot the state machine and drop the log prefix, never past what the
    // state machine would still have after a crash.
    if (sm_sync_every_ == 0 && n.applied_index >= n.storage->FirstIndex() + compact_after_) {
      Status s = n.storage->CreateSnapshot(n.applied_index, n.applied_conf, n.state.Serialize(), n.applied_index);
      if (!s.ok()) Fail("CreateSnapshot: " + s.ToString());
    } else if (sm_sync_every_ > 0 && n.synced_index >= n.storage->FirstIndex() + compact_after_) {
      Status s = n.storage->CreateSnapshot(n.synced_index, n.synced_conf, n.synced_state.Serialize(), n.synced_index);
      if (!s.ok()) Fail("CreateSnapshot: " + s.ToString());
    }
  }
}

void Simulation::SyncStateMachine(SimNode& n) {
  n.synced_state = n.state;
  n.synced_conf = n.applied_conf;
  n.synced_index = n.applied_index;
}

void Simulation::HandleReadys() {
  for (auto& [id, n] : nodes_) {
    if (!n.up()) continue;
    HandleReady(n);
    if (!n.up()) continue;
    Role r = n.raft->role();
    if (r != n.last_role || n.raft->term() != n.last_term) {
      if (r == Role::kLeader || n.last_role == Role::kLeader)
        Trace("node " + std::to_string(id) + " is " + RoleName(r) + " term " + std::to_string(n.raft->term()) +
              " last=" + std::to_string(n.raft->last_index()) + " commit=" + std::to_string(n.raft->committed()) +
              " conf " + n.raft->conf_state().ToString());
      n.last_role = r;
      n.last_term = n.raft->term();
    }
  }
}

void Simulation::ClientsStep() {
  for (Client& c : clients_) {
    if (c.busy) {
      if (now_ - c.issued > kClientTimeoutSteps) {
        // Abandon: a write may still take effect later (ret stays "never").
        ++stats_.ops_timed_out;
        Trace("client " + std::to_string(c.id) + " op " + std::to_string(c.seq) + " timed out");
        c.busy = false;
        c.leader_hint = kNone;
      }
      continue;
    }
    if (now_ < c.idle_until) continue;
    // Pick a node: the hinted leader, else a random live node.
    std::vector<SimNode*> up;
    for (auto& [id, n] : nodes_)
      if (n.up() && !n.removed) up.push_back(&n);
    if (up.empty()) continue;
    SimNode* target = nullptr;
    if (c.leader_hint != kNone) {
      SimNode* h = Node(c.leader_hint);
      if (h && h->up()) target = h;
    }
    if (!target) target = up[rng_.Below(up.size())];
    if (target->raft->lead() != kNone) c.leader_hint = target->raft->lead();
    c.seq++;
    c.busy = true;
    c.issued = now_;
    KvOp op;
    op.client = c.id;
    op.key = rng_.Range(1, kKeys);
    op.is_write = rng_.Chance(0.5);
    op.call = Event();
    if (op.is_write) op.value = (c.id << 32) | c.seq;
    c.op = history_.size();
    history_.push_back(op);
    op_failed_.push_back(false);
    Status s;
    if (op.is_write) {
      s = target->raft->Propose(Command{c.id, c.seq, op.key, op.value}.Encode());
      if (s.ok()) target->pending_writes[{c.id, c.seq}] = true;
    } else if (opt_.inject_local_reads) {
      auto it = target->state.kv.find(op.key);
      CompleteOp(c.id, c.seq, it == target->state.kv.end() ? 0 : it->second);
      continue;
    } else {
      std::string ctx;
      PutU64(ctx, c.id);
      PutU64(ctx, c.seq);
      s = target->raft->ReadIndex(ctx);
      if (s.ok()) target->reads_waiting_index[ctx] = PendingRead{c.id, c.seq, op.key, 0};
      if (s.ok() && lease_) ++stats_.lease_reads;
    }
    if (!s.ok()) {
      // Rejected before it could take effect: not part of the history.
      op_failed_.back() = true;
      c.busy = false;
      c.leader_hint = kNone;
      c.idle_until = now_ + 5;
    }
  }
}

void Simulation::FaultsStep() {
  if (!opt_.faults) return;
  bool safety_phase = now_ < liveness_from_;
  // Restarts.
  for (auto& [id, n] : nodes_) {
    if (!n.up() && !n.removed && (now_ >= n.down_until || !safety_phase)) {
      Trace("node " + std::to_string(id) + " restarts");
      StartNode(n);
    }
  }
  // Heal partitions.
  if (!blocked_.empty() && (now_ >= heal_at_ || !safety_phase)) {
    Trace("partition healed");
    blocked_.clear();
  }
  if (!safety_phase) {
    drop_p_ = dup_p_ = long_delay_p_ = 0;
    return;
  }
  if (rng_.Chance(crash_p_)) {
    std::vector<SimNode*> up;
    for (auto& [id, n] : nodes_)
      if (n.up()) up.push_back(&n);
    if (!up.empty()) {
      SimNode* v = up[rng_.Below(up.size())];
      if (rng_.Chance(0.3)) {
        if (SimNode* l = Leader()) v = l;
      }
      Trace("node " + std::to_string(v->id) + " crashes");
      ++stats_.crashes;
      CrashNode(*v);
      v->down_until = now_ + (storm_ ? rng_.Range(10, 150) : rng_.Range(20, 500));
    }
  }
  if (blocked_.empty() && rng_.Chance(partition_p_)) {
    std::vector<uint64_t> ids;
    for (auto& [id, n] : nodes_) ids.push_back(id);
    uint64_t kind = rng_.Below(4);
    std::string what;
    auto block = [&](uint64_t a, uint64_t b) { blocked_.insert({a, b}); };
    if (kind == 0 || kind == 3) {
      // Isolate one node (kind 3: the leader) in both directions.
      uint64_t v = ids[rng_.Below(ids.size())];
      if (kind == 3)
        if (SimNode* l = Leader()) v = l->id;
      for (uint64_t o : ids)
        if (o != v) block(v, o), block(o, v);
      what = "isolate " + std::to_string(v);
    } else if (kind == 1) {
      // Split in two random halves.
      std::vector<uint64_t> side_a;
      for (uint64_t i : ids)
        if (rng_.Chance(0.5)) side_a.push_back(i);
      for (uint64_t a : side_a)
        for (uint64_t b : ids)
          if (std::find(side_a.begin(), side_a.end(), b) == side_a.end()) block(a, b), block(b, a);
      what = "split, side A has " + std::to_string(side_a.size()) + " nodes";
    } else {
      // Asymmetric: some one-way links fail (e.g. a leader that can send but not hear).
      int links = static_cast<int>(rng_.Range(1, ids.size()));
      for (int i = 0; i < links; ++i) {
        uint64_t a = ids[rng_.Below(ids.size())], b = ids[rng_.Below(ids.size())];
        if (a != b) block(a, b), what += std::to_string(a) + "-/->" + std::to_string(b) + " ";
      }
      what = "asymmetric " + what;
    }
    heal_at_ = now_ + (storm_ ? rng_.Range(20, 200) : rng_.Range(50, 800));
    ++stats_.partitions;
    Trace("partition: " + what);
  }
  // Clock skew changes now and then (a node's clock speeds up or slows down).
  if (skew_ > 0 && rng_.Chance(0.001)) {
    auto it = nodes_.begin();
    std::advance(it, static_cast<long>(rng_.Below(nodes_.size())));
    it->second.period = kStepsPerTick + static_cast<int>(rng_.Below(static_cast<uint64_t>(skew_) + 1));
  }
}

void Simulation::MembershipStep() {
  if (!opt_.membership) return;
  // Removed nodes keep running for a while (they must not disrupt), then shut down, but only
  // once the removal is committed: a proposed removal may be lost with its leader's log
  // suffix. The committed membership is the applied one of the most advanced live node.
  const SimNode* most_applied = nullptr;
  for (auto& [id, n] : nodes_)
    if (n.up() && (!most_applied || n.applied_index > most_applied->applied_index)) most_applied = &n;
  for (auto& [id, n] : nodes_) {
    if (n.removal_proposed_at == 0 || n.removed || now_ <= n.removal_proposed_at + 300 || !most_applied) continue;
    if (most_applied->applied_conf.Contains(id)) continue;
    Trace("removed node " + std::to_string(id) + " shuts down");
    n.removed = true;
    CrashNode(n);
  }
  if (now_ >= liveness_from_) return;
  SimNode* l = Leader();
  if (!l) return;
  if (rng_.Chance(transfer_p_)) {
    const auto& voters = l->raft->conf_state().voters;
    uint64_t target = voters[rng_.Below(voters.size())];
    Status s = l->raft->TransferLeader(target);
    ++stats_.transfers;
    Trace("transfer leadership " + std::to_string(l->id) + " -> " + std::to_string(target) + ": " + s.ToString());
  }
  if (!rng_.Chance(conf_p_)) return;
  const ConfState& cs = l->raft->conf_state();
  ConfChange cc;
  if (!cs.learners.empty() && rng_.Chance(0.7)) {
    cc = ConfChange{ConfChangeType::kAddVoter, cs.learners[rng_.Below(cs.learners.size())]};
  } else if (cs.voters.size() > 3 && rng_.Chance(0.5)) {
    uint64_t v = cs.voters[rng_.Below(cs.voters.size())];
    if (v == l->id) return;
    cc = ConfChange{ConfChangeType::kRemoveVoter, v};
  } else if (cs.voters.size() + cs.learners.size() < 6 && next_id_ <= 10) {
    // A brand-new node with an empty disk joins as a learner (or directly as a voter).
    uint64_t id = next_id_;
    cc = ConfChange{rng_.Chance(0.7) ? ConfChangeType::kAddLearner : ConfChangeType::kAddVoter, id};
    Status s = l->raft->ProposeConfChange(cc);
    Trace("propose " + cc.ToString() + ": " + s.ToString());
    if (!s.ok()) return;
    ++next_id_;
    ++stats_.conf_changes;
    SimNode& n = nodes_[id];
    n.id = id;
    n.storage = std::make_unique<MemoryStorage>();
    n.period = kStepsPerTick + static_cast<int>(rng_.Below(static_cast<uint64_t>(skew_) + 1));
    StartNode(n);
    return;
  } else {
    return;
  }
  Status s = l->raft->ProposeConfChange(cc);
  Trace("propose " + cc.ToString() + ": " + s.ToString());
  if (!s.ok()) return;
  ++stats_.conf_changes;
  if (cc.type == ConfChangeType::kRemoveVoter) {
    SimNode* n = Node(cc.node_id);
    if (n) n->removal_proposed_at = now_;
  }
}

SimResult Simulation::Run() {
  Setup();
  for (now_ = 1; now_ <= opt_.steps && !failed_; ++now_) {
    if (now_ == liveness_from_) {
      Trace("liveness phase: faults stop, partitions heal, crashed nodes restart");
      writes_ok_at_liveness_ = stats_.writes_ok;
    }
    FaultsStep();
    MembershipStep();
    TickNodes();
    DeliverMessages();
    ClientsStep();
    HandleReadys();
    CheckInvariants();
  }
  now_ = std::min(now_, opt_.steps);
  CheckFinal();
  for (auto& [id, n] : nodes_) stats_.committed_index = std::max(stats_.committed_index, n.storage->hard_state().commit);
  SimResult r;
  r.ok = !failed_;
  r.failure = failure_;
  r.config = config_line_;
  r.stats = stats_;
  if (failed_) {
    for (const std::string& l : trace_) r.trace_tail += l + "\n";
  }
  return r;
}

BenchResult Simulation::Bench(const BenchOptions& b) {
  bench_ = true;
  max_entries_per_msg_ = b.batching ? 0 : 1;
  max_inflight_ = 256;
  compact_after_ = 1000;
  chunk_bytes_ = 1 << 20;
  ConfState cs;
  for (int i = 0; i < b.nodes; ++i) cs.voters.push_back(next_id_++);
  for (uint64_t id : cs.voters) {
    SimNode& n = nodes_[id];
    n.id = id;
    n.storage = std::make_unique<MemoryStorage>();
    (void)Bootstrap(*n.storage, cs, KvState{}.Serialize());
    StartNode(n);
  }
  // Elect node 1.
  nodes_[1].raft->Campaign();
  for (now_ = 1; now_ < 200; ++now_) {
    DeliverMessages();
    HandleReadys();
  }
  BenchResult r;
  uint64_t proposed = 0;
  auto t0 = std::chrono::steady_clock::now();
  uint64_t msgs0 = stats_.messages;
  for (; bench_latencies_.size() < b.proposals && now_ < 10'000'000; ++now_) {
    SimNode& l = nodes_[1];
    for (int i = 0; i < b.proposals_per_step && proposed < b.proposals; ++i) {
      ++proposed;
      bench_proposed_at_[proposed] = now_;
      (void)l.raft->Propose(Command{1, proposed, proposed % 16, proposed}.Encode());
    }
    TickNodes();
    DeliverMessages();
    HandleReadys();
  }
  auto t1 = std::chrono::steady_clock::now();
  r.committed = bench_latencies_.size();
  r.wall_seconds = std::chrono::duration<double>(t1 - t0).count();
  r.proposals_per_second = r.wall_seconds > 0 ? static_cast<double>(r.committed) / r.wall_seconds : 0;
  std::sort(bench_latencies_.begin(), bench_latencies_.end());
  if (!bench_latencies_.empty()) {
    r.median_latency_ticks = static_cast<double>(bench_latencies_[bench_latencies_.size() / 2]) / kStepsPerTick;
    r.p99_latency_ticks = static_cast<double>(bench_latencies_[bench_latencies_.size() * 99 / 100]) / kStepsPerTick;
  }
  r.messages = stats_.messages - msgs0;
  return r;
}

}  // namespace detail

SimResult RunSimulation(const SimOptions& options) { return detail::Simulation(options).Run(); }

BenchResult RunBenchmark(const BenchOptions& options) {
  SimOptions o;
  o.faults = false;
  o.membership = false;
  return detail::Simulation(o).Bench(options);
}

}  // namespace vectron::raft::sim
