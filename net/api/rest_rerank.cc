#include "net/api/rest_rerank.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>

#include "net/api/api_util.h"
#include "net/api/metrics.h"
#include "net/api/request_json.h"
#include "util/untrusted_json.h"

namespace vectron::net::api {

using nlohmann::json;

namespace {

json MetadataJson(const std::string& text) {
  if (text.empty()) return nullptr;
  json m = json::parse(text, nullptr, false);
  return m.is_discarded() ? json(nullptr) : m;
}

}  // namespace

namespace {

// The pipeline of the body's "rerank" key: nullopt if absent (`absent` true) or false.
std::optional<RerankPipeline> RerankKey(const json& body, bool* absent) {
  auto it = body.find("rerank");
  *absent = it == body.end();
  if (*absent || (it->is_boolean() && !it->get<bool>())) return std::nullopt;
  if (!it->is_object()) Bad("\"rerank\" must be a pipeline object (docs/rerank.md) or false");
  return Take(ParseRerankPipeline(it->dump()));
}

}  // namespace

std::optional<RerankPipeline> SearchPipeline(const json& body, const Collection& c) {
  bool absent = false;
  std::optional<RerankPipeline> p = RerankKey(body, &absent);
  if (!absent) return p;  // Given, or false: opting out of the default.
  std::string stored = Take(c.DefaultRerank());
  if (stored.empty()) return std::nullopt;
  return Take(ParseRerankPipeline(stored));
}

std::optional<RerankPipeline> BodyPipeline(const json& body) {
  bool absent = false;
  std::optional<RerankPipeline> p = RerankKey(body, &absent);
  if (!p && GetBool(body, "explain", false)) p.emplace();
  return p;
}

std::string RerankedSearchJson(const Collection& c, std::span<const float> query, const SearchParams& sp,
                               const RerankPipeline& pipeline, bool explain, bool cache) {
  RerankOptions o;
  o.explain = explain;
  o.cache = cache;
  return RerankedResultJson(Take(c.SearchReranked(query, sp, pipeline, o)), sp.include_metadata, sp.include_vector,
                            explain);
}

std::string RerankedResultJson(const RerankedResult& r, bool include_metadata, bool include_vector, bool explain) {
  json hits = json::array();
  for (const auto& h : r.hits) {
    json x = {{"id", h.hit.id}, {"score", h.hit.score}, {"relevance", h.relevance}};
    if (include_metadata) x["metadata"] = MetadataJson(h.hit.metadata);
    if (include_vector) x["vector"] = h.hit.vector;
    if (explain) {
      const auto& k = h.components;
      x["components"] = {{"similarity", k.similarity}, {"boost", k.boost},   {"fields", k.fields},
                         {"decay", k.decay},           {"feedback", k.feedback}, {"custom", k.custom},
                         {"mmr_redundancy", k.mmr_redundancy}};
    }
    hits.push_back(std::move(x));
  }
  json out = {{"query_id", r.query_id}, {"hits", std::move(hits)}};
  return DumpJson(out);
}

namespace {

constexpr const char* kCacheMetrics[][3] = {
    {"vectron_rerank_cache_hits_total", "counter", "Reranked searches answered from the result cache."},
    {"vectron_rerank_cache_misses_total", "counter", "Reranked searches the result cache could not answer."},
    {"vectron_rerank_cache_evictions_total", "counter", "Result cache entries dropped to make room (LRU)."},
    {"vectron_rerank_cache_invalidations_total", "counter", "Result cache entries found stale after a write."},
    {"vectron_rerank_cache_entries", "gauge", "Entries in the result cache."},
    {"vectron_rerank_cache_bytes", "gauge", "Memory held by the result cache."},
};

}  // namespace

std::string RerankCacheMetricsHelp() {
  std::string out;
  for (const auto& m : kCacheMetrics)
    out += std::string("# HELP ") + m[0] + " " + m[2] + "\n# TYPE " + m[0] + " " + m[1] + "\n";
  return out;
}

std::string RerankCacheMetrics(const std::string& name, const ResultCacheStats& st) {
  const uint64_t values[] = {st.hits, st.misses, st.evictions, st.invalidations, st.entries, st.bytes};
  std::string out;
  for (size_t i = 0; i < std::size(values); ++i)
    out += std::string(kCacheMetrics[i][0]) + "{collection=\"" + PromEscape(name) + "\"} " + std::to_string(values[i]) + "\n";
  return out;
}

std::optional<std::string> RerankedSearch(RestApi& api, const std::string& name, const json& body,
                                          std::span<const float> queries, size_t nq, bool single,
                                          const SearchParams& sp) {
  const bool explain = GetBool(body, "explain", false), cache = GetBool(body, "cache", true);
  std::shared_ptr<Collection> c = Take(api.db_.GetCollection(name));
  std::optional<RerankPipeline> pipeline = SearchPipeline(body, *c);
  if (!pipeline && explain) pipeline.emplace();
  if (!pipeline) return std::nullopt;
  if (single) return RerankedSearchJson(*c, queries, sp, *pipeline, explain, cache);
  const size_t dim = c->config().dim;
  if (queries.size() != nq * dim)
    Bad("each query must have " + std::to_string(dim) + " numbers (the collection's dimension), got " +
        std::to_string(queries.size() / nq));
  std::string out = "{\"results\":[";
  for (size_t i = 0; i < nq; ++i) {
    if (i) out += ',';
    out += RerankedSearchJson(*c, queries.subspan(i * dim, dim), sp, *pipeline, explain, cache);
  }
  out += "]}";
  return out;
}

void AddQueryId(std::string* obj) {
  if (obj->empty() || obj->back() != '}') return;
  obj->pop_back();
  *obj += ",\"query_id\":\"" + NewQueryId() + "\"}";
}

}  // namespace vectron::net::api
