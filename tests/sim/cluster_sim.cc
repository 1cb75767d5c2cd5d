#include "tests/sim/cluster_sim.h"

#include <stdlib.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "net/cluster/pd_node.h"
#include "net/cluster/router.h"
#include "net/cluster/worker_node.h"
#include "raft/sim/linearizability.h"
#include "tests/sim/cluster_sim_internal.h"
#include "tests/sim/sim_env.h"
#include "tests/sim/sim_log_store.h"

namespace vectron::net::cluster::sim {

namespace detail {

void ClusterSimulation::Trace(const std::string& line) {
  std::string l = "[" + std::to_string(now_ms_) + "ms] " + line;
  if (opt_.trace) std::printf("%s\n", l.c_str());
  trace_.push_back(std::move(l));
  if (trace_.size() > kTraceTail) trace_.pop_front();
}

void ClusterSimulation::Fail(const std::string& why) {
  if (failed_) return;
  failed_ = true;
  failure_ = "at " + std::to_string(now_ms_) + " ms (step " + std::to_string(step_) + "): " + why;
  Trace("CHECK FAILED: " + why);
}

RaftHostOptions ClusterSimulation::HostOptions(bool pd) {
  RaftHostOptions o;
  o.tick_ms = 100;
  o.raft.election_ticks = 10;
  o.raft.heartbeat_ticks = 2;
  o.raft.pre_vote = pre_vote_;
  o.raft.check_quorum = check_quorum_;
  o.raft.read_only = lease_ ? raft::ReadOnlyOption::kLeaseBased : raft::ReadOnlyOption::kSafe;
  o.raft.max_bytes_per_msg = 64 * 1024;
  o.hibernate_after_ticks = hibernate_after_ticks_;
  o.raft.seed = opt_.seed;
  // Both kinds of group compact often, so that snapshots are exercised: the PD's in memory,
  // and shard snapshots fetched in chunks from a peer and installed (docs/cluster.md).
  o.compact_entries = pd ? 40 : 16;
  if (opt_.trace && !pd) o.raft.logger = [this](const std::string& line) { Trace("raft w" + line); };
  o.crash_after_persist = [this] { return opt_.faults && now_ms_ < liveness_from_ * kStepMs && rng_.Chance(crash_point_p_); };
  return o;
}

void ClusterSimulation::StartPd(PdSim& p) {
  PdNodeOptions o;
  o.id = p.id;
  o.members = {1, 2, 3};
  o.raft = HostOptions(true);
  // Replica moves within a run: a worker silent for 6 s (longer than any crash, about as
  // long as the longest partition) has its replicas repaired onto others.
  o.dead_after_ms = kDeadAfterMs;
  o.split_points = split_points_;
  o.split_cooldown_ms = split_cooldown_ms_;
  p.node = std::make_unique<PdNode>(o, *p.clock, *p.transport, p.store);
  Status s = p.node->Start();
  if (!s.ok()) Fail("pd " + std::to_string(p.id) + " failed to start: " + s.ToString());
}

void ClusterSimulation::StartWorker(WorkerSim& w) {
  WorkerNodeOptions o;
  o.id = w.id;
  o.addr = "w" + std::to_string(w.id);
  o.data_dir = w.dir;
  o.pd_members = {1, 2, 3};
  o.raft = HostOptions(false);
  o.shard_options.durability = Durability::kNoSync;  // A process crash keeps every commit.
  o.shard_options.map_size_bytes = 64ull << 20;
  o.shard_options.threads = 1;
  o.heartbeat_ms = 300;
  o.seed = rng_.Next();                      // Each start its own fetch ids.
  o.shard_flush_entries = 4;                 // The log compacts up to a flushed index.
  o.snapshot.chunk_bytes = 16 * 1024;        // A copy crosses the network in several chunks.
  o.snapshot.timeout_ms = 500;
  o.snapshot.progress_bytes = 0;             // A crash mid-copy resumes after the last chunk.
  o.on_split_readable = [this, &w](uint64_t group) { DuringSplitApply(w, group); };  // workers_ never moves.
  w.node = std::make_unique<WorkerNode>(o, *w.clock, *w.transport, w.store, w.executor);
  Status s = w.node->Start();
  if (!s.ok()) Fail("worker " + std::to_string(w.id) + " failed to start: " + s.ToString());
}

void ClusterSimulation::CrashWorker(WorkerSim& w, const char* why) {
  if (w.in_task) {
    if (!w.crash_deferred) {
      Trace("worker " + std::to_string(w.id) + " crashes (" + why + "), once its running task ends");
      w.crash_deferred = why;
    }
    return;
  }
  w.crash_deferred = nullptr;
  Trace("worker " + std::to_string(w.id) + " crashes (" + why + ")");
  CollectWorkerStats(w);
  w.executor.Clear();
  w.node.reset();
  w.paused_until_ms = 0;
  w.held.clear();  // Lost with the process.
  // A deferred crash keeps a longer outage decided meanwhile ("down for long").
  w.down_until_ms = std::max(w.down_until_ms, now_ms_ + rng_.Range(200, 3000));
  ++stats_.worker_crashes;
}

void ClusterSimulation::CrashDeferred() {
  for (WorkerSim& w : workers_)
    if (w.crash_deferred && !w.in_task) CrashWorker(w, w.crash_deferred);
}

void ClusterSimulation::DuringSplitApply(WorkerSim& w, uint64_t group) {
  if (in_split_apply_ || !split_apply_rng_->Chance(0.5)) return;
  const uint64_t steps = split_apply_rng_->Range(2, 60);
  Trace("worker " + std::to_string(w.id) + ": group " + std::to_string(group) + "'s split applies for " +
        std::to_string(steps * kStepMs) + " ms");
  ++stats_.split_apply_pauses;
  in_split_apply_ = true;
  w.in_task = true;
  for (uint64_t i = 0; i < steps && !failed_; ++i) {
    ++step_;
    Step();
  }
  w.in_task = false;
  in_split_apply_ = false;
}

void ClusterSimulation::CollectWorkerStats(WorkerSim& w) {
  if (!w.node) return;
  stats_.shard_snapshots += w.node->host().stats().snapshots_installed;
  stats_.snapshots_forwarded += w.node->host().stats().snapshots_forwarded;
  stats_.leader_transfers += w.node->leader_transfers();
  stats_.reads_leader_silent += w.node->reads_leader_silent();
  stats_.reads_served_early += w.node->reads_served_early();
  stats_.reads_inlined += w.node->reads_inlined();
  stats_.hibernations += w.node->host().stats().hibernations;
  stats_.hibernation_wakes += w.node->host().stats().wakes;
  stats_.conf_changes += w.node->conf_changes();
}

void ClusterSimulation::CrashPd(PdSim& p, const char* why) {
  Trace("pd " + std::to_string(p.id) + " crashes (" + why + ")");
  p.node.reset();
  p.down_until_ms = now_ms_ + rng_.Range(200, 3000);
  ++stats_.pd_crashes;
}

void ClusterSimulation::Setup() {
  char tmpl[] = "/tmp/vectron-cluster-sim-XXXXXX";
  if (!mkdtemp(tmpl)) {
    Fail("mkdtemp failed");
    return;
  }
  root_ = tmpl;
  pre_vote_ = !rng_.Chance(0.2);
  check_quorum_ = !rng_.Chance(0.2);
  lease_ = check_quorum_ && rng_.Chance(0.5);
  SplitMixRng hib_rng(opt_.seed ^ 0x48494245524e41ull);
  hibernate_after_ticks_ = hib_rng.Chance(0.5) ? hib_rng.Range(2, 10) : 0;  // Short: groups hibernate often.
  if (opt_.hibernate_after_ticks >= 0) hibernate_after_ticks_ = static_cast<uint64_t>(opt_.hibernate_after_ticks);
  stats_.hibernating_seeds = hibernate_after_ticks_ > 0 ? 1 : 0;
  if (opt_.faults) {
    net_.faults.drop = rng_.Chance(0.3) ? 0.0 : 0.01 * static_cast<double>(rng_.Range(1, 5));
    net_.faults.duplicate = rng_.Chance(0.5) ? 0.0 : 0.01 * static_cast<double>(rng_.Range(1, 3));
    net_.faults.long_delay = 0.01 * static_cast<double>(rng_.Range(0, 3));
    net_.faults.delay_max_ms = rng_.Range(1, 30);
    crash_p_ = 1.0 / static_cast<double>(rng_.Range(300, 1500));
    pd_crash_p_ = 1.0 / static_cast<double>(rng_.Range(500, 2500));
    partition_p_ = 1.0 / static_cast<double>(rng_.Range(300, 1500));
    crash_point_p_ = rng_.Chance(0.5) ? 0.0 : 1.0 / static_cast<double>(rng_.Range(2000, 10000));
    skew_ = 0.1 * static_cast<double>(rng_.Range(0, 3));
    apply_lag_p_ = 0.1 * static_cast<double>(rng_.Range(0, 5));
  }
  liveness_from_ = opt_.steps - opt_.steps / 3;
  clients_stop_ = opt_.steps - std::min<uint64_t>(opt_.steps / 6, 300);
  // Replica moves: one or two workers join during the first half of the safety phase
  // (PD rebalances replicas onto them), and in half the runs with faults one worker dies
  // for good (PD repairs its replicas onto the others after kDeadAfterMs). Only one
  // permanent death per run: with replication 3 every group keeps a majority of live
  // voters once the crashed workers are back.
  const int nworkers = kNodes + 1 + (rng_.Chance(0.3) ? 1 : 0);
  const uint64_t liveness_ms = liveness_from_ * kStepMs;
  std::vector<uint64_t> join_at_ms;
  for (int i = kNodes; i < nworkers; ++i)
    join_at_ms.push_back(rng_.Range(500, std::max<uint64_t>(liveness_ms / 2, 600)));
  const uint64_t death_from_ms = opt_.steps * kStepMs / 10;
  if (opt_.faults && rng_.Chance(0.5))
    death_at_ms_ = rng_.Range(death_from_ms, std::max<uint64_t>(liveness_ms * 6 / 10, death_from_ms + 1));
  // Splits, in half the runs (drawn from their own generator: the other runs are as
  // before): a group splits once its leader reports more than 1 or 2 points, and again
  // after a short cooldown, so that groups split off are split again.
  SplitMixRng split_rng(opt_.seed ^ 0x5b117);
  if (split_rng.Chance(0.5)) {
    split_points_ = split_rng.Range(1, 2);
    split_cooldown_ms_ = split_rng.Range(500, 2000);
    keys_ = kSplitKeys;
  }
  pause_rng_ = std::make_unique<SplitMixRng>(opt_.seed ^ 0x9a05e);
  split_apply_rng_ = std::make_unique<SplitMixRng>(opt_.seed ^ 0x5a11ed);
  if (opt_.faults && pause_rng_->Chance(0.5)) pause_p_ = 1.0 / static_cast<double>(pause_rng_->Range(300, 1500));
  stats_.pause_seeds = pause_p_ > 0 ? 1 : 0;
  SplitMixRng graph_rng(opt_.seed ^ 0x96a9);
  if (graph_rng.Chance(0.5)) graph_checkpoint_ops_ = graph_rng.Range(1, 8);
  stats_.graph_seeds = graph_checkpoint_ops_ > 0 ? 1 : 0;
  std::ostringstream os;
  os << "pre_vote=" << pre_vote_ << " check_quorum=" << check_quorum_ << " lease=" << lease_
     << " drop=" << net_.faults.drop << " dup=" << net_.faults.duplicate << " long_delay=" << net_.faults.long_delay
     << " delay_max=" << net_.faults.delay_max_ms << "ms crash_p=" << crash_p_ << " pd_crash_p=" << pd_crash_p_
     << " partition_p=" << partition_p_ << " crash_point_p=" << crash_point_p_ << " skew=" << skew_
     << " apply_lag=" << apply_lag_p_ << " workers=" << nworkers << " joins_at_ms=";
  for (uint64_t j : join_at_ms) os << j << ",";
  os << " death_at_ms=" << death_at_ms_ << " split_points=" << split_points_
     << " split_cooldown=" << split_cooldown_ms_ << "ms";
  os << " hibernate_after_ticks=" << hibernate_after_ticks_;
  os << " graph_checkpoint_ops=" << graph_checkpoint_ops_;
  os << " pause_p=" << pause_p_;
  config_ = os.str();
  Trace("config: " + config_);

  pds_.resize(kNodes);
  workers_.resize(static_cast<size_t>(nworkers));
  for (int i = 0; i < nworkers; ++i) {
    if (i < kNodes) {
      PdSim& p = pds_[i];
      p.id = static_cast<uint64_t>(i + 1);
      p.clock = std::make_unique<SimClock>(&now_ms_);
      p.clock->SetRate(1.0 + skew_ * static_cast<double>(rng_.Below(101)) / 100.0);
      p.transport = std::make_unique<NodeTransport>(net_, NodeId{NodeKind::kPd, p.id});
      StartPd(p);
    }
    WorkerSim& w = workers_[i];
    w.id = static_cast<uint64_t>(i + 1);
    w.dir = root_ + "/w" + std::to_string(w.id);
    w.clock = std::make_unique<SimClock>(&now_ms_);
    w.clock->SetRate(1.0 + skew_ * static_cast<double>(rng_.Below(101)) / 100.0);
    w.transport = std::make_unique<NodeTransport>(net_, NodeId{NodeKind::kWorker, w.id});
    if (i < kNodes) {
      w.started = true;
      StartWorker(w);
    } else {
      w.join_at_ms = join_at_ms[static_cast<size_t>(i - kNodes)];
    }
  }
  gw_clock_ = std::make_unique<SimClock>(&now_ms_);
  gw_rng_ = std::make_unique<SplitMixRng>(opt_.seed ^ 0x5eed);
  gw_transport_ = std::make_unique<NodeTransport>(net_, GatewayId());
  RouterOptions ro;
  ro.id = 1;
  ro.pd_members = {1, 2, 3};
  ro.rpc_timeout_ms = 1000;
  ro.deadline_ms = 4000;
  gateway_ = std::make_unique<Router>(ro, *gw_clock_, *gw_rng_, *gw_transport_);
  if (SplitMixRng(opt_.seed ^ 0x9a7e2).Chance(0.5)) {
    gw2_clock_ = std::make_unique<SimClock>(&now_ms_);
    gw2_rng_ = std::make_unique<SplitMixRng>(opt_.seed ^ 0x5eed2);
    gw2_transport_ = std::make_unique<NodeTransport>(net_, GatewayId(2));
    ro.id = 2;
    gateway2_ = std::make_unique<Router>(ro, *gw2_clock_, *gw2_rng_, *gw2_transport_);
    stats_.two_gateway_seeds = 1;
  }
  int nclients = static_cast<int>(rng_.Range(2, 4));
  for (int i = 0; i < nclients; ++i) clients_.push_back(Client{static_cast<uint64_t>(i + 1)});
}

void ClusterSimulation::Deliver() {
  // A worker whose pause ended first gets what waited for it, in order.
  for (WorkerSim& w : workers_) {
    if (w.held.empty() || Paused(w)) continue;
    Trace("worker " + std::to_string(w.id) + " resumes (" + std::to_string(w.held.size()) + " messages waited)");
    std::vector<SimNetwork::InFlight> held;
    held.swap(w.held);
    for (SimNetwork::InFlight& f : held)
      if (w.node) w.node->Receive(f.from, std::move(f.msg));
  }
  for (SimNetwork::InFlight& f : net_.Due()) {
    ++stats_.messages;
    switch (f.to.kind) {
      case NodeKind::kPd: {
        PdSim& p = pds_[f.to.id - 1];
        if (p.node) p.node->Receive(f.from, std::move(f.msg));
        break;
      }
      case NodeKind::kWorker: {
        WorkerSim& w = workers_[f.to.id - 1];
        if (w.node && Paused(w)) w.held.push_back(std::move(f));
        else if (w.node) w.node->Receive(f.from, std::move(f.msg));
        break;
      }
      case NodeKind::kGateway:
        if (f.to.id == 2 && gateway2_) gateway2_->Receive(f.from, std::move(f.msg));
        else if (f.to.id == 1) gateway_->Receive(f.from, std::move(f.msg));
        break;
    }
  }
}

void ClusterSimulation::RunNodes() {
  for (PdSim& p : pds_) {
    if (!p.node) continue;
    Status s = p.node->RunOnce();
    if (s.code() == StatusCode::kAborted) {
      ++stats_.crash_points;
      CrashPd(p, "after persisting, before sending");
    } else if (!s.ok()) {
      Fail("pd " + std::to_string(p.id) + ": " + s.ToString());
    }
  }
  for (WorkerSim& w : workers_) {
    if (!w.node || Paused(w)) continue;
    Status s = w.node->RunOnce();
    if (s.code() == StatusCode::kAborted) {
      ++stats_.crash_points;
      CrashWorker(w, "after persisting, before sending");
    } else if (!s.ok()) {
      Fail("worker " + std::to_string(w.id) + ": " + s.ToString());
    }
  }
  gateway_->RunOnce();
  if (gateway2_) gateway2_->RunOnce();
}

void ClusterSimulation::RunExecutors() {
  for (WorkerSim& w : workers_) {
    if (!w.node || w.executor.size() == 0 || Paused(w)) continue;
    // Apply lag: now and then only part of the queue runs this step.
    size_t n = rng_.Chance(apply_lag_p_) ? rng_.Below(w.executor.size() + 1) : w.executor.size();
    w.executor.Run(n);
    CrashDeferred();  // A crash while a task ran the cluster (DuringSplitApply).
    // Crash point: the shard committed (or a snapshot was installed) but the Raft loop never
    // learns of it (the completion is lost with the process).
    if (w.node && n > 0 && opt_.faults && now_ms_ < liveness_from_ * kStepMs && rng_.Chance(crash_point_p_ * 20)) {
      ++stats_.crash_points;
      CrashWorker(w, "after a shard commit, before Advance");
    }
  }
}

void ClusterSimulation::FaultsStep() {
  bool safety = step_ < liveness_from_;
  for (PdSim& p : pds_)
    if (!p.node && (now_ms_ >= p.down_until_ms || !safety)) {
      Trace("pd " + std::to_string(p.id) + " restarts");
      StartPd(p);
    }
  for (WorkerSim& w : workers_) {
    if (!w.started) {
      if (now_ms_ < w.join_at_ms) continue;
      Trace("worker " + std::to_string(w.id) + " joins the cluster");
      w.started = true;
      StartWorker(w);
    } else if (!w.node && !w.dead_forever && (now_ms_ >= w.down_until_ms || !safety)) {
      Trace("worker " + std::to_string(w.id) + " restarts");
      StartWorker(w);
    }
  }
  if (net_.partitioned() && (now_ms_ >= heal_at_ms_ || !safety)) {
    Trace("partition healed");
    net_.Heal();
  }
  if (!opt_.faults || !collection_ready_) return;
  if (!safety) {
    net_.faults = NetFaults{};
    return;
  }
  if (death_at_ms_ != 0 && now_ms_ >= death_at_ms_) {
    // One started worker dies for good (it may be down already).
    std::vector<WorkerSim*> alive;
    for (WorkerSim& w : workers_)
      if (w.started) alive.push_back(&w);
    // Or, in half of these runs, is down for longer than kDeadAfterMs and comes back
    // after PD moved its replicas away (it must drop them).
    WorkerSim& w = *alive[rng_.Below(alive.size())];
    death_at_ms_ = 0;
    if (rng_.Chance(0.5)) {
      if (w.node) CrashWorker(w, "down for long");
      w.down_until_ms = now_ms_ + kDeadAfterMs + rng_.Range(1000, 5000);
      ++stats_.long_outages;
    } else {
      w.dead_forever = true;
      ++stats_.workers_lost;
      if (w.node) CrashWorker(w, "dies for good");
      else Trace("worker " + std::to_string(w.id) + " (down) dies for good");
    }
  }
  if (rng_.Chance(crash_p_)) {
    WorkerSim& w = workers_[rng_.Below(workers_.size())];
    if (w.node) CrashWorker(w, "random");
  }
  if (rng_.Chance(pd_crash_p_)) {
    PdSim& p = pds_[rng_.Below(kNodes)];
    if (p.node) CrashPd(p, "random");
  }
  if (!net_.partitioned() && rng_.Chance(partition_p_)) {
    // Isolate one node (a PD, a worker or the gateway) from everything, both ways.
    std::vector<NodeId> all;
    for (uint64_t i = 1; i <= kNodes; ++i) all.push_back({NodeKind::kPd, i});
    for (const WorkerSim& w : workers_) all.push_back({NodeKind::kWorker, w.id});
    all.push_back(GatewayId());
    if (gateway2_) all.push_back(GatewayId(2));
    NodeId v = all[rng_.Below(all.size() - (rng_.Chance(0.9) ? 1 : 0))];
    for (const NodeId& o : all)
      if (!(o == v)) net_.Block(v, o), net_.Block(o, v);
    heal_at_ms_ = now_ms_ + rng_.Range(500, 5000);
    ++stats_.partitions;
    Trace("partition: isolate " + v.ToString());
  }
  if (skew_ > 0 && rng_.Chance(0.002)) {
    WorkerSim& w = workers_[rng_.Below(workers_.size())];
    w.clock->SetRate(1.0 + skew_ * static_cast<double>(rng_.Below(101)) / 100.0);
  }
  if (pause_p_ > 0 && pause_rng_->Chance(pause_p_)) {
    // A worker process stops (SIGSTOP, a VM stall) for up to 2.5 s, longer than an
    // election timeout: a leader among its groups' replicas must not serve a read from a
    // lease that ran out meanwhile, whatever reaches it first when it resumes.
    WorkerSim& w = workers_[pause_rng_->Below(workers_.size())];
    if (w.node && !Paused(w)) {
      w.paused_until_ms = now_ms_ + pause_rng_->Range(200, 2500);
      ++stats_.pauses;
      Trace("worker " + std::to_string(w.id) + " paused until " + std::to_string(w.paused_until_ms) + " ms");
    }
  }
}

void ClusterSimulation::ClientsStep() {
  if (!collection_ready_) {
    if (!creating_ && gateway_->has_map()) {
      creating_ = true;
      CollectionConfig cfg;
      cfg.dim = kDim;
      cfg.metric = Metric::kL2;
      cfg.shards = kShards;
      if (graph_checkpoint_ops_ > 0) {
        cfg.flat_max_points = 0;
        cfg.checkpoint_every_ops = graph_checkpoint_ops_;
      }
      gateway_->CreateCollection(kCollection, cfg, 3, [this](Status s) {
        creating_ = false;
        if (s.ok() || s.code() == StatusCode::kAlreadyExists) {
          collection_ready_ = true;
          Trace("collection created");
        } else {
          Trace("create collection: " + s.ToString());
        }
      });
    }
    return;
  }
  if (step_ >= clients_stop_) return;
  for (Client& c : clients_)
    if (!c.busy && now_ms_ >= c.idle_until_ms) IssueOp(c);
}

void ClusterSimulation::IssueOp(Client& c) {
  c.busy = true;
  ++c.seq;
  uint64_t call = Event();
  uint64_t client = c.id;
  Router& gw = GatewayOf(client);
  auto done = [this, client] {
    Client& cl = clients_[client - 1];
    cl.busy = false;
    cl.idle_until_ms = now_ms_ + rng_.Range(0, 100);
  };
  std::vector<int> keys;
  int nkeys = static_cast<int>(rng_.Range(1, 3));
  for (int i = 0; i < nkeys; ++i) {
    int k = static_cast<int>(rng_.Below(static_cast<uint64_t>(keys_)));
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  }
  uint64_t roll = rng_.Below(100);
  if (roll >= 42 && roll < 45 && opt_.broadcasts) {
    // Delete-where on the key's own field: a broadcast (every group, rerouted across
    // splits, retried under the same request id) that deletes one key, so the history
    // records it as a blind delete. Applied twice (a retry after a later write) it would
    // delete that write, and the linearizability check fails; counted twice (a split
    // child's answer and its parent's), it reports more than one point.
    raft::sim::KvOp op;
    op.client = client;
    op.key = static_cast<uint64_t>(keys[0]);
    op.is_write = true;
    op.call = call;
    op.value = 0;
    const size_t at = history_.size();
    history_.push_back(op);
    gw.DeleteWhere(kCollection, "{\"k\": " + std::to_string(keys[0]) + "}",
                          [this, at, done](Result<uint64_t> r) {
                            if (r.ok()) {
                              if (*r > 1) return Fail("a delete-where of one key counted " + std::to_string(*r));
                              history_[at].ret = Event();
                              ++stats_.deletes_where_ok;
                            } else if (r.status().code() == StatusCode::kUnavailable) {
                              ++stats_.writes_unknown;
                            } else {
                              Fail("delete-where failed unexpectedly: " + r.status().ToString());
                            }
                            done();
                          });
  } else if (roll < 45) {
    WriteBatch batch;
    std::vector<size_t> ops;
    for (int k : keys) {
      raft::sim::KvOp op;
      op.client = client;
      op.key = static_cast<uint64_t>(k);
      op.is_write = true;
      op.call = call;
      if (rng_.Chance(0.75)) {
        op.value = client * 1'000'000 + c.seq;
        written_.insert({k, op.value});
        float v = static_cast<float>(op.value % 1000);
        std::vector<float> vec = {v, 1, 2, static_cast<float>(k)};
        // The key's own field, for delete-where (not written without broadcasts: the
        // regression seeds' records keep their sizes).
        const std::string key_field = opt_.broadcasts ? ",\"k\":" + std::to_string(k) : "";
        batch.Upsert(Id(k), vec, "{\"v\":" + std::to_string(op.value) + key_field + "}");
      } else {
        op.value = 0;
        batch.Delete(Id(k));
      }
      ops.push_back(history_.size());
      history_.push_back(op);
    }
    gw.Write(kCollection, batch, [this, ops, done](Status s) {
      if (s.ok()) {
        uint64_t ret = Event();
        for (size_t i : ops) history_[i].ret = ret;
        ++stats_.writes_ok;
        if (step_ >= liveness_from_) ++writes_ok_in_liveness_;
      } else if (s.code() == StatusCode::kUnavailable) {
        ++stats_.writes_unknown;  // ret stays "never": it may take effect any time after its call.
      } else {
        Fail("write failed unexpectedly: " + s.ToString());
      }
      done();
    });
  } else if (roll < 50) {
    // A bounded-staleness get (a follower may answer): not linearizable, so not in the
    // history; its value must be one some client wrote (or none).
    std::vector<std::string> ids;
    for (int k : keys) ids.push_back(Id(k));
    gw.Get(kCollection, ids, GetOptions{false, true}, ReadOptions{500},
                  [this, keys, done](Result<std::vector<std::optional<Point>>> r) {
                    if (r.ok()) {
                      for (size_t i = 0; i < keys.size(); ++i) {
                        const auto& p = (*r)[i];
                        uint64_t v = p ? ValueOf(p->metadata) : 0;
                        if (v != 0 && !written_.count({keys[i], v}))
                          return Fail("a stale read returned a value nobody wrote: " + std::to_string(v));
                      }
                      ++stats_.stale_reads_ok;
                    } else if (r.status().code() != StatusCode::kUnavailable) {
                      Fail("stale get failed unexpectedly: " + r.status().ToString());
                    }
                    done();
                  });
  } else if (roll < 54) {
    // A rating through the point's shard's log: stored, or (the point is deleted or was
    // never written) rejected with NotFound; the replicas' digests include the ratings.
    Rating r;
    r.point_id = Id(keys[0]);
    r.rating = static_cast<int>(rng_.Range(1, 5));
    r.query_id = "c" + std::to_string(client);
    r.time_ms = static_cast<int64_t>(now_ms_) + 1;  // The proposer's clock.
    gw.Rate(kCollection, r, [this, done](Status s) {
      if (s.ok()) ++stats_.ratings_ok;
      else if (s.code() == StatusCode::kNotFound) ++stats_.ratings_rejected;
      else if (s.code() == StatusCode::kUnavailable) ++stats_.ops_failed;
      else Fail("rating failed unexpectedly: " + s.ToString());
      done();
    });
  } else if (roll < 80) {
    std::vector<std::string> ids;
    for (int k : keys) ids.push_back(Id(k));
    gw.Get(kCollection, ids, GetOptions{false, true}, ReadOptions{},
                  [this, keys, client, call, done](Result<std::vector<std::optional<Point>>> r) {
                    if (r.ok()) {
                      uint64_t ret = Event();
                      for (size_t i = 0; i < keys.size(); ++i) {
                        const auto& p = (*r)[i];
                        history_.push_back(raft::sim::KvOp{client, static_cast<uint64_t>(keys[i]), false,
                                                           p ? ValueOf(p->metadata) : 0, call, ret});
                      }
                      ++stats_.reads_ok;
                    } else if (r.status().code() == StatusCode::kUnavailable) {
                      ++stats_.ops_failed;
                    } else {
                      Fail("get failed unexpectedly: " + r.status().ToString());
                    }
                    done();
                  });
  } else {
    // An exact search with k above the key count returns every live point: a read of all keys.
    SearchParams sp;
    sp.k = 100;
    sp.exact = true;
    sp.include_metadata = true;
    // Records the hits as a read of every key (false: a bad answer, failed).
    auto record = [this, client, call](const std::vector<Hit>& hits) {
      uint64_t ret = Event();
      std::map<int, uint64_t> seen;
      for (const Hit& h : hits) {
        int k = std::atoi(h.id.c_str() + 1);
        if (h.id.size() < 2 || h.id[0] != 'k' || k < 0 || k >= keys_ || h.id != Id(k) || seen.count(k)) {
          std::string all;
          for (const Hit& x : hits) all += " " + x.id + "=" + x.metadata;
          Fail("search returned an unexpected or repeated id \"" + h.id + "\":" + all);
          return false;
        }
        seen[k] = ValueOf(h.metadata);
      }
      for (int k = 0; k < keys_; ++k)
        history_.push_back(raft::sim::KvOp{client, static_cast<uint64_t>(k), false, seen.count(k) ? seen[k] : 0, call, ret});
      ++stats_.reads_ok;
      return true;
    };
    if (roll < 90) {
      std::vector<float> q = {static_cast<float>(rng_.Below(1000)), 0, 0, 0};
      gw.Search(kCollection, q, sp, ReadOptions{}, [this, record, done](Result<std::vector<Hit>> r) {
        if (r.ok()) {
          if (!record(*r)) return;
        } else if (r.status().code() == StatusCode::kUnavailable) {
          ++stats_.ops_failed;
        } else {
          Fail("search failed unexpectedly: " + r.status().ToString());
        }
        done();
      });
      return;
    }
    // The gateway's result cache over SearchIfChanged, on a few queries that repeat: an
    // answer served from it is recorded like any read, so the linearizability check
    // fails if one is served after a write it should show.
    const int query_key = static_cast<int>(rng_.Below(4));
    std::vector<float> q = {static_cast<float>(query_key * 250), 0, 0, 0};
    std::vector<Router::ShardReadAt> known;
    std::vector<Hit> cached;
    if (auto it = search_cache_.find(query_key); it != search_cache_.end()) {
      known = it->second.read_at;
      cached = it->second.hits;
    }
    gw.SearchIfChanged(
        kCollection, q, sp, ReadOptions{}, known,
        [this, record, done, query_key, known, cached](Result<Router::VersionedHits> r) {
          if (r.ok()) {
            if (r->unchanged) {
              if (known.empty() || r->read_at != known) return Fail("a search answered 'unchanged' to no cached entry");
              ++stats_.search_cache_hits;
              if (!record(cached)) return;
            } else {
              ++stats_.search_cache_misses;
              if (!record(r->hits)) return;
              search_cache_[query_key] = CachedSearch{r->read_at, r->hits};
            }
          } else if (r.status().code() == StatusCode::kUnavailable) {
            ++stats_.ops_failed;
          } else {
            Fail("cached search failed unexpectedly: " + r.status().ToString());
          }
          done();
        });
  }
}

void ClusterSimulation::Step() {
  now_ms_ = step_ * kStepMs;
  if (step_ == liveness_from_) Trace("liveness phase: faults stop, partitions heal, nodes restart");
  CrashDeferred();
  FaultsStep();
  Deliver();
  RunNodes();
  RunExecutors();
  ClientsStep();
  CheckLeaders();
  ObserveMoves();
  if (step_ % 10 == 0) CheckReplicas(false);
}

ClusterSimResult ClusterSimulation::Run() {
  Setup();
  auto step = [this] { Step(); };
  for (step_ = 1; step_ <= opt_.steps && !failed_; ++step_) step();
  if (!failed_) {
    if (!collection_ready_) Fail("liveness: the collection was never created");
    else if (liveness_from_ < opt_.steps && writes_ok_in_liveness_ == 0)
      Fail("liveness: no write completed after the faults stopped");
  }
  if (!failed_ && liveness_from_ < opt_.steps) {
    // Moves planned late (a repair after a death late in the safety phase) may need more
    // time: the run goes on, fault-free and without clients, until everything settled.
    // Splits in progress (and any PD starts meanwhile) finish too, and so do the drops
    // of the points they hid (which wait for a split to settle: worker_node.cc).
    const uint64_t last = opt_.steps + kSettleStepsMax;
    auto settle = [&] {
      while (!failed_ && step_ <= last &&
             !(CheckMembership(false) && CheckLeadersSpread(false) && !HiddenPointsLeft()))
        for (int i = 0; i < 10 && !failed_; ++i, ++step_, ++stats_.settle_steps) step();
    };
    settle();
    // The final read, then the settle again (PD may have started a split meanwhile), twice:
    // a write the gateway gave up on (unknown outcome) may still commit after the first
    // read; the second, after the cluster settled again, is what the groups must store.
    for (int i = 0; i < 2 && !failed_ && FinalRead(); ++i) settle();
    if (!failed_) CheckReplicas(false);
    if (!failed_ && CheckMembership(true) && CheckLeadersSpread(true)) CheckPlacement();
    if (failed_) TraceGroups();
  }
  if (!failed_) {
    raft::sim::LinReport lr = raft::sim::CheckLinearizable(history_);
    stats_.lin_keys_inconclusive = lr.keys_inconclusive;
    if (lr.result == raft::sim::LinResult::kViolation) Fail("linearizability violation:\n" + lr.detail);
  }
  for (auto& w : workers_) {
    CollectWorkerStats(w);
    stats_.replicas_recreated += w.store.tombstones_restored();  // The store outlives crashes.
  }
  ClusterSimResult r;
  r.ok = !failed_;
  r.failure = failure_;
  r.config = config_;
  r.stats = stats_;
  if (failed_)
    for (const std::string& l : trace_) r.trace_tail += l + "\n";
  return r;
}

}  // namespace detail

ClusterSimResult RunClusterSimulation(const ClusterSimOptions& options) {
  return detail::ClusterSimulation(options).Run();
}

}  // namespace vectron::net::cluster::sim
