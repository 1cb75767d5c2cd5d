// `vectron serve`: one process serving a Database over HTTP/JSON and binary RPC.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "net/auth/authenticator.h"
#include "net/http/http_server.h"
#include "vectron/database.h"
#include "vectron/options.h"
#include "vectron/status.h"

namespace vectron::net {

inline constexpr int kDefaultHttpPort = 7700;
inline constexpr int kDefaultRpcPort = 7701;

struct ServeOptions {
  std::string data_dir = "./vectron-data";
  std::string http_address = "127.0.0.1:7700";  // HOST:PORT; port 0 = any free port.
  std::string rpc_address = "127.0.0.1:7701";   // Empty = no RPC listener.
  unsigned workers = 0;                          // Engine threads; 0 = hardware threads.
  size_t queue_max = 1024;                       // Waiting engine calls before 503.
  // A light read (one search, a small get) from the only active client, with every
  // worker idle, runs on the event-loop thread, skipping two thread hand-offs
  // (net/io/inline_gate.h). False: every engine call goes through the worker pool.
  bool inline_reads = true;
  // After a request run on the loop, the loop polls for this long before sleeping, so
  // that the client's next request does not have to wake it (EventLoop::SetBusyPoll).
  // Costs up to this much CPU per request; 0 = off. On by default: on a quiet VM it took
  // one client's RPC from 0.72-0.73x to 0.81-0.87x of the embedded QPS (docs/benchmarks.md).
  unsigned busy_poll_us = 100;
  PortLimits limits;                             // Both ports: sizes, timeouts, connection caps.
  size_t rpc_max_frame_bytes = 64 << 20;         // Larger frames close the connection.
  size_t rpc_max_inflight = 64;                  // Per connection; past it reading pauses.
  // TLS on both ports: these PEM files, or (neither given) a self-signed certificate
  // generated on first start into DATA/tls/ and reused after.
  std::string tls_cert, tls_key;
  bool insecure_http = false;                    // Plain HTTP and RPC, no TLS (warned about).
  // Authentication (docs/auth.md). Off only when asked for (warned about).
  bool auth = true;
  std::string admin_password;                    // First start: the admin's password; empty: generated.
  std::string admin_password_file;               // ... or read from this file (first line).
  JwtAlg jwt_alg = JwtAlg::kEdDSA;               // For signing keys created from now on.
  int64_t login_ttl_s = 900;                     // Login token lifetime.
  // The audit log (DATA/audit/) keeps at most this many bytes of events and events at
  // most this old; the oldest go first (docs/auth.md).
  uint64_t audit_max_bytes = uint64_t{64} << 20;
  int64_t audit_max_age_s = int64_t{90} * 86400;
  bool debug_routes = false;                     // See ApiOptions::debug_routes.
  bool console = true;                           // Serve the web console at /console/ (docs/console.md).
  bool log_requests = true;                      // One line per request on stderr.
  uint64_t shutdown_timeout_ms = 30000;          // Drain limit after SIGTERM.
  Durability durability = Durability::kFull;

  // Errors: InvalidArgument naming the option.
  Status Validate() const;
};

// Owns the database, the event loop, the listeners and the worker pool.
class Server {
 public:
  // Opens the database and binds both ports (nothing is served until Run()).
  // Errors: those of Database::Open and TcpListener::Listen, InvalidArgument (options,
  // TLS files).
  static Result<std::unique_ptr<Server>> Open(const ServeOptions& options);
  // Finishes queued work, checkpoints every collection and closes the database.
  ~Server();

  int http_port() const;
  int rpc_port() const;  // 0 if RPC is off.
  // "http://127.0.0.1:7700" (https:// under TLS) and "127.0.0.1:7701".
  std::string http_url() const;
  std::string rpc_address() const;
  // The served database (for embedding the server next to in-process use).
  Database& database();
  // The authenticator, or null when auth is off.
  Authenticator* authenticator();
  // Lines worth printing once at start (generated certificate, created admin user).
  const std::vector<std::string>& notes() const;
  // The certificate served (PEM path), empty without TLS.
  const std::string& tls_cert_path() const;

  // Serves until Shutdown() (or SIGTERM/SIGINT if `handle_signals`) has drained every
  // connection. Call once, on any thread.
  void Run(bool handle_signals);
  // Thread-safe. Graceful: stop accepting, finish in-flight requests, close.
  void Shutdown();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Copies what `vectron serve` keeps next to the database in `data_dir` into `dest` (an
// existing directory): the auth store (auth/) and the audit log (audit/), each a
// consistent copy also while a server runs, and the generated TLS certificate and key
// (tls/, the key mode 0600). Missing parts are skipped. `vectron backup` calls it after
// Database::Backup so that a restored directory serves with the same users, keys and
// certificate. REQUIRES: this process serves no Server on `data_dir`.
Status BackupServeState(const std::string& data_dir, const std::string& dest);

// The body of `vectron serve`: opens, prints the listening addresses on stdout, serves
// until SIGTERM/SIGINT, checkpoints, and returns the process exit code (0 on a clean stop).
int RunServe(const ServeOptions& options);

}  // namespace vectron::net
