#include "net/server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <cstdio>
#include <ctime>
#include <sys/time.h>
#include <optional>
#include <thread>

#include "net/api/console.h"
#include "net/api/metrics.h"
#include "net/api/rest_api.h"
#include "net/io/crypto.h"
#include "net/io/connection_limiter.h"
#include "net/io/event_loop.h"
#include "net/io/tcp.h"
#include "net/io/tls.h"
#include "net/io/worker_pool.h"
#include "net/rpc/frame.h"
#include "net/rpc/rpc_server.h"
#include "vectron/database.h"

namespace vectron::net {

Status ServeOptions::Validate() const {
  if (data_dir.empty()) return Status::InvalidArgument("--db (the database directory) must not be empty");
  VECTRON_RETURN_IF_ERROR(ParseHostPort(http_address).status().WithContext("--http"));
  if (!rpc_address.empty()) VECTRON_RETURN_IF_ERROR(ParseHostPort(rpc_address).status().WithContext("--rpc"));
  if (queue_max == 0) return Status::InvalidArgument("--queue must be at least 1");
  if (busy_poll_us > 1000000) return Status::InvalidArgument("--busy-poll-us must be at most 1000000 (one second)");
  VECTRON_RETURN_IF_ERROR(ValidateTlsFlags(tls_cert, tls_key, insecure_http));
  if (!admin_password.empty() && !admin_password_file.empty())
    return Status::InvalidArgument("give the admin password once: VECTRON_ADMIN_PASSWORD or --admin-password-file");
  if (login_ttl_s < 10) return Status::InvalidArgument("--login-ttl must be at least 10 seconds");
  if (audit_max_bytes < (uint64_t{1} << 20)) return Status::InvalidArgument("--audit-max-mib must be at least 1");
  if (audit_max_age_s < 0) return Status::InvalidArgument("--audit-max-days must not be negative");
  return limits.Validate();
}

namespace {

std::string Timestamp() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm t;
  gmtime_r(&tv.tv_sec, &t);
  char buf[40];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(tv.tv_usec / 1000));
  return buf;
}

}  // namespace

struct Server::Impl {
  ServeOptions options;
  std::unique_ptr<Database> db;
  std::unique_ptr<Authenticator> auth;
  std::vector<std::string> notes;
  std::string tls_cert_path;
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<InlineGate> gate;  // On the loop thread; shared by both listeners.
  RequestMetrics metrics;
  std::unique_ptr<RestApi> api;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<RpcServer> rpc;
  std::unique_ptr<TcpListener> http_listener;
  std::unique_ptr<TcpListener> rpc_listener;
  std::shared_ptr<ConnectionLimiter> limiter;  // Both listeners' connection caps.
  uint64_t refused_logged = 0;                 // Refusals already reported in the log.
  std::optional<uint64_t> refused_log_ms;      // When they last were.
  bool draining = false;  // Loop thread.
  uint64_t drain_deadline_ms = 0;

  void BeginDrain() {
    if (draining) return;
    draining = true;
    if (options.log_requests) std::fprintf(stderr, "info shutting down: draining connections\n");
    api->SetDraining();
    http->SetDraining();
    drain_deadline_ms = loop->NowMs() + options.shutdown_timeout_ms;
    http_listener->StopAccepting();
    if (rpc_listener) rpc_listener->StopAccepting();
    http_listener->CloseIdle();
    if (rpc_listener) rpc_listener->CloseIdle();
    MaybeStop();
  }

  void MaybeStop() {
    if (!draining) return;
    size_t conns = http_listener->connection_count() + (rpc_listener ? rpc_listener->connection_count() : 0);
    if (conns == 0 && pool->queued() == 0 && pool->running() == 0) {
      loop->Stop();
      return;
    }
    if (loop->NowMs() >= drain_deadline_ms) {
      std::fprintf(stderr, "warn shutdown timeout: closing %zu connections\n", conns);
      http_listener->CloseAll();
      if (rpc_listener) rpc_listener->CloseAll();
      loop->Stop();
      return;
    }
    // Connections that finished their last request are closed as they become idle.
    http_listener->CloseIdle();
    if (rpc_listener) rpc_listener->CloseIdle();
  }

  std::string RuntimeGauges() const {
    std::string out;
    auto g = [&](const char* name, const char* help, size_t v) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " +
             std::to_string(v) + "\n";
    };
    g("vectron_http_connections", "Open HTTP connections.", http_listener->connection_count());
    g("vectron_rpc_connections", "Open RPC connections.", rpc_listener ? rpc_listener->connection_count() : 0);
    g("vectron_worker_threads", "Engine worker threads.", pool->threads());
    g("vectron_worker_queue_depth", "Engine calls waiting for a worker.", pool->queued());
    g("vectron_worker_queue_capacity", "Most engine calls that may wait before 503.", pool->queue_max());
    g("vectron_worker_busy", "Engine calls running.", pool->running());
    out += "# HELP vectron_inline_requests_total Light requests the event loop ran itself while the workers were "
           "idle (--no-inline-reads turns this off).\n# TYPE vectron_inline_requests_total counter\n"
           "vectron_inline_requests_total " + std::to_string(gate->inlined()) + "\n";
    out += "# HELP vectron_busy_polls_total Passes of the event loop that polled instead of sleeping "
           "(--busy-poll-us).\n# TYPE vectron_busy_polls_total counter\n"
           "vectron_busy_polls_total " + std::to_string(loop->busy_polls()) + "\n";
    out += "# HELP vectron_connections_refused_total Connections refused at a cap (--max-connections, "
           "--max-connections-per-ip).\n# TYPE vectron_connections_refused_total counter\n";
    out += "vectron_connections_refused_total{cap=\"total\"} " + std::to_string(limiter->refused_total_cap()) + "\n";
    out += "vectron_connections_refused_total{cap=\"per_ip\"} " + std::to_string(limiter->refused_ip_cap()) + "\n";
    out += "# HELP vectron_tls_handshake_timeouts_total Connections cut for not finishing the TLS handshake in "
           "time.\n# TYPE vectron_tls_handshake_timeouts_total counter\n";
    out += "vectron_tls_handshake_timeouts_total " +
           std::to_string(http_listener->handshake_timeouts() + (rpc_listener ? rpc_listener->handshake_timeouts() : 0)) +
           "\n";
    return out;
  }

  // Says in the log, at most every 10 s, that connections were refused at a cap.
  void LogRefusals(uint64_t now) {
    uint64_t refused = limiter->refused_total_cap() + limiter->refused_ip_cap();
    if (refused == refused_logged || (refused_log_ms && now - *refused_log_ms < 10000)) return;
    std::fprintf(stderr, "%s warn refused %llu connections at the connection caps (%llu at --max-connections %zu, %llu "
                         "at --max-connections-per-ip %zu, total so far)\n",
                 Timestamp().c_str(), static_cast<unsigned long long>(refused - refused_logged),
                 static_cast<unsigned long long>(limiter->refused_total_cap()), limiter->max_total(),
                 static_cast<unsigned long long>(limiter->refused_ip_cap()), limiter->max_per_ip());
    refused_logged = refused;
    refused_log_ms = now;
  }
};


Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Server>> Server::Open(const ServeOptions& options) {
  VECTRON_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::string admin_password = options.admin_password;
  if (!options.admin_password_file.empty()) {
    VECTRON_ASSIGN_OR_RETURN(admin_password, ReadPasswordFile(options.admin_password_file));
  }
  DatabaseOptions dbo;
  dbo.durability = options.durability;
  VECTRON_ASSIGN_OR_RETURN(impl->db, Database::Open(options.data_dir, dbo));
  // Secure by default: a self-signed certificate for development, made once.
  VECTRON_ASSIGN_OR_RETURN(std::shared_ptr<TlsContext> tls,
                           ServerTls(options.tls_cert, options.tls_key, options.insecure_http, options.data_dir + "/tls",
                                     &impl->tls_cert_path, &impl->notes));
  if (options.auth) {
    AuthOptions ao;
    ao.dir = options.data_dir + "/auth";
    ao.audit_dir = options.data_dir + "/audit";
    ao.audit_max_bytes = options.audit_max_bytes;
    ao.audit_max_age_s = options.audit_max_age_s;
    ao.alg = options.jwt_alg;
    ao.login_ttl_s = options.login_ttl_s;
    ao.admin_password = admin_password;
    ao.create_admin_on_open = false;  // Below, once both ports are bound.
    VECTRON_ASSIGN_OR_RETURN(impl->auth, Authenticator::Open(ao, nullptr));
  }
  impl->loop = std::make_unique<EventLoop>();
  unsigned workers = options.workers ? options.workers : std::max(1u, std::thread::hardware_concurrency());
  impl->pool = std::make_unique<WorkerPool>(workers, options.queue_max);
  impl->gate = std::make_unique<InlineGate>(*impl->pool, options.inline_reads);
  if (options.inline_reads && options.busy_poll_us > 0) {
    InlineGate* gate = impl->gate.get();
    impl->loop->SetBusyPoll(std::chrono::microseconds(options.busy_poll_us), [gate] { return gate->inlined(); });
  }
  Impl* self = impl.get();
  ApiOptions ao;
  ao.debug_routes = options.debug_routes;
  ao.gate = impl->gate.get();
  impl->api = std::make_unique<RestApi>(*impl->db, *impl->pool, impl->metrics, ao, [self] { return self->RuntimeGauges(); },
                                       impl->auth.get());
  const bool log = options.log_requests;
  const bool console = options.console;
  impl->http = std::make_unique<HttpServer>(
      *impl->loop, options.limits.http,
      [self](HttpRequest req, Responder respond) { self->api->Handle(std::move(req), std::move(respond)); },
      [self, log](const HttpRequest& req, const HttpResponse& resp, double ms) {
        self->metrics.ObserveHttp(req.method, resp.route, resp.status, ms / 1000.0);
        if (log) {
          std::fprintf(stderr, "%s info http %s \"%s %s\" %d %zuB %.3fms\n", Timestamp().c_str(), req.peer.c_str(),
                       req.method.c_str(), req.target.c_str(), resp.status, resp.body.size(), ms);
        }
      },
      [self, console](const HttpRequest& head) {
        // The console's static files need no body and no engine: answered at admission,
        // on the loop thread, before the API's route table (which does not know them).
        if (HttpResponse r; console && ServeConsole(head, &r)) {
          Admission a;
          a.admit = false;
          a.refusal = std::move(r);
          return a;
        }
        return self->api->Admit(head);
      });
  impl->limiter = std::make_shared<ConnectionLimiter>(options.limits.max_connections, options.limits.max_connections_per_ip);
  ListenOptions lo;
  lo.tls = tls;
  lo.handshake_timeout_ms = options.limits.tls_handshake_timeout_ms;
  lo.limiter = impl->limiter;
  lo.refusal = ConnectionCapRefusal();
  auto [hhost, hport] = ParseHostPort(options.http_address).value();
  VECTRON_ASSIGN_OR_RETURN(impl->http_listener, TcpListener::Listen(*impl->loop, hhost, hport, lo, impl->http->Factory()));
  if (!options.rpc_address.empty()) {
    RpcLimits rl;
    rl.max_frame_bytes = options.rpc_max_frame_bytes;
    rl.max_inflight = options.rpc_max_inflight;
    rl.idle_timeout_ms = options.limits.http.idle_timeout_ms;
    rl.frame_timeout_ms = options.limits.http.request_timeout_ms;
    rl.log_requests = log;
    impl->rpc = std::make_unique<RpcServer>(*impl->loop, *impl->pool,
                                            RpcEngine{&impl->api->service(), ao.limits, &impl->metrics, impl->auth.get()}, rl,
                                            impl->gate.get());
    auto [rhost, rport] = ParseHostPort(options.rpc_address).value();
    lo.refusal = EncodeFrame(RpcErrorPayload(0, "unavailable", "too many open connections; retry later"));
    VECTRON_ASSIGN_OR_RETURN(impl->rpc_listener, TcpListener::Listen(*impl->loop, rhost, rport, lo, impl->rpc->Factory()));
  }
  if (impl->auth) {
    // Last, so that a start that fails (a port in use) never swallows a generated password.
    std::string note;
    VECTRON_RETURN_IF_ERROR(impl->auth->EnsureAdmin(&note));
    if (!note.empty()) impl->notes.push_back(note);
  }
  // Timeouts are swept coarsely rather than with one timer per connection.
  impl->loop->Every(options.limits.SweepMs(), [self] {
    uint64_t now = self->loop->NowMs();
    self->http_listener->Tick(now);
    if (self->rpc_listener) self->rpc_listener->Tick(now);
    self->LogRefusals(now);
    self->MaybeStop();
  });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::~Server() {
  // Connections first (their handlers reference the servers), then the loop's handles.
  impl_->http_listener.reset();
  impl_->rpc_listener.reset();
  impl_->pool->Shutdown();
  impl_->loop.reset();
  if (impl_->db) {
    auto names = impl_->db->ListCollections();
    if (names.ok()) {
      for (auto& n : *names) {
        auto c = impl_->db->GetCollection(n);
        if (c.ok()) {
          if (Status s = (*c)->Checkpoint(); !s.ok())
            std::fprintf(stderr, "warn checkpoint of %s failed: %s\n", n.c_str(), s.ToString().c_str());
        }
      }
    }
  }
}

Database& Server::database() { return *impl_->db; }
Authenticator* Server::authenticator() { return impl_->auth.get(); }
const std::vector<std::string>& Server::notes() const { return impl_->notes; }
const std::string& Server::tls_cert_path() const { return impl_->tls_cert_path; }

int Server::http_port() const { return impl_->http_listener->port(); }
int Server::rpc_port() const { return impl_->rpc_listener ? impl_->rpc_listener->port() : 0; }

std::string Server::http_url() const {
  const auto& l = *impl_->http_listener;
  std::string host = l.host().find(':') != std::string::npos ? "[" + l.host() + "]" : l.host();
  return std::string(l.tls() ? "https://" : "http://") + host + ":" + std::to_string(l.port());
}

std::string Server::rpc_address() const {
  if (!impl_->rpc_listener) return {};
  const auto& l = *impl_->rpc_listener;
  std::string host = l.host().find(':') != std::string::npos ? "[" + l.host() + "]" : l.host();
  return host + ":" + std::to_string(l.port());
}

void Server::Run(bool handle_signals) {
  Impl* self = impl_.get();
  if (handle_signals) {
    self->loop->OnSignal(SIGTERM, [self] { self->BeginDrain(); });
    self->loop->OnSignal(SIGINT, [self] { self->BeginDrain(); });
  }
  self->loop->Run();
}

void Server::Shutdown() {
  Impl* self = impl_.get();
  self->loop->Post([self] { self->BeginDrain(); });
}

Status BackupServeState(const std::string& data_dir, const std::string& dest) {
  VECTRON_RETURN_IF_ERROR(CopyAuthStores(data_dir + "/auth", data_dir + "/audit", dest + "/auth", dest + "/audit"));
  // The generated certificate and its key (a given --tls-cert lives elsewhere: not copied).
  const std::string tls = data_dir + "/tls";
  if (::access((tls + "/cert.pem").c_str(), F_OK) != 0) return Status::OK();
  if (::mkdir((dest + "/tls").c_str(), 0700) != 0) return Status::IOError(dest + "/tls: " + std::strerror(errno));
  for (const char* name : {"cert.pem", "key.pem"}) {
    std::ifstream in(tls + "/" + name, std::ios::binary);
    if (!in) return Status::IOError(tls + "/" + name + ": cannot read it");
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string to = dest + "/tls/" + name;
    // The private key is created 0600 before a byte of it is written.
    int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, std::string(name) == "key.pem" ? 0600 : 0644);
    if (fd < 0) return Status::IOError(to + ": " + std::strerror(errno));
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return Status::IOError(to + ": write failed");
  }
  return Status::OK();
}

int RunServe(const ServeOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);
  auto server = Server::Open(options);
  if (!server.ok()) {
    std::fprintf(stderr, "vectron: %s\n", server.status().ToString().c_str());
    return server.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (options.insecure_http)
    std::fprintf(stderr, "WARNING: --insecure-http: TLS is off; tokens, passwords and data cross the network in "
                         "plain text. Use it only on loopback or behind a TLS proxy.\n");
  if (!options.auth)
    std::fprintf(stderr, "WARNING: --no-auth: authentication is off; anyone who can connect can read, write and "
                         "drop every collection.%s\n",
                 options.http_address.rfind("127.", 0) == 0 || options.http_address.rfind("localhost:", 0) == 0 ||
                         options.http_address.rfind("[::1]", 0) == 0
                     ? ""
                     : " The HTTP port is NOT bound to loopback.");
  std::printf("vectron serve: data %s\n", options.data_dir.c_str());
  for (const auto& note : (*server)->notes()) std::printf("vectron serve: %s\n", note.c_str());
  std::printf("vectron serve: auth %s\n", options.auth ? "on (docs/auth.md)" : "OFF (--no-auth)");
  if (!(*server)->tls_cert_path().empty())
    std::printf("vectron serve: tls certificate %s\n", (*server)->tls_cert_path().c_str());
  std::printf("vectron serve: http listening on %s\n", (*server)->http_url().c_str());
  if (options.console)
    std::printf("vectron serve: console %s/console/%s\n", (*server)->http_url().c_str(),
                ConsoleBuilt() ? "" : " (not built into this binary: see docs/console.md)");
  if (!options.rpc_address.empty())
    std::printf("vectron serve: rpc listening on %s%s\n", (*server)->rpc_address().c_str(),
                (*server)->tls_cert_path().empty() ? "" : " (tls)");
  std::printf("vectron serve: ready\n");
  std::fflush(stdout);
  (*server)->Run(true);
  server->reset();
  std::printf("vectron serve: stopped\n");
  std::fflush(stdout);
  return 0;
}

}  // namespace vectron::net
