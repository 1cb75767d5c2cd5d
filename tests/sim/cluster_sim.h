// The one-process cluster simulation (docs/cluster.md, "Testing"): three placement
// drivers, three workers hosting several shard groups each (real Shards in a temporary
// directory) and one or two that join during the run, a gateway's Router and clients, all
// in one thread, driven by one seed. PD moves replicas onto the workers that join and off
// a worker lost for longer than its dead_after (at most one per run: for good, or back
// later and made to drop what was moved away). In half the seeds PD also splits groups
// online (low split_points, short cooldown), again and again, under the same faults.
//
// Faults (drawn from the seed): message drops, duplicates, delays and reordering;
// partitions of any node; crashes and restarts of workers and PDs, including crash points
// after a log write before sending, and after a shard commit (or a snapshot install) before
// the Raft loop learns of it; clock skew. After every few steps the checkers compare the
// replicas of every group at equal applied indexes and check one leader per term; at the
// end the clients' history of upserts, deletes, gets and searches is checked for
// linearizability, and, once the moves settled, every group's Raft membership must be the
// PD map's (3 voters on running workers, no learners, no target, no split in progress, no
// stray replicas) and its replicas must have converged; the collection's ranges tile the
// route-key space, and a final linearizable read of every key must match what the groups
// store: each point in exactly one group, the one whose range holds its route key, and the
// counts add up. Failures print the seed.
#pragma once

#include <cstdint>
#include <string>

namespace vectron::net::cluster::sim {

struct ClusterSimOptions {
  uint64_t seed = 1;
  uint64_t steps = 3000;  // One step is 10 ms of simulated time.
  bool trace = false;     // Print every event as it happens.
  bool faults = true;
  // Hibernation of idle groups: -1 drawn from the seed (on in about half), else
  // RaftHostOptions::hibernate_after_ticks for every seed (0 = off).
  int64_t hibernate_after_ticks = -1;
  // Clients also delete through delete-where, a broadcast to every group (off: the
  // workload the regression seeds were found with).
  bool broadcasts = true;
};

struct ClusterSimStats {
  uint64_t writes_ok = 0;
  uint64_t writes_unknown = 0;   // Timed out: may or may not have been applied.
  uint64_t reads_ok = 0;         // Gets and searches.
  uint64_t stale_reads_ok = 0;   // Bounded-staleness gets.
  uint64_t search_cache_hits = 0;    // SearchIfChanged answered 'unchanged' (the cached hits served).
  uint64_t search_cache_misses = 0;  // SearchIfChanged searched afresh.
  uint64_t ratings_ok = 0;       // Ratings stored through a shard's log.
  uint64_t ratings_rejected = 0; // Ratings of a missing point (NotFound from the shard).
  uint64_t deletes_where_ok = 0; // Delete-where broadcasts acknowledged.
  uint64_t ops_failed = 0;
  uint64_t worker_crashes = 0;
  uint64_t pd_crashes = 0;
  uint64_t crash_points = 0;     // Crashes inside a loop (after persist / after apply).
  uint64_t partitions = 0;
  uint64_t leaders = 0;          // Distinct (group, term) leaders seen.
  uint64_t messages = 0;
  uint64_t replica_checks = 0;   // (group, applied index) pairs compared across replicas.
  uint64_t shard_snapshots = 0;  // Shard snapshots installed by workers (fetched from a peer).
  uint64_t snapshots_forwarded = 0;  // Of their MsgSnaps, those stepped at the copy's later index.
  uint64_t reads_leader_silent = 0;  // Reads a replica gave up on early: its leader fell silent.
  uint64_t leader_transfers = 0;  // Leadership transfers started at PD's request (balancing).
  uint64_t lin_keys_inconclusive = 0;
  // Replica moves.
  uint64_t workers_lost = 0;     // Workers that died for good (at most one per run).
  uint64_t pauses = 0;           // Worker processes paused (loop and tasks stopped, clock running).
  uint64_t pause_seeds = 0;      // 1 if pauses are on in this run.
  uint64_t long_outages = 0;     // Workers down for longer than PD's dead_after (then back).
  uint64_t conf_changes = 0;     // Membership changes proposed by group leaders at PD's request.
  uint64_t moves_planned = 0;    // Group targets PD set (repairs and rebalancing).
  uint64_t moves_done = 0;       // Targets reached (the map's voters became the target).
  uint64_t repairs = 0;          // Targets that replace a voter on a worker that is down.
  uint64_t settle_steps = 0;     // Steps run past --steps for the moves to finish.
  uint64_t replicas_recreated = 0;  // Replicas a worker hosted again after dropping them (from a tombstone).
  // Hibernation of idle groups (on in about half the seeds).
  uint64_t hibernating_seeds = 0;  // 1 if on in this run.
  uint64_t hibernations = 0;       // Shard groups their leader put into hibernation.
  uint64_t hibernation_wakes = 0;  // Hibernating replicas woken by node liveness (silence, restart).
  // Splits.
  uint64_t splits = 0;           // Splits finished (PD routes to the group split off).
  uint64_t splits_nested = 0;    // Of these, splits of a group that was itself split off.
  uint64_t graph_seeds = 0;      // 1 if the collection's shards were graphs (flat_max_points 0).
  uint64_t graph_splits = 0;     // Splits of graph shards (their graphs handed over in memory).
  uint64_t two_gateway_seeds = 0;    // 1 if this run's clients use two gateways.
  uint64_t split_apply_pauses = 0;   // Split applies the cluster ran on from inside (DuringSplitApply).
  uint64_t reads_served_early = 0;   // Reads a leader served during its split's apply.
  uint64_t reads_inlined = 0;        // Reads run on a worker's loop (WorkerNodeOptions::inline_reads).
};

struct ClusterSimResult {
  bool ok = true;
  std::string failure;
  std::string trace_tail;
  std::string config;
  ClusterSimStats stats;
};

// Runs one seed. Deterministic: the same options give the same result.
ClusterSimResult RunClusterSimulation(const ClusterSimOptions& options);

}  // namespace vectron::net::cluster::sim
