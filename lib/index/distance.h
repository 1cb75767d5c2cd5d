// Distance kernels shared by the flat index and the shard (query normalisation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vectron/options.h"

namespace vectron {

// Scales `v` to unit length in place (no-op for the zero vector).
void Normalize(std::span<float> v);
// Index-internal distance between two vectors: squared L2 for kL2, 1 - dot otherwise.
float IndexDistance(Metric metric, const float* a, const float* b, size_t dim);
// Converts an index-internal distance to the public score (see Metric).
inline float ScoreFromIndexDistance(Metric metric, float d) { return metric == Metric::kIP ? d - 1.0f : d; }

}  // namespace vectron
