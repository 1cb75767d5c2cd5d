#include "index/hnsw_index.h"

#include <hnswlib/hnswlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <queue>

#include "index/top_k.h"
#include "util/mutex.h"
#include "util/parallel.h"

namespace vectron {
namespace {

std::unique_ptr<hnswlib::SpaceInterface<float>> MakeSpace(Metric metric, uint32_t dim) {
  if (metric == Metric::kL2) return std::make_unique<hnswlib::L2Space>(dim);
  return std::make_unique<hnswlib::InnerProductSpace>(dim);  // kIP, and kCosine on unit vectors.
}

class HnswIndexImpl final : public HnswIndex {
 public:
  HnswIndexImpl(uint32_t dim, Metric metric, std::unique_ptr<hnswlib::SpaceInterface<float>> space,
                std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw)
      : dim_(dim), metric_(metric), space_(std::move(space)), hnsw_(std::move(hnsw)) {
    for (const auto& [label, id] : hnsw_->label_lookup_) NoteInternal(label, id);
  }

  std::string_view kind() const override { return "hnsw"; }
  uint32_t dim() const override { return dim_; }

  Status Upsert(std::span<const uint64_t> labels, std::span<const float> vectors, unsigned threads) override {
    if (vectors.size() != labels.size() * dim_)
      return Status::InvalidArgument("HnswIndex::Upsert: vectors size does not match labels × dim");
    WriterLock lock(mu_);
    return UpsertLocked(labels, vectors, threads);
  }

  Status StageHidden(std::span<const uint64_t> labels, std::span<const float> vectors, unsigned threads) override {
    if (vectors.size() != labels.size() * dim_)
      return Status::InvalidArgument("HnswIndex::StageHidden: vectors size does not match labels × dim");
    WriterLock lock(mu_);
    for (uint64_t l : labels) {
      auto it = hnsw_->label_lookup_.find(l);
      if (it != hnsw_->label_lookup_.end() && !hnsw_->isMarkedDeleted(it->second))
        return Status::InvalidArgument("HnswIndex::StageHidden: label " + std::to_string(l) + " is live");
    }
    // hnswlib's construction never picks a deleted node as a neighbour, so while this
    // chunk goes in, the nodes staged before it are shown (no search runs: mu_ is held
    // exclusively), and the graph comes out as if the batch had been inserted in one go.
    SetStagedMarks(false);
    Status s = UpsertLocked(labels, vectors, threads);
    for (uint64_t l : labels) SetHidden(l, hnsw_->label_lookup_.count(l) != 0);
    // Everything staged is hidden again before the lock is released, even after an error.
    SetStagedMarks(true);
    return s;
  }

  Status Reveal(std::span<const uint64_t> labels) override {
    WriterLock lock(mu_);
    for (uint64_t l : labels) {
      if (!IsHidden(l)) continue;
      SetHidden(l, false);
      auto it = hnsw_->label_lookup_.find(l);
      if (it != hnsw_->label_lookup_.end() && hnsw_->isMarkedDeleted(it->second))
        hnsw_->unmarkDeletedInternal(it->second);
    }
    CompactStaged();
    return Status::OK();
  }

 private:
  Status UpsertLocked(std::span<const uint64_t> labels, std::span<const float> vectors, unsigned threads)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t fresh = 0;
    for (uint64_t l : labels) fresh += hnsw_->label_lookup_.count(l) == 0;
    size_t need = hnsw_->cur_element_count + fresh;
    if (need > hnsw_->max_elements_) {
      size_t grown = std::max<size_t>(need, hnsw_->max_elements_ + hnsw_->max_elements_ / 2 + 1024);
      try {
        hnsw_->resizeIndex(grown);
      } catch (const std::exception& e) {
        return Status::ResourceExhausted(std::string("growing HNSW index: ") + e.what());
      }
    }
    // Labels already in the graph (replacements, and reused slots of deleted points) go
    // one at a time: hnswlib 0.6.2's update path (unmarkDeletedInternal's unlocked
    // num_deleted_, updatePoint's neighbour repair) races with itself and with inserts
    // (found by ThreadSanitizer). New labels then go in parallel.
    std::vector<size_t> fresh_rows;
    fresh_rows.reserve(labels.size());
    std::mutex err_mu;
    Status first_error;
    // The workers below insert while this thread holds mu_ for them.
    hnswlib::HierarchicalNSW<float>& graph = *hnsw_;
    auto add = [&](size_t i) {
      try {
        graph.addPoint(vectors.data() + i * dim_, labels[i]);
      } catch (const std::exception& e) {
        std::lock_guard g(err_mu);
        if (first_error.ok()) first_error = Status::Internal(std::string("hnswlib addPoint: ") + e.what());
      }
    };
    for (size_t i = 0; i < labels.size(); ++i) {
      if (hnsw_->label_lookup_.count(labels[i])) add(i);
      else fresh_rows.push_back(i);
    }
    // hnswlib's addPoint of new labels is safe to call concurrently (per-node locks).
    ParallelFor(fresh_rows.size(), fresh_rows.size() < 64 ? 1 : threads, [&](size_t j) { add(fresh_rows[j]); });
    for (uint64_t l : labels) {
      SetHidden(l, false);  // addPoint made it visible
      auto it = hnsw_->label_lookup_.find(l);
      if (it != hnsw_->label_lookup_.end()) NoteInternal(l, it->second);
    }
    return first_error;
  }

 public:
  Status Remove(std::span<const uint64_t> labels) override {
    WriterLock lock(mu_);
    for (uint64_t l : labels) {
      SetHidden(l, false);  // a hidden label that is removed stays deleted, as a free slot
      auto it = hnsw_->label_lookup_.find(l);
      if (it == hnsw_->label_lookup_.end() || hnsw_->isMarkedDeleted(it->second)) continue;
      hnsw_->markDeletedInternal(it->second);
    }
    return Status::OK();
  }

  std::vector<Neighbor> Search(std::span<const float> query, size_t k,
                               const IndexSearchOptions& options) const override {
    ReaderLock lock(mu_);
    if (options.exact) return SearchExact(query.data(), k, options.filter);
    auto& h = *hnsw_;
    if (h.cur_element_count == 0 || k == 0) return {};
    // Greedy descent through the upper layers, as hnswlib's searchKnn does, but with a
    // per-query ef passed down instead of the shared ef_ member (which would race).
    hnswlib::tableint cur = h.enterpoint_node_;
    float cur_dist = h.fstdistfunc_(query.data(), h.getDataByInternalId(cur), h.dist_func_param_);
    for (int level = h.maxlevel_; level > 0; --level) {
      bool changed = true;
      while (changed) {
        changed = false;
        auto* data = reinterpret_cast<unsigned int*>(h.get_linklist(cur, level));
        int size = h.getListCount(data);
        auto* links = reinterpret_cast<hnswlib::tableint*>(data + 1);
        for (int i = 0; i < size; ++i) {
          float d = h.fstdistfunc_(query.data(), h.getDataByInternalId(links[i]), h.dist_func_param_);
          if (d < cur_dist) {
            cur_dist = d;
            cur = links[i];
            changed = true;
          }
        }
      }
    }
    size_t ef = std::max(options.ef, k);
    if (options.filter) return SearchFiltered(cur, query.data(), k, ef, *options.filter, options.two_hop);
    auto top = h.num_deleted_ ? h.searchBaseLayerST<true>(cur, query.data(), ef)
                              : h.searchBaseLayerST<false>(cur, query.data(), ef);
    while (top.size() > k) top.pop();
    std::vector<Neighbor> out(top.size());
    for (size_t i = out.size(); i-- > 0;) {
      out[i] = Neighbor{h.getExternalLabel(top.top().second), top.top().first};
      top.pop();
    }
    return out;
  }

  std::vector<Neighbor> SearchAmong(std::span<const float> query, size_t k,
                                    std::span<const uint32_t> labels) const override {
    ReaderLock lock(mu_);
    const auto& h = *hnsw_;
    TopK top(k);
    // label -> internal id through the dense array: a hash lookup per label would cost
    // more than the distance itself.
    for (uint32_t label : labels) {
      if (label >= int_of_.size()) continue;
      hnswlib::tableint id = int_of_[label];
      if (id == kNoInternal || h.isMarkedDeleted(id)) continue;
      top.Push(label, h.fstdistfunc_(query.data(), h.getDataByInternalId(id), h.dist_func_param_));
    }
    return top.Take();
  }

  size_t size() const override {
    ReaderLock lock(mu_);
    return hnsw_->cur_element_count - hnsw_->num_deleted_;
  }
  size_t deleted_slots() const override {
    ReaderLock lock(mu_);
    return hnsw_->num_deleted_ - hidden_count_;
  }
  size_t slots() const override {
    ReaderLock lock(mu_);
    return hnsw_->cur_element_count;
  }
  size_t memory_bytes() const override {
    ReaderLock lock(mu_);
    const auto& h = *hnsw_;
    size_t bytes = h.max_elements_ * (h.size_data_per_element_ + sizeof(void*) + sizeof(int) + sizeof(std::mutex));
    for (size_t i = 0; i < h.cur_element_count; ++i)
      if (h.element_levels_[i] > 0) bytes += h.size_links_per_element_ * static_cast<size_t>(h.element_levels_[i]);
    bytes += h.label_lookup_.size() * 40;  // unordered_map node + bucket, approximately
    return bytes;
  }

  Status Save(const std::string& path) const override {
    ReaderLock lock(mu_);
    const auto& h = *hnsw_;
    // The size hnswlib's saveIndex must produce; it does not check its stream, so a
    // short write (full disk) is caught here instead.
    uint64_t expected = 10 * sizeof(size_t) + sizeof(int) + sizeof(hnswlib::tableint) + sizeof(double);
    expected += h.cur_element_count * h.size_data_per_element_;
    for (size_t i = 0; i < h.cur_element_count; ++i)
      expected += sizeof(unsigned) + (h.element_levels_[i] > 0 ? h.size_links_per_element_ * h.element_levels_[i] : 0);
    try {
      hnsw_->saveIndex(path);
    } catch (const std::exception& e) {
      return Status::IOError("saving HNSW index to " + path + ": " + e.what());
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != expected)
      return Status::IOError("saving HNSW index to " + path + ": short write (disk full?)");
    return Status::OK();
  }

 private:
  std::vector<Neighbor> SearchExact(const float* q, size_t k, const LabelFilter* filter) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const auto& h = *hnsw_;
    TopK top(k);
    for (hnswlib::tableint i = 0; i < h.cur_element_count; ++i) {
      if (h.isMarkedDeleted(i)) continue;
      if (filter && !filter->Allows(h.getExternalLabel(i))) continue;
      top.Push(h.getExternalLabel(i), h.fstdistfunc_(q, h.getDataByInternalId(i), h.dist_func_param_));
    }
    return top.Take();
  }

  // Base-layer search that returns only nodes `filter` allows but walks through the
  // others: rejected nodes enter the candidate queue (so the frontier keeps moving
  // through regions where few nodes pass) but never the results. The search stops when
  // ef allowed nodes are held and no candidate is nearer than the farthest of them, or
  // when the reachable graph is exhausted. With `two_hop`, the neighbours of a rejected
  // neighbour are examined at once, so allowed nodes two hops away are found without
  // waiting for the rejected node to reach the front of the queue.
  std::vector<Neighbor> SearchFiltered(hnswlib::tableint entry, const float* q, size_t k, size_t ef,
                                       const LabelFilter& filter, bool two_hop) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    auto& h = *hnsw_;
    using Pair = std::pair<float, hnswlib::tableint>;
    struct Far {  // max-heap on distance
      bool operator()(const Pair& a, const Pair& b) const { return a.first < b.first; }
    };
    struct Near {  // min-heap on distance
      bool operator()(const Pair& a, const Pair& b) const { return a.first > b.first; }
    };
    std::priority_queue<Pair, std::vector<Pair>, Far> results;
    std::priority_queue<Pair, std::vector<Pair>, Near> frontier;
    hnswlib::VisitedList* vl = h.visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type* visited = vl->mass;
    const hnswlib::vl_type tag = vl->curV;

    // The allowed set as a bit mask over internal ids, so that testing a neighbour
    // (and a two-hop neighbour) touches a small array instead of the node's memory.
    std::vector<uint64_t> mask((h.cur_element_count + 63) / 64);
    for (uint32_t label : filter.AllowedLabels()) {
      if (label >= int_of_.size()) continue;
      hnswlib::tableint id = int_of_[label];
      if (id != kNoInternal && id < h.cur_element_count) mask[id >> 6] |= uint64_t{1} << (id & 63);
    }
    auto allowed = [&](hnswlib::tableint id) { return ((mask[id >> 6] >> (id & 63)) & 1) && !h.isMarkedDeleted(id); };
    auto bound = [&] { return results.size() < ef ? std::numeric_limits<float>::infinity() : results.top().first; };
    auto offer = [&](hnswlib::tableint id, float d) {  // an allowed node
      if (d < bound()) {
        frontier.emplace(d, id);
        results.emplace(d, id);
        if (results.size() > ef) results.pop();
      }
    };
    auto dist = [&](hnswlib::tableint id) { return h.fstdistfunc_(q, h.getDataByInternalId(id), h.dist_func_param_); };

    visited[entry] = tag;
    float d0 = dist(entry);
    frontier.emplace(d0, entry);
    if (allowed(entry)) results.emplace(d0, entry);

    while (!frontier.empty()) {
      auto [d, cur] = frontier.top();
      if (d > bound()) break;
      frontier.pop();
      auto* ll = h.get_linklist0(cur);
      int n = h.getListCount(ll);
      auto* links = reinterpret_cast<hnswlib::tableint*>(ll + 1);
      for (int i = 0; i < n; ++i) {
        hnswlib::tableint nb = links[i];
        if (visited[nb] == tag) continue;
        if (allowed(nb)) {
          visited[nb] = tag;
          offer(nb, dist(nb));
          continue;
        }
        visited[nb] = tag;
        float dn = dist(nb);
        if (dn < bound()) frontier.emplace(dn, nb);
        if (!two_hop) continue;
        auto* ll2 = h.get_linklist0(nb);
        int n2 = h.getListCount(ll2);
        auto* links2 = reinterpret_cast<hnswlib::tableint*>(ll2 + 1);
        for (int j = 0; j < n2; ++j) {
          hnswlib::tableint nb2 = links2[j];
          // Only allowed nodes are claimed here; a rejected one keeps its chance to be
          // walked through when it is met directly.
          if (visited[nb2] == tag || !allowed(nb2)) continue;
          visited[nb2] = tag;
          offer(nb2, dist(nb2));
        }
      }
    }
    h.visited_list_pool_->releaseVisitedList(vl);
    while (results.size() > k) results.pop();
    std::vector<Neighbor> out(results.size());
    for (size_t i = out.size(); i-- > 0;) {
      out[i] = Neighbor{h.getExternalLabel(results.top().second), results.top().first};
      results.pop();
    }
    return out;
  }

  bool IsHidden(uint64_t label) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return label < hidden_.size() && hidden_[label];
  }
  void SetHidden(uint64_t label, bool on) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (IsHidden(label) == on) return;
    if (on && label >= hidden_.size()) hidden_.resize(label + 1 + label / 8, false);
    hidden_[label] = on;
    if (on) {
      ++hidden_count_;
      staged_.push_back(label);
    } else {
      --hidden_count_;
    }
  }
  // Sets (true) or clears (false) the delete mark of every hidden node.
  // Costs one flag per hidden node: the caller keeps chunks at least 1/32 of what is
  // hidden, so this stays small next to the inserts.
  void SetStagedMarks(bool hidden) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    CompactStaged();
    for (uint64_t l : staged_) {
      if (l >= int_of_.size() || int_of_[l] == kNoInternal) continue;
      hnswlib::tableint id = int_of_[l];
      if (hidden && !hnsw_->isMarkedDeleted(id)) hnsw_->markDeletedInternal(id);
      if (!hidden && hnsw_->isMarkedDeleted(id)) hnsw_->unmarkDeletedInternal(id);
    }
  }
  // Drops labels that are no longer hidden from staged_ (duplicates are harmless).
  void CompactStaged() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t kept = 0;
    for (uint64_t l : staged_)
      if (IsHidden(l)) staged_[kept++] = l;
    staged_.resize(kept);
  }

  static constexpr hnswlib::tableint kNoInternal = std::numeric_limits<hnswlib::tableint>::max();
  // Exclusive lock, or construction.
  void NoteInternal(uint64_t label, hnswlib::tableint id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (label >= (uint64_t{1} << 32)) return;  // Shards never use such labels.
    if (label >= int_of_.size()) int_of_.resize(label + 1 + label / 8, kNoInternal);
    int_of_[label] = id;
  }

  const uint32_t dim_;
  const Metric metric_;
  // Shared: searches, reads, Save. Exclusive: every change (and hnswlib's setEf,
  // resizeIndex, which must not overlap a search).
  mutable SharedMutex mu_;
  std::vector<hnswlib::tableint> int_of_ ABSL_GUARDED_BY(mu_);  // label -> hnswlib internal id
  std::vector<bool> hidden_ ABSL_GUARDED_BY(mu_);               // labels staged by StageHidden
  std::vector<uint64_t> staged_ ABSL_GUARDED_BY(mu_);           // the hidden labels (maybe stale)
  size_t hidden_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  // The graph: read under the shared lock, changed under the exclusive one (hnswlib's
  // own per-node locks let parallel addPoint calls share that exclusive hold).
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<HnswIndex> NewHnswIndexImpl(uint32_t dim, Metric metric, const HnswParams& params,
                                            size_t capacity) {
  auto space = MakeSpace(metric, dim);
  auto hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), std::max<size_t>(capacity, 16),
                                                                 params.m, params.ef_construction, params.seed);
  return std::make_unique<HnswIndexImpl>(dim, metric, std::move(space), std::move(hnsw));
}

std::unique_ptr<Index> NewHnswIndex(uint32_t dim, Metric metric, const HnswParams& params, size_t capacity) {
  return NewHnswIndexImpl(dim, metric, params, capacity);
}

Result<std::unique_ptr<HnswIndex>> LoadHnswIndex(const std::string& path, uint32_t dim, Metric metric,
                                                 const HnswParams&) {
  auto space = MakeSpace(metric, dim);
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
  try {
    hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), path);
  } catch (const std::exception& e) {
    return Status::Corruption("loading HNSW index " + path + ": " + e.what());
  }
  // data_size_ comes from the space we passed; the file's own layout says what it holds.
  if (hnsw->label_offset_ - hnsw->offsetData_ != dim * sizeof(float))
    return Status::Corruption("HNSW index " + path + " has the wrong dimension");
  // hnswlib 0.6.2's loading constructor never initialises num_deleted_ before loadIndex
  // adds the marked slots to it; recount from the delete marks.
  hnsw->num_deleted_ = 0;
  for (size_t i = 0; i < hnsw->cur_element_count; ++i)
    if (hnsw->isMarkedDeleted(static_cast<hnswlib::tableint>(i))) ++hnsw->num_deleted_;
  return std::unique_ptr<HnswIndex>(
      std::make_unique<HnswIndexImpl>(dim, metric, std::move(space), std::move(hnsw)));
}

}  // namespace vectron
