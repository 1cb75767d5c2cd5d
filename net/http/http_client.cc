#include "net/http/http_client.h"

#include <http_parser.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "net/rpc/rpc_client.h"  // RpcStatus: the one table from wire code names to Status.

namespace vectron::net {
namespace {

constexpr size_t kMaxHeaderBytes = 64 << 10;

// Parses one response with http-parser; header and body sizes bounded.
class ReplyParser {
 public:
  ReplyParser(size_t max_body) : max_body_(max_body) {
    http_parser_init(&parser_, HTTP_RESPONSE);
    parser_.data = this;
  }

  // Feeds bytes (`eof`: the connection closed). Errors: Unavailable (malformed),
  // ResourceExhausted (too large).
  Status Feed(std::string_view bytes, bool eof) {
    size_t n = eof ? http_parser_execute(&parser_, &Settings(), nullptr, 0)
                   : http_parser_execute(&parser_, &Settings(), bytes.data(), bytes.size());
    if (!error_.ok()) return error_;
    if (done_) return Status::OK();  // Paused after the answer (see OnComplete).
    if (parser_.http_errno != HPE_OK)
      return Status::Unavailable(std::string("malformed HTTP answer: ") +
                                 http_errno_description(static_cast<http_errno>(parser_.http_errno)));
    if (!eof && n != bytes.size()) return Status::Unavailable("malformed HTTP answer");
    return Status::OK();
  }
  bool done() const { return done_; }
  bool keep_alive() const { return keep_alive_; }
  HttpReply& reply() { return reply_; }

 private:
  static http_parser_settings& Settings() {
    static http_parser_settings s = [] {
      http_parser_settings st;
      http_parser_settings_init(&st);
      st.on_header_field = [](http_parser* p, const char* at, size_t len) { return Self(p)->OnField(at, len); };
      st.on_header_value = [](http_parser* p, const char* at, size_t len) { return Self(p)->OnValue(at, len); };
      st.on_body = [](http_parser* p, const char* at, size_t len) { return Self(p)->OnBody(at, len); };
      st.on_message_complete = [](http_parser* p) { return Self(p)->OnComplete(); };
      return st;
    }();
    return s;
  }
  static ReplyParser* Self(http_parser* p) { return static_cast<ReplyParser*>(p->data); }

  int OnField(const char* at, size_t len) {
    if (!value_.empty() || field_done_) {
      Header();
      field_.clear();
      value_.clear();
      field_done_ = false;
    }
    field_.append(at, len);
    return Grow(len);
  }
  int OnValue(const char* at, size_t len) {
    field_done_ = true;
    value_.append(at, len);
    return Grow(len);
  }
  int Grow(size_t len) {
    header_bytes_ += len;
    if (header_bytes_ > kMaxHeaderBytes) {
      error_ = Status::ResourceExhausted("HTTP answer headers over " + std::to_string(kMaxHeaderBytes) + " bytes");
      return 1;
    }
    return 0;
  }
  void Header() {
    std::string name = field_;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (name == "retry-after") reply_.retry_after = value_;
  }
  int OnBody(const char* at, size_t len) {
    if (reply_.body.size() + len > max_body_) {
      error_ = Status::ResourceExhausted("HTTP answer over " + std::to_string(max_body_) + " bytes");
      return 1;
    }
    reply_.body.append(at, len);
    return 0;
  }
  int OnComplete() {
    if (!field_.empty()) Header();
    reply_.status = static_cast<int>(parser_.status_code);
    keep_alive_ = http_should_keep_alive(&parser_) != 0;
    done_ = true;
    http_parser_pause(&parser_, 1);  // One answer per request: anything after it is not ours.
    return 0;
  }

  http_parser parser_;
  size_t max_body_;
  size_t header_bytes_ = 0;
  std::string field_, value_;
  bool field_done_ = false;
  bool done_ = false;
  bool keep_alive_ = false;
  HttpReply reply_;
  Status error_;
};

// Seconds of a Retry-After header given in seconds; -1 if absent or a date.
int RetryAfterSeconds(const std::string& v) {
  if (v.empty() || v.size() > 9 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoi(v);
}

}  // namespace

Result<HttpClient> HttpClient::Open(const std::string& url, const HttpClientOptions& options) {
  HttpClient c;
  c.url_ = url;
  c.options_ = options;
  std::string_view rest = url;
  bool https;
  if (rest.rfind("https://", 0) == 0) {
    https = true;
    rest.remove_prefix(8);
  } else if (rest.rfind("http://", 0) == 0) {
    https = false;
    rest.remove_prefix(7);
  } else {
    return Status::InvalidArgument("--url must start with http:// or https://, got \"" + url + "\"");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  c.prefix_ = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!c.prefix_.empty() && c.prefix_.back() == '/') c.prefix_.pop_back();
  if (c.prefix_.find_first_of("?#") != std::string::npos)
    return Status::InvalidArgument("--url must not have a query or fragment: \"" + url + "\"");
  c.host_header_ = std::string(authority);
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    std::string_view port = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
        std::stoi(std::string(port)) > 65535 || std::stoi(std::string(port)) == 0)
      return Status::InvalidArgument("--url has a bad port: \"" + url + "\"");
    c.port_ = std::stoi(std::string(port));
  } else {
    c.port_ = https ? 443 : 80;
  }
  if (authority.size() >= 2 && authority.front() == '[' && authority.back() == ']')
    authority = authority.substr(1, authority.size() - 2);
  if (authority.empty()) return Status::InvalidArgument("--url names no host: \"" + url + "\"");
  c.host_ = std::string(authority);
  if (https) {
    auto tls = TlsContext::LoadClient(options.tls);
    if (!tls.ok()) return tls.status().WithContext("--ca");
    c.tls_ = *tls;
  } else if (!options.tls.ca_file.empty()) {
    return Status::InvalidArgument("--ca is for https:// URLs; this one is \"" + url + "\"");
  }
  return c;
}

HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;
HttpClient::~HttpClient() = default;

Status HttpClient::Connect() {
  sock_.reset();
  // The connect is bounded by the client's timeout too.
  const uint64_t connect_ms = options_.timeout_ms > 0 ? static_cast<uint64_t>(options_.timeout_ms) : 0;
  Result<BlockingSocket> s = tls_ ? BlockingSocket::ConnectTls(host_, port_, tls_, options_.tls.server_name, connect_ms)
                                  : BlockingSocket::Connect(host_, port_, connect_ms);
  if (!s.ok()) return s.status().WithContext(url_);
  sock_ = std::make_unique<BlockingSocket>(std::move(s).value());
  return Status::OK();
}

Result<HttpReply> HttpClient::Exchange(const std::string& request, int timeout_ms) {
  // A kept-alive connection with input pending was closed by the server while idle.
  if (sock_ && sock_->HasPendingInput()) sock_.reset();
  if (!sock_) VECTRON_RETURN_IF_ERROR(Connect());
  if (Status s = sock_->SetTimeout(timeout_ms); !s.ok()) {
    sock_.reset();
    return s;
  }
  Status sent = sock_->SendAll(request);
  if (!sent.ok()) {
    sock_.reset();
    return sent.WithContext(url_);
  }
  ReplyParser parser(options_.max_response_bytes);
  std::string buf;
  while (!parser.done()) {
    buf.clear();
    auto n = sock_->RecvSome(&buf);
    if (!n.ok()) {
      sock_.reset();
      return n.status().WithContext(url_);
    }
    Status fed = parser.Feed(buf, *n == 0);
    if (!fed.ok()) {
      sock_.reset();
      return fed.WithContext(url_);
    }
    if (*n == 0 && !parser.done()) {
      sock_.reset();
      return Status::Unavailable(url_ + ": the server closed the connection before answering");
    }
  }
  if (!parser.keep_alive()) sock_.reset();
  return std::move(parser.reply());
}

Result<HttpReply> HttpClient::Send(std::string_view method, std::string_view path, std::string_view body,
                                   bool idempotent) {
  std::string request;
  request.reserve(256 + body.size());
  request.append(method).append(" ").append(prefix_).append(path).append(" HTTP/1.1\r\nHost: ");
  request.append(host_header_).append("\r\nUser-Agent: vectron-cli/" VECTRON_VERSION "\r\nAccept: application/json\r\n");
  if (!options_.token.empty()) request.append("Authorization: Bearer ").append(options_.token).append("\r\n");
  if (!body.empty()) request.append("Content-Type: application/json\r\n");
  request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.timeout_ms);
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0;; ++attempt) {
    const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left_ms <= 0)
      return Status::Unavailable(url_ + ": no answer within " + std::to_string(options_.timeout_ms) + " ms");
    Result<HttpReply> r = Exchange(request, static_cast<int>(left_ms));
    int after_s = -1;
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kResourceExhausted) return r;  // Too large: again is no better.
    } else if (r->status == 429 || r->status == 503) {
      after_s = RetryAfterSeconds(r->retry_after);
    } else {
      return r;
    }
    if (!idempotent || attempt >= options_.retries) return r;
    const int d = static_cast<int>(
        std::min<int64_t>(options_.backoff_max_ms, int64_t{options_.backoff_ms} << std::min(attempt, 20)));
    const int wait_ms = after_s >= 0 ? after_s * 1000 + std::uniform_int_distribution<int>(0, d / 2)(rng)
                                     : std::uniform_int_distribution<int>(d / 2, d)(rng);
    if (Clock::now() + std::chrono::milliseconds(wait_ms) >= deadline) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
}

Result<std::string> HttpClient::Call(std::string_view method, std::string_view path, std::string_view body,
                                     bool idempotent) {
  VECTRON_ASSIGN_OR_RETURN(HttpReply r, Send(method, path, body, idempotent));
  if (r.status >= 200 && r.status < 300) return std::move(r.body);
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& e = j["error"];
    std::string code = e.value("code", std::string()), message = e.value("message", std::string());
    if (!code.empty()) {
      Status st = RpcStatus(code, message);
      // An engine code is the Status code itself; others (unauthenticated, ...) stay
      // named in the message.
      return StatusCodeName(st.code()) == code ? Status(st.code(), message) : st;
    }
  }
  return Status::Unavailable(url_ + " answered HTTP " + std::to_string(r.status) + " without an error body");
}

}  // namespace vectron::net
