// Feedback: users rate points 1-5. Ratings are stored with the point's shard in LMDB
// (docs/formats/storage.md, "feedback"), committed before Collection::Feedback returns,
// and deleted with their point. The rerank pipeline's feedback stage reads their
// smoothed mean (docs/rerank.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "vectron/status.h"

namespace vectron {

// Bounds of what a rating carries (checked by ValidateRating).
inline constexpr int kMinRating = 1;
inline constexpr int kMaxRating = 5;
inline constexpr size_t kMaxQueryIdBytes = 128;
inline constexpr size_t kMaxFeedbackCommentBytes = 4096;

// One rating of one point.
struct Rating {
  std::string point_id;  // An existing point (1-256 bytes).
  int rating = 0;        // kMinRating..kMaxRating.
  std::string query_id;  // Optional: the search that showed the point (SearchResult::query_id).
  std::string comment;   // Optional, valid UTF-8 is not required; at most kMaxFeedbackCommentBytes.
  int64_t time_ms = 0;   // Unix time in ms; 0 when rating: the collection stamps "now".
};

// The ratings of one point.
struct RatingStats {
  uint64_t count = 0;                  // Ratings given.
  double mean = 0;                     // Their mean (0 if none).
  std::array<uint64_t, 5> histogram{}; // histogram[r - 1] = ratings of value r.
};

// The summary of a histogram (histogram[r - 1] = ratings of value r): its count and
// mean, computed as every reader of ratings computes them.
[[nodiscard]] RatingStats SummarizeRatings(const std::array<uint64_t, 5>& histogram);

// A feedback export cursor (Collection::ExportFeedbackPage; the same in a cluster):
// "<shard>.<the last rating's key in hex>". Decode checks it against a collection of
// `shards` shards. Errors: InvalidArgument naming what is wrong.
std::string EncodeFeedbackCursor(size_t shard, std::string_view key);
[[nodiscard]] Status DecodeFeedbackCursor(std::string_view cursor, size_t shards, size_t* shard, std::string* key);

// OK if `id` is a well-formed point id (1-256 bytes of UTF-8 without NUL), the check
// Collection::FeedbackStats makes. Errors: InvalidArgument naming the problem.
[[nodiscard]] Status ValidateFeedbackPointId(std::string_view id);

// OK if `r` may be stored: rating in 1..5, point id 1-256 bytes, query id at most
// kMaxQueryIdBytes, comment at most kMaxFeedbackCommentBytes, time_ms >= 0.
// Errors: InvalidArgument naming the field and the bound.
[[nodiscard]] Status ValidateRating(const Rating& r);

}  // namespace vectron
