// Length-prefixed frames: 4-byte little-endian payload length, then the payload.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/status.h"

namespace vectron::net {

// Splits a byte stream into frames. Not thread-safe.
class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_frame_bytes) : max_(max_frame_bytes) {}
  // Appends `bytes`; moves each completed payload to `*frames`.
  // Errors: InvalidArgument if a frame declares more than max_frame_bytes (the stream
  // is then unusable: close it).
  Status Feed(std::string_view bytes, std::vector<std::string>* frames);
  // True while part of a frame is buffered.
  bool mid_frame() const { return !buf_.empty(); }

 private:
  size_t max_;
  std::string buf_;
};

// The frame carrying `payload`.
std::string EncodeFrame(std::string_view payload);

}  // namespace vectron::net
