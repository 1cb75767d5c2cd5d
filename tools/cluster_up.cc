#include "cluster_up.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "net/auth/authenticator.h"
#include "net/http/http_client.h"
#include "net/io/crypto.h"
#include "net/io/tls.h"

namespace vectron::tools {

using nlohmann::json;

namespace {

struct Proc {
  std::string name;
  uint64_t id = 0;
  std::string addr;  // Cluster address (PD, worker) or HTTP address (gateway).
  bool tls = false;  // A gateway serving HTTPS (its certificate in DIR/<name>/tls/cert.pem).
  std::vector<std::string> argv;
  pid_t pid = -1;
  std::string rpc = "";  // A gateway's RPC address.
};

// The address of the first "ready on A.B.C.D:PORT[ (tls)]" in a daemon's log; false if none yet (no
// std::regex: GCC 12 warns inside <regex> under ASan, GCC bug 105616).
bool ReadyAddress(const std::string& log, std::string* addr, bool* tls) {
  static const std::string kReady = "ready on ";
  static const std::string kTls = " (tls)";
  auto digit = [&](size_t i) { return i < log.size() && log[i] >= '0' && log[i] <= '9'; };
  for (size_t at = log.find(kReady); at != std::string::npos; at = log.find(kReady, at + 1)) {
    const size_t begin = at + kReady.size();
    size_t e = begin;
    while (digit(e) || (e < log.size() && log[e] == '.')) ++e;
    if (e == begin || e >= log.size() || log[e] != ':' || !digit(e + 1)) continue;
    for (++e; digit(e);) ++e;
    *addr = log.substr(begin, e - begin);
    *tls = log.compare(e, kTls.size(), kTls) == 0;
    return true;
  }
  return false;
}

// Binds a loopback TCP socket to `port` (0: any) and closes it; the port bound, or 0.
int TryBindLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof(a);
  int bound = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    bound = ntohs(a.sin_port);
  ::close(fd);
  return bound;
}

// A free loopback TCP port for a node to listen on, different from every one this process
// picked before. It is drawn below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), where outgoing connections take their local ports: a
// port from that range (what binding port 0 gives) could be taken by one of the cluster's
// own connections before the node meant to listen on it starts. Falls back to any free
// port. Another program may still take the port first: a small race.
int FreePort() {
  static std::set<int> picked;
  static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  int low = 32768;
  {
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    int lo = 0, hi = 0;
    if (range >> lo >> hi && lo > 2048) low = lo;
  }
  const int first = std::max(1024, low - 16384);
  std::uniform_int_distribution<int> pick(first, low - 1);
  for (int i = 0; i < 64; ++i) {
    int port = pick(rng);
    if (picked.count(port) || TryBindLoopback(port) != port) continue;
    picked.insert(port);
    return port;
  }
  int port = TryBindLoopback(0);
  picked.insert(port);
  return port;
}

// True if `path` holds a secret `cluster up` made: 64 hex digits, mode 0600, a regular file.
bool ReusableSecret(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 0777) != 0600) return false;
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() != 64) return false;
  for (char c : text)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "vectron" : p.string();
}

// Starts `p` with stdout and stderr appended to `log`. Returns false if fork fails.
bool Spawn(Proc& p, const std::string& log) {
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "a");
    if (f) {
      ::dup2(fileno(f), 1);
      ::dup2(fileno(f), 2);
    }
    ::setpgid(0, 0);  // A Ctrl-C in the terminal reaches `cluster up`, which stops them in order.
    std::vector<char*> args;
    for (auto& a : p.argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  p.pid = pid;
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// GET `path` from a gateway at `url` (trusting `ca_file` for https://); the reply
// (status 0 if there was no answer).
net::HttpReply GatewayGet(const std::string& url, const std::string& ca_file, const std::string& token,
                          const std::string& path) {
  net::HttpClientOptions ho;
  ho.tls.ca_file = ca_file;
  ho.token = token;
  ho.timeout_ms = 3000;
  ho.retries = 0;
  auto client = net::HttpClient::Open(url, ho);
  if (!client.ok()) return {};
  auto reply = client->Send("GET", path, "", true);
  return reply.ok() ? *reply : net::HttpReply{};
}

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

void StopAll(std::vector<Proc>& procs) {
  // Gateways first, then workers, then the PDs.
  for (auto it = procs.rbegin(); it != procs.rend(); ++it)
    if (it->pid > 0) ::kill(it->pid, SIGTERM);
  for (auto& p : procs)
    if (p.pid > 0) {
      int st = 0;
      ::waitpid(p.pid, &st, 0);
      p.pid = -1;
    }
}

// Stops processes this one did not start (so cannot wait for): SIGTERM, then up to 10 s
// for each to go, then SIGKILL.
void StopAdopted(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) ::kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (pid_t pid : pids) {
    while (::kill(pid, 0) == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (::kill(pid, 0) == 0) ::kill(pid, SIGKILL);
  }
}

// Validity of the cluster CA and of the node certificates it issues, in days.
constexpr int kClusterCaDays = 3650;
constexpr int kNodeCertDays = 825;

std::string ClusterTlsDir(const std::string& dir) { return dir + "/cluster-tls"; }

// Makes DIR/cluster-tls (mode 0700) and the cluster CA in it (ca.pem, ca-key.pem mode
// 0600) unless both files are there. `*made` says whether a new CA was made.
Status EnsureClusterCa(const std::string& dir, bool* made) {
  const std::string tdir = ClusterTlsDir(dir);
  *made = false;
  std::error_code ec;
  std::filesystem::create_directories(tdir, ec);
  if (ec) return Status::IOError("creating " + tdir + ": " + ec.message());
  if (::chmod(tdir.c_str(), 0700) != 0) return Status::IOError(tdir + ": " + std::strerror(errno));
  if (std::filesystem::exists(tdir + "/ca.pem") && std::filesystem::exists(tdir + "/ca-key.pem")) return Status::OK();
  *made = true;
  return net::crypto::WriteCaCert(tdir + "/ca.pem", tdir + "/ca-key.pem", "vectron cluster CA", kClusterCaDays);
}

struct NodeCertFiles {
  std::string ca, cert, key;
};

// The files of `node`'s ("pd-1") certificate for the name "vectron-<node>", issued now
// unless present and valid for that name under the CA (or `reissue`).
Result<NodeCertFiles> EnsureNodeCert(const std::string& dir, const std::string& node, bool reissue) {
  const std::string tdir = ClusterTlsDir(dir);
  NodeCertFiles f{tdir + "/ca.pem", tdir + "/" + node + ".pem", tdir + "/" + node + "-key.pem"};
  const std::string name = "vectron-" + node;
  if (!reissue && net::TlsContext::LoadMutual(f.ca, f.cert, f.key, /*client=*/false, name).ok()) return f;
  VECTRON_RETURN_IF_ERROR(net::crypto::IssueCert(f.ca, tdir + "/ca-key.pem", f.cert, f.key, name, kNodeCertDays));
  return f;
}

void AddClusterTlsArgs(std::vector<std::string>* argv, const NodeCertFiles& f) {
  for (const std::string& a : {std::string("--cluster-ca"), f.ca, std::string("--cluster-cert"), f.cert,
                               std::string("--cluster-key"), f.key})
    argv->push_back(a);
}

}  // namespace

int RunClusterIssueCert(const std::string& dir, const std::string& node_arg, bool force) {
  std::string node = node_arg;
  if (node.rfind("vectron-", 0) == 0) node = node.substr(8);
  const size_t dash = node.find('-');
  const std::string kind = dash == std::string::npos ? "" : node.substr(0, dash);
  const std::string id = dash == std::string::npos ? "" : node.substr(dash + 1);
  bool id_ok = !id.empty() && id.size() <= 19 && id[0] != '0';
  for (char ch : id) id_ok = id_ok && std::isdigit(static_cast<unsigned char>(ch));
  if ((kind != "pd" && kind != "worker" && kind != "gateway") || !id_ok) {
    std::fprintf(stderr, "error: --node %s: give pd-<id>, worker-<id> or gateway-<id> (id >= 1), e.g. worker-4\n",
                 node_arg.c_str());
    return 1;
  }
  bool made_ca = false;
  if (Status s = EnsureClusterCa(dir, &made_ca); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::string cert = ClusterTlsDir(dir) + "/" + node + ".pem";
  if (!force && std::filesystem::exists(cert)) {
    std::fprintf(stderr, "error: %s exists (give --force to replace it and its key)\n", cert.c_str());
    return 1;
  }
  auto files = EnsureNodeCert(dir, node, /*reissue=*/true);
  if (!files.ok()) {
    std::fprintf(stderr, "error: %s\n", files.status().ToString().c_str());
    return 1;
  }
  if (made_ca) std::printf("made the cluster CA %s (its key is %s/ca-key.pem)\n", files->ca.c_str(), ClusterTlsDir(dir).c_str());
  std::printf("issued %s for vectron-%s (key %s); give the node:\n  --cluster-ca %s --cluster-cert %s --cluster-key %s\n",
              files->cert.c_str(), node.c_str(), files->key.c_str(), files->ca.c_str(), files->cert.c_str(),
              files->key.c_str());
  return 0;
}

int RunClusterUp(const ClusterUpOptions& o) {
  if (o.pd < 1 || o.pd > 7 || o.workers < 1 || o.workers > 64 || o.gateways < 1 || o.gateways > 16) {
    std::fprintf(stderr, "error: --pd must be 1..7, --workers 1..64, --gateways 1..16\n");
    return 1;
  }
  if (!o.admin_password_file.empty()) {
    // Checked here, so that a bad file is one clear error rather than gateways that die.
    auto pw = net::ReadPasswordFile(o.admin_password_file);
    if (!pw.ok() || pw->size() < 8 || pw->size() > 1024) {
      std::fprintf(stderr, "error: %s\n",
                   pw.ok() ? "the admin password must have 8-1024 characters" : pw.status().ToString().c_str());
      return 1;
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) {
    std::fprintf(stderr, "error: creating %s: %s\n", o.dir.c_str(), ec.message().c_str());
    return 1;
  }
  // The cluster secret every node presents (TcpClusterTransport), readable by the owner
  // only. A restart on the same --dir keeps it, so nodes started by hand with
  // --secret-file DIR/cluster.secret stay members; a missing or malformed one is replaced.
  const std::string secret_file = o.dir + "/cluster.secret";
  if (!ReusableSecret(secret_file)) {
    auto bytes = net::crypto::RandomBytes(32);
    if (!bytes.ok()) {
      std::fprintf(stderr, "error: %s\n", bytes.status().ToString().c_str());
      return 1;
    }
    std::string hex;
    for (unsigned char b : *bytes) {
      char h[3];
      std::snprintf(h, sizeof(h), "%02x", b);
      hex += h;
    }
    std::filesystem::remove(secret_file, ec);
    int fd = ::open(secret_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, hex.data(), hex.size()) != static_cast<ssize_t>(hex.size())) {
      std::fprintf(stderr, "error: cannot write %s\n", secret_file.c_str());
      if (fd >= 0) ::close(fd);
      return 1;
    }
    ::close(fd);
  }
  // The cluster CA and a certificate per node (DIR/cluster-tls), kept on restart like the
  // secret: a node's certificate is reissued only if it is missing or no longer verifies.
  bool made_ca = false;
  if (!o.no_cluster_tls) {
    if (Status s = EnsureClusterCa(o.dir, &made_ca); !s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  auto add_tls = [&](std::vector<std::string>* argv, const std::string& node) -> bool {
    if (o.no_cluster_tls) return true;
    auto files = EnsureNodeCert(o.dir, node, /*reissue=*/made_ca);
    if (!files.ok()) {
      std::fprintf(stderr, "error: %s\n", files.status().ToString().c_str());
      return false;
    }
    AddClusterTlsArgs(argv, *files);
    return true;
  };
  const std::string self = SelfExe();
  std::vector<Proc> procs;
  std::string pd_list;
  for (int i = 1; i <= o.pd; ++i) {
    Proc p{"pd" + std::to_string(i), static_cast<uint64_t>(i), "127.0.0.1:" + std::to_string(FreePort()), /*tls=*/false, /*argv=*/{}};
    pd_list += (pd_list.empty() ? "" : ",") + std::to_string(i) + "=" + p.addr;
    procs.push_back(p);
  }
  for (auto& p : procs) {
    p.argv = {self, "pd", "--id", std::to_string(p.id), "--db", o.dir + "/" + p.name, "--listen", p.addr, "--peers", pd_list,
              "--secret-file", secret_file};
    if (!o.dead_after.empty()) {
      p.argv.push_back("--dead-after");
      p.argv.push_back(o.dead_after);
    }
    if (!o.split_points.empty()) {
      p.argv.push_back("--split-points");
      p.argv.push_back(o.split_points);
    }
    if (!o.split_bytes.empty()) {
      p.argv.push_back("--split-bytes");
      p.argv.push_back(o.split_bytes);
    }
    if (!add_tls(&p.argv, "pd-" + std::to_string(p.id))) return 1;
  }
  for (int i = 1; i <= o.workers; ++i) {
    Proc p{"worker" + std::to_string(i), static_cast<uint64_t>(i), "127.0.0.1:" + std::to_string(FreePort()), /*tls=*/false, /*argv=*/{}};
    p.argv = {self, "worker", "--id", std::to_string(i), "--db", o.dir + "/" + p.name, "--listen", p.addr, "--pd", pd_list,
              "--secret-file", secret_file};
    if (!add_tls(&p.argv, "worker-" + std::to_string(i))) return 1;
    for (const std::string& a : o.worker_args) p.argv.push_back(a);
    procs.push_back(p);
  }
  for (int i = 1; i <= o.gateways; ++i) {
    // A fixed port, so that the argv in cluster.json restarts the gateway at the same address.
    std::string http = i == 1 ? o.http : "127.0.0.1:0";
    if (http.size() > 2 && http.compare(http.size() - 2, 2, ":0") == 0)
      http = http.substr(0, http.size() - 1) + std::to_string(FreePort());
    Proc p{"gateway" + std::to_string(i), static_cast<uint64_t>(i), http, /*tls=*/false, /*argv=*/{}};
    p.rpc = "127.0.0.1:" + std::to_string(FreePort());
    p.argv = {self,     "gateway", "--id",          std::to_string(i), "--db",       o.dir + "/" + p.name,
              "--pd",   pd_list,   "--http",        p.addr,            "--secret-file", secret_file,
              "--rpc",  p.rpc};
    if (o.insecure_http) p.argv.push_back("--insecure-http");
    if (!add_tls(&p.argv, "gateway-" + std::to_string(i))) return 1;
    if (!o.admin_password_file.empty()) {
      p.argv.push_back("--admin-password-file");
      p.argv.push_back(std::filesystem::absolute(o.admin_password_file).string());
    }
    procs.push_back(p);
  }
  ::signal(SIGINT, OnSignal);
  ::signal(SIGTERM, OnSignal);
  for (auto& p : procs) {
    std::string log = o.dir + "/" + p.name + ".log";
    std::filesystem::remove(log, ec);
    if (!Spawn(p, log)) {
      std::fprintf(stderr, "error: cannot start %s\n", p.name.c_str());
      StopAll(procs);
      return 1;
    }
  }
  // Wait for the gateways' ports (from their "ready on" lines), then for a map in which
  // every worker is alive.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.ready_timeout_s);
  auto url_of = [](const Proc& p) { return std::string(p.tls ? "https://" : "http://") + p.addr; };
  auto cert_of = [&](const Proc& p) { return p.tls ? o.dir + "/" + p.name + "/tls/cert.pem" : std::string(); };
  bool up = false;
  while (!g_stop && std::chrono::steady_clock::now() < deadline) {
    for (auto& p : procs) {
      int st = 0;
      if (p.pid > 0 && ::waitpid(p.pid, &st, WNOHANG) == p.pid) {
        std::fprintf(stderr, "error: %s exited while starting; see %s/%s.log\n", p.name.c_str(), o.dir.c_str(), p.name.c_str());
        p.pid = -1;
        StopAll(procs);
        return 1;
      }
    }
    bool ports = true;
    for (auto& p : procs) {
      if (p.argv[1] != "gateway") continue;
      std::string addr;
      bool tls = false;
      if (ReadyAddress(ReadFile(o.dir + "/" + p.name + ".log"), &addr, &tls)) {
        p.addr = addr;
        p.tls = tls;
      } else {
        ports = false;
      }
    }
    // Every gateway ready (map in, auth records loaded), every worker alive.
    bool ready_all = ports;
    for (auto& p : procs) {
      if (!ready_all || p.argv[1] != "gateway") continue;
      net::HttpReply r = GatewayGet(url_of(p), cert_of(p), "", "/readyz");
      json j = json::parse(r.body, nullptr, false);
      ready_all = r.status == 200 && !j.is_discarded() && j.value("workers_alive", 0) == o.workers;
    }
    if (ready_all) {
      up = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!up) {
    if (!g_stop) std::fprintf(stderr, "error: the cluster did not come up in %d s; see the logs in %s\n", o.ready_timeout_s, o.dir.c_str());
    StopAll(procs);
    return g_stop ? 0 : 1;
  }
  json out = {{"gateways", json::array()}, {"pd", json::array()}, {"workers", json::array()}};
  std::vector<std::string> admin_notes;
  for (auto& p : procs) {
    if (p.argv[1] == "gateway") {
      out["gateways"].push_back({{"http", p.addr},
                                 {"url", url_of(p)},
                                 {"cert", p.tls ? json(cert_of(p)) : json(nullptr)},
                                 {"rpc", p.rpc},
                                 {"pid", p.pid},
                                 {"argv", p.argv}});
      // The gateway that created the admin (one does, if the cluster had no user) said so.
      std::istringstream log(ReadFile(o.dir + "/" + p.name + ".log"));
      for (std::string line; std::getline(log, line);)
        if (line.find(": created admin user") != std::string::npos) admin_notes.push_back(line);
      continue;
    }
    out[p.argv[1] == "pd" ? "pd" : "workers"].push_back({{"id", p.id}, {"pid", p.pid}, {"addr", p.addr}, {"argv", p.argv}});
  }
  {
    std::ofstream f(o.dir + "/cluster.json");
    f << out.dump(2) << "\n";
  }
  const json& first = out["gateways"][0];
  std::printf("cluster ready: %d PD, %d workers, %d gateway(s); REST API at %s\n", o.pd, o.workers, o.gateways,
              first["url"].get<std::string>().c_str());
  for (const std::string& n : admin_notes) std::printf("%s\n", n.c_str());
  std::string cacert = first["cert"].is_string() ? " --cacert " + first["cert"].get<std::string>() : "";
  std::printf("  curl%s %s/v1/auth/login -d '{\"username\": \"admin\", \"password\": \"...\"}'\n", cacert.c_str(),
              first["url"].get<std::string>().c_str());
  std::printf("  vectron cluster status --dir %s --token TOKEN\nCtrl-C stops every node.\n", o.dir.c_str());
  std::fflush(stdout);
  // Workers that `cluster add-worker` started (recorded in cluster.json) are not children
  // of this process: they are adopted here, to be stopped with the rest.
  std::vector<pid_t> adopted;
  int loops = 0;
  while (!g_stop) {
    for (auto& p : procs) {
      int st = 0;
      if (p.pid > 0 && ::waitpid(p.pid, &st, WNOHANG) == p.pid) {
        std::printf("%s (pid %d) exited; it is not restarted (its argv is in cluster.json)\n", p.name.c_str(), p.pid);
        std::fflush(stdout);
        p.pid = -1;
      }
    }
    if (++loops % 5 == 0) {
      json now = json::parse(ReadFile(o.dir + "/cluster.json"), nullptr, false);
      if (!now.is_discarded() && now.contains("workers"))
        for (auto& w : now["workers"]) {
          pid_t pid = w.value("pid", -1);
          bool known = std::any_of(procs.begin(), procs.end(), [&](const Proc& p) { return p.id == w.value("id", 0ull) && p.argv[1] == "worker"; });
          if (!known && pid > 0 && std::find(adopted.begin(), adopted.end(), pid) == adopted.end()) {
            adopted.push_back(pid);
            std::printf("worker%llu (pid %d) joined (cluster add-worker)\n", w.value("id", 0ull), pid);
            std::fflush(stdout);
          }
        }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  StopAdopted(adopted);
  StopAll(procs);
  std::printf("cluster stopped\n");
  return 0;
}

int RunClusterStatus(const std::string& dir, const std::string& token) {
  json c = json::parse(ReadFile(dir + "/cluster.json"), nullptr, false);
  if (c.is_discarded() || !c.contains("gateways") || c["gateways"].empty()) {
    std::fprintf(stderr, "error: %s/cluster.json is missing or has no gateway (start one with vectron cluster up)\n", dir.c_str());
    return 1;
  }
  const json& g = c["gateways"][0];
  std::string url = g.value("url", "http://" + g.value("http", ""));
  std::string cert = g.contains("cert") && g["cert"].is_string() ? g["cert"].get<std::string>() : "";
  net::HttpReply r = GatewayGet(url, cert, token, "/v1/cluster");
  json m = json::parse(r.body, nullptr, false);
  if (r.status != 200 || m.is_discarded()) {
    std::string why = !m.is_discarded() && m.contains("error") ? m["error"].value("message", "") : "no answer";
    std::fprintf(stderr, "error: the gateway at %s did not serve GET /v1/cluster (HTTP %d: %s)%s\n", url.c_str(), r.status,
                 why.c_str(), r.status == 401 || r.status == 403 ? "; give --token (an admin's token) or $VECTRON_TOKEN" : "");
    return 1;
  }
  std::printf("map version %llu; PD members %s, leader %llu\n", m.value("version", 0ull), m["pd"]["members"].dump().c_str(),
              m["pd"].value("leader", 0ull));
  for (auto& w : m["workers"])
    std::printf("worker %llu  %s  %s\n", w.value("id", 0ull), w.value("addr", "").c_str(), w.value("alive", false) ? "alive" : "DEAD");
  int moving = 0;
  for (auto& g : m["shards"]) {
    std::printf("%s shard %u: group %llu, replicas %s, leader %llu\n", g.value("collection", "").c_str(), g.value("shard", 0u),
                g.value("id", 0ull), g["replicas"].dump().c_str(), g.value("leader", 0ull));
    if (!g.contains("move")) continue;
    // A replica move: each joining replica's progress, as its applied index against the
    // leader's (it jumps when the shard snapshot it is fetching is installed).
    ++moving;
    const json& mv = g["move"];
    std::printf("  moving to %s\n", mv["target"].dump().c_str());
    const json& applied = mv["applied"];
    uint64_t lead = applied.value(std::to_string(g.value("leader", 0ull)), 0ull);
    std::vector<uint64_t> replicas = g["replicas"].get<std::vector<uint64_t>>();
    for (uint64_t w : mv["target"].get<std::vector<uint64_t>>()) {
      if (std::find(replicas.begin(), replicas.end(), w) != replicas.end()) continue;
      uint64_t at = applied.value(std::to_string(w), 0ull);
      double f = lead == 0 ? 0 : std::min(1.0, static_cast<double>(at) / static_cast<double>(lead));
      int filled = static_cast<int>(f * 30 + 0.5);
      std::printf("  worker %llu [%s%s] %3d%%  applied %llu of %llu%s\n", static_cast<unsigned long long>(w),
                  std::string(filled, '#').c_str(), std::string(30 - filled, '.').c_str(), static_cast<int>(f * 100),
                  static_cast<unsigned long long>(at), static_cast<unsigned long long>(lead),
                  applied.contains(std::to_string(w)) ? "" : " (not started)");
    }
  }
  if (moving > 0) std::printf("%d replica move(s) in progress\n", moving);
  return 0;
}

int RunClusterAddWorker(const std::string& dir, int ready_timeout_s) {
  const std::string path = dir + "/cluster.json";
  json c = json::parse(ReadFile(path), nullptr, false);
  if (c.is_discarded() || !c.contains("workers") || c["workers"].empty() || !c["workers"][0].contains("argv")) {
    std::fprintf(stderr, "error: %s is missing or lists no worker (start the cluster with vectron cluster up)\n", path.c_str());
    return 1;
  }
  // The new worker runs like the first one: same PDs, secret and CA; its own id, data
  // directory, port and certificate.
  uint64_t id = 0;
  for (auto& w : c["workers"]) id = std::max<uint64_t>(id, w.value("id", 0ull));
  ++id;
  Proc p{"worker" + std::to_string(id), id, "127.0.0.1:" + std::to_string(FreePort()), false, {}};
  std::vector<std::string> base = c["workers"][0]["argv"].get<std::vector<std::string>>();
  for (size_t i = 0; i < base.size(); ++i) {
    const std::string& a = base[i];
    if (i + 1 == base.size()) {
      p.argv.push_back(a);
    } else if (a == "--cluster-ca" || a == "--cluster-cert" || a == "--cluster-key") {
      ++i;  // Replaced below by this node's own.
    } else if (a == "--id" || a == "--db" || a == "--listen") {
      p.argv.push_back(a);
      p.argv.push_back(a == "--id" ? std::to_string(id) : a == "--db" ? dir + "/" + p.name : p.addr);
      ++i;
    } else {
      p.argv.push_back(a);
    }
  }
  if (std::find(base.begin(), base.end(), "--cluster-ca") != base.end()) {
    auto files = EnsureNodeCert(dir, "worker-" + std::to_string(id), /*reissue=*/false);
    if (!files.ok()) {
      std::fprintf(stderr, "error: %s\n", files.status().ToString().c_str());
      return 1;
    }
    AddClusterTlsArgs(&p.argv, *files);
  }
  const std::string log = dir + "/" + p.name + ".log";
  std::error_code ec;
  std::filesystem::remove(log, ec);
  if (!Spawn(p, log)) {
    std::fprintf(stderr, "error: cannot start %s\n", p.name.c_str());
    return 1;
  }
  c["workers"].push_back({{"id", id}, {"pid", p.pid}, {"addr", p.addr}, {"argv", p.argv}});
  {
    const std::string tmp = path + ".tmp";
    std::ofstream f(tmp);
    f << c.dump(2) << "\n";
    f.close();
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
      std::fprintf(stderr, "error: writing %s: %s\n", path.c_str(), ec.message().c_str());
      return 1;
    }
  }
  // Ready once the gateway's map shows it alive (PD registered it).
  const json& g = c["gateways"][0];
  std::string url = g.value("url", "http://" + g.value("http", ""));
  std::string cert = g.contains("cert") && g["cert"].is_string() ? g["cert"].get<std::string>() : "";
  const size_t want = c["workers"].size();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(ready_timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (::waitpid(p.pid, &st, WNOHANG) == p.pid) {
      std::fprintf(stderr, "error: %s exited while starting; see %s\n", p.name.c_str(), log.c_str());
      return 1;
    }
    net::HttpReply r = GatewayGet(url, cert, "", "/readyz");
    json j = json::parse(r.body, nullptr, false);
    if (r.status == 200 && !j.is_discarded() && j.value("workers_alive", 0ull) >= want) {
      std::printf("worker %llu started (pid %d) on %s; PD moves replicas to it a few at a time:\n"
                  "  vectron cluster status --dir %s --token TOKEN\n",
                  static_cast<unsigned long long>(id), p.pid, p.addr.c_str(), dir.c_str());
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::fprintf(stderr, "error: worker %llu did not join within %d s; see %s\n", static_cast<unsigned long long>(id),
               ready_timeout_s, log.c_str());
  return 1;
}

}  // namespace vectron::tools
