// One build of raw hnswlib for the bench reference; tools/meson.build compiles this file
// once per VECTRON_REF_VARIANT (avx512, avx2, baseline). hnswlib is wrapped in an
// anonymous namespace so that the three builds (and the library's own hnswlib) never
// share a symbol, and only hnswlib's code gets the variant's target: everything it
// includes is included first, outside the pragma.
#include <algorithm>
#include <assert.h>
#include <atomic>
#include <cassert>
#include <cmath>
#include <cpuid.h>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <immintrin.h>
#include <iostream>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <stdexcept>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <x86intrin.h>

#include "hnswlib_reference.h"
#include "index/huge_pages.h"
#include "util/parallel.h"

#define VECTRON_STR2(x) #x
#define VECTRON_STR(x) VECTRON_STR2(x)

// GCC's target pragma does not define __AVX512F__ and friends in C++, so hnswlib's
// USE_* switches are set by hand.
#if defined(VECTRON_REF_AVX512)
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512dq,avx512bw,avx512vl")
#define USE_SSE
#define USE_AVX
#define USE_AVX512
#elif defined(VECTRON_REF_AVX2)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define USE_SSE
#define USE_AVX
#endif

namespace {
#include <hnswlib/hnswlib.h>
}  // namespace

namespace vectron::tools {
namespace {

class Reference final : public HnswlibReference {
 public:
  Reference(uint32_t dim, Metric metric, size_t capacity, uint32_t m, uint32_t ef_construction, uint64_t seed) {
    MakeSpace(dim, metric);
    hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), capacity, m, ef_construction, seed);
  }
  // Throws what hnswlib throws.
  Reference(const std::string& path, uint32_t dim, Metric metric) {
    MakeSpace(dim, metric);
    hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), path);
    // hnswlib 0.6.2's loading constructor leaves num_deleted_ uninitialised before
    // adding the marked slots to it (and a non-zero value slows every search).
    hnsw_->num_deleted_ = 0;
    for (size_t i = 0; i < hnsw_->cur_element_count; ++i)
      if (hnsw_->isMarkedDeleted(static_cast<hnswlib::tableint>(i))) ++hnsw_->num_deleted_;
  }
  void Build(const float* data, size_t n, unsigned threads) override {
    const size_t dim = space_->get_data_size() / sizeof(float);
    ParallelFor(n, threads, [&](size_t i) { hnsw_->addPoint(data + i * dim, i); });
  }
  void Update(uint64_t label, const float* v) override { hnsw_->addPoint(v, label); }
  void SetEf(size_t ef) override { hnsw_->setEf(ef); }
  void Search(const float* q, size_t k, std::vector<uint64_t>* out) const override {
    auto top = hnsw_->searchKnn(q, k);
    out->resize(top.size());
    for (size_t i = top.size(); i-- > 0;) {
      (*out)[i] = top.top().second;
      top.pop();
    }
  }
  size_t memory_bytes() const override {
    const auto& h = *hnsw_;
    size_t bytes = h.max_elements_ * (h.size_data_per_element_ + sizeof(void*) + sizeof(int) + sizeof(std::mutex));
    for (size_t i = 0; i < h.cur_element_count; ++i)
      if (h.element_levels_[i] > 0) bytes += h.size_links_per_element_ * static_cast<size_t>(h.element_levels_[i]);
    return bytes + h.label_lookup_.size() * 40;
  }
  void UseHugePages() override {
    auto& h = *hnsw_;
    void* p = AllocateHugePageable(h.max_elements_ * h.size_data_per_element_);
    if (!p) return;
    std::memcpy(p, h.data_level0_memory_, h.cur_element_count * h.size_data_per_element_);
    std::free(h.data_level0_memory_);
    h.data_level0_memory_ = static_cast<char*>(p);
  }
  std::string variant() const override { return VECTRON_STR(VECTRON_REF_NAME); }

 private:
  void MakeSpace(uint32_t dim, Metric metric) {
    if (metric == Metric::kL2) space_ = std::make_unique<hnswlib::L2Space>(dim);
    else space_ = std::make_unique<hnswlib::InnerProductSpace>(dim);
  }

  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw_;
};

}  // namespace

#if defined(VECTRON_REF_AVX512)
#define VECTRON_REF_FN(name) name##Avx512
#elif defined(VECTRON_REF_AVX2)
#define VECTRON_REF_FN(name) name##Avx2
#else
#define VECTRON_REF_FN(name) name##Baseline
#endif

std::unique_ptr<HnswlibReference> VECTRON_REF_FN(NewHnswlibReference)(uint32_t dim, Metric metric, size_t capacity,
                                                                     uint32_t m, uint32_t ef_construction,
                                                                     uint64_t seed) {
  return std::make_unique<Reference>(dim, metric, capacity, m, ef_construction, seed);
}

Result<std::unique_ptr<HnswlibReference>> VECTRON_REF_FN(LoadHnswlibReference)(const std::string& path, uint32_t dim,
                                                                              Metric metric) {
  try {
    return std::unique_ptr<HnswlibReference>(std::make_unique<Reference>(path, dim, metric));
  } catch (const std::exception& e) {
    return Status::Corruption("hnswlib could not load " + path + ": " + e.what());
  }
}

}  // namespace vectron::tools

#if defined(VECTRON_REF_AVX512) || defined(VECTRON_REF_AVX2)
#pragma GCC pop_options
#endif
