#include "net/http/http_server.h"

#include <http_parser.h>

#include <atomic>
#include <climits>
#include <deque>
#include <algorithm>
#include <optional>

namespace vectron::net {

struct HttpServer::Shared {
  EventLoop* loop;
  HttpLimits limits;
  HttpHandler handler;
  HttpObserver observer;
  HttpAdmit admit;
  std::shared_ptr<bool> draining;
};

// Named, not anonymous: Responder::State (declared in the header) holds a Session.
namespace http_server_internal {

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

void Lower(std::string& s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

bool EqualsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// One queued unit of work: a parsed request, or a protocol error to answer in order.
struct Pending {
  HttpRequest request;
  bool is_error = false;
  HttpResponse error;
};

// Responses queued but not yet written past which pipelined requests wait.
constexpr size_t kMaxUnsentBytes = 8 << 20;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Connection& conn, std::shared_ptr<HttpServer::Shared> shared) : conn_(conn), shared_(std::move(shared)) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
    last_activity_ms_ = shared_->loop->NowMs();
  }

  void OnData(std::string_view bytes) {
    last_activity_ms_ = shared_->loop->NowMs();
    if (broken_ || upgrade_done_) return;
    size_t n = http_parser_execute(&parser_, &Settings(), bytes.data(), bytes.size());
    if (upgrade_done_) {
      // http-parser stops after a request asking to switch protocols (Upgrade: h2c,
      // websocket, or CONNECT): it was queued to be served as plain HTTP/1.1 with
      // Connection: close (RFC 9110 7.8 lets a server ignore Upgrade); nothing after it
      // is read, so the client gets exactly one response.
      conn_.PauseReading();
    } else if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK && !broken_) {
      Fail(JsonError(400, "bad_request",
                     std::string("malformed HTTP request: ") + http_errno_description(HTTP_PARSER_ERRNO(&parser_))));
    } else if (n != bytes.size() && !broken_) {
      Fail(JsonError(400, "bad_request", "malformed HTTP request"));
    }
    if (ready_.size() >= shared_->limits.max_pipelined) conn_.PauseReading();
    MaybeDispatch();
  }

  void OnEof() {
    peer_eof_ = true;
    // Answer what was already received (a client may half-close after its last request).
    if (!busy_ && ready_.empty()) conn_.Close();
  }

  void OnTick(uint64_t now) {
    const auto& lim = shared_->limits;
    if (discarding_ && now - cur_.start_ms > lim.request_timeout_ms) {
      // The refused request's body did not finish arriving in time: stop dropping it.
      discarding_ = false;
      broken_ = dead_ = true;
      conn_.Close();
      return;
    }
    // Dispatch held back by unsent output (a client not reading its responses) resumes
    // here once the socket has drained.
    if (!busy_ && !ready_.empty()) MaybeDispatch();
    if (busy_ || !ready_.empty() || broken_) return;
    if (in_message_) {
      if (now - cur_.start_ms > lim.request_timeout_ms) {
        HttpResponse r = JsonError(408, "request_timeout",
                                   "request not received completely within " +
                                       std::to_string(lim.request_timeout_ms) + " ms");
        r.close = true;
        broken_ = true;
        HttpRequest req = cur_;
        req.body.clear();
        if (req.method.empty()) req.method = "-";
        Send(req, std::move(r), now);
      }
    } else if (now - last_activity_ms_ > lim.idle_timeout_ms) {
      conn_.Close();
    }
  }

  bool Idle() const { return !busy_ && ready_.empty() && !in_message_; }

  void Finish(uint64_t seq, HttpResponse resp) {
    if (!busy_ || seq != seq_) return;
    busy_ = false;
    Send(inflight_, std::move(resp), shared_->loop->NowMs());
  }

  void MarkDead() { dead_ = true; }

 private:
  void Send(const HttpRequest& req, HttpResponse resp, uint64_t now) {
    if (dead_) return;
    bool keep = req.keep_alive && !resp.close && !*shared_->draining && !(broken_ && ready_.empty());
    conn_.Send(SerializeResponse(resp, keep));
    if (shared_->observer)
      shared_->observer(req, resp, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - req.start).count());
    last_activity_ms_ = now;
    if (!keep) {
      dead_ = true;
      // A refusal sent before its body arrived: keep reading (and dropping) the body,
      // so that a client still sending it gets this answer rather than a reset, and
      // close once it is in (OnMessageComplete) or its time is up (OnTick).
      if (discarding_) {
        close_when_discarded_ = true;
        return;
      }
      conn_.Close();
      return;
    }
    if (ready_.size() < shared_->limits.max_pipelined && !broken_) conn_.ResumeReading();
    MaybeDispatch();
  }

  void MaybeDispatch() {
    while (!busy_ && !dead_ && !ready_.empty() && conn_.pending_write_bytes() <= kMaxUnsentBytes) {
      Pending p = std::move(ready_.front());
      ready_.pop_front();
      busy_ = true;
      ++seq_;
      inflight_ = p.request;
      inflight_.body.clear();
      if (p.is_error) {
        busy_ = false;
        Send(inflight_, std::move(p.error), shared_->loop->NowMs());
        continue;
      }
      auto state = std::make_shared<Responder::State>();
      FillState(*state);
      shared_->handler(std::move(p.request), Responder(std::move(state)));
    }
    if (!busy_ && ready_.empty() && peer_eof_ && !dead_) conn_.Close();
  }

  void FillState(Responder::State& st);

  void Fail(HttpResponse r) {
    broken_ = true;
    r.close = true;
    Pending p;
    p.request = cur_;
    p.request.body.clear();
    if (p.request.method.empty()) p.request.method = "-";
    if (p.request.start_ms == 0) {
      p.request.start_ms = shared_->loop->NowMs();
      p.request.start = std::chrono::steady_clock::now();
    }
    p.request.peer = conn_.peer();
    p.is_error = true;
    p.error = std::move(r);
    ready_.push_back(std::move(p));
    in_message_ = false;
    conn_.PauseReading();
  }

  // Refuses the current request, whose body is (partly) still to come, with `r` and
  // Connection: close: `r` is queued like a response (sent as soon as the requests
  // before it are answered, usually at once) and the rest of the body is read and
  // dropped as it arrives, so that a client still sending it reads `r` rather than a
  // reset. The connection closes once the body is in (OnMessageComplete), past
  // HttpLimits::max_discard_bytes dropped (OnBody) or at the request timeout (OnTick).
  void RefuseAndDiscard(HttpResponse r) {
    r.close = true;
    std::string().swap(cur_.body);  // What a streamed body had buffered is freed, not copied.
    Pending p;
    p.request = cur_;
    p.request.peer = conn_.peer();
    p.is_error = true;
    p.error = std::move(r);
    ready_.push_back(std::move(p));
    discarding_ = true;
    discarded_bytes_ = 0;
  }

  static http_parser_settings& Settings() {
    static http_parser_settings s = [] {
      http_parser_settings st;
      http_parser_settings_init(&st);
      st.on_message_begin = [](http_parser* p) { return Self(p)->OnMessageBegin(); };
      st.on_url = [](http_parser* p, const char* at, size_t len) { return Self(p)->OnUrl(at, len); };
      st.on_header_field = [](http_parser* p, const char* at, size_t len) { return Self(p)->OnField(at, len); };
      st.on_header_value = [](http_parser* p, const char* at, size_t len) { return Self(p)->OnValue(at, len); };
      st.on_headers_complete = [](http_parser* p) { return Self(p)->OnHeadersComplete(); };
      st.on_body = [](http_parser* p, const char* at, size_t len) { return Self(p)->OnBody(at, len); };
      st.on_message_complete = [](http_parser* p) { return Self(p)->OnMessageComplete(); };
      return st;
    }();
    return s;
  }
  static Session* Self(http_parser* p) { return static_cast<Session*>(p->data); }

  int CountHeader(size_t len) {
    header_bytes_ += len;
    if (header_bytes_ > shared_->limits.max_header_bytes) {
      Fail(JsonError(431, "header_too_large",
                     "request line and headers exceed " + std::to_string(shared_->limits.max_header_bytes) + " bytes"));
      return -1;
    }
    return 0;
  }
  int OnMessageBegin() {
    cur_ = HttpRequest();
    cur_.start_ms = shared_->loop->NowMs();
    cur_.start = std::chrono::steady_clock::now();
    cur_.peer = conn_.peer();
    cur_.connection = conn_.id();
    header_bytes_ = 0;
    in_value_ = false;
    in_message_ = true;
    refused_.reset();
    upgrade_ = false;
    return 0;
  }
  int OnUrl(const char* at, size_t len) {
    cur_.target.append(at, len);
    return CountHeader(len);
  }
  int OnField(const char* at, size_t len) {
    if (in_value_ || cur_.headers.empty()) {
      cur_.headers.emplace_back();
      in_value_ = false;
    }
    cur_.headers.back().first.append(at, len);
    return CountHeader(len + 4);
  }
  int OnValue(const char* at, size_t len) {
    in_value_ = true;
    cur_.headers.back().second.append(at, len);
    return CountHeader(len);
  }
  int OnHeadersComplete() {
    for (auto& h : cur_.headers) Lower(h.first);
    cur_.method = http_method_str(static_cast<http_method>(parser_.method));
    cur_.http_minor = parser_.http_minor;
    cur_.keep_alive = http_should_keep_alive(&parser_) != 0;
    auto q = cur_.target.find('?');
    std::string_view raw_path(cur_.target);
    if (q != std::string::npos) {
      cur_.query = cur_.target.substr(q + 1);
      raw_path = raw_path.substr(0, q);
    }
    cur_.path = PercentDecode(raw_path);
    if (parser_.http_major != 1 || parser_.http_minor > 1) {
      Fail(JsonError(400, "bad_request",
                     "HTTP version " + std::to_string(parser_.http_major) + "." + std::to_string(parser_.http_minor) +
                         " is not supported; send HTTP/1.1 (or 1.0)"));
      return -1;
    }
    // A repeated credential or host is ambiguous: which one would a proxy have checked?
    for (const char* name : {"authorization", "host"}) {
      size_t n = 0;
      for (const auto& h : cur_.headers) n += h.first == name;
      if (n > 1) {
        std::string shown = name;
        shown[0] = static_cast<char>(shown[0] - 'a' + 'A');
        Fail(JsonError(400, "bad_request",
                       std::to_string(n) + " \"" + shown + "\" headers in one request; send exactly one"));
        return -1;
      }
    }
    if (parser_.upgrade) {
      cur_.keep_alive = false;  // Served as HTTP/1.1, then closed (see OnData).
      upgrade_ = true;
    }
    const bool declared = parser_.content_length != ULLONG_MAX;
    const bool has_body = (parser_.flags & F_CHUNKED) || (declared && parser_.content_length > 0);
    const bool expect_continue = EqualsLower(cur_.Header("expect"), "100-continue");
    body_max_ = shared_->limits.max_body_bytes;
    Admission admission;
    if (shared_->admit) admission = shared_->admit(cur_);
    if (!admission.admit) {
      HttpResponse r = std::move(admission.refusal);
      if (!has_body) {
        refused_ = std::move(r);  // Answered in order once the (empty) message completes.
        return 0;
      }
      if (expect_continue) {
        Fail(std::move(r));  // The client waits for "100 Continue": answer and close.
        return -1;
      }
      RefuseAndDiscard(std::move(r));
      return 0;
    }
    if (admission.max_body_bytes != 0) body_max_ = std::min(body_max_, admission.max_body_bytes);
    if (declared && parser_.content_length > body_max_) {
      HttpResponse r = JsonError(413, "payload_too_large",
                                 "request body of " + std::to_string(parser_.content_length) +
                                     " bytes exceeds the limit of " + std::to_string(body_max_) + " bytes");
      if (expect_continue) {
        Fail(std::move(r));  // The client waits for "100 Continue": answer and close.
        return -1;
      }
      RefuseAndDiscard(std::move(r));
      return 0;
    }
    // The body grows as its bytes arrive (OnBody); nothing is reserved from the declared
    // length, which costs the sender nothing to state.
    if (expect_continue && !busy_ && ready_.empty()) conn_.Send("HTTP/1.1 100 Continue\r\n\r\n");
    return 0;
  }
  int OnBody(const char* at, size_t len) {
    if (!discarding_ && cur_.body.size() + len > body_max_) {
      // A streamed (chunked) body grew past the limit: answer now and drop the rest.
      RefuseAndDiscard(JsonError(413, "payload_too_large",
                                 "request body exceeds the limit of " + std::to_string(body_max_) + " bytes"));
    }
    if (discarding_) {
      discarded_bytes_ += len;
      if (discarded_bytes_ > shared_->limits.max_discard_bytes) {
        // Past the cap the client is cut off, its answer sent or not: dropping costs
        // no memory, but a client must not keep the connection busy for ever.
        discarding_ = false;
        broken_ = dead_ = true;
        conn_.Close();
        return -1;
      }
      return 0;
    }
    cur_.body.append(at, len);
    return 0;
  }
  int OnMessageComplete() {
    in_message_ = false;
    if (discarding_) {
      // The refused request's body is in; its answer said Connection: close.
      discarding_ = false;
      broken_ = true;
      conn_.PauseReading();
      if (close_when_discarded_) conn_.Close();
      return -1;  // Stops the parser: nothing after it is read.
    }
    Pending p;
    if (refused_) {
      p.request = cur_;
      p.is_error = true;
      p.error = std::move(*refused_);
      refused_.reset();
    } else {
      p.request = std::move(cur_);
    }
    cur_ = HttpRequest();
    ready_.push_back(std::move(p));
    if (upgrade_) {
      upgrade_done_ = true;
      return -1;
    }
    return 0;
  }

  Connection& conn_;
  std::shared_ptr<HttpServer::Shared> shared_;
  http_parser parser_;
  HttpRequest cur_;
  size_t header_bytes_ = 0;
  bool in_value_ = false;
  bool in_message_ = false;
  bool broken_ = false;   // Protocol error: answer what is queued, then close.
  bool busy_ = false;     // A request is with the handler.
  bool dead_ = false;     // Connection closing or gone: drop responses.
  bool peer_eof_ = false;
  size_t body_max_ = 0;            // The current request's body limit (its route's).
  std::optional<HttpResponse> refused_;  // Refusal of a body-less request, sent in order.
  bool discarding_ = false;        // The current request was refused; its body is dropped.
  bool close_when_discarded_ = false;  // Its refusal is sent: close once the body is in.
  uint64_t discarded_bytes_ = 0;
  bool upgrade_ = false;           // The current request asks to switch protocols.
  bool upgrade_done_ = false;      // ... and is complete: nothing more is read.
  uint64_t seq_ = 0;
  uint64_t last_activity_ms_ = 0;
  HttpRequest inflight_;  // The request being handled, without its body.
  std::deque<Pending> ready_;
};

class SessionHandler final : public ConnectionHandler {
 public:
  explicit SessionHandler(std::shared_ptr<Session> s) : s_(std::move(s)) {}
  ~SessionHandler() override { s_->MarkDead(); }
  void OnData(std::string_view bytes) override { s_->OnData(bytes); }
  void OnEof(Connection&) override { s_->OnEof(); }
  void OnTick(uint64_t now_ms) override { s_->OnTick(now_ms); }
  bool Idle() const override { return s_->Idle(); }

 private:
  std::shared_ptr<Session> s_;
};

}  // namespace http_server_internal

using http_server_internal::Session;
using http_server_internal::SessionHandler;

struct Responder::State {
  EventLoop* loop = nullptr;
  std::weak_ptr<Session> session;
  uint64_t seq = 0;
  std::atomic<bool> done{false};
  ~State() {
    if (!done.load()) {
      Deliver(JsonError(500, "internal", "the handler dropped the request without answering"));
    }
  }
  void Deliver(HttpResponse r) {
    loop->Post([s = session, seq = seq, r = std::move(r)]() mutable {
      if (auto sp = s.lock()) sp->Finish(seq, std::move(r));
    });
  }
};

void Session::FillState(Responder::State& st) {
  st.loop = shared_->loop;
  st.session = weak_from_this();
  st.seq = seq_;
}

void Responder::operator()(HttpResponse response) const {
  if (state_->done.exchange(true)) return;
  state_->Deliver(std::move(response));
}

HttpServer::HttpServer(EventLoop& loop, HttpLimits limits, HttpHandler handler, HttpObserver observer,
                       HttpAdmit admit)
    : shared_(std::make_shared<Shared>()), draining_(std::make_shared<bool>(false)) {
  shared_->loop = &loop;
  shared_->limits = limits;
  shared_->handler = std::move(handler);
  shared_->observer = std::move(observer);
  shared_->admit = std::move(admit);
  shared_->draining = draining_;
}

HttpServer::~HttpServer() = default;

TcpListener::Factory HttpServer::Factory() {
  return [shared = shared_](Connection& conn) -> std::unique_ptr<ConnectionHandler> {
    return std::make_unique<SessionHandler>(std::make_shared<Session>(conn, shared));
  };
}

Status PortLimits::Validate() const {
  if (http.max_body_bytes == 0) return Status::InvalidArgument("--max-body-bytes must be at least 1");
  if (http.max_header_bytes < 64) return Status::InvalidArgument("--max-header-bytes must be at least 64");
  if (http.idle_timeout_ms == 0 || http.request_timeout_ms == 0 || tls_handshake_timeout_ms == 0)
    return Status::InvalidArgument("timeouts must be at least 1 ms");
  return Status::OK();
}

uint64_t PortLimits::SweepMs() const {
  uint64_t shortest = std::min({http.idle_timeout_ms, http.request_timeout_ms, tls_handshake_timeout_ms});
  return std::clamp<uint64_t>(shortest / 4, 5, 250);
}

std::string ConnectionCapRefusal() {
  HttpResponse busy = JsonError(503, "unavailable",
                                "too many open connections (--max-connections, --max-connections-per-ip); retry later");
  busy.headers.emplace_back("Retry-After", "1");
  return SerializeResponse(busy, /*keep_alive=*/false);
}

}  // namespace vectron::net
