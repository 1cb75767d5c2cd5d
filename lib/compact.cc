#include "compact.h"

#include <cstdio>
#include <utility>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "collection_internal.h"
#include "index/hnsw_index.h"
#include "util/idle_priority.h"

namespace vectron {

using storage::ReadTxn;

Status IndexSync::CompactIndex(const ProgressFn& progress, CompactPriority priority) {
  if (!cache_.is_graph()) return Status::OK();
  const CollectionConfig& config = store_.config();
  const std::string stage = "compacting index of " + store_.dir();
  std::unique_ptr<HnswIndex> fresh;
  std::vector<std::string> ids;
  uint64_t snap_seq = 0;
  // Built from a snapshot with no lock held: writers and searches go on. At idle
  // priority only this part: the swap below holds the writer lock, which an idle thread
  // could keep for as long as the machine stays busy.
  auto build = [&]() -> Status {
    VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
    VECTRON_ASSIGN_OR_RETURN(snap_seq, store_.Counter(rt, meta_key::kSeq));
    VECTRON_ASSIGN_OR_RETURN(uint64_t n, store_.CountRecords(rt));
    fresh = NewHnswIndexImpl(config.dim, config.metric, config.hnsw, n + n / 8 + 16, config.quantization);
    VECTRON_ASSIGN_OR_RETURN(ids, FillIndex(*fresh, rt, n, stage, progress, "compaction cancelled"));
    return Status::OK();
  };
  VECTRON_RETURN_IF_ERROR(priority == CompactPriority::kIdle ? RunAtIdlePriority(build) : build());

  LocalWriter writer(*this);
  // The live index and its payload state first reach the newest commit, so that in the
  // common case the swap below leaves the payload state matching the new graph.
  VECTRON_RETURN_IF_ERROR(CatchUp());
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  VECTRON_ASSIGN_OR_RETURN(uint64_t seq, store_.Counter(rt, meta_key::kSeq));
  if (seq < snap_seq) return Status::Aborted("the shard's data went back during compaction; retry");
  if (seq > snap_seq) {
    // Batches committed during the build: sync each label they touched to this snapshot.
    std::vector<uint64_t> touched;
    VECTRON_ASSIGN_OR_RETURN(bool logged, store_.LabelsChangedAfter(rt, snap_seq, &touched));
    // The change log was trimmed past the snapshot (very many writes): rebuild here.
    if (!logged) return RebuildIndex(rt, seq, "compaction fell behind the change log");
    VECTRON_ASSIGN_OR_RETURN(LabelChanges changes, store_.ReadLabels(rt, touched));
    for (uint64_t label : changes.rm_labels)
      if (label < ids.size()) ids[label].clear();
    for (size_t i = 0; i < changes.up_labels.size(); ++i) {
      const uint64_t label = changes.up_labels[i];
      if (label >= ids.size()) ids.resize(label + 1);
      ids[label] = std::move(changes.up_ids[i]);
    }
    VECTRON_RETURN_IF_ERROR(fresh->Remove(changes.rm_labels));
    VECTRON_RETURN_IF_ERROR(fresh->Upsert(changes.up_labels, changes.up_vectors, threads()));
  }
  // Another process committed after the CatchUp: the payload state is reloaded below.
  const bool payload_behind = cache_.seq() != seq;
  // The old graph is freed outside the cache's lock (a large graph takes a while), then
  // its memory is handed back to the OS.
  cache_.Install(BuiltIndex::Graph(std::move(fresh), std::move(ids)), seq);
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  if (payload_behind) VECTRON_RETURN_IF_ERROR(LoadPayload(rt));
  seen_txnid_.store(rt.id());
  force_checkpoint_ = true;  // same seq, smaller graph
  return SaveCheckpoint();
}

Status IndexSync::CompactFiles() {
  LocalWriter writer(*this);  // no commit of this process until the swap is done
  return store_.env().CompactFiles();
}

Status CollectionImpl::Compact(const CompactOptions& options) {
  const ProgressFn& progress = options_.progress;
  if (options.index) {
    for (auto& s : shards_) VECTRON_RETURN_IF_ERROR(s->CompactIndex(progress, CompactPriority::kNormal));
  }
  if (options.files) {
    const std::string stage = "compacting files of collection " + name_;
    const size_t n = shards_.size();
    for (size_t i = 0; i < n; ++i) {
      if (progress && !progress(stage, i, n)) return Status::Cancelled("compaction cancelled");
      VECTRON_RETURN_IF_ERROR(shards_[i]->CompactFiles());
    }
    if (progress && !progress(stage, n, n)) return Status::Cancelled("compaction cancelled");
  }
  return Status::OK();
}

BackgroundCompactor::~BackgroundCompactor() {
  stop_.store(true);
  MutexLock g(mu_);
  if (thread_.joinable()) thread_.join();
}

void BackgroundCompactor::MaybeStart(std::span<const std::unique_ptr<ShardImpl>> shards, double share) {
  if (share <= 0 || running_.load()) return;
  std::vector<ShardImpl*> due;
  for (const auto& s : shards)
    if (s->IndexCompactionDue(share)) due.push_back(s.get());
  if (due.empty()) return;
  MutexLock g(mu_);
  if (running_.load() || stop_.load()) return;
  if (thread_.joinable()) thread_.join();  // the previous run has finished
  running_.store(true);
  thread_ = std::thread([this, due] {
    ProgressFn keep_going = [this](std::string_view, uint64_t, uint64_t) { return !stop_.load(); };
    for (ShardImpl* s : due) {
      Status st = s->CompactIndex(keep_going, CompactPriority::kNormal);
      if (!st.ok() && st.code() != StatusCode::kCancelled)
        std::fprintf(stderr, "vectron: background compaction of %s: %s\n", s->dir().c_str(), st.ToString().c_str());
    }
    running_.store(false);
  });
}

}  // namespace vectron
