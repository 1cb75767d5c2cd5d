// The cluster daemons' subcommands of the vectron CLI: `vectron pd`, `vectron worker`,
// `vectron gateway` (docs/cluster.md, "Running a cluster").
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cluster_up.h"
#include "net/daemon/daemons.h"

namespace vectron::tools {

struct ClusterCommands {
  CLI::App* pd = nullptr;
  CLI::App* worker = nullptr;
  CLI::App* gateway = nullptr;
  CLI::App* cluster_up = nullptr;
  CLI::App* cluster_status = nullptr;
  CLI::App* cluster_issue = nullptr;  // cluster issue-cert
  CLI::App* cluster_add_worker = nullptr;
  std::string add_worker_dir;
  double pd_dead_after_s = 60;       // pd --dead-after
  bool pd_no_rebalance = false;      // pd --no-rebalance
  std::string issue_dir, issue_node;
  bool issue_force = false;
  ClusterUpOptions up_options;
  std::string status_dir;
  net::daemon::PdOptions pd_options;
  net::daemon::WorkerOptions worker_options;
  net::daemon::GatewayOptions gateway_options;
  std::string pd_peers, worker_pd, gateway_pd;
  std::string secret_file;  // --secret-file of whichever daemon runs
  bool insecure = false;     // --insecure
  net::daemon::ClusterTlsFiles cluster_tls;  // --cluster-ca/-cert/-key of whichever daemon runs
  uint64_t cluster_connect_timeout_ms = net::daemon::TcpClusterTransport::kConnectTimeoutMs;
  bool gateway_no_auth = false;            // gateway --no-auth
  std::string gateway_admin_password_file; // gateway --admin-password-file
  std::string status_token;                // cluster status --token
};

// Adds the three subcommands to `app`; `c` must outlive the parse.
void AddClusterCommands(CLI::App& app, ClusterCommands* c);
// Runs the selected daemon and returns its exit code; -1 if none was selected.
int RunClusterCommand(const ClusterCommands& c);

}  // namespace vectron::tools
