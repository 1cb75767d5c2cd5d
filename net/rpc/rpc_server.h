// The binary RPC server: frames in (see net/schema/rpc.fbs), engine calls on the worker
// pool, frames out tagged with the request id (responses may overtake each other).
#pragma once

#include <chrono>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "net/api/metrics.h"
#include "net/auth/authenticator.h"
#include "net/io/event_loop.h"
#include "net/io/tcp.h"
#include "net/io/worker_pool.h"
#include "vectron/database.h"

namespace vectron::net {

struct RpcLimits {
  size_t max_frame_bytes = 64 << 20;  // A larger declared frame closes the connection.
  size_t max_inflight = 64;           // Per connection; past it reading pauses.
  uint64_t idle_timeout_ms = 60000;   // No frame in flight or arriving: closed.
  uint64_t frame_timeout_ms = 10000;  // A started frame must complete within this.
  bool log_requests = true;
};

// What engine calls need; all referenced objects outlive the RpcServer.
struct RpcEngine {
  Database* db;
  std::shared_mutex* collections_mu;  // Shared while using a Collection* (see RestApi).
  RequestMetrics* metrics;
  Authenticator* auth = nullptr;  // Null: auth off (every request allowed).
};

// Executes one Request payload (already verified) and returns the Response payload.
// Thread-safe. `arrival` is when the frame arrived, for its deadline.
std::string ExecuteRpc(const RpcEngine& engine, std::string_view payload, std::chrono::steady_clock::time_point arrival);
// A Response payload carrying only an error.
std::string RpcErrorPayload(uint64_t id, std::string_view code, std::string_view message);

class RpcServer {
 public:
  RpcServer(EventLoop& loop, WorkerPool& pool, RpcEngine engine, RpcLimits limits);
  ~RpcServer();
  TcpListener::Factory Factory();

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace vectron::net
