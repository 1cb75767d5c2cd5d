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
// is anything else, before decoding any message.
//
// TLS (ClusterTls): every connection, both directions, is TLS 1.3 with mutual
// authentication by the cluster CA. Both sides present their node certificate (for
// NodeCertName(self)) and verify the peer's against the CA alone; a caller also checks
// that the listener's certificate is for the node it meant to call, and a listener that
// the NodeId in a caller's frames is the one its certificate names (a worker's
// certificate cannot speak as a PD). A connection failing any of this is closed before a
// message is delivered, and counted in refused(). The hello, if any, then travels inside
// TLS. Without TLS the hello travels in plain text, as does all traffic: the cluster's
// ports then belong on loopback or a private network.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "net/cluster/transport.h"
#include "net/io/event_loop.h"
#include "net/io/tcp.h"
#include "net/io/tls.h"

namespace vectron::net::daemon {

using cluster::Envelope;
using cluster::NodeId;

// "vectron-pd-1", "vectron-worker-2", "vectron-gateway-1": the name (CN and DNS SAN) a
// node's cluster certificate carries.
std::string NodeCertName(const NodeId& node);

// The TLS of one node's cluster traffic: a context for its listener and one for its calls.
struct ClusterTls {
  std::shared_ptr<TlsContext> server;
  std::shared_ptr<TlsContext> client;
};

// Loads a node's ClusterTls from the PEM files of the cluster CA, its certificate and its
// key, checking that the certificate verifies against the CA and is for
// NodeCertName(self). Errors: InvalidArgument naming the flag (--cluster-ca,
// --cluster-cert, --cluster-key), the file and the reason.
Result<std::shared_ptr<const ClusterTls>> LoadClusterTls(const std::string& ca_path, const std::string& cert_path,
                                                         const std::string& key_path, const NodeId& self);

class TcpClusterTransport final : public cluster::Transport {
 public:
  // Default of set_connect_timeout_ms: nodes are on one network; a peer that does not
  // answer a SYN within it is down or unreachable, and is tried again after a backoff.
  static constexpr uint64_t kConnectTimeoutMs = 3000;

  // host:port of `node`, or "" if unknown. Called on the loop thread.
  using Resolver = std::function<std::string(const NodeId& node)>;
  // A decoded inbound message. Called on the loop thread.
  using Deliver = std::function<void(const NodeId& from, Envelope msg)>;

  // `loop` must outlive the transport; the transport is used on the loop thread only.
  // `secret` empty: no hello is sent or required. `tls` null: plain TCP (any caller with
  // the hello, or any caller at all without a secret, is accepted).
  TcpClusterTransport(EventLoop& loop, NodeId self, Resolver resolve, Deliver deliver, std::string secret = {},
                      std::shared_ptr<const ClusterTls> tls = nullptr);
  // Stops every peer thread and closes the listener. REQUIRES: the loop is not running.
  ~TcpClusterTransport() override;

  // Listens for other nodes on host:port (port 0: any free one, see port()).
  // Errors: those of TcpListener::Listen.
  Status Listen(const std::string& host, int port);
  int port() const { return listener_ ? listener_->port() : 0; }

  void Send(const NodeId& to, Envelope msg) override;

  // How long an outbound connect waits for a peer (per resolved address) before it counts
  // as failed: its queued frames are dropped, "cannot connect to ADDR (...: timed out
  // after N ms)" goes to stderr, and the peer is retried after a backoff. Applies to
  // peers first called after it is set. 0: as long as the kernel tries (about 2 min).
  void set_connect_timeout_ms(uint64_t ms) { connect_timeout_ms_ = ms; }

  // Frames dropped so far (peer unreachable, queue full, undecodable input).
  uint64_t dropped() const;
  // Connections refused so far: inbound ones whose first frame was not the right hello
  // (or that sent none within 5 s), whose TLS handshake failed or did not finish within
  // 5 s, or whose frames claimed a NodeId their certificate is not for; outbound ones
  // whose TLS handshake failed (the peer is not a node of this cluster's CA, or not the
  // node called) or did not finish within 5 s.
  uint64_t refused() const;
  // Called after each change of dropped() or refused(), on the loop thread or a peer's
  // thread, so it must be thread-safe and quick (tests wait on it rather than poll).
  // Set it before the first Listen or Send.
  void set_on_count(std::function<void()> fn) { counts_->on_change = std::move(fn); }

  struct Peer;
  struct Inbound;
  // What dropped() and refused() count, shared with the peers' threads (which may end
  // after a peer is replaced).
  struct Counts {
    std::atomic<uint64_t> dropped{0};
    std::atomic<uint64_t> refused{0};  // Inbound ones decided by the handlers, and outbound handshakes.
    std::function<void()> on_change;
    void Drop(uint64_t n) {
      dropped.fetch_add(n);
      if (on_change) on_change();
    }
    void Refuse() {
      refused.fetch_add(1);
      if (on_change) on_change();
    }
  };

 private:
  // Decodes and delivers one frame. `via`: the inbound connection it came on (null: an
  // outbound one, whose peer's certificate was checked to be `expect`'s under TLS).
  // Returns false if the frame's sender may not use the connection it came on.
  bool OnFrame(const std::string& frame, Inbound* via, const NodeId* expect);

  EventLoop& loop_;
  NodeId self_;
  Resolver resolve_;
  Deliver deliver_;
  std::unique_ptr<TcpListener> listener_;
  std::map<NodeId, std::unique_ptr<Peer>> peers_;
  std::map<NodeId, Inbound*> inbound_;  // The connection each sender last used.
  std::shared_ptr<Counts> counts_;
  std::shared_ptr<bool> alive_;  // Reader threads post only while the transport lives.
  std::string hello_;            // The expected first frame's payload ("" = none).
  std::shared_ptr<const ClusterTls> tls_;  // Null: plain TCP.
  uint64_t connect_timeout_ms_ = kConnectTimeoutMs;
};

}  // namespace vectron::net::daemon
