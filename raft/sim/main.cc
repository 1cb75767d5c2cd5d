// raft-sim: runs deterministic simulation campaigns of the Raft library.
//
//   raft-sim --seeds N --steps M [--first S]   run seeds S..S+N-1 (default S = 1)
//   raft-sim --list S1,S2,... --steps M         run the listed seeds (CI's regression seeds)
//   raft-sim --seed S --steps M [--trace]      replay one seed, optionally printing every event
//   raft-sim --bench                           benchmark table (3 and 5 nodes, +/- batching)
//
// Exits 1 if any checker fails (printing the seed, the failure and the trace tail).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "raft/sim/simulation.h"

using vectron::raft::sim::BenchOptions;
using vectron::raft::sim::BenchResult;
using vectron::raft::sim::RunBenchmark;
using vectron::raft::sim::RunSimulation;
using vectron::raft::sim::SimOptions;
using vectron::raft::sim::SimResult;

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: raft-sim --seeds N --steps M [--first S] [--no-faults] [--no-membership]\n"
               "                [--inject-local-reads]   (checker self-test: serve reads without ReadIndex)\n"
               "       raft-sim --list S1,S2,... --steps M\n"
               "       raft-sim --seed S --steps M [--trace]\n"
               "       raft-sim --bench [--proposals N]\n");
}

bool ParseU64(const char* s, uint64_t* out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (!s[0] || *end) return false;
  *out = v;
  return true;
}

int Bench(uint64_t proposals) {
  std::printf("| nodes | batching | offered load (proposals/tick) | committed | proposals/s (wall) | median latency (ticks) | p99 latency (ticks) | messages/proposal |\n");
  std::printf("|---:|---|---:|---:|---:|---:|---:|---:|\n");
  for (int nodes : {3, 5}) {
    for (int per_step : {4, 64}) {
      for (bool batching : {true, false}) {
        BenchOptions b;
        b.nodes = nodes;
        b.batching = batching;
        b.proposals = proposals;
        b.proposals_per_step = per_step;
        BenchResult r = RunBenchmark(b);
        std::printf("| %d | %s | %d | %llu | %.0f | %.1f | %.1f | %.2f |\n", nodes, batching ? "on" : "off", per_step * 10,
                    static_cast<unsigned long long>(r.committed), r.proposals_per_second, r.median_latency_ticks,
                    r.p99_latency_ticks, r.committed ? static_cast<double>(r.messages) / static_cast<double>(r.committed) : 0.0);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

}  // namespace

// Parses "S1,S2,..." (nonempty, decimal seeds).
bool ParseList(const char* s, std::vector<uint64_t>* out) {
  std::string item;
  for (const char* p = s;; ++p) {
    if (*p == ',' || *p == '\0') {
      uint64_t v = 0;
      if (!ParseU64(item.c_str(), &v)) return false;
      out->push_back(v);
      item.clear();
      if (*p == '\0') return true;
    } else {
      item += *p;
    }
  }
}

int main(int argc, char** argv) {
  uint64_t seeds = 1, first = 1, steps = 3000, proposals = 20000;
  std::vector<uint64_t> list;
  bool single = false, trace = false, bench = false, faults = true, membership = true, inject = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](uint64_t* out) {
      if (i + 1 >= argc || !ParseU64(argv[i + 1], out)) {
        std::fprintf(stderr, "raft-sim: %s needs a number\n", a.c_str());
        Usage();
        std::exit(2);
      }
      ++i;
    };
    if (a == "--seeds") {
      value(&seeds);
    } else if (a == "--list") {
      if (i + 1 >= argc || !ParseList(argv[i + 1], &list)) {
        std::fprintf(stderr, "raft-sim: --list needs seeds such as 51672,200003\n");
        Usage();
        return 2;
      }
      ++i;
    } else if (a == "--first") {
      value(&first);
    } else if (a == "--seed") {
      value(&first);
      seeds = 1;
      single = true;
    } else if (a == "--steps") {
      value(&steps);
    } else if (a == "--proposals") {
      value(&proposals);
    } else if (a == "--trace") {
      trace = true;
    } else if (a == "--bench") {
      bench = true;
    } else if (a == "--no-faults") {
      faults = false;
    } else if (a == "--no-membership") {
      membership = false;
    } else if (a == "--inject-local-reads") {
      inject = true;
    } else {
      std::fprintf(stderr, "raft-sim: unknown argument %s\n", a.c_str());
      Usage();
      return 2;
    }
  }
  if (bench) return Bench(proposals);
  auto t0 = std::chrono::steady_clock::now();
  uint64_t failed = 0, writes = 0, reads = 0, crashes = 0, partitions = 0, confs = 0, transfers = 0, snaps = 0,
           leaders = 0, inconclusive = 0, timeouts = 0;
  if (list.empty()) {
    for (uint64_t s = first; s < first + seeds; ++s) list.push_back(s);
  } else {
    seeds = list.size();
  }
  for (size_t k = 0; k < list.size(); ++k) {
    const uint64_t s = list[k];
    SimOptions o;
    o.seed = s;
    o.steps = steps;
    o.trace = trace;
    o.faults = faults;
    o.membership = membership;
    o.inject_local_reads = inject;
    SimResult r = RunSimulation(o);
    writes += r.stats.writes_ok;
    reads += r.stats.reads_ok;
    crashes += r.stats.crashes;
    partitions += r.stats.partitions;
    confs += r.stats.conf_changes;
    transfers += r.stats.transfers;
    snaps += r.stats.snapshots_installed;
    leaders += r.stats.leaders;
    inconclusive += r.stats.lin_keys_inconclusive;
    timeouts += r.stats.ops_timed_out;
    if (single) {
      std::printf("seed %llu: %s\n  config: %s\n  commit=%llu writes=%llu reads=%llu timeouts=%llu leaders=%llu crashes=%llu "
                  "partitions=%llu conf_changes=%llu transfers=%llu snapshots=%llu messages=%llu\n",
                  static_cast<unsigned long long>(s), r.ok ? "OK" : "FAILED", r.config.c_str(),
                  static_cast<unsigned long long>(r.stats.committed_index), static_cast<unsigned long long>(r.stats.writes_ok),
                  static_cast<unsigned long long>(r.stats.reads_ok), static_cast<unsigned long long>(r.stats.ops_timed_out),
                  static_cast<unsigned long long>(r.stats.leaders), static_cast<unsigned long long>(r.stats.crashes),
                  static_cast<unsigned long long>(r.stats.partitions), static_cast<unsigned long long>(r.stats.conf_changes),
                  static_cast<unsigned long long>(r.stats.transfers), static_cast<unsigned long long>(r.stats.snapshots_installed),
                  static_cast<unsigned long long>(r.stats.messages));
    }
    if (!single && (k + 1) % 1000 == 0) {
      std::fprintf(stderr, "raft-sim: %llu/%llu seeds done, %llu failed\n", static_cast<unsigned long long>(k + 1),
                   static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(failed + !r.ok));
    }
    if (!r.ok) {
      ++failed;
      std::printf("FAILED seed %llu: %s\n  config: %s\n--- last events ---\n%s--- reproduce: raft-sim --seed %llu --steps %llu --trace\n",
                  static_cast<unsigned long long>(s), r.failure.c_str(), r.config.c_str(), r.trace_tail.c_str(),
                  static_cast<unsigned long long>(s), static_cast<unsigned long long>(steps));
      std::fflush(stdout);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("raft-sim: %llu seeds x %llu steps: %llu failed, %llu passed in %.1fs (writes=%llu reads=%llu timeouts=%llu "
              "leaders=%llu crashes=%llu partitions=%llu conf_changes=%llu transfers=%llu snapshots=%llu "
              "lin_inconclusive_keys=%llu)\n",
              static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(steps),
              static_cast<unsigned long long>(failed), static_cast<unsigned long long>(seeds - failed), secs,
              static_cast<unsigned long long>(writes), static_cast<unsigned long long>(reads),
              static_cast<unsigned long long>(timeouts), static_cast<unsigned long long>(leaders),
              static_cast<unsigned long long>(crashes), static_cast<unsigned long long>(partitions),
              static_cast<unsigned long long>(confs), static_cast<unsigned long long>(transfers),
              static_cast<unsigned long long>(snaps), static_cast<unsigned long long>(inconclusive));
  return failed ? 1 : 0;
}
