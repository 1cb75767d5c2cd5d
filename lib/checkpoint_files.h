// Helpers for the files of a shard's saved index (index.meta, index-*.hnsw), shared by
// checkpointing, backup and compaction. Callers hold the shard's checkpoint.lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "vectron/status.h"

namespace vectron {

class HnswIndex;

// The seq recorded in DIR/index.meta, or nullopt if it is missing or unreadable.
std::optional<uint64_t> SavedCheckpointSeq(const std::string& dir);
// The graph file DIR/index.meta names, or "" if it is missing or unreadable.
std::string SavedCheckpointFile(const std::string& dir);
// A name part unique to this process and call: "<pid>-<counter>-<random hex>".
std::string UniqueSuffix();
// Removes DIR/index-* files other than `keep` (older graphs, temps of crashed saves).
// REQUIRES: DIR/checkpoint.lock held. Errors are ignored (the files are garbage).
void RemoveStaleCheckpointFiles(const std::string& dir, const std::string& keep);

// A graph handed in memory from a shard to a copy of it opened in the same process (a
// split's new group), in place of a saved file (docs/cluster.md, "Splits"): the graph
// of the shard's data at change seq `seq`.
struct HandedGraph {
  std::unique_ptr<HnswIndex> graph;
  uint64_t seq = 0;
};
// Keeps `g` for the copy being made in DIR, under a token written to DIR/graph.handoff.
// The process keeps the last few offers (a copy that is never opened does not hold its
// graph for ever). Errors: IOError writing the token.
Status OfferGraph(const std::string& dir, HandedGraph g);
// The graph offered for the copy now in DIR (renamed since or not), once: the token file
// is removed. nullopt if DIR has no token or this process no longer holds its graph (it
// was restarted, or the offer was dropped): the copy then rebuilds its graph.
std::optional<HandedGraph> TakeGraph(const std::string& dir);

}  // namespace vectron
