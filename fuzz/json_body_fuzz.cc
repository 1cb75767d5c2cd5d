// libFuzzer target for JSON from outside: request bodies (the REST body readers), point
// metadata (the engine's validation, as Collection::Write runs it for REST, RPC, the
// embedded API and Python) and filters. Nothing may crash, leak or trip a sanitizer, and
// every recursive walk that follows a successful parse (serialising, copying) must be
// safe.
//
// Structure-aware input, so that a few bytes reach what a byte-level mutator never
// would (JSON nested 100,000 levels deep, arrays of 100,000 elements): the first three
// bytes d0 d1 d2 give a repeat count R = min(d1 | d2 << 8 | (d0 & 3) << 16, 200000) >>
// (d0 >> 4), small for most inputs (fast) and up to 200,000; the rest splits at 0xff
// (never in UTF-8 JSON) into parts A, B, C, D, E, and the text is A + B×R + C + D×R + E.
// So "[" × R + "]" × R is deep nesting, "[" + "1," × R + "1]" a long array,
// "{\"" + "k" × R + "\":1}" a long key.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "filter/filter.h"
#include "net/api/request_json.h"
#include "util/untrusted_json.h"
#include "validate.h"

namespace {

constexpr size_t kMaxTextBytes = 1 << 20;

std::string Expand(const uint8_t* data, size_t size) {
  if (size < 3) return std::string(reinterpret_cast<const char*>(data), size);
  const size_t raw = data[1] | data[2] << 8 | static_cast<size_t>(data[0] & 3) << 16;
  const size_t repeat = std::min<size_t>(raw, 200000) >> (data[0] >> 4);
  std::vector<std::string> parts(1);
  for (size_t i = 3; i < size; ++i) {
    if (data[i] == 0xff && parts.size() < 5) parts.emplace_back();
    else parts.back() += static_cast<char>(data[i]);
  }
  parts.resize(5);
  std::string text = parts[0];
  auto repeated = [&](const std::string& unit) {
    if (unit.empty()) return;
    for (size_t i = 0; i < repeat && text.size() + unit.size() <= kMaxTextBytes; ++i) text += unit;
  };
  repeated(parts[1]);
  text += parts[2];
  repeated(parts[3]);
  text += parts[4];
  return text;
}

// What the REST handlers do with a body: every reader, then serialise the parts that are
// stored or passed on (where, metadata).
void ReadBody(const std::string& text) {
  vectron::net::HttpRequest req;
  req.body = text;
  try {
    nlohmann::json j = vectron::net::ParseBody(
        req, {"where", "include", "include_metadata", "include_vector", "k", "ef", "ids", "vector", "points", "scopes"});
    (void)vectron::net::GetWhere(j);
    (void)vectron::net::GetInclude(j, {true, false});
    (void)vectron::net::GetInt(j, "k", 10, 1, 10000);
    (void)vectron::net::GetInt(j, "ef", 0, 0, 1 << 20);
    if (j.contains("ids")) (void)vectron::net::GetIds(j);
    std::vector<float> v;
    if (j.contains("vector")) vectron::net::AppendVector(j["vector"], "vector", &v);
    if (auto p = j.find("points"); p != j.end() && p->is_array()) {
      for (const auto& pt : *p) {
        if (!pt.is_object()) continue;
        vectron::net::CheckFields(pt, {"id", "vector", "metadata"}, "", " in points[i]");
        if (auto m = pt.find("metadata"); m != pt.end() && m->is_object()) {
          std::string canonical;
          (void)vectron::ValidateMetadata(m->dump(), &canonical);
        }
      }
    }
    nlohmann::json copy = j;  // Copying recurses too.
    (void)(copy == j);
  } catch (const vectron::net::ApiError&) {
  } catch (const nlohmann::json::exception&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = Expand(data, size);
  ReadBody(text);
  std::string canonical;
  if (vectron::ValidateMetadata(text, &canonical).ok() && !canonical.empty()) {
    // Canonical metadata parses back to itself.
    std::string again;
    if (!vectron::ValidateMetadata(canonical, &again).ok() || again != canonical) __builtin_trap();
  }
  auto f = vectron::filter::ParseText(text);
  if (f.ok()) (void)vectron::filter::ToString(*f);
  auto any = vectron::ParseUntrustedJson(text, "text");
  if (any.ok()) (void)any->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
