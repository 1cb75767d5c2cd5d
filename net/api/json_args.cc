#include "net/api/json_args.h"

#include <cmath>

namespace vectron::net::json_args {

void Bad(std::string message) { throw ApiError{Status::InvalidArgument(std::move(message))}; }

json ParseBody(const HttpRequest& req, std::initializer_list<const char*> allowed) {
  if (req.body.empty()) Bad("request body is empty; expected a JSON object");
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded()) {
    // Parse again for the position and reason of the error.
    try {
      json again = json::parse(req.body);
      (void)again;
    } catch (const json::parse_error& e) {
      Bad(std::string("request body is not valid JSON: ") + e.what());
    }
    Bad("request body is not valid JSON");
  }
  if (!j.is_object()) Bad("request body must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || it.key() == a;
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
      Bad("unknown field \"" + it.key() + "\" (allowed: " + list + ")");
    }
  }
  return j;
}

int64_t GetInt(const json& j, const char* key, int64_t def, int64_t lo, int64_t hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number_integer()) Bad(std::string("\"") + key + "\" must be an integer");
  int64_t v = it->get<int64_t>();
  if (v < lo || v > hi)
    Bad(std::string("\"") + key + "\" must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
        std::to_string(v));
  return v;
}

bool GetBool(const json& j, const char* key, bool def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) Bad(std::string("\"") + key + "\" must be true or false");
  return it->get<bool>();
}

std::string GetString(const json& j, const char* key, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) Bad(std::string("\"") + key + "\" is required");
    return {};
  }
  if (!it->is_string()) Bad(std::string("\"") + key + "\" must be a string");
  return it->get<std::string>();
}

// A filter is given as a JSON object; the engine takes its text.
std::string GetWhere(const json& j) {
  auto it = j.find("where");
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_object()) Bad("\"where\" must be a JSON object (see docs/filter.md)");
  return it->dump();
}

std::string IdOf(const json& v, const std::string& what) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();  // Integer ids are stored as their decimal text.
  Bad(what + " must be a string (or an integer)");
}

std::vector<std::string> GetIds(const json& j) {
  auto it = j.find("ids");
  if (it == j.end()) Bad("\"ids\" is required");
  if (!it->is_array()) Bad("\"ids\" must be an array of strings");
  std::vector<std::string> ids;
  ids.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) ids.push_back(IdOf((*it)[i], "ids[" + std::to_string(i) + "]"));
  return ids;
}

void AppendVector(const json& v, const std::string& what, std::vector<float>* out) {
  if (!v.is_array()) Bad(what + " must be an array of numbers");
  for (size_t i = 0; i < v.size(); ++i) {
    const json& x = v[i];
    if (!x.is_number()) Bad(what + "[" + std::to_string(i) + "] is not a number");
    double d = x.get<double>();
    if (!std::isfinite(static_cast<float>(d))) Bad(what + "[" + std::to_string(i) + "] is not a finite float32");
    out->push_back(static_cast<float>(d));
  }
}

Include GetInclude(const json& j, Include def) {
  Include inc = def;
  if (auto it = j.find("include"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) Bad("\"include\" must be an array of \"metadata\" and/or \"vector\"");
    inc = {false, false};
    for (auto& x : *it) {
      if (x == "metadata") inc.metadata = true;
      else if (x == "vector" || x == "vectors") inc.vector = true;
      else Bad("\"include\" may hold only \"metadata\" and \"vector\", got " + x.dump());
    }
  }
  inc.metadata = GetBool(j, "include_metadata", inc.metadata);
  inc.vector = GetBool(j, "include_vector", inc.vector);
  return inc;
}

}  // namespace vectron::net::json_args
