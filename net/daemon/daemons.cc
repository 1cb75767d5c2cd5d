#include "net/daemon/daemons.h"

#include <signal.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "net/cluster/group_log_store.h"
#include "net/cluster/pd_node.h"
#include "net/cluster/worker_node.h"
#include "net/daemon/cluster_auth_store.h"
#include "net/daemon/cluster_transport.h"
#include "net/daemon/gateway_api.h"
#include "net/daemon/runtime.h"
#include "net/http/http_server.h"
#include "net/io/connection_limiter.h"
#include "net/io/event_loop.h"
#include "net/io/tcp.h"
#include "net/io/tls.h"
#include "net/io/worker_pool.h"
#include "net/rpc/frame.h"
#include "net/rpc/rpc_server.h"

namespace vectron::net::daemon {

using cluster::NodeId;
using cluster::NodeKind;

namespace {

// The cluster core's loop runs this often (it also batches: one log write per run).
constexpr uint64_t kLoopMs = 5;
// A worker asks the PD for the map (other workers' addresses) this often.
constexpr uint64_t kWorkerMapMs = 500;
// Daemon-made map requests carry rpc ids with this bit, so their answers are recognised.
constexpr uint64_t kDaemonRpcBit = 1ull << 63;

cluster::RaftHostOptions HostOptions(NodeKind peers, uint64_t seed) {
  cluster::RaftHostOptions o;
  o.peer_kind = peers;
  o.tick_ms = 100;
  o.raft.election_ticks = 10;
  o.raft.heartbeat_ticks = 2;
  o.raft.pre_vote = true;
  o.raft.check_quorum = true;
  o.raft.seed = seed;
  return o;
}

// host:port of `id` in `m`, or "" (unknown: a gateway is answered on its own connection).
std::string AddrIn(const std::map<uint64_t, std::string>& m, uint64_t id) {
  auto it = m.find(id);
  return it == m.end() ? "" : it->second;
}

std::vector<uint64_t> Ids(const std::map<uint64_t, std::string>& m) {
  std::vector<uint64_t> ids;
  for (auto& [id, addr] : m) ids.push_back(id);
  return ids;
}

Status ListenOn(TcpClusterTransport& t, const std::string& addr) {
  VECTRON_ASSIGN_OR_RETURN(auto hp, ParseHostPort(addr));
  return t.Listen(hp.first, hp.second);
}

// Runs a node's loop step every kLoopMs, and soon after each inbound message (Kick), so
// a Raft round trip does not wait for the timer; a failing step stops the loop (exit 1).
class Stepper {
 public:
  Stepper(EventLoop& loop, const char* what) : loop_(loop), what_(what) {}
  // Thread-safe: runs a step soon on the loop thread (once however often it is called
  // before that step runs).
  void Kick() {
    if (posted_.exchange(true)) return;
    loop_.Post([this] {
      posted_ = false;
      Step();
    });
  }
  // Runs until SIGINT/SIGTERM (0) or a failed step (1).
  int Run(std::function<Status()> step) {
    step_ = std::move(step);
    loop_.OnSignal(SIGINT, [this] { loop_.Stop(); });
    loop_.OnSignal(SIGTERM, [this] { loop_.Stop(); });
    loop_.Every(kLoopMs, [this] { Step(); });
    loop_.Run();
    step_ = nullptr;
    return code_;
  }

 private:
  void Step() {
    if (code_ != 0 || !step_) return;
    Status s = step_();
    if (!s.ok()) {
      std::fprintf(stderr, "vectron %s: stopping: %s\n", what_, s.ToString().c_str());
      code_ = 1;
      loop_.Stop();
    }
  }

  EventLoop& loop_;
  const char* what_;
  std::function<Status()> step_;
  std::atomic<bool> posted_{false};
  int code_ = 0;
};

int Fail(const char* what, const Status& s) {
  std::fprintf(stderr, "vectron %s: %s\n", what, s.ToString().c_str());
  return 1;
}

Result<std::unique_ptr<cluster::LmdbGroupLogStore>> OpenLogStore(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("creating " + dir + ": " + ec.message());
  std::unique_ptr<cluster::LmdbGroupLogStore> store;
  raft::LmdbStorageOptions o;
  raft::Status s = cluster::LmdbGroupLogStore::Open(dir, o, &store);
  if (!s.ok()) return Status::IOError("opening the Raft log in " + dir + ": " + s.ToString());
  return store;
}

// The node's cluster TLS (null when off). Errors: those of LoadClusterTls.
Result<std::shared_ptr<const ClusterTls>> NodeClusterTls(const ClusterTlsFiles& f, const NodeId& self) {
  VECTRON_RETURN_IF_ERROR(f.Validate());
  if (!f.enabled()) return std::shared_ptr<const ClusterTls>();
  return LoadClusterTls(f.ca, f.cert, f.key, self);
}

}  // namespace

Status ClusterTlsFiles::Validate() const {
  const int given = !ca.empty() + !cert.empty() + !key.empty();
  if (given == 0 || given == 3) return Status::OK();
  std::string missing;
  for (auto [flag, v] : {std::pair<const char*, const std::string*>{"--cluster-ca", &ca}, {"--cluster-cert", &cert},
                         {"--cluster-key", &key}})
    if (v->empty()) missing += std::string(missing.empty() ? "" : ", ") + flag;
  return Status::InvalidArgument("cluster TLS needs --cluster-ca, --cluster-cert and --cluster-key together; missing " +
                                 missing);
}

Result<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot read the cluster secret file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.size() < 16) return Status::InvalidArgument("the cluster secret in " + path + " is shorter than 16 bytes");
  return s;
}

Result<std::map<uint64_t, std::string>> ParseMemberList(const std::string& text) {
  std::map<uint64_t, std::string> out;
  size_t start = 0;
  uint64_t next_id = 1;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    start = end + 1;
    if (item.empty()) return Status::InvalidArgument("member list \"" + text + "\" has an empty item");
    uint64_t id = next_id;
    size_t eq = item.find('=');
    if (eq != std::string::npos) {
      std::string n = item.substr(0, eq);
      char* e = nullptr;
      id = std::strtoull(n.c_str(), &e, 10);
      if (n.empty() || *e || id == 0) return Status::InvalidArgument("member \"" + item + "\" has a bad id");
      item = item.substr(eq + 1);
    }
    VECTRON_RETURN_IF_ERROR(ParseHostPort(item).status());
    if (!out.emplace(id, item).second)
      return Status::InvalidArgument("member id " + std::to_string(id) + " appears twice in \"" + text + "\"");
    next_id = id + 1;
  }
  return out;
}

int RunPd(const PdOptions& o) {
  if (o.id == 0 || !o.peers.count(o.id)) return Fail("pd", Status::InvalidArgument("--id must be one of --peers"));
  auto ctls = NodeClusterTls(o.cluster_tls, NodeId{NodeKind::kPd, o.id});
  if (!ctls.ok()) return Fail("pd", ctls.status());
  EventLoop loop;
  Stepper stepper(loop, "pd");
  SteadyClock clock;
  OsSeededRng rng;
  auto store = OpenLogStore(o.data_dir + "/raft");
  if (!store.ok()) return Fail("pd", store.status());
  cluster::PdNode* node = nullptr;
  std::map<uint64_t, std::string> workers;  // Addresses from the map, refreshed each loop.
  TcpClusterTransport transport(
      loop, NodeId{NodeKind::kPd, o.id},
      [&](const NodeId& n) -> std::string {
        if (n.kind == NodeKind::kGateway) return "";
        return AddrIn(n.kind == NodeKind::kPd ? o.peers : workers, n.id);
      },
      [&](const NodeId& from, cluster::Envelope msg) {
        if (node) node->Receive(from, std::move(msg));
        stepper.Kick();
      },
      o.secret, *ctls);
  transport.set_connect_timeout_ms(o.connect_timeout_ms);
  cluster::PdNodeOptions po;
  po.id = o.id;
  po.members = Ids(o.peers);
  po.raft = HostOptions(NodeKind::kPd, rng.Next());
  po.dead_after_ms = o.dead_after_ms;
  po.rebalance_replicas = o.rebalance;
  po.max_moves = o.max_moves;
  po.split_points = o.split_points;
  po.split_bytes = o.split_bytes;
  cluster::PdNode pd(po, clock, transport, **store);
  if (Status s = pd.Start(); !s.ok()) return Fail("pd", s);
  node = &pd;
  if (Status s = ListenOn(transport, o.listen); !s.ok()) return Fail("pd", s);
  std::printf("vectron pd %llu ready on %s%s\n", static_cast<unsigned long long>(o.id), o.listen.c_str(),
              *ctls ? " (cluster tls)" : "");
  std::fflush(stdout);
  uint64_t last_map = 0;
  return stepper.Run(
      [&]() -> Status {
        if (uint64_t now = clock.NowMs(); now - last_map >= 200) {
          last_map = now;
          workers.clear();
          for (auto& [id, w] : pd.state().map().workers) workers[id] = w.addr;
        }
        return pd.RunOnce();
      });
}

int RunWorker(const WorkerOptions& o) {
  if (o.id == 0) return Fail("worker", Status::InvalidArgument("--id must be 1 or more"));
  if (o.pd.empty()) return Fail("worker", Status::InvalidArgument("--pd is required"));
  auto ctls = NodeClusterTls(o.cluster_tls, NodeId{NodeKind::kWorker, o.id});
  if (!ctls.ok()) return Fail("worker", ctls.status());
  EventLoop loop;
  Stepper stepper(loop, "worker");
  SteadyClock clock;
  OsSeededRng rng;
  auto store = OpenLogStore(o.data_dir + "/raft");
  if (!store.ok()) return Fail("worker", store.status());
  // Two threads more for the worker's two queues of background work (graph compactions,
  // which hold a thread for minutes on a large shard, and checkpoints on one; drops of
  // the points a split hid on the other: worker_node.cc), so that applies and reads keep
  // apply_threads (after a split both queues run for seconds: docs/benchmarks.md, "Splits").
  PoolExecutor executor(o.apply_threads + 2);
  cluster::WorkerNode* node = nullptr;
  std::map<uint64_t, std::string> workers;  // Other workers' addresses, from the PD's map.
  uint64_t map_version = 0;
  TcpClusterTransport transport(
      loop, NodeId{NodeKind::kWorker, o.id},
      [&](const NodeId& n) -> std::string {
        if (n.kind == NodeKind::kGateway) return "";
        return AddrIn(n.kind == NodeKind::kPd ? o.pd : workers, n.id);
      },
      [&](const NodeId& from, cluster::Envelope msg) {
        if (auto* r = std::get_if<cluster::PdMapResponse>(&msg); r && (r->rpc_id & kDaemonRpcBit)) {
          if (r->status.ok() && r->map && r->map->version >= map_version) {
            map_version = r->map->version;
            for (auto& [id, w] : r->map->workers) workers[id] = w.addr;
          }
          return;
        }
        if (node) node->Receive(from, std::move(msg));
        stepper.Kick();
      },
      o.secret, *ctls);
  transport.set_connect_timeout_ms(o.connect_timeout_ms);
  cluster::WorkerNodeOptions wo;
  wo.id = o.id;
  wo.addr = o.listen;
  wo.data_dir = o.data_dir + "/shards";
  wo.pd_members = Ids(o.pd);
  wo.raft = HostOptions(NodeKind::kWorker, rng.Next());
  wo.raft.hibernate_after_ticks = o.hibernate_after_ticks;
  if (o.read_lease) wo.raft.raft.read_only = raft::ReadOnlyOption::kLeaseBased;
  wo.seed = rng.Next();
  // The log is the write-ahead log of kNoSync shards: a shard is flushed every 256 applied
  // entries, and its group's log is compacted once --compact-entries (default 5,000)
  // entries past its last flush; a replica further behind than the log reaches installs a
  // snapshot copy fetched from the leader (docs/cluster.md, "Snapshots").
  wo.raft.compact_entries = o.compact_entries;
  wo.shard_flush_entries = 256;
  wo.shard_options.durability = Durability::kNoSync;
  wo.shard_options.map_size_bytes = o.map_size_bytes;
  // Index builds at open (a graph checkpoint missing or unusable: the shard pays a whole
  // rebuild) are worth a line in the log; a shard copy installed from a snapshot should
  // load its graph instead (tests/net/test_cluster_resume.py checks there is no such line).
  wo.shard_options.progress = [](std::string_view stage, uint64_t done, uint64_t total) {
    if (done == 0)
      std::fprintf(stderr, "vectron worker: %.*s, %llu points\n", static_cast<int>(stage.size()), stage.data(),
                   static_cast<unsigned long long>(total));
    return true;
  };
  wo.snapshot.rate_bytes_per_s = o.snapshot_rate_mb << 20;
  wo.snapshot.chunk_bytes = o.snapshot_chunk_bytes;
  wo.snapshot.progress_bytes = o.snapshot_progress_bytes;
  wo.snapshot.log = [](const std::string& line) { std::fprintf(stderr, "vectron worker: %s\n", line.c_str()); };
  wo.log = wo.snapshot.log;
  wo.compact_deleted_share = o.compact_deleted_share;
  wo.compact_priority = o.compact_at_idle_priority ? CompactPriority::kIdle : CompactPriority::kNormal;
  wo.inline_reads = o.inline_reads;
  wo.wake = [&stepper] { stepper.Kick(); };
  cluster::WorkerNode worker(wo, clock, transport, **store, executor);
  if (Status s = worker.Start(); !s.ok()) return Fail("worker", s);
  node = &worker;
  if (Status s = ListenOn(transport, o.listen); !s.ok()) return Fail("worker", s);
  std::printf("vectron worker %llu ready on %s%s\n", static_cast<unsigned long long>(o.id), o.listen.c_str(),
              *ctls ? " (cluster tls)" : "");
  std::fflush(stdout);
  uint64_t last_map = 0, map_rpc = 0;
  std::vector<uint64_t> pds = Ids(o.pd);
  int code = stepper.Run(
      [&]() -> Status {
        if (uint64_t now = clock.NowMs(); now - last_map >= kWorkerMapMs) {
          last_map = now;
          cluster::PdMapRequest req;
          req.rpc_id = kDaemonRpcBit | ++map_rpc;
          req.known_version = map_version;
          // Ask every PD: only the leader answers with a map.
          for (uint64_t pd : pds) transport.Send(NodeId{NodeKind::kPd, pd}, req);
        }
        return worker.RunOnce();
      });
  worker.CancelBackground();  // A graph compaction stops at once rather than be waited for.
  executor.Stop();            // No apply task may outlive the shards it applies to.
  return code;
}

int RunGateway(const GatewayOptions& o) {
  if (o.pd.empty()) return Fail("gateway", Status::InvalidArgument("--pd is required"));
  if (o.data_dir.empty()) return Fail("gateway", Status::InvalidArgument("--db DIR is required (the gateway's data directory)"));
  if (Status s = ValidateTlsFlags(o.tls_cert, o.tls_key, o.insecure_http); !s.ok()) return Fail("gateway", s);
  if (Status s = o.limits.Validate(); !s.ok()) return Fail("gateway", s);
  auto ctls = NodeClusterTls(o.cluster_tls, NodeId{NodeKind::kGateway, o.id});
  if (!ctls.ok()) return Fail("gateway", ctls.status());
  auto hp = ParseHostPort(o.http);
  if (!hp.ok()) return Fail("gateway", hp.status());
  std::optional<std::pair<std::string, int>> rpc_hp;
  if (!o.rpc.empty()) {
    auto parsed = ParseHostPort(o.rpc);
    if (!parsed.ok()) return Fail("gateway", Status::InvalidArgument("--rpc: " + parsed.status().message()));
    rpc_hp = *parsed;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) return Fail("gateway", Status::IOError("creating " + o.data_dir + ": " + ec.message()));
  std::string cert_served;
  std::vector<std::string> notes;
  auto tls = ServerTls(o.tls_cert, o.tls_key, o.insecure_http, o.data_dir + "/tls", &cert_served, &notes);
  if (!tls.ok()) return Fail("gateway", tls.status());
  EventLoop loop;
  Stepper stepper(loop, "gateway");
  SteadyClock clock;
  OsSeededRng rng;
  cluster::Router* router_ptr = nullptr;
  TcpClusterTransport transport(
      loop, NodeId{NodeKind::kGateway, o.id},
      [&](const NodeId& n) -> std::string {
        if (n.kind == NodeKind::kPd) return AddrIn(o.pd, n.id);
        if (n.kind == NodeKind::kWorker && router_ptr) {
          auto it = router_ptr->map().workers.find(n.id);
          return it == router_ptr->map().workers.end() ? "" : it->second.addr;
        }
        return "";
      },
      [&](const NodeId& from, cluster::Envelope msg) {
        if (router_ptr) router_ptr->Receive(from, std::move(msg));
        stepper.Kick();
      },
      o.secret, *ctls);
  transport.set_connect_timeout_ms(o.connect_timeout_ms);
  cluster::RouterOptions ro;
  ro.id = o.id;
  ro.pd_members = Ids(o.pd);
  ro.deadline_ms = o.deadline_ms;
  cluster::Router router(ro, clock, rng, transport);
  router_ptr = &router;
  // Auth routes (scrypt, commits to the PD) run here, off the loop.
  WorkerPool pool(2, 256);
  ClusterAuthStore auth_store(loop, router, o.deadline_ms + 2000);
  std::unique_ptr<Authenticator> auth;  // Set once, by `bootstrap`.
  GatewayApi api(router, pool, o.auth, o.result_cache_bytes);
  HttpServer http(
      loop, o.limits.http, [&](HttpRequest req, Responder respond) { api.Handle(std::move(req), std::move(respond)); },
      nullptr, [&](const HttpRequest& head) { return api.Admit(head); });
  // The same connection caps and handshake deadline as `vectron serve` (PortLimits).
  auto limiter = std::make_shared<ConnectionLimiter>(o.limits.max_connections, o.limits.max_connections_per_ip);
  ListenOptions lo;
  lo.tls = *tls;
  lo.handshake_timeout_ms = o.limits.tls_handshake_timeout_ms;
  lo.limiter = limiter;
  lo.refusal = ConnectionCapRefusal();
  auto listener = TcpListener::Listen(loop, hp->first, hp->second, lo, http.Factory());
  if (!listener.ok()) return Fail("gateway", listener.status());
  // The RPC port: the same operations through the same table, on the loop (the cluster
  // service answers there), with the same TLS, connection caps and Authenticator.
  std::unique_ptr<RpcServer> rpc;
  std::unique_ptr<TcpListener> rpc_listener;
  if (rpc_hp) {
    RpcLimits rl;
    rl.max_frame_bytes = o.rpc_max_frame_bytes;
    rl.idle_timeout_ms = o.limits.http.idle_timeout_ms;
    rl.frame_timeout_ms = o.limits.http.request_timeout_ms;
    rl.log_requests = false;
    RpcEngine engine{&api.service(), api.limits(), /*metrics=*/nullptr};
    engine.service_on_loop = true;
    if (o.auth) engine.late_auth = &api.authenticator();
    rpc = std::make_unique<RpcServer>(loop, pool, engine, rl);
    ListenOptions rlo = lo;
    rlo.refusal = EncodeFrame(RpcErrorPayload(0, "unavailable", "too many open connections; retry later"));
    auto r = TcpListener::Listen(loop, rpc_hp->first, rpc_hp->second, rlo, rpc->Factory());
    if (!r.ok()) return Fail("gateway", r.status());
    rpc_listener = std::move(*r);
  }
  for (const std::string& n : notes) std::printf("vectron gateway %llu: %s\n", static_cast<unsigned long long>(o.id), n.c_str());
  if (!cert_served.empty())
    std::printf("vectron gateway %llu: tls certificate %s\n", static_cast<unsigned long long>(o.id), cert_served.c_str());
  if (o.insecure_http)
    std::fprintf(stderr, "WARNING: --insecure-http: TLS is off; tokens, passwords and data cross the network in "
                         "plain text. Use it only on loopback or behind a TLS proxy.\n");
  if (!o.auth)
    std::fprintf(stderr, "WARNING: --no-auth: authentication is off; anyone who can connect can read, write and "
                         "drop every collection.\n");
  if (rpc_listener)
    std::printf("vectron gateway %llu rpc listening on %s:%d%s\n", static_cast<unsigned long long>(o.id),
                rpc_hp->first.c_str(), rpc_listener->port(), *tls ? " (tls)" : "");
  std::printf("vectron gateway %llu ready on %s:%d%s\n", static_cast<unsigned long long>(o.id), hp->first.c_str(),
              (*listener)->port(), *tls ? " (tls)" : "");
  std::fflush(stdout);
  // Auth: once the records are loaded from the PD, the Authenticator over them (making
  // the signing key and the admin if the cluster has none), then the routes open.
  std::atomic<bool> stopping{false};
  std::thread bootstrap;
  if (o.auth) {
    bootstrap = std::thread([&] {
      AuthOptions ao;
      ao.audit_dir = o.data_dir + "/audit";
      ao.admin_password = o.admin_password;
      while (!stopping) {
        if (!auth_store.WaitLoaded(200).ok()) continue;
        std::string note;
        auto a = Authenticator::Open(ao, auth_store.Borrow(), &note);
        if (!a.ok()) {
          std::fprintf(stderr, "vectron gateway: auth not ready (retrying): %s\n", a.status().ToString().c_str());
          for (int i = 0; i < 10 && !stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
          continue;
        }
        auth = std::move(*a);
        if (!note.empty()) {
          std::printf("vectron gateway %llu: %s\n", static_cast<unsigned long long>(o.id), note.c_str());
          std::fflush(stdout);
        }
        api.SetAuthenticator(auth.get());
        return;
      }
    });
  }
  loop.Every(o.limits.SweepMs(), [&] {
    (*listener)->Tick(loop.NowMs());
    if (rpc_listener) rpc_listener->Tick(loop.NowMs());
  });
  int code = stepper.Run([&]() -> Status {
    router.RunOnce();
    auth_store.Poll();
    return Status::OK();
  });
  (*listener)->CloseAll();
  if (rpc_listener) rpc_listener->CloseAll();
  stopping = true;
  pool.Shutdown();  // Auth tasks waiting on the (stopped) loop time out.
  if (bootstrap.joinable()) bootstrap.join();
  return code;
}

}  // namespace vectron::net::daemon
