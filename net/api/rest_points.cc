#include "net/api/rest_points.h"

#include <nlohmann/json.hpp>

#include "net/api/api_util.h"
#include "net/api/request_json.h"

namespace vectron::net::api {

using nlohmann::json;

namespace {

// Metadata `m` as text: an object, or null for none ("" clears with replace).
std::string MetadataText(const json& m, const std::string& what) {
  if (m.is_null()) return {};
  if (!m.is_object()) Bad(what + " must be a JSON object or null");
  return m.dump();
}

}  // namespace

WriteBatch MetadataUpdatesOf(const json& j) {
  const bool merge = GetBool(j, "merge", true);
  const bool has_points = j.contains("points"), has_ids = j.contains("ids");
  if (has_points == has_ids)
    Bad("give exactly one of \"points\" ([{\"id\", \"metadata\"}]) and \"ids\" with one \"metadata\" for all");
  WriteBatch batch;
  if (has_ids) {
    if (!j.contains("metadata")) Bad("\"metadata\" is required with \"ids\"");
    std::string meta = MetadataText(j["metadata"], "metadata");
    for (std::string& id : GetIds(j)) batch.SetMetadata(std::move(id), meta, merge);
    return batch;
  }
  if (j.contains("metadata")) Bad("\"metadata\" goes inside each of \"points\" (or use \"ids\")");
  const json& pts = j["points"];
  if (!pts.is_array() || pts.empty()) Bad("\"points\" must be a non-empty array of {\"id\", \"metadata\"}");
  for (size_t i = 0; i < pts.size(); ++i) {
    const json& pt = pts[i];
    std::string what = "points[" + std::to_string(i) + "]";
    if (!pt.is_object()) Bad(what + " must be an object {\"id\", \"metadata\"}");
    CheckFields(pt, {"id", "metadata"}, "", " in " + what);
    if (!pt.contains("id")) Bad(what + ".id is required");
    if (!pt.contains("metadata")) Bad(what + ".metadata is required");
    batch.SetMetadata(IdOf(pt["id"], what + ".id"), MetadataText(pt["metadata"], what + ".metadata"), merge);
  }
  return batch;
}

CollectionConfig CollectionConfigOf(const json& j) {
  CollectionConfig cfg;
  if (!j.contains("dim")) Bad("\"dim\" is required");
  cfg.dim = static_cast<uint32_t>(GetInt(j, "dim", 0, 1, kMaxDim));
  if (auto m = GetString(j, "metric", false); !m.empty()) cfg.metric = Take(ParseMetric(m));
  if (auto q = GetString(j, "quantization", false); !q.empty()) cfg.quantization = Take(ParseQuantization(q));
  const json* h = &j;
  if (auto it = j.find("hnsw"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) Bad("\"hnsw\" must be an object {\"m\", \"ef_construction\", \"ef_search\", \"seed\"}");
    CheckFields(*it, {"m", "M", "ef_construction", "ef_search", "seed"}, "hnsw.");
    h = &*it;
  }
  const int64_t kU32 = 0xffffffffll;
  cfg.hnsw.m = static_cast<uint32_t>(GetInt(*h, "m", GetInt(*h, "M", cfg.hnsw.m, 0, kU32), 0, kU32));
  cfg.hnsw.ef_construction = static_cast<uint32_t>(GetInt(*h, "ef_construction", cfg.hnsw.ef_construction, 0, kU32));
  cfg.hnsw.ef_search = static_cast<uint32_t>(GetInt(*h, "ef_search", cfg.hnsw.ef_search, 0, kU32));
  cfg.hnsw.seed = static_cast<uint64_t>(GetInt(*h, "seed", static_cast<int64_t>(cfg.hnsw.seed), 0, INT64_MAX));
  cfg.shards = static_cast<uint32_t>(GetInt(j, "shards", cfg.shards, 0, kU32));
  cfg.flat_max_points =
      static_cast<uint64_t>(GetInt(j, "flat_max_points", static_cast<int64_t>(cfg.flat_max_points), 0, INT64_MAX));
  cfg.checkpoint_every_ops =
      static_cast<uint64_t>(GetInt(j, "checkpoint_every_ops", static_cast<int64_t>(cfg.checkpoint_every_ops), 1, INT64_MAX));
  return cfg;
}

WriteBatch VectorUpdatesOf(const json& j) {
  auto it = j.find("points");
  if (it == j.end() || !it->is_array() || it->empty()) Bad("\"points\" must be a non-empty array of {\"id\", \"vector\"}");
  WriteBatch batch;
  std::vector<float> v;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& pt = (*it)[i];
    std::string what = "points[" + std::to_string(i) + "]";
    if (!pt.is_object()) Bad(what + " must be an object {\"id\", \"vector\"}");
    CheckFields(pt, {"id", "vector"}, "", " in " + what);
    if (!pt.contains("id")) Bad(what + ".id is required");
    if (!pt.contains("vector")) Bad(what + ".vector is required");
    v.clear();
    AppendVector(pt["vector"], what + ".vector", &v);
    batch.UpdateVector(IdOf(pt["id"], what + ".id"), v);
  }
  return batch;
}

}  // namespace vectron::net::api
