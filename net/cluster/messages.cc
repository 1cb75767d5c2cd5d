#include "net/cluster/messages.h"

namespace vectron::net::cluster {

std::string NodeId::ToString() const {
  const char* p = kind == NodeKind::kPd ? "pd" : kind == NodeKind::kWorker ? "w" : "gw";
  return p + std::to_string(id);
}

const char* EnvelopeName(const Envelope& e) {
  static const char* const kNames[] = {"RaftBatch",           "SnapshotFetchRequest", "SnapshotFetchResponse",
                                       "ShardWriteRequest",   "ShardWriteResponse",   "ShardReadRequest",
                                       "ShardReadResponse",   "PdHeartbeat",          "PdHeartbeatResponse",
                                       "PdMapRequest",        "PdMapResponse",        "PdAdminRequest",
                                       "PdAdminResponse",     "PdAuthRequest",        "PdAuthResponse"};
  static_assert(std::variant_size_v<Envelope> == sizeof(kNames) / sizeof(kNames[0]));
  return kNames[e.index()];
}

}  // namespace vectron::net::cluster
