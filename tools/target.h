// Where `vectron search|count|info|import` act: a database directory (--db) or a server
// (--url, --token, --ca), behind one interface so each command is written once.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vectron/vectron.h"

namespace vectron::tools {

// A collection's configuration and sizes, as `info` shows them.
struct CollectionInfo {
  std::string name;
  CollectionConfig config;
  CollectionStats stats;
};

// The collections of a database directory or of a server. Not thread-safe.
class Target {
 public:
  virtual ~Target() = default;
  // Every collection's name, sorted.
  virtual Result<std::vector<std::string>> List() = 0;
  // Errors: NotFound.
  virtual Result<CollectionInfo> Describe(const std::string& name) = 0;
  // Errors: InvalidArgument (name, config), AlreadyExists.
  virtual Status Create(const std::string& name, const CollectionConfig& config) = 0;
  // The k nearest points to `query` (SearchParams: k, ef, exact, include_*, where).
  virtual Result<std::vector<Hit>> Search(const std::string& name, std::span<const float> query,
                                          const SearchParams& params) = 0;
  // Points (matching `where`, JSON text, if not empty).
  virtual Result<uint64_t> Count(const std::string& name, const std::string& where) = 0;
  // Applies the upserts of `batch` atomically.
  virtual Status Upsert(const std::string& name, const WriteBatch& batch) = 0;
  // After a bulk import: makes every write durable (a no-op where each already is).
  virtual Status Sync() = 0;
  // "in ./vectron-data" or "on https://host:7700", for messages.
  virtual std::string Where() const = 0;
};

// --db DIR or --url URL (+ --token, --ca, --timeout), for the commands that take both.
struct TargetOptions {
  std::string db_dir;
  std::string url;
  std::string token;  // Default: $VECTRON_TOKEN.
  std::string ca_file;
  double timeout_s = 30;
  std::string durability;  // Local only.
};

// Adds --db (see AddDbOption), --url, --token, --ca and --timeout to `cmd`.
void AddTargetOptions(CLI::App* cmd, TargetOptions* o);

// Opens the database directory, or prepares a client of the server (connecting at the
// first call). Errors: those of Database::Open; InvalidArgument for --url/--ca.
Result<std::unique_ptr<Target>> OpenTarget(const TargetOptions& o);

}  // namespace vectron::tools
