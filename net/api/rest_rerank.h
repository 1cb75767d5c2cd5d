// `vectron serve`'s reranked form of POST .../search (docs/rerank.md, docs/server.md),
// and the rerank helpers the REST codec shares. (The feedback and default-pipeline
// routes are rows of the operation table, in rest_data.cc, which the gateway serves
// too.) Functions that take a request throw ApiError as every handler.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "net/api/rest_api.h"

namespace vectron::net::api {


// The pipeline a search body asks for: its "rerank" object, else (unless "rerank" is
// false) the collection's default; nullopt for a plain search. Throws ApiError naming
// the problem.
std::optional<RerankPipeline> SearchPipeline(const nlohmann::json& body, const Collection& c);
// The pipeline of a search body's "rerank" object (an empty one when only "explain" is
// set); nullopt for a plain search ("rerank" absent or false). No collection default:
// for front ends that hold none (the cluster gateway). Throws ApiError.
std::optional<RerankPipeline> BodyPipeline(const nlohmann::json& body);
// One reranked search's response object: {"query_id", "hits": [{"id", "score",
// "relevance", "metadata"?, "vector"?, "components"?}]}.
std::string RerankedResultJson(const RerankedResult& r, bool include_metadata, bool include_vector, bool explain);
// RerankedResultJson of c.SearchReranked; `cache` false skips the result cache. Throws
// ApiError.
std::string RerankedSearchJson(const Collection& c, std::span<const float> query, const SearchParams& sp,
                               const RerankPipeline& pipeline, bool explain, bool cache);
// The answer to a search body that a pipeline applies to (its "rerank", else the
// collection's default unless "rerank" is false; or "explain"): one result object when
// `single`, else {"results": [...]}, one per query of `queries` (nq of them). nullopt: a
// plain search. Holds the service's collection lock. Throws ApiError. (rest_data.cc's
// Search calls it through RestDataContext::rerank.)
std::optional<std::string> RerankedSearch(RestApi& api, const std::string& name, const nlohmann::json& body,
                                          std::span<const float> queries, size_t nq, bool single,
                                          const SearchParams& sp);
// /metrics lines of collection `name`'s result cache (hits, misses, evictions,
// invalidations as counters; entries and bytes as gauges), and their HELP/TYPE header.
std::string RerankCacheMetrics(const std::string& name, const ResultCacheStats& st);
std::string RerankCacheMetricsHelp();
// Adds "query_id": a fresh id to the JSON object `obj` (text ending in '}').
void AddQueryId(std::string* obj);

}  // namespace vectron::net::api
