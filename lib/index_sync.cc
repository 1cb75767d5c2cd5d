#include "index_sync.h"

#include <cstdio>

#include "index/hnsw_index.h"
#include "util/parallel.h"

namespace vectron {

using storage::ReadTxn;

namespace {
constexpr size_t kBuildChunk = 4096;
}  // namespace

unsigned IndexSync::threads() const { return ResolveThreads(options_.threads); }

Status IndexSync::Start() {
  MutexLock lock(mu_);
  {
    VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
    VECTRON_ASSIGN_OR_RETURN(checkpoint_seq_, store_.Counter(rt, meta_key::kCheckpointSeq));
  }
  std::string why;
  if (!LoadCheckpoint(&why).ok()) {
    VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
    VECTRON_ASSIGN_OR_RETURN(uint64_t seq, store_.Counter(rt, meta_key::kSeq));
    VECTRON_RETURN_IF_ERROR(RebuildIndex(rt, seq, why.c_str()));
  }
  return CatchUp();
}

Status IndexSync::CatchUp() {
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  VECTRON_ASSIGN_OR_RETURN(uint64_t seq, store_.Counter(rt, meta_key::kSeq));
  VECTRON_RETURN_IF_ERROR(SyncPayloadDefinitions(rt));
  const uint64_t cur = cache_.seq();
  if (seq == cur) {
    seen_txnid_.store(rt.id());
    return Status::OK();
  }
  if (seq < cur) return RebuildIndex(rt, seq, "the data is older than the index");
  // Labels touched by batches cur+1..seq; each is synced to its state in this snapshot,
  // which is idempotent however the batches interleaved.
  std::vector<uint64_t> labels;
  VECTRON_ASSIGN_OR_RETURN(bool logged, store_.LabelsChangedAfter(rt, cur, &labels));
  if (!logged) return RebuildIndex(rt, seq, "the change log was trimmed");
  VECTRON_ASSIGN_OR_RETURN(LabelChanges changes, store_.ReadLabels(rt, labels));
  VECTRON_RETURN_IF_ERROR(cache_.Apply(changes, seq, threads()));
  seen_txnid_.store(rt.id());
  return AfterChanges(rt, seq, labels.size());
}

Status IndexSync::CatchUpRemoved(std::vector<uint64_t> labels, uint64_t seq) {
  if (cache_.seq() + 1 != seq) return CatchUp();
  LabelChanges removed;
  removed.rm_labels = std::move(labels);
  return cache_.Apply(removed, seq, threads());
}

Status IndexSync::SyncPayloadDefinitions(const ReadTxn& rt) {
  VECTRON_ASSIGN_OR_RETURN(std::string raw, store_.PayloadDefinitionsText(rt));
  if (!cache_.PayloadDefinitionsDiffer(raw)) return Status::OK();
  return LoadPayload(rt);
}

Status IndexSync::AfterChanges(const ReadTxn& rt, uint64_t seq, uint64_t n) {
  const CollectionConfig& config = store_.config();
  const bool graph = cache_.is_graph();
  if (!graph && cache_.size() > config.flat_max_points)
    return RebuildIndex(rt, seq, "the shard outgrew flat_max_points");
  ops_since_checkpoint_ += n;
  if (graph && ops_since_checkpoint_ >= config.checkpoint_every_ops) {
    if (!options_.background_checkpoints) return SaveCheckpoint();
    checkpoint_due_.store(true, std::memory_order_release);
  }
  return Status::OK();
}

Status IndexSync::MaybeRefresh() {
  if (CaughtUp()) return Status::OK();
  if (!mu_.TryLock()) {
    // A writer of this process holds the lock and catches up itself: don't queue
    // behind its (possibly large) batch; the search overlaps that write anyway.
    if (local_writers_.load() > 0) return Status::OK();
    // Another search is catching up on other processes' commits, which this search
    // must see: wait for it.
    mu_.Lock();
    if (CaughtUp()) {
      mu_.Unlock();
      return Status::OK();
    }
  }
  Status s = CatchUp();
  mu_.Unlock();
  return s;
}

Status IndexSync::Refresh() {
  MutexLock lock(mu_);
  return CatchUp();
}

Result<std::optional<HandedGraph>> IndexSync::CloneGraph() {
  CloneRoom room = cache_.ReserveGraphClone();  // Before the writers wait (see CloneRoom).
  MutexLock lock(mu_);  // no catch-up changes the graph meanwhile
  if (!cache_.is_graph()) return std::optional<HandedGraph>();
  VECTRON_ASSIGN_OR_RETURN(HandedGraph g, cache_.CloneGraph(std::move(room)));
  return std::optional<HandedGraph>(std::move(g));
}

void IndexSync::Close() {
  MutexLock lock(mu_);
  Status s = SaveCheckpoint();
  if (!s.ok()) std::fprintf(stderr, "vectron: saving index of %s on close: %s\n", store_.dir().c_str(), s.ToString().c_str());
  if (options_.durability != Durability::kFull) (void)store_.env().Sync(true);
}

Result<std::vector<std::string>> IndexSync::FillIndex(Index& index, const ReadTxn& rt, uint64_t n,
                                                      const std::string& stage, const ProgressFn& progress,
                                                      const char* cancelled) const {
  if (progress && !progress(stage, 0, n)) return Status::Cancelled(cancelled);
  std::vector<std::string> ids;
  uint64_t done = 0;
  VECTRON_RETURN_IF_ERROR(store_.ScanPoints(
      rt, kBuildChunk, ids, [&](std::span<const uint64_t> labels, std::span<const float> vectors) -> Status {
        VECTRON_RETURN_IF_ERROR(index.Upsert(labels, vectors, threads()));
        done += labels.size();
        if (progress && !progress(stage, done, n)) return Status::Cancelled(cancelled);
        return Status::OK();
      }));
  return ids;
}

Status IndexSync::RebuildIndex(const ReadTxn& rt, uint64_t seq, const char* reason) {
  const CollectionConfig& config = store_.config();
  VECTRON_ASSIGN_OR_RETURN(uint64_t n, store_.CountRecords(rt));
  const bool graph = n > config.flat_max_points;
  const std::string stage =
      std::string("building ") + (graph ? "HNSW" : "flat") + " index for " + store_.dir() + " (" + reason + ")";
  // Flat builds are a memcpy per point; only graph builds are worth reporting.
  const ProgressFn no_progress;
  const ProgressFn& progress = graph ? options_.progress : no_progress;
  BuiltIndex fresh;
  if (graph) {
    auto g = NewHnswIndexImpl(config.dim, config.metric, config.hnsw, n + n / 8 + 16, config.quantization);
    VECTRON_ASSIGN_OR_RETURN(auto ids, FillIndex(*g, rt, n, stage, progress, "index build cancelled"));
    fresh = BuiltIndex::Graph(std::move(g), std::move(ids));
  } else {
    auto f = NewFlatIndex(config.dim, config.metric);
    VECTRON_ASSIGN_OR_RETURN(auto ids, FillIndex(*f, rt, n, stage, progress, "index build cancelled"));
    fresh = BuiltIndex::Flat(std::move(f), std::move(ids));
  }
  cache_.Install(std::move(fresh), seq);
  VECTRON_RETURN_IF_ERROR(LoadPayload(rt));
  seen_txnid_.store(rt.id());
  if (graph) return SaveCheckpoint();
  return Status::OK();
}

Status IndexSync::LoadPayload(const storage::Txn& txn) {
  VECTRON_ASSIGN_OR_RETURN(payload::PayloadState fresh, store_.ReadPayload(txn));
  cache_.InstallPayload(std::move(fresh));
  return Status::OK();
}

}  // namespace vectron
