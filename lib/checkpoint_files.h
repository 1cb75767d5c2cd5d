// Helpers for the files of a shard's saved index (index.meta, index-*.hnsw), shared by
// checkpointing, backup and compaction. Callers hold the shard's checkpoint.lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vectron {

// The seq recorded in DIR/index.meta, or nullopt if it is missing or unreadable.
std::optional<uint64_t> SavedCheckpointSeq(const std::string& dir);
// The graph file DIR/index.meta names, or "" if it is missing or unreadable.
std::string SavedCheckpointFile(const std::string& dir);
// A name part unique to this process and call: "<pid>-<counter>-<random hex>".
std::string UniqueSuffix();
// Removes DIR/index-* files other than `keep` (older graphs, temps of crashed saves).
// REQUIRES: DIR/checkpoint.lock held. Errors are ignored (the files are garbage).
void RemoveStaleCheckpointFiles(const std::string& dir, const std::string& keep);

}  // namespace vectron
