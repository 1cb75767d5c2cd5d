// What REST handlers share (rest_api.cc, auth_routes.cc): reading JSON bodies with
// clear errors, and answering. Handlers throw ApiError; RestApi turns it into the
// Status response (one table: HttpStatusFor).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "net/http/http_types.h"
#include "net/http/router.h"
#include "vectron/status.h"

namespace vectron::net::api {

// Thrown inside handlers only; RestApi's dispatch turns it into a response.
struct ApiError {
  Status status;
};

// Throws ApiError{InvalidArgument(message)}.
[[noreturn]] void Bad(std::string message);
// Throws ApiError{s} unless `s` is OK.
void Check(const Status& s);
// The value of `r`, or throws ApiError with its status.
template <typename T>
T Take(Result<T> r) {
  if (!r.ok()) throw ApiError{r.status()};
  return std::move(r).value();
}

// The request body as a JSON object whose fields are all in `allowed` (else 400 naming
// the field).
nlohmann::json ParseBody(const HttpRequest& req, std::initializer_list<const char*> allowed);
// Field `key` of `j`: `def` if absent or null; 400 if of another type or out of range.
int64_t GetInt(const nlohmann::json& j, const char* key, int64_t def, int64_t lo, int64_t hi);
bool GetBool(const nlohmann::json& j, const char* key, bool def);
std::string GetString(const nlohmann::json& j, const char* key, bool required);

// `j` as the body, with `status`.
HttpResponse Json(int status, const nlohmann::json& j);
// The path parameter `name` ("" if the route has none).
const std::string& Param(const PathParams& p, const char* name);

}  // namespace vectron::net::api
