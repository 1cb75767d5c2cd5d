// A blocking TCP client socket, plain or TLS, for clients, tests and benchmarks (not the
// server).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/io/tls.h"
#include "vectron/status.h"

namespace vectron::net {

// Move-only owner of a connected socket. Not thread-safe.
class BlockingSocket {
 public:
  // How long Connect waits for each resolved address by default.
  static constexpr uint64_t kConnectTimeoutMs = 10000;

  // Connects to host:port. `host` is a numeric IPv4/IPv6 address or a name such as
  // "localhost"; each resolved address is tried in turn, IPv4 first (see ResolveHost),
  // each for at most `connect_timeout_ms` (0: as long as the kernel tries).
  // Errors: InvalidArgument (host does not resolve), IOError naming the address and why
  // (a timeout says "timed out after N ms").
  static Result<BlockingSocket> Connect(const std::string& host, int port,
                                        uint64_t connect_timeout_ms = kConnectTimeoutMs);
  // Connects, then runs a TLS handshake with `tls` (a client context, see
  // TlsContext::LoadClient) verifying the certificate against `server_name` (empty = host).
  // Errors: those of Connect; Unavailable if the handshake fails (the reason names a
  // failed certificate check), or the server closes the connection during it.
  static Result<BlockingSocket> ConnectTls(const std::string& host, int port, std::shared_ptr<TlsContext> tls,
                                           const std::string& server_name = {},
                                           uint64_t connect_timeout_ms = kConnectTimeoutMs);
  BlockingSocket(BlockingSocket&& o) noexcept;
  BlockingSocket& operator=(BlockingSocket&& o) noexcept;
  ~BlockingSocket();

  // Writes all of `bytes` (encrypted under TLS). Errors: IOError, Unavailable (TLS).
  Status SendAll(std::string_view bytes);
  // Reads exactly `n` bytes into `*out` (appending). Errors: IOError, Unavailable on EOF.
  Status RecvExact(size_t n, std::string* out);
  // Reads what is available (at least one byte, blocking). Returns 0 bytes at EOF.
  Result<size_t> RecvSome(std::string* out);
  bool tls() const { return tls_ != nullptr; }
  // Fails a read or write that waits longer than `ms` (0 = wait forever) with
  // Unavailable ("timed out"). Errors: IOError if the socket refuses the option.
  Status SetTimeout(int ms);
  // Before a read blocks, polls the socket for up to `us` microseconds (0, the default:
  // never): a reply that arrives meanwhile is taken without the thread sleeping and being
  // woken, which on a loopback round trip is a large part of the latency, at the cost of
  // a core spinning for that long per read.
  void SetBusyPoll(uint32_t us) { busy_poll_us_ = us; }
  // Whether bytes (or the end of the stream) are waiting to be read, without blocking:
  // on a kept-alive connection with no request pending, the peer closed it (or broke
  // the protocol), so it must not be reused.
  bool HasPendingInput() const;
  // Closes the connection now (without TLS's close notify); later calls fail.
  void Close();

 private:
  explicit BlockingSocket(int fd) : fd_(fd) {}
  // One recv() of ciphertext through the TLS session into plain_; false at EOF.
  Result<bool> PumpTls();
  Status RawSendAll(std::string_view bytes);
  // recv(2) of up to n bytes, blocking, after busy_poll_us_ of polling (SetBusyPoll).
  ssize_t Recv(char* buf, size_t n);
  // The Status of a failed recv/send: a timeout (see SetTimeout) is Unavailable.
  Status SocketError(const char* op) const;
  int fd_ = -1;
  int timeout_ms_ = 0;
  uint32_t busy_poll_us_ = 0;
  std::shared_ptr<TlsContext> tls_ctx_;  // Outlives tls_.
  std::unique_ptr<TlsSession> tls_;
  std::string plain_;  // Decrypted bytes not yet returned.
};

}  // namespace vectron::net
