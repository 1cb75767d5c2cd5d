// `vectron bench ...`: the developer benchmarks, one subcommand each.
//   search      recall and QPS vs raw hnswlib on a dataset (bench.h)
//   filtered    the same with filters of given selectivity (bench.h)
//   reopen      reopen time from the checkpoint vs a full rebuild (durability_bench.h)
//   concurrent  search latency with and without a concurrent writer (durability_bench.h)
//   compact     memory and disk before/after deleting most points and compacting
//   serve       embedded vs HTTP vs RPC search QPS on loopback (serve_bench.h)
// A dataset is always --dataset DIR and a database directory always --db DIR.
#include <algorithm>
#include <sstream>
#include <thread>

#include "bench.h"
#include "cli.h"
#include "durability_bench.h"
#include "serve_bench.h"

namespace vectron::tools {
namespace {

// --dataset DIR (required). `--data`, which meant the dataset here before, is refused
// with a message naming the new spellings, so an old command line cannot silently use
// the dataset folder as a database directory.
void AddDatasetOption(CLI::App* cmd, std::string* dir) {
  cmd->add_option("--dataset", *dir, "Dataset dir (base.fvecs, query.fvecs, groundtruth.ivecs)")->required();
  cmd->add_option_function<std::string>(
         "--data",
         [](const std::string&) {
           throw CLI::ValidationError("--data", "renamed: give the dataset as --dataset DIR (and a database "
                                                "directory to keep as --db DIR)");
         },
         "Old spelling")
      ->group("");
}

// ------------------------------------------------------------------ search, filtered

struct SearchBenchOptions {
  BenchOptions bench;
  std::string efs = "16,32,64,128,256";
  std::string durability = DefaultDurabilityName();
  // bench filtered only:
  std::string selectivities, correlations = "uncorrelated,correlated";
  std::string strategy = FilterStrategyName(BenchOptions{}.filter_strategy);
};

void AddSearchBenchOptions(CLI::App* cmd, SearchBenchOptions& o) {
  BenchOptions& bo = o.bench;
  AddDatasetOption(cmd, &bo.dataset_dir);
  cmd->add_option("--metric", bo.metric, "l2, cosine or ip")->capture_default_str();
  cmd->add_option("--M", bo.m, "HNSW M")->capture_default_str();
  cmd->add_option("--ef-construction", bo.ef_construction, "HNSW ef_construction")->capture_default_str();
  cmd->add_option("--quantization", bo.quantization, "Vectron's collection: none or sq8")->capture_default_str();
  cmd->add_option("--ef", o.efs, "Comma-separated ef values")->capture_default_str();
  cmd->add_option("--k", bo.k, "k")->capture_default_str();
  cmd->add_option("--threads", bo.threads, "Threads for build and search (0 = all)")->capture_default_str();
  cmd->add_option("--max-queries", bo.max_queries, "Use only the first N queries");
  cmd->add_option("--repeats", bo.repeats, "Timed passes per ef (best is kept)")->capture_default_str();
  cmd->add_option("--batch", bo.batch, "Import batch size")->capture_default_str();
  cmd->add_option("--db", bo.db_dir, "Keep the database here instead of a temp dir");
  cmd->add_option("--durability", o.durability, "full, nometasync or nosync")->capture_default_str();
  cmd->add_flag("--json", bo.json, "One JSON object per line");
}

void AddSearchBench(CLI::App* cmd, SearchBenchOptions& o) {
  AddSearchBenchOptions(cmd, o);
  cmd->add_flag("--exact-batch", o.bench.exact_batch,
                "Exact search: all queries in one batch (one pass) vs one exact search per query");
}

void AddFilteredBench(CLI::App* cmd, SearchBenchOptions& o) {
  AddSearchBenchOptions(cmd, o);
  cmd->add_option("--selectivity", o.selectivities,
                  "Comma-separated shares of points passing the filter, e.g. 0.5,0.1,0.01,0.001")
      ->required();
  cmd->add_option("--correlation", o.correlations, "uncorrelated, correlated or both (comma-separated)")
      ->capture_default_str();
  cmd->add_option("--strategy", o.strategy, "auto, exact, graph or post_filter")->capture_default_str();
  cmd->add_option("--max-base", o.bench.max_base, "Use only the first N base vectors");
}

// The options of `bench filtered` into `bo`. Errors: InvalidArgument naming the option.
Status ParseFilteredOptions(const SearchBenchOptions& o, BenchOptions* bo) {
  VECTRON_ASSIGN_OR_RETURN(bo->selectivities, ParseNumberList(o.selectivities, "--selectivity"));
  for (double v : bo->selectivities) {
    if (!(v >= 0.001 && v <= 1))
      return Status::InvalidArgument("--selectivity takes shares in [0.001, 1], got " + std::to_string(v));
  }
  bo->correlations.clear();
  std::stringstream cs(o.correlations);
  for (std::string part; std::getline(cs, part, ',');) {
    if (part != "uncorrelated" && part != "correlated")
      return Status::InvalidArgument("--correlation takes uncorrelated or correlated, got \"" + part + "\"");
    bo->correlations.push_back(part);
  }
  bo->reference = false;
  auto strategy = ParseFilterStrategy(o.strategy);
  if (!strategy.ok()) return strategy.status().WithContext("--strategy");
  bo->filter_strategy = *strategy;
  return Status::OK();
}

int RunSearchBenchWith(const SearchBenchOptions& o, bool filtered) {
  BenchOptions bo = o.bench;
  auto durability = ParseDurabilityOption(o.durability);
  if (!durability.ok()) return Fail(durability.status());
  bo.durability = *durability;
  auto efs = ParseIntList(o.efs, "--ef");
  if (!efs.ok()) return Fail(efs.status());
  bo.efs = *efs;
  if (filtered) {
    if (Status s = ParseFilteredOptions(o, &bo); !s.ok()) return Fail(s);
  }
  if (bo.threads == 0) bo.threads = std::max(1u, std::thread::hardware_concurrency());
  return RunBench(bo);
}

int RunSearchBench(const SearchBenchOptions& o) { return RunSearchBenchWith(o, false); }
int RunFilteredBench(const SearchBenchOptions& o) { return RunSearchBenchWith(o, true); }

// ------------------------------------------------------------------ reopen, concurrent, compact

void AddDurabilityBenchOptions(CLI::App* cmd, DurabilityBenchOptions& o) {
  cmd->add_option("--n", o.n, "Points")->capture_default_str();
  cmd->add_option("--dim", o.dim, "Dimension")->capture_default_str();
  cmd->add_option("--M", o.m, "HNSW M")->capture_default_str();
  cmd->add_option("--ef-construction", o.ef_construction, "HNSW ef_construction")->capture_default_str();
  cmd->add_option("--threads", o.threads, "Threads (0 = all)")->capture_default_str();
  cmd->add_option("--db", o.db_dir, "Keep the database here (a new directory) instead of a temp dir");
  cmd->add_option("--quantization", o.quantization, "The collection's: none or sq8")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "sq8"}));
}

void AddReopenBench(CLI::App* cmd, DurabilityBenchOptions& o) {
  AddDurabilityBenchOptions(cmd, o);
  cmd->add_option("--tail", o.tail, "Points written after the checkpoint")->capture_default_str();
}

void AddConcurrentBench(CLI::App* cmd, DurabilityBenchOptions& o) {
  AddDurabilityBenchOptions(cmd, o);
  cmd->add_option("--queries", o.queries, "Searches per phase")->capture_default_str();
}

void AddCompactBench(CLI::App* cmd, DurabilityBenchOptions& o) {
  AddDurabilityBenchOptions(cmd, o);
  cmd->add_option("--delete-fraction", o.delete_fraction, "Share of points deleted")->capture_default_str();
}

// ------------------------------------------------------------------ serve

void AddServeBench(CLI::App* cmd, ServeBenchOptions& o) {
  // A later option wins, so scripts/bench-serve.sh's defaults can be overridden.
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  AddDatasetOption(cmd, &o.dataset_dir);
  cmd->add_option("--db", o.db_dir, "Database dir to keep and reuse across runs (default: a temp dir, removed)");
  cmd->add_option("--metric", o.metric, "l2, cosine or ip (default: from the directory name)");
  cmd->add_option("--max-base", o.max_base, "Use only the first N base vectors (exact ground truth recomputed)");
  cmd->add_option("--max-queries", o.max_queries, "Use only the first N queries");
  cmd->add_option("--M", o.m, "HNSW M")->capture_default_str();
  cmd->add_option("--ef-construction", o.ef_construction, "HNSW ef_construction")->capture_default_str();
  cmd->add_option("--ef", o.efs, "Candidate ef values, ascending: the first reaching --target-recall is used")
      ->capture_default_str();
  cmd->add_option("--target-recall", o.target_recall, "recall@k the ef must reach")->capture_default_str();
  cmd->add_option("--k", o.k, "k")->capture_default_str();
  cmd->add_option("--clients", o.clients, "Concurrent client connections, a list")->capture_default_str();
  cmd->add_option("--rounds", o.rounds, "Rounds of (embedded, HTTP, RPC); medians are reported")
      ->capture_default_str();
  cmd->add_option("--seconds", o.seconds, "Timed seconds per mode and round")->capture_default_str();
  cmd->add_flag("--auth", o.auth, "Also measure HTTP and RPC with auth on (a second server on a copy)");
  cmd->add_flag("!--no-inline-reads", o.inline_reads,
                "Serve every request through the worker pool (as `vectron serve --no-inline-reads`)");
  cmd->add_option("--busy-poll-us", o.busy_poll_us, "The server's --busy-poll-us")->capture_default_str();
  cmd->add_option("--client-busy-poll-us", o.client_busy_poll_us,
                  "How long the HTTP and RPC clients poll for each reply before sleeping")
      ->capture_default_str();
}

}  // namespace

void AddBenchCommands(CLI::App& app, Commands& out) {
  CLI::App* bench = app.add_subcommand("bench", "Developer benchmarks (figures in docs/benchmarks.md)");
  bench->require_subcommand(1);
  AddCommand<SearchBenchOptions>(*bench, out, "search", "Recall and QPS vs raw hnswlib on an fvecs dataset",
                                 AddSearchBench, RunSearchBench);
  AddCommand<SearchBenchOptions>(*bench, out, "filtered",
                                 "Filtered search: recall and QPS per filter selectivity and correlation",
                                 AddFilteredBench, RunFilteredBench);
  AddCommand<DurabilityBenchOptions>(*bench, out, "reopen", "Reopen time from the checkpoint vs a full index rebuild",
                                     AddReopenBench, RunReopenBench);
  AddCommand<DurabilityBenchOptions>(*bench, out, "concurrent",
                                     "Search latency p50/p99 with and without a concurrent writer",
                                     AddConcurrentBench, RunConcurrentBench);
  AddCommand<DurabilityBenchOptions>(*bench, out, "compact",
                                     "RSS and disk before/after deleting most points and compacting", AddCompactBench,
                                     RunCompactBench);
  AddCommand<ServeBenchOptions>(*bench, out, "serve", "Search QPS: embedded vs HTTP vs RPC on loopback",
                                AddServeBench, RunServeBench);
}

}  // namespace vectron::tools
