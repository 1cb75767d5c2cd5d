// What REST handlers share (rest_api.cc, auth_routes.cc) beside the body readers of
// request_json.h: checking results, and answering. Handlers throw ApiError; RestApi
// turns it into the Status response (one table: HttpStatusFor).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>
#include <utility>

#include "net/api/request_json.h"  // ApiError, Bad, ParseBody and the field readers.
#include "net/http/http_types.h"
#include "net/http/router.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron::net::api {

// Runs `fn`, turning what a handler throws (ApiError, bad JSON values, out of memory,
// other exceptions) into the error response.
HttpResponse Guarded(const std::function<HttpResponse()>& fn);

// Throws ApiError{s} unless `s` is OK.
void Check(const Status& s);
// The value of `r`, or throws ApiError with its status.
template <typename T>
T Take(Result<T> r) {
  if (!r.ok()) throw ApiError{r.status()};
  return std::move(r).value();
}

// `j` as the body, with `status`.
HttpResponse Json(int status, const nlohmann::json& j);
// A body written by hand (a newline is appended), status 200.
HttpResponse Raw(std::string body);
// Appends point `p` as {"id", "vector"?, "metadata"?} (JSON text).
void AppendPoint(std::string* out, const Point& p, bool meta, bool vec);
// Appends `s` as a JSON string.
void AppendString(std::string* out, std::string_view s);
// Appends {"hits": [{"id", "score", "metadata"?, "vector"?}]} (JSON text).
void AppendHits(std::string* out, const std::vector<Hit>& hits, bool meta, bool vec);
// The path parameter `name` ("" if the route has none).
const std::string& Param(const PathParams& p, const char* name);

}  // namespace vectron::net::api
