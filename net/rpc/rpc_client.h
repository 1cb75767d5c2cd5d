// A blocking client of the binary RPC (one request at a time, or pipelined with Send /
// Receive), for tests, benchmarks and tools.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/io/blocking_socket.h"
#include "vectron/types.h"

namespace vectron::net {

struct RpcSearchOptions {
  int k = 10;
  int ef = 0;
  bool exact = false;
  bool include_metadata = false;
  bool include_vector = false;
  std::string where;
  uint32_t deadline_ms = 0;
};

// Not thread-safe: one client per thread.
class RpcClient {
 public:
  // Errors: those of BlockingSocket::Connect.
  static Result<RpcClient> Connect(const std::string& host, int port);

  // Each call returns the server's error as a Status whose code matches the response's
  // code name (deadline_exceeded maps to Unavailable), or IOError/Unavailable for the
  // connection itself.
  Status Ping();
  // `queries` holds nq rows of the collection's dimension, row-major.
  Result<std::vector<std::vector<Hit>>> Search(const std::string& collection, std::span<const float> queries, size_t nq,
                                               const RpcSearchOptions& options);
  Result<uint64_t> Upsert(const std::string& collection, std::span<const Point> points);
  Result<std::vector<std::optional<Point>>> Get(const std::string& collection, const std::vector<std::string>& ids);
  Result<uint64_t> Delete(const std::string& collection, const std::vector<std::string>& ids);
  Result<uint64_t> Count(const std::string& collection);

  // Pipelining: SendSearch queues a request with id `id`; Receive returns the next
  // response's id and hits (possibly of another pending request).
  Status SendSearch(uint64_t id, const std::string& collection, std::span<const float> query,
                    const RpcSearchOptions& options);
  Result<std::pair<uint64_t, std::vector<Hit>>> ReceiveSearch();

  // Raw access: sends `frame` bytes as they are; reads one frame's payload.
  Status SendRaw(std::string_view bytes) { return sock_.SendAll(bytes); }
  Result<std::string> ReceiveFrame();

 private:
  explicit RpcClient(BlockingSocket s) : sock_(std::move(s)) {}
  Result<std::string> Call(std::string payload);
  BlockingSocket sock_;
  uint64_t next_id_ = 1;
};

// The Status for an RPC response code name and message.
Status RpcStatus(std::string_view code, std::string_view message);

}  // namespace vectron::net
