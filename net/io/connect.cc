#include "net/io/connect.h"

#include <fcntl.h>
#include <poll.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <string>

namespace vectron::net {

namespace {

Status SetNonBlocking(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags < 0) return Status::IOError(std::string("fcntl: ") + std::strerror(errno));
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (::fcntl(fd, F_SETFL, flags) != 0) return Status::IOError(std::string("fcntl: ") + std::strerror(errno));
  return Status::OK();
}

// Waits for the non-blocking connect on `fd` to finish, at most `timeout_ms` (0: no limit).
Status AwaitConnect(int fd, uint64_t timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int wait_ms = -1;
    if (timeout_ms != 0) {
      const auto now = Clock::now();
      if (now >= deadline) return Status::Unavailable("timed out after " + std::to_string(timeout_ms) + " ms");
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
      wait_ms = static_cast<int>(std::min<long long>(left, INT_MAX));
    }
    pollfd p{fd, POLLOUT, 0};
    int n = ::poll(&p, 1, wait_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::string("poll: ") + std::strerror(errno));
    }
    if (n == 0) continue;  // The deadline is checked above.
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) return Status::IOError(std::strerror(err));
    // Writable without an error can still be a socket shut down mid-connect.
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
      return Status::IOError("connect aborted");
    return Status::OK();
  }
}

}  // namespace

Status ConnectWithin(int fd, const sockaddr* addr, socklen_t len, uint64_t timeout_ms) {
  VECTRON_RETURN_IF_ERROR(SetNonBlocking(fd, true));
  Status st;
  if (::connect(fd, addr, len) != 0) {
    if (errno == EINPROGRESS || errno == EINTR)
      st = AwaitConnect(fd, timeout_ms);
    else
      st = Status::IOError(std::strerror(errno));
  }
  Status blocking = SetNonBlocking(fd, false);
  if (!st.ok()) return st;
  return blocking;
}

}  // namespace vectron::net
