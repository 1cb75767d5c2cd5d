#include "hnswlib_reference.h"

#include <hnswlib/hnswlib.h>

#include "util/parallel.h"

namespace vectron::tools {

struct HnswlibReference::Impl {
  std::unique_ptr<hnswlib::SpaceInterface<float>> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
};

HnswlibReference::HnswlibReference(uint32_t dim, Metric metric, size_t capacity, uint32_t m,
                                   uint32_t ef_construction, uint64_t seed)
    : impl_(std::make_unique<Impl>()) {
  if (metric == Metric::kL2) impl_->space = std::make_unique<hnswlib::L2Space>(dim);
  else impl_->space = std::make_unique<hnswlib::InnerProductSpace>(dim);
  impl_->hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(impl_->space.get(), capacity, m, ef_construction, seed);
}

HnswlibReference::~HnswlibReference() = default;

void HnswlibReference::Build(const float* data, size_t n, unsigned threads) {
  const size_t dim = impl_->space->get_data_size() / sizeof(float);
  ParallelFor(n, threads, [&](size_t i) { impl_->hnsw->addPoint(data + i * dim, i); });
}

void HnswlibReference::SetEf(size_t ef) { impl_->hnsw->setEf(ef); }

void HnswlibReference::Search(const float* q, size_t k, std::vector<uint64_t>* out) const {
  auto top = impl_->hnsw->searchKnn(q, k);
  out->resize(top.size());
  for (size_t i = top.size(); i-- > 0;) {
    (*out)[i] = top.top().second;
    top.pop();
  }
}

}  // namespace vectron::tools
