#include "net/io/blocking_socket.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace vectron::net {

Result<BlockingSocket> BlockingSocket::Connect(const std::string& host, int port) {
  sockaddr_storage ss{};
  socklen_t len;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*a4);
  } else if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*a6);
  } else {
    return Status::InvalidArgument("'" + host + "' is not an IPv4 or IPv6 address");
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError(std::string("socket: ") + std::strerror(errno));
  BlockingSocket s(fd);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return Status::IOError("connect " + host + ":" + std::to_string(port) + ": " + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return s;
}

BlockingSocket& BlockingSocket::operator=(BlockingSocket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

BlockingSocket::~BlockingSocket() {
  if (fd_ >= 0) ::close(fd_);
}

Status BlockingSocket::SendAll(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::string("send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status BlockingSocket::RecvExact(size_t n, std::string* out) {
  size_t start = out->size();
  out->resize(start + n);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd_, out->data() + start + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      out->resize(start + got);
      return Status::IOError(std::string("recv: ") + std::strerror(errno));
    }
    if (r == 0) {
      out->resize(start + got);
      return Status::Unavailable("connection closed by the server");
    }
    got += static_cast<size_t>(r);
  }
  return Status::OK();
}

Result<size_t> BlockingSocket::RecvSome(std::string* out) {
  char buf[65536];
  for (;;) {
    ssize_t r = ::recv(fd_, buf, sizeof(buf), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::string("recv: ") + std::strerror(errno));
    }
    out->append(buf, static_cast<size_t>(r));
    return static_cast<size_t>(r);
  }
}

}  // namespace vectron::net
