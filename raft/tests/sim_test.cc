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

TEST_CASE("benchmark harness commits every proposal in a fault-free cluster") {
  BenchOptions b;
  b.proposals = 500;
  BenchResult r = RunBenchmark(b);
  CHECK(r.committed == 500);
  CHECK(r.median_latency_ticks > 0);
}

}  // namespace
}  // namespace vectron::raft::sim
