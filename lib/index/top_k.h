// Keeps the k smallest (distance, label) pairs seen; Take() returns them nearest first.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <queue>
#include <vector>

#include "vectron/index.h"

namespace vectron {

class TopK {
 public:
  explicit TopK(size_t k) : k_(k) {}
  // True if `d` could enter the current top k.
  bool Accepts(float d) const { return heap_.size() < k_ || d < heap_.top().distance; }
  // The distance a new pair must be below to enter once k are kept; infinity until then
  // (when anything enters, an infinite distance too).
  float Threshold() const {
    return heap_.size() < k_ ? std::numeric_limits<float>::infinity() : heap_.top().distance;
  }
  void Push(uint64_t label, float d) {
    if (heap_.size() < k_) {
      heap_.push({label, d});
    } else if (d < heap_.top().distance) {
      heap_.pop();
      heap_.push({label, d});
    }
  }
  std::vector<Neighbor> Take() {
    std::vector<Neighbor> out(heap_.size());
    for (size_t i = out.size(); i-- > 0;) {
      out[i] = heap_.top();
      heap_.pop();
    }
    return out;
  }

 private:
  struct Cmp {
    bool operator()(const Neighbor& a, const Neighbor& b) const {
      return a.distance < b.distance || (a.distance == b.distance && a.label < b.label);
    }
  };
  size_t k_;
  std::priority_queue<Neighbor, std::vector<Neighbor>, Cmp> heap_;
};

}  // namespace vectron
