// HttpClient (net/http/http_client.h): against the real server over TLS with its
// generated certificate, and against a scripted loopback peer for what a real server
// cannot be made to send on cue (malformed, oversize or truncated answers, 503s in a
// row, silence, a kept-alive connection closed under it).
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "net/http/http_client.h"
#include "test_util.h"

using namespace vectron;
using namespace vectron::net;

namespace {

// A loopback peer answering each request (read up to its blank line and Content-Length
// body) with the next scripted answer; an answer of "" closes the connection without
// a reply, kSilent never answers (until the client hangs up), and with no answers left
// the connection closes. `close_after` closes a connection after that many answers.
const std::string kSilent = "\x01silent";

class ScriptedPeer {
 public:
  explicit ScriptedPeer(std::vector<std::string> answers, int close_after = 1 << 30)
      : answers_(std::move(answers)), close_after_(close_after) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedPeer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }
  int connections() const { return connections_; }
  int closed() const { return closed_; }
  // Waits until the peer has closed `n` connections; false if `seconds` pass first.
  bool WaitClosed(int n, int seconds = 30) {
    std::unique_lock lock(mu_);
    return closed_cv_.wait_for(lock, std::chrono::seconds(seconds), [&] { return closed_ >= n; });
  }

 private:
  void Serve() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections_;
      for (int served = 0; served < close_after_; ++served) {
        if (!ReadRequest(c)) break;
        std::string answer;
        {
          std::lock_guard lock(mu_);
          if (answers_.empty()) break;
          answer = answers_.front();
          answers_.erase(answers_.begin());
        }
        ++requests_;
        if (answer.empty()) break;
        if (answer == kSilent) {
          char sink[256];
          while (::recv(c, sink, sizeof(sink), 0) > 0) {
          }
          break;
        }
        (void)!::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      }
      ::close(c);
      {
        std::lock_guard lock(mu_);
        ++closed_;
      }
      closed_cv_.notify_all();
    }
  }
  static bool ReadRequest(int c) {
    std::string buf;
    char chunk[4096];
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(c, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      buf.append(chunk, static_cast<size_t>(n));
    }
    size_t cl = buf.find("Content-Length: ");
    size_t want = cl == std::string::npos ? 0 : std::stoul(buf.substr(cl + 16));
    while (buf.size() < end + 4 + want) {
      ssize_t n = ::recv(c, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      buf.append(chunk, static_cast<size_t>(n));
    }
    return true;
  }

  std::mutex mu_;
  std::condition_variable closed_cv_;  // closed_ moved (with mu_).
  std::vector<std::string> answers_;
  int close_after_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> requests_{0}, connections_{0}, closed_{0};
  std::thread thread_;
};

std::string Answer(int status, const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

HttpClient Open(const std::string& url, HttpClientOptions o = {}) {
  auto c = HttpClient::Open(url, o);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  return std::move(c).value();
}

}  // namespace

TEST_CASE("HTTP client calls the REST API over TLS trusting the server's generated certificate") {
  ServeOptions so;
  so.auth = false;
  testing::RunningServer rs("http-client", so, false, /*secure=*/true);
  const std::string url = rs.server->http_url();
  REQUIRE(url.rfind("https://", 0) == 0);

  HttpClientOptions o;
  o.tls.ca_file = rs.server->tls_cert_path();
  HttpClient c = Open(url, o);
  REQUIRE(c.Call("POST", "/v1/collections", R"({"name": "docs", "dim": 2, "metric": "l2"})", false).ok());
  REQUIRE(c.Call("PUT", "/v1/collections/docs/points", R"({"points": [{"id": "a", "vector": [1, 0]}]})", true).ok());
  auto hits = c.Call("POST", "/v1/collections/docs/search", R"({"vector": [1, 0.1], "k": 1})", true);
  REQUIRE(hits.ok());
  CHECK(nlohmann::json::parse(*hits)["hits"][0]["id"] == "a");
  // The server's error: its code as the Status code, its message as the message.
  auto missing = c.Call("GET", "/v1/collections/nope", "", true);
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message().find("nope") != std::string::npos);
  CHECK(missing.status().message().find("not_found") == std::string::npos);

  // Without the CA the self-signed certificate fails the check, and is not retried.
  HttpClient untrusting = Open(url);
  auto refused = untrusting.Call("GET", "/v1/collections", "", true);
  CHECK(refused.status().code() == StatusCode::kUnavailable);
  CHECK(refused.status().message().find("certificate verify failed") != std::string::npos);
}

TEST_CASE("HTTP client URLs and options are checked before anything is sent") {
  for (const char* bad : {"ftp://h", "127.0.0.1:7700", "http://", "http://h:0", "http://h:99999", "http://h:x",
                          "http://h/?q"})
    CHECK_MESSAGE(HttpClient::Open(bad, {}).status().code() == StatusCode::kInvalidArgument, bad);
  HttpClientOptions o;
  o.tls.ca_file = "/no/such/ca.pem";
  CHECK(HttpClient::Open("https://127.0.0.1:1", o).status().code() == StatusCode::kInvalidArgument);
  CHECK(HttpClient::Open("http://127.0.0.1:1", o).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("HTTP client refuses malformed, oversize and truncated answers") {
  HttpClientOptions o;
  o.retries = 0;
  o.max_response_bytes = 50;
  {
    ScriptedPeer peer({Answer(200, std::string(100, 'x'))});
    CHECK(Open(peer.url(), o).Send("GET", "/", "", true).status().code() == StatusCode::kResourceExhausted);
  }
  {
    ScriptedPeer peer({"NOT HTTP AT ALL\r\n\r\n"});
    auto r = Open(peer.url(), o).Send("GET", "/", "", true);
    CHECK(r.status().code() == StatusCode::kUnavailable);
    CHECK(r.status().message().find("malformed") != std::string::npos);
  }
  {
    ScriptedPeer peer({"HTTP/1.1 200 OK\r\nX: " + std::string(70000, 'h') + "\r\nContent-Length: 0\r\n\r\n"});
    CHECK(Open(peer.url(), o).Send("GET", "/", "", true).status().code() == StatusCode::kResourceExhausted);
  }
  {
    ScriptedPeer peer({"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\nonly part"}, /*close_after=*/1);
    auto r = Open(peer.url(), o).Send("GET", "/", "", true);
    CHECK(r.status().code() == StatusCode::kUnavailable);
  }
  {
    // A chunked answer is read whole; a body without a JSON error gets a clear Status.
    ScriptedPeer peer({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n5\r\n\": 1}\r\n0\r\n\r\n",
                       Answer(502, "<html>bad gateway</html>")});
    HttpClient c = Open(peer.url(), o);
    auto r = c.Call("GET", "/", "", true);
    REQUIRE(r.ok());
    CHECK(*r == "{\"a\": 1}");
    auto bad = c.Call("GET", "/", "", true);
    CHECK(bad.status().code() == StatusCode::kUnavailable);
    CHECK(bad.status().message().find("HTTP 502") != std::string::npos);
  }
}

TEST_CASE("HTTP client retries 503 after Retry-After for idempotent calls only, within the deadline") {
  const std::string busy = Answer(503, R"({"error": {"code": "unavailable", "message": "busy"}})", "Retry-After: 0\r\n");
  const std::string ok = Answer(200, R"({"count": 7})");
  {
    ScriptedPeer peer({busy, busy, ok});
    auto r = Open(peer.url()).Call("POST", "/count", "{}", /*idempotent=*/true);
    REQUIRE(r.ok());
    CHECK(peer.requests() == 3);
  }
  {
    ScriptedPeer peer({busy, ok});
    auto r = Open(peer.url()).Call("POST", "/create", "{}", /*idempotent=*/false);
    CHECK(r.status().code() == StatusCode::kUnavailable);
    CHECK(r.status().message() == "busy");
    CHECK(peer.requests() == 1);
  }
  {
    // A Retry-After that ends past the call's deadline is not waited for.
    ScriptedPeer peer({Answer(503, R"({"error": {"code": "unavailable", "message": "later"}})", "Retry-After: 100\r\n"),
                       ok});
    HttpClientOptions o;
    o.timeout_ms = 2000;
    auto start = std::chrono::steady_clock::now();
    auto r = Open(peer.url(), o).Call("POST", "/count", "{}", true);
    CHECK(r.status().code() == StatusCode::kUnavailable);
    CHECK(peer.requests() == 1);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(100));
  }
  {
    // A connection closed without an answer: retried when idempotent.
    ScriptedPeer peer({"", ok});
    CHECK(Open(peer.url()).Call("POST", "/count", "{}", true).ok());
    CHECK(peer.connections() == 2);
  }
}

TEST_CASE("HTTP client reopens a kept-alive connection the peer closed, and gives up at the deadline") {
  {
    ScriptedPeer peer({Answer(200, "{}"), Answer(200, "{}")}, /*close_after=*/1);
    HttpClient c = Open(peer.url());
    REQUIRE(c.Call("GET", "/", "", true).ok());
    // Wait until the peer has closed the first connection (it serves one answer each).
    REQUIRE_MESSAGE(peer.WaitClosed(1), "the peer did not close the connection");
    // Not idempotent, so it must not be sent on the dead connection: a new one is used.
    REQUIRE(c.Call("POST", "/", "{}", false).ok());
    CHECK(peer.connections() == 2);
  }
  {
    ScriptedPeer silent({kSilent});
    HttpClientOptions o;
    o.timeout_ms = 200;
    auto r = Open(silent.url(), o).Call("GET", "/", "", true);
    CHECK(r.status().code() == StatusCode::kUnavailable);
    CHECK(r.status().message().find("timed out") != std::string::npos);
  }
}
