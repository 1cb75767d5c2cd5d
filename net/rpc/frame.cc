#include "net/rpc/frame.h"

#include <cstdint>

namespace vectron::net {

Status FrameDecoder::Feed(std::string_view bytes, std::vector<std::string>* frames) {
  buf_.append(bytes);
  size_t pos = 0;
  Status st;
  while (buf_.size() - pos >= 4) {
    const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos);
    size_t len = static_cast<size_t>(p[0]) | static_cast<size_t>(p[1]) << 8 | static_cast<size_t>(p[2]) << 16 |
                 static_cast<size_t>(p[3]) << 24;
    if (len > max_) {
      st = Status::InvalidArgument("frame of " + std::to_string(len) + " bytes exceeds the limit of " +
                                   std::to_string(max_) + " bytes");
      buf_.clear();
      return st;
    }
    if (buf_.size() - pos - 4 < len) break;
    frames->emplace_back(buf_, pos + 4, len);
    pos += 4 + len;
  }
  buf_.erase(0, pos);
  return st;
}

std::string EncodeFrame(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 4);
  uint32_t n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  out.append(payload);
  return out;
}

}  // namespace vectron::net
