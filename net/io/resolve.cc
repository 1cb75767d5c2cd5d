#include "net/io/resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace vectron::net {
namespace {

ResolvedAddress FromSockaddr(const sockaddr* sa, socklen_t len, int port) {
  ResolvedAddress r;
  std::memcpy(&r.addr, sa, len);
  r.len = len;
  char buf[INET6_ADDRSTRLEN] = "";
  if (sa->sa_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&r.addr);
    a->sin_port = htons(static_cast<uint16_t>(port));
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&r.addr);
    a->sin6_port = htons(static_cast<uint16_t>(port));
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
  }
  r.text = buf;
  return r;
}

}  // namespace

Result<std::vector<ResolvedAddress>> ResolveHost(const std::string& host, int port) {
  if (host.empty()) return Status::InvalidArgument("empty host name");
  if (port < 0 || port > 65535) return Status::InvalidArgument("port " + std::to_string(port) + " is not 0..65535");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* res = nullptr;
  // No AI_ADDRCONFIG: it hides "localhost" on machines with only a loopback interface.
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    return Status::InvalidArgument("cannot resolve host '" + host + "': " +
                                   (rc == EAI_SYSTEM ? std::string(std::strerror(errno)) : gai_strerror(rc)));
  }
  std::vector<ResolvedAddress> v4, v6;
  for (addrinfo* p = res; p; p = p->ai_next) {
    if (p->ai_family != AF_INET && p->ai_family != AF_INET6) continue;
    ResolvedAddress a = FromSockaddr(p->ai_addr, static_cast<socklen_t>(p->ai_addrlen), port);
    auto& dst = p->ai_family == AF_INET ? v4 : v6;
    bool dup = false;
    for (auto& d : dst) dup = dup || d.text == a.text;
    if (!dup) dst.push_back(std::move(a));
  }
  ::freeaddrinfo(res);
  v4.insert(v4.end(), std::make_move_iterator(v6.begin()), std::make_move_iterator(v6.end()));
  if (v4.empty()) return Status::InvalidArgument("host '" + host + "' has no IPv4 or IPv6 address");
  return v4;
}

}  // namespace vectron::net
