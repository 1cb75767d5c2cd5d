// The `vectron` command-line tool: serve, create, import, search, count, index, info, list,
// drop, backup, audit, compact, bench and the durability benchmarks.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench.h"
#include "cluster_commands.h"
#include "net/server.h"
#include "datasets.h"
#include "durability_bench.h"
#include "progress.h"
#include "serve_admin.h"
#include "vectron/vectron.h"

using namespace vectron;
using namespace vectron::tools;

namespace {

int Fail(const Status& s) {
  std::fprintf(stderr, "vectron: %s\n", s.ToString().c_str());
  switch (s.code()) {
    case StatusCode::kInvalidArgument: return 2;
    case StatusCode::kNotFound: return 3;
    case StatusCode::kCancelled: return 130;
    default: return 1;
  }
}

Progress* g_progress = nullptr;

Result<std::unique_ptr<Database>> OpenDb(const std::string& dir, Durability durability = Durability::kFull) {
  DatabaseOptions o;
  o.durability = durability;
  o.progress = [](std::string_view stage, uint64_t done, uint64_t total) {
    return g_progress ? g_progress->Update(stage, done, total) : true;
  };
  return Database::Open(dir, o);
}

std::string FormatBytes(uint64_t b) {
  char buf[32];
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  std::snprintf(buf, sizeof(buf), u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

Result<std::vector<float>> ParseVector(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return Status::InvalidArgument("--vector must be a JSON array of numbers");
  std::vector<float> v;
  for (auto& x : j) {
    if (!x.is_number()) return Status::InvalidArgument("--vector must be a JSON array of numbers");
    v.push_back(x.get<float>());
  }
  return v;
}

Result<Durability> ParseDurability(const std::string& s) {
  if (s == "full") return Durability::kFull;
  if (s == "nometasync") return Durability::kNoMetaSync;
  if (s == "nosync") return Durability::kNoSync;
  return Status::InvalidArgument("--durability must be full, nometasync or nosync");
}

int RunCompact(const std::string& data_dir, const std::string& name, bool index_only, Progress& progress) {
  auto db = OpenDb(data_dir);
  if (!db.ok()) return Fail(db.status());
  std::vector<std::string> names;
  if (!name.empty()) names.push_back(name);
  else {
    auto all = (*db)->ListCollections();
    if (!all.ok()) return Fail(all.status());
    names = *all;
  }
  for (auto& n : names) {
    auto col = (*db)->GetCollection(n);
    if (!col.ok()) return Fail(col.status());
    auto before = (*col)->Stats();
    if (!before.ok()) return Fail(before.status());
    CompactOptions co;
    co.files = !index_only;
    Status s = (*col)->Compact(co);
    progress.Finish();
    if (!s.ok()) return Fail(s.WithContext("collection " + n));
    auto after = (*col)->Stats();
    if (!after.ok()) return Fail(after.status());
    std::printf("compacted %s: index %s -> %s, disk %s -> %s, deleted slots %llu -> %llu\n", n.c_str(),
                FormatBytes(before->index_memory_bytes).c_str(), FormatBytes(after->index_memory_bytes).c_str(),
                FormatBytes(before->disk_bytes).c_str(), FormatBytes(after->disk_bytes).c_str(),
                static_cast<unsigned long long>(before->deleted_slots),
                static_cast<unsigned long long>(after->deleted_slots));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vectron: an embedded vector database and its tools"};
  app.require_subcommand(1);
  app.set_version_flag("--version", VECTRON_VERSION);
  Progress progress;
  g_progress = &progress;
  InstallInterruptHandler();

  // create
  std::string data_dir = "./vectron-data", name, metric = "cosine";
  uint32_t dim = 0, m = 16, efc = 200, efs = 64, shards = 1;
  uint64_t flat_max = 10000;
  auto* create = app.add_subcommand("create", "Create a collection");
  create->add_option("--data", data_dir, "Database directory")->capture_default_str();
  create->add_option("name", name, "Collection name")->required();
  create->add_option("--dim", dim, "Vector dimension")->required();
  create->add_option("--metric", metric, "l2, cosine or ip")->capture_default_str();
  create->add_option("--M", m, "HNSW graph degree")->capture_default_str();
  create->add_option("--ef-construction", efc, "HNSW build beam width")->capture_default_str();
  create->add_option("--ef-search", efs, "Default search beam width")->capture_default_str();
  create->add_option("--shards", shards, "Shards (points hashed by id)")->capture_default_str();
  create->add_option("--flat-max-points", flat_max, "Exact search per shard up to this size")->capture_default_str();

  // import
  std::string file, format, id_prefix, durability = "full";
  size_t batch_size = 1000;
  bool create_missing = false;
  auto* import = app.add_subcommand("import", "Import vectors from fvecs, npy or JSONL");
  import->add_option("--data", data_dir, "Database directory")->capture_default_str();
  import->add_option("name", name, "Collection name")->required();
  import->add_option("file", file, "Input file")->required();
  import->add_option("--format", format, "fvecs, npy or jsonl (default: by extension)");
  import->add_option("--id-prefix", id_prefix, "Prefix for row-number ids (fvecs, npy)");
  import->add_option("--batch", batch_size, "Points per atomic batch")->capture_default_str();
  import->add_option("--durability", durability, "full, nometasync or nosync (bulk)")->capture_default_str();
  import->add_flag("--create", create_missing, "Create the collection if missing (dimension from the file)");
  import->add_option("--metric", metric, "Metric when creating")->capture_default_str();

  // search
  std::string vector_text, query_file;
  size_t query_row = 0;
  int k = 10, ef = 0;
  bool with_meta = false, with_vec = false, exact = false, as_json = false;
  auto* search = app.add_subcommand("search", "Search a collection");
  search->add_option("--data", data_dir, "Database directory")->capture_default_str();
  search->add_option("name", name, "Collection name")->required();
  auto* vopt = search->add_option("--vector", vector_text, "Query as a JSON array");
  search->add_option("--query-file", query_file, "fvecs file holding the query")->excludes(vopt);
  search->add_option("--row", query_row, "Row of --query-file")->capture_default_str();
  search->add_option("-k,--k", k, "Number of hits")->capture_default_str();
  search->add_option("--ef", ef, "Beam width (0 = collection default)")->capture_default_str();
  search->add_flag("--metadata", with_meta, "Include metadata");
  search->add_flag("--vectors", with_vec, "Include vectors");
  search->add_flag("--exact", exact, "Brute-force search");
  search->add_flag("--json", as_json, "Print JSON");
  std::string where;
  search->add_option("--where", where, "Metadata filter, JSON (see docs/filter.md)");

  // count, index
  auto* count = app.add_subcommand("count", "Count the points of a collection, optionally those matching --where");
  count->add_option("--data", data_dir, "Database directory")->capture_default_str();
  count->add_option("name", name, "Collection name")->required();
  count->add_option("--where", where, "Metadata filter, JSON (see docs/filter.md)");
  std::string field, field_type = "keyword";
  bool drop_index = false;
  auto* index = app.add_subcommand("index", "Create, drop or list payload indexes on metadata fields");
  index->add_option("--data", data_dir, "Database directory")->capture_default_str();
  index->add_option("name", name, "Collection name")->required();
  index->add_option("--field", field, "Dotted metadata field (omit to list the indexes)");
  index->add_option("--type", field_type, "keyword, integer, float or bool")->capture_default_str();
  index->add_flag("--drop", drop_index, "Drop the index on --field instead of creating it");

  auto* info = app.add_subcommand("info", "Show collections and their stats");
  info->add_option("--data", data_dir, "Database directory")->capture_default_str();
  info->add_option("name", name, "Collection (default: all)");
  info->add_flag("--json", as_json, "Print JSON");

  auto* drop = app.add_subcommand("drop", "Delete a collection and its files");
  drop->add_option("--data", data_dir, "Database directory")->capture_default_str();
  drop->add_option("name", name, "Collection name")->required();

  BenchOptions bo;
  std::string efs_text = "16,32,64,128,256", bench_durability = "full";
  auto* bench = app.add_subcommand("bench", "Recall and QPS vs raw hnswlib on an fvecs dataset");
  bench->add_option("--data", bo.data_dir, "Dataset dir (base.fvecs, query.fvecs, groundtruth.ivecs)")->required();
  bench->add_option("--metric", bo.metric, "l2, cosine or ip")->capture_default_str();
  bench->add_option("--M", bo.m, "HNSW M")->capture_default_str();
  bench->add_option("--ef-construction", bo.ef_construction, "HNSW ef_construction")->capture_default_str();
  bench->add_option("--ef", efs_text, "Comma-separated ef values")->capture_default_str();
  bench->add_option("--k", bo.k, "k")->capture_default_str();
  bench->add_option("--threads", bo.threads, "Threads for build and search (0 = all)")->capture_default_str();
  bench->add_option("--max-queries", bo.max_queries, "Use only the first N queries");
  bench->add_option("--repeats", bo.repeats, "Timed passes per ef (best is kept)")->capture_default_str();
  bench->add_option("--batch", bo.batch, "Import batch size")->capture_default_str();
  bench->add_option("--db", bo.db_dir, "Keep the database here instead of a temp dir");
  bench->add_option("--durability", bench_durability, "full, nometasync or nosync")->capture_default_str();
  bench->add_flag("--json", bo.json, "One JSON object per line");
  std::string sel_text, corr_text = "uncorrelated,correlated";
  bench->add_option("--filter-selectivity", sel_text,
                    "Filtered mode: comma-separated shares of points passing the filter, e.g. 0.5,0.1,0.01,0.001");
  bench->add_option("--filter-correlation", corr_text, "uncorrelated, correlated or both (comma-separated)")
      ->capture_default_str();
  std::string strategy_text = "auto";
  bench->add_option("--filter-strategy", strategy_text, "Filtered mode: auto, exact, graph or postfilter")
      ->capture_default_str();
  bench->add_option("--max-base", bo.max_base, "Filtered mode only: use the first N base vectors");

  std::string backup_dest;
  auto* backup = app.add_subcommand(
      "backup", "Copy the database, and the server's users, keys, audit log and certificate (writers may continue)");
  backup->add_option("--data", data_dir, "Database directory")->capture_default_str();
  backup->add_option("dest", backup_dest, "New directory for the copy")->required();

  AuditCliOptions audit_opts;
  auto* audit = app.add_subcommand("audit", "Show the auth audit log of `vectron serve`, newest first");
  audit->add_option("--data", audit_opts.data_dir, "Database directory")->capture_default_str();
  audit->add_option("--limit", audit_opts.limit, "Events to show")->capture_default_str();
  audit->add_option("--since", audit_opts.since, "Only events since: Unix seconds, or an age (30m, 12h, 7d)");
  audit->add_option("--cursor", audit_opts.cursor, "Start at this event seq (from a previous page)");
  audit->add_flag("--json", audit_opts.json, "One JSON object per line");

  std::string compact_name;
  bool compact_index_only = false;
  auto* compact = app.add_subcommand("compact", "Rebuild indexes without deleted slots and shrink the LMDB files");
  compact->add_option("--data", data_dir, "Database directory")->capture_default_str();
  compact->add_option("name", compact_name, "Collection (default: all)");
  compact->add_flag("--index-only", compact_index_only, "Only rebuild the index (also while other processes have it open)");

  DurabilityBenchOptions dbo;
  auto add_dbench = [&](const char* name, const char* help) {
    auto* cmd = app.add_subcommand(name, help);
    cmd->add_option("--n", dbo.n, "Points")->capture_default_str();
    cmd->add_option("--dim", dbo.dim, "Dimension")->capture_default_str();
    cmd->add_option("--M", dbo.m, "HNSW M")->capture_default_str();
    cmd->add_option("--ef-construction", dbo.ef_construction, "HNSW ef_construction")->capture_default_str();
    cmd->add_option("--threads", dbo.threads, "Threads (0 = all)")->capture_default_str();
    cmd->add_option("--db", dbo.db_dir, "Keep the database here (a new directory) instead of a temp dir");
    return cmd;
  };
  auto* bench_reopen = add_dbench("bench-reopen", "Reopen time from the checkpoint vs a full index rebuild");
  bench_reopen->add_option("--tail", dbo.tail, "Points written after the checkpoint")->capture_default_str();
  auto* bench_concurrent = add_dbench("bench-concurrent", "Search latency p50/p99 with and without a concurrent writer");
  bench_concurrent->add_option("--queries", dbo.queries, "Searches per phase")->capture_default_str();
  auto* bench_compact = add_dbench("bench-compact", "RSS and disk before/after deleting most points and compacting");
  bench_compact->add_option("--delete-fraction", dbo.delete_fraction, "Share of points deleted")->capture_default_str();

  // serve
  net::ServeOptions so;
  std::string serve_durability = "full";
  bool no_request_log = false;
  auto* serve = app.add_subcommand("serve", "Serve the database over HTTP/JSON and binary RPC");
  serve->add_option("--data", so.data_dir, "Database directory")->capture_default_str();
  serve->add_option("--http", so.http_address, "HTTP listen address HOST:PORT (port 0 = any free port)")
      ->capture_default_str();
  serve->add_option("--rpc", so.rpc_address, "RPC listen address HOST:PORT (port 0 = any free port)")
      ->capture_default_str();
  serve->add_option("--workers", so.workers, "Engine worker threads (0 = hardware threads)")->capture_default_str();
  serve->add_option("--queue", so.queue_max, "Engine calls that may wait before answering 503")->capture_default_str();
  serve->add_option("--max-body-bytes", so.http.max_body_bytes, "Largest HTTP request body (413 past it)")
      ->capture_default_str();
  serve->add_option("--max-header-bytes", so.http.max_header_bytes, "Largest request line + headers (431 past it)")
      ->capture_default_str();
  serve->add_option("--idle-timeout-ms", so.http.idle_timeout_ms, "Close idle keep-alive connections after this")
      ->capture_default_str();
  serve->add_option("--request-timeout-ms", so.http.request_timeout_ms,
                    "A request (or RPC frame) must arrive completely within this (408 past it)")
      ->capture_default_str();
  serve->add_option("--max-frame-bytes", so.rpc_max_frame_bytes, "Largest RPC frame")->capture_default_str();
  serve->add_option("--max-connections", so.max_connections,
                    "Open connections (HTTP and RPC together) past which new ones are refused (0 = no cap)")
      ->capture_default_str();
  serve->add_option("--max-connections-per-ip", so.max_connections_per_ip,
                    "Open connections from one client address past which its new ones are refused (0 = no cap)")
      ->capture_default_str();
  serve->add_option("--tls-handshake-timeout-ms", so.tls_handshake_timeout_ms,
                    "A TLS handshake not done within this from the connection's accept is cut")
      ->capture_default_str();
  serve->add_option("--shutdown-timeout-ms", so.shutdown_timeout_ms, "Drain limit after SIGTERM")->capture_default_str();
  serve->add_option("--tls-cert", so.tls_cert,
                    "PEM certificate chain for TLS on both ports (default: a self-signed one in DATA/tls/)");
  serve->add_option("--tls-key", so.tls_key, "PEM private key for --tls-cert");
  serve->add_flag("--insecure-http", so.insecure_http, "Plain HTTP and RPC without TLS (prints a warning)");
  bool no_auth = false;
  serve->add_flag("--no-auth", no_auth, "Turn authentication off (prints a warning; development only)");
  serve->add_option("--admin-password-file", so.admin_password_file,
                    "First start: the admin user's password, from this file (else $VECTRON_ADMIN_PASSWORD, else "
                    "generated and printed once)");
  std::string jwt_alg = "eddsa";
  serve->add_option("--jwt-alg", jwt_alg, "Algorithm of new token signing keys: eddsa (Ed25519) or hs256")
      ->capture_default_str();
  serve->add_option("--login-ttl", so.login_ttl_s, "Login token lifetime in seconds")->capture_default_str();
  uint64_t audit_max_mib = so.audit_max_bytes >> 20;
  int64_t audit_max_days = so.audit_max_age_s / 86400;
  serve->add_option("--audit-max-mib", audit_max_mib, "Audit log size kept (oldest events go first)")
      ->capture_default_str();
  serve->add_option("--audit-max-days", audit_max_days, "Audit log age kept (0 = only the size limit)")
      ->capture_default_str();
  serve->add_option("--durability", serve_durability, "full, nometasync or nosync")->capture_default_str();
  serve->add_flag("--no-request-log", no_request_log, "Do not log one line per request");
  serve->add_flag("--debug-routes", so.debug_routes, "Enable /v1/_debug/* (tests only)");
  bool no_console = false;
  serve->add_flag("--no-console", no_console, "Do not serve the web console at /console/");

  tools::ClusterCommands cluster_commands;
  tools::AddClusterCommands(app, &cluster_commands);

  CLI11_PARSE(app, argc, argv);
  if (int rc = tools::RunClusterCommand(cluster_commands); rc >= 0) return rc;
  if (*backup) {
    auto db = OpenDb(data_dir);
    if (!db.ok()) return Fail(db.status());
    if (Status s = BackupAll(**db, data_dir, backup_dest); !s.ok()) {
      progress.Finish();
      return Fail(s);
    }
    progress.Finish();
    std::printf("backed up %s to %s\n", data_dir.c_str(), backup_dest.c_str());
    return 0;
  }
  if (*audit) return RunAudit(audit_opts);
  if (*compact) return RunCompact(data_dir, compact_name, compact_index_only, progress);
  if (*bench_reopen) return RunReopenBench(dbo);
  if (*bench_concurrent) return RunConcurrentBench(dbo);
  if (*bench_compact) return RunCompactBench(dbo);

  if (*serve) {
    auto dur = ParseDurability(serve_durability);
    if (!dur.ok()) return Fail(dur.status());
    so.durability = *dur;
    so.log_requests = !no_request_log;
    so.auth = !no_auth;
    so.console = !no_console;
    so.audit_max_bytes = audit_max_mib << 20;
    so.audit_max_age_s = audit_max_days * 86400;
    if (jwt_alg == "eddsa" || jwt_alg == "EdDSA") so.jwt_alg = net::JwtAlg::kEdDSA;
    else if (jwt_alg == "hs256" || jwt_alg == "HS256") so.jwt_alg = net::JwtAlg::kHS256;
    else return Fail(Status::InvalidArgument("--jwt-alg must be eddsa or hs256"));
    if (const char* pw = std::getenv("VECTRON_ADMIN_PASSWORD"); pw && *pw && so.admin_password_file.empty())
      so.admin_password = pw;
    return net::RunServe(so);
  }

  if (*create) {
    auto met = ParseMetric(metric);
    if (!met.ok()) return Fail(met.status());
    auto db = OpenDb(data_dir);
    if (!db.ok()) return Fail(db.status());
    CollectionConfig cfg;
    cfg.dim = dim;
    cfg.metric = *met;
    cfg.hnsw.m = m;
    cfg.hnsw.ef_construction = efc;
    cfg.hnsw.ef_search = efs;
    cfg.shards = shards;
    cfg.flat_max_points = flat_max;
    auto c = (*db)->CreateCollection(name, cfg);
    if (!c.ok()) return Fail(c.status());
    std::printf("created collection %s (dim %u, %s, %u shard%s) in %s\n", name.c_str(), dim, metric.c_str(), shards,
                shards == 1 ? "" : "s", data_dir.c_str());
    return 0;
  }

  if (*import) {
    auto dur = ParseDurability(durability);
    if (!dur.ok()) return Fail(dur.status());
    auto src = OpenPointSource(file, format, id_prefix);
    if (!src.ok()) return Fail(src.status());
    auto db = OpenDb(data_dir, *dur);
    if (!db.ok()) return Fail(db.status());
    WriteBatch batch;
    auto first = (*src)->Next(batch, batch_size);
    if (!first.ok()) return Fail(first.status());
    auto col = (*db)->GetCollection(name);
    if (!col.ok() && col.status().IsNotFound() && create_missing) {
      auto met = ParseMetric(metric);
      if (!met.ok()) return Fail(met.status());
      CollectionConfig cfg;
      cfg.dim = (*src)->dim();
      cfg.metric = *met;
      col = (*db)->CreateCollection(name, cfg);
    }
    if (!col.ok()) return Fail(col.status());
    uint64_t done = 0, total = (*src)->total();
    for (;;) {
      if (batch.empty()) break;
      if (Status s = (*col)->Write(batch); !s.ok()) {
        progress.Finish();
        std::fprintf(stderr, "vectron: stopped after %llu points (every earlier batch is committed)\n",
                     static_cast<unsigned long long>(done));
        return Fail(s);
      }
      done += batch.size();
      if (!progress.Update("import " + name, done, total)) {
        progress.Finish();
        std::fprintf(stderr, "vectron: interrupted after %llu points; they are committed, rerun to continue (upserts are idempotent)\n",
                     static_cast<unsigned long long>(done));
        return 130;
      }
      batch.Clear();
      auto more = (*src)->Next(batch, batch_size);
      if (!more.ok()) {
        progress.Finish();
        std::fprintf(stderr, "vectron: stopped after %llu points (committed)\n", static_cast<unsigned long long>(done));
        return Fail(more.status());
      }
    }
    progress.Finish();
    if (*dur != Durability::kFull) {
      if (Status s = (*db)->Sync(); !s.ok()) return Fail(s);
    }
    std::printf("imported %llu points into %s\n", static_cast<unsigned long long>(done), name.c_str());
    return 0;
  }

  if (*count || *index) {
    auto db = OpenDb(data_dir);
    if (!db.ok()) return Fail(db.status());
    auto col = (*db)->GetCollection(name);
    if (!col.ok()) return Fail(col.status());
    if (*count) {
      auto n = (*col)->Count(where);
      if (!n.ok()) return Fail(n.status());
      std::printf("%llu\n", static_cast<unsigned long long>(*n));
      return 0;
    }
    if (field.empty()) {
      auto list = (*col)->ListPayloadIndexes();
      if (!list.ok()) return Fail(list.status());
      for (auto& i : *list) std::printf("%s\t%s\n", i.field.c_str(), PayloadTypeName(i.type));
      return 0;
    }
    if (drop_index) {
      if (Status s = (*col)->DropPayloadIndex(field); !s.ok()) return Fail(s);
      std::printf("dropped payload index on %s\n", field.c_str());
      return 0;
    }
    PayloadType type;
    if (!ParsePayloadType(field_type, &type))
      return Fail(Status::InvalidArgument("--type must be keyword, integer, float or bool, got \"" + field_type + "\""));
    if (Status s = (*col)->CreatePayloadIndex(field, type); !s.ok()) return Fail(s);
    progress.Finish();
    std::printf("created %s payload index on %s\n", field_type.c_str(), field.c_str());
    return 0;
  }

  if (*search) {
    std::vector<float> q;
    if (!query_file.empty()) {
      auto mtx = ReadFvecs(query_file, query_row + 1);
      if (!mtx.ok()) return Fail(mtx.status());
      if (mtx->rows <= query_row) return Fail(Status::InvalidArgument("--row is past the end of the file"));
      q.assign(mtx->data.begin() + query_row * mtx->dim, mtx->data.begin() + (query_row + 1) * mtx->dim);
    } else if (!vector_text.empty()) {
      auto v = ParseVector(vector_text);
      if (!v.ok()) return Fail(v.status());
      q = *v;
    } else {
      return Fail(Status::InvalidArgument("give --vector or --query-file"));
    }
    auto db = OpenDb(data_dir);
    if (!db.ok()) return Fail(db.status());
    auto col = (*db)->GetCollection(name);
    if (!col.ok()) return Fail(col.status());
    SearchParams sp;
    sp.k = k;
    sp.ef = ef;
    sp.exact = exact;
    sp.include_metadata = with_meta;
    sp.include_vector = with_vec;
    sp.where = where;
    auto hits = (*col)->Search(q, sp);
    if (!hits.ok()) return Fail(hits.status());
    nlohmann::json out = nlohmann::json::array();
    for (auto& h : *hits) {
      if (as_json) {
        nlohmann::json j = {{"id", h.id}, {"score", h.score}};
        if (with_meta) j["metadata"] = h.metadata.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(h.metadata);
        if (with_vec) j["vector"] = h.vector;
        out.push_back(j);
      } else {
        std::printf("%-24s %.6f%s%s\n", h.id.c_str(), h.score, with_meta ? "  " : "", with_meta ? h.metadata.c_str() : "");
      }
    }
    if (as_json) std::printf("%s\n", out.dump().c_str());
    return 0;
  }

  if (*info) {
    auto db = OpenDb(data_dir);
    if (!db.ok()) return Fail(db.status());
    std::vector<std::string> names;
    if (!name.empty()) names.push_back(name);
    else {
      auto all = (*db)->ListCollections();
      if (!all.ok()) return Fail(all.status());
      names = *all;
    }
    nlohmann::json out = nlohmann::json::array();
    for (auto& n : names) {
      auto col = (*db)->GetCollection(n);
      if (!col.ok()) return Fail(col.status());
      auto st = (*col)->Stats();
      if (!st.ok()) return Fail(st.status());
      const auto& c = (*col)->config();
      if (as_json) {
        out.push_back({{"name", n}, {"count", st->count}, {"dim", c.dim}, {"metric", MetricName(c.metric)},
                       {"shards", c.shards}, {"index", st->index_kind}, {"index_memory_bytes", st->index_memory_bytes},
                       {"disk_bytes", st->disk_bytes}, {"deleted_slots", st->deleted_slots},
                       {"config", nlohmann::json::parse(c.ToJson())}});
      } else {
        std::printf("%s\n  count        %llu\n  dimension    %u\n  metric       %s\n  shards       %u\n  index        %s (M=%u, ef_construction=%u, ef_search=%u)\n  index memory %s\n  disk         %s\n",
                    n.c_str(), static_cast<unsigned long long>(st->count), c.dim, std::string(MetricName(c.metric)).c_str(),
                    c.shards, st->index_kind.c_str(), c.hnsw.m, c.hnsw.ef_construction, c.hnsw.ef_search,
                    FormatBytes(st->index_memory_bytes).c_str(), FormatBytes(st->disk_bytes).c_str());
      }
    }
    if (as_json) std::printf("%s\n", out.dump(2).c_str());
    else if (names.empty()) std::printf("no collections in %s\n", data_dir.c_str());
    return 0;
  }

  if (*drop) {
    auto db = OpenDb(data_dir);
    if (!db.ok()) return Fail(db.status());
    if (Status s = (*db)->DropCollection(name); !s.ok()) return Fail(s);
    std::printf("dropped collection %s\n", name.c_str());
    return 0;
  }

  if (*bench) {
    auto dur = ParseDurability(bench_durability);
    if (!dur.ok()) return Fail(dur.status());
    bo.durability = *dur;
    bo.efs.clear();
    std::stringstream ss(efs_text);
    for (std::string part; std::getline(ss, part, ',');) {
      try {
        bo.efs.push_back(std::stoi(part));
      } catch (...) {
        return Fail(Status::InvalidArgument("--ef must be comma-separated integers"));
      }
    }
    if (!sel_text.empty()) {
      std::stringstream sels(sel_text);
      for (std::string part; std::getline(sels, part, ',');) {
        try {
          size_t used = 0;
          double v = std::stod(part, &used);
          if (used != part.size() || !(v >= 0.001 && v <= 1)) throw std::invalid_argument(part);
          bo.selectivities.push_back(v);
        } catch (...) {
          return Fail(Status::InvalidArgument("--filter-selectivity takes numbers in [0.001, 1], got \"" + part + "\""));
        }
      }
      bo.correlations.clear();
      std::stringstream cs(corr_text);
      for (std::string part; std::getline(cs, part, ',');) {
        if (part != "uncorrelated" && part != "correlated")
          return Fail(Status::InvalidArgument("--filter-correlation takes uncorrelated or correlated, got \"" + part + "\""));
        bo.correlations.push_back(part);
      }
      bo.reference = false;
      if (strategy_text == "auto") bo.filter_strategy = FilterStrategy::kAuto;
      else if (strategy_text == "exact") bo.filter_strategy = FilterStrategy::kExact;
      else if (strategy_text == "graph") bo.filter_strategy = FilterStrategy::kGraph;
      else if (strategy_text == "postfilter") bo.filter_strategy = FilterStrategy::kPostFilter;
      else return Fail(Status::InvalidArgument("--filter-strategy must be auto, exact, graph or postfilter"));
    }
    if (bo.threads == 0) bo.threads = std::max(1u, std::thread::hardware_concurrency());
    return RunBench(bo);
  }
  return 0;
}
