// The cluster simulation's checks (cluster_sim_internal.h): the replicas' digests and the
// leaders checked during the run, the PD map's moves and splits as they happen, and the end
// of a run's final read, membership, leader spread and placement checks.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "raft/sim/linearizability.h"
#include "tests/sim/cluster_sim_internal.h"

namespace vectron::net::cluster::sim::detail {

std::string ClusterSimulation::Digest(Shard& shard) {
  GetOptions go{true, true};
  auto page = shard.Scroll("", 1000, go);
  if (!page.ok()) return "error: " + page.status().ToString();
  std::string d;
  for (const Point& p : page->points) {
    d += p.id;
    d += '=';
    d += p.metadata;
    for (float f : p.vector) {
      d += ',';
      d += std::to_string(f);
    }
    d += ';';
  }
  Status s = shard.ScanRatingsAfter({}, [&d](const Rating& r, std::string_view) {
    d += "r:" + r.point_id + "=" + std::to_string(r.rating) + "@" + std::to_string(r.time_ms) + "/" + r.query_id + ";";
    return Status::OK();
  });
  if (!s.ok()) return "error: " + s.ToString();
  return d;
}

void ClusterSimulation::CheckReplicas(bool final_check) {
  std::map<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>> applied;  // group -> (worker, applied)
  for (WorkerSim& w : workers_) {
    if (!w.node) continue;
    for (uint64_t g : w.node->host().groups()) {
      ShardStateMachine* sm = w.node->shard(g);
      if (!sm) continue;
      uint64_t a = sm->applied_index();
      applied[g].push_back({w.id, a});
      std::string d = Digest(*sm->shard());
      auto [it, inserted] = digest_at_.emplace(std::make_pair(g, a), d);
      if (inserted) {
        ++stats_.replica_checks;
      } else if (it->second != d) {
        return Fail("replicas differ: group " + std::to_string(g) + " at applied index " + std::to_string(a) +
                    " on worker " + std::to_string(w.id) + ": " + d + " vs " + it->second);
      }
    }
  }
  (void)applied;
  (void)final_check;
}

const ClusterMap* ClusterSimulation::LeaderMap() const {
  const ClusterMap* best = nullptr;
  for (const PdSim& p : pds_)
    if (p.node && p.node->IsLeader() && (!best || p.node->state().map().version > best->version))
      best = &p.node->state().map();
  return best;
}

bool ClusterSimulation::HiddenPointsLeft() const {
  const ClusterMap* map = LeaderMap();
  if (!map) return false;
  for (const auto& [id, g] : map->groups)
    for (uint64_t w : g.replicas) {
      const auto& node = workers_[w - 1].node;
      ShardStateMachine* sm = node ? node->shard(id) : nullptr;
      if (sm && sm->shard()->HasHiddenPoints()) return true;
    }
  return false;
}

namespace {
std::string List(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}
}  // namespace

// Follows the PD leader's map: traces membership and target changes, counts moves and
// repairs, and checks that a group never has fewer voters than its replication.
void ClusterSimulation::ObserveMoves() {
  const ClusterMap* map = LeaderMap();
  if (!map || map->version <= moves_map_version_) return;
  moves_map_version_ = map->version;
  for (const auto& [id, g] : map->groups) {
    if (g.replicas.size() < kReplication)
      return Fail("group " + std::to_string(id) + " has only the voters " + List(g.replicas) + " in the map");
    // Splits: a group split off appears with its parent, and is done once it is routed to
    // (split_from cleared, in the collection's groups).
    if (g.split_from != 0 && !parent_of_.count(id)) {
      parent_of_[id] = g.split_from;
      Trace("map v" + std::to_string(map->version) + ": group " + std::to_string(id) + " is split off group " +
            std::to_string(g.split_from) + " at " + std::to_string(g.range_start));
    } else if (g.split_from == 0 && parent_of_.count(id) && !split_done_.count(id)) {
      split_done_.insert(id);
      ++stats_.splits;
      if (graph_checkpoint_ops_ > 0) ++stats_.graph_splits;
      if (parent_of_.count(parent_of_[id])) ++stats_.splits_nested;
      Trace("map v" + std::to_string(map->version) + ": the split of group " + std::to_string(parent_of_[id]) +
            " into group " + std::to_string(id) + " is done");
    }
    std::string seen = List(g.replicas) + List(g.learners) + List(g.target);
    if (seen_of_[id] != seen)
      Trace("map v" + std::to_string(map->version) + ": group " + std::to_string(id) + " voters " + List(g.replicas) +
          " learners " + List(g.learners) + " conf_index " + std::to_string(g.conf_index) + " target " +
          List(g.target));
    seen_of_[id] = seen;
    std::vector<uint64_t>& last = target_of_[id];
    if (g.target == last) continue;
    if (!g.target.empty()) {
      ++stats_.moves_planned;
      // A repair: the target drops a voter whose worker is down.
      for (uint64_t w : g.replicas)
        if (std::find(g.target.begin(), g.target.end(), w) == g.target.end() && !workers_[w - 1].node) {
          ++stats_.repairs;
          break;
        }
    } else if (!last.empty() && g.replicas == last && g.learners.empty()) {
      ++stats_.moves_done;
    }
    last = g.target;
  }
}

// Traces every hosted replica's Raft state (to see why a group did not settle).
void ClusterSimulation::TraceGroups() {
  for (WorkerSim& w : workers_) {
    if (!w.node) continue;
    for (uint64_t g : w.node->host().groups()) {
      GroupStatus st = w.node->host().group_status(g);
      Trace("worker " + std::to_string(w.id) + " group " + std::to_string(g) + ": role " +
            std::to_string(static_cast<int>(st.role)) + " lead " + std::to_string(st.lead) + " term " +
            std::to_string(st.term) + " commit " + std::to_string(st.commit) + " applied " +
            std::to_string(st.applied) + " log " + std::to_string(st.first_index) + ".." +
            std::to_string(st.last_index) + " voters " + List(st.conf.voters) + " learners " +
            List(st.conf.learners) + " committed voters " + List(st.committed_conf.voters) + " learners " +
            List(st.committed_conf.learners) + " at " + std::to_string(st.conf_index));
    }
  }
}

// At the end (after the fault-free phase) every group has settled: no move in progress,
// exactly kReplication voters, all on running workers whose Raft membership is the map's
// (no learners) and which have applied the same index; no running worker hosts a group it
// is not a voter of. False (and, if `report`, a failure) at the first thing that is not so.
bool ClusterSimulation::CheckMembership(bool report) {
  auto bad = [&](const std::string& why) {
    if (report) Fail(why);
    return false;
  };
  const ClusterMap* map = LeaderMap();
  if (!map) return bad("no PD leader at the end");
  auto coll = map->collections.find(kCollection);
  if (coll == map->collections.end()) return bad("the collection is not in the PD leader's map");
  if (coll->second.groups.size() < static_cast<size_t>(kShards))
    return bad("expected at least " + std::to_string(kShards) + " shard groups, found " +
               std::to_string(coll->second.groups.size()));
  // The collection's groups, in order, tile the route-key space: no gap, no overlap.
  uint64_t next_start = 0;
  for (size_t i = 0; i < coll->second.groups.size(); ++i) {
    auto g = map->groups.find(coll->second.groups[i]);
    if (g == map->groups.end()) return bad("the collection's group " + std::to_string(coll->second.groups[i]) + " is not in the map");
    const GroupInfo& gi = g->second;
    const std::string gs = "group " + std::to_string(gi.id);
    if (gi.range_start != next_start || (i > 0 && next_start == 0))
      return bad(gs + " starts at " + std::to_string(gi.range_start) + ", the groups before it end at " +
                 std::to_string(next_start));
    if (gi.range_end != 0 && gi.range_end <= gi.range_start)
      return bad(gs + " has the empty range [" + std::to_string(gi.range_start) + ", " + std::to_string(gi.range_end) + ")");
    next_start = gi.range_end;
    if (i + 1 == coll->second.groups.size() && gi.range_end != 0)
      return bad("the last group " + std::to_string(gi.id) + " ends at " + std::to_string(gi.range_end) +
                 ", not at the end of the key space");
  }
  for (const auto& [id, g] : map->groups) {
    const std::string gs = "group " + std::to_string(id);
    if (g.split_from != 0) return bad(gs + " is still being split off group " + std::to_string(g.split_from));
    if (std::find(coll->second.groups.begin(), coll->second.groups.end(), id) == coll->second.groups.end())
      return bad(gs + " is in the map but not among the collection's groups");
    if (!g.target.empty()) return bad(gs + " is still moving from " + List(g.replicas) + " to " + List(g.target));
    if (!g.learners.empty()) return bad(gs + " still has the learners " + List(g.learners));
    if (g.replicas.size() != kReplication) return bad(gs + " has the voters " + List(g.replicas));
    uint64_t applied = 0, first = 0;
    for (uint64_t w : g.replicas) {
      const WorkerSim& ws = workers_[w - 1];
      if (!ws.node) return bad(gs + " has a voter on worker " + std::to_string(w) + ", which is down");
      if (!ws.node->host().HasGroup(id)) return bad(gs + ": its voter worker " + std::to_string(w) + " does not host it");
      GroupStatus st = ws.node->host().group_status(id);
      const ShardStateMachine* sm = ws.node->shard(id);
      const ShardRoute route = sm ? sm->route() : ShardRoute{};
      if (!sm || route.start != g.range_start || route.end != g.range_end || route.epoch != g.epoch)
        return bad(gs + " on worker " + std::to_string(w) + " has the route [" + std::to_string(route.start) + ", " +
                   std::to_string(route.end) + ") epoch " + std::to_string(route.epoch) + ", the map [" +
                   std::to_string(g.range_start) + ", " + std::to_string(g.range_end) + ") epoch " +
                   std::to_string(g.epoch));
      if (List(st.conf.voters) != List(g.replicas) || !st.conf.learners.empty())
        return bad(gs + " on worker " + std::to_string(w) + " has the Raft voters " + List(st.conf.voters) +
                   " and learners " + List(st.conf.learners) + ", the map " + List(g.replicas));
      if (first == 0) {
        first = w;
        applied = st.applied;
      } else if (st.applied != applied) {
        return bad("replicas of " + gs + " did not converge: worker " + std::to_string(w) + " at " +
                   std::to_string(st.applied) + ", worker " + std::to_string(first) + " at " + std::to_string(applied));
      }
    }
  }
  for (const WorkerSim& w : workers_) {
    if (!w.node) continue;
    for (uint64_t id : w.node->host().groups()) {
      auto g = map->groups.find(id);
      if (g == map->groups.end() || std::find(g->second.replicas.begin(), g->second.replicas.end(), w.id) ==
                                        g->second.replicas.end())
        return bad("worker " + std::to_string(w.id) + " hosts group " + std::to_string(id) + ", not a voter of it");
    }
  }
  return true;
}

void ClusterSimulation::CheckLeaders() {
  for (WorkerSim& w : workers_) {
    if (!w.node) continue;
    for (uint64_t g : w.node->host().groups()) {
      GroupStatus st = w.node->host().group_status(g);
      if (st.role != raft::Role::kLeader) continue;
      auto [it, inserted] = leader_of_.emplace(std::make_pair(g, st.term), w.id);
      if (inserted) ++stats_.leaders;
      else if (it->second != w.id)
        Fail("two leaders of group " + std::to_string(g) + " in term " + std::to_string(st.term) + ": workers " +
             std::to_string(it->second) + " and " + std::to_string(w.id));
    }
  }
}

// After the fault-free phase, PD's leader balancing has spread the groups' leaders: the
// leader counts of the live workers hosting groups differ by at most one.
bool ClusterSimulation::CheckLeadersSpread(bool report) {
  std::map<uint64_t, int> leads;
  for (WorkerSim& w : workers_) {
    if (!w.node || w.node->host().groups().empty()) continue;  // Leaders only where groups are.
    leads[w.id] += 0;
    for (uint64_t g : w.node->host().groups())
      if (w.node->host().group_status(g).role == raft::Role::kLeader) ++leads[w.id];
  }
  int lo = INT32_MAX, hi = 0;
  std::string counts;
  for (auto& [w, n] : leads) {
    lo = std::min(lo, n);
    hi = std::max(hi, n);
    counts += " worker " + std::to_string(w) + ": " + std::to_string(n);
  }
  if (hi - lo <= 1) return true;
  if (report) Fail("leaders not spread after the faults stopped:" + counts);
  return false;
}

// After the settle: one linearizable get of every key through the gateway (retried while
// unavailable), recorded in the history as a client of its own, so the linearizability
// check vouches for it. Its values are what CheckPlacement expects the groups to hold.
// False (and a failure) if it never succeeds.
bool ClusterSimulation::FinalRead() {
  std::vector<std::string> ids;
  for (int k = 0; k < keys_; ++k) ids.push_back(Id(k));
  const uint64_t client = clients_.size() + 1;
  // The clients' last operations finish first (a write still retried by the gateway may
  // apply after the read: the read would not be the final state).
  auto busy = [this] {
    return std::any_of(clients_.begin(), clients_.end(), [](const Client& c) { return c.busy; });
  };
  for (int i = 0; i < 1000 && busy() && !failed_; ++i, ++step_, ++stats_.settle_steps) Step();
  if (busy()) {
    Fail("a client's operation did not finish after the faults stopped");
    return false;
  }
  for (int attempt = 0; attempt < 10 && !failed_; ++attempt) {
    auto state = std::make_shared<std::pair<bool, bool>>(false, false);  // Answered, succeeded.
    auto& [done, ok] = *state;
    const uint64_t call = Event();
    gateway_->Get(kCollection, ids, GetOptions{false, true}, ReadOptions{},
                  [this, state, client, call](Result<std::vector<std::optional<Point>>> r) {
                    state->first = true;
                    if (!r.ok()) {
                      if (r.status().code() != StatusCode::kUnavailable)
                        Fail("the final get failed unexpectedly: " + r.status().ToString());
                      return;
                    }
                    const uint64_t ret = Event();
                    for (int k = 0; k < keys_; ++k) {
                      const auto& p = (*r)[static_cast<size_t>(k)];
                      final_values_[k] = p ? ValueOf(p->metadata) : 0;
                      history_.push_back(raft::sim::KvOp{client, static_cast<uint64_t>(k), false, final_values_[k], call, ret});
                    }
                    state->second = true;
                    std::string vals;
                    for (const auto& [k, v] : final_values_) vals += " " + std::to_string(k) + "=" + std::to_string(v);
                    Trace("the final read:" + vals);
                  });
    for (int i = 0; i < 1000 && !done && !failed_; ++i, ++step_, ++stats_.settle_steps) Step();
    if (ok) return true;
    if (!done) break;  // The gateway answers every call by its deadline.
  }
  Fail("the final get of every key did not succeed");
  return false;
}

// At the end, with the map settled (CheckMembership): every point is stored by exactly one
// group, whose range holds its route key, on every replica of it, with the value the final
// read returned; each replica's point count is what it stores, and it holds no hidden
// points any more; and the groups' counts sum to the live ids of the final read.
void ClusterSimulation::CheckPlacement() {
  const ClusterMap* map = LeaderMap();
  const CollectionInfo& coll = map->collections.at(kCollection);
  std::map<std::string, uint64_t> group_of;  // point id -> group storing it
  uint64_t stored = 0;
  for (uint64_t id : coll.groups) {
    const GroupInfo& g = map->groups.at(id);
    const std::string gs = "group " + std::to_string(id);
    bool first = true;
    for (uint64_t w : g.replicas) {
      ShardStateMachine* sm = workers_[w - 1].node->shard(id);
      const std::string where = gs + " on worker " + std::to_string(w);
      auto page = sm->shard()->Scroll("", 1000, GetOptions{false, true});
      auto stats = sm->shard()->Stats();
      if (!page.ok() || !stats.ok()) return Fail(where + ": cannot read its shard");
      // The points a split hid are dropped in the background by now (WorkerNode's
      // MaybeDropHidden, a batch per loop iteration).
      if (sm->shard()->HasHiddenPoints()) return Fail(where + " still holds points a split hid");
      if (stats->count != page->points.size())
        return Fail(where + " counts " + std::to_string(stats->count) + " points and stores " +
                    std::to_string(page->points.size()));
      for (const Point& p : page->points) {
        const uint64_t key = RouteKey(p.id, kShards);
        if (!RangeHolds(g.range_start, g.range_end, key))
          return Fail(where + " stores \"" + p.id + "\" (route key " + std::to_string(key) + ") outside its range [" +
                      std::to_string(g.range_start) + ", " + std::to_string(g.range_end) + ")");
        int k = std::atoi(p.id.c_str() + 1);
        if (p.id != Id(k) || k < 0 || k >= keys_) return Fail(where + " stores the unexpected id \"" + p.id + "\"");
        if (ValueOf(p.metadata) != final_values_[k])
          return Fail(where + " stores " + p.id + "=" + std::to_string(ValueOf(p.metadata)) + ", the final read " +
                      std::to_string(final_values_[k]));
        if (!first) continue;
        auto [it, inserted] = group_of.emplace(p.id, id);
        if (!inserted)
          return Fail("\"" + p.id + "\" is stored by group " + std::to_string(it->second) + " and by " + gs);
      }
      if (first) stored += page->points.size();
      first = false;
    }
  }
  uint64_t live = 0;
  std::string missing;
  for (const auto& [k, v] : final_values_) {
    live += v != 0 ? 1 : 0;
    if (v != 0 && !group_of.count(Id(k)))
      missing += " " + Id(k) + " (route key " + std::to_string(RouteKey(Id(k), kShards)) + ")";
  }
  if (stored != live)
    return Fail("the groups store " + std::to_string(stored) + " points, the final read found " + std::to_string(live) +
                "; not stored:" + missing);
}

}  // namespace vectron::net::cluster::sim::detail
