// Host name resolution for listeners and clients: numeric addresses and names such as
// "localhost" (getaddrinfo), IPv4 first.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "vectron/status.h"

namespace vectron::net {

struct ResolvedAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // "127.0.0.1" or "::1", without the port.
};

// The TCP addresses of `host` at `port`, IPv4 ones first (so "localhost" means
// 127.0.0.1 where both exist), then IPv6, in resolver order within each family,
// without duplicates. A numeric IPv4/IPv6 address (brackets already removed) is returned
// as is without a lookup. Blocking (may query DNS for other names): call at startup or
// on a client thread, never on the event loop while it serves.
// Errors: InvalidArgument naming the host if it does not resolve (or is empty).
Result<std::vector<ResolvedAddress>> ResolveHost(const std::string& host, int port);

}  // namespace vectron::net
