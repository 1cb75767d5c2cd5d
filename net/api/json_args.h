// Request-body parsing shared by the REST handlers of `vectron serve` (net/api/rest_api.cc)
// and of the cluster gateway (net/daemon/gateway_api.cc): the same fields, limits and error
// messages on both. Every helper that finds a problem throws ApiError (InvalidArgument
// naming the field); the handlers' dispatchers catch it and answer 400. ApiError never
// leaves a dispatcher.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "net/http/http_types.h"
#include "vectron/status.h"

namespace vectron::net::json_args {

using nlohmann::json;

// What the helpers throw.
struct ApiError {
  Status status;
};
// Throws ApiError{InvalidArgument(message)}.
[[noreturn]] void Bad(std::string message);

// The body as a JSON object with only `allowed` fields.
json ParseBody(const HttpRequest& req, std::initializer_list<const char*> allowed);
// j[key] as an integer in lo..hi, `def` if absent or null.
int64_t GetInt(const json& j, const char* key, int64_t def, int64_t lo, int64_t hi);
// j[key] as a boolean, `def` if absent or null.
bool GetBool(const json& j, const char* key, bool def);
// j[key] as a string ("" if absent and not required).
std::string GetString(const json& j, const char* key, bool required);
// The "where" object as filter text ("" if absent).
std::string GetWhere(const json& j);
// A point id: a string, or an integer as its decimal text.
std::string IdOf(const json& v, const std::string& what);
// The "ids" array.
std::vector<std::string> GetIds(const json& j);
// Appends the numbers of `v` (finite float32 values) to `out`.
void AppendVector(const json& v, const std::string& what, std::vector<float>* out);

struct Include {
  bool metadata, vector;
};
// "include": ["metadata", "vector"], or "include_metadata"/"include_vector" booleans.
Include GetInclude(const json& j, Include def);

}  // namespace vectron::net::json_args
