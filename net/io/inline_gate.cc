#include "net/io/inline_gate.h"

namespace vectron::net {

bool InlineGate::TryEnter(uint64_t conn, bool light, std::chrono::steady_clock::time_point now) {
  if (conn != last_conn_) {
    last_conn_ = conn;
    last_switch_ = now;
  }
  if (!enabled_ || !light || now - last_switch_ < window_ || !pool_.idle()) return false;
  ++inlined_;
  return true;
}

}  // namespace vectron::net
