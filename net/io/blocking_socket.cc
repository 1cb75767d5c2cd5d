#include <algorithm>
#include "net/io/blocking_socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "net/io/connect.h"
#include "net/io/resolve.h"

namespace vectron::net {

Result<BlockingSocket> BlockingSocket::Connect(const std::string& host, int port, uint64_t connect_timeout_ms) {
  VECTRON_ASSIGN_OR_RETURN(std::vector<ResolvedAddress> addrs, ResolveHost(host, port));
  std::string errors;
  for (auto& a : addrs) {
    int fd = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::IOError(std::string("socket: ") + std::strerror(errno));
    BlockingSocket s(fd);
    if (Status st = ConnectWithin(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len, connect_timeout_ms);
        !st.ok()) {
      if (!errors.empty()) errors += "; ";
      errors += a.text + ": " + st.message();
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return s;
  }
  return Status::IOError("connect " + host + ":" + std::to_string(port) + ": " + errors);
}

Result<BlockingSocket> BlockingSocket::ConnectTls(const std::string& host, int port, std::shared_ptr<TlsContext> tls,
                                                  const std::string& server_name, uint64_t connect_timeout_ms) {
  if (!tls || !tls->client()) return Status::InvalidArgument("ConnectTls needs a client TLS context");
  VECTRON_ASSIGN_OR_RETURN(BlockingSocket s, Connect(host, port, connect_timeout_ms));
  s.tls_ = std::make_unique<TlsSession>(*tls, server_name.empty() ? host : server_name);
  s.tls_ctx_ = std::move(tls);
  std::string out;
  VECTRON_RETURN_IF_ERROR(s.tls_->Receive({}, &s.plain_, &out));  // ClientHello.
  VECTRON_RETURN_IF_ERROR(s.RawSendAll(out));
  while (!s.tls_->handshake_done()) {
    VECTRON_ASSIGN_OR_RETURN(bool more, s.PumpTls());
    if (!more) return Status::Unavailable("server closed the connection during the TLS handshake");
  }
  return s;
}

Status BlockingSocket::SetTimeout(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
    return Status::IOError(std::string("setsockopt: ") + std::strerror(errno));
  timeout_ms_ = ms;
  return Status::OK();
}

bool BlockingSocket::HasPendingInput() const {
  if (!plain_.empty()) return true;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;  // Readable, hung up, or an error: all mean do not reuse.
}

Status BlockingSocket::SocketError(const char* op) const {
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    return Status::Unavailable(std::string(op) + ": timed out after " + std::to_string(timeout_ms_) + " ms");
  return Status::IOError(std::string(op) + ": " + std::strerror(errno));
}

BlockingSocket::BlockingSocket(BlockingSocket&& o) noexcept
    : fd_(o.fd_), timeout_ms_(o.timeout_ms_), busy_poll_us_(o.busy_poll_us_), tls_ctx_(std::move(o.tls_ctx_)), tls_(std::move(o.tls_)), plain_(std::move(o.plain_)) {
  o.fd_ = -1;
}

BlockingSocket& BlockingSocket::operator=(BlockingSocket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    tls_.reset();
    fd_ = o.fd_;
    timeout_ms_ = o.timeout_ms_;
    busy_poll_us_ = o.busy_poll_us_;
    o.fd_ = -1;
    tls_ctx_ = std::move(o.tls_ctx_);
    tls_ = std::move(o.tls_);
    plain_ = std::move(o.plain_);
  }
  return *this;
}

BlockingSocket::~BlockingSocket() {
  if (fd_ >= 0) ::close(fd_);
}

void BlockingSocket::Close() {
  tls_.reset();
  plain_.clear();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status BlockingSocket::RawSendAll(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SocketError("send");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status BlockingSocket::SendAll(std::string_view bytes) {
  if (!tls_) return RawSendAll(bytes);
  std::string out;
  VECTRON_RETURN_IF_ERROR(tls_->Send(bytes, &out));
  return RawSendAll(out);
}

ssize_t BlockingSocket::Recv(char* buf, size_t n) {
  if (busy_poll_us_ > 0) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(busy_poll_us_);
    do {
      ssize_t r = ::recv(fd_, buf, n, MSG_DONTWAIT);
      if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return r;
    } while (std::chrono::steady_clock::now() < until);
  }
  return ::recv(fd_, buf, n, 0);
}

Result<bool> BlockingSocket::PumpTls() {
  char buf[65536];
  for (;;) {
    ssize_t r = Recv(buf, sizeof(buf));
    if (r < 0) {
      if (errno == EINTR) continue;
      return SocketError("recv");
    }
    if (r == 0) return false;
    std::string out;
    Status st = tls_->Receive(std::string_view(buf, static_cast<size_t>(r)), &plain_, &out);
    // Alerts and handshake replies go out even when the session failed.
    if (!out.empty()) VECTRON_RETURN_IF_ERROR(RawSendAll(out));
    VECTRON_RETURN_IF_ERROR(st);
    return true;
  }
}

Status BlockingSocket::RecvExact(size_t n, std::string* out) {
  if (tls_) {
    while (plain_.size() < n) {
      VECTRON_ASSIGN_OR_RETURN(bool more, PumpTls());
      if (!more) {
        out->append(plain_);
        plain_.clear();
        return Status::Unavailable("connection closed by the server");
      }
    }
    out->append(plain_, 0, n);
    plain_.erase(0, n);
    return Status::OK();
  }
  // The buffer grows with what arrives (to 64 KiB, then doubling), not to `n` at once: a
  // peer that declares a large length and sends little makes this hold little.
  constexpr size_t kFirstRoom = 64 << 10;
  const size_t start = out->size();
  size_t got = 0;
  while (got < n) {
    const size_t room = std::min(n, std::max(kFirstRoom, 2 * got));
    out->resize(start + room);
    while (got < room) {
      ssize_t r = Recv(out->data() + start + got, room - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        out->resize(start + got);
        return SocketError("recv");
      }
      if (r == 0) {
        out->resize(start + got);
        return Status::Unavailable("connection closed by the server");
      }
      got += static_cast<size_t>(r);
    }
  }
  return Status::OK();
}

Result<size_t> BlockingSocket::RecvSome(std::string* out) {
  if (tls_) {
    while (plain_.empty()) {
      VECTRON_ASSIGN_OR_RETURN(bool more, PumpTls());
      if (!more) return size_t{0};
    }
    size_t n = plain_.size();
    out->append(plain_);
    plain_.clear();
    return n;
  }
  char buf[65536];
  for (;;) {
    ssize_t r = Recv(buf, sizeof(buf));
    if (r < 0) {
      if (errno == EINTR) continue;
      return SocketError("recv");
    }
    out->append(buf, static_cast<size_t>(r));
    return static_cast<size_t>(r);
  }
}

}  // namespace vectron::net
