// TcpClusterTransport: the cluster core's Transport over TCP, for the daemons
// (vectron pd / worker / gateway). Each message is one length-prefixed frame holding the
// wire form of an Envelope (net/cluster/wire.h) with the sender's NodeId.
//
// Outbound: one connection per destination whose address the node knows (PD members,
// workers from the map), each with a sender thread (connects, reconnects with backoff,
// writes queued frames) and a reader thread (frames the peer sends back on it). Inbound:
// a listener on the event loop; a node with no address for a sender (a gateway) answers on
// the connection the sender's last message arrived on. Delivery is best effort, as the
// Transport contract says: a frame queued while its peer is unreachable is dropped.
//
// Membership: with a cluster secret, the first frame of every connection is a hello
// ("vectron-cluster-1" and the secret); the listener closes a connection whose first frame
// is anything else, before decoding any message. (The secret travels in plain text: the
// cluster's ports are meant for loopback or a private network; there is no TLS between
// nodes yet.)
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "net/cluster/transport.h"
#include "net/io/event_loop.h"
#include "net/io/tcp.h"

namespace vectron::net::daemon {

using cluster::Envelope;
using cluster::NodeId;

class TcpClusterTransport final : public cluster::Transport {
 public:
  // host:port of `node`, or "" if unknown. Called on the loop thread.
  using Resolver = std::function<std::string(const NodeId& node)>;
  // A decoded inbound message. Called on the loop thread.
  using Deliver = std::function<void(const NodeId& from, Envelope msg)>;

  // `loop` must outlive the transport; the transport is used on the loop thread only.
  // `secret` empty: no hello is sent or required (any caller is accepted).
  TcpClusterTransport(EventLoop& loop, NodeId self, Resolver resolve, Deliver deliver, std::string secret = {});
  // Stops every peer thread and closes the listener. REQUIRES: the loop is not running.
  ~TcpClusterTransport() override;

  // Listens for other nodes on host:port (port 0: any free one, see port()).
  // Errors: those of TcpListener::Listen.
  Status Listen(const std::string& host, int port);
  int port() const { return listener_ ? listener_->port() : 0; }

  void Send(const NodeId& to, Envelope msg) override;

  // Frames dropped so far (peer unreachable, queue full, undecodable input).
  uint64_t dropped() const;
  // Inbound connections closed because their first frame was not the right hello.
  uint64_t refused() const { return refused_; }

  struct Peer;
  struct Inbound;

 private:
  void OnFrame(const std::string& frame, Inbound* via);

  EventLoop& loop_;
  NodeId self_;
  Resolver resolve_;
  Deliver deliver_;
  std::unique_ptr<TcpListener> listener_;
  std::map<NodeId, std::unique_ptr<Peer>> peers_;
  std::map<NodeId, Inbound*> inbound_;  // The connection each sender last used.
  std::shared_ptr<std::atomic<uint64_t>> dropped_;
  std::shared_ptr<bool> alive_;  // Reader threads post only while the transport lives.
  std::string hello_;            // The expected first frame's payload ("" = none).
  uint64_t refused_ = 0;
};

}  // namespace vectron::net::daemon
