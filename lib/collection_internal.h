// Factory and hooks used by Database; not part of the public API.
#pragma once

#include <memory>
#include <string>
#include <vector>

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

// The journal record of a multi-shard batch (exposed for crash-recovery tests).
std::string EncodeJournalRecord(const WriteBatch& batch, const std::vector<std::string>& metadata);

}  // namespace vectron
