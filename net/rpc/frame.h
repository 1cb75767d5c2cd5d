// Length-prefixed frames: 4-byte little-endian payload length, then the payload.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/status.h"

namespace vectron::net {

// Splits a byte stream into frames. It buffers at most one frame that fits its limit
// plus what was appended last; a frame declaring more is reported from its 4-byte
// header alone, before any of its payload is kept. Not thread-safe.
class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_frame_bytes) : max_(max_frame_bytes) {}

  // Appends received bytes (dropping those of a payload being skipped).
  void Append(std::string_view bytes);

  enum class Next {
    kNeedMore,  // No complete frame buffered.
    kFrame,     // `*frame` holds the next payload.
    kOversize,  // The next frame declares `*declared` > max_frame_bytes(); its header is
                // consumed. Call SkipPayload(*declared) to drop its payload as it
                // arrives and go on, or stop using the decoder.
  };
  Next Take(std::string* frame, size_t* declared);
  // Drops the next `n` payload bytes, buffered or yet to arrive; they are never kept.
  void SkipPayload(size_t n);

  // Appends `bytes` and moves each completed payload to `*frames`.
  // Errors: InvalidArgument if a frame declares more than max_frame_bytes (the stream
  // is then unusable: close it).
  Status Feed(std::string_view bytes, std::vector<std::string>* frames);

  // Applies to frames whose header has not been read yet.
  void set_max_frame_bytes(size_t n) { max_ = n; }
  size_t max_frame_bytes() const { return max_; }
  // True while part of a frame is buffered or a payload is being skipped.
  bool mid_frame() const { return buf_.size() > pos_ || skip_ > 0; }
  // True while a payload is being skipped (SkipPayload).
  bool skipping() const { return skip_ > 0; }

 private:
  size_t max_;
  std::string buf_;
  size_t pos_ = 0;   // Start of the unconsumed bytes in buf_.
  size_t skip_ = 0;  // Payload bytes still to drop as they arrive.
};

// The frame carrying `payload`.
std::string EncodeFrame(std::string_view payload);

}  // namespace vectron::net
