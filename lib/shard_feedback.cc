// ShardImpl's feedback: ratings are one LMDB write transaction each, checked against the
// point in the same transaction (so a concurrent delete either sees the rating and
// erases it, or the rating finds no point); they do not touch the in-memory index.
#include "feedback_store.h"
#include "shard_impl.h"

namespace vectron {

using storage::ReadTxn;
using storage::WriteTxn;

Status ShardImpl::AddRating(const Rating& r) {
  IndexSync::LocalWriter writer(sync_);
  VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(store_.env()));
  VECTRON_RETURN_IF_ERROR(AddRatingIn(wt, r));
  return std::move(wt).Commit();
}

Status ShardImpl::AddRatingIn(WriteTxn& wt, const Rating& r) {
  VECTRON_ASSIGN_OR_RETURN(bool exists, store_.HasPoint(wt, r.point_id));
  if (!exists)
    return Status::NotFound("point \"" + r.point_id.substr(0, 64) + (r.point_id.size() > 64 ? "..." : "") +
                            "\" does not exist (feedback rates an existing point)");
  VECTRON_RETURN_IF_ERROR(feedback::Append(wt, store_.feedback_dbi(), r));
  VECTRON_ASSIGN_OR_RETURN(uint64_t n, store_.Counter(wt, meta_key::kFeedbackSeq));
  return store_.PutCounter(wt, meta_key::kFeedbackSeq, n + 1);
}

Result<std::vector<RatingStats>> ShardImpl::RatingStatsOf(std::span<const std::string> ids) const {
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  std::vector<RatingStats> out;
  out.reserve(ids.size());
  const std::optional<HiddenRange> hidden = store_.hidden();
  for (const auto& id : ids) {
    if (hidden && hidden->Hides(id)) {
      out.emplace_back();  // As for a missing point.
      continue;
    }
    VECTRON_ASSIGN_OR_RETURN(RatingStats st, feedback::Stats(rt, store_.feedback_dbi(), id));
    out.push_back(st);
  }
  return out;
}

Status ShardImpl::ScanRatingsAfter(std::string_view after,
                                   const std::function<Status(const Rating&, std::string_view key)>& fn) const {
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  const std::optional<HiddenRange> hidden = store_.hidden();
  if (!hidden) return feedback::ScanAfter(rt, store_.feedback_dbi(), after, fn);
  return feedback::ScanAfter(rt, store_.feedback_dbi(), after, [&](const Rating& r, std::string_view key) {
    return hidden->Hides(r.point_id) ? Status::OK() : fn(r, key);
  });
}

Result<std::pair<uint64_t, uint64_t>> ShardImpl::Version() const {
  // The points part is the seq the in-memory index reflects (after catching up with other
  // processes, as a search does), not LMDB's: a commit is in LMDB before the index has
  // it, and a search in between must not be filed under the new version.
  VECTRON_RETURN_IF_ERROR(sync_.MaybeRefresh());
  const uint64_t seq = cache_.seq();
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  VECTRON_ASSIGN_OR_RETURN(uint64_t fb, store_.Counter(rt, meta_key::kFeedbackSeq));
  return std::make_pair(seq, fb);
}

Result<std::string> ShardImpl::MetaText(std::string_view key) const {
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  return store_.MetaText(rt, key);
}

Status ShardImpl::PutMetaText(std::string_view key, std::string_view text) {
  IndexSync::LocalWriter writer(sync_);
  VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(store_.env()));
  VECTRON_RETURN_IF_ERROR(store_.PutMetaText(wt, key, text));
  return std::move(wt).Commit();
}

}  // namespace vectron
