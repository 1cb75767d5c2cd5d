// A blocking TCP client socket, for clients, tests and benchmarks (not the server).
#pragma once

#include <string>
#include <string_view>

#include "vectron/status.h"

namespace vectron::net {

// Move-only owner of a connected socket. Not thread-safe.
class BlockingSocket {
 public:
  // Connects to host:port (numeric IPv4/IPv6). Errors: IOError naming the address.
  static Result<BlockingSocket> Connect(const std::string& host, int port);
  BlockingSocket(BlockingSocket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  BlockingSocket& operator=(BlockingSocket&& o) noexcept;
  ~BlockingSocket();

  // Writes all of `bytes`. Errors: IOError.
  Status SendAll(std::string_view bytes);
  // Reads exactly `n` bytes into `*out` (appending). Errors: IOError, Unavailable on EOF.
  Status RecvExact(size_t n, std::string* out);
  // Reads what is available (at least one byte, blocking). Returns 0 bytes at EOF.
  Result<size_t> RecvSome(std::string* out);

 private:
  explicit BlockingSocket(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace vectron::net
