// CollectionImpl's reranked search and feedback: candidates from Search, ratings from
// the shards that own them, then RunRerank (lib/rerank/). docs/rerank.md.
#include <chrono>
#include <map>

#include "collection_internal.h"
#include "shard_impl.h"
#include "util/hex.h"
#include "util/untrusted_json.h"
#include "validate.h"

namespace vectron {

namespace {

// Meta key of shard 0 holding the default pipeline.
constexpr std::string_view kRerankDefaultKey = "rerank_default";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Status Collection::Feedback(std::string_view point_id, int rating, std::string_view query_id,
                            std::string_view comment) {
  Rating r;
  r.point_id = std::string(point_id);
  r.rating = rating;
  r.query_id = std::string(query_id);
  r.comment = std::string(comment);
  return Feedback(r);
}

Result<RerankedResult> CollectionImpl::SearchReranked(std::span<const float> query, const SearchParams& params,
                                                      const RerankPipeline& pipeline,
                                                      const RerankOptions& options) const {
  VECTRON_RETURN_IF_ERROR(ValidateSearch(query, params, config_));
  const int wanted = params.k + params.offset;
  VECTRON_RETURN_IF_ERROR(pipeline.Validate(wanted));
  // The cache: keyed by every input, tagged with the version read before the search (a
  // write after it makes the entry stale, never a stale answer current).
  const bool cacheable = options.cache && result_cache_.enabled() && !pipeline.custom &&
                         !(pipeline.decay && options.now_ms == 0);
  std::string cache_key;
  uint64_t version = 0;
  if (cacheable) {
    VECTRON_ASSIGN_OR_RETURN(version, Version());
    cache_key = ResultCacheKey(query, params, pipeline, options);
    if (auto hits = result_cache_.Lookup(cache_key, version)) {
      RerankedResult out;
      out.hits = std::move(*hits);
      out.query_id = NewQueryId();
      return out;
    }
  }
  VECTRON_ASSIGN_OR_RETURN(std::vector<Hit> candidates, Search(query, RerankCandidateParams(pipeline, params)));

  std::vector<RatingStats> ratings;
  if (pipeline.feedback) {
    ratings.resize(candidates.size());
    std::map<uint32_t, std::vector<size_t>> by_shard;
    for (size_t i = 0; i < candidates.size(); ++i) by_shard[ShardOf(candidates[i].id)].push_back(i);
    for (const auto& [shard, idx] : by_shard) {
      std::vector<std::string> ids;
      ids.reserve(idx.size());
      for (size_t i : idx) ids.push_back(candidates[i].id);
      VECTRON_ASSIGN_OR_RETURN(auto stats, shards_[shard]->RatingStatsOf(ids));
      for (size_t j = 0; j < idx.size(); ++j) ratings[idx[j]] = stats[j];
    }
  }
  RerankOptions opts = options;
  if (opts.now_ms == 0) opts.now_ms = NowMs();
  RerankedResult out;
  VECTRON_ASSIGN_OR_RETURN(out.hits, RunRerank(pipeline, query, config_.metric, std::move(candidates), ratings,
                                               params.k, params.offset, opts));
  for (auto& h : out.hits) {
    if (!params.include_vector) h.hit.vector.clear();
    if (!params.include_metadata) h.hit.metadata.clear();
  }
  if (cacheable) result_cache_.Insert(cache_key, version, out.hits);
  out.query_id = NewQueryId();
  return out;
}

Status CollectionImpl::Feedback(const Rating& r) {
  VECTRON_RETURN_IF_ERROR(ValidateRating(r));
  Rating stamped = r;
  if (stamped.time_ms == 0) stamped.time_ms = NowMs();
  return shards_[ShardOf(r.point_id)]->AddRating(stamped);
}

Result<RatingStats> CollectionImpl::FeedbackStats(std::string_view point_id) const {
  VECTRON_RETURN_IF_ERROR(ValidateId(point_id));
  std::string id(point_id);
  VECTRON_ASSIGN_OR_RETURN(auto stats, shards_[ShardOf(id)]->RatingStatsOf(std::span<const std::string>(&id, 1)));
  return stats[0];
}

Status CollectionImpl::ExportFeedback(const std::function<Status(const Rating&)>& fn) const {
  for (const auto& s : shards_)
    VECTRON_RETURN_IF_ERROR(s->ScanRatingsAfter({}, [&](const Rating& r, std::string_view) { return fn(r); }));
  return Status::OK();
}

Result<std::string> CollectionImpl::ExportFeedbackPage(std::string_view cursor, size_t limit,
                                                       const std::function<Status(const Rating&)>& fn) const {
  if (limit == 0) return Status::InvalidArgument("feedback export limit must be at least 1");
  size_t shard = 0;
  std::string after;
  if (!cursor.empty()) VECTRON_RETURN_IF_ERROR(DecodeFeedbackCursor(cursor, shards_.size(), &shard, &after));
  size_t given = 0;
  bool full = false;  // A rating was left after `limit` of them.
  std::string last_key;
  size_t last_shard = shard;
  // Stops a shard's scan once the page is full and one more rating was seen.
  const Status page_full = Status::Cancelled("feedback export page full");
  for (; shard < shards_.size() && !full; ++shard, after.clear()) {
    Status s = shards_[shard]->ScanRatingsAfter(after, [&](const Rating& r, std::string_view key) -> Status {
      if (given == limit) {
        full = true;
        return page_full;
      }
      VECTRON_RETURN_IF_ERROR(fn(r));
      ++given;
      last_key.assign(key);
      last_shard = shard;
      return Status::OK();
    });
    if (!full) VECTRON_RETURN_IF_ERROR(s);
  }
  return full ? EncodeFeedbackCursor(last_shard, last_key) : std::string();
}

Status CollectionImpl::SetDefaultRerank(std::string_view pipeline_json) {
  std::string canonical;
  if (!pipeline_json.empty()) {
    VECTRON_ASSIGN_OR_RETURN(RerankPipeline p, ParseRerankPipeline(pipeline_json));
    VECTRON_RETURN_IF_ERROR(p.Validate(1));
    canonical = RerankPipelineToJson(p);
  }
  return shards_[0]->PutMetaText(kRerankDefaultKey, canonical);
}

Result<std::string> CollectionImpl::DefaultRerank() const { return shards_[0]->MetaText(kRerankDefaultKey); }

Result<uint64_t> CollectionImpl::Version() const {
  // A sum of counters that only grow: any commit anywhere makes it grow.
  uint64_t v = 0;
  for (const auto& s : shards_) {
    VECTRON_ASSIGN_OR_RETURN(auto sv, s->Version());
    v += sv.first + sv.second;
  }
  return v;
}

}  // namespace vectron
