// Outbound TCP connects with a deadline: a connect to an address that never answers (a
// black-holed host, a listener whose accept queue is full) otherwise waits as long as
// the kernel retries its SYN, about two minutes on Linux.
#pragma once

#include <sys/socket.h>

#include <cstdint>

#include "vectron/status.h"

namespace vectron::net {

// Connects the (blocking, unconnected) TCP socket `fd` to `addr`, waiting at most
// `timeout_ms` (0: no limit of ours, only the kernel's). The socket is non-blocking only
// while it connects and is blocking again on return. A shutdown() of `fd` from another
// thread ends the wait (IOError). The messages do not name the address: callers add it.
// Errors: Unavailable "timed out after N ms" (worth a retry later); IOError with the
// system's reason ("Connection refused", ...).
[[nodiscard]] Status ConnectWithin(int fd, const sockaddr* addr, socklen_t len, uint64_t timeout_ms);

}  // namespace vectron::net
