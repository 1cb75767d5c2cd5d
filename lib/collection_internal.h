// Factory and hooks used by Database; not part of the public API.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/lmdb.h"
#include "vectron/collection.h"

namespace vectron {

// Opens (creating if missing) the collection stored in `dir`, replaying any
// multi-shard batch that a crash left half-applied.
Result<std::unique_ptr<Collection>> OpenCollection(const std::string& name, const std::string& dir,
                                                   const CollectionConfig& config,
                                                   const DatabaseOptions& options);
// Makes closing skip the index checkpoint (the files are about to be deleted).
void MarkDropped(Collection& c);
// Flushes every shard environment.
Status SyncCollection(Collection& c);

// What backup and compaction need of a collection's internals.
struct CollectionParts {
  std::string dir;
  storage::LmdbEnv* journal = nullptr;  // null with one shard
  std::mutex* write_mu = nullptr;       // serialises this process's writes
};
CollectionParts PartsOf(Collection& c);

// Copies the collection into `dest` (created; must not exist): each shard's LMDB
// environment (compacted snapshot), its saved graph when one can be copied, and the
// journal. A multi-shard collection's writes pause during the copy so the shards agree.
Status BackupCollection(Collection& c, const std::string& dest, const DatabaseOptions& options);

// The journal record of a multi-shard batch (exposed for crash-recovery tests).
std::string EncodeJournalRecord(const WriteBatch& batch, const std::vector<std::string>& metadata);

}  // namespace vectron
