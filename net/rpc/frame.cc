#include "net/rpc/frame.h"

#include <algorithm>
#include <cstdint>

namespace vectron::net {

void FrameDecoder::Append(std::string_view bytes) {
  const size_t dropped = std::min(skip_, bytes.size());
  skip_ -= dropped;
  bytes.remove_prefix(dropped);
  if (bytes.empty()) return;
  // Consumed bytes are let go before more are kept, so the buffer holds one partial
  // frame and the latest read, not the connection's history.
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

FrameDecoder::Next FrameDecoder::Take(std::string* frame, size_t* declared) {
  if (buf_.size() - pos_ < 4) return Next::kNeedMore;
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  const size_t len = static_cast<size_t>(p[0]) | static_cast<size_t>(p[1]) << 8 | static_cast<size_t>(p[2]) << 16 |
                     static_cast<size_t>(p[3]) << 24;
  if (len > max_) {
    pos_ += 4;
    *declared = len;
    return Next::kOversize;
  }
  if (buf_.size() - pos_ - 4 < len) return Next::kNeedMore;
  frame->assign(buf_, pos_ + 4, len);
  pos_ += 4 + len;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return Next::kFrame;
}

void FrameDecoder::SkipPayload(size_t n) {
  const size_t buffered = std::min(n, buf_.size() - pos_);
  pos_ += buffered;
  skip_ += n - buffered;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
}

Status FrameDecoder::Feed(std::string_view bytes, std::vector<std::string>* frames) {
  Append(bytes);
  for (;;) {
    std::string frame;
    size_t declared = 0;
    switch (Take(&frame, &declared)) {
      case Next::kNeedMore: return Status::OK();
      case Next::kFrame: frames->push_back(std::move(frame)); break;
      case Next::kOversize:
        buf_.clear();
        pos_ = 0;
        return Status::InvalidArgument("frame of " + std::to_string(declared) + " bytes exceeds the limit of " +
                                       std::to_string(max_) + " bytes");
    }
  }
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
