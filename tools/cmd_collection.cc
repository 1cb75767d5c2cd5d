// Subcommands that manage collections and the database directory: create, info, drop,
// index, backup, compact. `create` and `info` also act on a server (--url, target.h).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "serve_admin.h"
#include "target.h"

namespace vectron::tools {
namespace {

// ------------------------------------------------------------------ create

struct CreateOptions {
  TargetOptions target;
  std::string name;
  CollectionConfig config;  // Every default is CollectionConfig's.
  std::string metric = std::string(MetricName(CollectionConfig{}.metric));
  std::string quantization = std::string(QuantizationName(CollectionConfig{}.quantization));
};

void AddCreate(CLI::App* cmd, CreateOptions& o) {
  AddTargetOptions(cmd, &o.target);
  cmd->add_option("name", o.name, "Collection name")->required();
  cmd->add_option("--dim", o.config.dim, "Vector dimension")->required();
  cmd->add_option("--metric", o.metric, "l2, cosine or ip")->capture_default_str();
  cmd->add_option("--M", o.config.hnsw.m, "HNSW graph degree")->capture_default_str();
  cmd->add_option("--ef-construction", o.config.hnsw.ef_construction, "HNSW build beam width")->capture_default_str();
  cmd->add_option("--ef-search", o.config.hnsw.ef_search, "Default search beam width")->capture_default_str();
  cmd->add_option("--shards", o.config.shards, "Shards (points hashed by id)")->capture_default_str();
  cmd->add_option("--flat-max-points", o.config.flat_max_points, "Exact search per shard up to this size")
      ->capture_default_str();
  cmd->add_option("--quantization", o.quantization,
                  "What the graph is searched on: none, or sq8 (int8 codes, exact rescoring)")
      ->capture_default_str();
}

int RunCreate(const CreateOptions& o) {
  auto metric = ParseMetric(o.metric);
  if (!metric.ok()) return Fail(metric.status());
  auto quantization = ParseQuantization(o.quantization);
  if (!quantization.ok()) return Fail(quantization.status());
  CollectionConfig cfg = o.config;
  cfg.metric = *metric;
  cfg.quantization = *quantization;
  auto target = OpenTarget(o.target);
  if (!target.ok()) return Fail(target.status());
  if (Status s = (*target)->Create(o.name, cfg); !s.ok()) return Fail(s);
  std::printf("created collection %s (dim %u, %s, %u shard%s) %s\n", o.name.c_str(), cfg.dim, o.metric.c_str(),
              cfg.shards, cfg.shards == 1 ? "" : "s", (*target)->Where().c_str());
  return 0;
}

// ------------------------------------------------------------------ drop

struct DropOptions {
  std::string db_dir;
  std::string name;
};

void AddDrop(CLI::App* cmd, DropOptions& o) {
  AddDbOption(cmd, &o.db_dir);
  cmd->add_option("name", o.name, "Collection name")->required();
}

int RunDrop(const DropOptions& o) {
  auto db = OpenDb(o.db_dir);
  if (!db.ok()) return Fail(db.status());
  if (Status s = (*db)->DropCollection(o.name); !s.ok()) return Fail(s);
  std::printf("dropped collection %s\n", o.name.c_str());
  return 0;
}

// ------------------------------------------------------------------ info

struct InfoOptions {
  TargetOptions target;
  std::string name;  // Empty: every collection.
  bool json = false;
};

void AddInfo(CLI::App* cmd, InfoOptions& o) {
  AddTargetOptions(cmd, &o.target);
  cmd->add_option("name", o.name, "Collection (default: all)");
  cmd->add_flag("--json", o.json, "Print JSON");
}

int RunInfo(const InfoOptions& o) {
  auto target = OpenTarget(o.target);
  if (!target.ok()) return Fail(target.status());
  auto names = OneOrAllCollections(o.name, [&] { return (*target)->List(); });
  if (!names.ok()) return Fail(names.status());
  nlohmann::json out = nlohmann::json::array();
  for (auto& n : *names) {
    auto info = (*target)->Describe(n);
    if (!info.ok()) return Fail(info.status());
    const CollectionStats* st = &info->stats;
    const CollectionConfig& c = info->config;
    if (o.json) {
      out.push_back({{"name", n}, {"count", st->count}, {"dim", c.dim}, {"metric", MetricName(c.metric)},
                     {"shards", c.shards}, {"index", st->index_kind}, {"index_memory_bytes", st->index_memory_bytes},
                     {"disk_bytes", st->disk_bytes}, {"deleted_slots", st->deleted_slots},
                     {"config", nlohmann::json::parse(c.ToJson())}});
    } else {
      std::printf(
          "%s\n  count        %llu\n  dimension    %u\n  metric       %s\n  shards       %u\n"
          "  index        %s (M=%u, ef_construction=%u, ef_search=%u, quantization %s)\n  index memory %s\n"
          "  disk         %s\n",
          n.c_str(), static_cast<unsigned long long>(st->count), c.dim, std::string(MetricName(c.metric)).c_str(),
          c.shards, st->index_kind.c_str(), c.hnsw.m, c.hnsw.ef_construction, c.hnsw.ef_search,
          std::string(QuantizationName(c.quantization)).c_str(), FormatBytes(st->index_memory_bytes).c_str(), FormatBytes(st->disk_bytes).c_str());
    }
  }
  if (o.json) std::printf("%s\n", out.dump(2).c_str());
  else if (names->empty()) std::printf("no collections %s\n", (*target)->Where().c_str());
  return 0;
}

// ------------------------------------------------------------------ index

struct IndexOptions {
  std::string db_dir;
  std::string name;
  std::string field;  // Empty: list the indexes.
  std::string type = PayloadTypeName(PayloadType::kKeyword);
  bool drop = false;
};

void AddIndex(CLI::App* cmd, IndexOptions& o) {
  AddDbOption(cmd, &o.db_dir);
  cmd->add_option("name", o.name, "Collection name")->required();
  cmd->add_option("--field", o.field, "Dotted metadata field (omit to list the indexes)");
  cmd->add_option("--type", o.type, "keyword, integer, float or bool")->capture_default_str();
  cmd->add_flag("--drop", o.drop, "Drop the index on --field instead of creating it");
}

int RunIndex(const IndexOptions& o) {
  auto db = OpenDb(o.db_dir);
  if (!db.ok()) return Fail(db.status());
  auto col = (*db)->GetCollection(o.name);
  if (!col.ok()) return Fail(col.status());
  if (o.field.empty()) {
    auto list = (*col)->ListPayloadIndexes();
    if (!list.ok()) return Fail(list.status());
    for (auto& i : *list) std::printf("%s\t%s\n", i.field.c_str(), PayloadTypeName(i.type));
    return 0;
  }
  if (o.drop) {
    if (Status s = (*col)->DropPayloadIndex(o.field); !s.ok()) return Fail(s);
    std::printf("dropped payload index on %s\n", o.field.c_str());
    return 0;
  }
  PayloadType type;
  if (!ParsePayloadType(o.type, &type))
    return Fail(Status::InvalidArgument("--type must be keyword, integer, float or bool, got \"" + o.type + "\""));
  if (Status s = (*col)->CreatePayloadIndex(o.field, type); !s.ok()) return Fail(s);
  CliProgress().Finish();
  std::printf("created %s payload index on %s\n", o.type.c_str(), o.field.c_str());
  return 0;
}

// ------------------------------------------------------------------ backup

struct BackupOptions {
  std::string db_dir;
  std::string dest;
};

void AddBackup(CLI::App* cmd, BackupOptions& o) {
  AddDbOption(cmd, &o.db_dir);
  cmd->add_option("dest", o.dest, "New directory for the copy")->required();
}

int RunBackup(const BackupOptions& o) {
  auto db = OpenDb(o.db_dir);
  if (!db.ok()) return Fail(db.status());
  if (Status s = BackupAll(**db, o.db_dir, o.dest); !s.ok()) return Fail(s);
  CliProgress().Finish();
  std::printf("backed up %s to %s\n", o.db_dir.c_str(), o.dest.c_str());
  return 0;
}

// ------------------------------------------------------------------ compact

struct CompactCommandOptions {
  std::string db_dir;
  std::string name;  // Empty: every collection.
  bool index_only = false;
};

void AddCompact(CLI::App* cmd, CompactCommandOptions& o) {
  AddDbOption(cmd, &o.db_dir);
  cmd->add_option("name", o.name, "Collection (default: all)");
  cmd->add_flag("--index-only", o.index_only, "Only rebuild the index (also while other processes have it open)");
}

int RunCompact(const CompactCommandOptions& o) {
  auto db = OpenDb(o.db_dir);
  if (!db.ok()) return Fail(db.status());
  auto names = OneOrAllCollections(o.name, [&] { return (*db)->ListCollections(); });
  if (!names.ok()) return Fail(names.status());
  for (auto& n : *names) {
    auto col = (*db)->GetCollection(n);
    if (!col.ok()) return Fail(col.status());
    auto before = (*col)->Stats();
    if (!before.ok()) return Fail(before.status());
    CompactOptions co;
    co.files = !o.index_only;
    Status s = (*col)->Compact(co);
    CliProgress().Finish();
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

void AddCollectionCommands(CLI::App& app, Commands& out) {
  AddCommand<CreateOptions>(app, out, "create", "Create a collection", AddCreate, RunCreate);
  AddCommand<InfoOptions>(app, out, "info", "Show collections and their stats", AddInfo, RunInfo);
  AddCommand<DropOptions>(app, out, "drop", "Delete a collection and its files", AddDrop, RunDrop);
  AddCommand<IndexOptions>(app, out, "index", "Create, drop or list payload indexes on metadata fields", AddIndex,
                           RunIndex);
  AddCommand<BackupOptions>(
      app, out, "backup",
      "Copy the database, and the server's users, keys, audit log and certificate (writers may continue)", AddBackup,
      RunBackup);
  AddCommand<CompactCommandOptions>(app, out, "compact",
                                    "Rebuild indexes without deleted slots and shrink the LMDB files", AddCompact,
                                    RunCompact);
}

}  // namespace vectron::tools
