// Durability benchmarks behind `vectron bench reopen`, `bench concurrent` and
// `bench compact` (figures in docs/durability.md). Each prints one JSON object per
// measurement.
#pragma once

#include <cstdint>
#include <string>

#include "vectron/options.h"

namespace vectron::tools {

struct DurabilityBenchOptions {
  uint64_t n = 1000000;          // points
  uint32_t dim = 128;
  uint32_t m = HnswParams{}.m;
  uint32_t ef_construction = 100;  // Below the library's default: a faster build.
  unsigned threads = 0;          // 0 = hardware threads
  uint64_t tail = 10000;         // points written after the checkpoint (reopen bench)
  uint64_t queries = 2000;       // searches per phase (concurrent bench)
  double delete_fraction = 0.9;  // compaction bench
  std::string db_dir;            // empty = a temp dir, removed afterwards
  std::string quantization = "none";  // the collection's: none | sq8
};

// Imports n random vectors, then times: reopen from the checkpoint, reopen from the
// checkpoint plus `tail` later writes, and a full rebuild (checkpoint removed).
int RunReopenBench(const DurabilityBenchOptions& options);
// Search latency p50/p99/max without and with a concurrent writer thread.
int RunConcurrentBench(const DurabilityBenchOptions& options);
// RSS and disk before and after deleting delete_fraction of the points and compacting.
int RunCompactBench(const DurabilityBenchOptions& options);

}  // namespace vectron::tools
