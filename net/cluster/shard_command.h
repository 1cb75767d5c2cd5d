// What a shard group's Raft log entries hold: one ShardCommand each (a write batch, a
// delete-by-filter, a payload index change, or a rating) with the client request id that makes a
// retried or duplicated proposal apply once. Format: docs/formats/shard-entry.md.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>
#include <string>
#include <string_view>

#include "vectron/shard.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron::net::cluster {

// Request ids (client, seq, acked_below) and the command kinds are libvectron's: the shard
// records the request in the transaction that applies the command (Shard::ApplyLogged).
using vectron::RequestId;

// A split of a shard group (docs/cluster.md, "Splits"): the group, owning [start, end) at
// `epoch`, keeps [start, key) at epoch + 1 and the new group `new_group` takes [key, end)
// (epoch 1), founded on every replica that applies the split, with `voters` as its voters.
struct ShardSplit {
  uint64_t new_group = 0;
  uint64_t start = 0, end = 0, key = 0;
  std::vector<uint64_t> voters;
  bool operator==(const ShardSplit&) const = default;
};

// One entry of a shard group's log: a command and the request it came from.
struct ShardCommand : LoggedCommand {
  RequestId request;
  // The group epoch the command was routed with (format version 2); a command whose epoch
  // is not the group's when it is applied is rejected (a split came between: the router
  // refreshes its map and retries). 0: not checked.
  uint64_t epoch = 0;
  std::optional<ShardSplit> split;  // Set: this entry is a split (kind 6), nothing else.
};

// The current format version (first byte of every encoded command); version 1 (no epoch)
// is still read.
inline constexpr uint8_t kShardCommandVersion = 2;
// The kind byte of a split (after LoggedCommand's kinds).
inline constexpr uint8_t kShardSplitKind = 6;
// Limits enforced by the decoder (a hostile or corrupt entry fails cleanly).
inline constexpr size_t kMaxCommandEntries = 1 << 20;
inline constexpr size_t kMaxFilterBytes = 1 << 20;

// Serializes `cmd`.
std::string EncodeShardCommand(const ShardCommand& cmd);
// Parses EncodeShardCommand's output. Errors: Corruption naming what is wrong (unknown
// version or kind, truncated, a length over its limit, trailing bytes); `*out` is then
// unspecified.
Status DecodeShardCommand(std::string_view data, ShardCommand* out);

}  // namespace vectron::net::cluster
