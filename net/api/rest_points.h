// REST handlers for partial updates and paged reads of points (docs/server.md):
//   POST /v1/collections/{name}/points/metadata  set or merge metadata, vectors kept
//   POST /v1/collections/{name}/points/vectors   replace vectors, metadata kept
//   POST /v1/collections/{name}/points/list      get(where, limit, offset)
// Declared for rest_api.cc's route table; they throw ApiError as every handler.
#pragma once

#include "net/api/rest_api.h"

namespace vectron::net::api {

HttpResponse UpdateMetadata(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse UpdateVectors(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse ListPoints(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);

}  // namespace vectron::net::api
