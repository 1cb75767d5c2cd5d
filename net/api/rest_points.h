// Readers of REST bodies that build engine values (write batches, a collection's
// config), for the REST codec (rest_data.cc). They throw ApiError as every reader.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "vectron/options.h"
#include "vectron/types.h"

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

}  // namespace vectron::net::api
