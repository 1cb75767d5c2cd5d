// TCP listener and connections on an EventLoop, with optional TLS. Protocol code plugs
// in a ConnectionHandler per connection and sees plain bytes either way.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "net/io/connection_limiter.h"
#include "net/io/event_loop.h"
#include "net/io/tls.h"
#include "vectron/status.h"

namespace vectron::net {

// Write side of one connection as protocol code sees it. Loop thread only. Valid while
// its handler is alive (the connection owns the handler).
class Connection {
 public:
  virtual ~Connection() = default;
  // Queues bytes to send (encrypting them under TLS).
  virtual void Send(std::string bytes) = 0;
  // Closes once queued bytes are written. Further reads are ignored.
  virtual void Close() = 0;
  // Stops / restarts delivering received bytes (backpressure).
  virtual void PauseReading() = 0;
  virtual void ResumeReading() = 0;
  // Bytes queued but not yet written to the socket.
  virtual size_t pending_write_bytes() const = 0;
  // "127.0.0.1:54321".
  virtual const std::string& peer() const = 0;
  virtual uint64_t id() const = 0;  // Unique in the process.
  // Under TLS, once the handshake is done: whether the peer presented a certificate that
  // passed verification and is for `name` (see TlsSession::PeerCertificateIsFor). False
  // on plain TCP.
  virtual bool TlsPeerIs(const std::string& /*name*/) const { return false; }
};

// Protocol side of one connection. Called on the loop thread.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  virtual void OnData(std::string_view bytes) = 0;
  // The peer closed its write side (EOF). The default closes the connection.
  virtual void OnEof(Connection& conn) { conn.Close(); }
  // Called about every sweep interval with the loop time, to enforce timeouts.
  virtual void OnTick(uint64_t now_ms) = 0;
  // True if no request is in progress, so a graceful shutdown may close it now.
  virtual bool Idle() const = 0;
};

// How a listener treats the connections it accepts.
struct ListenOptions {
  std::shared_ptr<TlsContext> tls;  // Null: plain TCP.
  // TLS: a connection whose handshake is not done this long after it was accepted is
  // closed (a client that sends half a ClientHello and waits).
  uint64_t handshake_timeout_ms = 10000;
  // Caps on open connections (may be shared with other listeners); null: none. A
  // connection past a cap is closed at once, before any handshake.
  std::shared_ptr<ConnectionLimiter> limiter;
  // Plain TCP only: written to a connection refused by the limiter before it closes
  // (an HTTP 503). Under TLS a refused connection is just closed.
  std::string refusal;
  // Called on the loop thread after each connection closed over its TLS handshake (a
  // failure or a timeout: handshake_failures() or handshake_timeouts() has grown), for a
  // caller that reports refusals as they happen. Null: none.
  std::function<void()> on_handshake_refused;
};

// Accepts connections on host:port. Loop thread only.
class TcpListener {
 public:
  using Factory = std::function<std::unique_ptr<ConnectionHandler>(Connection& conn)>;

  // Binds and listens; port 0 picks a free port (see port()). `host` is a numeric IPv4 /
  // IPv6 address or a name ("localhost"), which binds its first address, IPv4 first
  // (see ResolveHost).
  // Errors: InvalidArgument (host does not resolve), IOError naming the address (in use,
  // denied).
  static Result<std::unique_ptr<TcpListener>> Listen(EventLoop& loop, const std::string& host, int port,
                                                      ListenOptions options, Factory factory);
  // REQUIRES: the loop is not running. Closes every connection.
  ~TcpListener();

  int port() const { return port_; }
  const std::string& host() const { return host_; }
  bool tls() const { return options_.tls != nullptr; }
  // Stops accepting; existing connections stay open.
  void StopAccepting();
  // Closes (after pending writes) every connection whose handler is Idle().
  void CloseIdle();
  // Closes every connection at once.
  void CloseAll();
  size_t connection_count() const { return conns_.size(); }
  // Runs OnTick on every connection, and closes TLS connections whose handshake is
  // past ListenOptions::handshake_timeout_ms.
  void Tick(uint64_t now_ms);
  // Connections closed for taking too long over the TLS handshake, since start.
  uint64_t handshake_timeouts() const { return handshake_timeouts_; }
  // Connections closed because their TLS handshake failed (not TLS, a bad or missing
  // certificate where one is required, a protocol error, the peer left during it), since
  // start.
  uint64_t handshake_failures() const { return handshake_failures_; }

  struct Conn;

 private:
  TcpListener() = default;
  // Counts a connection closed over its handshake and tells on_handshake_refused.
  void NoteHandshakeRefused(bool timeout);
  friend struct Conn;
  EventLoop* loop_ = nullptr;
  std::string host_;
  int port_ = 0;
  ListenOptions options_;
  Factory factory_;
  uint64_t handshake_timeouts_ = 0;
  uint64_t handshake_failures_ = 0;
  void* server_ = nullptr;  // uv_tcp_t*, freed in its close callback.
  std::unordered_map<uint64_t, Conn*> conns_;
};

// Parses "host:port". Errors: InvalidArgument naming the text.
Result<std::pair<std::string, int>> ParseHostPort(const std::string& text);

}  // namespace vectron::net
