// REST handlers for partial updates and paged reads of points (docs/server.md):
//   POST /v1/collections/{name}/points/metadata  set or merge metadata, vectors kept
//   POST /v1/collections/{name}/points/vectors   replace vectors, metadata kept
//   POST /v1/collections/{name}/points/list      get(where, limit, offset)
//   PUT  /v1/collections/{name}/metadata         the collection's metadata
//   POST /v1/collections/{name}/rename           a new name
// Declared for rest_api.cc's route table; they throw ApiError as every handler.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "net/api/rest_api.h"

namespace vectron::net::api {

// The batch of a points/metadata body ({"points": [{"id", "metadata"}]} or {"ids",
// "metadata"}, and "merge"), or of a points/vectors body ({"points": [{"id",
// "vector"}]}). Throw ApiError (InvalidArgument) naming the bad field. Shared with the
// cluster gateway (net/daemon/gateway_api.cc).
WriteBatch MetadataUpdatesOf(const nlohmann::json& j);
WriteBatch VectorUpdatesOf(const nlohmann::json& j);
// The CollectionConfig of a create-collection body: "dim" (required), "metric",
// "quantization", "hnsw" {"m", "ef_construction", "ef_search", "seed"} or those at the
// top level, "shards", "flat_max_points", "checkpoint_every_ops"; the rest are
// CollectionConfig's defaults. Throws ApiError (InvalidArgument) naming the bad field.
// Shared by `vectron serve` and the cluster gateway.
CollectionConfig CollectionConfigOf(const nlohmann::json& j);

HttpResponse UpdateMetadata(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse UpdateVectors(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse SetCollectionMetadata(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse RenameCollection(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
// The collection's metadata as JSON (an object, or null for none).
nlohmann::json CollectionMetadataJson(RestApi& api, const std::string& name);
HttpResponse ListPoints(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);

}  // namespace vectron::net::api
