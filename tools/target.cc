#include "target.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "net/http/http_client.h"

namespace vectron::tools {
namespace {

using nlohmann::json;

// ------------------------------------------------------------------ a database directory

class LocalTarget : public Target {
 public:
  LocalTarget(std::unique_ptr<Database> db, std::string dir, Durability durability)
      : db_(std::move(db)), dir_(std::move(dir)), durability_(durability) {}

  Result<std::vector<std::string>> List() override {
    return OneOrAllCollections("", [&] { return db_->ListCollections(); });
  }

  Result<CollectionInfo> Describe(const std::string& name) override {
    VECTRON_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, db_->GetCollection(name));
    VECTRON_ASSIGN_OR_RETURN(CollectionStats st, c->Stats());
    return CollectionInfo{name, c->config(), st};
  }

  Status Create(const std::string& name, const CollectionConfig& config) override {
    return db_->CreateCollection(name, config).status();
  }

  Result<std::vector<Hit>> Search(const std::string& name, std::span<const float> query,
                                  const SearchParams& params) override {
    VECTRON_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, db_->GetCollection(name));
    return c->Search(query, params);
  }

  Result<uint64_t> Count(const std::string& name, const std::string& where) override {
    VECTRON_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, db_->GetCollection(name));
    return c->Count(where);
  }

  Status Upsert(const std::string& name, const WriteBatch& batch) override {
    VECTRON_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, db_->GetCollection(name));
    return c->Write(batch);
  }

  Status Sync() override { return durability_ == Durability::kFull ? Status::OK() : db_->Sync(); }

  std::string Where() const override { return "in " + dir_; }

 private:
  std::unique_ptr<Database> db_;
  std::string dir_;
  Durability durability_;
};

// ------------------------------------------------------------------ a server (REST API)

std::string PathOf(const std::string& collection, const char* suffix = "") {
  // Collection names are [A-Za-z0-9_-]; anything else is refused by the server, but must
  // not reach the request line unescaped.
  std::string p = "/v1/collections/";
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned char ch : collection) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      p += static_cast<char>(ch);
    } else {
      p += '%';
      p += kHex[ch >> 4];
      p += kHex[ch & 15];
    }
  }
  return p + suffix;
}

// A 2xx answer's JSON object. Errors: Unavailable (the server sent something else).
Result<json> ParseAnswer(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Unavailable("the server's answer is not a JSON object");
  return j;
}

Result<json> Field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return Status::Unavailable(std::string("the server's answer lacks \"") + key + "\"");
  return *it;
}

void AppendFloats(std::string* out, std::span<const float> v) {
  out->push_back('[');
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out->push_back(',');
    int n = std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(v[i]));
    out->append(buf, static_cast<size_t>(n));
  }
  out->push_back(']');
}

class RemoteTarget : public Target {
 public:
  explicit RemoteTarget(net::HttpClient client) : http_(std::move(client)) {}

  Result<std::vector<std::string>> List() override {
    VECTRON_ASSIGN_OR_RETURN(std::string body, http_.Call("GET", "/v1/collections", "", true));
    VECTRON_ASSIGN_OR_RETURN(json j, ParseAnswer(body));
    VECTRON_ASSIGN_OR_RETURN(json list, Field(j, "collections"));
    std::vector<std::string> names;
    try {
      for (auto& c : list) names.push_back(c.at("name").get<std::string>());
    } catch (const json::exception& e) {
      return Status::Unavailable(std::string("unexpected collection list from the server: ") + e.what());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<CollectionInfo> Describe(const std::string& name) override {
    VECTRON_ASSIGN_OR_RETURN(std::string body, http_.Call("GET", PathOf(name), "", true));
    VECTRON_ASSIGN_OR_RETURN(json j, ParseAnswer(body));
    VECTRON_ASSIGN_OR_RETURN(json config, Field(j, "config"));
    VECTRON_ASSIGN_OR_RETURN(json stats, Field(j, "stats"));
    CollectionInfo info;
    info.name = name;
    VECTRON_ASSIGN_OR_RETURN(info.config, CollectionConfig::FromJson(config.dump()));
    try {
      info.stats.count = stats.at("count").get<uint64_t>();
      info.stats.index_memory_bytes = stats.at("index_memory_bytes").get<uint64_t>();
      info.stats.disk_bytes = stats.at("disk_bytes").get<uint64_t>();
      info.stats.deleted_slots = stats.at("deleted_slots").get<uint64_t>();
      info.stats.index_kind = stats.at("index_kind").get<std::string>();
    } catch (const json::exception& e) {
      return Status::Unavailable(std::string("unexpected collection stats from the server: ") + e.what());
    }
    return info;
  }

  Status Create(const std::string& name, const CollectionConfig& c) override {
    json body = {{"name", name},
                 {"dim", c.dim},
                 {"metric", MetricName(c.metric)},
                 {"hnsw", {{"m", c.hnsw.m}, {"ef_construction", c.hnsw.ef_construction},
                           {"ef_search", c.hnsw.ef_search}, {"seed", c.hnsw.seed}}},
                 {"shards", c.shards},
                 {"flat_max_points", c.flat_max_points},
                 {"checkpoint_every_ops", c.checkpoint_every_ops},
                 {"quantization", QuantizationName(c.quantization)}};
    return http_.Call("POST", "/v1/collections", body.dump(), false).status();
  }

  Result<std::vector<Hit>> Search(const std::string& name, std::span<const float> query,
                                  const SearchParams& p) override {
    std::string body = "{\"vector\":";
    AppendFloats(&body, query);
    json rest = {{"k", p.k}, {"ef", p.ef}, {"exact", p.exact}};
    if (p.filter_strategy != FilterStrategy::kAuto) rest["filter_strategy"] = FilterStrategyName(p.filter_strategy);
    json include = json::array();
    if (p.include_metadata) include.push_back("metadata");
    if (p.include_vector) include.push_back("vector");
    rest["include"] = include;
    if (!p.where.empty()) {
      json where = json::parse(p.where, nullptr, false);
      // A malformed filter is sent as text so the server names the problem as the
      // engine does; here only JSON that is not an object is refused.
      if (where.is_discarded()) return Status::InvalidArgument("--where is not valid JSON: " + p.where);
      rest["where"] = where;
    }
    std::string tail = rest.dump();
    body += "," + tail.substr(1);
    VECTRON_ASSIGN_OR_RETURN(std::string answer, http_.Call("POST", PathOf(name, "/search"), body, true));
    VECTRON_ASSIGN_OR_RETURN(json j, ParseAnswer(answer));
    VECTRON_ASSIGN_OR_RETURN(json hits, Field(j, "hits"));
    std::vector<Hit> out;
    try {
      for (auto& h : hits) {
        Hit hit;
        hit.id = h.at("id").get<std::string>();
        hit.score = h.at("score").get<float>();
        if (auto m = h.find("metadata"); m != h.end() && !m->is_null()) hit.metadata = m->dump();
        if (auto v = h.find("vector"); v != h.end()) hit.vector = v->get<std::vector<float>>();
        out.push_back(std::move(hit));
      }
    } catch (const json::exception& e) {
      return Status::Unavailable(std::string("unexpected search hits from the server: ") + e.what());
    }
    return out;
  }

  Result<uint64_t> Count(const std::string& name, const std::string& where) override {
    std::string body = "{}";
    if (!where.empty()) {
      json w = json::parse(where, nullptr, false);
      if (w.is_discarded()) return Status::InvalidArgument("--where is not valid JSON: " + where);
      body = json{{"where", w}}.dump();
    }
    VECTRON_ASSIGN_OR_RETURN(std::string answer, http_.Call("POST", PathOf(name, "/count"), body, true));
    VECTRON_ASSIGN_OR_RETURN(json j, ParseAnswer(answer));
    VECTRON_ASSIGN_OR_RETURN(json n, Field(j, "count"));
    if (!n.is_number_unsigned()) return Status::Unavailable("the server's count is not a number");
    return n.get<uint64_t>();
  }

  Status Upsert(const std::string& name, const WriteBatch& batch) override {
    std::string body = "{\"points\":[";
    bool first = true;
    for (const auto& e : batch.entries()) {
      if (e.op != WriteBatch::Op::kUpsert) continue;
      if (!first) body += ',';
      first = false;
      body += "{\"id\":" + json(e.id).dump() + ",\"vector\":";
      AppendFloats(&body, batch.vector(e));
      if (!e.metadata.empty()) body += ",\"metadata\":" + e.metadata;
      body += '}';
    }
    body += "]}";
    // An upsert applied twice is applied once: safe to retry.
    return http_.Call("PUT", PathOf(name, "/points"), body, true).status();
  }

  Status Sync() override { return Status::OK(); }  // The server acknowledges durable writes.

  std::string Where() const override { return "on " + http_.url(); }

 private:
  net::HttpClient http_;
};

}  // namespace

void AddTargetOptions(CLI::App* cmd, TargetOptions* o) {
  AddDbOption(cmd, &o->db_dir);
  auto* url = cmd->add_option("--url", o->url, "A server's URL (https://host:7700) instead of a database directory");
  cmd->add_option("--token", o->token, "SDK token for --url (default: $VECTRON_TOKEN)")->needs(url);
  cmd->add_option("--ca", o->ca_file, "PEM file of the CA to trust for --url, e.g. DB/tls/cert.pem")->needs(url);
  cmd->add_option("--timeout", o->timeout_s, "Seconds to wait for the server (--url)")->needs(url)->capture_default_str();
  for (const char* db_name : {"--db", "--data"}) url->excludes(cmd->get_option(db_name));
}

Result<std::unique_ptr<Target>> OpenTarget(const TargetOptions& o) {
  if (o.url.empty()) {
    Durability d = DatabaseOptions{}.durability;
    if (!o.durability.empty()) {
      VECTRON_ASSIGN_OR_RETURN(d, ParseDurabilityOption(o.durability));
    }
    VECTRON_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, OpenDb(o.db_dir, d));
    return std::unique_ptr<Target>(std::make_unique<LocalTarget>(std::move(db), o.db_dir, d));
  }
  if (!o.durability.empty() && o.durability != DefaultDurabilityName())
    return Status::InvalidArgument("--durability is for a local --db; a server decides its own");
  net::HttpClientOptions ho;
  ho.tls.ca_file = o.ca_file;
  ho.token = o.token;
  if (ho.token.empty()) {
    if (const char* t = std::getenv("VECTRON_TOKEN")) ho.token = t;
  }
  if (!(o.timeout_s > 0 && o.timeout_s <= 86400)) return Status::InvalidArgument("--timeout must be in (0, 86400] seconds");
  ho.timeout_ms = static_cast<int>(o.timeout_s * 1000);
  VECTRON_ASSIGN_OR_RETURN(net::HttpClient client, net::HttpClient::Open(o.url, ho));
  return std::unique_ptr<Target>(std::make_unique<RemoteTarget>(std::move(client)));
}

}  // namespace vectron::tools
