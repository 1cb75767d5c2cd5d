#include "net/api/rest_data.h"

#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

#include "net/api/api_util.h"
#include "net/api/rest_api.h"
#include "net/api/rest_points.h"
#include "net/api/rest_rerank.h"
#include "util/untrusted_json.h"

namespace vectron::net {

using nlohmann::json;
using namespace api;

namespace {

using Ctx = RestDataContext;

// Throws ApiError unless `s` is OK (the limits of the operation table).
void Limit(const Status& s) { Check(s); }

json MetadataJson(const std::string& text) {
  if (text.empty()) return nullptr;
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

json ConfigJsonOf(const CollectionInfo& c) {
  json cfg = json::parse(c.config_json, nullptr, false);
  return cfg.is_discarded() ? json::object() : cfg;
}

json StatsOf(const CollectionInfo& c) {
  if (!c.stats) return c.count ? json{{"count", *c.count}} : json::object();
  const CollectionStats& st = *c.stats;
  return {{"count", st.count},
          {"index_memory_bytes", st.index_memory_bytes},
          {"disk_bytes", st.disk_bytes},
          {"deleted_slots", st.deleted_slots},
          {"index_kind", st.index_kind}};
}

// Answers `r`'s error, or `ok(value)`.
template <typename T, typename Fn>
Done<T> Answer(Reply respond, Fn ok) {
  return [respond, ok](Result<T> r) {
    if (!r.ok()) return respond(StatusResponse(r.status()));
    respond(Guarded([&] { return ok(std::move(r).value()); }));
  };
}
template <typename Fn>
DoneStatus AnswerStatus(Reply respond, Fn ok) {
  return [respond, ok](Status s) {
    if (!s.ok()) return respond(StatusResponse(s));
    respond(ok());
  };
}

ReadPolicy ReadPolicyOf(const Ctx& ctx, const json& j) {
  ReadPolicy rp;
  const int64_t ms = GetInt(j, "max_staleness_ms", 0, 0, static_cast<int64_t>(ctx.limits->max_staleness_ms));
  Limit(CheckStaleness(*ctx.limits, ms));
  rp.max_staleness_ms = static_cast<uint64_t>(ms);
  return rp;
}

json BodyOr(const HttpRequest& req, std::initializer_list<const char*> allowed) {
  return req.body.empty() ? json::object() : ParseBody(req, allowed);
}

void CreateCollection(const Ctx& ctx, const HttpRequest& req, const PathParams&, const Principal& who, Reply respond) {
  json j = ParseBody(req, {"name", "dim", "metric", "hnsw", "m", "M", "ef_construction", "ef_search", "seed", "shards",
                           "flat_max_points", "checkpoint_every_ops", "quantization", "metadata", "replication"});
  std::string metadata;
  if (auto m = j.find("metadata"); m != j.end() && !m->is_null()) {
    if (!m->is_object()) Bad("\"metadata\" must be a JSON object or null");
    metadata = m->dump();
  }
  std::string name = GetString(j, "name", true);
  // The route's access check had no collection name to look at: the body has it.
  Check(Authorize(who, {Access::kAdmin}, name));
  CollectionConfig cfg = CollectionConfigOf(j);
  const auto replication = static_cast<uint32_t>(GetInt(j, "replication", 0, 0, 7));
  ctx.service->CreateCollection(name, cfg, std::move(metadata), replication,
                                Answer<CollectionInfo>(respond, [](CollectionInfo c) {
                                  return Json(201, {{"name", c.name},
                                                    {"config", ConfigJsonOf(c)},
                                                    {"metadata", MetadataJson(c.metadata)}});
                                }));
}

void ListCollections(const Ctx& ctx, const HttpRequest&, const PathParams&, const Principal& who, Reply respond) {
  ctx.service->ListCollections(Answer<std::vector<CollectionInfo>>(respond, [who](std::vector<CollectionInfo> cs) {
    json out = json::array();
    for (const CollectionInfo& c : cs) {
      if (!who.MayUseCollection(c.name)) continue;  // A key restricted to some collections sees only those.
      json item = {{"name", c.name},
                   {"dim", c.config.dim},
                   {"metric", MetricName(c.config.metric)},
                   {"shards", c.config.shards},
                   {"replication", c.replication}};
      // The console's collection table: size and index next to the shape.
      if (c.count) item["count"] = *c.count;
      if (c.stats) {
        item["index_kind"] = c.stats->index_kind;
        item["index_memory_bytes"] = c.stats->index_memory_bytes;
        item["disk_bytes"] = c.stats->disk_bytes;
      }
      out.push_back(std::move(item));
    }
    return Json(200, {{"collections", out}});
  }));
}

void DescribeCollection(const Ctx& ctx, const HttpRequest&, const PathParams& p, const Principal&, Reply respond) {
  ctx.service->DescribeCollection(Param(p, "name"), Answer<CollectionInfo>(respond, [](CollectionInfo c) {
    return Json(200, {{"name", c.name},
                      {"config", ConfigJsonOf(c)},
                      {"stats", StatsOf(c)},
                      {"replication", c.replication},
                      {"metadata", MetadataJson(c.metadata)}});
  }));
}

void DropCollection(const Ctx& ctx, const HttpRequest&, const PathParams& p, const Principal&, Reply respond) {
  std::string name = Param(p, "name");
  ctx.service->DropCollection(name, AnswerStatus(respond, [name] { return Json(200, {{"name", name}, {"dropped", true}}); }));
}

// Metadata `m` as text: an object, or "" for null.
std::string MetadataText(const json& m, const std::string& what) {
  if (m.is_null()) return {};
  if (!m.is_object()) Bad(what + " must be a JSON object or null");
  return m.dump();
}

void SetCollectionMetadata(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&,
                           Reply respond) {
  json j = ParseBody(req, {"metadata"});
  if (!j.contains("metadata")) Bad("\"metadata\" is required (a JSON object, or null to remove it)");
  std::string text = MetadataText(j["metadata"], "metadata");
  ctx.service->SetCollectionMetadata(Param(p, "name"), std::move(text), Answer<CollectionInfo>(respond, [](CollectionInfo c) {
    return Json(200, {{"name", c.name}, {"metadata", MetadataJson(c.metadata)}});
  }));
}

void RenameCollection(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal& who,
                      Reply respond) {
  json j = ParseBody(req, {"name"});
  std::string to = GetString(j, "name", true);
  // The route's check covered the old name; the new one must be allowed too.
  Check(Authorize(who, {Access::kAdmin}, to));
  std::string from = Param(p, "name");
  ctx.service->RenameCollection(from, to, AnswerStatus(respond, [from, to] {
    return Json(200, {{"name", to}, {"renamed_from", from}});
  }));
}

void Upsert(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  json j = ParseBody(req, {"points"});
  auto it = j.find("points");
  if (it == j.end() || !it->is_array()) Bad("\"points\" must be an array of {\"id\", \"vector\", \"metadata\"?}");
  if (it->empty()) Bad("\"points\" is empty");
  WriteBatch batch;
  std::vector<float> v;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& pt = (*it)[i];
    std::string what = "points[" + std::to_string(i) + "]";
    if (!pt.is_object()) Bad(what + " must be an object {\"id\", \"vector\", \"metadata\"?}");
    CheckFields(pt, {"id", "vector", "metadata"}, "", " in " + what);
    if (!pt.contains("id")) Bad(what + ".id is required");
    if (!pt.contains("vector")) Bad(what + ".vector is required");
    std::string id = IdOf(pt["id"], what + ".id");
    v.clear();
    AppendVector(pt["vector"], what + ".vector", &v);
    std::string meta;
    if (auto m = pt.find("metadata"); m != pt.end() && !m->is_null()) {
      if (!m->is_object()) Bad(what + ".metadata must be a JSON object");
      meta = m->dump();
    }
    batch.Upsert(std::move(id), v, std::move(meta));
  }
  const size_t n = batch.size();
  ctx.service->Write(Param(p, "name"), std::move(batch), AnswerStatus(respond, [n] {
    return Json(200, {{"upserted", n}});
  }));
}

void Get(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  json j = ParseBody(req, {"ids", "include", "include_metadata", "include_vector", "max_staleness_ms"});
  std::vector<std::string> ids = GetIds(j);
  Include inc = GetInclude(j, {true, true});
  ReadPolicy rp = ReadPolicyOf(ctx, j);
  GetOptions go;
  go.include_metadata = inc.metadata;
  go.include_vector = inc.vector;
  ctx.service->Get(Param(p, "name"), ids, go, rp,
                   Answer<std::vector<std::optional<Point>>>(respond, [ids, inc](std::vector<std::optional<Point>> pts) {
                     std::string out = "{\"points\":[";
                     std::string missing = "\"not_found\":[";
                     bool first = true, first_missing = true;
                     for (size_t i = 0; i < pts.size(); ++i) {
                       if (pts[i]) {
                         if (!first) out += ',';
                         first = false;
                         AppendPoint(&out, *pts[i], inc.metadata, inc.vector);
                       } else {
                         if (!first_missing) missing += ',';
                         first_missing = false;
                         AppendString(&missing, ids[i]);
                       }
                     }
                     out += "]," + missing + "]}";
                     return Raw(std::move(out));
                   }));
}

void Delete(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  json j = ParseBody(req, {"ids", "where"});
  bool has_ids = j.contains("ids"), has_where = j.contains("where") && !j["where"].is_null();
  if (has_ids == has_where) Bad("give exactly one of \"ids\" and \"where\"");
  auto answer = Answer<uint64_t>(respond, [](uint64_t n) { return Json(200, {{"deleted", n}}); });
  if (has_ids) return ctx.service->Delete(Param(p, "name"), GetIds(j), std::move(answer));
  ctx.service->DeleteWhere(Param(p, "name"), GetWhere(j), std::move(answer));
}

void WriteUpdates(const Ctx& ctx, const PathParams& p, WriteBatch batch, Reply respond) {
  const size_t n = batch.size();
  ctx.service->Write(Param(p, "name"), std::move(batch), AnswerStatus(respond, [n] {
    return Json(200, {{"updated", n}});
  }));
}

void UpdateMetadata(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  WriteUpdates(ctx, p, MetadataUpdatesOf(ParseBody(req, {"points", "ids", "metadata", "merge"})), std::move(respond));
}

void UpdateVectors(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  WriteUpdates(ctx, p, VectorUpdatesOf(ParseBody(req, {"points"})), std::move(respond));
}

std::string PointsJson(const std::vector<Point>& points, const Include& inc) {
  std::string out = "{\"points\":[";
  for (size_t i = 0; i < points.size(); ++i) {
    if (i) out += ',';
    AppendPoint(&out, points[i], inc.metadata, inc.vector);
  }
  out += "]";
  return out;
}

void List(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  json j = BodyOr(req, {"where", "limit", "offset", "include", "include_metadata", "include_vector"});
  const int64_t limit = GetInt(j, "limit", 100, 1, static_cast<int64_t>(ctx.limits->max_list_limit));
  Limit(CheckListLimit(*ctx.limits, limit));
  const int64_t offset = GetInt(j, "offset", 0, 0, INT64_MAX);
  Limit(CheckListOffset(*ctx.limits, offset));
  std::string where = GetWhere(j);
  Include inc = GetInclude(j, {true, false});
  ctx.service->List(Param(p, "name"), std::move(where), static_cast<size_t>(limit), static_cast<uint64_t>(offset),
                    GetOptions{inc.vector, inc.metadata}, Answer<std::vector<Point>>(respond, [inc](std::vector<Point> pts) {
                      return Raw(PointsJson(pts, inc) + "}");
                    }));
}

void Count(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  json j = BodyOr(req, {"where", "max_staleness_ms"});
  ReadPolicy rp = ReadPolicyOf(ctx, j);
  ctx.service->Count(Param(p, "name"), GetWhere(j), rp,
                     Answer<uint64_t>(respond, [](uint64_t n) { return Json(200, {{"count", n}}); }));
}

void Scroll(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  json j = BodyOr(req, {"limit", "cursor", "where", "include", "include_metadata", "include_vector"});
  const int64_t limit = GetInt(j, "limit", 100, 1, static_cast<int64_t>(ctx.limits->max_scroll_limit));
  Limit(CheckScrollLimit(*ctx.limits, limit));
  std::string cursor = GetString(j, "cursor", false);
  std::string where = GetWhere(j);
  Include inc = GetInclude(j, {true, false});
  ctx.service->Scroll(Param(p, "name"), std::move(cursor), static_cast<size_t>(limit),
                      GetOptions{inc.vector, inc.metadata}, std::move(where),
                      Answer<ScrollPage>(respond, [inc](ScrollPage page) {
                        std::string out = PointsJson(page.points, inc) + ",\"next_cursor\":";
                        if (page.next_cursor.empty()) out += "null";
                        else AppendString(&out, page.next_cursor);
                        out += '}';
                        return Raw(std::move(out));
                      }));
}

// The answer to a reranked search: RunRerank over each query's candidates (`ratings`:
// one summary per candidate of each query when the pipeline has a feedback stage, else
// empty). Throws ApiError.
std::string RerankedAnswerHere(const RerankPipeline& pipeline, const CollectionConfig& config,
                               const std::vector<float>& queries, bool explain, bool single, const SearchParams& sp,
                               std::vector<std::vector<Hit>> res, std::vector<std::vector<RatingStats>> ratings) {
  RerankOptions o;
  o.explain = explain;
  o.now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  std::string out = single ? "" : "{\"results\":[";
  for (size_t i = 0; i < res.size(); ++i) {
    std::span<const float> query(queries.data() + i * config.dim, config.dim);
    RerankedResult r;
    std::vector<RatingStats> rs = i < ratings.size() ? std::move(ratings[i]) : std::vector<RatingStats>();
    r.hits = Take(RunRerank(pipeline, query, config.metric, std::move(res[i]), rs, sp.k, sp.offset, o));
    r.query_id = NewQueryId();
    if (i) out += ',';
    out += RerankedResultJson(r, sp.include_metadata, sp.include_vector, explain);
  }
  if (!single) out += "]}";
  return out;
}

// The reranked hits of one query over its candidates (`ratings`: one summary per
// candidate with a feedback stage, else empty), with vectors and metadata kept only if
// asked for (as the result cache of `vectron serve` keeps them). Throws ApiError.
std::vector<RerankedHit> RerankedHitsHere(const RerankPipeline& pipeline, const CollectionConfig& config,
                                          std::span<const float> query, bool explain, const SearchParams& sp,
                                          std::vector<Hit> candidates, std::vector<RatingStats> ratings) {
  RerankOptions o;
  o.explain = explain;
  o.now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  std::vector<RerankedHit> hits =
      Take(RunRerank(pipeline, query, config.metric, std::move(candidates), ratings, sp.k, sp.offset, o));
  for (RerankedHit& h : hits) {
    if (!sp.include_vector) h.hit.vector.clear();
    if (!sp.include_metadata) h.hit.metadata.clear();
  }
  return hits;
}

// A reranked single-query search through the gateway's result cache (docs/cluster.md,
// "Reranking"): the cached entry's read points go with the candidate search, and if
// every shard answers that it applied nothing since, the cached hits are the answer
// (with a fresh query id). Else the pipeline runs over the fresh candidates and the
// entry is replaced with their read points.
void SearchRerankedCached(const Ctx& ctx, const std::string& name, RerankPipeline pipeline, bool explain,
                          std::vector<float> q, const SearchParams& sp, const ReadPolicy& rp, Reply respond) {
  const CollectionConfig config = Take(ctx.service->ConfigOf(name));
  Limit(CheckQueries(q.size(), 1, config.dim));
  VersionedResultCache* cache = ctx.result_cache;
  DataService* service = ctx.service;
  auto key = std::make_shared<const std::string>(VersionedResultCacheKey(name, q, sp, pipeline, explain));
  std::optional<VersionedResultCache::Entry> found = cache->Find(*key);
  std::vector<SearchReadPoint> known;
  if (found) known = found->read_at;
  auto cached = std::make_shared<std::optional<VersionedResultCache::Entry>>(std::move(found));
  std::vector<float> query = q;  // Kept for the rerank: the service takes its own copy.
  auto answer = [sp, explain](std::vector<RerankedHit> hits) {
    RerankedResult r;
    r.hits = std::move(hits);
    r.query_id = NewQueryId();
    return RerankedResultJson(r, sp.include_metadata, sp.include_vector, explain);
  };
  service->SearchIfChanged(
      name, std::move(q), RerankCandidateParams(pipeline, sp), rp, std::move(known),
      [=](Result<VersionedHits> res) {
        if (!res.ok()) return respond(StatusResponse(res.status()));
        if (res->unchanged) {
          if (!*cached) return respond(JsonError(500, "internal", "a search answered 'unchanged' without a cached answer"));
          cache->CountHit();
          return respond(Guarded([&] { return Raw(answer((*cached)->hits)); }));
        }
        auto fresh = std::make_shared<VersionedHits>(std::move(*res));
        auto finish = [=](std::vector<RatingStats> ratings) {
          respond(Guarded([&] {
            std::vector<RerankedHit> hits =
                RerankedHitsHere(pipeline, config, query, explain, sp, std::move(fresh->hits), std::move(ratings));
            std::string out = answer(hits);
            cache->Insert(*key, VersionedResultCache::Entry{std::move(fresh->read_at), std::move(hits)});
            return Raw(std::move(out));
          }));
        };
        if (!pipeline.feedback) return finish({});
        std::vector<std::string> ids;
        for (const Hit& h : fresh->hits) ids.push_back(h.id);
        const size_t wanted = ids.size();
        service->FeedbackStats(name, std::move(ids), rp, [=](Result<std::vector<RatingStats>> stats) {
          if (!stats.ok()) return respond(StatusResponse(stats.status()));
          if (stats->size() != wanted)
            return respond(JsonError(500, "internal", "the service answered the wrong number of rating summaries"));
          finish(std::move(*stats));
        });
      });
}

// A reranked search for a front end without a rerank hook (the cluster gateway): the
// candidates from the service (RerankCandidateParams); for a feedback stage, their
// rating summaries from the service (one FeedbackStats call for every query's
// candidates: the cluster batches it per shard); then RunRerank here, for each query.
// A single query goes through the result cache when there is one and `cache` is true,
// unless its answer depends on more than the key (a custom stage, or a decay stage: its
// clock is the system clock), as on serve.
void SearchRerankedHere(const Ctx& ctx, const std::string& name, RerankPipeline pipeline, bool explain, bool cache,
                        std::vector<float> q, size_t n, bool single, const SearchParams& sp, const ReadPolicy& rp,
                        Reply respond) {
  Check(pipeline.Validate(sp.k + sp.offset));
  if (cache && single && n == 1 && ctx.result_cache && ctx.result_cache->enabled() && !pipeline.custom &&
      !pipeline.decay && ctx.service->SupportsSearchIfChanged())
    return SearchRerankedCached(ctx, name, std::move(pipeline), explain, std::move(q), sp, rp, std::move(respond));
  const CollectionConfig config = Take(ctx.service->ConfigOf(name));
  Limit(CheckQueries(q.size(), n, config.dim));
  std::vector<float> queries = q;  // Kept for the rerank: the service takes its own copy.
  DataService* service = ctx.service;
  ctx.service->Search(
      name, std::move(q), n, RerankCandidateParams(pipeline, sp), rp,
      [=](Result<std::vector<std::vector<Hit>>> res) {
        if (!res.ok()) return respond(StatusResponse(res.status()));
        if (!pipeline.feedback)
          return respond(Guarded([&] {
            return Raw(RerankedAnswerHere(pipeline, config, queries, explain, single, sp, std::move(*res), {}));
          }));
        std::vector<std::string> ids;
        for (const auto& hits : *res)
          for (const Hit& h : hits) ids.push_back(h.id);
        auto candidates = std::make_shared<std::vector<std::vector<Hit>>>(std::move(*res));
        service->FeedbackStats(name, std::move(ids), rp, [=](Result<std::vector<RatingStats>> stats) {
          if (!stats.ok()) return respond(StatusResponse(stats.status()));
          size_t total = 0;
          for (const auto& hits : *candidates) total += hits.size();
          if (stats->size() != total)
            return respond(JsonError(500, "internal", "the service answered the wrong number of rating summaries"));
          std::vector<std::vector<RatingStats>> ratings(candidates->size());
          size_t next = 0;
          for (size_t i = 0; i < candidates->size(); ++i)
            for (size_t j = 0; j < (*candidates)[i].size(); ++j) ratings[i].push_back((*stats)[next++]);
          respond(Guarded([&] {
            return Raw(RerankedAnswerHere(pipeline, config, queries, explain, single, sp, std::move(*candidates),
                                          std::move(ratings)));
          }));
        });
      });
}

void Search(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  json j = ParseBody(req, {"vector", "vectors", "k", "ef", "exact", "where", "include", "include_metadata",
                           "include_vector", "filter_strategy", "offset", "score_threshold", "max_staleness_ms",
                           "rerank", "explain", "cache"});
  bool single = j.contains("vector"), batch = j.contains("vectors");
  if (single == batch) Bad("give exactly one of \"vector\" (one query) and \"vectors\" (a list of queries)");
  const int64_t k = GetInt(j, "k", 10, 1, ctx.limits->max_k);
  const int64_t ef = GetInt(j, "ef", 0, 0, ctx.limits->max_ef);
  const int64_t offset = GetInt(j, "offset", 0, 0, ctx.limits->max_k);
  size_t n = 1;
  if (batch) {
    const json& vs = j["vectors"];
    if (!vs.is_array()) Bad("\"vectors\" must be an array of arrays of numbers");
    if (vs.empty()) Bad("\"vectors\" is empty");
    n = vs.size();
  }
  Limit(CheckSearch(*ctx.limits, k, offset, ef, n));
  SearchParams sp;
  sp.k = static_cast<int>(k);
  sp.ef = static_cast<int>(ef);
  sp.offset = static_cast<int>(offset);
  sp.exact = GetBool(j, "exact", false);
  if (auto t = j.find("score_threshold"); t != j.end() && !t->is_null()) {
    if (!t->is_number()) Bad("\"score_threshold\" must be a number (the largest distance kept)");
    const double d = t->get<double>();  // Out of float range: all or nothing kept.
    sp.score_threshold = d > FLT_MAX ? INFINITY : d < -FLT_MAX ? -INFINITY : static_cast<float>(d);
  }
  if (std::string strategy = GetString(j, "filter_strategy", false); !strategy.empty())
    sp.filter_strategy = Take(ParseFilterStrategy(strategy));
  Include inc = GetInclude(j, {false, false});
  sp.include_metadata = inc.metadata;
  sp.include_vector = inc.vector;
  sp.where = GetWhere(j);
  ReadPolicy rp = ReadPolicyOf(ctx, j);
  std::vector<float> q;
  if (single) {
    AppendVector(j["vector"], "vector", &q);
  } else {
    const json& vs = j["vectors"];
    size_t dim = 0;
    for (size_t i = 0; i < n; ++i) {
      size_t before = q.size();
      AppendVector(vs[i], "vectors[" + std::to_string(i) + "]", &q);
      size_t d = q.size() - before;
      if (i == 0) dim = d;
      else if (d != dim)
        Bad("vectors[" + std::to_string(i) + "] has " + std::to_string(d) + " numbers, vectors[0] has " + std::to_string(dim));
    }
  }
  if (ctx.rerank) {
    if (std::optional<std::string> out = ctx.rerank(Param(p, "name"), j, q, n, sp)) return respond(Raw(std::move(*out)));
  } else {
    // Without "rerank", the collection's stored default applies (as on serve).
    std::optional<RerankPipeline> pipeline;
    if (!j.contains("rerank")) {
      Result<std::string> stored = ctx.service->DefaultRerankOf(Param(p, "name"));
      if (stored.ok() && !stored->empty()) pipeline = Take(ParseRerankPipeline(*stored));
    }
    if (!pipeline) pipeline = BodyPipeline(j);
    if (pipeline)
      return SearchRerankedHere(ctx, Param(p, "name"), std::move(*pipeline), GetBool(j, "explain", false),
                                GetBool(j, "cache", true), std::move(q),
                                n, single, sp, rp, std::move(respond));
  }
  // Every result carries a query id, to quote in feedback (docs/rerank.md).
  ctx.service->Search(Param(p, "name"), std::move(q), n, sp, rp,
                      Answer<std::vector<std::vector<Hit>>>(respond, [single, inc](std::vector<std::vector<Hit>> res) {
                        std::string out;
                        if (single) {
                          AppendHits(&out, res.empty() ? std::vector<Hit>() : res[0], inc.metadata, inc.vector);
                          api::AddQueryId(&out);
                          return Raw(std::move(out));
                        }
                        out = "{\"results\":[";
                        for (size_t i = 0; i < res.size(); ++i) {
                          if (i) out += ',';
                          std::string one;
                          AppendHits(&one, res[i], inc.metadata, inc.vector);
                          api::AddQueryId(&one);
                          out += one;
                        }
                        out += "]}";
                        return Raw(std::move(out));
                      }));
}

void CreateIndex(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  json j = ParseBody(req, {"field", "type"});
  std::string field = GetString(j, "field", true);
  std::string type = GetString(j, "type", true);
  PayloadType t = Take(ParsePayloadType(type));
  ctx.service->CreateIndex(Param(p, "name"), field, t, AnswerStatus(respond, [field, type] {
    return Json(201, {{"field", field}, {"type", type}});
  }));
}

void ListIndexes(const Ctx& ctx, const HttpRequest&, const PathParams& p, const Principal&, Reply respond) {
  ctx.service->ListIndexes(Param(p, "name"), Answer<std::vector<PayloadIndexInfo>>(respond, [](std::vector<PayloadIndexInfo> is) {
    json out = json::array();
    for (auto& i : is) out.push_back({{"field", i.field}, {"type", PayloadTypeName(i.type)}});
    return Json(200, {{"indexes", out}});
  }));
}

void DropIndex(const Ctx& ctx, const HttpRequest&, const PathParams& p, const Principal&, Reply respond) {
  std::string field = Param(p, "field");
  ctx.service->DropIndex(Param(p, "name"), field, AnswerStatus(respond, [field] {
    return Json(200, {{"field", field}, {"dropped", true}});
  }));
}

// A rating's JSON line of a feedback export: {point_id, rating, time_ms, query_id, comment}.
json FeedbackRatingJson(const Rating& r) {
  json j = {{"point_id", r.point_id}, {"rating", r.rating}, {"time_ms", r.time_ms}};
  j["query_id"] = r.query_id.empty() ? json(nullptr) : json(r.query_id);
  j["comment"] = r.comment.empty() ? json(nullptr) : json(r.comment);
  return j;
}

// A rating's JSON line at most: its comment, point id and query id with every byte
// escaped (\u00XX: 6 bytes), and the fields' names and numbers.
constexpr size_t kMaxRatingLineBytes = 6 * (kMaxFeedbackCommentBytes + kMaxIdBytes + kMaxQueryIdBytes) + 256;

void PostFeedback(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  json j = ParseBody(req, {"point_id", "rating", "query_id", "comment"});
  Rating r;
  r.point_id = IdOf(j.contains("point_id") ? j["point_id"] : json(nullptr), "point_id");
  auto rating = j.find("rating");
  if (rating == j.end() || !rating->is_number_integer()) Bad("\"rating\" must be an integer from 1 to 5");
  int64_t v = rating->get<int64_t>();
  if (v < kMinRating || v > kMaxRating) Bad("\"rating\" must be an integer from 1 to 5, got " + std::to_string(v));
  r.rating = static_cast<int>(v);
  if (auto q = j.find("query_id"); q != j.end() && !q->is_null()) {
    if (!q->is_string()) Bad("\"query_id\" must be a string");
    r.query_id = q->get<std::string>();
  }
  if (auto c = j.find("comment"); c != j.end() && !c->is_null()) {
    if (!c->is_string()) Bad("\"comment\" must be a string");
    r.comment = c->get<std::string>();
  }
  json out = {{"point_id", r.point_id}, {"rating", r.rating}, {"stored", true}};
  ctx.service->Feedback(Param(p, "name"), std::move(r), AnswerStatus(respond, [out] { return Json(201, out); }));
}

void FeedbackStats(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  std::optional<std::string> id = QueryValue(req.query, "point_id", {"point_id"});
  if (!id) Bad("give the point with ?point_id=");
  ctx.service->FeedbackStats(
      Param(p, "name"), {*id}, ReadPolicy{}, Answer<std::vector<RatingStats>>(respond, [id](std::vector<RatingStats> s) {
        if (s.size() != 1) return JsonError(500, "internal", "the service answered the wrong number of summaries");
        const RatingStats& st = s[0];
        json hist = json::object();
        for (int r = 1; r <= 5; ++r) hist[std::to_string(r)] = st.histogram[r - 1];
        return Json(200, {{"point_id", *id}, {"count", st.count}, {"mean", st.count ? json(st.mean) : json(nullptr)},
                          {"histogram", hist}});
      }));
}

// A feedback export response being filled: the service is read in chunks no larger than
// the bytes left allow at kMaxRatingLineBytes a rating, so a page passes the byte budget
// by less than one rating. Runs as a loop whether the service answers at once (serve)
// or later (the gateway).
struct FeedbackExportFill {
  DataService* service = nullptr;
  std::string name;
  size_t limit = 0;
  size_t page_bytes = 0;
  size_t n = 0;
  std::string next;
  HttpResponse r;
  Reply respond;
  bool in_call = false;  // Inside the service call (a local service answers there).
  bool again = false;    // The answer asked for another chunk while in_call.
};

void FeedbackExportChunk(const std::shared_ptr<FeedbackExportFill>& f);

// Handles one chunk's answer; true if another chunk is wanted.
bool FeedbackExportAnswer(const std::shared_ptr<FeedbackExportFill>& f, Result<FeedbackPage> page) {
  if (!page.ok()) {
    f->respond(StatusResponse(page.status()));
    return false;
  }
  for (const Rating& rt : page->ratings) {
    f->r.body += DumpJson(FeedbackRatingJson(rt));
    f->r.body += '\n';
    ++f->n;
  }
  f->next = std::move(page->next_cursor);
  if (!f->next.empty() && f->n < f->limit && f->r.body.size() < f->page_bytes) return true;
  f->r.content_type = "application/x-ndjson";
  f->r.headers.emplace_back("X-Vectron-Ratings", std::to_string(f->n));
  if (!f->next.empty()) {
    f->r.headers.emplace_back("X-Vectron-Truncated", "true");
    f->r.headers.emplace_back("X-Vectron-Next-Cursor", f->next);
  }
  f->respond(std::move(f->r));
  return false;
}

void FeedbackExportChunk(const std::shared_ptr<FeedbackExportFill>& f) {
  do {
    f->again = false;
    const size_t chunk = std::max<size_t>(1, (f->page_bytes - f->r.body.size()) / kMaxRatingLineBytes);
    f->in_call = true;
    f->service->ExportFeedback(f->name, f->next, std::min(f->limit - f->n, chunk), [f](Result<FeedbackPage> page) {
      if (!FeedbackExportAnswer(f, std::move(page))) return;
      if (f->in_call) f->again = true;
      else FeedbackExportChunk(f);
    });
    f->in_call = false;
  } while (f->again);
}

void ExportFeedback(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  std::optional<std::string> limit_text = QueryValue(req.query, "limit", {"limit", "cursor"});
  std::optional<std::string> cursor = QueryValue(req.query, "cursor", {"limit", "cursor"});
  const size_t max = ctx.limits->max_export_ratings;
  size_t limit = max;
  if (limit_text) {
    const std::string bad = "limit must be an integer in 1.." + std::to_string(max);
    if (limit_text->empty() || limit_text->size() > 8 || limit_text->find_first_not_of("0123456789") != std::string::npos)
      Bad(bad);
    limit = std::strtoull(limit_text->c_str(), nullptr, 10);
    if (limit < 1 || limit > max) Bad(bad);
  }
  auto f = std::make_shared<FeedbackExportFill>();
  f->service = ctx.service;
  f->name = Param(p, "name");
  f->limit = limit;
  f->page_bytes = std::max<size_t>(1, ctx.limits->export_page_bytes);
  f->next = cursor.value_or("");
  f->respond = std::move(respond);
  FeedbackExportChunk(f);
}

void GetRerank(const Ctx& ctx, const HttpRequest&, const PathParams& p, const Principal&, Reply respond) {
  std::string stored = Take(ctx.service->DefaultRerankOf(Param(p, "name")));
  respond(Json(200, {{"rerank", stored.empty() ? json(nullptr) : json::parse(stored)}}));
}

void PutRerank(const Ctx& ctx, const HttpRequest& req, const PathParams& p, const Principal&, Reply respond) {
  if (req.body.empty()) Bad("the body must be a rerank pipeline object (docs/rerank.md)");
  RerankPipeline pipeline = Take(ParseRerankPipeline(req.body));
  std::string canonical = RerankPipelineToJson(pipeline);
  json out = {{"rerank", json::parse(canonical)}};
  ctx.service->SetDefaultRerank(Param(p, "name"), std::move(canonical),
                                AnswerStatus(respond, [out] { return Json(200, out); }));
}

void DeleteRerank(const Ctx& ctx, const HttpRequest&, const PathParams& p, const Principal&, Reply respond) {
  ctx.service->SetDefaultRerank(Param(p, "name"), "", AnswerStatus(respond, [] {
    return Json(200, {{"rerank", nullptr}});
  }));
}

}  // namespace

RestDataFn RestDataHandler(OpId op) {
  switch (op) {
    case OpId::kCreateCollection: return &CreateCollection;
    case OpId::kListCollections: return &ListCollections;
    case OpId::kDescribeCollection: return &DescribeCollection;
    case OpId::kDropCollection: return &DropCollection;
    case OpId::kSetCollectionMetadata: return &SetCollectionMetadata;
    case OpId::kRenameCollection: return &RenameCollection;
    case OpId::kUpsert: return &Upsert;
    case OpId::kGet: return &Get;
    case OpId::kDelete: return &Delete;
    case OpId::kUpdateMetadata: return &UpdateMetadata;
    case OpId::kUpdateVectors: return &UpdateVectors;
    case OpId::kList: return &List;
    case OpId::kCount: return &Count;
    case OpId::kScroll: return &Scroll;
    case OpId::kSearch: return &Search;
    case OpId::kCreateIndex: return &CreateIndex;
    case OpId::kListIndexes: return &ListIndexes;
    case OpId::kDropIndex: return &DropIndex;
    case OpId::kFeedback: return &PostFeedback;
    case OpId::kFeedbackStats: return &FeedbackStats;
    case OpId::kExportFeedback: return &ExportFeedback;
    case OpId::kGetRerank: return &GetRerank;
    case OpId::kPutRerank: return &PutRerank;
    case OpId::kDeleteRerank: return &DeleteRerank;
  }
  return nullptr;
}

HttpResponse RestNotServed(const HttpRequest& req) {
  return JsonError(501, "not_implemented",
                   "the gateway does not serve " + req.method + " " + Excerpt(req.path, 200) +
                       " (see docs/cluster.md, \"What the gateway serves\")");
}

void RunRestData(OpId op, const RestDataContext& ctx, const HttpRequest& req, const PathParams& params,
                 const Principal& who, Reply respond) {
  if (!ctx.service->Supports(op)) return respond(RestNotServed(req));
  RestDataFn fn = RestDataHandler(op);
  // A handler that threw answered nothing: the error is the answer.
  bool threw = true;
  HttpResponse err = Guarded([&] {
    fn(ctx, req, params, who, respond);
    threw = false;
    return HttpResponse{};
  });
  if (threw) respond(std::move(err));
}

}  // namespace vectron::net
