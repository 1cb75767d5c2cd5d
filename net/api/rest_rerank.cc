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

// Largest export answered in one response (ratings); more is cut, and the response says so.
constexpr size_t kMaxExportRatings = 1'000'000;
// An export page ends once its body reaches this many bytes, whatever its limit (a page
// of 1,000,000 ratings with 4 KiB comments would otherwise hold 4 GB). The engine is
// read in chunks (each at its own snapshot) no larger than the bytes left allow at
// kMaxRatingLineBytes a rating, so a page passes the budget by less than one rating.
constexpr size_t kExportPageBytes = 4 << 20;
// A rating's JSON line at most: its comment, point id and query id with every byte
// escaped (\u00XX: 6 bytes), and the fields' names and numbers.
constexpr size_t kMaxRatingLineBytes = 6 * (kMaxFeedbackCommentBytes + kMaxIdBytes + kMaxQueryIdBytes) + 256;

json MetadataJson(const std::string& text) {
  if (text.empty()) return nullptr;
  json m = json::parse(text, nullptr, false);
  return m.is_discarded() ? json(nullptr) : m;
}

json RatingJson(const Rating& r) {
  json j = {{"point_id", r.point_id}, {"rating", r.rating}, {"time_ms", r.time_ms}};
  j["query_id"] = r.query_id.empty() ? json(nullptr) : json(r.query_id);
  j["comment"] = r.comment.empty() ? json(nullptr) : json(r.comment);
  return j;
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

HttpResponse PostFeedback(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  json j = ParseBody(req, {"point_id", "rating", "query_id", "comment"});
  Rating r;
  r.point_id = IdOf(j.contains("point_id") ? j["point_id"] : json(nullptr), "point_id");
  auto rating = j.find("rating");
  if (rating == j.end() || !rating->is_number_integer())
    Bad("\"rating\" must be an integer from 1 to 5");
  int64_t v = rating->get<int64_t>();
  if (v < kMinRating || v > kMaxRating) Bad("\"rating\" must be an integer from 1 to 5, got " + std::to_string(v));
  r.rating = static_cast<int>(v);
  if (auto q = j.find("query_id"); q != j.end() && !q->is_null()) {
    if (!q->is_string()) Bad("\"query_id\" must be a string");
    r.query_id = q->get<std::string>();
  }
  if (auto c = j.find("comment"); c != j.end() && !c->is_null()) {
    if (!c->is_string()) Bad("\"comment\" must be a string");
    r.comment = c->get<std::string>();
  }
  std::shared_ptr<Collection> c = Take(api.db_.GetCollection(Param(p, "name")));
  Check(c->Feedback(r));
  json out = {{"point_id", r.point_id}, {"rating", r.rating}, {"stored", true}};
  return Json(201, out);
}

HttpResponse GetFeedback(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  std::optional<std::string> id = QueryValue(req.query, "point_id", {"point_id"});
  if (!id) Bad("give the point with ?point_id=");
  std::shared_ptr<Collection> c = Take(api.db_.GetCollection(Param(p, "name")));
  RatingStats st = Take(c->FeedbackStats(*id));
  json hist = json::object();
  for (int r = 1; r <= 5; ++r) hist[std::to_string(r)] = st.histogram[r - 1];
  return Json(200, {{"point_id", *id}, {"count", st.count}, {"mean", st.count ? json(st.mean) : json(nullptr)},
                    {"histogram", hist}});
}

HttpResponse ExportFeedback(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  std::optional<std::string> limit_text = QueryValue(req.query, "limit", {"limit", "cursor"});
  std::optional<std::string> cursor = QueryValue(req.query, "cursor", {"limit", "cursor"});
  size_t limit = kMaxExportRatings;
  if (limit_text) {
    if (limit_text->empty() || limit_text->size() > 8 || limit_text->find_first_not_of("0123456789") != std::string::npos)
      Bad("limit must be an integer in 1..1000000");
    limit = std::strtoull(limit_text->c_str(), nullptr, 10);
    if (limit < 1 || limit > kMaxExportRatings) Bad("limit must be an integer in 1..1000000");
  }
  std::shared_ptr<Collection> c = Take(api.db_.GetCollection(Param(p, "name")));
  HttpResponse r;
  r.content_type = "application/x-ndjson";
  size_t n = 0;
  std::string next = cursor.value_or("");
  do {
    const size_t chunk = std::max<size_t>(1, (kExportPageBytes - r.body.size()) / kMaxRatingLineBytes);
    next = Take(c->ExportFeedbackPage(next, std::min(limit - n, chunk), [&](const Rating& rt) {
      r.body += DumpJson(RatingJson(rt));
      r.body += '\n';
      ++n;
      return Status::OK();
    }));
  } while (!next.empty() && n < limit && r.body.size() < kExportPageBytes);
  r.headers.emplace_back("X-Vectron-Ratings", std::to_string(n));
  if (!next.empty()) {
    r.headers.emplace_back("X-Vectron-Truncated", "true");
    r.headers.emplace_back("X-Vectron-Next-Cursor", next);
  }
  return r;
}

HttpResponse GetRerank(RestApi& api, const HttpRequest&, const PathParams& p, const Principal&) {
  std::shared_ptr<Collection> c = Take(api.db_.GetCollection(Param(p, "name")));
  std::string stored = Take(c->DefaultRerank());
  return Json(200, {{"rerank", stored.empty() ? json(nullptr) : json::parse(stored)}});
}

HttpResponse PutRerank(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  if (req.body.empty()) Bad("the body must be a rerank pipeline object (docs/rerank.md)");
  RerankPipeline pipeline = Take(ParseRerankPipeline(req.body));
  std::shared_ptr<Collection> c = Take(api.db_.GetCollection(Param(p, "name")));
  const std::string canonical = RerankPipelineToJson(pipeline);
  Check(c->SetDefaultRerank(canonical));
  return Json(200, {{"rerank", json::parse(canonical)}});
}

HttpResponse DeleteRerank(RestApi& api, const HttpRequest&, const PathParams& p, const Principal&) {
  std::shared_ptr<Collection> c = Take(api.db_.GetCollection(Param(p, "name")));
  Check(c->SetDefaultRerank(""));
  return Json(200, {{"rerank", nullptr}});
}

}  // namespace vectron::net::api
