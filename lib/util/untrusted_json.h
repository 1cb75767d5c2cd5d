// JSON that comes from outside (request bodies over HTTP and RPC, metadata, filters):
// the one seam that parses it with bounded nesting, refuses repeated keys, and keeps
// what error messages echo of it short. Every front end parses through here, so that no
// recursive walk (serialising, copying, comparing, indexing) ever meets a value deeper
// than kMaxJsonNesting.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron {

// The byte offset at which `text` opens an array or object deeper than `max_depth`
// levels (the top level is 1), if it does. Strings are skipped as JSON defines them,
// so brackets inside strings do not count. Linear, no allocation; text that is not JSON
// is scanned all the same (the parser then refuses it).
std::optional<size_t> FindJsonNestingAbove(std::string_view text, int max_depth);

// Parses JSON text from outside. `what` names it in errors ("request body",
// "metadata"). Errors (InvalidArgument, message starting with `what`):
//   - nested deeper than `max_depth` (kMaxJsonNesting, unless a request body wraps such
//     values: see kMaxBodyNesting in net/api/request_json.h), with the byte offset;
//   - not valid JSON, with the byte offset and a short reason (never the whole input);
//   - a number nlohmann cannot hold (1e400);
//   - a key repeated within one object, naming the key and where ($.a.b[2]).
// Never recurses deeper than `max_depth`. Parsed by simdjson (without recursion) and
// converted to the value nlohmann's parser would build (the integer -0 excepted: it
// becomes unsigned 0, equal to nlohmann's signed 0); text simdjson refuses, a repeated
// key and nesting past `max_depth` go through the nesting scan and nlohmann's parser,
// whose errors name the byte and reason.
Result<nlohmann::json> ParseUntrustedJson(std::string_view text, std::string_view what,
                                          int max_depth = kMaxJsonNesting);
// The same, keeping each object's key order (metadata is returned as it was given).
Result<nlohmann::ordered_json> ParseUntrustedOrderedJson(std::string_view text, std::string_view what,
                                                         int max_depth = kMaxJsonNesting);

// At most `max_bytes` bytes of `s` for an error message: control bytes shown as '?',
// and when cut, "..." and the full length ("abc... (70000 bytes)").
std::string Excerpt(std::string_view s, size_t max_bytes = 64);

// A short description of a JSON value for an error message, never the whole value:
// scalars as JSON text (strings cut by Excerpt), containers by kind and size
// ("an array of 3 elements", "an object of 2 keys").
std::string DescribeJson(const nlohmann::json& v);

// `v` as compact JSON text; invalid UTF-8 in strings is replaced (U+FFFD) instead of
// throwing, so text that came from outside can always be written back out.
std::string DumpJson(const nlohmann::json& v);
std::string DumpJson(const nlohmann::ordered_json& v);

}  // namespace vectron
