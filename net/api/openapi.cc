// The OpenAPI 3.0 description of the REST API, built once.
#include <nlohmann/json.hpp>

#include "net/api/operations.h"
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

json Build(bool auth) {
  json str = {{"type", "string"}}, integer = {{"type", "integer"}}, boolean = {{"type", "boolean"}};
  json vec = {{"type", "array"}, {"items", {{"type", "number"}}}, {"description", "float32 values, one per dimension"}};
  json where = {{"type", "object"}, {"description", "Metadata filter (see docs/filter.md)"}};
  json include = {{"type", "array"}, {"items", {{"type", "string"}, {"enum", {"metadata", "vector"}}}}};
  json schemas;
  json staleness = {{"type", "integer"},
                    {"description", "Cluster: a follower may answer if at most this stale (0: linearizable); "
                                    "vectron serve reads are always current"}};
  schemas["Error"] = Obj({{"error", Obj({{"code", str}, {"message", str}}, {"code", "message"})}}, {"error"});
  schemas["CollectionConfig"] = {{"type", "object"}, {"description", "Stored configuration (CollectionConfig::ToJson)"}};
  schemas["CreateCollection"] =
      Obj({{"name", str},
           {"dim", integer},
           {"metric", {{"type", "string"}, {"enum", {"cosine", "l2", "ip"}}}},
           {"hnsw", Obj({{"m", integer}, {"ef_construction", integer}, {"ef_search", integer}, {"seed", integer}})},
           {"m", integer}, {"ef_construction", integer}, {"ef_search", integer}, {"seed", integer},
           {"shards", integer}, {"flat_max_points", integer}, {"checkpoint_every_ops", integer},
           {"quantization", {{"type", "string"}, {"enum", {"none", "sq8"}}}},
           {"metadata", {{"type", "object"}, {"nullable", true}, {"description", "JSON object stored with the collection"}}},
           {"replication", {{"type", "integer"}, {"description", "Cluster: copies of each shard (0: min(3, workers)); "
                                                                  "vectron serve accepts 0 or 1"}}}},
          {"name", "dim"});
  schemas["Point"] = Obj({{"id", str}, {"vector", vec}, {"metadata", {{"type", "object"}, {"nullable", true}}}}, {"id"});
  schemas["Hit"] = Obj({{"id", str}, {"score", {{"type", "number"}, {"description", "distance: lower is nearer"}}},
                        {"metadata", {{"type", "object"}, {"nullable", true}}}, {"vector", vec}},
                       {"id", "score"});
  schemas["Hits"] = Obj({{"hits", {{"type", "array"}, {"items", Ref("Hit")}}}, {"query_id", {{"type", "string"}}}},
                        {"hits", "query_id"});
  schemas["Search"] = Obj({{"vector", vec}, {"vectors", {{"type", "array"}, {"items", vec}}}, {"k", integer},
                           {"ef", integer}, {"exact", boolean}, {"where", where}, {"include", include},
                           {"include_metadata", boolean}, {"include_vector", boolean},
                           {"filter_strategy", {{"type", "string"}, {"enum", {"auto", "exact", "graph", "post_filter"}}}},
                           {"offset", {{"type", "integer"}, {"description", "hits skipped first (paging)"}}},
                           {"score_threshold", {{"type", "number"}, {"description", "largest distance kept"}}},
                           {"max_staleness_ms", staleness},
                           {"rerank", {{"oneOf", {Ref("RerankPipeline"), boolean}},
                                       {"description", "a pipeline (docs/rerank.md), or false to skip the default"}}},
                           {"explain", {{"type", "boolean"}, {"description", "each hit's relevance components"}}},
                           {"cache", {{"type", "boolean"}, {"description", "false: skip the result cache (reranked searches)"}}}});
  json num = {{"type", "number"}};
  schemas["RerankPipeline"] =
      Obj({{"candidates", {{"type", "integer"}, {"description", "points fetched, k..1000 (default 4 × k)"}}},
           {"boosts", {{"type", "array"}, {"items", Obj({{"where", where}, {"weight", num}}, {"where", "weight"})}}},
           {"fields", {{"type", "array"},
                       {"items", Obj({{"field", str}, {"weight", num},
                                      {"transform", {{"type", "string"}, {"enum", {"none", "log1p"}}}}},
                                     {"field", "weight"})}}},
           {"decay", Obj({{"field", str}, {"half_life_s", num}, {"weight", num}}, {"field", "weight"})},
           {"mmr", Obj({{"lambda", num}})},
           {"feedback", Obj({{"weight", num}, {"prior_count", num}, {"prior_mean", num}}, {"weight"})}});
  schemas["RerankedHits"] =
      Obj({{"query_id", str},
           {"hits", {{"type", "array"},
                     {"items", Obj({{"id", str}, {"score", num}, {"relevance", num},
                                    {"metadata", {{"type", "object"}, {"nullable", true}}}, {"vector", vec},
                                    {"components", {{"type", "object"}}}}, {"id", "score", "relevance"})}}}},
          {"query_id", "hits"});
  json paths;
  paths["/healthz"]["get"] = Op("Liveness: the process answers", nullptr, Obj({{"status", str}}), {}, false);
  paths["/readyz"]["get"] = Op("Readiness: 503 while shutting down", nullptr, Obj({{"status", str}}), {}, false);
  paths["/metrics"]["get"] = Op("Prometheus metrics (text format 0.0.4)", nullptr, str, {}, false);
  paths["/openapi.json"]["get"] = Op("This document", nullptr, {{"type", "object"}}, {}, false);
  paths["/v1/openapi.json"]["get"] = paths["/openapi.json"]["get"];
  paths["/v1/collections"]["post"] =
      Op("Create a collection (201)", Ref("CreateCollection"),
         Obj({{"name", str}, {"config", Ref("CollectionConfig")}, {"metadata", {{"type", "object"}, {"nullable", true}}}}),
         {400, 409}, false);
  paths["/v1/collections"]["get"] =
      Op("List collections", nullptr,
         Obj({{"collections", {{"type", "array"}, {"items", Obj({{"name", str}, {"dim", integer}, {"metric", str},
                                                                 {"shards", integer}, {"count", integer},
                                                                 {"index_kind", str}, {"index_memory_bytes", integer},
                                                                 {"disk_bytes", integer}})}}}}),
         {}, false);
  paths["/v1/collections/{name}"]["get"] =
      Op("A collection's config and stats", nullptr,
         Obj({{"name", str}, {"config", Ref("CollectionConfig")}, {"stats", {{"type", "object"}}},
              {"metadata", {{"type", "object"}, {"nullable", true}}}}),
         {404}, true);
  paths["/v1/collections/{name}/metadata"]["put"] =
      Op("Replace the JSON object stored with the collection (null removes it; at most 64 KiB)",
         Obj({{"metadata", {{"type", "object"}, {"nullable", true}}}}, {"metadata"}),
         Obj({{"name", str}, {"metadata", {{"type", "object"}, {"nullable", true}}}}), {400, 404}, true);
  paths["/v1/collections/{name}/rename"]["post"] =
      Op("Rename the collection (one catalog transaction; the token needs admin on both names)",
         Obj({{"name", str}}, {"name"}), Obj({{"name", str}, {"renamed_from", str}}), {400, 404, 409}, true);
  paths["/v1/collections/{name}"]["delete"] =
      Op("Delete a collection and its files", nullptr, Obj({{"name", str}, {"dropped", boolean}}), {404}, true);
  paths["/v1/collections/{name}/points"]["put"] =
      Op("Upsert points atomically", Obj({{"points", {{"type", "array"}, {"items", Ref("Point")}}}}, {"points"}),
         Obj({{"upserted", integer}}), {400, 404, 413, 507}, true);
  paths["/v1/collections/{name}/points/get"]["post"] =
      Op("Get points by id",
         Obj({{"ids", {{"type", "array"}, {"items", str}}}, {"include", include}, {"include_metadata", boolean},
              {"include_vector", boolean}, {"max_staleness_ms", staleness}},
             {"ids"}),
         Obj({{"points", {{"type", "array"}, {"items", Ref("Point")}}}, {"not_found", {{"type", "array"}, {"items", str}}}}),
         {400, 404}, true);
  paths["/v1/collections/{name}/points/delete"]["post"] =
      Op("Delete points by ids or by filter", Obj({{"ids", {{"type", "array"}, {"items", str}}}, {"where", where}}),
         Obj({{"deleted", integer}}), {400, 404}, true);
  json id_or_int = {{"oneOf", {str, integer}}};
  json meta_or_null = {{"type", "object"}, {"nullable", true}};
  paths["/v1/collections/{name}/points/metadata"]["post"] =
      Op("Set (merge: false) or merge (merge: true, the default; RFC 7396, null removes a key) the metadata of "
         "existing points, keeping their vectors; a missing id refuses the whole request (404)",
         Obj({{"points", {{"type", "array"}, {"items", Obj({{"id", id_or_int}, {"metadata", meta_or_null}}, {"id", "metadata"})}}},
              {"ids", {{"type", "array"}, {"items", id_or_int}}}, {"metadata", meta_or_null}, {"merge", boolean}}),
         Obj({{"updated", integer}}), {400, 404, 413, 507}, true);
  paths["/v1/collections/{name}/points/vectors"]["post"] =
      Op("Replace the vectors of existing points, keeping their metadata; a missing id refuses the whole request (404)",
         Obj({{"points", {{"type", "array"}, {"items", Obj({{"id", id_or_int}, {"vector", vec}}, {"id", "vector"})}}}}, {"points"}),
         Obj({{"updated", integer}}), {400, 404, 413, 507}, true);
  paths["/v1/collections/{name}/points/list"]["post"] =
      Op("A page of points in id order: those matching \"where\", after skipping \"offset\" of them, at most "
         "\"limit\" (1-10000, default 100), \"offset\" at most 100000 (page deeper with scroll); include defaults to "
         "metadata only",
         Obj({{"where", where}, {"limit", integer}, {"offset", integer}, {"include", include}}),
         Obj({{"points", {{"type", "array"}, {"items", Ref("Point")}}}}), {400, 404}, true);
  paths["/v1/collections/{name}/count"]["post"] =
      Op("Count points, optionally matching a filter", Obj({{"where", where}, {"max_staleness_ms", staleness}}), Obj({{"count", integer}}), {400, 404}, true);
  paths["/v1/collections/{name}/scroll"]["post"] =
      Op("Page through points in id order",
         Obj({{"limit", integer}, {"cursor", str}, {"where", where}, {"include", include}}),
         Obj({{"points", {{"type", "array"}, {"items", Ref("Point")}}}, {"next_cursor", {{"type", "string"}, {"nullable", true}}}}),
         {400, 404}, true);
  paths["/v1/collections/{name}/search"]["post"] =
      Op("k nearest neighbours of one query (\"vector\" → hits) or many (\"vectors\" → results), reranked with "
         "\"rerank\" or the collection's default pipeline; every result carries a query_id",
         Ref("Search"),
         {{"oneOf", {Ref("Hits"), Ref("RerankedHits"),
                     Obj({{"results", {{"type", "array"}, {"items", {{"oneOf", {Ref("Hits"), Ref("RerankedHits")}}}}}}})}}},
         {400, 404}, true);
  paths["/v1/collections/{name}/feedback"]["post"] =
      Op("Rate a point 1-5 (201; stored durably, deleted with the point; 404 if the point does not exist)",
         Obj({{"point_id", id_or_int}, {"rating", integer}, {"query_id", str}, {"comment", str}},
             {"point_id", "rating"}),
         Obj({{"point_id", str}, {"rating", integer}, {"stored", boolean}}), {400, 404}, true);
  json histogram = Obj({{"1", integer}, {"2", integer}, {"3", integer}, {"4", integer}, {"5", integer}});
  paths["/v1/collections/{name}/feedback"]["get"] =
      Op("A point's ratings (?point_id=): count, mean (null if none) and histogram", nullptr,
         Obj({{"point_id", str}, {"count", integer}, {"mean", {{"type", "number"}, {"nullable", true}}},
              {"histogram", histogram}}),
         {400, 404}, true);
  paths["/v1/collections/{name}/feedback"]["get"]["parameters"].push_back(
      {{"name", "point_id"}, {"in", "query"}, {"required", true}, {"schema", str}});
  paths["/v1/collections/{name}/feedback/export"]["get"] =
      Op("Every rating as JSON lines (application/x-ndjson): {point_id, rating, time_ms, query_id, comment}; at most "
         "?limit= (1-1000000, the default); when cut, X-Vectron-Truncated: true and X-Vectron-Next-Cursor, which "
         "?cursor= takes to go on",
         nullptr, str, {400, 404}, true);
  paths["/v1/collections/{name}/feedback/export"]["get"]["parameters"] = {
      {{"name", "limit"}, {"in", "query"}, {"required", false}, {"schema", integer}},
      {{"name", "cursor"}, {"in", "query"}, {"required", false}, {"schema", str}}};
  paths["/v1/collections/{name}/rerank"]["get"] =
      Op("The default rerank pipeline (null if none)", nullptr, Obj({{"rerank", Ref("RerankPipeline")}}), {404}, true);
  paths["/v1/collections/{name}/rerank"]["put"] =
      Op("Store the default rerank pipeline, used by searches without \"rerank\"", Ref("RerankPipeline"),
         Obj({{"rerank", Ref("RerankPipeline")}}), {400, 404}, true);
  paths["/v1/collections/{name}/rerank"]["delete"] =
      Op("Remove the default rerank pipeline", nullptr, Obj({{"rerank", {{"nullable", true}}}}), {404}, true);
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
  if (auth) {
    json token = Obj({{"token", str}, {"token_type", str}, {"expires_at", integer}}, {"token", "expires_at"});
    json str_array = {{"type", "array"}, {"items", str}};
    json scopes = {{"type", "array"}, {"items", {{"type", "string"}, {"enum", {"read", "write", "admin", "feedback"}}}}};
    paths["/v1/auth/login"]["post"] =
        Op("Log in with a user name and password: a login token (400 malformed user name, 401 wrong password, 429 "
           "rate limited)",
           Obj({{"username", str}, {"password", str}}, {"username", "password"}), token, {400, 401, 429}, false);
    paths["/v1/auth/refresh"]["post"] = Op("A fresh login token for a valid login token", nullptr, token, {401, 403}, false);
    paths["/v1/auth/me"]["get"] =
        Op("Who the login token belongs to", nullptr, Obj({{"user", str}, {"role", str}, {"auth_time", integer}}),
           {401, 403}, false);
    paths["/v1/auth/password"]["post"] =
        Op("Change the logged-in user's password; ends every earlier session and returns a new login token",
           Obj({{"old_password", str}, {"new_password", str}}, {"old_password", "new_password"}),
           Obj({{"user", str}, {"password_changed", boolean}, {"token", str}, {"token_type", str},
                {"expires_at", integer}}),
           {400, 401, 403, 429}, false);
    paths["/v1/auth/logout-all"]["post"] =
        Op("Log out everywhere: every login token of the user stops working (this one too); revoke_keys also "
           "revokes the user's API keys",
           Obj({{"revoke_keys", boolean}}),
           Obj({{"user", str}, {"sessions_ended", boolean}, {"keys_revoked", integer}}), {400, 401, 403}, false);
    paths["/v1/auth/logout-all"]["post"]["requestBody"]["required"] = false;
    paths["/v1/auth/signing-keys"]["get"] =
        Op("JWT signing keys (no secrets; EdDSA public keys)", nullptr, Obj({{"signing_keys", {{"type", "array"}}}}),
           {401, 403}, false);
    paths["/v1/auth/signing-keys"]["post"] =
        Op("Rotate: a new key signs from now on, old keys still verify (201)", nullptr, Obj({{"kid", str}}), {401, 403},
           false);
    paths["/v1/auth/signing-keys/{kid}"]["delete"] =
        Op("Retire a signing key: tokens it signed stop working", nullptr, Obj({{"kid", str}, {"retired", boolean}}),
           {401, 403, 404, 409}, false);
    paths["/v1/auth/signing-keys/{kid}"]["delete"]["parameters"] = {
        {{"name", "kid"}, {"in", "path"}, {"required", true}, {"schema", str}}};
    paths["/v1/keys"]["post"] =
        Op("Create an API key: its SDK token, shown once (201)",
           Obj({{"name", str}, {"scopes", scopes}, {"collections", str_array}, {"expires_in", integer}}, {"name", "scopes"}),
           Obj({{"key_id", str}, {"token", str}, {"name", str}, {"scopes", scopes},
                {"expires_at", {{"type", "integer"}, {"nullable", true}}}}),
           {400, 401, 403}, false);
    paths["/v1/keys"]["get"] =
        Op("The caller's API keys (an admin's: all), without secrets", nullptr, Obj({{"keys", {{"type", "array"}}}}),
           {401, 403}, false);
    paths["/v1/keys/{key_id}"]["delete"] =
        Op("Revoke an API key (effective on the next request)", nullptr, Obj({{"key_id", str}, {"revoked", boolean}}),
           {401, 403, 404}, false);
    paths["/v1/keys/{key_id}"]["delete"]["parameters"] = {
        {{"name", "key_id"}, {"in", "path"}, {"required", true}, {"schema", str}}};
    json grants = {{"type", "object"},
                   {"additionalProperties", {{"type", "array"}, {"items", {{"type", "string"}, {"enum", {"read", "write"}}}}}},
                   {"description", "collection name (or \"*\": every collection) to scopes"}};
    json user_param = {{"name", "name"}, {"in", "path"}, {"required", true}, {"schema", str}, {"description", "User name"}};
    json collection_param = {{"name", "collection"}, {"in", "path"}, {"required", true}, {"schema", str},
                             {"description", "Collection name, or * for every collection"}};
    paths["/v1/users"]["post"] =
        Op("Create a user (admin, 201); a non-admin user may be given grants",
           Obj({{"username", str}, {"password", str}, {"role", {{"type", "string"}, {"enum", {"user", "admin"}}}},
                {"grants", grants}},
               {"username", "password"}),
           Obj({{"username", str}, {"role", str}, {"grants", grants}}), {400, 401, 403, 409}, false);
    paths["/v1/users"]["get"] = Op("Users and their grants (admin)", nullptr, Obj({{"users", {{"type", "array"}}}}),
                                   {401, 403}, false);
    paths["/v1/users/{name}"]["delete"] =
        Op("Delete a user and revoke its keys (admin)", nullptr, Obj({{"username", str}, {"deleted", boolean}}),
           {401, 403, 404, 409}, false);
    paths["/v1/users/{name}"]["delete"]["parameters"] = {user_param};
    paths["/v1/users/{name}/grants"]["get"] =
        Op("A user's grants (admin)", nullptr, Obj({{"username", str}, {"grants", grants}}), {401, 403, 404}, false);
    paths["/v1/users/{name}/grants"]["get"]["parameters"] = {user_param};
    paths["/v1/users/{name}/grants/{collection}"]["put"] =
        Op("Grant a non-admin user read and/or write on a collection (replaces its grant there; admin)",
           Obj({{"scopes", {{"type", "array"}, {"items", {{"type", "string"}, {"enum", {"read", "write"}}}}}}},
               {"scopes"}),
           Obj({{"username", str}, {"collection", str}, {"scopes", str_array}}), {400, 401, 403, 404, 409}, false);
    paths["/v1/users/{name}/grants/{collection}"]["put"]["parameters"] = {user_param, collection_param};
    paths["/v1/users/{name}/grants/{collection}"]["delete"] =
        Op("Revoke a user's grant on a collection: its keys lose it on their next request (admin)", nullptr,
           Obj({{"username", str}, {"collection", str}, {"revoked", boolean}}), {401, 403, 404, 409}, false);
    paths["/v1/users/{name}/grants/{collection}"]["delete"]["parameters"] = {user_param, collection_param};
    paths["/v1/audit"]["get"] =
        Op("Audit log of auth events, newest first, one page (admin); at most 1 MiB per answer", nullptr,
           Obj({{"events", {{"type", "array"}}}, {"next_cursor", {{"type", "string"}, {"nullable", true}}}}),
           {400, 401, 403}, false);
    paths["/v1/audit"]["get"]["parameters"] = {
        {{"name", "limit"}, {"in", "query"}, {"schema", integer}, {"description", "Events per page, 1-10000 (100)"}},
        {{"name", "cursor"}, {"in", "query"}, {"schema", str}, {"description", "next_cursor of the previous page"}},
        {{"name", "since"}, {"in", "query"}, {"schema", integer}, {"description", "Unix seconds: stop at older events"}}};
    // Each operation's required token, from the route table itself.
    for (const auto& r : RestApi::Routes(true, false)) {
      std::string m = r.method;
      for (char& c : m) c = static_cast<char>(c - 'A' + 'a');
      if (!paths.contains(r.pattern) || !paths[r.pattern].contains(m)) continue;
      json& op = paths[r.pattern][m];
      op["x-vectron-access"] = {{"access", AccessName(r.access.access)}, {"console", r.access.console},
                                {"all_collections", r.access.all_collections}};
      if (r.access.access == Access::kPublic) {
        op["security"] = json::array();
      } else {
        op["responses"]["401"] = {{"$ref", "#/components/responses/Error"}};
        op["responses"]["403"] = {{"$ref", "#/components/responses/Error"}};
      }
    }
  }
  // The data operations: their names and limits from the operation table (operations.h),
  // which routes serve and RPC shares.
  const OpLimits limits;
  for (const OpSpec& op : DataOps()) {
    std::string m = op.method;
    for (char& c : m) c = static_cast<char>(c - 'A' + 'a');
    if (!paths.contains(op.pattern) || !paths[op.pattern].contains(m)) continue;
    json& o = paths[op.pattern][m];
    o["operationId"] = op.name;
    if (op.id == OpId::kSearch)
      o["x-vectron-limits"] = {{"max_k", limits.max_k}, {"max_batch_queries", limits.max_batch_queries},
                               {"max_ef", limits.max_ef}, {"max_staleness_ms", limits.max_staleness_ms}};
    if (op.id == OpId::kScroll) o["x-vectron-limits"] = {{"max_limit", limits.max_scroll_limit}};
    if (op.id == OpId::kList) o["x-vectron-limits"] = {{"max_limit", limits.max_list_limit}};
    if (op.id == OpId::kGet || op.id == OpId::kCount)
      o["x-vectron-limits"] = {{"max_staleness_ms", limits.max_staleness_ms}};
  }
  json doc = {{"openapi", "3.0.3"},
              {"info", {{"title", "Vectron"}, {"version", VECTRON_VERSION},
                        {"description", "REST/JSON API of `vectron serve`. Errors are {\"error\": {\"code\", \"message\"}}."}}},
              {"paths", paths},
              {"security", auth ? json::array({{{"bearer", json::array()}}}) : json::array()},
              {"components",
               {{"schemas", schemas},
                {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}, {"bearerFormat", "JWT"}}}}},
                {"responses",
                 {{"Error", {{"description", "Error (code is the engine status name: invalid_argument, not_found, ...)"},
                             {"content", {{"application/json", {{"schema", Ref("Error")}}}}}}}}}}}};
  return doc;
}

}  // namespace

std::string RestApi::OpenApiJson(bool auth) {
  static const std::string kWithAuth = Build(true).dump();
  static const std::string kWithout = Build(false).dump();
  return auth ? kWithAuth : kWithout;
}

}  // namespace vectron::net
