// Subcommands that read and write points: import, search, count. Each acts on a
// database directory (--db) or on a server (--url, --token, --ca): see target.h.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "datasets.h"
#include "target.h"

namespace vectron::tools {
namespace {

// ------------------------------------------------------------------ import

struct ImportOptions {
  TargetOptions target;
  std::string name;
  std::string file;
  std::string format;     // Empty: by extension.
  std::string id_prefix;  // Ids of fvecs/npy rows: <prefix><row>.
  size_t batch = 1000;
  bool create = false;
  std::string metric = std::string(MetricName(CollectionConfig{}.metric));
};

void AddImport(CLI::App* cmd, ImportOptions& o) {
  AddTargetOptions(cmd, &o.target);
  cmd->add_option("name", o.name, "Collection name")->required();
  cmd->add_option("file", o.file, "Input file")->required();
  cmd->add_option("--format", o.format, "fvecs, npy or jsonl (default: by extension)");
  cmd->add_option("--id-prefix", o.id_prefix, "Prefix for row-number ids (fvecs, npy)");
  cmd->add_option("--batch", o.batch, "Points per atomic batch")->capture_default_str();
  o.target.durability = DefaultDurabilityName();
  cmd->add_option("--durability", o.target.durability, "full, nometasync or nosync (bulk; --db only)")
      ->capture_default_str();
  cmd->add_flag("--create", o.create, "Create the collection if missing (dimension from the file)");
  cmd->add_option("--metric", o.metric, "Metric when creating")->capture_default_str();
}

int RunImport(const ImportOptions& o) {
  auto src = OpenPointSource(o.file, o.format, o.id_prefix);
  if (!src.ok()) return Fail(src.status());
  auto target = OpenTarget(o.target);
  if (!target.ok()) return Fail(target.status());
  Target& t = **target;
  WriteBatch batch;
  auto first = (*src)->Next(batch, o.batch);
  if (!first.ok()) return Fail(first.status());
  if (auto info = t.Describe(o.name); !info.ok()) {
    if (!info.status().IsNotFound() || !o.create) return Fail(info.status());
    auto metric = ParseMetric(o.metric);
    if (!metric.ok()) return Fail(metric.status());
    CollectionConfig cfg;
    cfg.dim = (*src)->dim();
    cfg.metric = *metric;
    if (Status s = t.Create(o.name, cfg); !s.ok()) return Fail(s);
  }
  Progress& progress = CliProgress();
  uint64_t done = 0;
  const uint64_t total = (*src)->total();
  while (!batch.empty()) {
    if (Status s = t.Upsert(o.name, batch); !s.ok()) {
      progress.Finish();
      std::fprintf(stderr, "vectron: stopped after %llu points (every earlier batch is committed)\n",
                   static_cast<unsigned long long>(done));
      return Fail(s);
    }
    done += batch.size();
    if (!progress.Update("import " + o.name, done, total)) {
      progress.Finish();
      std::fprintf(stderr,
                   "vectron: interrupted after %llu points; they are committed, rerun to continue (upserts are "
                   "idempotent)\n",
                   static_cast<unsigned long long>(done));
      return 130;
    }
    batch.Clear();
    auto more = (*src)->Next(batch, o.batch);
    if (!more.ok()) {
      progress.Finish();
      std::fprintf(stderr, "vectron: stopped after %llu points (committed)\n", static_cast<unsigned long long>(done));
      return Fail(more.status());
    }
  }
  progress.Finish();
  if (Status s = t.Sync(); !s.ok()) return Fail(s);
  std::printf("imported %llu points into %s\n", static_cast<unsigned long long>(done), o.name.c_str());
  return 0;
}

// ------------------------------------------------------------------ search

struct SearchOptions {
  TargetOptions target;
  std::string name;
  std::string vector;      // JSON array.
  std::string query_file;  // ... or an fvecs file and a row of it.
  size_t row = 0;
  SearchParams params;     // k, ef, exact, include_*, where: SearchParams' defaults.
  bool json = false;
};

void AddSearch(CLI::App* cmd, SearchOptions& o) {
  AddTargetOptions(cmd, &o.target);
  cmd->add_option("name", o.name, "Collection name")->required();
  auto* vector = cmd->add_option("--vector", o.vector, "Query as a JSON array");
  cmd->add_option("--query-file", o.query_file, "fvecs file holding the query")->excludes(vector);
  cmd->add_option("--row", o.row, "Row of --query-file")->capture_default_str();
  cmd->add_option("-k,--k", o.params.k, "Number of hits")->capture_default_str();
  cmd->add_option("--ef", o.params.ef, "Beam width (0 = collection default)")->capture_default_str();
  cmd->add_flag("--metadata", o.params.include_metadata, "Include metadata");
  cmd->add_flag("--vectors", o.params.include_vector, "Include vectors");
  cmd->add_flag("--exact", o.params.exact, "Brute-force search");
  cmd->add_flag("--json", o.json, "Print JSON");
  cmd->add_option("--where", o.params.where, "Metadata filter, JSON (see docs/filter.md)");
}

Result<std::vector<float>> QueryVector(const SearchOptions& o) {
  if (!o.query_file.empty()) {
    VECTRON_ASSIGN_OR_RETURN(Matrix m, ReadFvecs(o.query_file, o.row + 1));
    if (m.rows <= o.row) return Status::InvalidArgument("--row is past the end of the file");
    return std::vector<float>(m.data.begin() + o.row * m.dim, m.data.begin() + (o.row + 1) * m.dim);
  }
  if (!o.vector.empty()) return ParseVector(o.vector);
  return Status::InvalidArgument("give --vector or --query-file");
}

void PrintHits(const std::vector<Hit>& hits, const SearchParams& p, bool json) {
  if (!json) {
    for (auto& h : hits)
      std::printf("%-24s %.6f%s%s\n", h.id.c_str(), h.score, p.include_metadata ? "  " : "",
                  p.include_metadata ? h.metadata.c_str() : "");
    return;
  }
  nlohmann::json out = nlohmann::json::array();
  for (auto& h : hits) {
    nlohmann::json j = {{"id", h.id}, {"score", h.score}};
    if (p.include_metadata)
      j["metadata"] = h.metadata.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(h.metadata);
    if (p.include_vector) j["vector"] = h.vector;
    out.push_back(j);
  }
  std::printf("%s\n", out.dump().c_str());
}

int RunSearch(const SearchOptions& o) {
  auto q = QueryVector(o);
  if (!q.ok()) return Fail(q.status());
  auto target = OpenTarget(o.target);
  if (!target.ok()) return Fail(target.status());
  auto hits = (*target)->Search(o.name, *q, o.params);
  if (!hits.ok()) return Fail(hits.status());
  PrintHits(*hits, o.params, o.json);
  return 0;
}

// ------------------------------------------------------------------ count

struct CountOptions {
  TargetOptions target;
  std::string name;
  std::string where;
};

void AddCount(CLI::App* cmd, CountOptions& o) {
  AddTargetOptions(cmd, &o.target);
  cmd->add_option("name", o.name, "Collection name")->required();
  cmd->add_option("--where", o.where, "Metadata filter, JSON (see docs/filter.md)");
}

int RunCount(const CountOptions& o) {
  auto target = OpenTarget(o.target);
  if (!target.ok()) return Fail(target.status());
  auto n = (*target)->Count(o.name, o.where);
  if (!n.ok()) return Fail(n.status());
  std::printf("%llu\n", static_cast<unsigned long long>(*n));
  return 0;
}

}  // namespace

void AddPointCommands(CLI::App& app, Commands& out) {
  AddCommand<ImportOptions>(app, out, "import", "Import vectors from fvecs, npy or JSONL", AddImport, RunImport);
  AddCommand<SearchOptions>(app, out, "search", "Search a collection", AddSearch, RunSearch);
  AddCommand<CountOptions>(app, out, "count", "Count the points of a collection, optionally those matching --where",
                           AddCount, RunCount);
}

}  // namespace vectron::tools
