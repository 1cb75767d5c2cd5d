// ShardImpl: opening, closing and the read paths. The write path is in shard_write.cc.
#include <algorithm>
#include <optional>

#include "index/distance.h"
#include "shard_impl.h"
#include "util/files.h"
#include "validate.h"

namespace vectron {

using storage::ReadTxn;

namespace {

// Parses a where text; nullopt for none or {}. Errors: InvalidArgument.
Result<std::optional<filter::Filter>> ParseWhere(std::string_view where) {
  if (where.empty()) return std::optional<filter::Filter>();
  VECTRON_ASSIGN_OR_RETURN(filter::Filter f, filter::ParseText(where));
  if (f.MatchesAll()) return std::optional<filter::Filter>();
  return std::optional<filter::Filter>(std::move(f));
}

}  // namespace

uint64_t IdHash(std::string_view id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint32_t ShardOfId(std::string_view id, uint32_t shards) {
  return shards == 0 ? 0 : static_cast<uint32_t>(IdHash(id) % shards);
}

uint64_t RouteKey(std::string_view id, uint32_t shards) {
  const uint64_t n = std::max<uint32_t>(shards, 1);
  const uint64_t h = IdHash(id);
  const uint64_t w = UINT64_MAX / n;
  return (h % n) * w + std::min(h / n, w - 1);
}

Result<std::unique_ptr<Shard>> Shard::Open(const std::string& dir, const CollectionConfig& config,
                                           const DatabaseOptions& options) {
  VECTRON_ASSIGN_OR_RETURN(std::unique_ptr<ShardImpl> shard, ShardImpl::Open(dir, config, options));
  return std::unique_ptr<Shard>(std::move(shard));
}

Result<std::unique_ptr<ShardImpl>> ShardImpl::Open(const std::string& dir, const CollectionConfig& config,
                                                   const DatabaseOptions& options) {
  VECTRON_RETURN_IF_ERROR(config.Validate());
  VECTRON_RETURN_IF_ERROR(options.Validate());
  VECTRON_ASSIGN_OR_RETURN(ShardStore store, ShardStore::Open(dir, config, options));
  std::unique_ptr<ShardImpl> shard(new ShardImpl(std::move(store), options));
  if (Status s = shard->sync_.Start(); !s.ok()) {
    shard->SkipCheckpointOnClose();  // A shard that did not open saves nothing.
    return s;
  }
  return shard;
}

ShardImpl::~ShardImpl() {
  if (!skip_checkpoint_on_close_.load()) sync_.Close();
}

Status ShardImpl::BeginMetadataRead(std::optional<ReadTxn>* rt, payload::MetadataLoader* load) const {
  VECTRON_ASSIGN_OR_RETURN(ReadTxn t, ReadTxn::Begin(store_.env()));
  rt->emplace(std::move(t));
  *load = store_.MetadataLoader(**rt);
  return Status::OK();
}

Result<std::vector<Hit>> ShardImpl::Search(std::span<const float> query, const SearchParams& params) const {
  const CollectionConfig& cfg = config();
  VECTRON_RETURN_IF_ERROR(ValidateSearch(query, params, cfg));
  VECTRON_ASSIGN_OR_RETURN(auto where, ParseWhere(params.where));
  VECTRON_RETURN_IF_ERROR(sync_.MaybeRefresh());
  std::vector<float> q(query.begin(), query.end());
  if (cfg.metric == Metric::kCosine) Normalize(q);
  IndexSearchOptions io;
  io.ef = params.ef > 0 ? static_cast<size_t>(params.ef) : cfg.hnsw.ef_search;
  io.exact = params.exact;
  std::optional<ReadTxn> rt;  // the snapshot a filter reads metadata from
  payload::MetadataLoader load;
  if (where) VECTRON_RETURN_IF_ERROR(BeginMetadataRead(&rt, &load));
  SearchParams inner = params;  // offset: the first k + offset hits, then skip offset
  inner.k = params.k + params.offset;
  VECTRON_ASSIGN_OR_RETURN(std::vector<Hit> hits, cache_.Search(q, inner, io, where ? &*where : nullptr, load));
  TrimHits(hits, params);
  if (params.include_metadata || params.include_vector) {
    VECTRON_ASSIGN_OR_RETURN(ReadTxn t, ReadTxn::Begin(store_.env()));
    VECTRON_RETURN_IF_ERROR(store_.FillHits(t, hits, GetOptions{params.include_vector, params.include_metadata}));
  }
  return hits;
}

Result<std::vector<std::vector<Hit>>> ShardImpl::SearchBatch(std::span<const float> queries,
                                                             const SearchParams& params, size_t first_query) const {
  auto which = [first_query](size_t i) { return "query " + std::to_string(first_query + i); };
  const CollectionConfig& cfg = config();
  const size_t dim = cfg.dim, nq = queries.size() / dim;
  if (queries.size() % dim != 0)
    return Status::InvalidArgument("queries hold " + std::to_string(queries.size()) +
                                   " floats, not a multiple of the dimension " + std::to_string(dim));
  std::vector<std::vector<Hit>> out(nq);
  if (!params.exact && !cache_.always_exact()) {
    for (size_t i = 0; i < nq; ++i) {
      auto r = Search(queries.subspan(i * dim, dim), params);
      if (!r.ok()) return r.status().WithContext(which(i));
      out[i] = std::move(r).value();
    }
    return out;
  }
  std::vector<float> q(queries.begin(), queries.end());
  for (size_t i = 0; i < nq; ++i) {
    std::span<float> row(q.data() + i * dim, dim);
    VECTRON_RETURN_IF_ERROR(ValidateSearch(row, params, cfg).WithContext(which(i)));
    if (cfg.metric == Metric::kCosine) Normalize(row);
  }
  VECTRON_ASSIGN_OR_RETURN(auto where, ParseWhere(params.where));
  VECTRON_RETURN_IF_ERROR(sync_.MaybeRefresh());
  std::optional<ReadTxn> rt;  // the snapshot a filter reads metadata from
  payload::MetadataLoader load;
  if (where) VECTRON_RETURN_IF_ERROR(BeginMetadataRead(&rt, &load));
  SearchParams inner = params;  // offset: the first k + offset hits, then skip offset
  inner.k = params.k + params.offset;
  VECTRON_ASSIGN_OR_RETURN(out, cache_.SearchBatchExact(q, inner, where ? &*where : nullptr, load));
  std::optional<ReadTxn> ft;
  if (params.include_metadata || params.include_vector) {
    VECTRON_ASSIGN_OR_RETURN(ReadTxn t, ReadTxn::Begin(store_.env()));
    ft.emplace(std::move(t));
  }
  for (auto& hits : out) {
    TrimHits(hits, params);
    if (ft) VECTRON_RETURN_IF_ERROR(store_.FillHits(*ft, hits, GetOptions{params.include_vector, params.include_metadata}));
  }
  return out;
}

Result<std::vector<std::optional<Point>>> ShardImpl::Get(std::span<const std::string> ids,
                                                         const GetOptions& options) const {
  for (const auto& id : ids) VECTRON_RETURN_IF_ERROR(ValidateId(id));
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  return store_.Get(rt, ids, options);
}

Result<uint64_t> ShardImpl::Count(std::string_view where_text) const {
  VECTRON_ASSIGN_OR_RETURN(auto where, ParseWhere(where_text));
  if (!where) {
    VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
    return store_.CountPoints(rt);
  }
  VECTRON_RETURN_IF_ERROR(sync_.MaybeRefresh());
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  VECTRON_ASSIGN_OR_RETURN(auto allow, cache_.Allow(*where, store_.MetadataLoader(rt)));
  return allow->cardinality();
}

Result<ScrollPage> ShardImpl::Scroll(std::string_view after, size_t limit, const GetOptions& options,
                                     std::string_view where_text) const {
  if (limit == 0) return Status::InvalidArgument("scroll limit must be at least 1");
  VECTRON_ASSIGN_OR_RETURN(auto where, ParseWhere(where_text));
  std::shared_ptr<const payload::Bitmap> allow;
  if (where) {
    VECTRON_RETURN_IF_ERROR(sync_.MaybeRefresh());
    VECTRON_ASSIGN_OR_RETURN(ReadTxn at, ReadTxn::Begin(store_.env()));
    VECTRON_ASSIGN_OR_RETURN(allow, cache_.Allow(*where, store_.MetadataLoader(at)));
  }
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  return store_.Scroll(rt, after, limit, options, allow.get());
}

Result<std::vector<std::string>> ShardImpl::IdsWhere(const filter::Filter& f) const {
  VECTRON_RETURN_IF_ERROR(sync_.MaybeRefresh());
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  return cache_.IdsWhere(f, store_.MetadataLoader(rt));
}

Status ShardImpl::Checkpoint(CheckpointHold hold) { return sync_.Checkpoint(hold); }

void ShardImpl::Discard() {
  SkipCheckpointOnClose();
  sync_.Discard();
}

Status ShardImpl::Refresh() { return sync_.Refresh(); }

Result<ShardStats> ShardImpl::Stats() const {
  ShardStats st;
  {
    VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
    VECTRON_ASSIGN_OR_RETURN(st.count, store_.CountPoints(rt));
    VECTRON_ASSIGN_OR_RETURN(st.seq, store_.Counter(rt, meta_key::kSeq));
    VECTRON_ASSIGN_OR_RETURN(st.applied_index, store_.Counter(rt, meta_key::kAppliedIndex));
  }
  IndexCacheStats cs = cache_.Stats();
  st.index_memory_bytes = cs.memory_bytes;
  st.deleted_slots = cs.deleted_slots;
  st.index_kind = std::move(cs.kind);
  st.disk_bytes = DiskUsage(dir());
  return st;
}

Result<ShardDataSize> ShardImpl::DataSize() const {
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  ShardDataSize size;
  VECTRON_ASSIGN_OR_RETURN(size.points, store_.CountPoints(rt));
  VECTRON_ASSIGN_OR_RETURN(size.bytes, store_.DataBytes(rt));
  // Hidden points (ApplyRoute) still fill pages until they are dropped: their share of
  // the bytes is left out, as if they were gone.
  VECTRON_ASSIGN_OR_RETURN(uint64_t records, store_.CountRecords(rt));
  if (records > size.points)
    size.bytes = static_cast<uint64_t>(static_cast<long double>(size.bytes) * size.points / records);
  return size;
}

Result<uint64_t> ShardImpl::applied_index() const {
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  return store_.Counter(rt, meta_key::kAppliedIndex);
}

Result<uint64_t> ShardImpl::Flush() {
  // Read first: every commit up to this index is in the environment the sync flushes.
  VECTRON_ASSIGN_OR_RETURN(uint64_t applied, applied_index());
  VECTRON_RETURN_IF_ERROR(Sync());
  return applied;
}

const CollectionConfig& ShardImpl::config() const { return store_.config(); }

bool ShardImpl::IndexCompactionDue(double deleted_share) const {
  // Below this many slots a rebuild is not worth a thread.
  constexpr size_t kMinSlots = 1000;
  return cache_.CompactionDue(deleted_share, kMinSlots);
}

}  // namespace vectron
