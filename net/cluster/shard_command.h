// What a shard group's Raft log entries hold: one ShardCommand each (a write batch, a
// delete-by-filter, a payload index change, or a rating) with the client request id that makes a
// retried or duplicated proposal apply once. Format: docs/formats/shard-entry.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "vectron/shard.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron::net::cluster {

// Request ids (client, seq, acked_below) and the command kinds are libvectron's: the shard
// records the request in the transaction that applies the command (Shard::ApplyLogged).
using vectron::RequestId;

// One entry of a shard group's log: a command and the request it came from.
struct ShardCommand : LoggedCommand {
  RequestId request;
};

// The current format version (first byte of every encoded command).
inline constexpr uint8_t kShardCommandVersion = 1;
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
