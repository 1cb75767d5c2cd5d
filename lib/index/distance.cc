#include "index/distance.h"

#include <cmath>

#include "index/kernels.h"

namespace vectron {

void Normalize(std::span<float> v) {
  const float n = std::sqrt(ActiveKernels().dot(v.data(), v.data(), v.size()));
  if (n > 0)
    for (float& x : v) x /= n;
}

float IndexDistance(Metric metric, const float* a, const float* b, size_t dim) {
  const Kernels& k = ActiveKernels();
  if (metric == Metric::kL2) return k.l2_sqr(a, b, dim);
  return 1.0f - k.dot(a, b, dim);
}

}  // namespace vectron
