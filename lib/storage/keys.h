// Key and value encodings used in LMDB. Big-endian integers so that byte order equals
// numeric order. Persisted: see docs/formats/storage.md before changing anything here.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace vectron::storage {

inline std::string EncodeU64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}

inline void EncodeU64To(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

// REQUIRES: s.size() == 8.
inline uint64_t DecodeU64(std::string_view s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

}  // namespace vectron::storage
