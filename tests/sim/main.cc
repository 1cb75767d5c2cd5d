// cluster-sim: runs the one-process cluster simulation (tests/sim/cluster_sim.h).
//
//   cluster-sim --seeds N [--first S] [--steps M]   seeds S..S+N-1 (default S = 1)
//   cluster-sim --list S1,S2,... [--steps M]        the listed seeds
//   cluster-sim --seed S [--steps M] [--trace]      replay one seed, printing every event
//   VECTRON_SIM_SEED=S cluster-sim                  the same as --seed S
//
// Each failing seed prints "VECTRON_SIM_SEED=S", the failure, the configuration and the last
// events. Exits 1 if any seed fails.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tests/sim/cluster_sim.h"

using vectron::net::cluster::sim::ClusterSimOptions;
using vectron::net::cluster::sim::ClusterSimResult;
using vectron::net::cluster::sim::RunClusterSimulation;

namespace {

bool ParseU64(const char* s, uint64_t* out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (!s[0] || *end) return false;
  *out = v;
  return true;
}

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

void Usage() {
  std::fprintf(stderr,
               "usage: cluster-sim --seeds N [--first S] [--steps M] [--no-faults] [--no-broadcasts]\n"
               "                   [--hibernate-after-ticks T]\n"
               "       cluster-sim --list S1,S2,... [--steps M] [--no-broadcasts]\n"
               "       cluster-sim --seed S [--steps M] [--trace]\n");
}

}  // namespace

int main(int argc, char** argv) {
  ClusterSimOptions base;
  uint64_t seeds = 0, first = 1;
  std::vector<uint64_t> list;
  if (const char* env = std::getenv("VECTRON_SIM_SEED")) {
    uint64_t s = 0;
    if (ParseU64(env, &s)) list.push_back(s);
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](uint64_t* v) {
      if (i + 1 >= argc || !ParseU64(argv[i + 1], v)) {
        Usage();
        std::exit(2);
      }
      ++i;
    };
    if (a == "--seeds") next(&seeds);
    else if (a == "--first") next(&first);
    else if (a == "--steps") next(&base.steps);
    else if (a == "--trace") base.trace = true;
    else if (a == "--no-faults") base.faults = false;
    else if (a == "--no-broadcasts") base.broadcasts = false;
    else if (a == "--hibernate-after-ticks") {
      uint64_t t = 0;
      next(&t);
      base.hibernate_after_ticks = static_cast<int64_t>(t);
    }
    else if (a == "--seed") {
      uint64_t s = 0;
      next(&s);
      list.push_back(s);
    } else if (a == "--list") {
      if (i + 1 >= argc || !ParseList(argv[++i], &list)) {
        Usage();
        return 2;
      }
    } else {
      Usage();
      return 2;
    }
  }
  for (uint64_t s = first; s < first + seeds; ++s) list.push_back(s);
  if (list.empty()) {
    Usage();
    return 2;
  }
  auto t0 = std::chrono::steady_clock::now();
  uint64_t failed = 0, writes = 0, unknown = 0, reads = 0, crashes = 0, pd_crashes = 0, crash_points = 0,
           partitions = 0, leaders = 0, checks = 0, inconclusive = 0, snapshots = 0, forwarded = 0, transfers = 0, ratings = 0, rejected = 0,
           cache_hits = 0, cache_misses = 0, lost = 0, outages = 0, conf_changes = 0, planned = 0, moves_done = 0, repairs = 0,
           settle = 0, recreated = 0, deletes_where = 0, hib_seeds = 0, hibernations = 0, hib_wakes = 0, splits = 0, splits_nested = 0,
           graph_seeds = 0, graph_splits = 0, reads_silent = 0, pauses = 0, pause_seeds = 0, split_pauses = 0, early_reads = 0, two_gw = 0, inlined = 0;
  for (size_t n = 0; n < list.size(); ++n) {
    ClusterSimOptions o = base;
    o.seed = list[n];
    ClusterSimResult r = RunClusterSimulation(o);
    writes += r.stats.writes_ok;
    unknown += r.stats.writes_unknown;
    reads += r.stats.reads_ok;
    crashes += r.stats.worker_crashes;
    pd_crashes += r.stats.pd_crashes;
    crash_points += r.stats.crash_points;
    partitions += r.stats.partitions;
    leaders += r.stats.leaders;
    checks += r.stats.replica_checks;
    inconclusive += r.stats.lin_keys_inconclusive;
    snapshots += r.stats.shard_snapshots;
    forwarded += r.stats.snapshots_forwarded;
    transfers += r.stats.leader_transfers;
    reads_silent += r.stats.reads_leader_silent;
    pauses += r.stats.pauses;
    pause_seeds += r.stats.pause_seeds;
    ratings += r.stats.ratings_ok;
    rejected += r.stats.ratings_rejected;
    deletes_where += r.stats.deletes_where_ok;
    cache_hits += r.stats.search_cache_hits;
    cache_misses += r.stats.search_cache_misses;
    lost += r.stats.workers_lost;
    outages += r.stats.long_outages;
    conf_changes += r.stats.conf_changes;
    planned += r.stats.moves_planned;
    moves_done += r.stats.moves_done;
    repairs += r.stats.repairs;
    settle += r.stats.settle_steps;
    recreated += r.stats.replicas_recreated;
    hib_seeds += r.stats.hibernating_seeds;
    hibernations += r.stats.hibernations;
    hib_wakes += r.stats.hibernation_wakes;
    splits += r.stats.splits;
    splits_nested += r.stats.splits_nested;
    graph_seeds += r.stats.graph_seeds;
    graph_splits += r.stats.graph_splits;
    split_pauses += r.stats.split_apply_pauses;
    two_gw += r.stats.two_gateway_seeds;
    early_reads += r.stats.reads_served_early;
    inlined += r.stats.reads_inlined;
    if (!r.ok) {
      ++failed;
      std::printf("VECTRON_SIM_SEED=%llu FAILED: %s\nconfig: %s\nlast events:\n%s\n",
                  static_cast<unsigned long long>(o.seed), r.failure.c_str(), r.config.c_str(), r.trace_tail.c_str());
      std::fflush(stdout);
    }
    if ((n + 1) % 100 == 0) {
      std::fprintf(stderr, "cluster-sim: %zu/%zu seeds, %llu failed\n", n + 1, list.size(),
                   static_cast<unsigned long long>(failed));
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "cluster-sim: %zu seeds x %llu steps: %llu failed, %llu passed in %.1fs (writes=%llu unknown=%llu reads=%llu "
      "worker_crashes=%llu pd_crashes=%llu crash_points=%llu partitions=%llu leaders=%llu replica_checks=%llu "
      "lin_inconclusive_keys=%llu reads_leader_silent=%llu shard_snapshots=%llu (forwarded %llu) leader_transfers=%llu ratings=%llu ratings_rejected=%llu "
      "deletes_where=%llu "
      "search_cache_hits=%llu search_cache_misses=%llu workers_lost=%llu long_outages=%llu conf_changes=%llu moves_planned=%llu "
      "moves_done=%llu repairs=%llu splits=%llu splits_nested=%llu settle_steps=%llu replicas_recreated=%llu)\n",
      list.size(), static_cast<unsigned long long>(base.steps), static_cast<unsigned long long>(failed),
      static_cast<unsigned long long>(list.size() - failed), secs, static_cast<unsigned long long>(writes),
      static_cast<unsigned long long>(unknown), static_cast<unsigned long long>(reads),
      static_cast<unsigned long long>(crashes), static_cast<unsigned long long>(pd_crashes),
      static_cast<unsigned long long>(crash_points), static_cast<unsigned long long>(partitions),
      static_cast<unsigned long long>(leaders), static_cast<unsigned long long>(checks),
      static_cast<unsigned long long>(inconclusive), static_cast<unsigned long long>(reads_silent),
      static_cast<unsigned long long>(snapshots),
      static_cast<unsigned long long>(forwarded),
      static_cast<unsigned long long>(transfers), static_cast<unsigned long long>(ratings),
      static_cast<unsigned long long>(rejected), static_cast<unsigned long long>(deletes_where),
      static_cast<unsigned long long>(cache_hits),
      static_cast<unsigned long long>(cache_misses), static_cast<unsigned long long>(lost), static_cast<unsigned long long>(outages),
      static_cast<unsigned long long>(conf_changes), static_cast<unsigned long long>(planned),
      static_cast<unsigned long long>(moves_done), static_cast<unsigned long long>(repairs),
      static_cast<unsigned long long>(splits), static_cast<unsigned long long>(splits_nested),
      static_cast<unsigned long long>(settle), static_cast<unsigned long long>(recreated));
  std::printf("cluster-sim: hibernation on in %llu of %zu seeds: %llu group hibernations, %llu wakes by node liveness\n",
              static_cast<unsigned long long>(hib_seeds), list.size(), static_cast<unsigned long long>(hibernations),
              static_cast<unsigned long long>(hib_wakes));
  std::printf("cluster-sim: graph shards in %llu of %zu seeds: %llu splits of graph shards\n",
              static_cast<unsigned long long>(graph_seeds), list.size(), static_cast<unsigned long long>(graph_splits));
  std::printf("cluster-sim: worker pauses in %llu of %zu seeds: %llu pauses\n", static_cast<unsigned long long>(pause_seeds),
              list.size(), static_cast<unsigned long long>(pauses));
  std::printf("cluster-sim: %llu split applies run on from inside; %llu reads served during them; two gateways in %llu of %zu seeds\n",
              static_cast<unsigned long long>(split_pauses), static_cast<unsigned long long>(early_reads),
              static_cast<unsigned long long>(two_gw), list.size());
  std::printf("cluster-sim: %llu reads run on a worker's loop (lone and light)\n", static_cast<unsigned long long>(inlined));
  return failed ? 1 : 0;
}
