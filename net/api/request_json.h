// Decoding REST request bodies: the body is parsed through the untrusted-JSON seam
// (lib/util/untrusted_json.h: bounded nesting, repeated keys refused), then read with
// typed field readers whose errors name the field and the allowed range and never echo
// more than a short excerpt of what was sent. Used by the REST handlers only: errors are
// thrown as ApiError, which RestApi turns into a response; nothing thrown leaves net/api.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/http/http_types.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron::net {

// The deepest request body accepted: a body wraps metadata in three levels
// ({"points": [{"metadata": ...}]}) and a filter in one, so metadata and filters may
// nest kMaxJsonNesting levels over HTTP as they may over RPC and in the embedded API
// (where the engine checks them again, on their own).
inline constexpr int kMaxBodyNesting = kMaxJsonNesting + 3;

// Thrown by the readers below (and by handlers); RestApi answers it with its Status.
struct ApiError {
  Status status;
};

// Throws ApiError{InvalidArgument(message)}.
[[noreturn]] void Bad(std::string message);

// The percent-decoded value of parameter `key` in query string `query` ("a=1&b=x%20y");
// nullopt if absent. Errors (thrown): a parameter not in `allowed` (named), more than 16
// parameters, bad percent-encoding.
std::optional<std::string> QueryValue(const std::string& query, const char* key,
                                      std::initializer_list<const char*> allowed);

// The request body as a JSON object whose keys are all in `allowed`. Errors: empty
// body, not JSON, nested deeper than kMaxBodyNesting, a repeated key, not an object,
// an unknown field (named).
nlohmann::json ParseBody(const HttpRequest& req, std::initializer_list<const char*> allowed);
// Refuses a key of object `obj` not in `allowed`; `where` prefixes the field name in the
// error ("hnsw.", or "" for the top level) and `in` follows it (" in points[3]").
void CheckFields(const nlohmann::json& obj, std::initializer_list<const char*> allowed, std::string_view where,
                 std::string_view in = {});

// j[key] as an integer in lo..hi, or `def` if absent or null. Errors name the field and
// the range; a number outside int64 (2^63) is reported as sent, never wrapped.
int64_t GetInt(const nlohmann::json& j, const char* key, int64_t def, int64_t lo, int64_t hi);
bool GetBool(const nlohmann::json& j, const char* key, bool def);
std::string GetString(const nlohmann::json& j, const char* key, bool required);
// "where": a JSON object (docs/filter.md), returned as its text; "" if absent or null.
std::string GetWhere(const nlohmann::json& j);
// A point id: a string, or an integer stored as its decimal text. `what` names it.
std::string IdOf(const nlohmann::json& v, const std::string& what);
// "ids": an array of ids (required).
std::vector<std::string> GetIds(const nlohmann::json& j);
// Appends the numbers of array `v` as float32; `what` names it in errors (not an
// array, not a number, not finite as float32).
void AppendVector(const nlohmann::json& v, const std::string& what, std::vector<float>* out);

struct Include {
  bool metadata, vector;
};
// "include": ["metadata", "vector"], or "include_metadata"/"include_vector" booleans.
Include GetInclude(const nlohmann::json& j, Include def);

}  // namespace vectron::net
