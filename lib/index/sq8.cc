#include "index/sq8.h"

#include "index/huge_pages.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace vectron {

Sq8Codec::Sq8Codec(size_t dim, bool l2)
    : dim_(dim), l2_(l2), lo_(dim, 0.0f), step_(dim, 0.0f), inv_step_(dim, 0.0f), mean_code_(dim, 0.0f) {
  norm_offset_ = (dim + 3) / 4 * 4;
  size_t bytes = l2 ? norm_offset_ + sizeof(float) : dim;
  if (bytes <= 64) {
    code_bytes_ = 1;
    while (code_bytes_ < bytes) code_bytes_ *= 2;
  } else {
    code_bytes_ = (bytes + 63) / 64 * 64;
  }
}

void Sq8Codec::Train(std::span<const float* const> rows) {
  std::vector<float> lo(dim_, std::numeric_limits<float>::infinity());
  std::vector<float> hi(dim_, -std::numeric_limits<float>::infinity());
  for (const float* x : rows)
    for (size_t d = 0; d < dim_; ++d) {
      lo[d] = std::min(lo[d], x[d]);
      hi[d] = std::max(hi[d], x[d]);
    }
  for (size_t d = 0; d < dim_; ++d) {
    if (rows.empty()) lo[d] = hi[d] = 0;
    lo_[d] = lo[d];
    step_[d] = (hi[d] - lo[d]) / 255.0f;
    // A constant dimension encodes as 0 and decodes as lo exactly.
    inv_step_[d] = step_[d] > 0 ? 1.0f / step_[d] : 0.0f;
  }
  std::vector<double> sum(dim_, 0.0);
  for (const float* x : rows)
    for (size_t d = 0; d < dim_; ++d) sum[d] += CodeOf(x[d], d);
  for (size_t d = 0; d < dim_; ++d) mean_code_[d] = rows.empty() ? 0.0f : static_cast<float>(sum[d] / static_cast<double>(rows.size()));
}

void Sq8Codec::Encode(const float* x, uint8_t* code) const {
  std::memset(code, 0, code_bytes_);
  float norm = 0;
  for (size_t d = 0; d < dim_; ++d) {
    const float c = CodeOf(x[d], d);
    code[d] = static_cast<uint8_t>(c);
    float v = step_[d] * c;
    norm += v * v;
  }
  if (l2_) std::memcpy(code + norm_offset_, &norm, sizeof norm);
}

void Sq8Codec::Prepare(const float* q, Query* out) const {
  out->w.resize(dim_);
  // The float weights before rounding; per thread, so that Prepare allocates only the
  // first time a thread sees a dimension this large.
  thread_local std::vector<float> wf;
  wf.resize(dim_);
  float base = l2_ ? 0.0f : 1.0f, wmax = 0;
  for (size_t d = 0; d < dim_; ++d) {
    float qd = l2_ ? q[d] - lo_[d] : q[d];
    base += l2_ ? qd * qd : -q[d] * lo_[d];
    wf[d] = qd * step_[d];
    wmax = std::max(wmax, std::abs(wf[d]));
  }
  const float alpha = wmax > 0 ? wmax / 127.0f : 1.0f;
  const float inv = 1.0f / alpha;
  // Σ c·w = α·Σ c·w8 + Σ c·r, with r the rounding residual of each weight. The last sum
  // is taken with each code at its dimension's mean, which leaves only Σ (c - mean)·r
  // as error: several times smaller than Σ c·r, since codes sit far from 0.
  float residual = 0;
  for (size_t d = 0; d < dim_; ++d) {
    const float w8 = std::clamp(std::nearbyint(wf[d] * inv), -127.0f, 127.0f);
    out->w[d] = static_cast<int8_t>(w8);
    residual += mean_code_[d] * (wf[d] - alpha * w8);
  }
  out->base = base + (l2_ ? -2.0f : -1.0f) * residual;
  out->scale = l2_ ? -2.0f * alpha : -alpha;
}

bool AlignedRows::Reserve(size_t rows) {
  if (rows <= rows_) return true;
  size_t bytes = std::max<size_t>(rows * row_bytes_, 64);
  bytes = (bytes + 63) / 64 * 64;
  auto* p = static_cast<uint8_t*>(AllocateHugePageable(bytes));
  if (!p) return false;
  if (rows_) std::memcpy(p, data_.get(), rows_ * row_bytes_);
  std::memset(p + rows_ * row_bytes_, 0, bytes - rows_ * row_bytes_);
  data_.reset(p);
  rows_ = rows;
  return true;
}

}  // namespace vectron
