#include "net/api/rest_points.h"

#include <nlohmann/json.hpp>

#include "net/api/api_util.h"
#include "net/api/request_json.h"
#include "net/auth/access.h"

namespace vectron::net::api {

using nlohmann::json;

namespace {

// Metadata `m` as text: an object, or null for none ("" clears with replace).
std::string MetadataText(const json& m, const std::string& what) {
  if (m.is_null()) return {};
  if (!m.is_object()) Bad(what + " must be a JSON object or null");
  return m.dump();
}

Collection* CollectionOf(RestApi& api, const PathParams& p) { return Take(api.db_.GetCollection(Param(p, "name"))); }

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

HttpResponse UpdateMetadata(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  WriteBatch batch = MetadataUpdatesOf(ParseBody(req, {"points", "ids", "metadata", "merge"}));
  std::shared_lock lock(api.collections_mu_);
  Check(CollectionOf(api, p)->Write(batch));
  return Json(200, {{"updated", batch.size()}});
}

HttpResponse UpdateVectors(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  WriteBatch batch = VectorUpdatesOf(ParseBody(req, {"points"}));
  std::shared_lock lock(api.collections_mu_);
  Check(CollectionOf(api, p)->Write(batch));
  return Json(200, {{"updated", batch.size()}});
}

HttpResponse ListPoints(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  json j = req.body.empty() ? json::object()
                            : ParseBody(req, {"where", "limit", "offset", "include", "include_metadata", "include_vector"});
  const size_t limit = static_cast<size_t>(GetInt(j, "limit", 100, 1, static_cast<int64_t>(kMaxListLimit)));
  const uint64_t offset = static_cast<uint64_t>(GetInt(j, "offset", 0, 0, INT64_MAX));
  std::string where = GetWhere(j);
  Include inc = GetInclude(j, {true, false});
  std::shared_lock lock(api.collections_mu_);
  Collection* c = CollectionOf(api, p);
  std::vector<Point> points = Take(c->List(where, limit, offset, GetOptions{inc.vector, inc.metadata}));
  std::string out = "{\"points\":[";
  for (size_t i = 0; i < points.size(); ++i) {
    if (i) out += ',';
    AppendPoint(&out, points[i], inc.metadata, inc.vector);
  }
  out += "]}";
  return Raw(std::move(out));
}

json CollectionMetadataJson(RestApi& api, const std::string& name) {
  std::string text = Take(api.db_.GetCollectionMetadata(name));
  if (text.empty()) return nullptr;
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

HttpResponse SetCollectionMetadata(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal&) {
  json j = ParseBody(req, {"metadata"});
  if (!j.contains("metadata")) Bad("\"metadata\" is required (a JSON object, or null to remove it)");
  std::string text = MetadataText(j["metadata"], "metadata");
  std::shared_lock lock(api.collections_mu_);
  Check(api.db_.SetCollectionMetadata(Param(p, "name"), text));
  return Json(200, {{"name", Param(p, "name")}, {"metadata", CollectionMetadataJson(api, Param(p, "name"))}});
}

HttpResponse RenameCollection(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who) {
  json j = ParseBody(req, {"name"});
  std::string to = GetString(j, "name", true);
  // The route's check covered the old name; the new one must be allowed too.
  Check(Authorize(who, {Access::kAdmin}, to));
  // Exclusive, as a drop: no request is using the Collection* the rename closes.
  std::unique_lock lock(api.collections_mu_);
  Check(api.db_.RenameCollection(Param(p, "name"), to));
  return Json(200, {{"name", to}, {"renamed_from", Param(p, "name")}});
}

}  // namespace vectron::net::api
