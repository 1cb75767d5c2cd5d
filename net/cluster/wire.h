// The wire form of cluster messages: one Envelope as a flatbuffer (net/schema/cluster.fbs),
// with the sender's NodeId. Decoding verifies the buffer first and checks every value it
// converts (enum ranges, the embedded shard command and map encodings), so a hostile frame
// is refused with Corruption and never read out of bounds.
#pragma once

#include <string>
#include <string_view>

#include "net/cluster/messages.h"
#include "vectron/status.h"

namespace vectron::net::cluster {

// Frames larger than this are refused (a snapshot chunk is at most 4 MiB).
inline constexpr size_t kMaxWireBytes = 64u << 20;

std::string EncodeEnvelope(const NodeId& from, const Envelope& msg);
// Errors: Corruption naming what is wrong.
Status DecodeEnvelope(std::string_view data, NodeId* from, Envelope* out);

}  // namespace vectron::net::cluster
