#include "compact.h"

#include <cstring>
#include <utility>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "index/distance.h"
#include "index/hnsw_index.h"
#include "storage/keys.h"
#include "util/parallel.h"

namespace vectron {
namespace {

using storage::DecodeU64;
using storage::EncodeU64;
using storage::ReadTxn;

constexpr size_t kChunk = 4096;
constexpr size_t kAutoMinSlots = 1000;

Result<uint64_t> MetaU64(const storage::Txn& txn, storage::Dbi dbi, std::string_view key) {
  VECTRON_ASSIGN_OR_RETURN(auto v, txn.Get(dbi, key));
  if (!v) return uint64_t{0};
  if (v->size() != 8) return Status::Corruption("meta key " + std::string(key) + " has a bad size");
  return DecodeU64(*v);
}

// Appends label's vector (normalised for cosine) and id from a point record.
Status AddRecord(const Shard::Impl& s, uint64_t label, std::string_view record, std::vector<uint64_t>& labels,
                 std::vector<float>& vectors, std::vector<std::string>& ids) {
  VECTRON_ASSIGN_OR_RETURN(Point p, s.DecodePoint(record, GetOptions{true, false}));
  if (s.config.metric == Metric::kCosine) Normalize(p.vector);
  labels.push_back(label);
  vectors.insert(vectors.end(), p.vector.begin(), p.vector.end());
  if (label >= ids.size()) ids.resize(label + 1);
  ids[label] = std::move(p.id);
  return Status::OK();
}

}  // namespace

Status CompactShardIndex(Shard::Impl& s, const ProgressFn& progress) {
  {
    std::shared_lock lock(s.state_mu);
    if (!s.IsHnsw()) return Status::OK();
  }
  const std::string stage = "compacting index of " + s.dir;
  std::unique_ptr<HnswIndex> fresh;
  std::vector<std::string> ids;
  uint64_t snap_seq;
  {
    // Built from a snapshot with no lock held: writers and searches go on.
    VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(s.env));
    VECTRON_ASSIGN_OR_RETURN(snap_seq, MetaU64(rt, s.meta, "seq"));
    VECTRON_ASSIGN_OR_RETURN(uint64_t n, rt.Count(s.points));
    fresh = NewHnswIndexImpl(s.config.dim, s.config.metric, s.config.hnsw, n + n / 8 + 16, s.config.quantization);
    if (progress && !progress(stage, 0, n)) return Status::Cancelled("compaction cancelled");
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, rt.OpenCursor(s.points));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
    std::vector<uint64_t> labels;
    std::vector<float> vectors;
    uint64_t done = 0;
    while (more) {
      labels.clear();
      vectors.clear();
      while (more && labels.size() < kChunk) {
        VECTRON_RETURN_IF_ERROR(AddRecord(s, DecodeU64(c.key()), c.value(), labels, vectors, ids));
        VECTRON_ASSIGN_OR_RETURN(more, c.Next());
      }
      VECTRON_RETURN_IF_ERROR(fresh->Upsert(labels, vectors, s.threads()));
      done += labels.size();
      if (progress && !progress(stage, done, n)) return Status::Cancelled("compaction cancelled");
    }
  }

  Shard::Impl::LocalWriter writer(s.local_writers);
  std::lock_guard lock(s.write_mu);
  // The live index and its payload state first reach the newest commit, so that in the
  // common case the swap below leaves the payload state matching the new graph.
  VECTRON_RETURN_IF_ERROR(s.CatchUp());
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(s.env));
  VECTRON_ASSIGN_OR_RETURN(uint64_t seq, MetaU64(rt, s.meta, "seq"));
  if (seq < snap_seq) return Status::Aborted("the shard's data went back during compaction; retry");
  if (seq > snap_seq) {
    // Batches committed during the build: sync each label they touched to this snapshot.
    std::vector<uint64_t> touched;
    VECTRON_ASSIGN_OR_RETURN(bool logged, s.LabelsChangedAfter(rt, snap_seq, &touched));
    // The change log was trimmed past the snapshot (very many writes): rebuild here.
    if (!logged) return s.RebuildIndex(rt, seq, "compaction fell behind the change log");
    std::vector<uint64_t> up, rm;
    std::vector<float> vectors;
    for (uint64_t label : touched) {
      VECTRON_ASSIGN_OR_RETURN(auto rec, rt.Get(s.points, EncodeU64(label)));
      if (!rec) {
        rm.push_back(label);
        if (label < ids.size()) ids[label].clear();
        continue;
      }
      VECTRON_RETURN_IF_ERROR(AddRecord(s, label, *rec, up, vectors, ids));
    }
    VECTRON_RETURN_IF_ERROR(fresh->Remove(rm));
    VECTRON_RETURN_IF_ERROR(fresh->Upsert(up, vectors, s.threads()));
  }
  bool payload_behind;
  std::unique_ptr<Index> old_index;
  std::vector<std::string> old_ids;
  {
    std::unique_lock state(s.state_mu);
    payload_behind = s.index_seq != seq;  // another process committed after the CatchUp
    old_index = std::exchange(s.index, std::move(fresh));
    old_ids = std::exchange(s.label_ids, std::move(ids));
    s.index_seq = seq;
  }
  // Freed outside the lock (a large graph takes a while), then handed back to the OS.
  old_index.reset();
  old_ids = {};
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  if (payload_behind) VECTRON_RETURN_IF_ERROR(s.LoadPayload(rt));
  s.seen_txnid.store(rt.id());
  s.force_checkpoint = true;  // same seq, smaller graph
  return s.SaveCheckpoint();
}

Status CompactShardFiles(Shard::Impl& s) {
  Shard::Impl::LocalWriter writer(s.local_writers);
  std::lock_guard lock(s.write_mu);  // no commit of this process until the swap is done
  return s.env.CompactFiles();
}

Status Collection::Compact(const CompactOptions& options) {
  const ProgressFn& progress = ShardAccess::Of(shard(0)).options.progress;
  if (options.index) {
    for (size_t i = 0; i < shard_count(); ++i) VECTRON_RETURN_IF_ERROR(CompactShardIndex(ShardAccess::Of(shard(i)), progress));
  }
  if (options.files) {
    const std::string stage = "compacting files of collection " + name();
    for (size_t i = 0; i < shard_count(); ++i) {
      if (progress && !progress(stage, i, shard_count())) return Status::Cancelled("compaction cancelled");
      VECTRON_RETURN_IF_ERROR(CompactShardFiles(ShardAccess::Of(shard(i))));
    }
    if (progress && !progress(stage, shard_count(), shard_count())) return Status::Cancelled("compaction cancelled");
  }
  return Status::OK();
}

BackgroundCompactor::~BackgroundCompactor() {
  stop_.store(true);
  std::lock_guard g(mu_);
  if (thread_.joinable()) thread_.join();
}

void BackgroundCompactor::MaybeStart(Collection& c, const DatabaseOptions& options) {
  const double share = options.auto_compact_deleted_share;
  if (share <= 0 || running_.load()) return;
  std::vector<Shard::Impl*> due;
  for (size_t i = 0; i < c.shard_count(); ++i) {
    Shard::Impl& s = ShardAccess::Of(c.shard(i));
    std::shared_lock lock(s.state_mu);
    if (!s.IsHnsw()) continue;
    const size_t deleted = s.index->deleted_slots(), slots = s.index->size() + deleted;
    if (slots >= kAutoMinSlots && static_cast<double>(deleted) >= share * static_cast<double>(slots)) due.push_back(&s);
  }
  if (due.empty()) return;
  std::lock_guard g(mu_);
  if (running_.load() || stop_.load()) return;
  if (thread_.joinable()) thread_.join();  // the previous run has finished
  running_.store(true);
  thread_ = std::thread([this, due] {
    ProgressFn keep_going = [this](std::string_view, uint64_t, uint64_t) { return !stop_.load(); };
    for (Shard::Impl* s : due) {
      Status st = CompactShardIndex(*s, keep_going);
      if (!st.ok() && st.code() != StatusCode::kCancelled)
        std::fprintf(stderr, "vectron: background compaction of %s: %s\n", s->dir.c_str(), st.ToString().c_str());
    }
    running_.store(false);
  });
}

}  // namespace vectron
