// Clients over TLS (certificate checks against a CA file, and the insecure option) and
// listen/connect addresses given as host names.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "net/rpc/rpc_client.h"
#include "test_util.h"

using namespace vectron;
using namespace vectron::net;
using namespace vectron::net::testing;

namespace {

// A self-signed certificate (its own CA) for CN `cn` with subjectAltNames `sans`, made
// with the openssl CLI (installed by scripts/install-deps.sh).
void MakeCert(const std::string& dir, const std::string& stem, const std::string& cn, const std::string& sans) {
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=" + cn +
                    " -addext subjectAltName=" + sans + " -keyout " + dir + "/" + stem + ".key -out " + dir + "/" +
                    stem + ".pem 2>/dev/null";
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);
}

struct TlsServer {
  std::string certs = TempDir("certs");
  std::unique_ptr<RunningServer> rs;
  TlsServer() {
    MakeCert(certs, "server", "localhost", "DNS:localhost,IP:127.0.0.1");
    MakeCert(certs, "other", "other.example", "DNS:other.example");
    ServeOptions o;
    o.tls_cert = certs + "/server.pem";
    o.tls_key = certs + "/server.key";
    rs = std::make_unique<RunningServer>("tls-client", o);
    CollectionConfig cfg;
    cfg.dim = 2;
    cfg.metric = Metric::kL2;
    REQUIRE(rs->server->database().CreateCollection("docs", cfg).ok());
  }
  ~TlsServer() {
    rs.reset();
    std::filesystem::remove_all(certs);
  }
  RpcClientOptions Options(const std::string& ca, bool insecure = false, const std::string& name = "") const {
    RpcClientOptions o;
    o.tls = true;
    o.tls_options.ca_file = ca.empty() ? "" : certs + "/" + ca + ".pem";
    o.tls_options.insecure_skip_verify = insecure;
    o.tls_options.server_name = name;
    return o;
  }
};

// A listener on loopback whose peer thread runs `serve(fd)` on each of `connections`
// accepted connections, then closes it. Should a check fail first, the destructor wakes
// a peer still in accept (after the client's socket, declared later, has closed and
// ended the peer's reads), joins it, and closes the listener.
class LoopbackPeer {
 public:
  LoopbackPeer(int connections, std::function<void(int fd)> serve) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(lfd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    REQUIRE(::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(::listen(lfd_, connections) == 0);
    REQUIRE(::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    peer_ = std::jthread([this, connections, serve = std::move(serve)] {
      for (int i = 0; i < connections; ++i) {
        int fd = ::accept(lfd_, nullptr, nullptr);
        if (fd < 0) return;
        serve(fd);
        ::close(fd);
      }
    });
  }
  ~LoopbackPeer() {
    ::shutdown(lfd_, SHUT_RDWR);
    if (peer_.joinable()) peer_.join();
    ::close(lfd_);
  }
  int port() const { return port_; }
  // Waits for the peer to have served every connection.
  void Join() { peer_.join(); }

 private:
  int lfd_ = -1;
  int port_ = 0;
  std::jthread peer_;
};

// Reads from `fd` until the client closes the connection: true (a reset counts: a close
// with unread bytes sends one), or false if the client sends nothing for 10 s (a test
// that fails, rather than one that hangs).
bool ReadUntilClosed(int fd) {
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[4096];
  for (;;) {
    ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
    if (r <= 0) return r == 0 || errno == ECONNRESET;
  }
}

}  // namespace

TEST_CASE("RPC client over TLS verifies the server certificate against a CA file") {
  TlsServer t;
  const int port = t.rs->server->rpc_port();
  for (const char* host : {"127.0.0.1", "localhost"}) {
    CAPTURE(host);
    auto c = RpcClient::Connect(host, port, t.Options("server"));
    REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    CHECK(c->Ping().ok());
    std::vector<Point> pts;
    for (int i = 0; i < 300; ++i) pts.push_back({"p" + std::to_string(i), {float(i), 1}, R"({"i":1})"});
    REQUIRE(c->Upsert("docs", pts).ok());  // A frame of many TLS records.
    auto hits = c->Search("docs", std::vector<float>{7, 1}, 1, {});
    REQUIRE(hits.ok());
    CHECK((*hits)[0][0].id == "p7");
    CHECK(*c->Count("docs") == 300);
  }
  // A certificate from another CA, or for another name, fails the handshake.
  auto wrong_ca = RpcClient::Connect("127.0.0.1", port, t.Options("other"));
  REQUIRE_FALSE(wrong_ca.ok());
  CHECK(wrong_ca.status().code() == StatusCode::kUnavailable);
  CHECK(wrong_ca.status().message().find("certificate verify failed") != std::string::npos);
  auto wrong_name = RpcClient::Connect("127.0.0.1", port, t.Options("server", false, "other.example"));
  REQUIRE_FALSE(wrong_name.ok());
  CHECK(wrong_name.status().message().find("hostname mismatch") != std::string::npos);
  // A missing CA file is a bad argument, found before connecting.
  auto missing = RpcClient::Connect("127.0.0.1", port, t.Options("missing"));
  CHECK(missing.status().code() == StatusCode::kInvalidArgument);
  // The server keeps serving after refused handshakes.
  auto again = RpcClient::Connect("localhost", port, t.Options("server"));
  REQUIRE(again.ok());
  CHECK(again->Ping().ok());
}

TEST_CASE("RPC client's insecure option skips the certificate check; plain clients get no answer") {
  TlsServer t;
  const int port = t.rs->server->rpc_port();
  auto c = RpcClient::Connect("127.0.0.1", port, t.Options("other", /*insecure=*/true, "other.example"));
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  CHECK(c->Ping().ok());
  // One TLS context shared by several clients.
  TlsClientOptions to;
  to.ca_file = t.certs + "/server.pem";
  auto ctx = TlsContext::LoadClient(to);
  REQUIRE(ctx.ok());
  auto c1 = RpcClient::ConnectTls("localhost", port, *ctx);
  auto c2 = RpcClient::ConnectTls("localhost", port, *ctx);
  REQUIRE(c1.ok());
  REQUIRE(c2.ok());
  CHECK(c1->Ping().ok());
  CHECK(c2->Ping().ok());
  auto plain = RpcClient::Connect("127.0.0.1", port);
  REQUIRE(plain.ok());  // TCP connects, but the server expects a TLS handshake.
  CHECK_FALSE(plain->Ping().ok());
}

TEST_CASE("HTTP over TLS through BlockingSocket::ConnectTls") {
  TlsServer t;
  TlsClientOptions to;
  to.ca_file = t.certs + "/server.pem";
  auto ctx = TlsContext::LoadClient(to);
  REQUIRE(ctx.ok());
  auto s = BlockingSocket::ConnectTls("localhost", t.rs->server->http_port(), *ctx);
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  CHECK(s->tls());
  auto r = HttpCall(*s, "GET", "/healthz");
  CHECK(r.status == 200);
  r = HttpCall(*s, "GET", "/v1/collections/docs");  // Keep-alive over the same session.
  CHECK(r.status == 200);
  CHECK(r.body.find("\"docs\"") != std::string::npos);
}

TEST_CASE("clients that poll for replies before sleeping get every reply: RPC plain and over TLS, HTTP") {
  TlsServer t;
  RpcClientOptions po = t.Options("server");
  po.busy_poll_us = 500;
  for (bool tls : {false, true}) {
    CAPTURE(tls);
    RpcClientOptions o = tls ? po : RpcClientOptions{};
    o.busy_poll_us = po.busy_poll_us;
    ServeOptions plain_options;
    std::unique_ptr<RunningServer> plain;
    int port = t.rs->server->rpc_port();
    if (!tls) {
      plain = std::make_unique<RunningServer>("busy-poll", plain_options);
      CollectionConfig cfg;
      cfg.dim = 2;
      cfg.metric = Metric::kL2;
      REQUIRE(plain->server->database().CreateCollection("docs", cfg).ok());
      port = plain->server->rpc_port();
    }
    auto c = RpcClient::Connect("127.0.0.1", port, o);
    REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    std::vector<Point> pts;
    for (int i = 0; i < 300; ++i) pts.push_back({"p" + std::to_string(i), {float(i), 1}, R"({"i":1})"});
    REQUIRE(c->Upsert("docs", pts).ok());
    for (int q = 0; q < 50; ++q) {
      auto hits = c->Search("docs", std::vector<float>{float(q), 1}, 1, {});
      REQUIRE(hits.ok());
      CHECK((*hits)[0][0].id == "p" + std::to_string(q));
    }
    CHECK(*c->Count("docs") == 300);
    if (!tls) {
      auto h = BlockingSocket::Connect("127.0.0.1", plain->server->http_port());
      REQUIRE(h.ok());
      h->SetBusyPoll(500);
      for (int i = 0; i < 20; ++i) CHECK(HttpCall(*h, "GET", "/healthz").status == 200);
    }
  }
}

TEST_CASE("a socket that polls for a reply still sleeps when none comes, and sees the peer close") {
  // The peer answers "ping" with "pong", ignores "wait", and closes on anything else.
  LoopbackPeer peer(1, [](int fd) {
    for (;;) {
      char buf[4];
      size_t got = 0;
      while (got < 4) {
        ssize_t r = ::recv(fd, buf + got, 4 - got, 0);
        if (r <= 0) break;
        got += static_cast<size_t>(r);
      }
      const std::string word(buf, got);
      if (word == "ping") (void)!::send(fd, "pong", 4, MSG_NOSIGNAL);
      if (word != "ping" && word != "wait") break;
    }
  });
  auto s = BlockingSocket::Connect("127.0.0.1", peer.port());
  REQUIRE(s.ok());
  s->SetBusyPoll(1);
  REQUIRE(s->SendAll("ping").ok());
  std::string out;
  CHECK(s->RecvExact(4, &out).ok());
  CHECK(out == "pong");
  // No reply: after its 1 µs of polling the read sleeps until the socket's timeout (the
  // kernel's, so never sooner), rather than failing at the end of the poll.
  REQUIRE(s->SetTimeout(100).ok());
  REQUIRE(s->SendAll("wait").ok());
  for (bool exact : {true, false}) {
    CAPTURE(exact);
    const auto t0 = std::chrono::steady_clock::now();
    out.clear();
    Status st = exact ? s->RecvExact(4, &out) : s->RecvSome(&out).status();
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(st.code() == StatusCode::kUnavailable);
    CHECK(st.message().find("timed out") != std::string::npos);
    CHECK(waited >= std::chrono::milliseconds(90));
  }
  // The peer closes: the end of the stream, found by the poll.
  REQUIRE(s->SetTimeout(0).ok());
  REQUIRE(s->SendAll("bye!").ok());
  s->SetBusyPoll(10000000);
  out.clear();
  auto end = s->RecvSome(&out);
  REQUIRE(end.ok());
  CHECK(*end == 0);
}

TEST_CASE("a reply frame over the RPC client's limit fails its call and closes the connection") {
  // Connection i: read the client's request, answer with a frame header declaring
  // declared[i] bytes and 10 bytes of it, then wait for the client to close.
  const uint32_t declared[] = {(2u << 20) + 1, 0xFFFFFFFFu};
  int served = 0;
  std::atomic<int> closed{0};
  LoopbackPeer peer(2, [&](int fd) {
    char buf[4096];
    if (::recv(fd, buf, sizeof(buf), 0) <= 0) return;
    const uint32_t n = declared[served++];
    std::string frame(4, '\0');
    for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>(n >> (8 * i));
    frame.append(10, 'x');
    (void)!::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    if (ReadUntilClosed(fd)) ++closed;
  });
  {
    RpcClientOptions o;
    o.max_reply_bytes = 2 << 20;
    auto c = RpcClient::Connect("127.0.0.1", peer.port(), o);
    REQUIRE(c.ok());
    Status st = c->Ping();
    CHECK(st.code() == StatusCode::kResourceExhausted);
    CHECK(st.message().find("declares 2097153 bytes") != std::string::npos);
    CHECK(st.message().find("max_reply_bytes") != std::string::npos);
    // The stream is mid-frame: every later call fails without touching it.
    st = c->Ping();
    CHECK(st.code() == StatusCode::kUnavailable);
    CHECK(st.message().find("over this client's limit") != std::string::npos);
    // The default limit (256 MiB) refuses the largest length a header can declare.
    auto d = RpcClient::Connect("127.0.0.1", peer.port());
    REQUIRE(d.ok());
    st = d->Count("docs").status();
    CHECK(st.code() == StatusCode::kResourceExhausted);
    CHECK(st.message().find("declares 4294967295 bytes") != std::string::npos);
    peer.Join();  // The client closed both connections at its refusals, not at its end.
  }
  CHECK(closed == 2);
}

TEST_CASE("a socket's read buffer grows with the bytes that arrive, not with the length asked for") {
  LoopbackPeer peer(1, [](int fd) {
    const std::string hundred(100, 'y');
    (void)!::send(fd, hundred.data(), hundred.size(), MSG_NOSIGNAL);
  });
  auto s = BlockingSocket::Connect("127.0.0.1", peer.port());
  REQUIRE(s.ok());
  std::string out;
  Status st = s->RecvExact(size_t{1} << 30, &out);  // 1 GiB asked, 100 bytes sent, then EOF.
  CHECK(st.code() == StatusCode::kUnavailable);
  CHECK(out == std::string(100, 'y'));
  CHECK(out.capacity() < (size_t{1} << 20));
  // A read longer than the first room still gets every byte, in order, after what the
  // string held.
  LoopbackPeer big(1, [](int fd) {
    std::string bytes(300000, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
    (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  });
  auto b = BlockingSocket::Connect("127.0.0.1", big.port());
  REQUIRE(b.ok());
  out = "head";
  REQUIRE(b->RecvExact(300000, &out).ok());
  REQUIRE(out.size() == 300004);
  CHECK(out.substr(0, 4) == "head");
  bool same = true;
  for (size_t i = 0; i < 300000; ++i) same = same && out[4 + i] == static_cast<char>(i * 7);
  CHECK(same);
}

TEST_CASE("serve listens on and clients connect to host names such as localhost") {
  ServeOptions o;
  o.http_address = "localhost:0";
  o.rpc_address = "localhost:0";
  RunningServer rs("hostnames", o, /*keep_addresses=*/true);
  CHECK(rs.server->http_url().rfind("http://localhost:", 0) == 0);
  CHECK(rs.server->rpc_address().rfind("localhost:", 0) == 0);
  auto h = BlockingSocket::Connect("localhost", rs.server->http_port());
  REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  CHECK(HttpCall(*h, "GET", "/healthz").status == 200);
  // localhost resolves to IPv4 loopback first, so a numeric client reaches it too.
  auto h4 = BlockingSocket::Connect("127.0.0.1", rs.server->http_port());
  REQUIRE(h4.ok());
  CHECK(HttpCall(*h4, "GET", "/healthz").status == 200);
  auto c = RpcClient::Connect("localhost", rs.server->rpc_port());
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  CHECK(c->Ping().ok());
}

TEST_CASE("a host name that does not resolve is a bad argument, for serve and clients") {
  ServeOptions o;
  o.http_address = "no-such-host.invalid:0";
  o.rpc_address = "127.0.0.1:0";
  o.data_dir = TempDir("badhost") + "/data";
  auto s = Server::Open(o);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == StatusCode::kInvalidArgument);
  CHECK(s.status().message().find("no-such-host.invalid") != std::string::npos);
  std::filesystem::remove_all(std::filesystem::path(o.data_dir).parent_path());
  auto c = BlockingSocket::Connect("no-such-host.invalid", 1);
  CHECK(c.status().code() == StatusCode::kInvalidArgument);
}
