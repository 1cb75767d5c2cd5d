#include <doctest/doctest.h>

#include "raft/sim/simulation.h"

namespace vectron::raft::sim {
namespace {

TEST_CASE("simulation: a short campaign with every fault passes all checkers") {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SimOptions o;
    o.seed = seed;
    o.steps = 2000;
    SimResult r = RunSimulation(o);
    INFO("seed " << seed << ": " << r.failure << "\n" << r.trace_tail);
    CHECK(r.ok);
    CHECK(r.stats.writes_ok > 0);
  }
}

TEST_CASE("simulation: a seed replays exactly") {
  SimOptions o;
  o.seed = 7;
  o.steps = 1500;
  SimResult a = RunSimulation(o), b = RunSimulation(o);
  CHECK(a.stats.messages == b.stats.messages);
  CHECK(a.stats.writes_ok == b.stats.writes_ok);
  CHECK(a.stats.committed_index == b.stats.committed_index);
  CHECK(a.config == b.config);
}

TEST_CASE("simulation: the checkers catch stale local reads and print a readable trace") {
  bool caught = false;
  for (uint64_t seed = 1; seed <= 40 && !caught; ++seed) {
    SimOptions o;
    o.seed = seed;
    o.steps = 3000;
    o.inject_local_reads = true;
    SimResult r = RunSimulation(o);
    if (!r.ok) {
      caught = true;
      CHECK(r.failure.find("linearizability") != std::string::npos);
      CHECK(r.failure.find("client") != std::string::npos);
      CHECK(r.trace_tail.find("client") != std::string::npos);
    }
  }
  CHECK(caught);
}

TEST_CASE("benchmark harness commits every proposal in a fault-free cluster") {
  BenchOptions b;
  b.proposals = 500;
  BenchResult r = RunBenchmark(b);
  CHECK(r.committed == 500);
  CHECK(r.median_latency_ticks > 0);
}

}  // namespace
}  // namespace vectron::raft::sim
