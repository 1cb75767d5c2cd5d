#include "index/distance.h"

#include <Eigen/Core>
#include <cmath>

namespace vectron {

void Normalize(std::span<float> v) {
  Eigen::Map<Eigen::VectorXf> m(v.data(), static_cast<Eigen::Index>(v.size()));
  float n = m.norm();
  if (n > 0) m /= n;
}

float IndexDistance(Metric metric, const float* a, const float* b, size_t dim) {
  Eigen::Map<const Eigen::VectorXf> x(a, static_cast<Eigen::Index>(dim)), y(b, static_cast<Eigen::Index>(dim));
  if (metric == Metric::kL2) return (x - y).squaredNorm();
  return 1.0f - x.dot(y);
}

}  // namespace vectron
