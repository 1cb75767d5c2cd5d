// TcpClusterTransport with mutual TLS (docs/cluster.md, "Membership"): real sockets on
// 127.0.0.1, certificates made in a temp dir by the test (crypto::WriteCaCert/IssueCert).
// Also its outbound connect's timeout (ConnectWithin), against a loopback listener whose
// accept queue is full.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "net/cluster/wire.h"
#include "tests/lib/test_util.h"
#include "net/daemon/cluster_transport.h"
#include "net/io/blocking_socket.h"
#include "net/io/connect.h"
#include "net/io/crypto.h"
#include "net/rpc/frame.h"
#include "tests/net/temp_dir.h"

namespace vectron::net::daemon {
namespace {

using cluster::NodeKind;
using testing::ScopedTempDir;

constexpr char kSecret[] = "0123456789abcdef-test-secret";

// A CA and certificates it issued, in a temp dir.
struct TestPki {
  explicit TestPki(const std::string& dir, const std::string& ca_name = "ca") : dir(dir), ca_name(ca_name) {
    REQUIRE(crypto::WriteCaCert(Ca(), dir + "/" + ca_name + "-key.pem", "test " + ca_name, 2).ok());
  }
  std::string Ca() const { return dir + "/" + ca_name + ".pem"; }
  // Issues a certificate for `name` (if not yet) and returns the {cert, key} paths.
  std::pair<std::string, std::string> Issue(const std::string& name) {
    std::string cert = dir + "/" + ca_name + "-" + name + ".pem", key = dir + "/" + ca_name + "-" + name + "-key.pem";
    if (!std::filesystem::exists(cert))
      REQUIRE(crypto::IssueCert(Ca(), dir + "/" + ca_name + "-key.pem", cert, key, name, 2).ok());
    return {cert, key};
  }
  // The ClusterTls of `self`, with its own certificate.
  std::shared_ptr<const ClusterTls> For(const NodeId& self) {
    auto [cert, key] = Issue(NodeCertName(self));
    auto t = LoadClusterTls(Ca(), cert, key, self);
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    return *t;
  }
  // A ClusterTls presenting `name`'s certificate whatever node uses it (an impostor).
  std::shared_ptr<const ClusterTls> WithCertOf(const std::string& name) {
    auto [cert, key] = Issue(name);
    auto t = std::make_shared<ClusterTls>();
    auto s = TlsContext::LoadMutual(Ca(), cert, key, false);
    auto c = TlsContext::LoadMutual(Ca(), cert, key, true);
    REQUIRE(s.ok());
    REQUIRE(c.ok());
    t->server = *s;
    t->client = *c;
    return t;
  }
  std::string dir, ca_name;
};

// Nodes' transports on one event loop run by a thread; what each received.
class TransportHarness {
 public:
  ~TransportHarness() {
    if (thread_.joinable()) {
      loop_.Stop();
      thread_.join();
    }
    nodes_.clear();  // The loop is not running: transports may go.
  }

  // Adds a node (before Start). `listen`: it listens on 127.0.0.1:0 (else, a gateway,
  // it only calls).
  TcpClusterTransport* Add(const NodeId& id, std::shared_ptr<const ClusterTls> tls, bool listen = true,
                           std::string secret = kSecret) {
    auto n = std::make_unique<TcpClusterTransport>(
        loop_, id, [this](const NodeId& to) { return Resolve(to); },
        [this, id](const NodeId& from, Envelope msg) {
          {
            std::lock_guard lock(mu_);
            got_[id].push_back({from, std::move(msg)});
          }
          progress_.Notify();
        },
        std::move(secret), std::move(tls));
    n->set_on_count([this] { progress_.Notify(); });
    if (listen) {
      REQUIRE(n->Listen("127.0.0.1", 0).ok());
      SetAddress(id, "127.0.0.1:" + std::to_string(n->port()));
    }
    TcpClusterTransport* raw = n.get();
    nodes_[id] = std::move(n);
    return raw;
  }
  // Where `id` is reached (a node of the harness, or a hostile listener).
  void SetAddress(const NodeId& id, const std::string& addr) {
    std::lock_guard lock(mu_);
    addrs_[id] = addr;
  }
  void Start() {
    thread_ = std::thread([this] { loop_.Run(); });
  }
  // Runs `fn` on the loop thread and waits for it.
  template <typename Fn>
  auto OnLoop(Fn fn) -> decltype(fn()) {
    std::promise<decltype(fn())> p;
    loop_.Post([&] { p.set_value(fn()); });
    return p.get_future().get();
  }
  void Send(const NodeId& from, const NodeId& to, uint64_t rpc_id) {
    OnLoop([&] {
      nodes_.at(from)->Send(to, cluster::PdMapRequest{rpc_id, 0});
      return 0;
    });
  }
  uint64_t Refused(const NodeId& id) {
    return OnLoop([&] { return nodes_.at(id)->refused(); });
  }
  // The rpc ids of the PdMapRequests `id` received from `from`.
  std::vector<uint64_t> Got(const NodeId& id, const NodeId& from) {
    std::lock_guard lock(mu_);
    std::vector<uint64_t> out;
    for (auto& [f, m] : got_[id])
      if (f == from)
        if (auto* r = std::get_if<cluster::PdMapRequest>(&m)) out.push_back(r->rpc_id);
    return out;
  }
  // The ShardReadRequests `id` received from `from`: (rpc id, query size).
  std::vector<std::pair<uint64_t, size_t>> GotReads(const NodeId& id, const NodeId& from) {
    std::lock_guard lock(mu_);
    std::vector<std::pair<uint64_t, size_t>> out;
    for (auto& [f, m] : got_[id])
      if (f == from)
        if (auto* r = std::get_if<cluster::ShardReadRequest>(&m)) out.emplace_back(r->rpc_id, r->query.size());
    return out;
  }
  // Sends `n` pairs: a read of `floats` query floats (rpc ids first..), then a map
  // request (rpc ids 1000 + first..), all from one task on the loop thread.
  void SendBurst(const NodeId& from, const NodeId& to, uint64_t first, int n, size_t floats) {
    OnLoop([&] {
      for (int i = 0; i < n; ++i) {
        cluster::ShardReadRequest r;
        r.rpc_id = first + i;
        r.kind = cluster::ShardReadRequest::Kind::kSearch;
        r.query.assign(floats, static_cast<float>(i));
        nodes_.at(from)->Send(to, std::move(r));
        nodes_.at(from)->Send(to, cluster::PdMapRequest{1000 + first + i, 0});
      }
      return 0;
    });
  }
  size_t GotAny(const NodeId& id) {
    std::lock_guard lock(mu_);
    return got_[id].size();
  }
  // Waits until `done()`, checked again each time a node receives a message or counts a
  // drop or a refusal; false if it is still not after `seconds`.
  template <typename Pred>
  bool Wait(Pred done, double seconds = 60) {
    return progress_.Wait(done, seconds);
  }

 private:
  std::string Resolve(const NodeId& to) {
    std::lock_guard lock(mu_);
    auto it = addrs_.find(to);
    return it == addrs_.end() ? "" : it->second;
  }

  vectron::testing::Progress progress_;  // Before the nodes, whose threads notify it.
  EventLoop loop_;
  std::thread thread_;
  std::map<NodeId, std::unique_ptr<TcpClusterTransport>> nodes_;
  std::mutex mu_;
  std::map<NodeId, std::string> addrs_;                                      // Guarded by mu_.
  std::map<NodeId, std::vector<std::pair<NodeId, Envelope>>> got_;          // Guarded by mu_.
};

// True if the server closes `fd` (EOF or reset) within `timeout_ms`, having sent no
// application reply (whatever arrives is consumed and ignored).
bool ClosedByPeer(int fd, int timeout_ms = 10000) {
  timeval tv{0, 100 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
  }
  return false;
}

int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  return fd;
}

bool SendRaw(int fd, const std::string& bytes) {
  return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

// A hostile listener on 127.0.0.1: accepts connections, records what they send, and
// closes each after its first bytes (`answer_nothing`: keeps them open, silent).
class RawListener {
 public:
  explicit RawListener(bool answer_nothing = false) : silent_(answer_nothing) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~RawListener() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    for (int c : conns_) ::close(c);
  }
  int port() const { return port_; }
  std::string received() {
    std::lock_guard lock(mu_);
    return received_;
  }
  // Waits until received() holds `bytes`; false if it does not after 60 s.
  bool WaitReceived(const std::string& bytes) {
    return progress_.Wait([&] { return received().find(bytes) != std::string::npos; });
  }

 private:
  void Run() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n > 0) {
        std::lock_guard lock(mu_);
        received_.append(buf, static_cast<size_t>(n));
      }
      if (n > 0) progress_.Notify();
      if (silent_) {
        conns_.push_back(c);
      } else {
        ::close(c);
      }
    }
  }
  bool silent_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<int> conns_;  // Owned by thread_ until it ends.
  std::mutex mu_;
  std::string received_;  // Guarded by mu_.
  vectron::testing::Progress progress_;
};

const NodeId kPd1{NodeKind::kPd, 1};
const NodeId kW1{NodeKind::kWorker, 1};
const NodeId kW2{NodeKind::kWorker, 2};
const NodeId kW3{NodeKind::kWorker, 3};
const NodeId kGw1{NodeKind::kGateway, 1};

TEST_CASE("Nodes with certificates from one CA exchange messages over mutual TLS, both ways") {
  ScopedTempDir dir("cluster-tls-ok");
  TestPki pki(dir.path);
  TransportHarness h;
  TcpClusterTransport* w1 = h.Add(kW1, pki.For(kW1));
  TcpClusterTransport* w2 = h.Add(kW2, pki.For(kW2));
  h.Add(kGw1, pki.For(kGw1), /*listen=*/false);
  (void)w1;
  (void)w2;
  h.Start();
  h.Send(kW1, kW2, 1);
  h.Send(kW2, kW1, 2);
  h.Send(kGw1, kW1, 3);  // The gateway is answered on its own connection.
  REQUIRE(h.Wait([&] { return h.Got(kW2, kW1) == std::vector<uint64_t>{1} && h.Got(kW1, kW2) == std::vector<uint64_t>{2}; }));
  REQUIRE(h.Wait([&] { return h.Got(kW1, kGw1) == std::vector<uint64_t>{3}; }));
  h.Send(kW1, kGw1, 4);
  REQUIRE(h.Wait([&] { return h.Got(kGw1, kW1) == std::vector<uint64_t>{4}; }));
  // Many frames on one connection keep their order.
  for (uint64_t i = 10; i < 200; ++i) h.Send(kW1, kW2, i);
  REQUIRE(h.Wait([&] { return h.Got(kW2, kW1).size() == 191; }));
  std::vector<uint64_t> want{1};
  for (uint64_t i = 10; i < 200; ++i) want.push_back(i);
  CHECK(h.Got(kW2, kW1) == want);
  CHECK(h.Refused(kW1) == 0);
  CHECK(h.Refused(kW2) == 0);
  CHECK(h.Refused(kGw1) == 0);
}

// A frame goes to the socket from the loop thread when the connection is idle; what the
// socket does not take at once is finished by the connection's sender thread, before the
// frames queued meanwhile (and, under TLS, before any record the reader thread sends).
TEST_CASE("Frames larger than the socket takes at once arrive whole and in order, in plain TCP and TLS") {
  ScopedTempDir dir("cluster-burst");
  TestPki pki(dir.path);
  for (bool tls : {false, true}) {
    CAPTURE(tls);
    TransportHarness h;
    h.Add(kW1, tls ? pki.For(kW1) : nullptr);
    h.Add(kW2, tls ? pki.For(kW2) : nullptr);
    h.Start();
    h.Send(kW1, kW2, 1);  // Connects: later frames may go out from the loop thread.
    REQUIRE(h.Wait([&] { return h.Got(kW2, kW1).size() == 1; }));
    for (int round = 0; round < 3; ++round) {
      const uint64_t first = 10 + round * 100;
      h.SendBurst(kW1, kW2, first, 6, size_t{1} << 20);  // 6 x 4 MiB reads, each with a map request.
      REQUIRE(h.Wait([&] { return h.GotReads(kW2, kW1).size() == size_t(6 * (round + 1)); }));
    }
    REQUIRE(h.Wait([&] { return h.Got(kW2, kW1).size() == 19; }));
    std::vector<std::pair<uint64_t, size_t>> want_reads;
    std::vector<uint64_t> want_maps{1};
    for (int round = 0; round < 3; ++round)
      for (int i = 0; i < 6; ++i) {
        want_reads.emplace_back(10 + round * 100 + i, size_t{1} << 20);
        want_maps.push_back(1000 + 10 + round * 100 + i);
      }
    CHECK(h.GotReads(kW2, kW1) == want_reads);
    CHECK(h.Got(kW2, kW1) == want_maps);
    // And small frames after them still go.
    h.Send(kW1, kW2, 7);
    REQUIRE(h.Wait([&] { return h.Got(kW2, kW1).size() == 20; }));
  }
}

TEST_CASE("Without a cluster secret, the certificates alone admit a node") {
  ScopedTempDir dir("cluster-tls-nosecret");
  TestPki pki(dir.path);
  TestPki other(dir.path, "other-ca");
  TransportHarness h;
  h.Add(kW1, pki.For(kW1), /*listen=*/true, /*secret=*/"");
  h.Add(kW2, pki.For(kW2), /*listen=*/true, /*secret=*/"");
  h.Add(kW3, other.For(kW3), /*listen=*/false, /*secret=*/"");
  h.Start();
  h.Send(kW1, kW2, 1);
  h.Send(kW3, kW2, 2);
  REQUIRE(h.Wait([&] { return h.Got(kW2, kW1) == std::vector<uint64_t>{1} && h.Refused(kW2) == 1; }));
  CHECK(h.Got(kW2, kW3).empty());
}

TEST_CASE("A TLS listener refuses callers without a valid cluster certificate, before decoding a message") {
  ScopedTempDir dir("cluster-tls-listener");
  TestPki pki(dir.path);
  TestPki other(dir.path, "other-ca");
  TransportHarness h;
  TcpClusterTransport* w2 = h.Add(kW2, pki.For(kW2));
  const int port = w2->port();
  // Impostors: a node with another CA's certificate, and one with a real cluster
  // certificate (worker 3's) speaking as a PD.
  h.Add(kW1, other.For(kW1), /*listen=*/false);
  h.Add(kPd1, pki.WithCertOf(NodeCertName(kW3)), /*listen=*/false);
  h.Start();
  uint64_t refused = 0;

  SUBCASE("plain TCP with the right hello and a message") {
    int fd = ConnectLoopback(port);
    std::string hello = EncodeFrame(std::string("vectron-cluster-1 ") + kSecret);
    CHECK(SendRaw(fd, hello + EncodeFrame(cluster::EncodeEnvelope(kW1, cluster::PdMapRequest{7, 0}))));
    CHECK(ClosedByPeer(fd));
    ::close(fd);
    refused = 1;
  }
  SUBCASE("TLS without a client certificate") {
    TlsClientOptions co;
    co.ca_file = pki.Ca();
    co.server_name = NodeCertName(kW2);
    auto ctx = TlsContext::LoadClient(co);
    REQUIRE(ctx.ok());
    // TLS 1.3: the client's side of the handshake ends before the server checks it, so
    // the refusal shows as a closed connection.
    auto sock = BlockingSocket::ConnectTls("127.0.0.1", port, *ctx);
    if (sock.ok()) {
      (void)sock->SetTimeout(10000);
      (void)sock->SendAll(EncodeFrame(std::string("vectron-cluster-1 ") + kSecret));
      std::string out;
      auto n = sock->RecvSome(&out);
      CHECK((!n.ok() || *n == 0));
    }
    refused = 1;
  }
  SUBCASE("a certificate from another CA") {
    h.Send(kW1, kW2, 8);
    refused = 1;
  }
  SUBCASE("a cluster certificate for another node than the one its frames name") {
    h.Send(kPd1, kW2, 9);
    refused = 1;
  }
  SUBCASE("a truncated handshake") {
    int fd = ConnectLoopback(port);
    // The first bytes of a TLS record holding a ClientHello, then the end.
    CHECK(SendRaw(fd, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
    ::shutdown(fd, SHUT_WR);
    CHECK(ClosedByPeer(fd));
    ::close(fd);
    refused = 1;
  }
  SUBCASE("a handshake that never finishes is closed after 5 s") {
    int fd = ConnectLoopback(port);
    CHECK(SendRaw(fd, std::string("\x16\x03\x01\x02\x00", 5)));
    CHECK(ClosedByPeer(fd, 12000));
    ::close(fd);
    refused = 1;
  }
  REQUIRE(h.Wait([&] { return h.Refused(kW2) >= refused; }));
  CHECK(h.Refused(kW2) == refused);
  CHECK(h.GotAny(kW2) == 0);
}

TEST_CASE("A TLS caller refuses listeners without a valid cluster certificate, and sends them nothing in clear") {
  ScopedTempDir dir("cluster-tls-caller");
  TestPki pki(dir.path);
  TestPki other(dir.path, "other-ca");
  TransportHarness h;
  h.Add(kW1, pki.For(kW1), /*listen=*/false);

  SUBCASE("a plain TCP listener") {
    RawListener raw;
    h.SetAddress(kW2, "127.0.0.1:" + std::to_string(raw.port()));
    h.Start();
    h.Send(kW1, kW2, 1);
    REQUIRE(h.Wait([&] { return h.Refused(kW1) >= 1; }));
    std::string got = raw.received();
    REQUIRE(!got.empty());
    CHECK(got[0] == '\x16');  // A TLS handshake record,
    CHECK(got.find(kSecret) == std::string::npos);  // not the hello.
  }
  SUBCASE("a listener that never answers the handshake, within 5 s") {
    RawListener raw(/*answer_nothing=*/true);
    h.SetAddress(kW2, "127.0.0.1:" + std::to_string(raw.port()));
    h.Start();
    h.Send(kW1, kW2, 1);
    REQUIRE(h.Wait([&] { return h.Refused(kW1) >= 1; }, 12));
  }
  SUBCASE("a listener with another CA's certificate") {
    h.Add(kW2, other.For(kW2));
    h.Start();
    h.Send(kW1, kW2, 1);
    REQUIRE(h.Wait([&] { return h.Refused(kW1) >= 1; }));
    CHECK(h.GotAny(kW2) == 0);
  }
  SUBCASE("a listener with a cluster certificate for another node") {
    // Worker 3's certificate at the address of worker 2.
    TcpClusterTransport* w3 = h.Add(kW3, pki.For(kW3));
    h.SetAddress(kW2, "127.0.0.1:" + std::to_string(w3->port()));
    h.Start();
    h.Send(kW1, kW2, 1);
    REQUIRE(h.Wait([&] { return h.Refused(kW1) >= 1; }));
    CHECK(h.GotAny(kW3) == 0);
  }
  CHECK(h.GotAny(kW1) == 0);
}

TEST_CASE("LoadClusterTls names the file and the reason when the files are wrong") {
  ScopedTempDir dir("cluster-tls-load");
  TestPki pki(dir.path);
  TestPki other(dir.path, "other-ca");
  auto [cert, key] = pki.Issue(NodeCertName(kW1));
  auto [cert2, key2] = pki.Issue(NodeCertName(kW2));
  auto [other_cert, other_key] = other.Issue(NodeCertName(kW1));
  auto err = [&](const std::string& ca, const std::string& c, const std::string& k) {
    auto t = LoadClusterTls(ca, c, k, kW1);
    REQUIRE(!t.ok());
    CHECK(t.status().code() == StatusCode::kInvalidArgument);
    return t.status().message();
  };
  std::string m = err(pki.Ca(), dir.path + "/missing.pem", key);
  CHECK(m.find("--cluster-cert " + dir.path + "/missing.pem") != std::string::npos);
  CHECK(m.find("No such file") != std::string::npos);
  m = err(dir.path + "/nope.pem", cert, key);
  CHECK(m.find("--cluster-ca " + dir.path + "/nope.pem") != std::string::npos);
  m = err(pki.Ca(), cert, key2);
  CHECK(m.find("--cluster-key " + key2 + " does not match") != std::string::npos);
  m = err(pki.Ca(), other_cert, other_key);
  CHECK(m.find("does not verify against --cluster-ca") != std::string::npos);
  m = err(pki.Ca(), cert2, key2);
  CHECK(m.find("is for \"vectron-worker-2\", not for this node (\"vectron-worker-1\")") != std::string::npos);
  m = err(pki.Ca(), key, key);  // A key where the certificate belongs.
  CHECK(m.find("--cluster-cert " + key) != std::string::npos);
  CHECK(LoadClusterTls(pki.Ca(), cert, key, kW1).ok());
}

// ---------------------------------------------------------------- outbound connect timeout

// A listener on 127.0.0.1 that accepts nothing, its accept queue (backlog 0: room for
// one) filled by one connection: Linux then drops further SYNs, so a connect to it stays
// in SYN_SENT while the kernel retries (about two minutes): a peer that never answers,
// on loopback.
class FullListener {
 public:
  FullListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(::listen(fd_, 0) == 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    filler_ = ConnectLoopback(port_);
  }
  ~FullListener() {
    ::close(filler_);
    ::close(fd_);
  }
  int port() const { return port_; }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
  sockaddr_in address() const {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }

 private:
  int fd_ = -1;
  int filler_ = -1;
  int port_ = 0;
};

// How many IPv4 sockets of this host are in SYN_SENT towards 127.0.0.1:`port`.
int SynSentTo(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // Header.
  char want[32];
  std::snprintf(want, sizeof(want), "0100007F:%04X", port);
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, local, remote, state;
    fields >> sl >> local >> remote >> state;
    if (remote == want && state == "02") ++n;
  }
  return n;
}

// Waits until SynSentTo(port) == n, or 60 s. The one wait here that polls: a socket's
// state in the kernel raises no event a test can wait on (the connects are made on the
// transport's peer threads, inside a blocking connect).
bool WaitSynSent(int port, int n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (SynSentTo(port) != n) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST_CASE("A connect to an address that never answers fails after its timeout, naming the address") {
  FullListener full;
  sockaddr_in a = full.address();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto t0 = std::chrono::steady_clock::now();
  Status st = ConnectWithin(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a), 200);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ::close(fd);
  REQUIRE_MESSAGE(!st.ok(), "the connect completed: is the accept queue of a backlog-0 listener not full?");
  CHECK(st.code() == StatusCode::kUnavailable);
  CHECK(st.message() == "timed out after 200 ms");
  CHECK(ms >= 200);
  CHECK(ms < 10000);

  auto s = BlockingSocket::Connect("127.0.0.1", full.port(), 200);
  REQUIRE(!s.ok());
  CHECK(s.status().message().find("connect 127.0.0.1:" + std::to_string(full.port()) +
                                  ": 127.0.0.1: timed out after 200 ms") != std::string::npos);

  // A port nothing listens on is refused at once; a live listener is connected, and the
  // socket is blocking again.
  int closed_port;
  {
    RawListener gone;
    closed_port = gone.port();
  }
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  a.sin_port = htons(static_cast<uint16_t>(closed_port));
  st = ConnectWithin(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a), 10000);
  ::close(fd);
  CHECK(st.code() == StatusCode::kIOError);
  CHECK(st.message() == "Connection refused");
  RawListener live;
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  a.sin_port = htons(static_cast<uint16_t>(live.port()));
  REQUIRE(ConnectWithin(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a), 10000).ok());
  CHECK((::fcntl(fd, F_GETFL, 0) & O_NONBLOCK) == 0);
  CHECK(SendRaw(fd, "hi"));
  REQUIRE(live.WaitReceived("hi"));
  CHECK(live.received() == "hi");
  ::close(fd);
}

TEST_CASE("A peer that never answers a connect costs its frames, not the node: each try times out") {
  FullListener full;
  TransportHarness h;
  TcpClusterTransport* pd = h.Add(kPd1, nullptr);
  pd->set_connect_timeout_ms(200);
  h.SetAddress(kW1, full.addr());
  h.Start();
  auto dropped = [&] { return h.OnLoop([&] { return pd->dropped(); }); };
  h.Send(kPd1, kW1, 1);
  REQUIRE(h.Wait([&] { return dropped() == 1; }));  // The try timed out: its frame is dropped.
  h.Send(kPd1, kW1, 2);
  REQUIRE(h.Wait([&] { return dropped() == 2; }));  // And the next try too (after a backoff).
}

TEST_CASE("A peer stuck connecting is replaced or dropped at once, without waiting for the kernel") {
  FullListener full;
  RawListener moved(/*answer_nothing=*/true);
  auto h = std::make_unique<TransportHarness>();
  TcpClusterTransport* pd = h->Add(kPd1, nullptr);
  pd->set_connect_timeout_ms(0);  // Only the kernel's limit (about two minutes).
  h->SetAddress(kW1, full.addr());
  h->SetAddress(kW2, full.addr());
  h->Start();
  h->Send(kPd1, kW1, 1);
  h->Send(kPd1, kW2, 2);
  REQUIRE(WaitSynSent(full.port(), 2));  // Both connects are waiting.
  // kW1 moved: Send, on the loop thread, replaces its peer, whose connect is cut short.
  h->SetAddress(kW1, "127.0.0.1:" + std::to_string(moved.port()));
  auto t0 = std::chrono::steady_clock::now();
  h->Send(kPd1, kW1, 3);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  CHECK(ms < 5000);
  REQUIRE(moved.WaitReceived("vectron-cluster-1"));
  // Stopping the node does not wait for kW2's connect either.
  t0 = std::chrono::steady_clock::now();
  h.reset();
  ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  CHECK(ms < 5000);
}

}  // namespace
}  // namespace vectron::net::daemon
