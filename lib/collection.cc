#include "vectron/collection.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "collection_internal.h"
#include "compact.h"
#include "filter/filter.h"
#include "shard_impl.h"
#include "storage/keys.h"
#include "storage/lmdb.h"
#include "util/files.h"
#include "util/parallel.h"
#include "validate.h"
#include "vectron/shard.h"

namespace vectron {

using storage::DecodeU64;
using storage::EncodeU64;

namespace {


void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool GetU32(std::string_view& in, uint32_t* v) {
  if (in.size() < 4) return false;
  *v = 0;
  for (int i = 0; i < 4; ++i) *v |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(4);
  return true;
}

// Journal record: [u32 n] then per entry [u8 op][u32 len][id][u32 len][metadata][u32 dim][f32 × dim].
std::string EncodeBatch(const WriteBatch& b, const std::vector<std::string>& metadata) {
  std::string out;
  PutU32(out, static_cast<uint32_t>(b.size()));
  for (size_t i = 0; i < b.size(); ++i) {
    const auto& e = b.entries()[i];
    out.push_back(static_cast<char>(e.op));
    PutU32(out, static_cast<uint32_t>(e.id.size()));
    out += e.id;
    PutU32(out, static_cast<uint32_t>(metadata[i].size()));
    out += metadata[i];
    auto v = b.vector(e);
    PutU32(out, static_cast<uint32_t>(v.size()));
    out.append(reinterpret_cast<const char*>(v.data()), v.size_bytes());
  }
  return out;
}

Status DecodeBatch(std::string_view in, WriteBatch* b, std::vector<std::string>* metadata) {
  auto bad = [] { return Status::Corruption("journal record is malformed"); };
  uint32_t n;
  if (!GetU32(in, &n)) return bad();
  for (uint32_t i = 0; i < n; ++i) {
    if (in.empty()) return bad();
    auto op = static_cast<WriteBatch::Op>(in[0]);
    in.remove_prefix(1);
    uint32_t len;
    if (!GetU32(in, &len) || in.size() < len) return bad();
    std::string id(in.substr(0, len));
    in.remove_prefix(len);
    if (!GetU32(in, &len) || in.size() < len) return bad();
    std::string meta(in.substr(0, len));
    in.remove_prefix(len);
    if (!GetU32(in, &len) || in.size() < len * sizeof(float)) return bad();
    std::vector<float> v(len);
    if (len) std::memcpy(v.data(), in.data(), len * sizeof(float));  // a delete has no vector (v.data() is null)
    in.remove_prefix(len * sizeof(float));
    if (static_cast<uint8_t>(op) < static_cast<uint8_t>(WriteBatch::Op::kUpsert) ||
        static_cast<uint8_t>(op) > static_cast<uint8_t>(WriteBatch::Op::kUpdateVector))
      return bad();
    b->Add(op, std::move(id), v, meta);
    metadata->push_back(std::move(meta));
  }
  return Status::OK();
}

}  // namespace

Status CollectionImpl::ApplyParts(const WriteBatch& batch, const std::vector<std::string>& metadata,
                                  uint64_t log_index) {
  const size_t n = shards_.size();
  std::vector<WriteBatch> parts(n);
  std::vector<std::vector<std::string>> part_meta(n);
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& e = batch.entries()[i];
    size_t s = IdHash(e.id) % n;
    parts[s].Add(e.op, e.id, batch.vector(e), e.metadata);
    part_meta[s].push_back(metadata[i]);
  }
  for (size_t s = 0; s < n; ++s) {
    if (parts[s].empty()) continue;
    VECTRON_RETURN_IF_ERROR(shards_[s]->ApplyValidated(parts[s], part_meta[s], log_index));
  }
  return Status::OK();
}

Status CollectionImpl::ReplayJournal() {
  if (!journal_) return Status::OK();
  for (;;) {
    std::string record;
    uint64_t id;
    {
      VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(*journal_));
      VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, rt.OpenCursor(journal_batches_));
      VECTRON_ASSIGN_OR_RETURN(bool any, c.First());
      if (!any) return Status::OK();
      id = DecodeU64(c.key());
      record = std::string(c.value());
    }
    WriteBatch b;
    std::vector<std::string> meta;
    VECTRON_RETURN_IF_ERROR(DecodeBatch(record, &b, &meta));
    // Shards that applied it already skip it: their applied_index is >= id.
    VECTRON_RETURN_IF_ERROR(ApplyParts(b, meta, id));
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*journal_));
    VECTRON_ASSIGN_OR_RETURN(bool gone, wt.Del(journal_batches_, EncodeU64(id)));
    (void)gone;
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
}

Result<std::unique_ptr<CollectionImpl>> CollectionImpl::Open(const std::string& name, const std::string& dir,
                                                              const CollectionConfig& config,
                                                              const DatabaseOptions& options) {
  std::unique_ptr<CollectionImpl> c(new CollectionImpl(name, dir, config, options));
  VECTRON_RETURN_IF_ERROR(MakeDirs(dir));
  for (uint32_t s = 0; s < config.shards; ++s) {
    char sub[32];
    std::snprintf(sub, sizeof(sub), "/shard-%04u", s);
    auto shard = ShardImpl::Open(dir + sub, config, options);
    if (!shard.ok()) {
      const Status& s = shard.status();
      return s.message().find(dir + sub) == std::string::npos ? s.WithContext("shard " + dir + sub) : s;
    }
    c->shards_.push_back(std::move(shard).value());
  }
  if (config.shards > 1) {
    VECTRON_RETURN_IF_ERROR(MakeDirs(dir + "/journal"));
    storage::EnvOptions eo;
    eo.map_size_bytes = options.map_size_bytes;
    VECTRON_ASSIGN_OR_RETURN(storage::LmdbEnv env, storage::LmdbEnv::Open(dir + "/journal", eo));
    c->journal_.emplace(std::move(env));
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*c->journal_));
    VECTRON_ASSIGN_OR_RETURN(c->journal_batches_, wt.OpenDbi("batches"));
    VECTRON_ASSIGN_OR_RETURN(c->journal_meta_, wt.OpenDbi("meta"));
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
    MutexLock lock(c->write_mu_);
    VECTRON_ASSIGN_OR_RETURN(FileLock fl, FileLock::Acquire(dir + "/write.lock"));
    VECTRON_RETURN_IF_ERROR(c->ReplayJournal());
  }
  return c;
}

CollectionImpl::~CollectionImpl() = default;

void CollectionImpl::MarkDropped() {
  for (auto& s : shards_) s->SkipCheckpointOnClose();
}

Status CollectionImpl::Sync() {
  for (auto& s : shards_) VECTRON_RETURN_IF_ERROR(s->Sync());
  return Status::OK();
}

std::string EncodeJournalRecord(const WriteBatch& batch, const std::vector<std::string>& metadata) {
  return EncodeBatch(batch, metadata);
}

uint32_t CollectionImpl::ShardOf(std::string_view id) const {
  return ShardOfId(id, static_cast<uint32_t>(shards_.size()));
}

Status CollectionImpl::Write(const WriteBatch& batch) {
  compactor_.MaybeStart(shards_, options_.auto_compact_deleted_share);  // deletes of earlier writes
  std::vector<std::string> metadata;
  VECTRON_RETURN_IF_ERROR(ValidateBatch(batch, config_, &metadata));
  if (batch.empty()) return Status::OK();
  MutexLock lock(write_mu_);
  if (shards_.size() == 1) return shards_[0]->ApplyValidated(batch, metadata, 0);

  VECTRON_ASSIGN_OR_RETURN(FileLock fl, FileLock::Acquire(dir_ + "/write.lock"));
  uint32_t first = ShardOf(batch.entries()[0].id);
  bool one_shard = std::all_of(batch.entries().begin(), batch.entries().end(),
                               [&](const WriteBatch::Entry& e) { return ShardOf(e.id) == first; });
  if (one_shard) return shards_[first]->ApplyValidated(batch, metadata, 0);

  // Spanning shards: partial updates are resolved into whole points first (every
  // writer holds write.lock, so nothing changes meanwhile), so that each shard's part
  // cannot fail on its content and the journal replays plain upserts.
  WriteBatch resolved;
  std::vector<std::string> resolved_meta;
  const bool partial = std::any_of(batch.entries().begin(), batch.entries().end(), [](const WriteBatch::Entry& e) {
    return e.op != WriteBatch::Op::kUpsert && e.op != WriteBatch::Op::kDelete;
  });
  if (partial) {
    VECTRON_RETURN_IF_ERROR(ResolvePartialUpdates(batch, metadata, &resolved, &resolved_meta));
    return WriteSpanning(resolved, resolved_meta);
  }
  return WriteSpanning(batch, metadata);
}

Status CollectionImpl::ResolvePartialUpdates(const WriteBatch& batch, const std::vector<std::string>& metadata,
                                             WriteBatch* out, std::vector<std::string>* out_meta) const {
  std::vector<std::string> ids;
  for (const auto& e : batch.entries())
    if (e.op != WriteBatch::Op::kUpsert && e.op != WriteBatch::Op::kDelete) ids.push_back(e.id);
  VECTRON_ASSIGN_OR_RETURN(auto current, Get(ids, GetOptions{}));
  size_t next = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& e = batch.entries()[i];
    if (e.op == WriteBatch::Op::kUpsert || e.op == WriteBatch::Op::kDelete) {
      out->Add(e.op, e.id, batch.vector(e), e.metadata);
      out_meta->push_back(metadata[i]);
      continue;
    }
    const std::optional<Point>& p = current[next++];
    if (!p)
      return Status::NotFound("batch entry " + std::to_string(i) + ": point \"" + e.id.substr(0, 64) +
                              "\" does not exist (a partial update needs an existing point)");
    std::string meta = p->metadata;
    if (e.op != WriteBatch::Op::kUpdateVector) {
      VECTRON_ASSIGN_OR_RETURN(meta, UpdatedMetadata(e.id, p->metadata, metadata[i],
                                                     e.op == WriteBatch::Op::kMergeMetadata));
    }
    out->Upsert(e.id, e.op == WriteBatch::Op::kUpdateVector ? batch.vector(e) : std::span<const float>(p->vector),
                meta);
    out_meta->push_back(std::move(meta));
  }
  return Status::OK();
}

Status CollectionImpl::WriteSpanning(const WriteBatch& batch, const std::vector<std::string>& metadata) {
  // Spanning shards: journal the batch first, so that a crash between shard commits is
  // completed on reopen (each shard skips a journal id it has applied).
  uint64_t id;
  {
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*journal_));
    VECTRON_ASSIGN_OR_RETURN(auto next, wt.Get(journal_meta_, "next_id"));
    id = next && next->size() == 8 ? DecodeU64(*next) : 1;
    // Never reuse an id a shard has applied (a journal restored or rebuilt by hand).
    for (auto& shard : shards_) {
      VECTRON_ASSIGN_OR_RETURN(uint64_t applied, shard->applied_index());
      id = std::max(id, applied + 1);
    }
    VECTRON_RETURN_IF_ERROR(wt.Put(journal_meta_, "next_id", EncodeU64(id + 1)));
    VECTRON_RETURN_IF_ERROR(wt.Put(journal_batches_, EncodeU64(id), EncodeBatch(batch, metadata)));
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
  Status s = ApplyParts(batch, metadata, id);
  if (!s.ok()) return s.WithContext("batch journaled but not applied to every shard (it completes on reopen)");
  // The journal is always synced; without fsync on the shards, an OS crash could keep
  // the journal's delete yet lose a shard's part: flush them first (docs/durability.md).
  if (options_.durability != Durability::kFull) VECTRON_RETURN_IF_ERROR(Sync());
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*journal_));
  VECTRON_ASSIGN_OR_RETURN(bool gone, wt.Del(journal_batches_, EncodeU64(id)));
  (void)gone;
  return std::move(wt).Commit();
}

Status CollectionImpl::Upsert(std::span<const Point> points) {
  WriteBatch b;
  for (const auto& p : points) b.Upsert(p.id, p.vector, p.metadata);
  return Write(b);
}

Status CollectionImpl::Delete(std::span<const std::string> ids) {
  WriteBatch b;
  for (const auto& id : ids) b.Delete(id);
  return Write(b);
}

Result<std::vector<Hit>> CollectionImpl::Search(std::span<const float> query, const SearchParams& params) const {
  if (shards_.size() == 1) return shards_[0]->Search(query, params);
  VECTRON_RETURN_IF_ERROR(ValidateSearch(query, params, config_));
  // Each shard's first k + offset (within the threshold); the merge skips offset.
  SearchParams inner = params;
  inner.k = params.k + params.offset;
  inner.offset = 0;
  std::vector<Hit> all;
  for (const auto& s : shards_) {
    VECTRON_ASSIGN_OR_RETURN(auto hits, s->Search(query, inner));
    std::move(hits.begin(), hits.end(), std::back_inserter(all));
  }
  MergeShardHits(all, params);
  return all;
}

// The shards' hits of one query (each shard's first k + offset) → the collection's.
void CollectionImpl::MergeShardHits(std::vector<Hit>& all, const SearchParams& params) {
  const size_t k = std::min(all.size(), static_cast<size_t>(params.k + params.offset));
  std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(k), all.end(),
                    [](const Hit& a, const Hit& b) { return a.score < b.score || (a.score == b.score && a.id < b.id); });
  all.resize(k);
  TrimHits(all, params);
}

Result<std::vector<std::vector<Hit>>> CollectionImpl::SearchBatch(std::span<const float> queries,
                                                              const SearchParams& params,
                                                              unsigned threads) const {
  const uint32_t dim = config_.dim;
  if (queries.size() % dim != 0)
    return Status::InvalidArgument("queries hold " + std::to_string(queries.size()) +
                                   " floats, not a multiple of the dimension " + std::to_string(dim));
  const size_t n = queries.size() / dim;
  std::vector<std::vector<Hit>> out(n);
  std::vector<Status> errors(n);
  bool one_pass = params.exact;  // or every shard flat: its searches are exact anyway
  if (!one_pass) {
    one_pass = true;
    for (const auto& s : shards_) one_pass = one_pass && s->always_exact();
  }
  if (one_pass && n > 1) {
    // Chunks of queries over the threads; each chunk makes one pass over each shard's
    // vectors (ShardImpl::SearchBatch), and the shards' hits are merged per query.
    const unsigned t = std::max(1u, threads ? threads : options_.threads);
    const size_t chunk = std::max<size_t>(16, (n + t - 1) / t);
    const size_t chunks = (n + chunk - 1) / chunk;
    std::vector<Status> chunk_errors(chunks);
    SearchParams inner = params;
    inner.k = params.k + params.offset;
    inner.offset = 0;
    ParallelFor(chunks, t, [&](size_t c) {
      const size_t q0 = c * chunk, q1 = std::min(n, q0 + chunk);
      const auto part = queries.subspan(q0 * dim, (q1 - q0) * dim);
      for (const auto& s : shards_) {
        auto r = s->SearchBatch(part, shards_.size() == 1 ? params : inner, q0);
        if (!r.ok()) {
          chunk_errors[c] = r.status();
          return;
        }
        for (size_t i = 0; i < r->size(); ++i)
          std::move((*r)[i].begin(), (*r)[i].end(), std::back_inserter(out[q0 + i]));
      }
      if (shards_.size() > 1)
        for (size_t i = q0; i < q1; ++i) MergeShardHits(out[i], params);
    });
    for (auto& e : chunk_errors)
      if (!e.ok()) return e;
    return out;
  }
  ParallelFor(n, threads ? threads : options_.threads, [&](size_t i) {
    auto r = Search(queries.subspan(i * dim, dim), params);
    if (r.ok()) out[i] = std::move(r).value();
    else errors[i] = r.status().WithContext("query " + std::to_string(i));
  });
  for (auto& e : errors)
    if (!e.ok()) return e;
  return out;
}

Result<std::vector<std::optional<Point>>> CollectionImpl::Get(std::span<const std::string> ids,
                                                         const GetOptions& options) const {
  std::vector<std::optional<Point>> out(ids.size());
  std::map<uint32_t, std::pair<std::vector<std::string>, std::vector<size_t>>> by_shard;
  for (size_t i = 0; i < ids.size(); ++i) {
    VECTRON_RETURN_IF_ERROR(ValidateId(ids[i]).WithContext("id " + std::to_string(i)));
    auto& [sid, pos] = by_shard[ShardOf(ids[i])];
    sid.push_back(ids[i]);
    pos.push_back(i);
  }
  for (auto& [s, group] : by_shard) {
    VECTRON_ASSIGN_OR_RETURN(auto got, shards_[s]->Get(group.first, options));
    for (size_t j = 0; j < got.size(); ++j) out[group.second[j]] = std::move(got[j]);
  }
  return out;
}

Result<uint64_t> CollectionImpl::Count(std::string_view where) const {
  uint64_t total = 0;
  for (const auto& s : shards_) {
    VECTRON_ASSIGN_OR_RETURN(uint64_t n, s->Count(where));
    total += n;
  }
  return total;
}

Result<ScrollPage> CollectionImpl::Scroll(std::string_view cursor, size_t limit, const GetOptions& options,
                                      std::string_view where) const {
  if (limit == 0) return Status::InvalidArgument("scroll limit must be at least 1");
  if (limit > 100000) return Status::InvalidArgument("scroll limit must be at most 100000");
  if (shards_.size() == 1) return shards_[0]->Scroll(cursor, limit, options, where);
  // Each shard returns its `limit` smallest ids after the cursor; the smallest `limit`
  // of their union are the global page.
  std::vector<Point> all;
  bool more = false;
  for (const auto& s : shards_) {
    VECTRON_ASSIGN_OR_RETURN(ScrollPage p, s->Scroll(cursor, limit, options, where));
    more |= !p.next_cursor.empty();
    std::move(p.points.begin(), p.points.end(), std::back_inserter(all));
  }
  std::sort(all.begin(), all.end(), [](const Point& a, const Point& b) { return a.id < b.id; });
  ScrollPage page;
  if (all.size() > limit) {
    more = true;
    all.resize(limit);
  }
  page.points = std::move(all);
  if (more && !page.points.empty()) page.next_cursor = page.points.back().id;
  return page;
}

Result<std::vector<Point>> CollectionImpl::List(std::string_view where, size_t limit, uint64_t offset,
                                                const GetOptions& options) const {
  if (limit == 0 || limit > kMaxListLimit)
    return Status::InvalidArgument("limit must be 1 to " + std::to_string(kMaxListLimit) + ", got " +
                                   std::to_string(limit));
  if (!where.empty()) VECTRON_RETURN_IF_ERROR(filter::ParseText(where).status());
  std::string cursor;
  // Skip `offset` matching points, reading ids only.
  while (offset > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(offset, kMaxListLimit));
    VECTRON_ASSIGN_OR_RETURN(ScrollPage p, Scroll(cursor, n, GetOptions{false, false}, where));
    if (p.next_cursor.empty()) return std::vector<Point>();  // All skipped: the end.
    offset -= p.points.size();
    cursor = p.next_cursor;
  }
  std::vector<Point> out;
  while (out.size() < limit) {
    VECTRON_ASSIGN_OR_RETURN(ScrollPage p, Scroll(cursor, limit - out.size(), options, where));
    std::move(p.points.begin(), p.points.end(), std::back_inserter(out));
    if (p.next_cursor.empty()) break;
    cursor = p.next_cursor;
  }
  return out;
}

Result<uint64_t> CollectionImpl::DeleteWhere(std::string_view where) {
  VECTRON_ASSIGN_OR_RETURN(filter::Filter f, filter::ParseText(where));
  WriteBatch batch;
  for (const auto& s : shards_) {
    VECTRON_ASSIGN_OR_RETURN(auto ids, s->IdsWhere(f));
    for (auto& id : ids) batch.Delete(std::move(id));
  }
  if (batch.empty()) return uint64_t{0};
  VECTRON_RETURN_IF_ERROR(Write(batch));
  return static_cast<uint64_t>(batch.size());
}

Status CollectionImpl::CreatePayloadIndex(std::string_view field, PayloadType type) {
  for (size_t i = 0; i < shards_.size(); ++i) {
    Status s = shards_[i]->CreatePayloadIndex(field, type);
    if (!s.ok()) {
      // Leave no shard with an index the others lack.
      for (size_t j = 0; j < i; ++j) (void)shards_[j]->DropPayloadIndex(field);
      return s;
    }
  }
  return Status::OK();
}

Status CollectionImpl::DropPayloadIndex(std::string_view field) {
  Status first;
  for (auto& s : shards_) {
    Status st = s->DropPayloadIndex(field);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Result<std::vector<PayloadIndexInfo>> CollectionImpl::ListPayloadIndexes() const {
  return shards_[0]->ListPayloadIndexes();
}

Result<CollectionStats> CollectionImpl::Stats() const {
  CollectionStats st;
  for (const auto& s : shards_) {
    VECTRON_ASSIGN_OR_RETURN(ShardStats ss, s->Stats());
    st.count += ss.count;
    st.index_memory_bytes += ss.index_memory_bytes;
    st.disk_bytes += ss.disk_bytes;
    st.deleted_slots += ss.deleted_slots;
    if (st.index_kind.empty()) st.index_kind = ss.index_kind;
    else if (st.index_kind != ss.index_kind) st.index_kind = "mixed";
  }
  if (journal_) st.disk_bytes += DiskUsage(dir_ + "/journal");
  return st;
}

Status CollectionImpl::Checkpoint() {
  for (auto& s : shards_) VECTRON_RETURN_IF_ERROR(s->Checkpoint());
  return Status::OK();
}

}  // namespace vectron
