#include "cluster_commands.h"

#include <cstdio>
#include <cstdlib>

#include "cli.h"
#include "net/auth/authenticator.h"

namespace vectron::tools {

using net::daemon::ParseMemberList;

namespace {

void AddSecretFlags(CLI::App* cmd, ClusterCommands* c) {
  cmd->add_option("--secret-file", c->secret_file,
                  "File holding the cluster secret (>= 16 bytes) every node presents; callers without it are refused");
  cmd->add_option("--cluster-ca", c->cluster_tls.ca,
                  "PEM certificate of the cluster CA: with --cluster-cert and --cluster-key, all traffic between "
                  "nodes is TLS 1.3 and both sides must present a certificate this CA signed (cluster up makes "
                  "them in DIR/cluster-tls; vectron cluster issue-cert makes one for a node started by hand)");
  cmd->add_option("--cluster-cert", c->cluster_tls.cert,
                  "PEM certificate of this node, signed by --cluster-ca, for vectron-<pd|worker|gateway>-<id>");
  cmd->add_option("--cluster-key", c->cluster_tls.key, "PEM private key of --cluster-cert");
  cmd->add_flag("--insecure", c->insecure,
                "No cluster secret and no cluster TLS: accept any caller (prints a warning; development only)");
  cmd->add_option("--cluster-connect-timeout-ms", c->cluster_connect_timeout_ms,
                  "A connect to another node that is not answered within this fails (its queued messages are "
                  "dropped) and is retried after a backoff; 0 = as long as the kernel tries (about 2 min)")
      ->capture_default_str();
}

// The secret of the daemon being started (empty: none), or why it may not start.
Result<std::string> Secret(const ClusterCommands& c) {
  if (!c.secret_file.empty() && c.insecure) return Status::InvalidArgument("give --secret-file or --insecure, not both");
  VECTRON_RETURN_IF_ERROR(c.cluster_tls.Validate());
  if (c.insecure && c.cluster_tls.enabled())
    return Status::InvalidArgument("--insecure contradicts --cluster-ca/--cluster-cert/--cluster-key; give one or the other");
  if (c.insecure) {
    std::fprintf(stderr, "warning: --insecure: this node accepts any caller on its cluster port\n");
    return std::string();
  }
  if (c.secret_file.empty() && !c.cluster_tls.enabled())
    return Status::InvalidArgument(
        "--secret-file is required, or --cluster-ca/--cluster-cert/--cluster-key (or --insecure for development; "
        "vectron cluster up makes them)");
  if (!c.cluster_tls.enabled())
    std::fprintf(stderr, "warning: no --cluster-ca/--cluster-cert/--cluster-key: traffic between nodes (the secret "
                         "included) is plain text\n");
  if (c.secret_file.empty()) return std::string();  // Membership by certificate alone.
  return net::daemon::ReadSecretFile(c.secret_file);
}
}  // namespace

void AddClusterCommands(CLI::App& app, ClusterCommands* c) {
  c->pd = app.add_subcommand("pd", "Run a placement driver of a cluster (one of 3)");
  c->pd->add_option("--id", c->pd_options.id, "This PD's id (one of --peers)")->required();
  AddDbOption(c->pd, &c->pd_options.data_dir, /*required=*/true);
  c->pd->add_option("--listen", c->pd_options.listen, "Cluster listen address HOST:PORT")->capture_default_str();
  c->pd->add_option("--peers", c->pd_peers, "Every PD: 1=HOST:PORT,2=HOST:PORT,3=HOST:PORT")->required();
  c->pd->add_option("--dead-after", c->pd_dead_after_s,
                    "Seconds a worker may be silent before its replicas are replaced on other workers (0 = never)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e7));
  c->pd->add_option("--max-moves", c->pd_options.max_moves, "Shard groups moved at once (repair and rebalancing)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  c->pd->add_option("--split-points", c->pd_options.split_points,
                    "Split a shard group holding more points than this at the middle of its key range (0 = never)")
      ->capture_default_str();
  c->pd->add_option("--split-bytes", c->pd_options.split_bytes,
                    "Split a shard group holding more bytes of live data (its LMDB pages in use: points, payloads, "
                    "payload indexes) than this at the middle of its key range (0 = never)")
      ->capture_default_str();
  c->pd->add_flag("--no-rebalance", c->pd_no_rebalance,
                  "Do not move replicas onto workers that join (repairs still happen)");
  AddSecretFlags(c->pd, c);

  c->worker = app.add_subcommand("worker", "Run a worker of a cluster (hosts shard replicas)");
  c->worker->add_option("--id", c->worker_options.id, "This worker's id (unique in the cluster, >= 1)")->required();
  AddDbOption(c->worker, &c->worker_options.data_dir, /*required=*/true);
  c->worker->add_option("--listen", c->worker_options.listen, "Cluster listen address HOST:PORT (peers reach it there)")
      ->capture_default_str();
  c->worker->add_option("--pd", c->worker_pd, "The PDs: 1=HOST:PORT,2=HOST:PORT,3=HOST:PORT")->required();
  c->worker->add_option("--map-size-bytes", c->worker_options.map_size_bytes, "LMDB map size of each shard")
      ->capture_default_str();
  c->worker
      ->add_option("--snapshot-rate-mb", c->worker_options.snapshot_rate_mb,
                   "MiB a second this worker pulls of the shard copies it fetches when it joins a group (all of "
                   "them together; 0 = no limit); lower spares the searches on both ends, and the move takes longer")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  c->worker
      ->add_option("--snapshot-chunk-bytes", c->worker_options.snapshot_chunk_bytes,
                   "Chunk size of those fetches (one request and answer each)")
      ->capture_default_str()
      ->check(CLI::Range(4096, 4 << 20));
  c->worker
      ->add_option("--snapshot-progress-bytes", c->worker_options.snapshot_progress_bytes,
                   "Such a fetch makes its bytes durable and records how far it got every this many bytes (0 = "
                   "every chunk); an interrupted fetch resumes there. Lower loses less to an interruption and "
                   "syncs more often")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40));
  c->worker
      ->add_option("--compact-entries", c->worker_options.compact_entries,
                   "Compact a shard group's log once this many entries past its shard's last flush (a replica "
                   "further behind installs a snapshot copy instead of replaying the log)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 30));
  c->worker
      ->add_option("--hibernate-after-ticks", c->worker_options.hibernate_after_ticks,
                   "Ticks (100 ms) a shard group this worker leads must be idle before it stops heartbeating "
                   "(hibernation; 0 = off: every group heartbeats on its own)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  c->worker->add_flag("--read-lease,!--no-read-lease", c->worker_options.read_lease,
                      "Confirm linearizable reads with the shard group leader's lease while it holds (no "
                      "heartbeat round per read; on by default); assumes no node's clock runs 1.8x faster than another's. "
                      "--no-read-lease confirms every read with a heartbeat round to a majority");
  c->worker
      ->add_option("--compact-deleted-share", c->worker_options.compact_deleted_share,
                   "Rebuild a hosted shard's graph without its deleted points, in the background while it "
                   "serves, once this share of its slots are deleted (deletes, changed vectors and the half a "
                   "split gave away leave deleted slots; a split alone leaves each half about half deleted, so "
                   "0.3 rebuilds after every split and 0.6 does not; 0 = never). It costs CPU while it runs: "
                   "searches on the same cores slow down")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  c->worker->add_flag("!--compact-at-normal-priority", c->worker_options.compact_at_idle_priority,
                      "Run those rebuilds at normal CPU priority (by default they run at the lowest, SCHED_IDLE, "
                      "taking only CPU time nothing else wants: on a busy machine they wait)");
  c->worker->add_flag("!--no-inline-reads", c->worker_options.inline_reads,
                      "Hand every read to the worker's threads. By default a light read (a search that is not "
                      "exact, a get of up to 64 ids) that its gateway sent while it had no other read at this "
                      "worker runs on the worker's event loop when no other read is running and no other gateway "
                      "sent one in the last 10 ms, saving two thread wake-ups");
  AddSecretFlags(c->worker, c);

  c->gateway = app.add_subcommand("gateway", "Run a gateway of a cluster (the REST API over the cluster)");
  c->gateway->add_option("--pd", c->gateway_pd, "The PDs: 1=HOST:PORT,2=HOST:PORT,3=HOST:PORT")->required();
  c->gateway->add_option("--http", c->gateway_options.http, "HTTP listen address HOST:PORT (port 0 = any free port)")
      ->capture_default_str();
  c->gateway->add_option("--rpc", c->gateway_options.rpc,
                         "Binary RPC listen address HOST:PORT, as `vectron serve --rpc` (port 0 = any free port; "
                         "default: no RPC port)");
  c->gateway->add_option("--max-frame-bytes", c->gateway_options.rpc_max_frame_bytes, "Largest RPC frame")
      ->capture_default_str();
  c->gateway->add_option("--id", c->gateway_options.id, "This gateway's id (unique among gateways)")
      ->capture_default_str();
  c->gateway->add_option("--deadline-ms", c->gateway_options.deadline_ms,
                         "A request retries (leader changes, stale maps) until this, then answers 503")
      ->capture_default_str();
  AddDbOption(c->gateway, &c->gateway_options.data_dir, /*required=*/true);
  c->gateway->add_option("--tls-cert", c->gateway_options.tls_cert,
                         "PEM certificate chain for HTTPS (default: a self-signed one generated into DB/tls)");
  c->gateway->add_option("--tls-key", c->gateway_options.tls_key, "PEM private key for --tls-cert");
  c->gateway->add_flag("--insecure-http", c->gateway_options.insecure_http, "Plain HTTP and RPC without TLS (prints a warning)");
  c->gateway->add_flag("--no-auth", c->gateway_no_auth, "Turn authentication off (prints a warning; development only)");
  c->gateway->add_option("--admin-password-file", c->gateway_admin_password_file,
                         "If the cluster has no user yet: the admin user's password, from this file (else "
                         "$VECTRON_ADMIN_PASSWORD, else generated and printed once)");
  AddSecretFlags(c->gateway, c);
  AddPortLimitFlags(c->gateway, &c->gateway_options.limits);
  c->gateway
      ->add_option("--result-cache-bytes", c->gateway_options.result_cache_bytes,
                   "Memory bound of the cache of reranked search answers (0 = off); an answer is served from it "
                   "only if no shard applied anything since")
      ->capture_default_str();

  auto* cluster = app.add_subcommand("cluster", "Run a local cluster of processes (development), or show its map");
  c->cluster_up = cluster->add_subcommand("up", "Start PDs, workers and gateways as processes on 127.0.0.1");
  c->cluster_up->add_option("--dir", c->up_options.dir, "Directory for data, logs and cluster.json")->required();
  c->cluster_up->add_option("--pd", c->up_options.pd, "PD processes")->capture_default_str();
  c->cluster_up->add_option("--workers", c->up_options.workers, "Worker processes")->capture_default_str();
  c->cluster_up->add_option("--gateways", c->up_options.gateways, "Gateway processes")->capture_default_str();
  c->cluster_up->add_option("--http", c->up_options.http, "The first gateway's HTTP address (port 0 = any free port)")
      ->capture_default_str();
  c->cluster_up->add_flag("--insecure-http", c->up_options.insecure_http,
                          "Gateways serve plain HTTP (default: HTTPS with a self-signed certificate each)");
  c->cluster_up->add_option("--admin-password-file", c->up_options.admin_password_file,
                            "If the cluster has no user yet: the admin's password, from this file (else "
                            "$VECTRON_ADMIN_PASSWORD, else generated and printed once)");
  c->cluster_up->add_flag("--no-cluster-tls", c->up_options.no_cluster_tls,
                          "Nodes talk plain TCP with the cluster secret in clear (default: mutual TLS with "
                          "certificates from the cluster CA in DIR/cluster-tls)");
  c->cluster_up->add_option("--dead-after", c->up_options.dead_after,
                            "Given to the PDs: seconds a worker may be silent before its replicas are replaced");
  c->cluster_up->add_option("--split-points", c->up_options.split_points,
                            "Given to the PDs: split a shard group holding more points than this");
  c->cluster_up->add_option("--split-bytes", c->up_options.split_bytes,
                            "Given to the PDs: split a shard group holding more bytes of live data than this");
  c->cluster_up->add_option("--worker-arg", c->up_options.worker_args,
                            "An argument appended to every worker's (repeatable; e.g. --worker-arg=--snapshot-rate-mb=64); "
                            "workers that cluster add-worker starts get them too")
      ->allow_extra_args(false);
  c->cluster_add_worker = cluster->add_subcommand(
      "add-worker", "Start one more worker for a cluster up cluster; PD rebalances replicas onto it");
  c->cluster_add_worker->add_option("--dir", c->add_worker_dir, "The directory given to cluster up")->required();
  c->cluster_issue = cluster->add_subcommand(
      "issue-cert", "Issue a cluster certificate for a node started by hand, signed by the CA of a cluster up --dir");
  c->cluster_issue->add_option("--dir", c->issue_dir, "The directory given to cluster up (its CA is DIR/cluster-tls/ca.pem)")
      ->required();
  c->cluster_issue->add_option("--node", c->issue_node, "The node: pd-<id>, worker-<id> or gateway-<id>")->required();
  c->cluster_issue->add_flag("--force", c->issue_force, "Replace an existing certificate and key for that node");
  c->cluster_status = cluster->add_subcommand("status", "Print the map of a cluster started by cluster up");
  c->cluster_status->add_option("--dir", c->status_dir, "The directory given to cluster up")->required();
  c->cluster_status->add_option("--token", c->status_token,
                                "A token allowed to read the map (an admin's login or admin key; default: $VECTRON_TOKEN)");
  cluster->require_subcommand(1);
}

int RunClusterCommand(const ClusterCommands& c) {
  bool daemon = (c.pd && *c.pd) || (c.worker && *c.worker) || (c.gateway && *c.gateway);
  std::string secret;
  if (daemon) {
    auto s = Secret(c);
    if (!s.ok()) return Fail(s.status());
    secret = *s;
  }
  if (c.pd && *c.pd) {
    if (Status s = RequireDbDir(c.pd_options.data_dir); !s.ok()) return Fail(s);
    auto peers = ParseMemberList(c.pd_peers);
    if (!peers.ok()) return Fail(peers.status());
    net::daemon::PdOptions o = c.pd_options;
    o.secret = secret;
    o.cluster_tls = c.cluster_tls;
    o.connect_timeout_ms = c.cluster_connect_timeout_ms;
    o.peers = *peers;
    o.dead_after_ms = static_cast<uint64_t>(c.pd_dead_after_s * 1000);
    o.rebalance = !c.pd_no_rebalance;
    return net::daemon::RunPd(o);
  }
  if (c.worker && *c.worker) {
    if (Status s = RequireDbDir(c.worker_options.data_dir); !s.ok()) return Fail(s);
    auto pd = ParseMemberList(c.worker_pd);
    if (!pd.ok()) return Fail(pd.status());
    net::daemon::WorkerOptions o = c.worker_options;
    o.secret = secret;
    o.cluster_tls = c.cluster_tls;
    o.connect_timeout_ms = c.cluster_connect_timeout_ms;
    o.pd = *pd;
    return net::daemon::RunWorker(o);
  }
  if (c.gateway && *c.gateway) {
    auto pd = ParseMemberList(c.gateway_pd);
    if (!pd.ok()) return Fail(pd.status());
    net::daemon::GatewayOptions o = c.gateway_options;
    o.secret = secret;
    o.cluster_tls = c.cluster_tls;
    o.connect_timeout_ms = c.cluster_connect_timeout_ms;
    o.pd = *pd;
    o.auth = !c.gateway_no_auth;
    if (!c.gateway_admin_password_file.empty()) {
      auto pw = net::ReadPasswordFile(c.gateway_admin_password_file);
      if (!pw.ok()) return Fail(pw.status());
      o.admin_password = *pw;
    } else if (const char* pw = std::getenv("VECTRON_ADMIN_PASSWORD"); pw && *pw) {
      o.admin_password = pw;
    }
    if (!o.admin_password.empty() && (o.admin_password.size() < 8 || o.admin_password.size() > 1024))
      return Fail(Status::InvalidArgument("the admin password must have 8-1024 characters"));
    return net::daemon::RunGateway(o);
  }
  if (c.cluster_up && *c.cluster_up) return RunClusterUp(c.up_options);
  if (c.cluster_add_worker && *c.cluster_add_worker) return RunClusterAddWorker(c.add_worker_dir, 60);
  if (c.cluster_issue && *c.cluster_issue) return RunClusterIssueCert(c.issue_dir, c.issue_node, c.issue_force);
  if (c.cluster_status && *c.cluster_status) {
    std::string token = c.status_token;
    if (token.empty())
      if (const char* t = std::getenv("VECTRON_TOKEN")) token = t;
    return RunClusterStatus(c.status_dir, token);
  }
  return -1;
}

}  // namespace vectron::tools
