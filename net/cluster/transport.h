// The network seam of the cluster core. A Transport sends one Envelope to one node, best
// effort: a message may be lost, delayed, reordered or duplicated, and the cluster logic
// copes (Raft retransmits, requests time out and retry). Inbound messages are handed to
// the receiving node's Receive(from, envelope) by whoever owns it (the daemon's event loop,
// or the simulator's network), on the node's loop thread.
#pragma once

#include "net/cluster/messages.h"

namespace vectron::net::cluster {

class Transport {
 public:
  virtual ~Transport() = default;
  // Queues `msg` for `to` and returns at once; never blocks. Called from the node's loop
  // thread only.
  virtual void Send(const NodeId& to, Envelope msg) = 0;
};

}  // namespace vectron::net::cluster
