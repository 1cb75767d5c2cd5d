#include "shard_store.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "feedback_store.h"
#include "index/distance.h"
#include "storage/keys.h"
#include "util/files.h"
#include "validate.h"

namespace vectron {

using storage::DecodeU64;
using storage::EncodeU64;
using storage::WriteTxn;

namespace {

constexpr const char* kFormat = "1";

size_t PointRecordSize(uint32_t dim, std::string_view id, std::string_view metadata) {
  return dim * sizeof(float) + 2 + id.size() + metadata.size();
}

void EncodePointRecord(char* out, std::span<const float> v, std::string_view id, std::string_view metadata) {
  std::memcpy(out, v.data(), v.size_bytes());
  out += v.size_bytes();
  uint16_t n = static_cast<uint16_t>(id.size());
  out[0] = static_cast<char>(n & 0xff);
  out[1] = static_cast<char>(n >> 8);
  std::memcpy(out + 2, id.data(), id.size());
  std::memcpy(out + 2 + id.size(), metadata.data(), metadata.size());
}

// A point record's parts, viewing LMDB memory (valid while its transaction lives).
struct PointRecordView {
  const char* vector;  // dim floats, possibly unaligned
  std::string_view id;
  std::string_view metadata;
};

Result<PointRecordView> ParsePointRecord(std::string_view v, uint32_t dim) {
  size_t vb = dim * sizeof(float);
  if (v.size() < vb + 2) return Status::Corruption("point record is too short");
  size_t n = static_cast<unsigned char>(v[vb]) | (static_cast<size_t>(static_cast<unsigned char>(v[vb + 1])) << 8);
  if (v.size() < vb + 2 + n) return Status::Corruption("point record id overruns the record");
  return PointRecordView{v.data(), v.substr(vb + 2, n), v.substr(vb + 2 + n)};
}

// Appends the record's vector to `out`, normalised for cosine (as the index holds it).
void AppendIndexVector(const PointRecordView& r, const CollectionConfig& config, std::vector<float>& out) {
  size_t off = out.size();
  out.resize(off + config.dim);
  std::memcpy(out.data() + off, r.vector, config.dim * sizeof(float));
  if (config.metric == Metric::kCosine) Normalize(std::span<float>(out.data() + off, config.dim));
}

unsigned EnvFlags(Durability d) {
  switch (d) {
    case Durability::kFull: return 0;
    case Durability::kNoMetaSync: return MDB_NOMETASYNC;
    case Durability::kNoSync: return MDB_NOSYNC;
  }
  return 0;
}

Result<uint64_t> LabelValue(std::string_view v) {
  if (v.size() != 8) return Status::Corruption("id entry has a bad size");
  return DecodeU64(v);
}

}  // namespace

Result<ShardStore> ShardStore::Open(const std::string& dir, const CollectionConfig& config,
                                    const DatabaseOptions& options) {
  VECTRON_RETURN_IF_ERROR(MakeDirs(dir));
  storage::EnvOptions eo;
  eo.map_size_bytes = options.map_size_bytes;
  eo.flags = EnvFlags(options.durability);
  VECTRON_ASSIGN_OR_RETURN(storage::LmdbEnv env, storage::LmdbEnv::Open(dir, eo));
  ShardStore s(std::move(env), dir, config);
  VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(s.env_));
  for (const auto& [name, member] : kTables) {
    VECTRON_ASSIGN_OR_RETURN(s.*member, wt.OpenDbi(name));
  }
  VECTRON_ASSIGN_OR_RETURN(auto fmt, wt.Get(s.meta_, "format"));
  if (!fmt) {
    VECTRON_RETURN_IF_ERROR(wt.Put(s.meta_, "format", kFormat));
    VECTRON_RETURN_IF_ERROR(wt.Put(s.meta_, "config", config.ToJson()));
  } else {
    if (*fmt != kFormat)
      return Status::FailedPrecondition("shard " + dir + " has format version " + std::string(*fmt) +
                                        ", this build reads version " + kFormat);
    VECTRON_ASSIGN_OR_RETURN(auto stored_text, wt.Get(s.meta_, "config"));
    if (!stored_text) return Status::Corruption("shard " + dir + " has no stored config");
    VECTRON_ASSIGN_OR_RETURN(CollectionConfig stored, CollectionConfig::FromJson(*stored_text));
    if (stored.dim != config.dim || stored.metric != config.metric)
      return Status::FailedPrecondition("shard " + dir + " was created with dim " + std::to_string(stored.dim) +
                                        " and metric " + std::string(MetricName(stored.metric)));
  }
  VECTRON_ASSIGN_OR_RETURN(uint64_t hidden, s.Counter(wt, meta_key::kRouteHidden));
  if (hidden > 0) {
    VECTRON_ASSIGN_OR_RETURN(uint64_t start, s.Counter(wt, meta_key::kRouteStart));
    VECTRON_ASSIGN_OR_RETURN(uint64_t end, s.Counter(wt, meta_key::kRouteEnd));
    s.set_hidden(HiddenRange{start, end, std::max<uint32_t>(config.shards, 1)});
  }
  VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  return s;
}

std::optional<HiddenRange> ShardStore::hidden() const {
  // A read racing a set_hidden sees the state before it or after it, as with the lock.
  if (!hidden_->any.load(std::memory_order_acquire)) return std::nullopt;
  MutexLock lock(hidden_->mu);
  return hidden_->range;
}

void ShardStore::set_hidden(std::optional<HiddenRange> range) {
  MutexLock lock(hidden_->mu);
  hidden_->range = range;
  hidden_->any.store(range.has_value(), std::memory_order_release);
}

Result<uint64_t> ShardStore::Counter(const storage::Txn& txn, std::string_view key) const {
  VECTRON_ASSIGN_OR_RETURN(auto v, txn.Get(meta_, key));
  if (!v) return uint64_t{0};
  if (v->size() != 8) return Status::Corruption("meta key " + std::string(key) + " has a bad size");
  return DecodeU64(*v);
}

Status ShardStore::PutCounter(WriteTxn& txn, std::string_view key, uint64_t value) const {
  return txn.Put(meta_, key, EncodeU64(value));
}

Result<Point> ShardStore::DecodePoint(std::string_view record, const GetOptions& options) const {
  VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(record, config_.dim));
  Point p;
  p.id = std::string(r.id);
  if (options.include_vector) {
    p.vector.resize(config_.dim);
    std::memcpy(p.vector.data(), r.vector, config_.dim * sizeof(float));
  }
  if (options.include_metadata) p.metadata = std::string(r.metadata);
  return p;
}

// ---------------------------------------------------------------------------------
// Reads

Result<std::string> ShardStore::MetaText(const storage::Txn& txn, std::string_view key) const {
  VECTRON_ASSIGN_OR_RETURN(auto v, txn.Get(meta_, key));
  return std::string(v.value_or(""));
}

Status ShardStore::PutMetaText(WriteTxn& txn, std::string_view key, std::string_view text) const {
  if (!text.empty()) return txn.Put(meta_, key, text);
  VECTRON_ASSIGN_OR_RETURN(bool gone, txn.Del(meta_, key));
  (void)gone;
  return Status::OK();
}

Result<bool> ShardStore::HasPoint(const storage::Txn& txn, std::string_view id) const {
  if (auto h = hidden(); h && h->Hides(id)) return false;
  VECTRON_ASSIGN_OR_RETURN(auto v, txn.Get(ids_, id));
  return v.has_value();
}

Result<uint64_t> ShardStore::CountPoints(const storage::Txn& txn) const {
  VECTRON_ASSIGN_OR_RETURN(uint64_t n, txn.Count(ids_));
  VECTRON_ASSIGN_OR_RETURN(uint64_t hidden, Counter(txn, meta_key::kRouteHidden));
  return n - std::min(n, hidden);
}
Result<uint64_t> ShardStore::DataBytes(const storage::Txn& txn) const {
  uint64_t bytes = 0;
  for (const auto& table : kTables) {
    VECTRON_ASSIGN_OR_RETURN(uint64_t b, txn.PageBytes(this->*table.second));
    bytes += b;
  }
  return bytes;
}

Result<uint64_t> ShardStore::CountRecords(const storage::Txn& txn) const { return txn.Count(points_); }

Result<std::vector<std::optional<Point>>> ShardStore::Get(const storage::Txn& txn, std::span<const std::string> ids,
                                                          const GetOptions& options) const {
  std::vector<std::optional<Point>> out(ids.size());
  const std::optional<HiddenRange> h = hidden();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (h && h->Hides(ids[i])) continue;
    VECTRON_ASSIGN_OR_RETURN(auto lv, txn.Get(ids_, ids[i]));
    if (!lv) continue;
    VECTRON_ASSIGN_OR_RETURN(auto pv, txn.Get(points_, *lv));
    if (!pv) return Status::Corruption("id \"" + ids[i] + "\" points at a missing record");
    VECTRON_ASSIGN_OR_RETURN(Point p, DecodePoint(*pv, options));
    out[i] = std::move(p);
  }
  return out;
}

Result<ScrollPage> ShardStore::Scroll(const storage::Txn& txn, std::string_view after, size_t limit,
                                      const GetOptions& options, const payload::Bitmap* allow) const {
  ScrollPage page;
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(ids_));
  VECTRON_ASSIGN_OR_RETURN(bool more, after.empty() ? c.First() : c.Seek(after));
  if (more && !after.empty() && c.key() == after) {
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  const std::optional<HiddenRange> h = hidden();
  while (more && page.points.size() < limit) {
    if (h && h->Hides(c.key())) {
      VECTRON_ASSIGN_OR_RETURN(more, c.Next());
      continue;
    }
    if (allow) {
      VECTRON_ASSIGN_OR_RETURN(uint64_t label, LabelValue(c.value()));
      if (label > payload::kMaxLabel || !allow->contains(static_cast<uint32_t>(label))) {
        VECTRON_ASSIGN_OR_RETURN(more, c.Next());
        continue;
      }
    }
    VECTRON_ASSIGN_OR_RETURN(auto pv, txn.Get(points_, c.value()));
    if (!pv) return Status::Corruption("id \"" + std::string(c.key()) + "\" points at a missing record");
    VECTRON_ASSIGN_OR_RETURN(Point p, DecodePoint(*pv, options));
    page.points.push_back(std::move(p));
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  if (more && !page.points.empty()) page.next_cursor = page.points.back().id;
  return page;
}

Status ShardStore::FillHits(const storage::Txn& txn, std::vector<Hit>& hits, const GetOptions& options) const {
  for (auto& h : hits) {
    VECTRON_ASSIGN_OR_RETURN(auto lv, txn.Get(ids_, h.id));
    if (!lv) continue;  // Deleted since the search; keep the hit without payload.
    VECTRON_ASSIGN_OR_RETURN(auto pv, txn.Get(points_, *lv));
    if (!pv) continue;
    VECTRON_ASSIGN_OR_RETURN(Point p, DecodePoint(*pv, options));
    h.vector = std::move(p.vector);
    h.metadata = std::move(p.metadata);
  }
  return Status::OK();
}

payload::MetadataLoader ShardStore::MetadataLoader(const storage::Txn& txn) const {
  return [this, &txn](uint64_t label) -> Result<std::optional<std::string_view>> {
    VECTRON_ASSIGN_OR_RETURN(auto v, txn.Get(points_, EncodeU64(label)));
    if (!v) return std::optional<std::string_view>();
    VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(*v, config_.dim));
    return std::optional<std::string_view>(r.metadata);
  };
}

Result<std::vector<std::string>> ShardStore::ReadLabelIds(const storage::Txn& txn) const {
  std::vector<std::string> ids;
  const std::optional<HiddenRange> h = hidden();
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(ids_));
  VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
  while (more) {
    if (!h || !h->Hides(c.key())) {
      VECTRON_ASSIGN_OR_RETURN(uint64_t label, LabelValue(c.value()));
      if (label >= ids.size()) ids.resize(label + 1);
      ids[label] = std::string(c.key());
    }
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  return ids;
}

Status ShardStore::ScanPoints(const storage::Txn& txn, size_t chunk, std::vector<std::string>& ids,
                              const std::function<Status(std::span<const uint64_t>, std::span<const float>)>& fn) const {
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(points_));
  VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
  std::vector<uint64_t> labels;
  std::vector<float> vectors;
  const std::optional<HiddenRange> h = hidden();
  while (more) {
    labels.clear();
    vectors.clear();
    while (more && labels.size() < chunk) {
      uint64_t label = DecodeU64(c.key());
      VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(c.value(), config_.dim));
      if (h && h->Hides(r.id)) {
        VECTRON_ASSIGN_OR_RETURN(more, c.Next());
        continue;
      }
      AppendIndexVector(r, config_, vectors);
      labels.push_back(label);
      if (label >= ids.size()) ids.resize(label + 1);
      ids[label] = std::string(r.id);
      VECTRON_ASSIGN_OR_RETURN(more, c.Next());
    }
    if (!labels.empty()) VECTRON_RETURN_IF_ERROR(fn(labels, vectors));
  }
  return Status::OK();
}

Result<std::string> ShardStore::HiddenLabels(const storage::Txn& txn, const HiddenRange& range) const {
  std::string touched;
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(ids_));
  VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
  while (more) {
    if (range.Hides(c.key())) {
      VECTRON_ASSIGN_OR_RETURN(uint64_t label, LabelValue(c.value()));
      touched.push_back(static_cast<char>(WriteBatch::Op::kDelete));
      touched += EncodeU64(label);
    }
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  return touched;
}

Result<std::vector<std::string>> ShardStore::HiddenIdsAfter(const storage::Txn& txn, const HiddenRange& range,
                                                            std::string_view after, size_t max, bool* at_end) const {
  std::vector<std::string> out;
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(ids_));
  VECTRON_ASSIGN_OR_RETURN(bool more, after.empty() ? c.First() : c.Seek(after));
  if (more && !after.empty() && c.key() == after) {
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  while (more && out.size() < max) {
    if (range.Hides(c.key())) out.emplace_back(c.key());
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  *at_end = !more;
  return out;
}

// ---------------------------------------------------------------------------------
// The change log

Result<bool> ShardStore::ChangeLogReaches(const storage::Txn& txn, uint64_t after) const {
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(changes_));
  VECTRON_ASSIGN_OR_RETURN(bool found, c.Seek(EncodeU64(after + 1)));
  return found && DecodeU64(c.key()) == after + 1;
}

Result<bool> ShardStore::LabelsChangedAfter(const storage::Txn& txn, uint64_t after,
                                            std::vector<uint64_t>* labels) const {
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(changes_));
  VECTRON_ASSIGN_OR_RETURN(bool found, c.Seek(EncodeU64(after + 1)));
  if (!found || DecodeU64(c.key()) != after + 1) return false;
  labels->clear();
  for (bool ok = true; ok;) {
    std::string_view v = c.value();
    if (v.size() % 9 != 0) return Status::Corruption("change-log entry has a bad size");
    for (size_t i = 0; i < v.size(); i += 9) labels->push_back(DecodeU64(v.substr(i + 1, 8)));
    VECTRON_ASSIGN_OR_RETURN(ok, c.Next());
  }
  std::sort(labels->begin(), labels->end());
  labels->erase(std::unique(labels->begin(), labels->end()), labels->end());
  return true;
}

Result<LabelChanges> ShardStore::ReadLabels(const storage::Txn& txn, std::span<const uint64_t> labels) const {
  LabelChanges out;
  out.up_labels.reserve(labels.size());
  out.up_vectors.reserve(labels.size() * config_.dim);
  const std::optional<HiddenRange> h = hidden();
  for (uint64_t label : labels) {
    VECTRON_ASSIGN_OR_RETURN(auto v, txn.Get(points_, EncodeU64(label)));
    if (!v) {
      out.rm_labels.push_back(label);
      continue;
    }
    VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(*v, config_.dim));
    if (h && h->Hides(r.id)) {
      out.rm_labels.push_back(label);
      continue;
    }
    AppendIndexVector(r, config_, out.up_vectors);
    out.up_labels.push_back(label);
    out.up_ids.emplace_back(r.id);
    out.up_meta.emplace_back(r.metadata);
  }
  return out;
}

Status ShardStore::LogBatch(WriteTxn& txn, uint64_t seq, std::string_view touched) const {
  VECTRON_RETURN_IF_ERROR(txn.Put(changes_, EncodeU64(seq), touched));
  return PutCounter(txn, meta_key::kSeq, seq);
}

Status ShardStore::TrimChangeLog(WriteTxn& txn, uint64_t upto, int max_entries) const {
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(changes_));
  for (int n = 0; n < max_entries; ++n) {
    VECTRON_ASSIGN_OR_RETURN(bool any, c.First());
    if (!any || DecodeU64(c.key()) > upto) break;
    VECTRON_RETURN_IF_ERROR(c.Delete());
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------
// Payload indexes

Result<std::string> ShardStore::PayloadDefinitionsText(const storage::Txn& txn) const {
  VECTRON_ASSIGN_OR_RETURN(auto raw, txn.Get(meta_, "payload_indexes"));
  return std::string(raw.value_or(""));
}

Result<std::vector<payload::Definition>> ShardStore::PayloadDefinitions(const storage::Txn& txn) const {
  VECTRON_ASSIGN_OR_RETURN(auto raw, txn.Get(meta_, "payload_indexes"));
  return payload::ParseDefinitions(raw.value_or(""));
}

Status ShardStore::PutPayloadDefinitions(WriteTxn& txn, const std::vector<payload::Definition>& defs) const {
  if (!defs.empty()) return txn.Put(meta_, "payload_indexes", payload::DefinitionsToJson(defs));
  VECTRON_ASSIGN_OR_RETURN(bool gone, txn.Del(meta_, "payload_indexes"));
  (void)gone;
  return Status::OK();
}

Result<payload::PayloadState> ShardStore::ReadPayload(const storage::Txn& txn) const {
  VECTRON_ASSIGN_OR_RETURN(std::string text, PayloadDefinitionsText(txn));
  VECTRON_ASSIGN_OR_RETURN(auto parsed, payload::ParseDefinitions(text));
  payload::PayloadState fresh;
  fresh.SetDefinitions(parsed, text);
  const std::optional<HiddenRange> h = hidden();
  payload::Bitmap hidden_labels;  // postings of hidden points are not loaded
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor ic, txn.OpenCursor(ids_));
  VECTRON_ASSIGN_OR_RETURN(bool more, ic.First());
  while (more) {
    VECTRON_ASSIGN_OR_RETURN(uint64_t label, LabelValue(ic.value()));
    if (label > payload::kMaxLabel) return Status::Corruption("point label beyond 2^32");
    if (h && h->Hides(ic.key())) {
      hidden_labels.add(static_cast<uint32_t>(label));
    } else {
      fresh.MarkLive(label);
    }
    VECTRON_ASSIGN_OR_RETURN(more, ic.Next());
  }
  for (const auto& fi : fresh.indexes()) {
    const std::string prefix = payload::SlotPrefix(fi->def.slot);
    for (int which = 0; which < 2; ++which) {
      VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(which == 0 ? payload_ : payload_other_));
      VECTRON_ASSIGN_OR_RETURN(bool ok, c.Seek(prefix));
      while (ok && c.key().substr(0, 4) == prefix) {
        std::string_view k = c.key();
        if (k.size() < 12) return Status::Corruption("payload index key is too short");
        uint64_t label = DecodeU64(k.substr(k.size() - 8));
        if (!h || label > payload::kMaxLabel || !hidden_labels.contains(static_cast<uint32_t>(label)))
          fresh.AddLoaded(*fi, label, k.substr(4, k.size() - 12), which == 1);
        VECTRON_ASSIGN_OR_RETURN(ok, c.Next());
      }
    }
  }
  return fresh;
}

Result<uint64_t> ShardStore::IndexField(WriteTxn& txn, const filter::FieldPath& path, PayloadType type, uint32_t slot,
                              const std::function<bool(uint64_t, uint64_t)>& progress) const {
  VECTRON_ASSIGN_OR_RETURN(uint64_t n, txn.Count(points_));
  if (progress && !progress(0, n)) return Status::Cancelled("payload index build cancelled");
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(points_));
  VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
  std::vector<std::string> keys;
  bool other = false;
  uint64_t done = 0;
  while (more) {
    uint64_t label = DecodeU64(c.key());
    VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(c.value(), config_.dim));
    nlohmann::json j = r.metadata.empty() ? nlohmann::json() : nlohmann::json::parse(r.metadata, nullptr, false);
    payload::ExtractKeys(j, path, type, &keys, &other);
    for (const auto& k : keys) VECTRON_RETURN_IF_ERROR(txn.Put(payload_, payload::PostingKey(slot, k, label), ""));
    if (other) VECTRON_RETURN_IF_ERROR(txn.Put(payload_other_, payload::OtherKey(slot, label), ""));
    if (++done % 8192 == 0 && progress && !progress(done, n))
      return Status::Cancelled("payload index build cancelled");  // The txn aborts: nothing written.
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  return n;
}

Status ShardStore::DropField(WriteTxn& txn, uint32_t slot) const {
  const std::string prefix = payload::SlotPrefix(slot);
  for (storage::Dbi dbi : {payload_, payload_other_}) {
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(dbi));
    for (;;) {
      VECTRON_ASSIGN_OR_RETURN(bool ok, c.Seek(prefix));
      if (!ok || c.key().substr(0, 4) != prefix) break;
      VECTRON_RETURN_IF_ERROR(c.Delete());
    }
  }
  return Status::OK();
}

Status PayloadSchema::Refresh(const ShardStore& store, const storage::Txn& txn) {
  VECTRON_ASSIGN_OR_RETURN(auto raw, txn.Get(store.meta_, "payload_indexes"));
  std::string_view text = raw.value_or("");
  if (text == raw_ && (!text.empty() || defs_.empty())) return Status::OK();
  VECTRON_ASSIGN_OR_RETURN(auto parsed, payload::ParseDefinitions(text));
  std::vector<filter::FieldPath> paths;
  for (const auto& d : parsed) {
    VECTRON_ASSIGN_OR_RETURN(auto p, payload::ParseFieldName(d.field));
    paths.push_back(std::move(p));
  }
  defs_ = std::move(parsed);
  paths_ = std::move(paths);
  raw_ = std::string(text);
  return Status::OK();
}

// ---------------------------------------------------------------------------------
// PointWriter

Result<std::optional<uint64_t>> PointWriter::LabelOf(std::string_view id) {
  VECTRON_ASSIGN_OR_RETURN(auto existing, txn_.Get(store_.ids_, id));
  if (!existing) return std::optional<uint64_t>();
  if (existing->size() != 8) return Status::Corruption("id entry for \"" + std::string(id) + "\" has a bad size");
  return std::optional<uint64_t>(DecodeU64(*existing));
}

Result<uint64_t> PointWriter::TakeLabel() {
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor fc, txn_.OpenCursor(store_.free_));
  VECTRON_ASSIGN_OR_RETURN(bool has_free, fc.First());
  if (has_free) {
    uint64_t label = DecodeU64(fc.key());
    VECTRON_RETURN_IF_ERROR(fc.Delete());
    return label;
  }
  if (next_label_ > payload::kMaxLabel)
    return Status::ResourceExhausted("shard " + store_.dir_ + " has used all 2^32 point slots");
  return next_label_++;
}

Status PointWriter::Postings(uint64_t label, std::string_view metadata, bool add) {
  const auto& defs = schema_.defs();
  if (defs.empty()) return Status::OK();
  nlohmann::json j = metadata.empty() ? nlohmann::json() : nlohmann::json::parse(metadata, nullptr, false);
  bool other = false;
  for (size_t d = 0; d < defs.size(); ++d) {
    payload::ExtractKeys(j, schema_.paths()[d], defs[d].type, &keys_, &other);
    for (const auto& k : keys_) {
      if (add) {
        VECTRON_RETURN_IF_ERROR(txn_.Put(store_.payload_, payload::PostingKey(defs[d].slot, k, label), ""));
      } else {
        VECTRON_ASSIGN_OR_RETURN(bool gone, txn_.Del(store_.payload_, payload::PostingKey(defs[d].slot, k, label)));
        (void)gone;
      }
    }
    if (add && other) VECTRON_RETURN_IF_ERROR(txn_.Put(store_.payload_other_, payload::OtherKey(defs[d].slot, label), ""));
    if (!add) {
      VECTRON_ASSIGN_OR_RETURN(bool gone, txn_.Del(store_.payload_other_, payload::OtherKey(defs[d].slot, label)));
      (void)gone;
    }
  }
  return Status::OK();
}

Status PointWriter::UnindexOld(uint64_t label) {
  if (schema_.defs().empty()) return Status::OK();
  VECTRON_ASSIGN_OR_RETURN(auto old, txn_.Get(store_.points_, EncodeU64(label)));
  if (!old) return Status::OK();
  VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(*old, store_.config_.dim));
  std::string old_meta(r.metadata);  // Copied: the page may change under the writes below.
  return Postings(label, old_meta, false);
}

void PointWriter::Note(WriteBatch::Op op, uint64_t label) {
  touched_.push_back(static_cast<char>(op));
  touched_ += EncodeU64(label);
}

Status PointWriter::Upsert(std::string_view id, std::span<const float> vector, std::string_view metadata) {
  VECTRON_ASSIGN_OR_RETURN(std::optional<uint64_t> label, LabelOf(id));
  if (!label) {
    VECTRON_ASSIGN_OR_RETURN(label, TakeLabel());
    VECTRON_RETURN_IF_ERROR(txn_.Put(store_.ids_, id, EncodeU64(*label)));
  } else {
    VECTRON_RETURN_IF_ERROR(UnindexOld(*label));
  }
  VECTRON_ASSIGN_OR_RETURN(char* out, txn_.Reserve(store_.points_, EncodeU64(*label),
                                                   PointRecordSize(store_.config_.dim, id, metadata)));
  EncodePointRecord(out, vector, id, metadata);
  VECTRON_RETURN_IF_ERROR(Postings(*label, metadata, true));
  Note(WriteBatch::Op::kUpsert, *label);
  return Status::OK();
}

Status PointWriter::Delete(std::string_view id) {
  VECTRON_ASSIGN_OR_RETURN(std::optional<uint64_t> label, LabelOf(id));
  if (!label) return Status::OK();  // Deleting a missing id is a no-op.
  VECTRON_RETURN_IF_ERROR(UnindexOld(*label));
  VECTRON_ASSIGN_OR_RETURN(bool gone, txn_.Del(store_.ids_, id));
  (void)gone;
  VECTRON_ASSIGN_OR_RETURN(bool gone2, txn_.Del(store_.points_, EncodeU64(*label)));
  (void)gone2;
  VECTRON_RETURN_IF_ERROR(txn_.Put(store_.free_, EncodeU64(*label), ""));
  VECTRON_RETURN_IF_ERROR(feedback::Erase(txn_, store_.feedback_, id));  // Ratings go with their point.
  Note(WriteBatch::Op::kDelete, *label);
  return Status::OK();
}

Status PointWriter::Rewrite(std::string_view id, uint64_t label, std::span<const float> vector,
                            std::string_view metadata) {
  VECTRON_RETURN_IF_ERROR(UnindexOld(label));
  VECTRON_ASSIGN_OR_RETURN(char* out, txn_.Reserve(store_.points_, EncodeU64(label),
                                                   PointRecordSize(store_.config_.dim, id, metadata)));
  EncodePointRecord(out, vector, id, metadata);
  VECTRON_RETURN_IF_ERROR(Postings(label, metadata, true));
  Note(WriteBatch::Op::kUpsert, label);  // The index re-reads the label's vector and metadata.
  return Status::OK();
}

namespace {

Status NoSuchPoint(std::string_view id) {
  return Status::NotFound("point \"" + std::string(id.substr(0, 64)) + (id.size() > 64 ? "..." : "") +
                          "\" does not exist (a partial update needs an existing point)");
}

}  // namespace

Status PointWriter::SetMetadata(std::string_view id, std::string_view metadata, bool merge) {
  VECTRON_ASSIGN_OR_RETURN(std::optional<uint64_t> label, LabelOf(id));
  if (!label) return NoSuchPoint(id);
  VECTRON_ASSIGN_OR_RETURN(auto old, txn_.Get(store_.points_, EncodeU64(*label)));
  if (!old) return Status::Corruption("id \"" + std::string(id) + "\" points at a missing record");
  VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(*old, store_.config_.dim));
  // Copied: the page may change under the writes below.
  std::vector<float> vector(store_.config_.dim);
  std::memcpy(vector.data(), r.vector, vector.size() * sizeof(float));
  VECTRON_ASSIGN_OR_RETURN(std::string next, UpdatedMetadata(id, r.metadata, metadata, merge));
  return Rewrite(id, *label, vector, next);
}

Status PointWriter::UpdateVector(std::string_view id, std::span<const float> vector) {
  VECTRON_ASSIGN_OR_RETURN(std::optional<uint64_t> label, LabelOf(id));
  if (!label) return NoSuchPoint(id);
  VECTRON_ASSIGN_OR_RETURN(auto old, txn_.Get(store_.points_, EncodeU64(*label)));
  if (!old) return Status::Corruption("id \"" + std::string(id) + "\" points at a missing record");
  VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(*old, store_.config_.dim));
  std::string metadata(r.metadata);  // Copied: the page may change under the writes below.
  return Rewrite(id, *label, vector, metadata);
}

}  // namespace vectron
