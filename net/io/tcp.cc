#include "net/io/tcp.h"

#include <uv.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "net/io/resolve.h"

namespace vectron::net {

// Connection ids are unique in the process, across listeners (InlineGate tells an HTTP
// client from an RPC one by them).
static uint64_t NextConnectionId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

struct TcpListener::Conn final : public Connection {
  uv_tcp_t handle;
  TcpListener* owner;
  uint64_t conn_id;
  std::string peer_name;
  std::string peer_ip;  // peer_name without the port: the limiter's key.
  bool counted = false;  // Holds a slot of owner->options_.limiter.
  uint64_t accepted_ms = 0;
  std::unique_ptr<TlsSession> tls;
  std::unique_ptr<ConnectionHandler> handler;
  size_t pending = 0;
  int writes_in_flight = 0;
  bool closing = false;
  bool closed = false;  // uv_close called.
  bool reading = false;

  struct WriteReq {
    uv_write_t req;
    std::string data;
    Conn* conn;
  };

  void Send(std::string bytes) override {
    if (closing || closed || bytes.empty()) return;
    if (tls) {
      std::string out;
      if (!tls->Send(bytes, &out).ok()) {
        Abort();
        return;
      }
      bytes.swap(out);
      if (bytes.empty()) return;
    }
    RawWrite(std::move(bytes));
  }

  void RawWrite(std::string bytes) {
    auto* w = new WriteReq;
    w->data = std::move(bytes);
    w->conn = this;
    w->req.data = w;
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    pending += w->data.size();
    ++writes_in_flight;
    int r = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&handle), &buf, 1, [](uv_write_t* req, int status) {
      auto* w = static_cast<WriteReq*>(req->data);
      Conn* c = w->conn;
      c->pending -= w->data.size();
      --c->writes_in_flight;
      delete w;
      if (status < 0) {
        c->Abort();
      } else if (c->closing && c->writes_in_flight == 0) {
        c->Abort();
      }
    });
    if (r < 0) {
      pending -= w->data.size();
      --writes_in_flight;
      delete w;
      Abort();
    }
  }

  void Close() override {
    if (closing || closed) return;
    closing = true;
    PauseReading();
    if (writes_in_flight == 0) Abort();
  }

  // Closes the handle now; the object is freed in the close callback.
  void Abort() {
    if (closed) return;
    closed = true;
    closing = true;
    owner->conns_.erase(conn_id);
    if (counted) {
      owner->options_.limiter->Release(peer_ip);
      counted = false;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&handle), [](uv_handle_t* h) {
      auto* c = static_cast<Conn*>(h->data);
      delete c;
    });
  }

  void PauseReading() override {
    if (reading && !closed) uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle));
    reading = false;
  }
  void ResumeReading() override {
    if (reading || closing || closed) return;
    reading = true;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&handle),
        [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
          buf->base = new char[suggested];
          buf->len = suggested;
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* c = static_cast<Conn*>(s->data);
          std::unique_ptr<char[]> owned(buf->base);
          c->OnRead(n, buf->base);
        });
  }
  size_t pending_write_bytes() const override { return pending; }
  const std::string& peer() const override { return peer_name; }
  uint64_t id() const override { return conn_id; }
  bool TlsPeerIs(const std::string& name) const override { return tls && tls->PeerCertificateIsFor(name); }

  void OnRead(ssize_t n, const char* data) {
    if (closing || closed) return;
    // A TLS peer that leaves before the handshake is done failed it (a truncated one).
    if (n < 0 && tls && !tls->handshake_done()) owner->NoteHandshakeRefused(false);
    if (n == UV_EOF) {
      handler->OnEof(*this);
      return;
    }
    if (n < 0) {
      Abort();
      return;
    }
    if (n == 0) return;
    std::string_view bytes(data, static_cast<size_t>(n));
    if (tls) {
      std::string plain, out;
      Status s = tls->Receive(bytes, &plain, &out);
      if (!out.empty()) RawWrite(std::move(out));
      if (!s.ok()) {
        if (!tls->handshake_done()) owner->NoteHandshakeRefused(false);
        Close();
        return;
      }
      if (!plain.empty()) handler->OnData(plain);
    } else {
      handler->OnData(bytes);
    }
  }
};

Result<std::pair<std::string, int>> ParseHostPort(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return Status::InvalidArgument("address '" + text + "' must be HOST:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  for (char ch : text.substr(colon + 1)) {
    if (ch < '0' || ch > '9') return Status::InvalidArgument("address '" + text + "': port must be a number");
    port = port * 10 + (ch - '0');
    if (port > 65535) return Status::InvalidArgument("address '" + text + "': port must be 0..65535");
  }
  return std::make_pair(host, port);
}

Result<std::unique_ptr<TcpListener>> TcpListener::Listen(EventLoop& loop, const std::string& host, int port,
                                                          ListenOptions options, Factory factory) {
  // A name such as "localhost" binds its first address, IPv4 preferred.
  VECTRON_ASSIGN_OR_RETURN(std::vector<ResolvedAddress> addrs, ResolveHost(host, port));
  sockaddr_storage addr = addrs.front().addr;
  std::unique_ptr<TcpListener> l(new TcpListener);
  l->loop_ = &loop;
  l->host_ = host;
  l->options_ = std::move(options);
  l->factory_ = std::move(factory);
  auto* server = new uv_tcp_t;
  uv_tcp_init(loop.raw(), server);
  server->data = l.get();
  l->server_ = server;
  std::string where = host + ":" + std::to_string(port);
  if (int r = uv_tcp_bind(server, reinterpret_cast<sockaddr*>(&addr), 0); r < 0)
    return Status::IOError("cannot bind " + where + ": " + uv_strerror(r));
  int r = uv_listen(reinterpret_cast<uv_stream_t*>(server), 511, [](uv_stream_t* s, int status) {
    if (status < 0) return;
    auto* self = static_cast<TcpListener*>(s->data);
    auto* c = new Conn;
    uv_tcp_init(self->loop_->raw(), &c->handle);
    c->handle.data = c;
    if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->handle)) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
      return;
    }
    uv_tcp_nodelay(&c->handle, 1);
    c->owner = self;
    c->conn_id = NextConnectionId();
    sockaddr_storage peer{};
    int len = sizeof(peer);
    char name[INET6_ADDRSTRLEN] = "?";
    int peer_port = 0;
    if (uv_tcp_getpeername(&c->handle, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
      if (peer.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&peer);
        uv_ip6_name(a, name, sizeof(name));
        peer_port = ntohs(a->sin6_port);
      } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&peer);
        uv_ip4_name(a, name, sizeof(name));
        peer_port = ntohs(a->sin_port);
      }
    }
    c->peer_name = std::string(name) + ":" + std::to_string(peer_port);
    c->peer_ip = name;
    c->accepted_ms = self->loop_->NowMs();
    const ListenOptions& o = self->options_;
    self->conns_[c->conn_id] = c;
    if (o.limiter) {
      if (!o.limiter->Acquire(c->peer_ip)) {
        // Refused before any handshake or read: a few bytes of notice on plain TCP, then
        // close (after the write, if any).
        c->closing = true;
        if (!o.tls && !o.refusal.empty()) c->RawWrite(o.refusal);
        if (c->writes_in_flight == 0) c->Abort();
        return;
      }
      c->counted = true;
    }
    if (o.tls) c->tls = std::make_unique<TlsSession>(*o.tls);
    c->handler = self->factory_(*c);
    c->ResumeReading();
  });
  if (r < 0) return Status::IOError("cannot listen on " + where + ": " + uv_strerror(r));
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(server, reinterpret_cast<sockaddr*>(&bound), &len);
  l->port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                         : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return l;
}

TcpListener::~TcpListener() {
  CloseAll();
  StopAccepting();
}

void TcpListener::StopAccepting() {
  if (!server_) return;
  auto* s = static_cast<uv_tcp_t*>(server_);
  server_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(s), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
}

void TcpListener::CloseIdle() {
  std::vector<Conn*> idle;
  for (auto& [id, c] : conns_) {
    if (c->handler && c->handler->Idle()) idle.push_back(c);
  }
  for (Conn* c : idle) c->Close();
}

void TcpListener::CloseAll() {
  std::vector<Conn*> all;
  for (auto& [id, c] : conns_) all.push_back(c);
  for (Conn* c : all) c->Abort();
}

void TcpListener::NoteHandshakeRefused(bool timeout) {
  ++(timeout ? handshake_timeouts_ : handshake_failures_);
  if (options_.on_handshake_refused) options_.on_handshake_refused();
}

void TcpListener::Tick(uint64_t now_ms) {
  std::vector<Conn*> all;
  for (auto& [id, c] : conns_) all.push_back(c);
  for (Conn* c : all) {
    if (c->closed) continue;
    if (c->tls && !c->tls->handshake_done() && now_ms - c->accepted_ms > options_.handshake_timeout_ms) {
      NoteHandshakeRefused(true);
      c->Abort();
      continue;
    }
    if (c->handler) c->handler->OnTick(now_ms);
  }
}

}  // namespace vectron::net
