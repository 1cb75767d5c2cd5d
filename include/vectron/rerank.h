// Reranking: a pipeline of stages run over the `candidates` nearest points of a search,
// which then returns the k most relevant. docs/rerank.md defines the score exactly:
//
//   similarity = cosine: 1 - d/2;  l2: 1 / (1 + d);  ip: 1 / (1 + e^d)   (d = Hit::score)
//   relevance  = similarity × Π boosts(matching) + Σ fields + decay + feedback + custom
//   with mmr:  hits are picked greedily by λ·relevance - (1-λ)·max cosine to those
//              picked before, and that MMR value is the hit's final relevance.
//
// Higher relevance is better; Hit::score keeps the distance (lower is nearer).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/feedback.h"
#include "vectron/options.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron {

// Bounds of a pipeline (Validate).
inline constexpr int kMaxRerankCandidates = 1000;
inline constexpr size_t kMaxRerankBoosts = 16;
inline constexpr size_t kMaxRerankFields = 16;
inline constexpr double kMaxRerankWeight = 1e6;  // |weight| bound of every stage.

// Multiplies the similarity of the hits whose metadata matches `where` (a filter, see
// docs/filter.md) by `weight` (> 0; below 1 demotes).
struct RerankBoost {
  std::string where;
  double weight = 1;
};

// How a numeric field's value is transformed before it is weighted.
enum class FieldTransform : uint8_t { kNone, kLog1p };

// Adds weight × transform(value of metadata field `field`) (dotted path); a missing or
// non-numeric value counts 0; log1p takes max(value, 0).
struct RerankField {
  std::string field;
  double weight = 0;
  FieldTransform transform = FieldTransform::kNone;
};

// Adds weight × 0.5^(age / half_life_s), age = now - field (Unix seconds; a timestamp
// in the future counts as age 0). A missing or non-numeric field counts 0.
struct RerankDecay {
  std::string field;
  double half_life_s = 86400;
  double weight = 0;
};

// Maximal marginal relevance over the candidates' vectors: lambda 1 = relevance only,
// 0 = diversity only.
struct RerankMmr {
  double lambda = 0.7;
};

// Adds weight × (smoothed mean - 3) / 2, in [-1, 1]: the smoothed mean is the Bayesian
// average (prior_count × prior_mean + Σ ratings) / (prior_count + count), so one rating
// moves a point less than many.
struct RerankFeedback {
  double weight = 0;
  double prior_count = 5;  // > 0
  double prior_mean = 3;   // 1..5
};

// What a custom scorer sees of a candidate (views valid during the call only).
struct RerankCandidate {
  std::string_view id;
  float distance = 0;
  std::span<const float> vector;  // As stored (not normalised).
  std::string_view metadata;      // JSON text, may be empty.
};
// Returns one finite score per candidate (higher is better), in order. Called once per
// search, from the searching thread. An error fails the search with it.
using RerankScorer =
    std::function<Result<std::vector<double>>(std::span<const float> query, std::span<const RerankCandidate> candidates)>;

// Adds weight × fn's score.
struct RerankCustom {
  RerankScorer fn;
  double weight = 1;
};

// A rerank pipeline. Stages that are absent (or empty lists) do nothing.
struct RerankPipeline {
  int candidates = 0;  // Points fetched from the index; 0 = min(4 × k, 1000). k..1000.
  std::vector<RerankBoost> boosts;
  std::vector<RerankField> fields;
  std::optional<RerankDecay> decay;
  std::optional<RerankMmr> mmr;
  std::optional<RerankFeedback> feedback;
  std::optional<RerankCustom> custom;

  // The candidates fetched for `k` hits (after offset): `candidates` or its default.
  int CandidatesFor(int k) const;
  // OK if the pipeline can run for k hits: candidates in [k, 1000] (when set), finite
  // weights within kMaxRerankWeight, boost weights > 0, parsable filters and field paths,
  // half_life_s > 0, lambda in [0, 1], bounded list sizes, a custom stage with a function.
  // Errors: InvalidArgument naming the stage and the problem.
  Status Validate(int k) const;
};

// Parses a pipeline from its JSON form (docs/rerank.md): {"candidates": n, "boosts":
// [{"where": {...}, "weight": w}], "fields": [{"field", "weight", "transform"}],
// "decay": {"field", "half_life_s", "weight"}, "mmr": {"lambda"}, "feedback": {"weight",
// "prior_count"?, "prior_mean"?}}. Unknown keys are errors. A custom stage cannot be
// written in JSON. Errors: InvalidArgument naming the key (not Validate's checks of k).
Result<RerankPipeline> ParseRerankPipeline(std::string_view json_text);
// The JSON form of `p` (without its custom stage); ParseRerankPipeline reads it back.
std::string RerankPipelineToJson(const RerankPipeline& p);

// Each part of a reranked hit's relevance (see the top of this file).
struct RerankComponents {
  double similarity = 0;  // From the distance.
  double boost = 1;       // Product of the matching boosts' weights.
  double fields = 0;      // Sum over the field stages.
  double decay = 0;
  double feedback = 0;
  double custom = 0;
  double mmr_redundancy = 0;  // Max cosine to the hits picked before (with mmr).
};

// A hit of a reranked search.
struct RerankedHit {
  Hit hit;                      // score stays the distance.
  double relevance = 0;         // Higher is better; hits come in decreasing order
                                // (with mmr: in pick order).
  RerankComponents components;  // Filled when explain was asked.
};

// What one reranked search returns.
struct RerankedResult {
  std::string query_id;  // Unique per search (32 hex digits): quote it in feedback.
  std::vector<RerankedHit> hits;
};

// Per-search settings of a reranked search.
struct RerankOptions {
  bool explain = false;   // Fill each hit's components.
  int64_t now_ms = 0;     // Clock of the decay stage; 0 = the system clock.
  // Answer from / store in the collection's result cache (DatabaseOptions::
  // result_cache_bytes). Never used for a custom stage, nor for a decay stage on the
  // system clock (their answers depend on more than the key).
  bool cache = true;
};

// What a collection's result cache holds and did (counters since open).
struct ResultCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;      // Dropped to make room (least recently used).
  uint64_t invalidations = 0;  // Found stale (the collection changed since).
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t capacity_bytes = 0;
};

// The search that fetches the candidates of a reranked search with `params`: k = the
// pipeline's candidates for k + offset, no offset, and the vectors and metadata its
// stages read (on top of what `params` includes). Collection::SearchReranked runs it;
// so does a caller that fetches candidates elsewhere (the cluster gateway) before
// RunRerank.
SearchParams RerankCandidateParams(const RerankPipeline& p, const SearchParams& params);

// A fresh random query id (32 hex digits). Thread-safe.
std::string NewQueryId();

// The pipeline itself, for callers that fetched candidates elsewhere (and for tests):
// reranks `candidates` (nearest first, with vector when mmr is on and metadata when
// boosts, fields or decay are) for `query` under `metric`, and returns the best `k`
// after skipping `offset`. `ratings[i]` are candidate i's ratings (may be empty when the
// pipeline has no feedback stage). REQUIRES: p.Validate(k) is OK.
// Errors: those of the custom scorer; InvalidArgument if it returns a wrong count or a
// non-finite score.
Result<std::vector<RerankedHit>> RunRerank(const RerankPipeline& p, std::span<const float> query, Metric metric,
                                           std::vector<Hit> candidates, std::span<const RatingStats> ratings,
                                           int k, int offset, const RerankOptions& options);

}  // namespace vectron
