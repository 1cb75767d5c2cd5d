// `vectron serve`: the database over HTTP/JSON and binary RPC (net/server.h).
#include <cstdlib>

#include "cli.h"
#include "net/server.h"

namespace vectron::tools {
namespace {

struct ServeCommandOptions {
  net::ServeOptions serve;  // Every default is ServeOptions'.
  std::string durability = std::string(DurabilityName(net::ServeOptions{}.durability));
  std::string jwt_alg = net::JwtAlgName(net::ServeOptions{}.jwt_alg);
  bool no_auth = false;
  bool no_request_log = false;
  bool no_console = false;
  uint64_t audit_max_mib = net::ServeOptions{}.audit_max_bytes >> 20;
  int64_t audit_max_days = net::ServeOptions{}.audit_max_age_s / 86400;
};

void AddServe(CLI::App* cmd, ServeCommandOptions& o) {
  net::ServeOptions& so = o.serve;
  AddDbOption(cmd, &so.data_dir);
  cmd->add_option("--http", so.http_address, "HTTP listen address HOST:PORT (port 0 = any free port)")
      ->capture_default_str();
  cmd->add_option("--rpc", so.rpc_address, "RPC listen address HOST:PORT (port 0 = any free port)")
      ->capture_default_str();
  cmd->add_option("--workers", so.workers, "Engine worker threads (0 = hardware threads)")->capture_default_str();
  cmd->add_option("--queue", so.queue_max, "Engine calls that may wait before answering 503")->capture_default_str();
  cmd->add_flag("!--no-inline-reads", so.inline_reads,
                "Send every request through the worker pool, even a lone client's search (by default the "
                "event loop runs those itself while the workers are idle: docs/server.md)");
  cmd->add_option("--busy-poll-us", so.busy_poll_us,
                  "After answering a request on the event loop, poll this many microseconds before sleeping "
                  "(lower latency for a lone client at the cost of CPU; 0 = off)")
      ->capture_default_str();
  AddPortLimitFlags(cmd, &so.limits);
  cmd->add_option("--max-frame-bytes", so.rpc_max_frame_bytes, "Largest RPC frame")->capture_default_str();
  cmd->add_option("--shutdown-timeout-ms", so.shutdown_timeout_ms, "Drain limit after SIGTERM")->capture_default_str();
  cmd->add_option("--tls-cert", so.tls_cert,
                  "PEM certificate chain for TLS on both ports (default: a self-signed one in the --db directory, tls/)");
  cmd->add_option("--tls-key", so.tls_key, "PEM private key for --tls-cert");
  cmd->add_flag("--insecure-http", so.insecure_http, "Plain HTTP and RPC without TLS (prints a warning)");
  cmd->add_flag("--no-auth", o.no_auth, "Turn authentication off (prints a warning; development only)");
  cmd->add_option("--admin-password-file", so.admin_password_file,
                  "First start: the admin user's password, from this file (else $VECTRON_ADMIN_PASSWORD, else "
                  "generated and printed once)");
  cmd->add_option("--jwt-alg", o.jwt_alg, "Algorithm of new token signing keys: eddsa (Ed25519) or hs256")
      ->capture_default_str();
  cmd->add_option("--login-ttl", so.login_ttl_s, "Login token lifetime in seconds")->capture_default_str();
  cmd->add_option("--audit-max-mib", o.audit_max_mib, "Audit log size kept (oldest events go first)")
      ->capture_default_str();
  cmd->add_option("--audit-max-days", o.audit_max_days, "Audit log age kept (0 = only the size limit)")
      ->capture_default_str();
  cmd->add_option("--durability", o.durability, "full, nometasync or nosync")->capture_default_str();
  cmd->add_flag("--no-request-log", o.no_request_log, "Do not log one line per request");
  cmd->add_flag("--debug-routes", so.debug_routes, "Enable /v1/_debug/* (tests only)");
  cmd->add_flag("--no-console", o.no_console, "Do not serve the web console at /console/");
}

int RunServe(const ServeCommandOptions& o) {
  net::ServeOptions so = o.serve;
  auto durability = ParseDurabilityOption(o.durability);
  if (!durability.ok()) return Fail(durability.status());
  so.durability = *durability;
  so.log_requests = !o.no_request_log;
  so.auth = !o.no_auth;
  so.console = !o.no_console;
  so.audit_max_bytes = o.audit_max_mib << 20;
  so.audit_max_age_s = o.audit_max_days * 86400;
  if (o.jwt_alg == "eddsa" || o.jwt_alg == "EdDSA") so.jwt_alg = net::JwtAlg::kEdDSA;
  else if (o.jwt_alg == "hs256" || o.jwt_alg == "HS256") so.jwt_alg = net::JwtAlg::kHS256;
  else return Fail(Status::InvalidArgument("--jwt-alg must be eddsa or hs256"));
  if (const char* pw = std::getenv("VECTRON_ADMIN_PASSWORD"); pw && *pw && so.admin_password_file.empty())
    so.admin_password = pw;
  return net::RunServe(so);
}

}  // namespace

void AddServeCommand(CLI::App& app, Commands& out) {
  AddCommand<ServeCommandOptions>(app, out, "serve", "Serve the database over HTTP/JSON and binary RPC", AddServe,
                                  RunServe);
}

}  // namespace vectron::tools
