// `vectron cluster up` and `vectron cluster status` (docs/cluster.md, "Running a cluster"):
// a local cluster of OS processes on 127.0.0.1, for development and tests.
#pragma once

#include <string>
#include <vector>

namespace vectron::tools {

struct ClusterUpOptions {
  std::string dir;            // Data directories, logs and cluster.json go here.
  int pd = 3;                 // PD processes (1..7).
  int workers = 3;            // Worker processes (1..64).
  int gateways = 1;           // Gateway processes (1..16).
  std::string http = "127.0.0.1:0";  // The first gateway's HTTP address (port 0: any free one).
  int ready_timeout_s = 60;   // How long to wait for the cluster to serve.
  bool insecure_http = false; // Gateways serve plain HTTP (else HTTPS, a self-signed certificate each).
  std::string admin_password_file;  // Given to the gateways (else $VECTRON_ADMIN_PASSWORD, else generated).
  bool no_cluster_tls = false;  // Nodes talk plain TCP (else mutual TLS, certificates in DIR/cluster-tls).
  std::string dead_after;       // Given to the PDs as --dead-after (empty: their default).
  std::string split_points;     // Given to the PDs as --split-points (empty: their default).
  std::string split_bytes;      // Given to the PDs as --split-bytes (empty: their default).
  std::vector<std::string> worker_args;  // Appended to every worker's arguments.
};

// Starts every node as its own process (this executable's pd / worker / gateway
// subcommands; each logs to DIR/<node>.log; between them the cluster secret and, unless
// `no_cluster_tls`, mutual TLS with the cluster CA and node certificates it makes in
// DIR/cluster-tls on first start and keeps after), waits until every gateway is ready (auth
// records loaded) and the map shows every worker alive, writes DIR/cluster.json, prints
// how to connect (and the admin's generated password, if a gateway created the admin
// now), and on SIGINT or SIGTERM stops them all. A node that dies is reported, not
// restarted. Returns the exit code (1 if the cluster did not come up).
int RunClusterUp(const ClusterUpOptions& options);
// Prints the cluster map as the first gateway of DIR/cluster.json serves it; `token`
// must allow it (an admin's login token or admin key) unless the gateway runs --no-auth.
// Replica moves in progress are shown with each joining replica's progress.
int RunClusterStatus(const std::string& dir, const std::string& token);
// Starts one more worker for the cluster of DIR/cluster.json (as its first worker is run:
// same PDs, secret and CA; the next id, a free port, its own certificate), records it
// there (the `cluster up` process adopts it, to stop it with the rest), and waits until
// PD counts it alive. PD then rebalances replicas onto it. Returns the exit code.
int RunClusterAddWorker(const std::string& dir, int ready_timeout_s);
// Writes DIR/cluster-tls/<node>.pem and <node>-key.pem (mode 0600): a certificate for
// `node` ("pd-1", "worker-4", "gateway-2") signed by the cluster CA in DIR/cluster-tls
// (made now if missing), and prints the flags that give them to the node. An existing
// certificate for the node is kept (exit 1) unless `force`.
int RunClusterIssueCert(const std::string& dir, const std::string& node, bool force);

}  // namespace vectron::tools
