// libFuzzer target for the HTTP request path: any bytes, split anywhere, must give
// well-formed responses (or none) and never a crash, leak or sanitizer error. The
// connection is a fake that records what the server sends. Admission runs as in the
// server: paths under /v1/ need "Authorization: Bearer ok" (refused before the body,
// which must then never reach the handler), /v1/small takes a 64-byte body; the handler
// decodes the body as the REST handlers do.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "net/api/request_json.h"
#include "net/http/http_server.h"
#include "net/io/event_loop.h"

namespace {

using namespace vectron::net;

class FakeConnection : public Connection {
 public:
  void Send(std::string bytes) override {
    if (!closed_) out += bytes;
  }
  void Close() override { closed_ = true; }
  void PauseReading() override {}
  void ResumeReading() override {}
  size_t pending_write_bytes() const override { return 0; }
  const std::string& peer() const override { return peer_; }
  uint64_t id() const override { return 1; }
  std::string out;
  bool closed_ = false;

 private:
  std::string peer_ = "fuzz:1";
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t split = data[0] % 64 + 1;
  ++data;
  --size;
  EventLoop loop;
  HttpLimits limits;
  limits.max_header_bytes = 512;
  limits.max_body_bytes = 1024;
  limits.max_pipelined = 4;
  HttpServer server(
      loop, limits,
      [](HttpRequest req, Responder respond) {
        // Admission refused these: their bodies must never get here.
        if (req.path.rfind("/v1/", 0) == 0 && req.Header("authorization") != "Bearer ok") std::abort();
        if (req.path == "/v1/small" && req.body.size() > 64) std::abort();
        HttpResponse r;
        r.body = req.method + " " + req.path + " " + std::to_string(req.body.size());
        if (!req.body.empty()) {
          try {
            nlohmann::json j = ParseBody(req, {"where", "include", "k", "ids", "vector", "points"});
            r.body += " " + GetWhere(j);
            (void)GetInclude(j, {true, true});
            (void)GetInt(j, "k", 10, 1, 10000);
          } catch (const ApiError& e) {
            r.status = 400;
            r.body += e.status.message();
          } catch (const nlohmann::json::exception&) {
          }
        }
        if (req.path.size() % 3 == 0) return;  // Dropped: the Responder answers 500.
        respond(std::move(r));
      },
      nullptr,
      [](const HttpRequest& head) {
        Admission a;
        if (head.path.rfind("/v1/", 0) == 0 && head.Header("authorization") != "Bearer ok") {
          a.admit = false;
          a.refusal = JsonError(401, "unauthenticated", "missing token");
        } else if (head.path == "/v1/small") {
          a.max_body_bytes = 64;
        }
        return a;
      });
  FakeConnection conn;
  {
    auto handler = server.Factory()(conn);
    for (size_t pos = 0; pos < size && !conn.closed_; pos += split) {
      handler->OnData(std::string_view(reinterpret_cast<const char*>(data) + pos, std::min(split, size - pos)));
      loop.RunNoWait();
    }
    handler->OnTick(loop.NowMs() + 1000000);  // Past every timeout.
    loop.RunNoWait();
    if (!conn.closed_) handler->OnEof(conn);
    loop.RunNoWait();
  }
  loop.RunNoWait();
  if (!conn.out.empty() && conn.out.rfind("HTTP/1.1 ", 0) != 0 && conn.out.rfind("HTTP/1.1 100", 0) != 0) std::abort();
  return 0;
}
