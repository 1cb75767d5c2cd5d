// RunRerank: the stages of a rerank pipeline over fetched candidates. The score each
// hit gets is defined in include/vectron/rerank.h and docs/rerank.md.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "filter/filter.h"
#include "payload/payload.h"
#include "vectron/rerank.h"

namespace vectron {

namespace {

using nlohmann::json;

double Similarity(Metric metric, float d) {
  switch (metric) {
    case Metric::kCosine: return 1.0 - static_cast<double>(d) / 2.0;
    case Metric::kL2: return 1.0 / (1.0 + std::max(0.0, static_cast<double>(d)));
    case Metric::kIP: return 1.0 / (1.0 + std::exp(std::clamp(static_cast<double>(d), -700.0, 700.0)));
  }
  return 0;
}

// The number at `path` in `meta`, if it holds one.
std::optional<double> NumberAt(const json& meta, const filter::FieldPath& path) {
  const json* cur = &meta;
  for (const auto& seg : path.segments) {
    if (!cur->is_object()) return std::nullopt;
    auto it = cur->find(seg);
    if (it == cur->end()) return std::nullopt;
    cur = &*it;
  }
  if (!cur->is_number()) return std::nullopt;
  double v = cur->get<double>();
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

double Cosine(std::span<const float> a, std::span<const float> b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return 0;
  return dot / std::sqrt(na * nb);
}

}  // namespace

Result<std::vector<RerankedHit>> RunRerank(const RerankPipeline& p, std::span<const float> query, Metric metric,
                                           std::vector<Hit> candidates, std::span<const RatingStats> ratings,
                                           int k, int offset, const RerankOptions& options) {
  const size_t n = candidates.size();
  std::vector<RerankComponents> comp(n);
  for (size_t i = 0; i < n; ++i) comp[i].similarity = Similarity(metric, candidates[i].score);

  // Metadata stages: each candidate's JSON is parsed once.
  const bool needs_meta = !p.boosts.empty() || !p.fields.empty() || p.decay.has_value();
  if (needs_meta) {
    std::vector<filter::Filter> boosts;
    for (const auto& b : p.boosts) {
      VECTRON_ASSIGN_OR_RETURN(filter::Filter f, filter::ParseText(b.where));
      boosts.push_back(std::move(f));
    }
    std::vector<filter::FieldPath> fields;
    for (const auto& f : p.fields) {
      VECTRON_ASSIGN_OR_RETURN(filter::FieldPath path, payload::ParseFieldName(f.field));
      fields.push_back(std::move(path));
    }
    filter::FieldPath decay_path;
    if (p.decay) {
      VECTRON_ASSIGN_OR_RETURN(decay_path, payload::ParseFieldName(p.decay->field));
    }
    const double now_s = static_cast<double>(options.now_ms) / 1000.0;
    for (size_t i = 0; i < n; ++i) {
      const std::string& text = candidates[i].metadata;
      json meta = text.empty() ? json::object() : json::parse(text, nullptr, false);
      if (meta.is_discarded()) meta = json::object();
      for (size_t b = 0; b < boosts.size(); ++b)
        if (filter::Matches(boosts[b], meta)) comp[i].boost *= p.boosts[b].weight;
      for (size_t f = 0; f < fields.size(); ++f) {
        std::optional<double> v = NumberAt(meta, fields[f]);
        if (!v) continue;
        double x = p.fields[f].transform == FieldTransform::kLog1p ? std::log1p(std::max(*v, 0.0)) : *v;
        comp[i].fields += p.fields[f].weight * x;
      }
      if (p.decay) {
        std::optional<double> ts = NumberAt(meta, decay_path);
        if (ts) {
          double age_s = std::max(0.0, now_s - *ts);
          comp[i].decay = p.decay->weight * std::exp2(-age_s / p.decay->half_life_s);
        }
      }
    }
  }

  if (p.feedback && !ratings.empty()) {
    const auto& fb = *p.feedback;
    for (size_t i = 0; i < n && i < ratings.size(); ++i) {
      const RatingStats& st = ratings[i];
      double sum = 0;
      for (int r = 0; r < 5; ++r) sum += static_cast<double>(st.histogram[r]) * (r + 1);
      double smoothed = (fb.prior_count * fb.prior_mean + sum) / (fb.prior_count + static_cast<double>(st.count));
      comp[i].feedback = fb.weight * (smoothed - 3.0) / 2.0;
    }
  }

  if (p.custom) {
    std::vector<RerankCandidate> view(n);
    for (size_t i = 0; i < n; ++i)
      view[i] = RerankCandidate{candidates[i].id, candidates[i].score, candidates[i].vector, candidates[i].metadata};
    VECTRON_ASSIGN_OR_RETURN(std::vector<double> scores, p.custom->fn(query, view));
    if (scores.size() != n)
      return Status::InvalidArgument("rerank custom: the scorer returned " + std::to_string(scores.size()) +
                                     " scores for " + std::to_string(n) + " candidates");
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(scores[i]))
        return Status::InvalidArgument("rerank custom: the scorer's score " + std::to_string(i) + " is not finite");
      comp[i].custom = p.custom->weight * scores[i];
    }
  }

  std::vector<double> relevance(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& c = comp[i];
    relevance[i] = c.similarity * c.boost + c.fields + c.decay + c.feedback + c.custom;
  }

  // The order: by relevance (ties: nearer, then id), or MMR's greedy picks.
  const size_t want = std::min(n, static_cast<size_t>(k) + static_cast<size_t>(offset));
  std::vector<size_t> order;
  std::vector<double> final_score(n);
  auto better = [&](size_t a, size_t b) {
    if (relevance[a] != relevance[b]) return relevance[a] > relevance[b];
    if (candidates[a].score != candidates[b].score) return candidates[a].score < candidates[b].score;
    return candidates[a].id < candidates[b].id;
  };
  if (p.mmr) {
    const double lambda = p.mmr->lambda;
    std::vector<double> redundancy(n, 0);  // max cosine to the picked ones
    std::vector<bool> picked(n, false);
    for (size_t step = 0; step < want; ++step) {
      size_t best = n;
      double best_v = 0;
      for (size_t i = 0; i < n; ++i) {
        if (picked[i]) continue;
        double v = lambda * relevance[i] - (1 - lambda) * redundancy[i];
        if (best == n || v > best_v || (v == best_v && better(i, best))) {
          best = i;
          best_v = v;
        }
      }
      picked[best] = true;
      order.push_back(best);
      final_score[best] = best_v;
      comp[best].mmr_redundancy = redundancy[best];
      for (size_t i = 0; i < n; ++i)
        if (!picked[i]) redundancy[i] = std::max(redundancy[i], Cosine(candidates[i].vector, candidates[best].vector));
    }
  } else {
    order.resize(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(want), order.end(), better);
    order.resize(want);
    final_score = relevance;
  }

  std::vector<RerankedHit> out;
  for (size_t j = static_cast<size_t>(offset); j < order.size(); ++j) {
    size_t i = order[j];
    RerankedHit h;
    h.hit = std::move(candidates[i]);
    h.relevance = final_score[i];
    if (options.explain) h.components = comp[i];
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace vectron
