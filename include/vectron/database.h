// Database: a directory of collections plus its catalog.
//
//   auto db = vectron::Database::Open("./vectron-data", {});
//   vectron::CollectionConfig cfg; cfg.dim = 128; cfg.metric = vectron::Metric::kL2;
//   vectron::Collection* col = (*db)->CreateCollection("docs", cfg).value();
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vectron/collection.h"
#include "vectron/options.h"
#include "vectron/status.h"

namespace vectron {

// Thread-safe. Several processes may open the same directory; one process may open a
// directory only once at a time (a second Open fails with FailedPrecondition).
class Database {
 public:
  // Opens (or with create_if_missing, creates) the database in `dir`.
  // Errors: NotFound (missing and !create_if_missing), FailedPrecondition (another
  // format version, or already open in this process), Corruption, IOError.
  static Result<std::unique_ptr<Database>> Open(const std::string& dir,
                                                const DatabaseOptions& options = {});
  // Closes every collection, saving index checkpoints.
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Creates a collection. Name: 1-64 of [A-Za-z0-9_-].
  // Errors: InvalidArgument (name, config), AlreadyExists.
  Result<Collection*> CreateCollection(const std::string& name, const CollectionConfig& config);
  // Opens the collection if this Database has not yet. Errors: NotFound.
  Result<Collection*> GetCollection(const std::string& name);
  // Returns the existing collection (whose config must match `config`'s dim and metric)
  // or creates it. Errors: FailedPrecondition on a mismatch.
  Result<Collection*> GetOrCreateCollection(const std::string& name, const CollectionConfig& config);
  // The names of every collection in the catalog (other processes' included), sorted.
  Result<std::vector<std::string>> ListCollections() const;
  // Deletes the collection and its files. Collection* handles to it become invalid.
  // Errors: NotFound.
  Status DropCollection(const std::string& name);
  // Flushes every environment (needed after writes with Durability::kNoSync).
  Status Sync();
  // Writes a consistent copy of the database to `dest` (a new directory; its parent is
  // created) while reads and writes continue; the copy opens as a working database.
  // Each collection is copied as of one moment (a multi-shard one pauses its writers for
  // its copy). Errors: AlreadyExists (dest exists), IOError, Cancelled (via progress);
  // on error nothing is left at `dest`.
  Status Backup(const std::string& dest);

  // The directory as given to Open.
  const std::string& path() const;
  // The options as given to Open.
  const DatabaseOptions& options() const;

  // The on-disk format version this build reads and writes.
  static constexpr int kFormatVersion = 1;

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vectron
