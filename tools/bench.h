// `vectron bench search` and `vectron bench filtered`: recall@k and QPS through the
// public Collection API, against raw hnswlib with the same parameters on the same data,
// in the same process.
#pragma once

#include <string>
#include <vector>

#include "vectron/options.h"
#include "vectron/types.h"

namespace vectron::tools {

struct BenchOptions {
  std::string dataset_dir;       // holds base.fvecs, query.fvecs, groundtruth.ivecs
  std::string metric = "l2";
  uint32_t m = HnswParams{}.m;
  uint32_t ef_construction = HnswParams{}.ef_construction;
  std::string quantization = "none";  // Vectron's collection: none | sq8
  std::vector<int> efs = {16, 32, 64, 128, 256};
  int k = SearchParams{}.k;
  unsigned threads = 1;
  bool json = false;
  size_t max_base = 0;           // 0 = all
  size_t max_queries = 0;        // 0 = all
  size_t batch = 1000;           // import batch size
  int repeats = 3;               // best of N timed passes per ef
  std::string db_dir;            // empty = a temp dir, removed afterwards
  Durability durability = Durability::kFull;
  bool reference = true;         // also run raw hnswlib
  // Filtered mode (`bench filtered --selectivity`): each point gets integer fields "u" (bucket of
  // a random rank: uncorrelated with the vector) and "c" (bucket of its rank along a
  // random direction: correlated), 0..999, with payload indexes; a filter
  // {"u": {"$lt": s*1000}} passes exactly share s. Recall is against an exact filtered
  // ground truth computed here by brute force.
  std::vector<double> selectivities;
  std::vector<std::string> correlations = {"uncorrelated", "correlated"};
  FilterStrategy filter_strategy = FilterStrategy::kAuto;
  // `bench search --exact-batch`: exact search of all queries, through
  // Collection::SearchBatch (one pass over the vectors per block of queries) and as one
  // exact Collection::Search per query (on the same threads), QPS of each and the ratio.
  bool exact_batch = false;
};

// Runs the benchmark and prints a table (or JSON lines). Returns a process exit code.
int RunBench(const BenchOptions& options);

}  // namespace vectron::tools
