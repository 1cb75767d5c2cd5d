// Little-endian binary encoding for the cluster's persisted records (shard log entries, the
// placement driver's commands and snapshots). Every read is bounds-checked: a reader that
// runs past its input, or meets a length above its limit, fails and stays failed, so a
// decoder checks ok() once at the end and never reads out of bounds.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vectron::net::cluster {

class ByteWriter {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void Bool(bool v) { U8(v ? 1 : 0); }
  // u32 length, then the bytes.
  void Bytes(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  // u32 count, then each float (IEEE 754 binary32, little endian).
  void Floats(std::span<const float> v) {
    U32(static_cast<uint32_t>(v.size()));
    for (float f : v) {
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      U32(bits);
    }
  }
  std::string& str() { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  uint8_t U8() { return static_cast<uint8_t>(Take(1)[0]); }
  uint32_t U32() {
    std::string_view b = Take(4);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(b[i])} << (8 * i);
    return v;
  }
  uint64_t U64() {
    std::string_view b = Take(8);
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(b[i])} << (8 * i);
    return v;
  }
  bool Bool() {
    uint8_t v = U8();
    if (v > 1) ok_ = false;
    return v == 1;
  }
  // Fails (returns "") if the length exceeds `max_bytes` or the input.
  std::string Bytes(size_t max_bytes) {
    uint32_t n = U32();
    if (n > max_bytes) {
      ok_ = false;
      return {};
    }
    return std::string(Take(n));
  }
  // Fails if the count exceeds `max_count` or the input.
  std::vector<float> Floats(size_t max_count) {
    uint32_t n = U32();
    if (n > max_count || static_cast<uint64_t>(n) * 4 > remaining()) {
      ok_ = false;
      return {};
    }
    std::vector<float> v(n);
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t bits = U32();
      std::memcpy(&v[i], &bits, 4);
    }
    return v;
  }
  // A count of items that each take at least `min_item_bytes`; fails if the remaining input
  // cannot hold that many or the count exceeds `max_count`.
  uint32_t Count(size_t max_count, size_t min_item_bytes) {
    uint32_t n = U32();
    if (n > max_count || static_cast<uint64_t>(n) * min_item_bytes > remaining()) {
      ok_ = false;
      return 0;
    }
    return n;
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  size_t remaining() const { return ok_ ? in_.size() - pos_ : 0; }
  void Fail() { ok_ = false; }

 private:
  std::string_view Take(size_t n) {
    static const char kZeros[8] = {};
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return std::string_view(kZeros, n <= 8 ? n : 0);
    }
    std::string_view v = in_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace vectron::net::cluster
