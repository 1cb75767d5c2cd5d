#include "feedback_store.h"

#include <optional>
#include <string>

#include "storage/keys.h"
#include "util/hex.h"
#include "util/untrusted_json.h"
#include "validate.h"
#include "vectron/types.h"

namespace vectron {

Status ValidateRating(const Rating& r) {
  if (r.rating < kMinRating || r.rating > kMaxRating)
    return Status::InvalidArgument("rating must be an integer from 1 to 5, got " + std::to_string(r.rating));
  if (Status s = ValidateId(r.point_id); !s.ok()) return s.WithContext("point_id");
  if (r.query_id.size() > kMaxQueryIdBytes)
    return Status::InvalidArgument("query_id is " + std::to_string(r.query_id.size()) + " bytes, at most " +
                                   std::to_string(kMaxQueryIdBytes) + " allowed");
  if (r.comment.size() > kMaxFeedbackCommentBytes)
    return Status::InvalidArgument("comment is " + std::to_string(r.comment.size()) + " bytes, at most " +
                                   std::to_string(kMaxFeedbackCommentBytes) + " allowed");
  if (r.time_ms < 0) return Status::InvalidArgument("time_ms must not be negative");
  return Status::OK();
}

RatingStats SummarizeRatings(const std::array<uint64_t, 5>& histogram) {
  RatingStats st;
  double sum = 0;
  for (int i = 0; i < 5; ++i) {
    st.histogram[i] = histogram[i];
    st.count += histogram[i];
    sum += static_cast<double>(histogram[i]) * (i + 1);
  }
  st.mean = st.count ? sum / static_cast<double>(st.count) : 0;
  return st;
}

Status ValidateFeedbackPointId(std::string_view id) { return ValidateId(id); }

std::string EncodeFeedbackCursor(size_t shard, std::string_view key) {
  return std::to_string(shard) + "." + HexEncode(key);
}

namespace {

// The sizes of a rating key: [u16 length][id][u64 number].
constexpr size_t kMinRatingKeyBytes = 2 + 1 + 8;
constexpr size_t kMaxRatingKeyBytes = 2 + kMaxIdBytes + 8;

}  // namespace

Status DecodeFeedbackCursor(std::string_view cursor, size_t shards, size_t* shard, std::string* key) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("feedback export cursor \"" + Excerpt(cursor) +
                                   "\" is not one this collection made: " + why);
  };
  const size_t dot = cursor.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 5) return bad("it does not start with a shard number and '.'");
  size_t s = 0;
  for (char c : cursor.substr(0, dot)) {
    if (c < '0' || c > '9') return bad("it does not start with a shard number and '.'");
    s = s * 10 + static_cast<size_t>(c - '0');
  }
  if (s >= shards) return bad("shard " + std::to_string(s) + " of " + std::to_string(shards));
  std::string_view hex = cursor.substr(dot + 1);
  if (hex.size() < 2 * kMinRatingKeyBytes || hex.size() > 2 * kMaxRatingKeyBytes || hex.size() % 2)
    return bad("its key part has " + std::to_string(hex.size()) + " hex digits");
  std::optional<std::string> bytes = HexDecode(hex);
  if (!bytes) return bad("its key part is not lowercase hex");
  *key = std::move(*bytes);
  *shard = s;
  return Status::OK();
}

namespace feedback {

using storage::DecodeU64;
using storage::EncodeU64;

namespace {

constexpr size_t kSummaryBytes = 5 * 8;

std::string PointPrefix(std::string_view id) {
  std::string k;
  k.reserve(2 + id.size() + 8);
  k.push_back(static_cast<char>(id.size() >> 8));
  k.push_back(static_cast<char>(id.size() & 0xff));
  k += id;
  return k;
}

Result<RatingStats> ParseSummary(std::string_view v) {
  if (v.size() != kSummaryBytes) return Status::Corruption("feedback summary has a bad size");
  std::array<uint64_t, 5> h{};
  for (size_t i = 0; i < 5; ++i) h[i] = DecodeU64(v.substr(i * 8, 8));
  return SummarizeRatings(h);
}

}  // namespace

Result<RatingStats> Stats(const storage::Txn& txn, storage::Dbi dbi, std::string_view id) {
  VECTRON_ASSIGN_OR_RETURN(auto v, txn.Get(dbi, PointPrefix(id)));
  if (!v) return RatingStats{};
  return ParseSummary(*v);
}

Status Append(storage::WriteTxn& txn, storage::Dbi dbi, const Rating& r) {
  const std::string prefix = PointPrefix(r.point_id);
  VECTRON_ASSIGN_OR_RETURN(RatingStats st, Stats(txn, dbi, r.point_id));
  std::string rec;
  rec.reserve(1 + 8 + 2 + r.query_id.size() + r.comment.size());
  rec.push_back(static_cast<char>(r.rating));
  rec += EncodeU64(static_cast<uint64_t>(r.time_ms));
  rec.push_back(static_cast<char>(r.query_id.size() >> 8));
  rec.push_back(static_cast<char>(r.query_id.size() & 0xff));
  rec += r.query_id;
  rec += r.comment;
  VECTRON_RETURN_IF_ERROR(txn.Put(dbi, prefix + EncodeU64(st.count), rec));
  ++st.histogram[r.rating - 1];
  std::string summary;
  summary.reserve(kSummaryBytes);
  for (uint64_t n : st.histogram) summary += EncodeU64(n);
  return txn.Put(dbi, prefix, summary);
}

Status Erase(storage::WriteTxn& txn, storage::Dbi dbi, std::string_view id) {
  const std::string prefix = PointPrefix(id);
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(dbi));
  for (;;) {
    VECTRON_ASSIGN_OR_RETURN(bool ok, c.Seek(prefix));
    if (!ok || c.key().substr(0, prefix.size()) != prefix) break;
    VECTRON_RETURN_IF_ERROR(c.Delete());
  }
  return Status::OK();
}

std::optional<std::string_view> PointOfKey(std::string_view key) {
  if (key.size() < 2) return std::nullopt;
  const size_t n = (static_cast<size_t>(static_cast<unsigned char>(key[0])) << 8) | static_cast<unsigned char>(key[1]);
  if (key.size() < 2 + n) return std::nullopt;
  return key.substr(2, n);
}

Status ScanAfter(const storage::Txn& txn, storage::Dbi dbi, std::string_view after,
                 const std::function<Status(const Rating&, std::string_view key)>& fn) {
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(dbi));
  bool more = false;
  if (after.empty()) {
    VECTRON_ASSIGN_OR_RETURN(more, c.First());
  } else {
    VECTRON_ASSIGN_OR_RETURN(more, c.Seek(after));  // The first key >= after.
    if (more && c.key() == after) {
      VECTRON_ASSIGN_OR_RETURN(more, c.Next());
    }
  }
  auto bad = [] { return Status::Corruption("feedback record is malformed"); };
  while (more) {
    std::string_view k = c.key();
    const std::optional<std::string_view> id = PointOfKey(k);
    if (!id) return bad();
    const size_t n = id->size();
    if (k.size() != 2 + n && k.size() != 2 + n + 8) return bad();
    if (k.size() == 2 + n + 8) {
      std::string_view v = c.value();
      if (v.size() < 11) return bad();
      size_t q = (static_cast<size_t>(static_cast<unsigned char>(v[9])) << 8) | static_cast<unsigned char>(v[10]);
      if (v.size() < 11 + q) return bad();
      Rating r;
      r.point_id = std::string(*id);
      r.rating = static_cast<unsigned char>(v[0]);
      r.time_ms = static_cast<int64_t>(DecodeU64(v.substr(1, 8)));
      r.query_id = std::string(v.substr(11, q));
      r.comment = std::string(v.substr(11 + q));
      VECTRON_RETURN_IF_ERROR(fn(r, k));
    }
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  return Status::OK();
}

}  // namespace feedback
}  // namespace vectron
