#include "net/api/request_json.h"

#include <cmath>

#include "util/untrusted_json.h"

namespace vectron::net {

using nlohmann::json;

void Bad(std::string message) { throw ApiError{Status::InvalidArgument(std::move(message))}; }

json ParseBody(const HttpRequest& req, std::initializer_list<const char*> allowed) {
  if (req.body.empty()) Bad("request body is empty; expected a JSON object");
  Result<json> parsed = ParseUntrustedJson(req.body, "request body", kMaxBodyNesting);
  if (!parsed.ok()) throw ApiError{parsed.status()};
  json j = std::move(parsed).value();
  if (!j.is_object()) Bad("request body must be a JSON object, got " + DescribeJson(j));
  CheckFields(j, allowed, "");
  return j;
}

void CheckFields(const json& obj, std::initializer_list<const char*> allowed, std::string_view where,
                 std::string_view in) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || it.key() == a;
    if (ok) continue;
    std::string list;
    for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
    Bad("unknown field \"" + std::string(where) + Excerpt(it.key()) + "\"" + std::string(in) + " (allowed: " + list +
        ")");
  }
}

int64_t GetInt(const json& j, const char* key, int64_t def, int64_t lo, int64_t hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  auto range = [&] { return std::string("\"") + key + "\" must be an integer in " + std::to_string(lo) + ".." +
                            std::to_string(hi) + ", got "; };
  // Integers past int64 (2^63 and up) arrive as unsigned; larger ones as floats.
  if (!it->is_number_integer()) Bad(range() + DescribeJson(*it));
  if (it->is_number_unsigned()) {
    const uint64_t u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(hi) || (lo > 0 && u < static_cast<uint64_t>(lo))) Bad(range() + std::to_string(u));
    return static_cast<int64_t>(u);
  }
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) Bad(range() + std::to_string(v));
  return v;
}

bool GetBool(const json& j, const char* key, bool def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) Bad(std::string("\"") + key + "\" must be true or false, got " + DescribeJson(*it));
  return it->get<bool>();
}

std::string GetString(const json& j, const char* key, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) Bad(std::string("\"") + key + "\" is required");
    return {};
  }
  if (!it->is_string()) Bad(std::string("\"") + key + "\" must be a string, got " + DescribeJson(*it));
  return it->get<std::string>();
}

std::string GetWhere(const json& j) {
  auto it = j.find("where");
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_object()) Bad("\"where\" must be a JSON object (see docs/filter.md), got " + DescribeJson(*it));
  // Safe to serialise: the body's nesting is bounded by ParseBody.
  return DumpJson(*it);
}

std::string IdOf(const json& v, const std::string& what) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();  // Integer ids are stored as their decimal text.
  Bad(what + " must be a string (or an integer), got " + DescribeJson(v));
}

std::vector<std::string> GetIds(const json& j) {
  auto it = j.find("ids");
  if (it == j.end()) Bad("\"ids\" is required");
  if (!it->is_array()) Bad("\"ids\" must be an array of strings, got " + DescribeJson(*it));
  std::vector<std::string> ids;
  ids.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) ids.push_back(IdOf((*it)[i], "ids[" + std::to_string(i) + "]"));
  return ids;
}

void AppendVector(const json& v, const std::string& what, std::vector<float>* out) {
  if (!v.is_array()) Bad(what + " must be an array of numbers, got " + DescribeJson(v));
  for (size_t i = 0; i < v.size(); ++i) {
    const json& x = v[i];
    if (!x.is_number()) Bad(what + "[" + std::to_string(i) + "] is not a number, got " + DescribeJson(x));
    double d = x.get<double>();
    if (!std::isfinite(static_cast<float>(d))) Bad(what + "[" + std::to_string(i) + "] is not a finite float32");
    out->push_back(static_cast<float>(d));
  }
}

Include GetInclude(const json& j, Include def) {
  Include inc = def;
  if (auto it = j.find("include"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) Bad("\"include\" must be an array of \"metadata\" and/or \"vector\", got " + DescribeJson(*it));
    inc = {false, false};
    for (auto& x : *it) {
      if (x == "metadata") inc.metadata = true;
      else if (x == "vector" || x == "vectors") inc.vector = true;
      else Bad("\"include\" may hold only \"metadata\" and \"vector\", got " + DescribeJson(x));
    }
  }
  inc.metadata = GetBool(j, "include_metadata", inc.metadata);
  inc.vector = GetBool(j, "include_vector", inc.vector);
  return inc;
}

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
      continue;
    }
    const int hi = i + 1 < s.size() ? HexDigit(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? HexDigit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) Bad("bad percent-encoding in the query string");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace

std::optional<std::string> QueryValue(const std::string& query, const char* key,
                                      std::initializer_list<const char*> allowed) {
  std::optional<std::string> value;
  size_t n = 0;
  for (size_t pos = 0; pos < query.size();) {
    if (++n > 16) Bad("too many query parameters");
    size_t amp = query.find('&', pos);
    std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    std::string k = kv.substr(0, kv.find('='));
    bool known = false;
    for (const char* a : allowed) known = known || k == a;
    if (!known) Bad("unknown query parameter \"" + k.substr(0, 64) + "\"");
    if (k == key) value = PercentDecode(kv.size() > k.size() ? std::string_view(kv).substr(k.size() + 1) : "");
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return value;
}

}  // namespace vectron::net
