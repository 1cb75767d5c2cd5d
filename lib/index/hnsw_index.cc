#include "index/hnsw_index.h"

#include <hnswlib/hnswlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <queue>
#include <utility>

#include "index/batch_scan.h"
#include "index/graph_search.h"
#include "index/huge_pages.h"
#include "index/kernels.h"
#include "index/sq8.h"
#include "index/top_k.h"
#include "util/mutex.h"
#include "util/parallel.h"

namespace vectron {
namespace {

// hnswlib's space interface over our dispatched kernels (hnswlib's own spaces choose
// their SIMD code at compile time, and the library is built for baseline x86-64).
class KernelSpace final : public hnswlib::SpaceInterface<float> {
 public:
  KernelSpace(Metric metric, uint32_t dim)
      : dim_(dim),
        // kIP, and kCosine on unit vectors, use hnswlib's 1 - dot.
        func_(metric == Metric::kL2 ? ActiveKernels().l2_sqr_hnsw : ActiveKernels().ip_distance_hnsw) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return func_; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  size_t dim_;
  hnswlib::DISTFUNC<float> func_;
};

std::unique_ptr<hnswlib::SpaceInterface<float>> MakeSpace(Metric metric, uint32_t dim) {
  return std::make_unique<KernelSpace>(metric, dim);
}

class HnswIndexImpl final : public HnswIndex {
 public:
  HnswIndexImpl(uint32_t dim, Metric metric, Quantization quantization,
                std::unique_ptr<hnswlib::SpaceInterface<float>> space,
                std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw, bool level0_relocated = false)
      : dim_(dim), metric_(metric), space_(std::move(space)), hnsw_(std::move(hnsw)) {
    for (const auto& [label, id] : hnsw_->label_lookup_) NoteInternal(label, id);
    Publish();
    // (Fresh memory is expensive to fault in on some VMs: a clone allocates its base layer
    // where RelocateLevel0 would put it, once.)
    if (!level0_relocated) RelocateLevel0();
    if (quantization == Quantization::kSq8) {
      sq8_ = std::make_unique<Sq8Codec>(dim, metric == Metric::kL2);
      codes_ = AlignedRows(sq8_->code_bytes());
      // Codes are not saved with the graph: a loaded graph gets them here.
      if (!Retrain()) throw std::bad_alloc();
    }
  }

  std::string_view kind() const override { return "hnsw"; }
  uint32_t dim() const override { return dim_; }

  Status Upsert(std::span<const uint64_t> labels, std::span<const float> vectors, unsigned threads) override {
    if (vectors.size() != labels.size() * dim_)
      return Status::InvalidArgument("HnswIndex::Upsert: vectors size does not match labels × dim");
    MutexLock w(write_mu_);
    // The points whose vectors change, by index (nothing else writes the graph while
    // write_mu_ is held, so the list stays true until UpsertLocked).
    std::vector<size_t> changed;
    size_t need;
    {
      ReaderLock lock(mu_);
      for (size_t i = 0; i < labels.size(); ++i)
        if (!Unchanged(labels[i], vectors.data() + i * dim_)) changed.push_back(i);
      need = hnsw_->cur_element_count + changed.size();
    }
    VECTRON_RETURN_IF_ERROR(Grow(need));
    Status s;
    {
      WriterLock lock(mu_);
      s = UpsertLocked(labels, vectors, changed, threads);
      UpdateCodes(labels);
      Publish();
    }
    MaybeRetrain();
    return s;
  }

  // Three steps, of which only the first and the last hold mu_ exclusively, briefly:
  // (1) make room for every new node (hnswlib cannot grow while searches run) and give
  // up the old slots of the labels (removed or staged before), so that every insert is
  // of a new label into a new slot, the case hnswlib's per-node locks make safe next to
  // searches; (2) insert, under the shared lock, while searches run (they copy link
  // lists under the same per-node locks, and skip the nodes in flight: ids ≥ limit_);
  // (3) publish the new nodes as hidden (their codes, label → id, hidden bits).
  Status StageHidden(std::span<const uint64_t> labels, std::span<const float> vectors, unsigned threads) override {
    if (vectors.size() != labels.size() * dim_)
      return Status::InvalidArgument("HnswIndex::StageHidden: vectors size does not match labels × dim");
    std::vector<uint64_t> sorted(labels.begin(), labels.end());
    std::sort(sorted.begin(), sorted.end());
    if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end())
      return Status::InvalidArgument("HnswIndex::StageHidden: label " + std::to_string(*dup) + " is repeated");
    MutexLock w(write_mu_);
    size_t need;
    {
      ReaderLock lock(mu_);
      for (uint64_t l : labels) {
        auto it = hnsw_->label_lookup_.find(l);
        if (it != hnsw_->label_lookup_.end() && !hnsw_->isMarkedDeleted(it->second) && !IsHidden(l))
          return Status::InvalidArgument("HnswIndex::StageHidden: label " + std::to_string(l) + " is live");
      }
      need = hnsw_->cur_element_count + labels.size();
    }
    VECTRON_RETURN_IF_ERROR(Grow(need));
    hnswlib::HierarchicalNSW<float>* graph = nullptr;
    {
      WriterLock lock(mu_);
      // A label that has a slot (a removed point's label, reused, or one staged before)
      // gets a new slot; the old one stays deleted until the next compaction. hnswlib's
      // in-place update is not safe next to searches or other inserts.
      for (uint64_t l : labels) RetireSlot(l);
      inserting_ = true;
      graph = hnsw_.get();
    }
    // hnswlib's state is written by the workers below (its own locks order them);
    // searches and this thread hold mu_ shared meanwhile.
    Status s;
    {
      ReaderLock lock(mu_);
      s = AddNew(*graph, labels, vectors, threads);
    }
    {
      WriterLock lock(mu_);
      inserting_ = false;
      const size_t first = limit_;
      Publish();
      for (size_t id = first; id < limit_; ++id) {
        const uint64_t l = hnsw_->getExternalLabel(static_cast<hnswlib::tableint>(id));
        NoteInternal(l, static_cast<hnswlib::tableint>(id));
        SetHidden(l, true);
      }
      UpdateCodes(labels);
    }
    MaybeRetrain();
    return s;
  }

  Status Reveal(std::span<const uint64_t> labels) override {
    MutexLock w(write_mu_);
    WriterLock lock(mu_);
    for (uint64_t l : labels) SetHidden(l, false);
    CompactStaged();
    return Status::OK();
  }

 private:
  // Grows the graph (and the codes) to hold `need` slots. The copies (base layer, codes,
  // per-node locks) are made under the shared lock, beside the searches: nothing else
  // changes the graph meanwhile (write_mu_). Only the swap holds mu_ exclusively.
  Status Grow(size_t need) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) ABSL_LOCKS_EXCLUDED(mu_) {
    if (need > kMaxElements)
      return Status::ResourceExhausted("HNSW index: more than " + std::to_string(kMaxElements) + " slots");
    size_t grown = 0, stride = 0, count = 0;
    char* level0 = nullptr;
    std::vector<std::mutex> locks;
    std::vector<int> levels;
    AlignedRows codes(sq8_ ? sq8_->code_bytes() : 0);
    {
      ReaderLock lock(mu_);
      const auto& h = *hnsw_;
      if (need <= h.max_elements_) return Status::OK();
      grown = std::min(kMaxElements, std::max<size_t>(need, h.max_elements_ + h.max_elements_ / 2 + 1024));
      stride = h.size_data_per_element_;
      count = h.cur_element_count;
      level0 = static_cast<char*>(AllocateHugePageable(grown * stride));
      const auto no_memory = [&](const char* what) {
        std::free(level0);
        return Status::ResourceExhausted("growing HNSW index to " + std::to_string(grown) + " slots: no memory for " + what);
      };
      if (!level0) return no_memory("the base layer");
      // Room for the codes of every slot before any point goes in: a search must find a
      // code for each published node it reaches.
      if (sq8_) {
        if (!codes.Reserve(grown)) return no_memory("the sq8 codes");
        if (codes_.rows()) std::memcpy(codes.row(0), codes_.row(0), codes_.rows() * codes_.row_bytes());
      }
      try {
        std::vector<std::mutex>(grown).swap(locks);
        levels.reserve(grown);
        levels.assign(h.element_levels_.begin(), h.element_levels_.end());
        levels.resize(grown, 0);
      } catch (const std::bad_alloc&) {
        return no_memory("the per-node locks");
      }
      std::memcpy(level0, h.data_level0_memory_, count * stride);
    }
    // What the swap below replaces is freed after the exclusive lock is released: giving
    // tens of MB back to the kernel (munmap) takes milliseconds, which every search
    // would otherwise wait for.
    hnswlib::VisitedListPool* old_pool = nullptr;
    char* old_level0 = nullptr;
    {
      WriterLock lock(mu_);
      auto& h = *hnsw_;
      auto* links = static_cast<char**>(std::realloc(h.linkLists_, sizeof(void*) * grown));
      auto* pool = new (std::nothrow) hnswlib::VisitedListPool(1, static_cast<int>(grown));
      if (!links || !pool) {
        delete pool;
        std::free(level0);
        return Status::ResourceExhausted("growing HNSW index to " + std::to_string(grown) + " slots: no memory");
      }
      // hnswlib's resizeIndex, without its copies (made above).
      h.linkLists_ = links;
      old_pool = std::exchange(h.visited_list_pool_, pool);
      h.element_levels_.swap(levels);
      h.link_list_locks_.swap(locks);
      old_level0 = std::exchange(h.data_level0_memory_, level0);
      h.max_elements_ = grown;
      if (sq8_) std::swap(codes_, codes);
    }
    delete old_pool;
    std::free(old_level0);
    return Status::OK();
  }

  // Inserts labels that hnswlib does not know, in parallel. hnswlib's addPoint of new
  // labels is safe to call concurrently (per-node locks), and next to our searches
  // (graph_search.h); REQUIRES: room for all of them (Grow).
  //
  // hnswlib 0.6.2's addPoint reads the entry point after releasing its `global` lock,
  // while an insert that raises the top level writes it under that lock: a data race
  // between parallel inserts (found by ThreadSanitizer). So no parallel insert may
  // raise the top level. The levels are drawn here first, single-threaded, from
  // hnswlib's own generator and distribution; the points that raise the top level go in
  // one at a time, the rest in parallel with their level given (level 0 is forced by
  // drawing with mult_ 0, since addPoint takes only a positive level as given).
  static Status AddNew(hnswlib::HierarchicalNSW<float>& graph, std::span<const uint64_t> labels,
                       std::span<const float> vectors, unsigned threads) {
    const size_t n = labels.size(), dim = n == 0 ? 0 : vectors.size() / n;
    std::mutex err_mu;
    Status first_error;
    auto add = [&](size_t i, int level) {
      try {
        graph.addPoint(vectors.data() + i * dim, labels[i], level);
      } catch (const std::exception& e) {
        std::lock_guard g(err_mu);
        if (first_error.ok()) first_error = Status::Internal(std::string("hnswlib addPoint: ") + e.what());
      }
    };
    if (n < 64 || ResolveThreads(threads) <= 1) {
      for (size_t i = 0; i < n; ++i) add(i, -1);  // hnswlib draws the level
      return first_error;
    }
    std::vector<int> levels(n);
    for (size_t i = 0; i < n; ++i) levels[i] = graph.getRandomLevel(graph.mult_);
    const double mult = graph.mult_;
    graph.mult_ = 0;  // a drawn level is then 0: only what `levels` says counts
    int top = graph.cur_element_count ? graph.maxlevel_ : -1;
    std::vector<size_t> rest;
    rest.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (levels[i] > top) {
        add(i, levels[i]);  // raises the top level: alone
        top = levels[i];
      } else {
        rest.push_back(i);
      }
    }
    ParallelFor(rest.size(), threads, [&](size_t j) { add(rest[j], levels[rest[j]]); });
    graph.mult_ = mult;
    return first_error;
  }

  // Makes every slot hnswlib holds published: ids below limit_ have their codes, their
  // label → id and their hidden bits. Exclusive lock, after the change.
  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++map_epoch_;
    limit_ = hnsw_->cur_element_count;
    hidden_bits_.resize((limit_ + 63) / 64, 0);
  }

  // True if `label` is live in the graph with exactly this vector: an overwrite that
  // changed only the metadata, which leaves the graph alone.
  bool Unchanged(uint64_t label, const float* vector) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    auto it = hnsw_->label_lookup_.find(label);
    return it != hnsw_->label_lookup_.end() && !hnsw_->isMarkedDeleted(it->second) && !IsHidden(label) &&
           std::memcmp(hnsw_->getDataByInternalId(it->second), vector, hnsw_->data_size_) == 0;
  }

  // Gives up the slot `label` has, if any: marked deleted (it keeps its links, so walks
  // still pass through it, until the next compaction), no longer found by label, and not
  // hidden. The label's next insert gets a new slot.
  void RetireSlot(uint64_t label) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = hnsw_->label_lookup_.find(label);
    if (it == hnsw_->label_lookup_.end()) return;
    SetHidden(label, false);
    if (!hnsw_->isMarkedDeleted(it->second)) hnsw_->markDeletedInternal(it->second);
    hnsw_->label_lookup_.erase(it);
  }

  // `changed`: the indices of the points that are not Unchanged, for which Grow has made room.
  Status UpsertLocked(std::span<const uint64_t> labels, std::span<const float> vectors,
                      std::span<const size_t> changed, unsigned threads) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // A label that has a slot already (a replaced vector, or a removed point's label
    // reused) gets a new slot, and the old one stays deleted until the next compaction,
    // as in StageHidden. hnswlib's in-place update (updatePoint) rewrites each neighbour's
    // links from the candidates around the point alone, and so can cut a node's last
    // links in: on clustered or nearly one-dimensional data, a few hundred updates left
    // points that only exact search could find (docs/durability.md, "Overwrites and the graph").
    std::vector<uint64_t> fresh_labels;
    std::vector<float> fresh_vectors;
    fresh_labels.reserve(changed.size());
    fresh_vectors.reserve(changed.size() * dim_);
    for (size_t i : changed) {
      const float* v = vectors.data() + i * dim_;
      RetireSlot(labels[i]);
      fresh_labels.push_back(labels[i]);
      fresh_vectors.insert(fresh_vectors.end(), v, v + dim_);
    }
    Status s = AddNew(*hnsw_, fresh_labels, fresh_vectors, threads);
    Publish();
    for (uint64_t l : labels) {
      auto it = hnsw_->label_lookup_.find(l);
      if (it != hnsw_->label_lookup_.end()) NoteInternal(l, it->second);
      SetHidden(l, false);  // addPoint made it visible
    }
    return s;
  }

  Status Remove(std::span<const uint64_t> labels) override {
    MutexLock w(write_mu_);
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
    if (limit_ == 0 || k == 0) return {};
    const GraphView g = View();
    const Kernels& kern = ActiveKernels();
    BaseSearchOptions bo;
    bo.ef = std::max(options.ef, k);
    std::shared_ptr<const std::vector<uint64_t>> mask;
    if (options.filter) {
      mask = CachedAllowedMask(*options.filter);
      bo.allowed = mask->data();
      bo.two_hop = options.two_hop;
      bo.max_distances = options.max_distances;
    }
    // Per-thread buffers, reached once per query (see ThreadSearchScratch).
    struct Buffers {
      std::vector<Candidate> found;
      Sq8Codec::Query prepared;
    };
    thread_local Buffers buffers;
    Buffers& b = buffers;
    SearchScratch& scratch = ThreadSearchScratch();
    std::vector<Candidate>& found = b.found;
    FloatDistance exact(g, query.data(), dim_, metric_ == Metric::kL2, kern);
    if (sq8_) {
      sq8_->Prepare(query.data(), &b.prepared);
      Sq8Distance approx(*sq8_, b.prepared, codes_, kern, exact, limit_);
      if (!SearchBase(g, approx, Descend(g, approx), bo, scratch, &found)) return {};
      Rescore(exact, &found);
    } else if (!SearchBase(g, exact, Descend(g, exact), bo, scratch, &found)) {
      return {};
    }
    std::vector<Neighbor> out(std::min(k, found.size()));
    for (size_t i = 0; i < out.size(); ++i) out[i] = Neighbor{g.Label(found[i].id), found[i].distance};
    return out;
  }

  std::vector<std::vector<Neighbor>> SearchBatch(std::span<const float> queries, size_t k,
                                                 const IndexSearchOptions& options) const override {
    if (!options.exact) return Index::SearchBatch(queries, k, options);
    ReaderLock lock(mu_);
    std::vector<uint32_t> ids;
    ExactScanIds(options.filter, &ids);
    const GraphView g = View();
    return BatchScan(
        queries, dim_, k, metric_ == Metric::kL2, ids.size(), [&](size_t r) { return g.Vector(ids[r]); },
        [&](size_t r) { return !g.Unreturnable(ids[r]); }, [&](size_t r) { return g.Label(ids[r]); });
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
      if (id == kNoInternal || id >= limit_ || h.isMarkedDeleted(id) || HiddenId(id)) continue;
      top.Push(label, h.fstdistfunc_(query.data(), h.getDataByInternalId(id), h.dist_func_param_));
    }
    return top.Take();
  }

  size_t size() const override {
    ReaderLock lock(mu_);
    return limit_ - hnsw_->num_deleted_ - hidden_count_;
  }
  size_t deleted_slots() const override {
    ReaderLock lock(mu_);
    return hnsw_->num_deleted_;
  }
  size_t slots() const override {
    ReaderLock lock(mu_);
    return limit_;
  }
  size_t memory_bytes() const override {
    ReaderLock lock(mu_);
    const auto& h = *hnsw_;
    size_t bytes = h.max_elements_ * (h.size_data_per_element_ + sizeof(void*) + sizeof(int) + sizeof(std::mutex));
    for (size_t i = 0; i < limit_; ++i)
      if (h.element_levels_[i] > 0) bytes += h.size_links_per_element_ * static_cast<size_t>(h.element_levels_[i]);
    bytes += limit_ * 40;  // label_lookup_: unordered_map node + bucket, approximately
    return bytes + codes_.memory_bytes() + hidden_bits_.capacity() * sizeof(uint64_t);
  }

  Result<std::unique_ptr<HnswIndex>> Clone(CloneRoom room) const override {
    MutexLock w(write_mu_);  // no insert runs while the graph is copied
    {
      ReaderLock lock(mu_);
      if (hidden_count_ == 0) return CloneLocked(room);
    }
    // Staged nodes go to the copy as deleted, as to a saved file.
    WriterLock lock(mu_);
    MarkStaged(true);
    auto c = CloneLocked(room);
    MarkStaged(false);
    return c;
  }

  size_t node_bytes() const override {
    ReaderLock lock(mu_);
    return hnsw_->size_data_per_element_;
  }

  Status Save(const std::string& path) const override {
    MutexLock w(write_mu_);  // no insert runs while the graph is written
    {
      ReaderLock lock(mu_);
      if (hidden_count_ == 0) return SaveLocked(path);
    }
    // Staged nodes go to the file as deleted (a reopen replays their batch from the
    // change log), so the graph is marked for the time of the save.
    WriterLock lock(mu_);
    MarkStaged(true);
    Status s = SaveLocked(path);
    MarkStaged(false);
    return s;
  }

 private:
  // What hnswlib's loadIndex does from a file, from this graph's memory instead.
  Result<std::unique_ptr<HnswIndex>> CloneLocked(CloneRoom& room) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const auto& h = *hnsw_;
    const size_t n = h.cur_element_count;
    const bool roomy = room.level0 && room.nodes >= n;
    const size_t max = roomy ? room.nodes : std::max<size_t>(n, 1);
    auto space = MakeSpace(metric_, dim_);
    auto no_memory = [] { return Status::ResourceExhausted("copying the HNSW graph: no memory"); };
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> c;
    try {
      // The empty constructor sets nothing: every field is set here, the pointers and the
      // count first so that the destructor is safe at any failure below.
      c = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get());
      c->cur_element_count = 0;
      c->data_level0_memory_ = nullptr;
      c->linkLists_ = nullptr;
      c->visited_list_pool_ = nullptr;
      c->max_elements_ = max;
      c->size_data_per_element_ = h.size_data_per_element_;
      c->size_links_per_element_ = h.size_links_per_element_;
      c->size_links_level0_ = h.size_links_level0_;
      c->num_deleted_ = h.num_deleted_;
      c->M_ = h.M_;
      c->maxM_ = h.maxM_;
      c->maxM0_ = h.maxM0_;
      c->ef_construction_ = h.ef_construction_;
      c->ef_ = h.ef_;
      c->mult_ = h.mult_;
      c->revSize_ = h.revSize_;
      c->maxlevel_ = h.maxlevel_;
      c->enterpoint_node_ = h.enterpoint_node_;
      c->offsetData_ = h.offsetData_;
      c->offsetLevel0_ = h.offsetLevel0_;
      c->label_offset_ = h.label_offset_;
      c->data_size_ = space->get_data_size();
      c->fstdistfunc_ = space->get_dist_func();
      c->dist_func_param_ = space->get_dist_func_param();
      c->level_generator_ = h.level_generator_;
      c->update_probability_generator_ = h.update_probability_generator_;
      c->metric_distance_computations = 0;
      c->metric_hops = 0;
      if (roomy) c->link_list_locks_.swap(room.link_locks);
      else std::vector<std::mutex>(max).swap(c->link_list_locks_);
      std::vector<std::mutex>(h.link_list_update_locks_.size()).swap(c->link_list_update_locks_);
      c->element_levels_.assign(h.element_levels_.begin(), h.element_levels_.begin() + static_cast<std::ptrdiff_t>(n));
      c->element_levels_.resize(max, 0);
      c->label_lookup_ = h.label_lookup_;
      c->visited_list_pool_ = new hnswlib::VisitedListPool(1, static_cast<int>(max));
    } catch (const std::bad_alloc&) {
      return no_memory();
    }
    c->data_level0_memory_ =
        roomy ? room.level0.release() : static_cast<char*>(AllocateHugePageableLater(max * h.size_data_per_element_));
    c->linkLists_ = static_cast<char**>(std::calloc(max, sizeof(char*)));
    if (!c->data_level0_memory_ || !c->linkLists_) return no_memory();
    std::memcpy(c->data_level0_memory_, h.data_level0_memory_, n * h.size_data_per_element_);
    AdviseHugePages(c->data_level0_memory_, max * h.size_data_per_element_);
    // Set as they are copied: the destructor frees the upper levels of the first
    // cur_element_count nodes.
    for (size_t i = 0; i < n; ++i) {
      c->cur_element_count = i;
      if (h.element_levels_[i] <= 0) continue;
      const size_t bytes = h.size_links_per_element_ * static_cast<size_t>(h.element_levels_[i]);
      auto* links = static_cast<char*>(std::malloc(bytes + 1));
      if (!links) {
        c->element_levels_[i] = 0;
        return no_memory();
      }
      std::memcpy(links, h.linkLists_[i], bytes);
      c->linkLists_[i] = links;
    }
    c->cur_element_count = n;
    std::unique_ptr<HnswIndexImpl> clone;
    try {
      clone = std::make_unique<HnswIndexImpl>(dim_, metric_, Quantization::kNone, std::move(space), std::move(c),
                                              /*level0_relocated=*/true);
    } catch (const std::bad_alloc&) {
      return no_memory();
    }
    if (sq8_) {
      // The ranges and codes are copied, not learnt and encoded again.
      WriterLock lock(clone->mu_);
      clone->sq8_ = std::make_unique<Sq8Codec>(*sq8_);
      clone->codes_ = AlignedRows(sq8_->code_bytes());
      if (!clone->codes_.Reserve(clone->hnsw_->max_elements_)) return no_memory();
      if (n) std::memcpy(clone->codes_.row(0), codes_.row(0), n * codes_.row_bytes());
      clone->trained_on_ = trained_on_;
    }
    return std::unique_ptr<HnswIndex>(std::move(clone));
  }

  Status SaveLocked(const std::string& path) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
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
    if (k == 0 || limit_ == 0) return {};
    thread_local std::vector<uint32_t> ids;
    ExactScanIds(filter, &ids);
    const GraphView g = View();
    const FloatDistance dist(g, q, dim_, metric_ == Metric::kL2, ActiveKernels());
    constexpr size_t kAhead = 8;
    for (size_t j = 0; j < std::min(kAhead, ids.size()); ++j) dist.Prefetch(ids[j]);
    TopK top(k);
    for (size_t j = 0; j < ids.size(); ++j) {
      if (j + kAhead < ids.size()) dist.Prefetch(ids[j + kAhead]);
      const uint32_t id = ids[j];
      const float d = dist(id);
      // The delete mark and the label sit on other cache lines: read them only for a
      // candidate that would enter the top k.
      if (!top.Accepts(d) || g.Unreturnable(id)) continue;
      top.Push(g.Label(id), d);
    }
    return top.Take();
  }

  // The ids an exact search compares, in memory order, so that the vectors stream in:
  // every published id, or with a filter the set bits of its mask over internal ids.
  void ExactScanIds(const LabelFilter* filter, std::vector<uint32_t>* ids) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    ids->clear();
    if (filter) {
      const auto mask = CachedAllowedMask(*filter);
      for (size_t w = 0; w < mask->size(); ++w)
        for (uint64_t bits = (*mask)[w]; bits; bits &= bits - 1)
          ids->push_back(static_cast<uint32_t>(w * 64 + static_cast<size_t>(std::countr_zero(bits))));
    } else {
      ids->resize(limit_);
      for (uint32_t i = 0; i < limit_; ++i) (*ids)[i] = i;
    }
  }

  // hnswlib's memory as the search code reads it.
  GraphView View() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const auto& h = *hnsw_;
    GraphView g;
    g.level0 = h.data_level0_memory_;
    g.stride = h.size_data_per_element_;
    g.data_offset = h.offsetData_;
    g.label_offset = h.label_offset_;
    g.upper = h.linkLists_;
    g.upper_stride = h.size_links_per_element_;
    g.any_deleted = h.num_deleted_ > 0;
    g.visible = limit_;
    g.hidden = hidden_count_ ? hidden_bits_.data() : nullptr;
    if (!inserting_) {
      g.entry = h.enterpoint_node_;
      g.max_level = h.maxlevel_;
      g.count = h.cur_element_count;
      return g;
    }
    // Inserts run: addPoint changes the entry point under hnswlib's `global` lock, and
    // may write any id below max_elements_ (which cannot change: growing needs mu_).
    {
      std::lock_guard entry_lock(hnsw_->global);
      g.entry = h.enterpoint_node_;
      g.max_level = h.maxlevel_;
    }
    g.count = h.max_elements_;
    g.locks = hnsw_->link_list_locks_.data();
    return g;
  }

  // The allowed set as a bit mask over internal ids, so that testing a neighbour (and a
  // two-hop neighbour) touches a small array instead of the node's memory.
  // AllowedMask, reused while label → id stays as it was when the mask was made, for
  // filters with a cache token: building it walks every allowed label, which at mid
  // selectivity costs more than the search itself.
  std::shared_ptr<const std::vector<uint64_t>> CachedAllowedMask(const LabelFilter& filter) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) ABSL_LOCKS_EXCLUDED(mask_mu_) {
    const uint64_t token = filter.cache_token();
    if (token != 0) {
      MutexLock g(mask_mu_);
      for (const auto& m : masks_)
        if (m.token == token && m.epoch == map_epoch_) return m.mask;
    }
    auto mask = std::make_shared<const std::vector<uint64_t>>(AllowedMask(filter));
    if (token != 0) {
      MutexLock g(mask_mu_);
      masks_.push_front(CachedMask{token, map_epoch_, mask});
      if (masks_.size() > kCachedMasks) masks_.pop_back();
    }
    return mask;
  }

  std::vector<uint64_t> AllowedMask(const LabelFilter& filter) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const size_t n = limit_;
    std::vector<uint64_t> mask((n + 63) / 64);
    for (uint32_t label : filter.AllowedLabels()) {
      if (label >= int_of_.size()) continue;
      hnswlib::tableint id = int_of_[label];
      if (id != kNoInternal && id < n) mask[id >> 6] |= uint64_t{1} << (id & 63);
    }
    return mask;
  }

  // Replaces the approximate distances of the best candidates by exact ones and sorts
  // them. All ef candidates are rescored: the true neighbours can sit anywhere in the
  // beam when codes tie or err, and a rescore costs one float distance each.
  static void Rescore(const FloatDistance& exact, std::vector<Candidate>* found) {
    constexpr size_t kAhead = 8;
    auto& f = *found;
    for (size_t i = 0; i < std::min(kAhead, f.size()); ++i) exact.Prefetch(f[i].id);
    for (size_t i = 0; i < f.size(); ++i) {
      if (i + kAhead < f.size()) exact.Prefetch(f[i + kAhead].id);
      f[i].distance = exact(f[i].id);
    }
    std::sort(f.begin(), f.end(), [](const Candidate& a, const Candidate& b) {
      return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
    });
  }

  // Moves hnswlib's base layer (links, vectors and labels of every node: what a search
  // touches) to memory backed by huge pages (huge_pages.h). hnswlib keeps using it:
  // it is malloc-compatible, so hnswlib's realloc and free accept it. Keeps the old
  // memory if the new cannot be had.
  // Exclusive lock, or construction.
  void RelocateLevel0() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto& h = *hnsw_;
    void* p = AllocateHugePageable(h.max_elements_ * h.size_data_per_element_);
    if (!p) return;
    std::memcpy(p, h.data_level0_memory_, h.cur_element_count * h.size_data_per_element_);
    std::free(h.data_level0_memory_);
    h.data_level0_memory_ = static_cast<char*>(p);
  }

  // Trains `codec` on the vectors of the first `count` slots of `h` and encodes them into
  // `codes`; false, changing neither, if there is no memory for `codes` to hold every slot.
  static bool TrainInto(const hnswlib::HierarchicalNSW<float>& h, size_t count, Sq8Codec& codec, AlignedRows& codes) {
    if (!codes.Reserve(h.max_elements_)) return false;
    std::vector<const float*> rows(count);
    for (size_t i = 0; i < rows.size(); ++i)
      rows[i] = reinterpret_cast<const float*>(h.getDataByInternalId(static_cast<hnswlib::tableint>(i)));
    codec.Train(rows);
    for (size_t i = 0; i < rows.size(); ++i) codec.Encode(rows[i], codes.row(i));
    return true;
  }

  // Learns the Sq8 ranges from every vector in the graph and encodes them all (at
  // construction, where this is the codes' first allocation). Construction only; sq8_ set.
  [[nodiscard]] bool Retrain() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!TrainInto(*hnsw_, hnsw_->cur_element_count, *sq8_, codes_)) return false;
    trained_on_ = hnsw_->cur_element_count;
    return true;
  }

  // Retrains the sq8 ranges and re-encodes every slot once the graph has doubled since
  // the last training, so that the ranges follow the data while it is small, until
  // kRetrainUntil slots. The new ranges and codes are built beside the searches (shared
  // lock; write_mu_ keeps the graph as it is) and only swapped in under the exclusive
  // lock; the old ones are freed after it. Holding mu_ exclusively for the re-encoding
  // stalled every search for 20 ms at 2^15 slots of 128 dims. A failed allocation keeps
  // the old ranges: every slot in use already has its code.
  void MaybeRetrain() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) ABSL_LOCKS_EXCLUDED(mu_) {
    if (!sq8_) return;
    std::unique_ptr<Sq8Codec> codec;
    AlignedRows codes(sq8_->code_bytes());
    size_t count;
    {
      ReaderLock lock(mu_);
      const auto& h = *hnsw_;
      count = h.cur_element_count;
      if (trained_on_ >= kRetrainUntil || count < 2 * trained_on_) return;
      codec = std::make_unique<Sq8Codec>(dim_, metric_ == Metric::kL2);
      if (!TrainInto(h, count, *codec, codes)) return;
    }
    {
      WriterLock lock(mu_);
      std::swap(sq8_, codec);
      std::swap(codes_, codes);
      trained_on_ = count;
    }
  }

  // Encodes the vectors of `labels` after an insert (with the current ranges; MaybeRetrain
  // follows).
  void UpdateCodes(std::span<const uint64_t> labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!sq8_) return;
    const auto& h = *hnsw_;
    for (uint64_t l : labels) {
      auto it = h.label_lookup_.find(l);
      if (it == h.label_lookup_.end()) continue;
      sq8_->Encode(reinterpret_cast<const float*>(h.getDataByInternalId(it->second)), codes_.row(it->second));
    }
  }

  bool IsHidden(uint64_t label) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return label < hidden_.size() && hidden_[label];
  }
  // True if internal id `id` (< limit_) is staged.
  bool HiddenId(size_t id) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return hidden_count_ && ((hidden_bits_[id >> 6] >> (id & 63)) & 1);
  }
  // Stages (on) or shows (off) `label`, and its node: label → id is set for it, and its
  // id below limit_.
  void SetHidden(uint64_t label, bool on) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (IsHidden(label) == on) return;
    if (on && label >= hidden_.size()) hidden_.resize(label + 1 + label / 8, false);
    hidden_[label] = on;
    if (label < int_of_.size() && int_of_[label] != kNoInternal) {
      const size_t id = int_of_[label];
      if (on) hidden_bits_[id >> 6] |= uint64_t{1} << (id & 63);
      else hidden_bits_[id >> 6] &= ~(uint64_t{1} << (id & 63));
    }
    if (on) {
      ++hidden_count_;
      staged_.push_back(label);
    } else {
      --hidden_count_;
    }
  }
  // Sets (true) or clears (false) hnswlib's delete mark on every staged node, for Save.
  void MarkStaged(bool mark) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (uint64_t l : staged_) {
      if (!IsHidden(l) || l >= int_of_.size() || int_of_[l] == kNoInternal) continue;
      hnswlib::tableint id = int_of_[l];
      if (mark && !hnsw_->isMarkedDeleted(id)) hnsw_->markDeletedInternal(id);
      if (!mark && hnsw_->isMarkedDeleted(id)) hnsw_->unmarkDeletedInternal(id);
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
  // The search marks expanded candidates in an id's top bit (graph_search.cc).
  static constexpr size_t kMaxElements = size_t{1} << 31;
  // Past this many slots the Sq8 ranges are fixed: a sample this large has seen the
  // data's range (rare values outside it are clamped, and rescoring is exact), and each
  // retraining re-encodes everything (beside the searches, but on the writer's time:
  // about 0.2 s at 2^17 points of 100 dims on this machine).
  static constexpr size_t kRetrainUntil = size_t{1} << 16;
  // Exclusive lock, or construction.
  void NoteInternal(uint64_t label, hnswlib::tableint id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (label >= (uint64_t{1} << 32)) return;  // Shards never use such labels.
    ++map_epoch_;
    if (label >= int_of_.size()) int_of_.resize(label + 1 + label / 8, kNoInternal);
    int_of_[label] = id;
  }

  const uint32_t dim_;
  const Metric metric_;
  // Held by every change and by Save for their whole time: one writer at a time.
  mutable Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Shared: searches, reads, Save, and StageHidden's inserts. Exclusive: every other
  // change (and hnswlib's resizeIndex, which must not overlap a search or an insert).
  mutable SharedMutex mu_;
  // Ids below this are published: they have codes, label → id and hidden bits. Ids at or
  // past it are in flight (StageHidden's inserts), walked through but never returned.
  size_t limit_ ABSL_GUARDED_BY(mu_) = 0;
  // True while StageHidden inserts under the shared lock (searches then copy link lists
  // under hnswlib's per-node locks).
  bool inserting_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<uint64_t> hidden_bits_ ABSL_GUARDED_BY(mu_);  // one per id below limit_: staged
  std::vector<hnswlib::tableint> int_of_ ABSL_GUARDED_BY(mu_);  // label -> hnswlib internal id
  // Bumped whenever int_of_ or limit_ changes: a cached mask of another epoch is stale.
  uint64_t map_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  // Masks of filters with a cache token (CachedAllowedMask), most recent first.
  struct CachedMask {
    uint64_t token;
    uint64_t epoch;
    std::shared_ptr<const std::vector<uint64_t>> mask;
  };
  static constexpr size_t kCachedMasks = 8;
  mutable Mutex mask_mu_ ABSL_ACQUIRED_AFTER(mu_);
  mutable std::deque<CachedMask> masks_ ABSL_GUARDED_BY(mask_mu_);
  std::vector<bool> hidden_ ABSL_GUARDED_BY(mu_);               // labels staged by StageHidden, not revealed
  std::vector<uint64_t> staged_ ABSL_GUARDED_BY(mu_);           // the hidden labels (maybe stale)
  size_t hidden_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  // The graph: read under the shared lock, changed under the exclusive one, except for
  // inserts of new labels into free slots, which hnswlib's per-node locks let run in
  // parallel with each other and, in StageHidden, with searches (graph_search.h).
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw_ ABSL_PT_GUARDED_BY(mu_);
  std::unique_ptr<Sq8Codec> sq8_;  // set for Quantization::kSq8
  AlignedRows codes_ ABSL_GUARDED_BY(mu_){0};  // sq8 code of each internal id
  size_t trained_on_ ABSL_GUARDED_BY(mu_) = 0;  // slots when sq8_ was last trained
};

}  // namespace

CloneRoom ReserveCloneRoom(size_t slots, size_t node_bytes) {
  CloneRoom room;
  room.nodes = slots + std::max<size_t>(slots / 32, 1024);
  room.level0.reset(static_cast<char*>(AllocateHugePageableLater(room.nodes * node_bytes)));
  if (!room.level0) return CloneRoom{};
  try {
    std::vector<std::mutex>(room.nodes).swap(room.link_locks);
  } catch (const std::bad_alloc&) {
    return CloneRoom{};
  }
  std::memset(room.level0.get(), 0, room.nodes * node_bytes);  // Faulted in here, not by the copy.
  return room;
}

std::unique_ptr<HnswIndex> NewHnswIndexImpl(uint32_t dim, Metric metric, const HnswParams& params,
                                            size_t capacity, Quantization quantization) {
  auto space = MakeSpace(metric, dim);
  auto hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(space.get(), std::max<size_t>(capacity, 16),
                                                                 params.m, params.ef_construction, params.seed);
  return std::make_unique<HnswIndexImpl>(dim, metric, quantization, std::move(space), std::move(hnsw));
}

std::unique_ptr<Index> NewHnswIndex(uint32_t dim, Metric metric, const HnswParams& params, size_t capacity,
                                    Quantization quantization) {
  return NewHnswIndexImpl(dim, metric, params, capacity, quantization);
}

Result<std::unique_ptr<HnswIndex>> LoadHnswIndex(const std::string& path, uint32_t dim, Metric metric,
                                                 const HnswParams&, Quantization quantization) {
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
  try {
    return std::unique_ptr<HnswIndex>(
        std::make_unique<HnswIndexImpl>(dim, metric, quantization, std::move(space), std::move(hnsw)));
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("loading HNSW index " + path + ": no memory for its sq8 codes");
  }
}

}  // namespace vectron
