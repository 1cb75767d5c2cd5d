// What a shard group's Raft log entries hold: one ShardCommand each (a write batch, a
// delete-by-filter, or a payload index change) with the client request id that makes a
// retried or duplicated proposal apply once. Format: docs/formats/shard-entry.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron::net::cluster {

// Identifies a client request for deduplication. `client` is chosen at random by each
// gateway process, `seq` increases per request, and every sequence below `acked_below` is
// one the client will never retry (its answer arrived), so the shard may forget it.
// client == 0 means "no id": the command is not deduplicated.
struct RequestId {
  uint64_t client = 0;
  uint64_t seq = 0;
  uint64_t acked_below = 0;
  bool empty() const { return client == 0; }
  bool operator==(const RequestId&) const = default;
};

struct ShardCommand {
  // Persisted: values never change.
  enum class Kind : uint8_t { kWrite = 1, kDeleteWhere = 2, kCreatePayloadIndex = 3, kDropPayloadIndex = 4 };
  Kind kind = Kind::kWrite;
  RequestId request;
  WriteBatch batch;                        // kWrite
  std::string where;                       // kDeleteWhere: JSON filter text
  std::string field;                       // k*PayloadIndex: dotted path
  PayloadType type = PayloadType::kKeyword;  // kCreatePayloadIndex
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
