// `vectron bench serve`: search QPS and latency of one dataset through the embedded API,
// over HTTP/JSON and over the binary RPC, in one process on loopback, with the same
// number of concurrent clients for each (figures in docs/benchmarks.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vectron/options.h"
#include "vectron/types.h"

namespace vectron::tools {

struct ServeBenchOptions {
  std::string dataset_dir;  // holds base.fvecs, query.fvecs, groundtruth.ivecs
  std::string db_dir;       // Kept and reused across runs; empty = a temp dir, removed.
  std::string metric;       // Empty: cosine if the dataset's name says "angular", else l2.
  size_t max_base = 0;      // 0 = all; else a subset, exact ground truth recomputed.
  size_t max_queries = 0;   // 0 = all.
  uint32_t m = HnswParams{}.m;
  uint32_t ef_construction = HnswParams{}.ef_construction;
  // Candidate ef values, ascending: the first whose recall@k reaches target_recall is used.
  std::string efs = "16,32,64,128,256,512";
  double target_recall = 0.95;
  int k = SearchParams{}.k;
  std::string clients = "1,2";  // Concurrent client connections, a list.
  int rounds = 3;               // Rounds of (embedded, HTTP, RPC); medians are reported.
  double seconds = 4;           // Timed seconds per mode and round.
  // Also measure HTTP and RPC with auth on: a second server on a backup of the database,
  // each query sent to both (paired), and the in-process cost of a token check.
  bool auth = false;
  bool inline_reads = true;  // ServeOptions::inline_reads of the server measured.
  unsigned busy_poll_us = 100;  // ServeOptions::busy_poll_us of the server measured.
  // The HTTP and RPC clients' own polling for each reply (BlockingSocket::SetBusyPoll).
  unsigned client_busy_poll_us = 0;
};

// Builds (or reuses) the collection, picks the ef, measures the three modes in
// alternating rounds and prints a Markdown table. Returns a process exit code.
int RunServeBench(const ServeBenchOptions& options);

}  // namespace vectron::tools
