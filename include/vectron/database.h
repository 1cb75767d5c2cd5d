// Database: a directory of collections plus its catalog.
//
//   auto db = vectron::Database::Open("./vectron-data", {});
//   vectron::CollectionConfig cfg; cfg.dim = 128; cfg.metric = vectron::Metric::kL2;
//   std::shared_ptr<vectron::Collection> col = (*db)->CreateCollection("docs", cfg).value();
//
// Collection handles: CreateCollection, GetCollection and GetOrCreateCollection return a
// shared_ptr to the one handle of an open collection (every call for the same name gets
// the same handle until it is closed). A handle is always safe to call and to keep, even
// past the Database: once its collection is dropped or renamed every call on it returns
// NotFound naming the collection (`collection "docs" was dropped`), and once the
// Database is destroyed FailedPrecondition (`database DIR is closed`). A drop, rename or
// close waits for the calls in flight on the handle to end, and a call that starts after
// it began fails at once, so no call uses a closed collection or writes to a dropped
// collection's files, and front ends need no lock of their own.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/collection.h"
#include "vectron/options.h"
#include "vectron/status.h"

namespace vectron {

// Thread-safe. Several processes may open the same directory; one process may open a
// directory only once at a time (a second Open fails with FailedPrecondition). After
// fork(), a Database of the parent must be neither used nor destroyed in the child (LMDB's
// rule; its locks may be held by the parent's threads); the child may Open the directory
// itself.
class Database {
 public:
  // Opens (or with create_if_missing, creates) the database in `dir`.
  // Errors: NotFound (missing and !create_if_missing), FailedPrecondition (another
  // format version, or already open in this process), Corruption, IOError.
  static Result<std::unique_ptr<Database>> Open(const std::string& dir,
                                                const DatabaseOptions& options = {});
  // Closes every collection, saving index checkpoints, after the calls in flight on
  // it end; handles still held return FailedPrecondition afterwards.
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Creates a collection. Name: 1-64 of [A-Za-z0-9_-]. `metadata`: JSON-object text
  // stored with it (see SetCollectionMetadata), or empty for none.
  // Returns its handle (see "Collection handles" above).
  // Errors: InvalidArgument (name, config, metadata), AlreadyExists.
  Result<std::shared_ptr<Collection>> CreateCollection(const std::string& name, const CollectionConfig& config,
                                                       std::string_view metadata = {});
  // The handle of collection `name`, opening it if needed. An open collection is found
  // without waiting for a create, drop, Sync or Backup in progress. Errors: NotFound.
  Result<std::shared_ptr<Collection>> GetCollection(const std::string& name);
  // Returns the existing collection (whose config must match `config`'s dim and metric)
  // or creates it. Errors: FailedPrecondition on a mismatch.
  Result<std::shared_ptr<Collection>> GetOrCreateCollection(const std::string& name, const CollectionConfig& config);
  // The names of every collection in the catalog (other processes' included), sorted.
  Result<std::vector<std::string>> ListCollections() const;
  // Deletes the collection and its files: removes it from the catalog, closes its handle
  // (later calls on it return NotFound; the drop waits for the calls in flight), then
  // deletes the files. REQUIRES: not called from a callback of a call on that collection
  // (ExportFeedback's fn, a custom scorer), which it would wait for. Errors: NotFound.
  Status DropCollection(const std::string& name);
  // Renames collection `from` to `to` (1-64 of [A-Za-z0-9_-]): one catalog transaction
  // (the files stay where they are: the catalog maps the new name to them), so a crash
  // leaves either name, never both or none. In this process, the handle taken under the
  // old name is closed as by DropCollection (it returns NotFound; the files stay): get
  // it again by its new name. REQUIRES: as DropCollection. Another process that has it
  // open keeps using its handle under the old name until it reopens the database.
  // Errors: NotFound (no `from`), AlreadyExists (`to` exists), InvalidArgument (a bad
  // name).
  Status RenameCollection(const std::string& from, const std::string& to);
  // A JSON object stored with collection `name` (its description, owner, ...: the
  // engine does not read it); SetCollectionMetadata replaces it ("" removes it). At most
  // 64 KiB. Errors: NotFound, InvalidArgument (not a JSON object, too big or deep).
  Status SetCollectionMetadata(const std::string& name, std::string_view metadata);
  // The JSON-object text stored with `name` ("" for none). Errors: NotFound.
  Result<std::string> GetCollectionMetadata(const std::string& name) const;
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

  // The on-disk format version a new database gets. This build reads it and
  // kRenamedFormatVersion, which a database takes on its first rename (its catalog then
  // maps names to directories; a build reading only version 1 refuses it instead of
  // taking a renamed collection's directory for garbage).
  static constexpr int kFormatVersion = 1;
  static constexpr int kRenamedFormatVersion = 2;

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vectron
