// Replica moves of the placement driver (docs/cluster.md, "Replica moves"): repair of the
// replicas of a dead worker, rebalancing onto new workers, and the membership changes that
// carry a group from its voters to its target.
//
// The map holds, replicated, each group's recorded membership and its target (where it is
// being moved). Everything else here is the PD leader's soft state, relearned from
// heartbeats after a PD election: the membership each group's leader reports, and the
// step last asked of it. A move is a reconciliation: at each heartbeat of a group's leader
// PD compares the reported membership with the target and asks for the next change, so a
// lost order, a leader change or a PD election only delays it.
#include <algorithm>
#include <optional>
#include <set>

#include "net/cluster/pd_node.h"

namespace vectron::net::cluster {

namespace {
bool Has(const std::vector<uint64_t>& v, uint64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }
}  // namespace

bool PdNode::DeadLong(uint64_t worker, uint64_t now) const {
  if (opt_.dead_after_ms == 0 || now < leader_since_ms_ + opt_.dead_after_ms) return false;
  auto it = last_heartbeat_ms_.find(worker);
  return it == last_heartbeat_ms_.end() || now >= it->second + opt_.dead_after_ms;
}

bool PdNode::CaughtUp(uint64_t group, uint64_t worker, uint64_t leader) const {
  auto a = applied_.find({group, worker});
  auto l = applied_.find({group, leader});
  if (a == applied_.end() || l == applied_.end()) return false;
  // A replica that joined empty has applied nothing (every group starts at its bootstrap
  // index 1): it is not caught up, however short the leader's log still is.
  return a->second > 0 && a->second + opt_.leader_transfer_max_lag >= l->second;
}

void PdNode::NoteMembership(const ReplicaReport& rep, uint64_t now) {
  if (rep.voters.empty()) return;  // A worker that reports no membership (older binary).
  Membership& m = membership_[rep.group];
  if (rep.term < m.term || (rep.term == m.term && rep.conf_index < m.conf_index)) return;
  m = Membership{rep.term, rep.conf_index, rep.voters, rep.learners};
  auto g = sm_->map().groups.find(rep.group);
  if (g == sm_->map().groups.end()) return;
  if (rep.conf_index <= g->second.conf_index || (rep.voters == g->second.replicas && rep.learners == g->second.learners))
    return;
  // Newer than the map's record: record it (once per timeout while it is not applied).
  auto sent = conf_proposed_ms_.find(rep.group);
  if (sent != conf_proposed_ms_.end() && now < sent->second + opt_.move_step_timeout_ms) return;
  conf_proposed_ms_[rep.group] = now;
  PdCommand cmd;
  cmd.kind = PdCommand::Kind::kSetGroupConf;
  cmd.worker = rep.group;
  cmd.placement = {rep.voters, rep.learners};
  cmd.if_version = rep.conf_index;
  (void)host_->Propose(kPdGroupId, EncodePdCommand(cmd));  // Lost: proposed again later.
}

void PdNode::MoveSteps(uint64_t w, uint64_t now, PdHeartbeatResponse* r) {
  const ClusterMap& map = sm_->map();
  for (const auto& [id, g] : map.groups) {
    if (g.split_from != 0) continue;  // Not made yet.
    auto gl = group_leader_.find(id);
    auto mem = membership_.find(id);
    if (gl == group_leader_.end() || gl->second.second != w || mem == membership_.end()) continue;
    const Membership& c = mem->second;
    auto pending = pending_steps_.find(id);
    if (pending != pending_steps_.end()) {
      if (pending->second.conf_index == c.conf_index && now < pending->second.since_ms + opt_.move_step_timeout_ms)
        continue;  // The last step is not committed yet.
      pending_steps_.erase(pending);
    }
    if (pending_transfers_.count(id)) continue;
    const std::vector<uint64_t>& wanted = g.wanted();
    std::optional<ConfChangeOrder> step;
    // 1. A learner that is not wanted (a move that was replaced) leaves first.
    for (uint64_t l : c.learners)
      if (!step && !Has(wanted, l)) step = ConfChangeOrder{id, raft::ConfChangeType::kRemoveVoter, l};
    // 2. A wanted worker that is not a member joins as a learner (it catches up from a
    //    snapshot and the log without counting in the quorum).
    for (uint64_t t : wanted)
      if (!step && !Has(c.voters, t) && !Has(c.learners, t) && WorkerAlive(t))
        step = ConfChangeOrder{id, raft::ConfChangeType::kAddLearner, t};
    // 3. A caught-up wanted learner is promoted: it has applied at least the membership
    //    that made it a learner (so it holds the group's state, not an empty log), and is
    //    close to the leader. A voter promoted early would count in the quorum with nothing,
    //    and one more failure would stop the group.
    for (uint64_t t : wanted)
      if (!step && Has(c.learners, t) && CaughtUp(id, t, w) && applied_.at({id, t}) >= c.conf_index)
        step = ConfChangeOrder{id, raft::ConfChangeType::kAddVoter, t};
    // 4. Once every wanted worker votes, the voters that are not wanted are removed, one at
    //    a time: the group never has fewer than its wanted voters, so a majority of the
    //    live ones always remains. The leader hands its leadership over first.
    bool all_vote = std::all_of(wanted.begin(), wanted.end(), [&](uint64_t t) { return Has(c.voters, t); });
    if (!step && all_vote) {
      for (uint64_t v : c.voters) {
        if (step || Has(wanted, v)) continue;
        if (v != w) {
          step = ConfChangeOrder{id, raft::ConfChangeType::kRemoveVoter, v};
          continue;
        }
        uint64_t to = 0;
        for (uint64_t t : wanted)
          if (!to && WorkerAlive(t) && CaughtUp(id, t, w)) to = t;
        if (to != 0) {
          pending_transfers_[id] = PendingTransfer{w, to, now};
          r->transfers.push_back(LeaderTransfer{id, to});
        }
        break;
      }
    }
    if (!step) continue;
    pending_steps_[id] = PendingStep{c.conf_index, now};
    r->conf_changes.push_back(*step);
  }
}

void PdNode::PlanMoves(uint64_t now) {
  // Liveness is relearned for one timeout after a PD election; one proposal in flight.
  if (now < leader_since_ms_ + opt_.worker_dead_ms) return;
  if (plan_proposed_ms_ != 0 && now < plan_proposed_ms_ + opt_.register_retry_ms) return;
  const ClusterMap& map = sm_->map();
  uint32_t moving = 0;
  for (const auto& [id, g] : map.groups) moving += g.target.empty() ? 0 : 1;
  // Replicas each live worker hosts or is to host (targets count as done).
  std::map<uint64_t, uint64_t> load;
  for (const auto& [id, info] : map.workers)
    if (WorkerAlive(id) && !DeadLong(id, now)) load[id] = 0;
  // Groups being split, and their parents, are not moved meanwhile.
  std::set<uint64_t> splitting;
  for (const auto& [id, g] : map.groups)
    if (g.split_from != 0) splitting.insert({id, g.split_from});
  for (const auto& [id, g] : map.groups)
    for (uint64_t w : g.wanted())
      if (load.count(w) && g.split_from == 0) ++load[w];
  // The least loaded live worker that does not place `g` (lowest id on ties), or 0.
  auto least_loaded = [&](const GroupInfo& g) {
    uint64_t best = 0;
    for (const auto& [w, n] : load)
      if (!g.Places(w) && (best == 0 || n < load[best])) best = w;
    return best;
  };
  auto propose = [&](uint64_t group, std::vector<uint64_t> target) {
    std::sort(target.begin(), target.end());
    PdCommand cmd;
    cmd.kind = PdCommand::Kind::kSetGroupTarget;
    cmd.worker = group;
    cmd.placement = {std::move(target)};
    (void)host_->Propose(kPdGroupId, EncodePdCommand(cmd));  // Lost: planned again.
    plan_proposed_ms_ = now;
  };
  // A group left with more voters than its replication and no move (a promotion PD learned
  // of only after it had given that move up) is trimmed back to its live, least loaded
  // voters.
  for (const auto& [id, g] : map.groups) {
    if (splitting.count(id) || !g.target.empty()) continue;
    auto c = map.collections.find(g.collection);
    if (c == map.collections.end() || c->second.replication == 0 || g.replicas.size() <= c->second.replication)
      continue;
    std::vector<uint64_t> keep = g.replicas;
    std::stable_sort(keep.begin(), keep.end(), [&](uint64_t a, uint64_t b) {
      const bool live_a = load.count(a) > 0, live_b = load.count(b) > 0;
      if (live_a != live_b) return live_a;
      return live_a && load[a] < load[b];
    });
    keep.resize(c->second.replication);
    return propose(id, std::move(keep));
  }
  // Repair first: a group that wants a long-dead worker wants another one instead.
  for (const auto& [id, g] : map.groups) {
    if (splitting.count(id) || (moving >= opt_.max_moves && g.target.empty())) continue;
    std::vector<uint64_t> target = g.wanted();
    auto dead = std::find_if(target.begin(), target.end(), [&](uint64_t w) { return DeadLong(w, now); });
    if (dead == target.end()) continue;
    // A live voter or learner the move was taking out comes back first (it has the data;
    // and while the group is moving, every worker may be placing it, so it may be the
    // only candidate: a move onto a worker that died would otherwise never end).
    uint64_t to = 0;
    for (const std::vector<uint64_t>* members : {&g.replicas, &g.learners})
      for (uint64_t w : *members)
        if (!to && load.count(w) && !Has(target, w)) to = w;
    if (to == 0) to = least_loaded(g);
    if (to == 0) continue;  // No live worker left to take it.
    *dead = to;
    return propose(id, std::move(target));
  }
  if (!opt_.rebalance_replicas || moving >= opt_.max_moves || load.size() < 2) return;
  // Not while a worker is down but not yet given up on: it would get its replicas back.
  for (const auto& [id, info] : map.workers)
    if (!WorkerAlive(id) && !DeadLong(id, now)) return;
  // Rebalance: one replica from the most to the least loaded live worker, while their
  // counts differ by more than one (each move lowers the sum of squared counts).
  uint64_t most = 0, least = 0;
  for (const auto& [w, n] : load) {
    if (most == 0 || n > load[most]) most = w;
    if (least == 0 || n < load[least]) least = w;
  }
  if (load[most] <= load[least] + 1) return;
  for (const auto& [id, g] : map.groups) {
    if (splitting.count(id) || !g.target.empty() || !Has(g.replicas, most) || g.Places(least)) continue;
    std::vector<uint64_t> target = g.replicas;
    *std::find(target.begin(), target.end(), most) = least;
    return propose(id, std::move(target));
  }
}

void PdNode::NoteSplit(uint64_t w, const ReplicaReport& rep) {
  (void)w;
  if (rep.epoch == 0) return;  // An older worker: no route in its reports.
  GroupSize& s = sizes_[rep.group];
  if (rep.term < s.term) return;
  s = GroupSize{rep.term, rep.epoch, rep.points, rep.bytes};
}

void PdNode::SplitSteps(uint64_t w, uint64_t now, PdHeartbeatResponse* r) {
  const ClusterMap& map = sm_->map();
  for (const auto& [id, n] : map.groups) {
    if (n.split_from == 0) continue;
    auto gl = group_leader_.find(n.split_from);
    auto parent = map.groups.find(n.split_from);
    if (gl == group_leader_.end() || gl->second.second != w || parent == map.groups.end()) continue;
    auto size = sizes_.find(n.split_from);
    if (size != sizes_.end() && size->second.epoch > parent->second.epoch && size->second.epoch != 0) {
      // The parent applied the split (its epoch moved on) and the new group has a leader:
      // route to the new group. Checked at every heartbeat of the parent's leader, not
      // only once the order's timeout passed (reads of the parent wait until then).
      if (!group_leader_.count(id)) continue;
      if (auto d = split_done_ms_.find(id); d != split_done_ms_.end() && now < d->second + opt_.register_retry_ms)
        continue;  // Proposed just now.
      PdCommand cmd;
      split_done_ms_[n.split_from] = now;
      split_done_ms_[id] = now;
      cmd.kind = PdCommand::Kind::kFinishSplit;
      cmd.worker = id;
      cmd.if_version = size->second.epoch;
      (void)host_->Propose(kPdGroupId, EncodePdCommand(cmd));
      continue;
    }
    auto asked = split_asked_ms_.find(id);
    if (asked != split_asked_ms_.end() && now < asked->second + opt_.move_step_timeout_ms) continue;
    split_asked_ms_[id] = now;
    ShardSplitOrder o;
    o.group = n.split_from;
    o.epoch = parent->second.epoch;
    o.split.new_group = id;
    o.split.start = parent->second.range_start;
    o.split.end = parent->second.range_end;
    o.split.key = n.range_start;
    o.split.voters = parent->second.replicas;
    r->splits.push_back(std::move(o));
  }
}

uint64_t PdNode::PlanSplit(uint64_t now) {
  if ((opt_.split_points == 0 && opt_.split_bytes == 0) || now < leader_since_ms_ + opt_.worker_dead_ms) return 0;
  if (plan_proposed_ms_ != 0 && now < plan_proposed_ms_ + opt_.register_retry_ms) return 0;
  const ClusterMap& map = sm_->map();
  for (const auto& [id, g] : map.groups)
    if (g.split_from != 0) return 0;  // One split at a time.
  for (const auto& [id, g] : map.groups) {
    auto size = sizes_.find(id);
    if (size == sizes_.end()) continue;
    const bool over_points = opt_.split_points != 0 && size->second.points > opt_.split_points;
    const bool over_bytes = opt_.split_bytes != 0 && size->second.bytes > opt_.split_bytes;
    if (!over_points && !over_bytes) continue;
    if (size->second.epoch != g.epoch || !g.target.empty() || !g.learners.empty()) continue;
    if (auto d = split_done_ms_.find(id); d != split_done_ms_.end() && now < d->second + opt_.split_cooldown_ms) continue;
    const uint64_t key = RangeMiddle(g.range_start, g.range_end);
    if (key <= g.range_start) continue;  // A range of one key.
    PdCommand cmd;
    cmd.kind = PdCommand::Kind::kStartSplit;
    cmd.worker = id;
    cmd.if_version = key;
    (void)host_->Propose(kPdGroupId, EncodePdCommand(cmd));
    plan_proposed_ms_ = now;
    return id;
  }
  return 0;
}

}  // namespace vectron::net::cluster
