// Deterministic simulation of a Raft cluster in one process, driven by one seeded PRNG.
//
// A run builds 3 or 5 nodes over MemoryStorage ("the disk", which survives crashes), a
// simulated network (drop, delay, reorder, duplicate, symmetric and asymmetric partitions),
// per-node clock rates (skew), crashes and restarts, membership changes and leadership
// transfers, and clients of a replicated key-value store. After every step it checks
// election safety, log matching, leader completeness and state machine safety; at the end it
// checks the clients' history for linearizability and that the cluster recovered (liveness).
#pragma once

#include <cstdint>
#include <string>

namespace vectron::raft::sim {

struct SimOptions {
  uint64_t seed = 1;
  uint64_t steps = 3000;  // One step = 1/10 of a nominal tick.
  bool trace = false;     // Print every event (and message) as it happens.
  bool faults = true;     // Network faults, crashes, partitions, skew.
  bool membership = true; // Membership changes and leader transfers.
  // Self-test of the checkers: nodes answer reads from local state without ReadIndex (a
  // known bug: stale reads). A run with this set is expected to fail linearizability.
  bool inject_local_reads = false;
};

struct SimStats {
  uint64_t committed_index = 0;  // Highest commit index reached.
  uint64_t writes_ok = 0;
  uint64_t reads_ok = 0;
  uint64_t ops_timed_out = 0;
  uint64_t leaders = 0;          // Distinct (term, leader) pairs.
  uint64_t crashes = 0;
  uint64_t partitions = 0;
  uint64_t conf_changes = 0;
  uint64_t transfers = 0;
  uint64_t snapshots_installed = 0;
  uint64_t lease_reads = 0;      // Runs with lease-based reads count their reads here.
  uint64_t lin_keys_inconclusive = 0;
  uint64_t messages = 0;
};

struct SimResult {
  bool ok = true;
  std::string failure;    // Which checker failed and why.
  std::string trace_tail; // The last events before the failure, one per line.
  std::string config;     // The randomized parameters of this seed, one line.
  SimStats stats;
};

// Runs one seed. Deterministic: the same options give the same result.
SimResult RunSimulation(const SimOptions& options);

struct BenchOptions {
  int nodes = 3;
  bool batching = true;          // false: one entry per MsgApp.
  uint64_t proposals = 20000;
  int proposals_per_step = 4;    // Offered load (a step is 1/10 tick).
};

struct BenchResult {
  uint64_t committed = 0;
  double wall_seconds = 0;
  double proposals_per_second = 0;  // Committed proposals per wall-clock second.
  double median_latency_ticks = 0;  // Propose-to-commit at the leader, simulated ticks.
  double p99_latency_ticks = 0;
  uint64_t messages = 0;
};

// Runs a fault-free cluster under steady load and measures the core.
BenchResult RunBenchmark(const BenchOptions& options);

}  // namespace vectron::raft::sim
