// The cluster daemons as processes: `vectron pd`, `vectron worker`, `vectron gateway`
// (docs/cluster.md, "Running a cluster"). Each runs one cluster-core node (PdNode,
// WorkerNode, Router) on a libuv event loop with the real seams: a monotonic clock,
// LMDB-backed Raft logs, a thread pool for applying, and TcpClusterTransport.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "net/daemon/cluster_transport.h"
#include "net/http/http_server.h"
#include "vectron/status.h"

namespace vectron::net::daemon {

// "1=HOST:PORT,2=HOST:PORT" or "HOST:PORT,HOST:PORT" (ids 1, 2, ... in order).
// Errors: InvalidArgument naming the bad item (empty, bad id, duplicate, no port).
Result<std::map<uint64_t, std::string>> ParseMemberList(const std::string& text);

// Reads a cluster secret from `path`: its text without trailing white space, at least 16
// bytes. Errors: IOError (unreadable), InvalidArgument (too short).
Result<std::string> ReadSecretFile(const std::string& path);

// The PEM files of a node's cluster TLS (--cluster-ca, --cluster-cert, --cluster-key):
// all three empty, TLS is off between nodes.
struct ClusterTlsFiles {
  std::string ca, cert, key;
  bool enabled() const { return !ca.empty(); }
  // InvalidArgument naming what is missing unless all three or none are given.
  Status Validate() const;
};

// `secret` (every option struct): the cluster secret every node must present
// (TcpClusterTransport); empty: no hello (--insecure, or membership by certificate
// alone). `cluster_tls`: mutual TLS with every other node (TcpClusterTransport); off:
// plain TCP. `connect_timeout_ms`: TcpClusterTransport::set_connect_timeout_ms.
struct PdOptions {
  uint64_t id = 0;
  std::string secret;
  ClusterTlsFiles cluster_tls;
  uint64_t connect_timeout_ms = TcpClusterTransport::kConnectTimeoutMs;
  std::string data_dir;
  std::string listen = "127.0.0.1:7800";
  std::map<uint64_t, std::string> peers;  // Every PD, this one included.
  // Replica moves (docs/cluster.md): a worker silent this long has its replicas replaced
  // (0: never); rebalancing onto workers that join; groups moved at once.
  uint64_t dead_after_ms = 60000;
  bool rebalance = true;
  uint32_t max_moves = 2;
  uint64_t split_points = 0;  // A group with more points is split (0: never).
  uint64_t split_bytes = 0;   // A group with more bytes of live data is split (0: never).
};
struct WorkerOptions {
  uint64_t id = 0;
  std::string secret;
  ClusterTlsFiles cluster_tls;
  uint64_t connect_timeout_ms = TcpClusterTransport::kConnectTimeoutMs;
  std::string data_dir;
  std::string listen = "127.0.0.1:7810";
  std::map<uint64_t, std::string> pd;
  uint64_t map_size_bytes = 1ull << 30;  // Per shard LMDB map.
  int apply_threads = 2;
  // Shard snapshot copies this worker fetches (a replica joining a group), MiB a second
  // in all (0 = no limit): SnapshotTransferOptions::rate_bytes_per_s.
  uint64_t snapshot_rate_mb = 32;
  // Chunk size of those fetches: SnapshotTransferOptions::chunk_bytes.
  uint32_t snapshot_chunk_bytes = 1 << 20;
  // How often such a fetch records its progress: SnapshotTransferOptions::progress_bytes.
  uint64_t snapshot_progress_bytes = 8 << 20;
  // A group's log is compacted once this many entries past its shard's last flush
  // (RaftHostOptions::compact_entries); lower makes a lagging or new replica install a
  // snapshot sooner (tests).
  uint64_t compact_entries = 5000;
  // Hibernation of idle shard groups: RaftHostOptions::hibernate_after_ticks (ticks of
  // 100 ms; 0 = off, every group heartbeats on its own). On by default: docs/cluster.md,
  // "Hibernation of idle groups", "Default".
  uint64_t hibernate_after_ticks = 10;
  // Linearizable reads confirmed by the leader's lease while it holds, instead of a
  // heartbeat round each (raft::ReadOnlyOption::kLeaseBased; docs/cluster.md, "Reads").
  bool read_lease = true;
  // Background graph compaction of the shards this worker hosts:
  // WorkerNodeOptions::compact_deleted_share (0 = off). 0.6 by default: a graph never
  // holds more than 2.5 slots per live point for long, while a split alone (which leaves
  // about half of each half's slots deleted) does not start the rebuilds that slow
  // searches on shared cores (docs/cluster.md, "Graph compaction").
  double compact_deleted_share = 0.6;
  bool compact_at_idle_priority = true;  // WorkerNodeOptions::compact_priority is kIdle.
  bool inline_reads = true;              // WorkerNodeOptions::inline_reads.
};
struct GatewayOptions {
  std::string secret;
  ClusterTlsFiles cluster_tls;
  uint64_t connect_timeout_ms = TcpClusterTransport::kConnectTimeoutMs;
  std::map<uint64_t, std::string> pd;
  // The gateway's own directory: its audit log (DATA/audit) and its generated TLS
  // certificate (DATA/tls). Users and keys live in the PD (docs/cluster.md, "Auth state").
  std::string data_dir;
  std::string http = "127.0.0.1:7700";
  // The binary RPC port (net/schema/rpc.fbs), as `vectron serve --rpc`; empty: none.
  std::string rpc;
  size_t rpc_max_frame_bytes = 64 << 20;
  // TLS as `vectron serve`: these PEM files, or (neither) a self-signed certificate made
  // on first start into DATA/tls; `insecure_http`: plain HTTP (warned about).
  std::string tls_cert, tls_key;
  bool insecure_http = false;
  bool auth = true;  // Off only when asked for (--no-auth, warned about).
  // If the cluster has no user yet: the admin's password; empty: generated and printed
  // once by the gateway that creates the admin.
  std::string admin_password;
  uint64_t id = 1;
  uint64_t deadline_ms = 10000;  // One request's retries end here (503).
  PortLimits limits;             // The client port's, as `vectron serve`'s (same flags).
  // Bound of the cache of reranked search answers (docs/cluster.md, "Reranking"); 0: off.
  uint64_t result_cache_bytes = 64ull << 20;
};

// Run until SIGINT/SIGTERM (0) or a fatal error (1, printed). Each prints one line
// "vectron <kind> <id> ready on HOST:PORT" once it listens. A gateway with auth loads the
// auth records from the PD after that (GET /readyz answers 503 until then) and, if the
// cluster has no user, creates the admin (compare-and-set: one gateway does) and prints
// "vectron gateway <id>: created admin user ..." (with a generated password, its only
// showing).
int RunPd(const PdOptions& options);
int RunWorker(const WorkerOptions& options);
int RunGateway(const GatewayOptions& options);

}  // namespace vectron::net::daemon
