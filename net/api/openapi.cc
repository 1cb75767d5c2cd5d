// The OpenAPI 3.0 description of the REST API, built once.
#include <nlohmann/json.hpp>

#include "net/api/rest_api.h"

namespace vectron::net {
namespace {

using nlohmann::json;

json Ref(const char* name) { return {{"$ref", std::string("#/components/schemas/") + name}}; }

json Op(const char* summary, json request_schema, json response_schema, std::vector<int> errors, bool name_param,
        bool field_param = false) {
  json op = {{"summary", summary}};
  json params = json::array();
  if (name_param)
    params.push_back({{"name", "name"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}},
                      {"description", "Collection name: 1-64 of [A-Za-z0-9_-]"}});
  if (field_param)
    params.push_back({{"name", "field"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}},
                      {"description", "Metadata field (dotted path)"}});
  if (!params.empty()) op["parameters"] = params;
  if (!request_schema.is_null())
    op["requestBody"] = {{"required", true}, {"content", {{"application/json", {{"schema", request_schema}}}}}};
  json responses = {{"200", {{"description", "OK"}, {"content", {{"application/json", {{"schema", response_schema}}}}}}}};
  for (int e : errors) responses[std::to_string(e)] = {{"$ref", "#/components/responses/Error"}};
  responses["503"] = {{"$ref", "#/components/responses/Error"}};
  op["responses"] = responses;
  return op;
}

json Obj(json props, std::vector<std::string> required = {}) {
  json o = {{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
  if (!required.empty()) o["required"] = required;
  return o;
}

json Build() {
  json str = {{"type", "string"}}, integer = {{"type", "integer"}}, boolean = {{"type", "boolean"}};
  json vec = {{"type", "array"}, {"items", {{"type", "number"}}}, {"description", "float32 values, one per dimension"}};
  json where = {{"type", "object"}, {"description", "Metadata filter (see docs/filter.md)"}};
  json include = {{"type", "array"}, {"items", {{"type", "string"}, {"enum", {"metadata", "vector"}}}}};
  json schemas;
  schemas["Error"] = Obj({{"error", Obj({{"code", str}, {"message", str}}, {"code", "message"})}}, {"error"});
  schemas["CollectionConfig"] = {{"type", "object"}, {"description", "Stored configuration (CollectionConfig::ToJson)"}};
  schemas["CreateCollection"] =
      Obj({{"name", str},
           {"dim", integer},
           {"metric", {{"type", "string"}, {"enum", {"cosine", "l2", "ip"}}}},
           {"hnsw", Obj({{"m", integer}, {"ef_construction", integer}, {"ef_search", integer}, {"seed", integer}})},
           {"m", integer}, {"ef_construction", integer}, {"ef_search", integer}, {"seed", integer},
           {"shards", integer}, {"flat_max_points", integer}, {"checkpoint_every_ops", integer}},
          {"name", "dim"});
  schemas["Point"] = Obj({{"id", str}, {"vector", vec}, {"metadata", {{"type", "object"}, {"nullable", true}}}}, {"id"});
  schemas["Hit"] = Obj({{"id", str}, {"score", {{"type", "number"}, {"description", "distance: lower is nearer"}}},
                        {"metadata", {{"type", "object"}, {"nullable", true}}}, {"vector", vec}},
                       {"id", "score"});
  schemas["Hits"] = Obj({{"hits", {{"type", "array"}, {"items", Ref("Hit")}}}}, {"hits"});
  schemas["Search"] = Obj({{"vector", vec}, {"vectors", {{"type", "array"}, {"items", vec}}}, {"k", integer},
                           {"ef", integer}, {"exact", boolean}, {"where", where}, {"include", include},
                           {"include_metadata", boolean}, {"include_vector", boolean}});
  json paths;
  paths["/healthz"]["get"] = Op("Liveness: the process answers", nullptr, Obj({{"status", str}}), {}, false);
  paths["/readyz"]["get"] = Op("Readiness: 503 while shutting down", nullptr, Obj({{"status", str}}), {}, false);
  paths["/metrics"]["get"] = Op("Prometheus metrics (text format 0.0.4)", nullptr, str, {}, false);
  paths["/openapi.json"]["get"] = Op("This document", nullptr, {{"type", "object"}}, {}, false);
  paths["/v1/collections"]["post"] =
      Op("Create a collection (201)", Ref("CreateCollection"), Obj({{"name", str}, {"config", Ref("CollectionConfig")}}),
         {400, 409}, false);
  paths["/v1/collections"]["get"] =
      Op("List collections", nullptr,
         Obj({{"collections", {{"type", "array"}, {"items", Obj({{"name", str}, {"dim", integer}, {"metric", str},
                                                                 {"shards", integer}, {"count", integer}})}}}}),
         {}, false);
  paths["/v1/collections/{name}"]["get"] =
      Op("A collection's config and stats", nullptr,
         Obj({{"name", str}, {"config", Ref("CollectionConfig")}, {"stats", {{"type", "object"}}}}), {404}, true);
  paths["/v1/collections/{name}"]["delete"] =
      Op("Delete a collection and its files", nullptr, Obj({{"name", str}, {"dropped", boolean}}), {404}, true);
  paths["/v1/collections/{name}/points"]["put"] =
      Op("Upsert points atomically", Obj({{"points", {{"type", "array"}, {"items", Ref("Point")}}}}, {"points"}),
         Obj({{"upserted", integer}}), {400, 404, 413}, true);
  paths["/v1/collections/{name}/points/get"]["post"] =
      Op("Get points by id", Obj({{"ids", {{"type", "array"}, {"items", str}}}, {"include", include}}, {"ids"}),
         Obj({{"points", {{"type", "array"}, {"items", Ref("Point")}}}, {"not_found", {{"type", "array"}, {"items", str}}}}),
         {400, 404}, true);
  paths["/v1/collections/{name}/points/delete"]["post"] =
      Op("Delete points by ids or by filter", Obj({{"ids", {{"type", "array"}, {"items", str}}}, {"where", where}}),
         Obj({{"deleted", integer}}), {400, 404}, true);
  paths["/v1/collections/{name}/count"]["post"] =
      Op("Count points, optionally matching a filter", Obj({{"where", where}}), Obj({{"count", integer}}), {400, 404}, true);
  paths["/v1/collections/{name}/scroll"]["post"] =
      Op("Page through points in id order",
         Obj({{"limit", integer}, {"cursor", str}, {"where", where}, {"include", include}}),
         Obj({{"points", {{"type", "array"}, {"items", Ref("Point")}}}, {"next_cursor", {{"type", "string"}, {"nullable", true}}}}),
         {400, 404}, true);
  paths["/v1/collections/{name}/search"]["post"] =
      Op("k nearest neighbours of one query (\"vector\" → hits) or many (\"vectors\" → results)", Ref("Search"),
         {{"oneOf", {Ref("Hits"), Obj({{"results", {{"type", "array"}, {"items", Ref("Hits")}}}})}}}, {400, 404}, true);
  paths["/v1/collections/{name}/indexes"]["post"] =
      Op("Create a payload index (201)",
         Obj({{"field", str}, {"type", {{"type", "string"}, {"enum", {"keyword", "integer", "float", "bool"}}}}},
             {"field", "type"}),
         Obj({{"field", str}, {"type", str}}), {400, 404, 409}, true);
  paths["/v1/collections/{name}/indexes"]["get"] =
      Op("List payload indexes", nullptr,
         Obj({{"indexes", {{"type", "array"}, {"items", Obj({{"field", str}, {"type", str}})}}}}), {404}, true);
  paths["/v1/collections/{name}/indexes/{field}"]["delete"] =
      Op("Drop a payload index", nullptr, Obj({{"field", str}, {"dropped", boolean}}), {404}, true, true);
  json doc = {{"openapi", "3.0.3"},
              {"info", {{"title", "Vectron"}, {"version", VECTRON_VERSION},
                        {"description", "REST/JSON API of `vectron serve`. Errors are {\"error\": {\"code\", \"message\"}}."}}},
              {"paths", paths},
              {"components",
               {{"schemas", schemas},
                {"responses",
                 {{"Error", {{"description", "Error (code is the engine status name: invalid_argument, not_found, ...)"},
                             {"content", {{"application/json", {{"schema", Ref("Error")}}}}}}}}}}}};
  return doc;
}

}  // namespace

std::string RestApi::OpenApiJson() {
  static const std::string kDoc = Build().dump();
  return kDoc;
}

}  // namespace vectron::net
