#include "vectron/shard.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <nlohmann/json.hpp>

#include "checkpoint_files.h"
#include "index/distance.h"
#include "shard_impl.h"
#include "storage/keys.h"
#include "util/files.h"
#include "util/parallel.h"
#include "validate.h"

namespace vectron {

using storage::DecodeU64;
using storage::EncodeU64;
using storage::ReadTxn;
using storage::WriteTxn;

namespace {

constexpr const char* kFormat = "1";
constexpr int kCheckpointFormat = 1;
// Change-log entries kept behind the newest, so that other processes (and a reopen
// from a slightly older checkpoint) can catch up instead of rebuilding.
constexpr uint64_t kKeepChanges = 1024;
// At most this many old change-log entries are trimmed per commit (bounds latency).
constexpr int kTrimPerCommit = 64;
constexpr size_t kRebuildChunk = 4096;

Result<uint64_t> GetU64(const storage::Txn& txn, storage::Dbi dbi, std::string_view key) {
  VECTRON_ASSIGN_OR_RETURN(auto v, txn.Get(dbi, key));
  if (!v) return uint64_t{0};
  if (v->size() != 8) return Status::Corruption("meta key " + std::string(key) + " has a bad size");
  return DecodeU64(*v);
}

Status PutU64(WriteTxn& txn, storage::Dbi dbi, std::string_view key, uint64_t v) {
  return txn.Put(dbi, key, EncodeU64(v));
}

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

unsigned EnvFlags(Durability d) {
  switch (d) {
    case Durability::kFull: return 0;
    case Durability::kNoMetaSync: return MDB_NOMETASYNC;
    case Durability::kNoSync: return MDB_NOSYNC;
  }
  return 0;
}

}  // namespace

unsigned Shard::Impl::threads() const { return ResolveThreads(options.threads); }

Result<Point> Shard::Impl::DecodePoint(std::string_view value, const GetOptions& opts) const {
  VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(value, config.dim));
  Point p;
  p.id = std::string(r.id);
  if (opts.include_vector) {
    p.vector.resize(config.dim);
    std::memcpy(p.vector.data(), r.vector, config.dim * sizeof(float));
  }
  if (opts.include_metadata) p.metadata = std::string(r.metadata);
  return p;
}

Status Shard::Impl::ApplyValidated(const WriteBatch& batch, const std::vector<std::string>& metadata,
                                   uint64_t log_index) {
  LocalWriter writer(local_writers);
  std::lock_guard lock(write_mu);
  VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(env));
  VECTRON_ASSIGN_OR_RETURN(uint64_t seq, GetU64(wt, meta, "seq"));
  VECTRON_ASSIGN_OR_RETURN(uint64_t applied, GetU64(wt, meta, "applied_index"));
  VECTRON_ASSIGN_OR_RETURN(uint64_t next_label, GetU64(wt, meta, "next_label"));
  if (log_index != 0 && log_index <= applied) return Status::OK();  // Replay of an applied batch.
  VECTRON_RETURN_IF_ERROR(ReadDefinitions(wt));

  // Payload index maintenance, in the same transaction as the points.
  std::vector<std::string> keys;
  bool other = false;
  auto index_keys = [&](uint64_t label, std::string_view metadata, bool add) -> Status {
    if (defs.empty()) return Status::OK();
    nlohmann::json j = metadata.empty() ? nlohmann::json() : nlohmann::json::parse(metadata, nullptr, false);
    for (size_t d = 0; d < defs.size(); ++d) {
      payload::ExtractKeys(j, def_paths[d], defs[d].type, &keys, &other);
      for (const auto& k : keys) {
        if (add) {
          VECTRON_RETURN_IF_ERROR(wt.Put(payload_dbi, payload::PostingKey(defs[d].slot, k, label), ""));
        } else {
          VECTRON_ASSIGN_OR_RETURN(bool gone, wt.Del(payload_dbi, payload::PostingKey(defs[d].slot, k, label)));
          (void)gone;
        }
      }
      if (add && other) VECTRON_RETURN_IF_ERROR(wt.Put(payload_other, payload::OtherKey(defs[d].slot, label), ""));
      if (!add) {
        VECTRON_ASSIGN_OR_RETURN(bool gone, wt.Del(payload_other, payload::OtherKey(defs[d].slot, label)));
        (void)gone;
      }
    }
    return Status::OK();
  };
  auto unindex_old = [&](uint64_t label) -> Status {
    if (defs.empty()) return Status::OK();
    VECTRON_ASSIGN_OR_RETURN(auto old, wt.Get(points, EncodeU64(label)));
    if (!old) return Status::OK();
    VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(*old, config.dim));
    std::string old_meta(r.metadata);  // Copied: the page may change under the writes below.
    return index_keys(label, old_meta, false);
  };

  std::string touched;
  touched.reserve(batch.size() * 9);
  auto note = [&](WriteBatch::Op op, uint64_t label) {
    touched.push_back(static_cast<char>(op));
    touched += EncodeU64(label);
  };
  const auto& entries = batch.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    VECTRON_ASSIGN_OR_RETURN(auto existing, wt.Get(ids, e.id));
    std::optional<uint64_t> label;
    if (existing) {
      if (existing->size() != 8) return Status::Corruption("id entry for \"" + e.id + "\" has a bad size");
      label = DecodeU64(*existing);
    }
    if (e.op == WriteBatch::Op::kUpsert) {
      if (!label) {
        VECTRON_ASSIGN_OR_RETURN(storage::Cursor fc, wt.OpenCursor(free_labels));
        VECTRON_ASSIGN_OR_RETURN(bool has_free, fc.First());
        if (has_free) {
          label = DecodeU64(fc.key());
          VECTRON_RETURN_IF_ERROR(fc.Delete());
        } else {
          if (next_label > payload::kMaxLabel)
            return Status::ResourceExhausted("shard " + dir + " has used all 2^32 point slots");
          label = next_label++;
        }
        VECTRON_RETURN_IF_ERROR(wt.Put(ids, e.id, EncodeU64(*label)));
      } else {
        VECTRON_RETURN_IF_ERROR(unindex_old(*label));
      }
      auto vec = batch.vector(e);
      VECTRON_ASSIGN_OR_RETURN(char* out, wt.Reserve(points, EncodeU64(*label),
                                                     PointRecordSize(config.dim, e.id, metadata[i])));
      EncodePointRecord(out, vec, e.id, metadata[i]);
      VECTRON_RETURN_IF_ERROR(index_keys(*label, metadata[i], true));
      note(e.op, *label);
    } else {
      if (!label) continue;  // Deleting a missing id is a no-op.
      VECTRON_RETURN_IF_ERROR(unindex_old(*label));
      VECTRON_ASSIGN_OR_RETURN(bool gone, wt.Del(ids, e.id));
      (void)gone;
      VECTRON_ASSIGN_OR_RETURN(bool gone2, wt.Del(points, EncodeU64(*label)));
      (void)gone2;
      VECTRON_RETURN_IF_ERROR(wt.Put(free_labels, EncodeU64(*label), ""));
      note(e.op, *label);
    }
  }
  if (touched.empty() && log_index == 0) return Status::OK();  // Nothing changed.

  if (!touched.empty()) {
    ++seq;
    VECTRON_RETURN_IF_ERROR(wt.Put(changes, EncodeU64(seq), touched));
    VECTRON_RETURN_IF_ERROR(PutU64(wt, meta, "seq", seq));
    VECTRON_RETURN_IF_ERROR(PutU64(wt, meta, "next_label", next_label));
  }
  if (log_index != 0) VECTRON_RETURN_IF_ERROR(PutU64(wt, meta, "applied_index", log_index));

  // Trim the change log: keep what a reopen from the last checkpoint needs.
  uint64_t keep_from = seq > kKeepChanges ? seq - kKeepChanges : 0;
  VECTRON_ASSIGN_OR_RETURN(uint64_t ckpt, GetU64(wt, meta, "checkpoint_seq"));
  bool hnsw;
  {
    std::shared_lock s(state_mu);
    hnsw = IsHnsw();
  }
  uint64_t trim_upto = hnsw ? std::min(ckpt, keep_from) : keep_from;
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor cc, wt.OpenCursor(changes));
  for (int n = 0; n < kTrimPerCommit; ++n) {
    VECTRON_ASSIGN_OR_RETURN(bool any, cc.First());
    if (!any || DecodeU64(cc.key()) > trim_upto) break;
    VECTRON_RETURN_IF_ERROR(cc.Delete());
  }

  VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  Status s = CatchUp();
  if (!s.ok()) return s.WithContext("write committed, but the in-memory index did not catch up (it will retry)");
  return Status::OK();
}

Result<bool> Shard::Impl::LabelsChangedAfter(const storage::Txn& txn, uint64_t after,
                                             std::vector<uint64_t>* labels) const {
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(changes));
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

void Shard::Impl::PublishLocked(std::span<const uint64_t> rm_labels, std::span<const uint64_t> up_labels,
                                std::vector<std::string>& up_ids, std::span<const std::string> up_meta,
                                uint64_t seq) {
  for (uint64_t l : rm_labels) {
    if (l < label_ids.size()) label_ids[l].clear();
    payload.Remove(l);
  }
  for (size_t i = 0; i < up_labels.size(); ++i) {
    if (up_labels[i] >= label_ids.size()) label_ids.resize(up_labels[i] + 1);
    label_ids[up_labels[i]] = std::move(up_ids[i]);
    payload.Upsert(up_labels[i], up_meta[i]);
  }
  index_seq = seq;
}

Status Shard::Impl::CatchUp() {
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(env));
  uint64_t txnid = rt.id();
  VECTRON_ASSIGN_OR_RETURN(uint64_t seq, GetU64(rt, meta, "seq"));
  uint64_t cur;
  bool defs_changed;
  {
    VECTRON_ASSIGN_OR_RETURN(auto raw, rt.Get(meta, "payload_indexes"));
    std::shared_lock s(state_mu);
    cur = index_seq;
    defs_changed = std::string_view(raw.value_or("")) != payload.raw_definitions();
  }
  // A payload index was created or dropped (maybe by another process): reload them
  // all from this snapshot; the labels replayed below are re-synced on top.
  if (defs_changed) VECTRON_RETURN_IF_ERROR(LoadPayload(rt));
  if (seq == cur) {
    seen_txnid.store(txnid);
    return Status::OK();
  }
  if (seq < cur) return RebuildIndex(rt, seq, "the data is older than the index");

  // Labels touched by batches cur+1..seq; each is synced to its state in this snapshot,
  // which is idempotent however the batches interleaved.
  std::vector<uint64_t> labels;
  VECTRON_ASSIGN_OR_RETURN(bool logged, LabelsChangedAfter(rt, cur, &labels));
  if (!logged) return RebuildIndex(rt, seq, "the change log was trimmed");

  std::vector<uint64_t> up_labels, rm_labels;
  std::vector<float> up_vectors;
  std::vector<std::string> up_ids, up_meta;
  up_labels.reserve(labels.size());
  up_vectors.reserve(labels.size() * config.dim);
  for (uint64_t label : labels) {
    VECTRON_ASSIGN_OR_RETURN(auto v, rt.Get(points, EncodeU64(label)));
    if (!v) {
      rm_labels.push_back(label);
      continue;
    }
    VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(*v, config.dim));
    size_t off = up_vectors.size();
    up_vectors.resize(off + config.dim);
    std::memcpy(up_vectors.data() + off, r.vector, config.dim * sizeof(float));
    if (config.metric == Metric::kCosine) Normalize(std::span<float>(up_vectors.data() + off, config.dim));
    up_labels.push_back(label);
    up_ids.emplace_back(r.id);
    up_meta.emplace_back(r.metadata);
  }
  // A large catch-up (an import batch) would hold state_mu, and so every search, for
  // the whole time its points take to enter the graph. Instead, points that are not
  // live yet enter it hidden, a chunk at a time, with state_mu released between chunks;
  // the batch then becomes visible at once below, so no search sees part of it.
  std::vector<uint64_t> hidden;
  if (IsHnsw() && up_labels.size() > kStageChunk) {
    std::vector<size_t> rows;
    {
      std::shared_lock s(state_mu);
      for (size_t i = 0; i < up_labels.size(); ++i)
        if (up_labels[i] >= label_ids.size() || label_ids[up_labels[i]].empty()) rows.push_back(i);
    }
    std::vector<float> chunk_vectors;
    // Chunks grow with what is hidden (at least 1/32 of it), since each chunk also
    // flips the delete mark of every hidden node (HnswIndex::StageHidden).
    for (size_t b = 0, step = kStageChunk; b < rows.size(); b += step, step = std::max(kStageChunk, b / 32)) {
      size_t e = std::min(rows.size(), b + step);
      size_t first = hidden.size();
      chunk_vectors.clear();
      for (size_t r = b; r < e; ++r) {
        hidden.push_back(up_labels[rows[r]]);
        const float* v = up_vectors.data() + rows[r] * config.dim;
        chunk_vectors.insert(chunk_vectors.end(), v, v + config.dim);
      }
      // Searches that queued up during the last chunk go first (bounded: a few ms).
      for (int spin = 0; b > 0 && searches_waiting.load() > 0 && spin < 2000; ++spin) std::this_thread::yield();
      std::unique_lock s(state_mu);
      VECTRON_RETURN_IF_ERROR(index->StageHidden(std::span<const uint64_t>(hidden).subspan(first),
                                                chunk_vectors, threads()));
    }
    // The rest (replacements of live points) goes in with the reveal.
    std::vector<uint64_t> rest_labels;
    std::vector<float> rest_vectors;
    size_t next_row = 0;
    for (size_t i = 0; i < up_labels.size(); ++i) {
      if (next_row < rows.size() && rows[next_row] == i) {
        ++next_row;
        continue;
      }
      rest_labels.push_back(up_labels[i]);
      const float* v = up_vectors.data() + i * config.dim;
      rest_vectors.insert(rest_vectors.end(), v, v + config.dim);
    }
    std::unique_lock s(state_mu);
    VECTRON_RETURN_IF_ERROR(index->Remove(rm_labels));
    VECTRON_RETURN_IF_ERROR(index->Reveal(hidden));
    VECTRON_RETURN_IF_ERROR(index->Upsert(rest_labels, rest_vectors, threads()));
    PublishLocked(rm_labels, up_labels, up_ids, up_meta, seq);
  } else {
    std::unique_lock s(state_mu);
    VECTRON_RETURN_IF_ERROR(index->Remove(rm_labels));
    VECTRON_RETURN_IF_ERROR(index->Upsert(up_labels, up_vectors, threads()));
    PublishLocked(rm_labels, up_labels, up_ids, up_meta, seq);
  }
  seen_txnid.store(txnid);

  if (!IsHnsw() && index->size() > config.flat_max_points)
    return RebuildIndex(rt, seq, "the shard outgrew flat_max_points");
  ops_since_checkpoint += labels.size();
  if (IsHnsw() && ops_since_checkpoint >= config.checkpoint_every_ops) return SaveCheckpoint();
  return Status::OK();
}

Status Shard::Impl::RebuildIndex(const ReadTxn& rt, uint64_t seq, const char* reason) {
  VECTRON_ASSIGN_OR_RETURN(uint64_t n, rt.Count(points));
  const bool hnsw = n > config.flat_max_points;
  std::unique_ptr<Index> fresh = hnsw ? std::unique_ptr<Index>(NewHnswIndexImpl(config.dim, config.metric,
                                                                                config.hnsw, n + n / 8 + 16,
                                                                                config.quantization))
                                      : NewFlatIndex(config.dim, config.metric);
  std::vector<std::string> fresh_ids;
  std::string stage = std::string("building ") + (hnsw ? "HNSW" : "flat") + " index for " + dir + " (" + reason + ")";
  // Flat builds are a memcpy per point; only graph builds are worth reporting.
  const bool report = options.progress && hnsw;
  if (report && !options.progress(stage, 0, n)) return Status::Cancelled("index build cancelled");

  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, rt.OpenCursor(points));
  VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
  std::vector<uint64_t> labels;
  std::vector<float> vectors;
  uint64_t done = 0;
  while (more) {
    labels.clear();
    vectors.clear();
    while (more && labels.size() < kRebuildChunk) {
      uint64_t label = DecodeU64(c.key());
      VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(c.value(), config.dim));
      size_t off = vectors.size();
      vectors.resize(off + config.dim);
      std::memcpy(vectors.data() + off, r.vector, config.dim * sizeof(float));
      if (config.metric == Metric::kCosine) Normalize(std::span<float>(vectors.data() + off, config.dim));
      labels.push_back(label);
      if (label >= fresh_ids.size()) fresh_ids.resize(label + 1);
      fresh_ids[label] = std::string(r.id);
      VECTRON_ASSIGN_OR_RETURN(more, c.Next());
    }
    VECTRON_RETURN_IF_ERROR(fresh->Upsert(labels, vectors, threads()));
    done += labels.size();
    if (report && !options.progress(stage, done, n)) return Status::Cancelled("index build cancelled");
  }
  {
    std::unique_lock s(state_mu);
    index = std::move(fresh);
    label_ids = std::move(fresh_ids);
    index_seq = seq;
  }
  VECTRON_RETURN_IF_ERROR(LoadPayload(rt));
  seen_txnid.store(rt.id());
  if (hnsw) return SaveCheckpoint();
  return Status::OK();
}

Status Shard::Impl::LoadCheckpoint(std::string* why_not) {
  const std::string meta_path = dir + "/index.meta";
  if (!PathExists(meta_path)) {
    *why_not = "no saved index";
    return Status::NotFound(*why_not);
  }
  auto fail = [&](std::string why) {
    *why_not = why;
    return Status::Corruption(why);
  };
  // Held while loading, so another process's save cannot delete the named graph.
  VECTRON_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(dir + "/checkpoint.lock"));
  VECTRON_ASSIGN_OR_RETURN(std::string text, ReadFile(meta_path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("index.meta is not valid JSON");
  uint64_t ck_seq, size, crc;
  std::string file;
  try {
    if (j.at("format").get<int>() != kCheckpointFormat) return fail("index.meta has an unknown format");
    ck_seq = j.at("seq").get<uint64_t>();
    size = j.at("size").get<uint64_t>();
    crc = j.at("crc32c").get<uint64_t>();
    file = j.at("file").get<std::string>();
    if (j.at("dim").get<uint32_t>() != config.dim || j.at("metric").get<std::string>() != MetricName(config.metric))
      return fail("saved index has another dimension or metric");
  } catch (const std::exception& e) {
    return fail(std::string("index.meta: ") + e.what());
  }
  if (file.find('/') != std::string::npos) return fail("index.meta names a bad file");
  uint32_t got_crc = 0;
  uint64_t got_size = 0;
  if (Status s = ChecksumFile(dir + "/" + file, &got_crc, &got_size); !s.ok()) return fail(s.message());
  if (got_size != size || got_crc != crc) return fail("saved index failed its checksum");

  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(env));
  VECTRON_ASSIGN_OR_RETURN(uint64_t seq, GetU64(rt, meta, "seq"));
  if (ck_seq > seq) return fail("saved index is newer than the data");
  if (ck_seq < seq) {
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, rt.OpenCursor(changes));
    VECTRON_ASSIGN_OR_RETURN(bool found, c.Seek(EncodeU64(ck_seq + 1)));
    if (!found || DecodeU64(c.key()) != ck_seq + 1) return fail("the change log no longer reaches back to the saved index");
  }
  auto loaded = LoadHnswIndex(dir + "/" + file, config.dim, config.metric, config.hnsw, config.quantization);
  if (!loaded.ok()) return fail(loaded.status().message());

  // Label → id from the current snapshot; labels changed since the checkpoint are
  // re-synced by the CatchUp that follows.
  std::vector<std::string> fresh_ids;
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor ic, rt.OpenCursor(ids));
  VECTRON_ASSIGN_OR_RETURN(bool more, ic.First());
  while (more) {
    if (ic.value().size() != 8) return Status::Corruption("id entry has a bad size");
    uint64_t label = DecodeU64(ic.value());
    if (label >= fresh_ids.size()) fresh_ids.resize(label + 1);
    fresh_ids[label] = std::string(ic.key());
    VECTRON_ASSIGN_OR_RETURN(more, ic.Next());
  }
  {
    std::unique_lock s(state_mu);
    index = std::move(loaded).value();
    label_ids = std::move(fresh_ids);
    index_seq = ck_seq;
  }
  VECTRON_RETURN_IF_ERROR(LoadPayload(rt));
  checkpoint_seq = ck_seq;
  return Status::OK();
}

Status Shard::Impl::SaveCheckpoint() {
  if (!IsHnsw()) return Status::OK();
  uint64_t seq;
  {
    std::shared_lock s(state_mu);
    seq = index_seq;
  }
  if (seq == checkpoint_seq && !force_checkpoint && PathExists(dir + "/index.meta")) return Status::OK();
  // Processes sharing the shard save one at a time (docs/durability.md): the lock makes
  // index.meta, the graph files and meta.checkpoint_seq change together, and any
  // index-* file that index.meta does not name is garbage while it is held.
  VECTRON_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(dir + "/checkpoint.lock"));
  std::optional<uint64_t> saved_seq = SavedCheckpointSeq(dir);
  if (saved_seq && *saved_seq > seq) {
    // Another process saved a newer graph; ours would only move the checkpoint back.
    checkpoint_seq = seq;
    ops_since_checkpoint = 0;
    force_checkpoint = false;
    return Status::OK();
  }
  auto* hnsw = static_cast<HnswIndex*>(index.get());
  const std::string file = "index-" + std::to_string(seq) + "-" + UniqueSuffix() + ".hnsw";
  const std::string tmp = dir + "/" + file + ".tmp";
  // write_mu is held, so the graph cannot change while it is written; searches go on.
  VECTRON_RETURN_IF_ERROR(hnsw->Save(tmp));
  VECTRON_RETURN_IF_ERROR(FsyncPath(tmp));
  uint32_t crc = 0;
  uint64_t size = 0;
  VECTRON_RETURN_IF_ERROR(ChecksumFile(tmp, &crc, &size));
  VECTRON_RETURN_IF_ERROR(RenamePath(tmp, dir + "/" + file));
  nlohmann::json j = {{"format", kCheckpointFormat}, {"seq", seq},     {"file", file},
                      {"size", size},                {"crc32c", crc},  {"dim", config.dim},
                      {"metric", MetricName(config.metric)}, {"count", hnsw->size()}};
  VECTRON_RETURN_IF_ERROR(WriteFileAtomic(dir + "/index.meta", j.dump()));
  RemoveStaleCheckpointFiles(dir, file);
  VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(env));
  VECTRON_RETURN_IF_ERROR(PutU64(wt, meta, "checkpoint_seq", seq));
  VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  checkpoint_seq = seq;
  ops_since_checkpoint = 0;
  force_checkpoint = false;
  return Status::OK();
}

Status Shard::Impl::MaybeRefresh() {
  if (env.LastTxnId() == seen_txnid.load()) return Status::OK();
  std::unique_lock lock(write_mu, std::try_to_lock);
  if (!lock.owns_lock()) {
    // A writer of this process holds the lock and catches up itself: don't queue
    // behind its (possibly large) batch; the search overlaps that write anyway.
    if (local_writers.load() > 0) return Status::OK();
    // Another search is catching up on other processes' commits, which this search
    // must see: wait for it.
    lock.lock();
    if (env.LastTxnId() == seen_txnid.load()) return Status::OK();
  }
  return CatchUp();
}


// ---------------------------------------------------------------------------------
// Payload indexes and filters

Status Shard::Impl::ReadDefinitions(const storage::Txn& txn) {
  VECTRON_ASSIGN_OR_RETURN(auto raw, txn.Get(meta, "payload_indexes"));
  std::string_view text = raw.value_or("");
  if (text == defs_raw && (!text.empty() || defs.empty())) return Status::OK();
  VECTRON_ASSIGN_OR_RETURN(auto parsed, payload::ParseDefinitions(text));
  std::vector<filter::FieldPath> paths;
  for (const auto& d : parsed) {
    VECTRON_ASSIGN_OR_RETURN(auto p, payload::ParseFieldName(d.field));
    paths.push_back(std::move(p));
  }
  defs = std::move(parsed);
  def_paths = std::move(paths);
  defs_raw = std::string(text);
  return Status::OK();
}

Status Shard::Impl::LoadPayload(const storage::Txn& txn) {
  VECTRON_ASSIGN_OR_RETURN(auto raw, txn.Get(meta, "payload_indexes"));
  std::string text(raw.value_or(""));
  VECTRON_ASSIGN_OR_RETURN(auto parsed, payload::ParseDefinitions(text));
  payload::PayloadState fresh;
  fresh.SetDefinitions(parsed, text);
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor ic, txn.OpenCursor(ids));
  VECTRON_ASSIGN_OR_RETURN(bool more, ic.First());
  while (more) {
    if (ic.value().size() != 8) return Status::Corruption("id entry has a bad size");
    uint64_t label = DecodeU64(ic.value());
    if (label > payload::kMaxLabel) return Status::Corruption("point label beyond 2^32");
    fresh.MarkLive(label);
    VECTRON_ASSIGN_OR_RETURN(more, ic.Next());
  }
  for (const auto& fi : fresh.indexes()) {
    const std::string prefix = payload::SlotPrefix(fi->def.slot);
    for (int which = 0; which < 2; ++which) {
      VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(which == 0 ? payload_dbi : payload_other));
      VECTRON_ASSIGN_OR_RETURN(bool ok, c.Seek(prefix));
      while (ok && c.key().substr(0, 4) == prefix) {
        std::string_view k = c.key();
        if (k.size() < 12) return Status::Corruption("payload index key is too short");
        uint64_t label = DecodeU64(k.substr(k.size() - 8));
        fresh.AddLoaded(*fi, label, k.substr(4, k.size() - 12), which == 1);
        VECTRON_ASSIGN_OR_RETURN(ok, c.Next());
      }
    }
  }
  std::unique_lock s(state_mu);
  fresh.set_version(payload.version() + 1);
  payload = std::move(fresh);
  return Status::OK();
}

Result<std::shared_ptr<const payload::Bitmap>> Shard::Impl::Allow(const filter::Filter& f,
                                                                  const storage::Txn& txn) const {
  const std::string key = filter::ToString(f);
  const uint64_t version = payload.version();
  {
    std::lock_guard g(allow_mu);
    for (const auto& c : allow_cache)
      if (c.version == version && c.key == key) return c.allow;
  }
  payload::MetadataLoader load = [&](uint64_t label) -> Result<std::optional<std::string_view>> {
    VECTRON_ASSIGN_OR_RETURN(auto v, txn.Get(points, EncodeU64(label)));
    if (!v) return std::optional<std::string_view>();
    VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(*v, config.dim));
    return std::optional<std::string_view>(r.metadata);
  };
  VECTRON_ASSIGN_OR_RETURN(payload::Bitmap bm, payload::ComputeAllow(f, payload, load));
  auto allow = std::make_shared<const payload::Bitmap>(std::move(bm));
  std::lock_guard g(allow_mu);
  allow_cache.push_front(CachedAllow{key, version, allow});
  if (allow_cache.size() > 16) allow_cache.pop_back();
  return allow;
}

Status Shard::Impl::CreatePayloadIndex(std::string_view field, PayloadType type) {
  VECTRON_ASSIGN_OR_RETURN(filter::FieldPath path, payload::ParseFieldName(field));
  LocalWriter writer(local_writers);
  std::lock_guard lock(write_mu);
  {
    VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(env));
    VECTRON_RETURN_IF_ERROR(ReadDefinitions(wt));
    uint32_t slot = 1;
    for (const auto& d : defs) {
      if (d.field == field)
        return Status::AlreadyExists("payload index on \"" + std::string(field) + "\" already exists (type " +
                                     PayloadTypeName(d.type) + ")");
      slot = std::max(slot, d.slot + 1);
    }
    VECTRON_ASSIGN_OR_RETURN(uint64_t n, wt.Count(points));
    const std::string stage = "indexing field " + std::string(field) + " of " + dir;
    if (options.progress && !options.progress(stage, 0, n)) return Status::Cancelled("payload index build cancelled");
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(points));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
    std::vector<std::string> keys;
    bool other = false;
    uint64_t done = 0;
    while (more) {
      uint64_t label = DecodeU64(c.key());
      VECTRON_ASSIGN_OR_RETURN(PointRecordView r, ParsePointRecord(c.value(), config.dim));
      nlohmann::json j = r.metadata.empty() ? nlohmann::json() : nlohmann::json::parse(r.metadata, nullptr, false);
      payload::ExtractKeys(j, path, type, &keys, &other);
      for (const auto& k : keys) VECTRON_RETURN_IF_ERROR(wt.Put(payload_dbi, payload::PostingKey(slot, k, label), ""));
      if (other) VECTRON_RETURN_IF_ERROR(wt.Put(payload_other, payload::OtherKey(slot, label), ""));
      if (++done % 8192 == 0 && options.progress && !options.progress(stage, done, n))
        return Status::Cancelled("payload index build cancelled");  // The txn aborts: nothing written.
      VECTRON_ASSIGN_OR_RETURN(more, c.Next());
    }
    auto next = defs;
    next.push_back(payload::Definition{std::string(field), type, slot});
    VECTRON_RETURN_IF_ERROR(wt.Put(meta, "payload_indexes", payload::DefinitionsToJson(next)));
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
    if (options.progress) (void)options.progress(stage, n, n);
  }
  return CatchUp();
}

Status Shard::Impl::DropPayloadIndex(std::string_view field) {
  LocalWriter writer(local_writers);
  std::lock_guard lock(write_mu);
  {
    VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(env));
    VECTRON_RETURN_IF_ERROR(ReadDefinitions(wt));
    auto next = defs;
    auto it = std::find_if(next.begin(), next.end(), [&](const payload::Definition& d) { return d.field == field; });
    if (it == next.end()) return Status::NotFound("no payload index on \"" + std::string(field) + "\"");
    const std::string prefix = payload::SlotPrefix(it->slot);
    next.erase(it);
    for (storage::Dbi dbi : {payload_dbi, payload_other}) {
      VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(dbi));
      for (;;) {
        VECTRON_ASSIGN_OR_RETURN(bool ok, c.Seek(prefix));
        if (!ok || c.key().substr(0, 4) != prefix) break;
        VECTRON_RETURN_IF_ERROR(c.Delete());
      }
    }
    if (next.empty()) {
      VECTRON_ASSIGN_OR_RETURN(bool gone, wt.Del(meta, "payload_indexes"));
      (void)gone;
    } else {
      VECTRON_RETURN_IF_ERROR(wt.Put(meta, "payload_indexes", payload::DefinitionsToJson(next)));
    }
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
  return CatchUp();
}

Result<std::vector<PayloadIndexInfo>> Shard::Impl::ListPayloadIndexes() const {
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(env));
  VECTRON_ASSIGN_OR_RETURN(auto raw, rt.Get(meta, "payload_indexes"));
  VECTRON_ASSIGN_OR_RETURN(auto parsed, payload::ParseDefinitions(raw.value_or("")));
  std::vector<PayloadIndexInfo> out;
  for (const auto& d : parsed) out.push_back(PayloadIndexInfo{d.field, d.type});
  return out;
}

Result<std::vector<std::string>> Shard::Impl::IdsWhere(const filter::Filter& f) const {
  VECTRON_RETURN_IF_ERROR(const_cast<Impl*>(this)->MaybeRefresh());
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(env));
  std::shared_lock s(state_mu);
  VECTRON_ASSIGN_OR_RETURN(auto allow, Allow(f, rt));
  std::vector<std::string> out;
  out.reserve(allow->cardinality());
  for (uint32_t label : *allow)
    if (label < label_ids.size() && !label_ids[label].empty()) out.push_back(label_ids[label]);
  return out;
}

namespace {

class BitmapFilter final : public LabelFilter {
 public:
  explicit BitmapFilter(const payload::Bitmap& bm) : bm_(bm) {}
  bool Allows(uint64_t label) const override { return label <= payload::kMaxLabel && bm_.contains(static_cast<uint32_t>(label)); }
  std::vector<uint32_t> AllowedLabels() const override {
    std::vector<uint32_t> out(bm_.cardinality());
    bm_.toUint32Array(out.data());
    return out;
  }

 private:
  const payload::Bitmap& bm_;
};

}  // namespace

// Chooses and runs the plan of a filtered search (docs/filter.md, "Planner").
// REQUIRES: state_mu held (shared).
static std::vector<Neighbor> RunFilteredSearch(const Index& index, bool hnsw, std::span<const float> q,
                                               const SearchParams& params, size_t ef,
                                               const payload::Bitmap& allow, uint64_t live) {
  const size_t k = static_cast<size_t>(params.k);
  const uint64_t c = allow.cardinality();
  if (c == 0) return {};
  auto exact = [&] {
    std::vector<uint32_t> labels(c);
    allow.toUint32Array(labels.data());
    return index.SearchAmong(q, k, labels);
  };
  const double sel = live ? static_cast<double>(c) / static_cast<double>(live) : 1.0;
  FilterStrategy plan = params.filter_strategy;
  if (params.exact || !hnsw) plan = FilterStrategy::kExact;
  if (plan == FilterStrategy::kAuto) {
    // Brute force costs c distances, computed back to back; a filtered traversal
    // pops about ef/sel nodes with up to 2M distances per pop, each with a visited
    // check, a heap operation and a cache miss. So the traversal wins only when
    // c² > K·ef·n. Measured on glove-100 (50k points, ef 64, one thread): exact 1300
    // vs graph 971 QPS at 20 % selectivity, 870 vs 1874 at 30 %: K ≈ 50.
    if (c <= 2048 || static_cast<double>(c) * static_cast<double>(c) <= 50.0 * static_cast<double>(ef) * static_cast<double>(live))
      plan = FilterStrategy::kExact;
    else if (sel >= 0.9)
      plan = FilterStrategy::kPostFilter;
    else
      plan = FilterStrategy::kGraph;
  }
  BitmapFilter bf(allow);
  if (plan == FilterStrategy::kExact) return exact();
  if (plan == FilterStrategy::kPostFilter) {
    // Ask for enough hits that k survive the filter in expectation, with a margin.
    size_t want = std::min<size_t>(static_cast<size_t>(static_cast<double>(k) / sel * 1.25) + k, live);
    IndexSearchOptions io;
    io.ef = std::max(ef, want);
    auto nbrs = index.Search(q, want, io);
    std::erase_if(nbrs, [&](const Neighbor& n) { return !bf.Allows(n.label); });
    if (nbrs.size() >= std::min<uint64_t>(k, c)) {
      if (nbrs.size() > k) nbrs.resize(k);
      return nbrs;
    }
  }
  IndexSearchOptions io;
  io.ef = ef;
  io.filter = &bf;
  // Two-hop expansion costs ~4x the time and buys recall only when matches are sparse
  // (glove-100, 50k points, 20 % selectivity: 0.9725 -> 0.9955 recall, 971 -> 252 QPS).
  io.two_hop = sel < 0.05;
  auto nbrs = index.Search(q, k, io);
  // The graph may not reach every match (a region cut off by deletions): never come
  // back short when k points match.
  if (nbrs.size() < std::min<uint64_t>(k, c)) return exact();
  return nbrs;
}

// ---------------------------------------------------------------------------------

Shard::Shard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Shard::~Shard() {
  if (!impl_ || impl_->closing_without_checkpoint) return;
  std::lock_guard lock(impl_->write_mu);
  Status s = impl_->SaveCheckpoint();
  if (!s.ok()) std::fprintf(stderr, "vectron: saving index of %s on close: %s\n", impl_->dir.c_str(), s.ToString().c_str());
  if (impl_->options.durability != Durability::kFull) (void)impl_->env.Sync(true);
}

Result<std::unique_ptr<Shard>> Shard::Open(const std::string& dir, const CollectionConfig& config,
                                           const DatabaseOptions& options) {
  VECTRON_RETURN_IF_ERROR(config.Validate());
  VECTRON_RETURN_IF_ERROR(options.Validate());
  VECTRON_RETURN_IF_ERROR(MakeDirs(dir));
  storage::EnvOptions eo;
  eo.map_size_bytes = options.map_size_bytes;
  eo.flags = EnvFlags(options.durability);
  VECTRON_ASSIGN_OR_RETURN(storage::LmdbEnv env, storage::LmdbEnv::Open(dir, eo));
  auto impl = std::make_unique<Impl>(std::move(env));
  impl->dir = dir;
  impl->config = config;
  impl->options = options;
  {
    VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(impl->env));
    VECTRON_ASSIGN_OR_RETURN(impl->meta, wt.OpenDbi("meta"));
    VECTRON_ASSIGN_OR_RETURN(impl->ids, wt.OpenDbi("ids"));
    VECTRON_ASSIGN_OR_RETURN(impl->points, wt.OpenDbi("points"));
    VECTRON_ASSIGN_OR_RETURN(impl->free_labels, wt.OpenDbi("free"));
    VECTRON_ASSIGN_OR_RETURN(impl->changes, wt.OpenDbi("changes"));
    VECTRON_ASSIGN_OR_RETURN(impl->payload_dbi, wt.OpenDbi("payload"));
    VECTRON_ASSIGN_OR_RETURN(impl->payload_other, wt.OpenDbi("payload_other"));
    VECTRON_ASSIGN_OR_RETURN(auto fmt, wt.Get(impl->meta, "format"));
    if (!fmt) {
      VECTRON_RETURN_IF_ERROR(wt.Put(impl->meta, "format", kFormat));
      VECTRON_RETURN_IF_ERROR(wt.Put(impl->meta, "config", config.ToJson()));
    } else {
      if (*fmt != kFormat)
        return Status::FailedPrecondition("shard " + dir + " has format version " + std::string(*fmt) +
                                          ", this build reads version " + kFormat);
      VECTRON_ASSIGN_OR_RETURN(auto stored_text, wt.Get(impl->meta, "config"));
      if (!stored_text) return Status::Corruption("shard " + dir + " has no stored config");
      VECTRON_ASSIGN_OR_RETURN(CollectionConfig stored, CollectionConfig::FromJson(*stored_text));
      if (stored.dim != config.dim || stored.metric != config.metric)
        return Status::FailedPrecondition("shard " + dir + " was created with dim " + std::to_string(stored.dim) +
                                          " and metric " + std::string(MetricName(stored.metric)));
    }
    VECTRON_ASSIGN_OR_RETURN(impl->checkpoint_seq, GetU64(wt, impl->meta, "checkpoint_seq"));
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
  {
    std::lock_guard lock(impl->write_mu);
    std::string why;
    if (!impl->LoadCheckpoint(&why).ok()) {
      VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(impl->env));
      VECTRON_ASSIGN_OR_RETURN(uint64_t seq, GetU64(rt, impl->meta, "seq"));
      VECTRON_RETURN_IF_ERROR(impl->RebuildIndex(rt, seq, why.c_str()));
    }
    VECTRON_RETURN_IF_ERROR(impl->CatchUp());
  }
  return std::unique_ptr<Shard>(new Shard(std::move(impl)));
}

Status Shard::Apply(const WriteBatch& batch, uint64_t log_index) {
  std::vector<std::string> metadata;
  VECTRON_RETURN_IF_ERROR(ValidateBatch(batch, impl_->config, &metadata));
  return impl_->ApplyValidated(batch, metadata, log_index);
}

namespace {

// Parses a where text; nullopt for none or {}. Errors: InvalidArgument.
Result<std::optional<filter::Filter>> ParseWhere(std::string_view where) {
  if (where.empty()) return std::optional<filter::Filter>();
  VECTRON_ASSIGN_OR_RETURN(filter::Filter f, filter::ParseText(where));
  if (f.MatchesAll()) return std::optional<filter::Filter>();
  return std::optional<filter::Filter>(std::move(f));
}

}  // namespace

Result<std::vector<Hit>> Shard::Search(std::span<const float> query, const SearchParams& params) const {
  VECTRON_RETURN_IF_ERROR(ValidateSearch(query, params, impl_->config));
  VECTRON_ASSIGN_OR_RETURN(auto where, ParseWhere(params.where));
  VECTRON_RETURN_IF_ERROR(impl_->MaybeRefresh());
  std::vector<float> q(query.begin(), query.end());
  if (impl_->config.metric == Metric::kCosine) Normalize(q);
  IndexSearchOptions io;
  io.ef = params.ef > 0 ? static_cast<size_t>(params.ef) : impl_->config.hnsw.ef_search;
  io.exact = params.exact;
  std::optional<ReadTxn> rt;
  if (where) {
    auto r = ReadTxn::Begin(impl_->env);
    if (!r.ok()) return r.status();
    rt.emplace(std::move(r).value());
  }
  std::vector<Hit> hits;
  {
    auto s = impl_->SearchLock();
    std::vector<Neighbor> nbrs;
    if (where) {
      VECTRON_ASSIGN_OR_RETURN(auto allow, impl_->Allow(*where, *rt));
      nbrs = RunFilteredSearch(*impl_->index, impl_->IsHnsw(), q, params, std::max(io.ef, static_cast<size_t>(params.k)),
                               *allow, impl_->payload.live().cardinality());
    } else {
      nbrs = impl_->index->Search(q, static_cast<size_t>(params.k), io);
    }
    hits.resize(nbrs.size());
    for (size_t i = 0; i < nbrs.size(); ++i) {
      hits[i].id = nbrs[i].label < impl_->label_ids.size() ? impl_->label_ids[nbrs[i].label] : std::string();
      hits[i].score = ScoreFromIndexDistance(impl_->config.metric, nbrs[i].distance);
    }
  }
  if (params.include_metadata || params.include_vector) {
    GetOptions go{params.include_vector, params.include_metadata};
    VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(impl_->env));
    for (auto& h : hits) {
      VECTRON_ASSIGN_OR_RETURN(auto lv, rt.Get(impl_->ids, h.id));
      if (!lv) continue;  // Deleted since the search; keep the hit without payload.
      VECTRON_ASSIGN_OR_RETURN(auto pv, rt.Get(impl_->points, *lv));
      if (!pv) continue;
      VECTRON_ASSIGN_OR_RETURN(Point p, impl_->DecodePoint(*pv, go));
      h.vector = std::move(p.vector);
      h.metadata = std::move(p.metadata);
    }
  }
  return hits;
}

Result<std::vector<std::optional<Point>>> Shard::Get(std::span<const std::string> ids,
                                                     const GetOptions& options) const {
  for (const auto& id : ids) VECTRON_RETURN_IF_ERROR(ValidateId(id));
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(impl_->env));
  std::vector<std::optional<Point>> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    VECTRON_ASSIGN_OR_RETURN(auto lv, rt.Get(impl_->ids, ids[i]));
    if (!lv) continue;
    VECTRON_ASSIGN_OR_RETURN(auto pv, rt.Get(impl_->points, *lv));
    if (!pv) return Status::Corruption("id \"" + ids[i] + "\" points at a missing record");
    VECTRON_ASSIGN_OR_RETURN(Point p, impl_->DecodePoint(*pv, options));
    out[i] = std::move(p);
  }
  return out;
}

Result<uint64_t> Shard::Count(std::string_view where_text) const {
  VECTRON_ASSIGN_OR_RETURN(auto where, ParseWhere(where_text));
  if (!where) {
    VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(impl_->env));
    return rt.Count(impl_->ids);
  }
  VECTRON_RETURN_IF_ERROR(impl_->MaybeRefresh());
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(impl_->env));
  std::shared_lock s(impl_->state_mu);
  VECTRON_ASSIGN_OR_RETURN(auto allow, impl_->Allow(*where, rt));
  return allow->cardinality();
}

Result<ScrollPage> Shard::Scroll(std::string_view after, size_t limit, const GetOptions& options,
                                 std::string_view where_text) const {
  ScrollPage page;
  if (limit == 0) return Status::InvalidArgument("scroll limit must be at least 1");
  VECTRON_ASSIGN_OR_RETURN(auto where, ParseWhere(where_text));
  std::shared_ptr<const payload::Bitmap> allow;
  if (where) {
    VECTRON_RETURN_IF_ERROR(impl_->MaybeRefresh());
    VECTRON_ASSIGN_OR_RETURN(ReadTxn at, ReadTxn::Begin(impl_->env));
    std::shared_lock s(impl_->state_mu);
    VECTRON_ASSIGN_OR_RETURN(allow, impl_->Allow(*where, at));
  }
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(impl_->env));
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, rt.OpenCursor(impl_->ids));
  VECTRON_ASSIGN_OR_RETURN(bool more, after.empty() ? c.First() : c.Seek(after));
  if (more && !after.empty() && c.key() == after) {
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  while (more && page.points.size() < limit) {
    if (allow) {
      if (c.value().size() != 8) return Status::Corruption("id entry has a bad size");
      uint64_t label = DecodeU64(c.value());
      if (label > payload::kMaxLabel || !allow->contains(static_cast<uint32_t>(label))) {
        VECTRON_ASSIGN_OR_RETURN(more, c.Next());
        continue;
      }
    }
    VECTRON_ASSIGN_OR_RETURN(auto pv, rt.Get(impl_->points, c.value()));
    if (!pv) return Status::Corruption("id \"" + std::string(c.key()) + "\" points at a missing record");
    VECTRON_ASSIGN_OR_RETURN(Point p, impl_->DecodePoint(*pv, options));
    page.points.push_back(std::move(p));
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  if (more && !page.points.empty()) page.next_cursor = page.points.back().id;
  return page;
}

Status Shard::Checkpoint() {
  std::lock_guard lock(impl_->write_mu);
  return impl_->SaveCheckpoint();
}

Status Shard::Refresh() {
  std::lock_guard lock(impl_->write_mu);
  return impl_->CatchUp();
}

Result<ShardStats> Shard::Stats() const {
  ShardStats st;
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(impl_->env));
  VECTRON_ASSIGN_OR_RETURN(st.count, rt.Count(impl_->ids));
  VECTRON_ASSIGN_OR_RETURN(st.seq, GetU64(rt, impl_->meta, "seq"));
  VECTRON_ASSIGN_OR_RETURN(st.applied_index, GetU64(rt, impl_->meta, "applied_index"));
  {
    std::shared_lock s(impl_->state_mu);
    st.index_memory_bytes = impl_->index->memory_bytes() + impl_->label_ids.capacity() * sizeof(std::string) +
                            impl_->payload.memory_bytes();
    for (const auto& id : impl_->label_ids)
      if (id.capacity() > 15) st.index_memory_bytes += id.capacity();
    st.deleted_slots = impl_->index->deleted_slots();
    st.index_kind = std::string(impl_->index->kind());
  }
  st.disk_bytes = DiskUsage(impl_->dir);
  return st;
}

uint64_t Shard::applied_index() const {
  auto rt = ReadTxn::Begin(impl_->env);
  if (!rt.ok()) return 0;
  auto v = GetU64(*rt, impl_->meta, "applied_index");
  return v.ok() ? *v : 0;
}

const CollectionConfig& Shard::config() const { return impl_->config; }

}  // namespace vectron
