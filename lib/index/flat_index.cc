// FlatIndex: vectors in one contiguous row-major matrix; search streams through it
// with the dispatched distance kernels (kernels.h) into a top-k selection. Exact.
#include <algorithm>
#include <unordered_map>

#include "index/batch_scan.h"
#include "index/distance.h"
#include "index/top_k.h"
#include "util/mutex.h"
#include "vectron/index.h"

namespace vectron {
namespace {

class FlatIndex final : public Index {
 public:
  FlatIndex(uint32_t dim, Metric metric) : dim_(dim), metric_(metric) {}

  std::string_view kind() const override { return "flat"; }
  uint32_t dim() const override { return dim_; }

  Status Upsert(std::span<const uint64_t> labels, std::span<const float> vectors, unsigned) override {
    if (vectors.size() != labels.size() * dim_)
      return Status::InvalidArgument("FlatIndex::Upsert: vectors size does not match labels × dim");
    WriterLock lock(mu_);
    for (size_t i = 0; i < labels.size(); ++i) {
      staged_.erase(labels[i]);  // the new vector wins, visible at once
      PutRow(labels[i], vectors.data() + i * dim_);
    }
    return Status::OK();
  }

  // Staged vectors wait in staged_ (inserting a row is a copy: nothing to gain by
  // doing it early), invisible to searches until Reveal copies them in.
  Status StageHidden(std::span<const uint64_t> labels, std::span<const float> vectors, unsigned) override {
    if (vectors.size() != labels.size() * dim_)
      return Status::InvalidArgument("FlatIndex::StageHidden: vectors size does not match labels × dim");
    WriterLock lock(mu_);
    for (uint64_t l : labels)
      if (slot_of_.count(l)) return Status::InvalidArgument("FlatIndex::StageHidden: label " + std::to_string(l) + " is live");
    for (size_t i = 0; i < labels.size(); ++i) {
      const float* v = vectors.data() + i * dim_;
      staged_[labels[i]].assign(v, v + dim_);
    }
    return Status::OK();
  }

  Status Reveal(std::span<const uint64_t> labels) override {
    WriterLock lock(mu_);
    for (uint64_t l : labels) {
      auto it = staged_.find(l);
      if (it == staged_.end()) continue;
      PutRow(l, it->second.data());
      staged_.erase(it);
    }
    return Status::OK();
  }

  Status Remove(std::span<const uint64_t> labels) override {
    WriterLock lock(mu_);
    for (uint64_t label : labels) {
      staged_.erase(label);
      auto it = slot_of_.find(label);
      if (it == slot_of_.end()) continue;
      size_t slot = it->second, last = labels_.size() - 1;
      slot_of_.erase(it);
      if (slot != last) {  // Move the last row into the hole.
        std::copy(data_.begin() + static_cast<ptrdiff_t>(last * dim_),
                  data_.begin() + static_cast<ptrdiff_t>((last + 1) * dim_),
                  data_.begin() + static_cast<ptrdiff_t>(slot * dim_));
        labels_[slot] = labels_[last];
        slot_of_[labels_[slot]] = slot;
      }
      labels_.pop_back();
      data_.resize(labels_.size() * dim_);
    }
    return Status::OK();
  }

  std::vector<Neighbor> Search(std::span<const float> query, size_t k,
                               const IndexSearchOptions& options) const override {
    ReaderLock lock(mu_);
    const size_t n = labels_.size();
    if (n == 0 || k == 0) return {};
    TopK top(k);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t label = labels_[i];
      if (options.filter && !options.filter->Allows(label)) continue;
      top.Push(label, IndexDistance(metric_, query.data(), data_.data() + i * dim_, dim_));
    }
    return top.Take();
  }

  // Flat search is exact whatever the options: one pass over the rows for all queries.
  std::vector<std::vector<Neighbor>> SearchBatch(std::span<const float> queries, size_t k,
                                                 const IndexSearchOptions& options) const override {
    ReaderLock lock(mu_);
    // Read under the lock here: the analysis does not follow it into the lambdas.
    const float* data = data_.data();
    const uint64_t* labels = labels_.data();
    const size_t dim = dim_;
    return BatchScan(
        queries, dim, k, metric_ == Metric::kL2, labels_.size(), [&](size_t r) { return data + r * dim; },
        [&](size_t r) { return !options.filter || options.filter->Allows(labels[r]); },
        [&](size_t r) { return labels[r]; });
  }

  std::vector<Neighbor> SearchAmong(std::span<const float> query, size_t k,
                                    std::span<const uint32_t> labels) const override {
    ReaderLock lock(mu_);
    TopK top(k);
    for (uint32_t label : labels) {
      auto it = slot_of_.find(label);
      if (it == slot_of_.end()) continue;
      top.Push(label, IndexDistance(metric_, query.data(), data_.data() + it->second * dim_, dim_));
    }
    return top.Take();
  }

  size_t size() const override {
    ReaderLock lock(mu_);
    return labels_.size();
  }
  size_t deleted_slots() const override { return 0; }
  size_t memory_bytes() const override {
    ReaderLock lock(mu_);
    return data_.capacity() * sizeof(float) + labels_.capacity() * sizeof(uint64_t) + slot_of_.size() * 32 +
           staged_.size() * (dim_ * sizeof(float) + 64);
  }

 private:
  // Inserts or replaces the row of `label`.
  void PutRow(uint64_t label, const float* v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto [it, inserted] = slot_of_.try_emplace(label, labels_.size());
    size_t slot = it->second;
    if (inserted) {
      labels_.push_back(label);
      data_.insert(data_.end(), v, v + dim_);
    } else {
      std::copy(v, v + dim_, data_.begin() + static_cast<ptrdiff_t>(slot * dim_));
    }
  }

  const uint32_t dim_;
  const Metric metric_;
  mutable SharedMutex mu_;
  std::vector<float> data_ ABSL_GUARDED_BY(mu_);       // row-major, one row per slot
  std::vector<uint64_t> labels_ ABSL_GUARDED_BY(mu_);  // slot → label
  std::unordered_map<uint64_t, size_t> slot_of_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<uint64_t, std::vector<float>> staged_ ABSL_GUARDED_BY(mu_);  // hidden until Reveal
};

}  // namespace

std::unique_ptr<Index> NewFlatIndex(uint32_t dim, Metric metric) {
  return std::make_unique<FlatIndex>(dim, metric);
}

}  // namespace vectron
