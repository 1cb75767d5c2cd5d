// Sq8: per-dimension 8-bit scalar quantization. Each dimension d has a range
// [lo_d, lo_d + 255·step_d] learnt from the data (its minimum and maximum); a vector is
// stored as one byte per dimension, x_d ≈ lo_d + step_d·c_d. A query becomes signed
// 8-bit weights w (scaled by α) so that a distance to a code is one u8 × s8 dot product
// (kernels.h) and two multiply-adds:
//   inner product: 1 - q·x̂ = (1 - q·lo) - α·Σ c_d w_d,             w ≈ q⊙step / α
//   squared L2:  ‖q - x̂‖² = ‖q - lo‖² - 2α·Σ c_d w_d + ‖step⊙c‖²,    w ≈ (q - lo)⊙step / α
// ‖step⊙c‖² is stored with each code, and the rounding of w is compensated on average
// (see Prepare). The distances are approximate: HnswIndex walks the graph on them and
// rescores the best candidates with the float vectors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "index/kernels.h"

namespace vectron {

class Sq8Codec {
 public:
  // REQUIRES: dim > 0. `l2` selects the squared-L2 form (else 1 - dot).
  Sq8Codec(size_t dim, bool l2);

  size_t dim() const { return dim_; }
  // Bytes per encoded vector: the codes, padding, and (for L2) the float ‖step⊙c‖².
  // A power of two up to 64, else a multiple of 64, so that a code never straddles
  // more cache lines than it must when rows start 64-byte aligned.
  size_t code_bytes() const { return code_bytes_; }
  // Learns each dimension's range from `rows` (each dim() floats). With no rows every
  // range is empty and every code is 0.
  void Train(std::span<const float* const> rows);
  // Writes code_bytes() bytes; values outside the trained range are clamped.
  void Encode(const float* x, uint8_t* code) const;

  // A query prepared for Distance(); reusable across queries (no allocation once sized).
  struct Query {
    std::vector<int8_t> w;  // dim() weights
    float base = 0;         // (1 - q·lo) or ‖q - lo‖²
    float scale = 0;        // -α or -2α
  };
  void Prepare(const float* q, Query* out) const;
  // The approximate distance of `code` to the prepared query.
  float Distance(const Query& q, const uint8_t* code, const Kernels& k) const {
    float d = q.base + q.scale * static_cast<float>(k.dot_u8s8(code, q.w.data(), dim_));
    if (l2_) d += NormOf(code);
    return d;
  }

 private:
  float NormOf(const uint8_t* code) const {
    float n;
    __builtin_memcpy(&n, code + norm_offset_, sizeof n);
    return n;
  }

  // The code of value v in dimension d, as a float in [0, 255].
  float CodeOf(float v, size_t d) const {
    float c = __builtin_nearbyintf((v - lo_[d]) * inv_step_[d]);
    return c < 0.0f ? 0.0f : (c > 255.0f ? 255.0f : c);
  }

  size_t dim_;
  bool l2_;
  size_t norm_offset_;
  size_t code_bytes_;
  std::vector<float> lo_, step_, inv_step_;
  std::vector<float> mean_code_;  // per dimension, over the training rows
};

// A growable array of fixed-size rows whose start is 64-byte aligned (codes by
// internal id), on huge pages when large (huge_pages.h). Growing copies; callers
// serialise it against readers.
class AlignedRows {
 public:
  explicit AlignedRows(size_t row_bytes) : row_bytes_(row_bytes) {}
  size_t rows() const { return rows_; }
  size_t row_bytes() const { return row_bytes_; }
  // Makes room for at least `rows` rows (new ones zeroed), keeping the contents.
  // Returns false, changing nothing, if the memory cannot be had.
  [[nodiscard]] bool Reserve(size_t rows);
  uint8_t* row(size_t i) { return data_.get() + i * row_bytes_; }
  const uint8_t* row(size_t i) const { return data_.get() + i * row_bytes_; }
  size_t memory_bytes() const { return rows_ * row_bytes_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  size_t row_bytes_;
  size_t rows_ = 0;
  std::unique_ptr<uint8_t[], Free> data_;
};

}  // namespace vectron
