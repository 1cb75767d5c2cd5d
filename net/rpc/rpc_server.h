// The binary RPC server: frames in (see net/schema/rpc.fbs), engine calls on the worker
// pool, frames out tagged with the request id (responses may overtake each other).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/api/data_service.h"
#include "net/api/metrics.h"
#include "net/api/operations.h"
#include "net/auth/authenticator.h"
#include "net/io/event_loop.h"
#include "net/io/inline_gate.h"
#include "net/io/tcp.h"
#include "net/io/worker_pool.h"

namespace vectron::net {

// Frames a connection may send before any request on it carried a valid token (auth
// on). A larger frame is not read: its payload is dropped as it arrives and it is
// answered "unauthenticated" (id 0). RpcClient sends a Ping with its token before its
// first larger frame. With auth off every connection may send max_frame_bytes.
inline constexpr size_t kRpcPreauthFrameBytes = 64 << 10;

struct RpcLimits {
  size_t max_frame_bytes = 64 << 20;  // A larger declared frame closes the connection.
  size_t max_inflight = 64;           // Per connection; past it reading pauses.
  uint64_t idle_timeout_ms = 60000;   // No frame in flight or arriving: closed.
  uint64_t frame_timeout_ms = 10000;  // A started frame must complete within this.
  bool log_requests = true;
};

// What engine calls need; all referenced objects outlive the RpcServer.
struct RpcEngine {
  // The data operations (net/api/data_service.h). Either answering in line
  // (LocalDataService), run on the worker pool; or, with `service_on_loop`, called on the
  // loop thread and answering there later (ClusterDataService, in a gateway).
  DataService* service;
  OpLimits limits;  // The same limits as the REST routes' (ApiOptions::limits).
  RequestMetrics* metrics;        // Null: not recorded.
  Authenticator* auth = nullptr;  // Null (and no late_auth): auth off (every request allowed).
  bool service_on_loop = false;
  // Auth on, with an Authenticator that arrives after the port opens (a gateway loads
  // its auth records from the PD): until it is set, requests needing a token are
  // answered "unavailable". Overrides `auth`.
  const std::atomic<Authenticator*>* late_auth = nullptr;

  bool auth_on() const { return auth != nullptr || late_auth != nullptr; }
};

// Checks the token of a verified Request against what its body needs (as the matching
// REST route: scope, collection allow-list); a Ping carrying a token has it checked too.
// Sets `*token_ok` if the request carried a token that verified (whatever its rights).
// Thread-safe.
Status AuthorizeRpc(const RpcEngine& engine, std::string_view payload, Principal* who, bool* token_ok);
// Executes one Request payload (already verified and authorised for `who`) and returns
// the Response payload. Thread-safe. `arrival` is when the frame arrived, for its deadline.
std::string ExecuteRpc(const RpcEngine& engine, std::string_view payload, const Principal& who,
                       std::chrono::steady_clock::time_point arrival);
// As ExecuteRpc, answering through `reply` exactly once: before it returns for a
// service that answers in line, later (on the service's thread) for one that does not.
void ExecuteRpcAsync(const RpcEngine& engine, std::string_view payload, const Principal& who,
                     std::chrono::steady_clock::time_point arrival, std::function<void(std::string)> reply);
// A Response payload carrying only an error.
std::string RpcErrorPayload(uint64_t id, std::string_view code, std::string_view message);

class RpcServer {
 public:
  // `gate` (optional, on the same loop): lets the loop run a light request itself when
  // the server is otherwise idle (net/io/inline_gate.h); null: every request goes to
  // the pool (or, with service_on_loop, to the service on the loop).
  RpcServer(EventLoop& loop, WorkerPool& pool, RpcEngine engine, RpcLimits limits, InlineGate* gate = nullptr);
  ~RpcServer();
  TcpListener::Factory Factory();

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace vectron::net
