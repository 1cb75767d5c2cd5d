// CRC-32C (Castagnoli) for checksumming saved index files. Persisted: the value is
// stored in index envelopes, so the polynomial must never change.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vectron {

// Extends `crc` (start with 0) over `n` bytes.
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);

}  // namespace vectron
