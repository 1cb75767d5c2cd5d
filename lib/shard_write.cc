// ShardImpl's write path: a batch, or a payload index change, is one LMDB write
// transaction; after its commit (the durability point) IndexSync brings the in-memory
// index up to date through the same catch-up that serves reopens and other processes'
// commits (docs/architecture.md, "Write path").
#include <algorithm>

#include "shard_impl.h"
#include "storage/keys.h"
#include "validate.h"

namespace vectron {

using storage::ReadTxn;
using storage::WriteTxn;

namespace {

// Change-log entries kept behind the newest, so that other processes (and a reopen
// from a slightly older checkpoint) can catch up instead of rebuilding.
constexpr uint64_t kKeepChanges = 1024;
// At most this many old change-log entries are trimmed per commit (bounds latency).
constexpr int kTrimPerCommit = 64;

}  // namespace

Status ShardImpl::Apply(const WriteBatch& batch, uint64_t log_index) {
  std::vector<std::string> metadata;
  VECTRON_RETURN_IF_ERROR(ValidateBatch(batch, config(), &metadata));
  return ApplyValidated(batch, metadata, log_index);
}

Result<uint64_t> ShardImpl::ApplyRoute(const ShardRoute& route, uint64_t log_index) {
  if (log_index == 0) return Status::InvalidArgument("a route is recorded with a log index");
  IndexSync::LocalWriter writer(sync_);
  const HiddenRange range{route.start, route.end, std::max<uint32_t>(config().shards, 1)};
  uint64_t hidden = 0, seq = 0;
  std::vector<uint64_t> labels;
  {
    VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(store_.env()));
    VECTRON_ASSIGN_OR_RETURN(uint64_t applied, store_.Counter(wt, meta_key::kAppliedIndex));
    if (log_index <= applied) return uint64_t{0};  // Replay of an applied split.
    // The points outside the route leave the in-memory index through the change log: the
    // catch-up below reads their labels, which the store now reports as free.
    VECTRON_ASSIGN_OR_RETURN(std::string touched, store_.HiddenLabels(wt, range));
    if (!touched.empty()) {
      hidden = touched.size() / 9;
      labels.reserve(hidden);
      for (size_t i = 0; i < touched.size(); i += 9) labels.push_back(storage::DecodeU64(touched.substr(i + 1, 8)));
      VECTRON_ASSIGN_OR_RETURN(seq, store_.Counter(wt, meta_key::kSeq));
      ++seq;
      VECTRON_RETURN_IF_ERROR(store_.LogBatch(wt, seq, touched));
      VECTRON_RETURN_IF_ERROR(TrimChangeLog(wt, seq));
    }
    VECTRON_RETURN_IF_ERROR(store_.PutCounter(wt, meta_key::kAppliedIndex, log_index));
    VECTRON_RETURN_IF_ERROR(store_.PutCounter(wt, meta_key::kRouteStart, route.start));
    VECTRON_RETURN_IF_ERROR(store_.PutCounter(wt, meta_key::kRouteEnd, route.end));
    VECTRON_RETURN_IF_ERROR(store_.PutCounter(wt, meta_key::kRouteEpoch, route.epoch));
    VECTRON_RETURN_IF_ERROR(store_.PutCounter(wt, meta_key::kRouteHidden, hidden));
    VECTRON_RETURN_IF_ERROR(store_.PutMetaText(wt, meta_key::kRouteDropAfter, ""));
    // Hidden from before the commit: a reader of the new snapshot never sees them.
    const std::optional<HiddenRange> before = store_.hidden();
    store_.set_hidden(hidden > 0 ? std::optional<HiddenRange>(range) : std::nullopt);
    if (Status c = std::move(wt).Commit(); !c.ok()) {
      store_.set_hidden(before);
      return c;
    }
  }
  Status s = hidden > 0 ? sync_.CatchUpRemoved(std::move(labels), seq) : sync_.CatchUp();
  if (!s.ok()) return s.WithContext("split committed, but the in-memory index did not catch up (it will retry)");
  return hidden;
}

Result<uint64_t> ShardImpl::DropHidden(size_t max_points) {
  IndexSync::LocalWriter writer(sync_);
  uint64_t left = 0;
  {
    VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(store_.env()));
    VECTRON_ASSIGN_OR_RETURN(uint64_t hidden, store_.Counter(wt, meta_key::kRouteHidden));
    if (hidden == 0) {
      store_.set_hidden(std::nullopt);
      return uint64_t{0};
    }
    HiddenRange range{0, 0, std::max<uint32_t>(config().shards, 1)};
    VECTRON_ASSIGN_OR_RETURN(range.start, store_.Counter(wt, meta_key::kRouteStart));
    VECTRON_ASSIGN_OR_RETURN(range.end, store_.Counter(wt, meta_key::kRouteEnd));
    VECTRON_ASSIGN_OR_RETURN(std::string after, store_.MetaText(wt, meta_key::kRouteDropAfter));
    bool at_end = false;
    VECTRON_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                             store_.HiddenIdsAfter(wt, range, after, std::max<size_t>(max_points, 1), &at_end));
    // Deleted as a batch of deletes would delete them (postings, ratings, free labels).
    VECTRON_ASSIGN_OR_RETURN(uint64_t seq, store_.Counter(wt, meta_key::kSeq));
    VECTRON_ASSIGN_OR_RETURN(uint64_t next_label, store_.Counter(wt, meta_key::kNextLabel));
    VECTRON_RETURN_IF_ERROR(schema_.Refresh(store_, wt));
    PointWriter points(store_, wt, schema_, next_label);
    points.Reserve(ids.size());
    for (const std::string& id : ids) VECTRON_RETURN_IF_ERROR(points.Delete(id));
    if (!points.touched().empty()) {
      VECTRON_RETURN_IF_ERROR(store_.LogBatch(wt, seq + 1, points.touched()));
      VECTRON_RETURN_IF_ERROR(TrimChangeLog(wt, seq + 1));
    }
    // The count is what reads subtract; the walk's end, not the count, ends the drop.
    left = at_end ? 0 : std::max<uint64_t>(hidden - std::min<uint64_t>(hidden, ids.size()), 1);
    VECTRON_RETURN_IF_ERROR(store_.PutCounter(wt, meta_key::kRouteHidden, left));
    VECTRON_RETURN_IF_ERROR(store_.PutMetaText(wt, meta_key::kRouteDropAfter, at_end || ids.empty() ? "" : ids.back()));
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
  if (left == 0) store_.set_hidden(std::nullopt);
  Status s = sync_.CatchUp();
  if (!s.ok()) return s.WithContext("hidden points dropped, but the in-memory index did not catch up (it will retry)");
  return left;
}

Result<ShardRoute> ShardImpl::Route() const {
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  ShardRoute r;
  VECTRON_ASSIGN_OR_RETURN(r.start, store_.Counter(rt, meta_key::kRouteStart));
  VECTRON_ASSIGN_OR_RETURN(r.end, store_.Counter(rt, meta_key::kRouteEnd));
  VECTRON_ASSIGN_OR_RETURN(r.epoch, store_.Counter(rt, meta_key::kRouteEpoch));
  return r;
}

Status ShardImpl::ApplyValidated(const WriteBatch& batch, const std::vector<std::string>& metadata,
                                 uint64_t log_index) {
  IndexSync::LocalWriter writer(sync_);
  VECTRON_ASSIGN_OR_RETURN(bool committed, CommitBatch(batch, metadata, log_index));
  if (!committed) return Status::OK();
  Status s = sync_.CatchUp();
  if (!s.ok()) return s.WithContext("write committed, but the in-memory index did not catch up (it will retry)");
  return Status::OK();
}

Result<bool> ShardImpl::CommitBatch(const WriteBatch& batch, const std::vector<std::string>& metadata,
                                    uint64_t log_index) {
  VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(store_.env()));
  VECTRON_ASSIGN_OR_RETURN(uint64_t applied, store_.Counter(wt, meta_key::kAppliedIndex));
  if (log_index != 0 && log_index <= applied) return false;  // Replay of an applied batch.
  VECTRON_ASSIGN_OR_RETURN(bool changed, WritePoints(wt, batch, metadata));
  if (!changed && log_index == 0) return false;  // Nothing changed.
  if (log_index != 0) VECTRON_RETURN_IF_ERROR(store_.PutCounter(wt, meta_key::kAppliedIndex, log_index));
  VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  return true;
}

Result<bool> ShardImpl::WritePoints(WriteTxn& wt, const WriteBatch& batch, const std::vector<std::string>& metadata) {
  VECTRON_ASSIGN_OR_RETURN(uint64_t seq, store_.Counter(wt, meta_key::kSeq));
  VECTRON_ASSIGN_OR_RETURN(uint64_t next_label, store_.Counter(wt, meta_key::kNextLabel));
  // Payload postings are written in the same transaction as the points.
  VECTRON_RETURN_IF_ERROR(schema_.Refresh(store_, wt));

  PointWriter points(store_, wt, schema_, next_label);
  points.Reserve(batch.size());
  const auto& entries = batch.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    Status s;
    switch (e.op) {
      case WriteBatch::Op::kUpsert: s = points.Upsert(e.id, batch.vector(e), metadata[i]); break;
      case WriteBatch::Op::kDelete: s = points.Delete(e.id); break;
      case WriteBatch::Op::kSetMetadata: s = points.SetMetadata(e.id, metadata[i], false); break;
      case WriteBatch::Op::kMergeMetadata: s = points.SetMetadata(e.id, metadata[i], true); break;
      case WriteBatch::Op::kUpdateVector: s = points.UpdateVector(e.id, batch.vector(e)); break;
    }
    if (!s.ok()) return s;
  }
  if (points.touched().empty()) return false;
  ++seq;
  VECTRON_RETURN_IF_ERROR(store_.LogBatch(wt, seq, points.touched()));
  VECTRON_RETURN_IF_ERROR(store_.PutCounter(wt, meta_key::kNextLabel, points.next_label()));
  VECTRON_RETURN_IF_ERROR(TrimChangeLog(wt, seq));
  return true;
}

Status ShardImpl::TrimChangeLog(WriteTxn& wt, uint64_t seq) const {
  // A reopen of a graph replays the log from its checkpoint; a flat index is rebuilt.
  uint64_t keep_from = seq > kKeepChanges ? seq - kKeepChanges : 0;
  VECTRON_ASSIGN_OR_RETURN(uint64_t checkpoint, store_.Counter(wt, meta_key::kCheckpointSeq));
  uint64_t upto = cache_.is_graph() ? std::min(checkpoint, keep_from) : keep_from;
  return store_.TrimChangeLog(wt, upto, kTrimPerCommit);
}

// ---------------------------------------------------------------------------------
// Payload indexes

Status ShardImpl::CreatePayloadIndex(std::string_view field, PayloadType type) {
  IndexSync::LocalWriter writer(sync_);
  {
    VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(store_.env()));
    VECTRON_RETURN_IF_ERROR(CreatePayloadIndexIn(wt, field, type));
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
  return sync_.CatchUp();
}

Status ShardImpl::CreatePayloadIndexIn(WriteTxn& wt, std::string_view field, PayloadType type) {
  VECTRON_ASSIGN_OR_RETURN(filter::FieldPath path, payload::ParseFieldName(field));
  VECTRON_RETURN_IF_ERROR(schema_.Refresh(store_, wt));
  uint32_t slot = 1;
  for (const auto& d : schema_.defs()) {
    if (d.field == field)
      return Status::AlreadyExists("payload index on \"" + std::string(field) + "\" already exists (type " +
                                   PayloadTypeName(d.type) + ")");
    slot = std::max(slot, d.slot + 1);
  }
  const std::string stage = "indexing field " + std::string(field) + " of " + dir();
  auto progress = [&](uint64_t done, uint64_t n) { return !options_.progress || options_.progress(stage, done, n); };
  VECTRON_ASSIGN_OR_RETURN(uint64_t n, store_.IndexField(wt, path, type, slot, progress));
  auto next = schema_.defs();
  next.push_back(payload::Definition{std::string(field), type, slot});
  VECTRON_RETURN_IF_ERROR(store_.PutPayloadDefinitions(wt, next));
  if (options_.progress) (void)options_.progress(stage, n, n);
  return Status::OK();
}

Status ShardImpl::DropPayloadIndex(std::string_view field) {
  IndexSync::LocalWriter writer(sync_);
  {
    VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(store_.env()));
    VECTRON_RETURN_IF_ERROR(DropPayloadIndexIn(wt, field));
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
  return sync_.CatchUp();
}

Status ShardImpl::DropPayloadIndexIn(WriteTxn& wt, std::string_view field) {
  VECTRON_RETURN_IF_ERROR(schema_.Refresh(store_, wt));
  auto next = schema_.defs();
  auto it = std::find_if(next.begin(), next.end(), [&](const payload::Definition& d) { return d.field == field; });
  if (it == next.end()) return Status::NotFound("no payload index on \"" + std::string(field) + "\"");
  const uint32_t slot = it->slot;
  next.erase(it);
  VECTRON_RETURN_IF_ERROR(store_.DropField(wt, slot));
  return store_.PutPayloadDefinitions(wt, next);
}

Result<std::vector<PayloadIndexInfo>> ShardImpl::ListPayloadIndexes() const {
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  VECTRON_ASSIGN_OR_RETURN(auto defs, store_.PayloadDefinitions(rt));
  std::vector<PayloadIndexInfo> out;
  for (const auto& d : defs) out.push_back(PayloadIndexInfo{d.field, d.type});
  return out;
}

}  // namespace vectron
