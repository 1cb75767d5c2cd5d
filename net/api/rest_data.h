// The REST/JSON codec of the data operations (docs/server.md): one handler per row of
// the operation table (operations.h) that reads the request body, checks it against the
// table's limits, calls the DataService and writes the answer. `vectron serve` (over a
// LocalDataService, on its worker pool) and the gateway (over a ClusterDataService, on
// its loop) route the same table to the same handlers, so routes, access rules, limits,
// request and response shapes are the same on both.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/api/data_service.h"
#include "net/api/operations.h"
#include "net/api/versioned_result_cache.h"
#include "net/auth/access.h"
#include "net/http/http_server.h"
#include "net/http/router.h"

namespace vectron::net {

// Delivers a handler's answer (an HttpServer Responder, or a capture): called once.
using Reply = std::function<void(HttpResponse)>;

// What a data handler is handed.
struct RestDataContext {
  DataService* service;
  const OpLimits* limits;
  // `vectron serve` only: a reranked search (docs/rerank.md). Answers the response text
  // when a pipeline applies to the search body (rest_rerank.h, RerankedSearch), nullopt
  // for a plain search; throws ApiError. Empty (the gateway): a search asking for
  // "rerank" or "explain" is reranked by the codec over the service's candidates and
  // (for a feedback stage) their rating summaries; no stored default, no result cache.
  std::function<std::optional<std::string>(const std::string& name, const nlohmann::json& body,
                                           std::span<const float> queries, size_t nq, const SearchParams& sp)>
      rerank;
  // The gateway only (with `rerank` empty): its result cache of reranked searches
  // (docs/cluster.md, "Reranking"), checked per shard through
  // DataService::SearchIfChanged. Null: no cache.
  VersionedResultCache* result_cache = nullptr;
};

// A handler: answers through `respond` exactly once (now or when the service answers).
// It may throw ApiError (bad input) before calling the service; RunRestData catches it.
using RestDataFn = void (*)(const RestDataContext& ctx, const HttpRequest& req, const PathParams& params,
                            const Principal& who, Reply respond);

// The handler of operation `op`.
RestDataFn RestDataHandler(OpId op);

// Runs `fn`: an operation the service does not serve is answered 501 (RestNotServed),
// bad input 400 (or what the ApiError says), out of memory 507. Thread: wherever the
// service may be called.
void RunRestData(OpId op, const RestDataContext& ctx, const HttpRequest& req, const PathParams& params,
                 const Principal& who, Reply respond);

// The 501 answer for a route whose operation `service` does not serve.
HttpResponse RestNotServed(const HttpRequest& req);

}  // namespace vectron::net
