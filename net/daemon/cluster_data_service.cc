#include "net/daemon/cluster_data_service.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>

#include "vectron/rerank.h"

namespace vectron::net::daemon {

bool ClusterDataService::Supports(OpId) const { return true; }

Result<CollectionInfo> ClusterDataService::InfoOf(const std::string& name) const {
  auto it = router_.map().collections.find(name);
  if (it == router_.map().collections.end()) return Status::NotFound("collection \"" + name + "\" does not exist");
  CollectionInfo info;
  info.name = name;
  info.config_json = it->second.config_json;
  info.replication = it->second.replication;
  info.metadata = it->second.metadata;
  auto cfg = CollectionConfig::FromJson(it->second.config_json);
  if (!cfg.ok()) return cfg.status();
  info.config = *cfg;
  return info;
}

Result<CollectionConfig> ClusterDataService::ConfigOf(const std::string& name) {
  VECTRON_ASSIGN_OR_RETURN(CollectionInfo info, InfoOf(name));
  return CollectionConfig::FromJson(info.config_json);
}

void ClusterDataService::CreateCollection(const std::string& name, const CollectionConfig& config, std::string metadata,
                                          uint32_t replication, Done<CollectionInfo> done) {
  if (Status s = config.Validate(); !s.ok()) return done(Status::InvalidArgument(s.message()));
  CollectionInfo info;
  info.name = name;
  info.config = config;
  info.config_json = config.ToJson();
  info.replication = replication;
  info.metadata = metadata;
  router_.CreateCollection(name, config, replication, [this, info, done](Status s) mutable {
    if (!s.ok()) return done(s);
    // The map the PD answered with has the replication it chose.
    if (auto it = router_.map().collections.find(info.name); it != router_.map().collections.end())
      info.replication = it->second.replication;
    done(std::move(info));
  }, std::move(metadata));
}

void ClusterDataService::ListCollections(Done<std::vector<CollectionInfo>> done) {
  std::vector<CollectionInfo> out;
  for (auto& [name, c] : router_.map().collections) {
    auto info = InfoOf(name);
    if (info.ok()) out.push_back(std::move(*info));
  }
  done(std::move(out));
}

void ClusterDataService::DescribeCollection(const std::string& name, Done<CollectionInfo> done) {
  auto info = InfoOf(name);
  if (!info.ok()) return done(info.status());
  router_.Count(name, "", cluster::ReadOptions{}, [info = std::move(*info), done](Result<uint64_t> n) mutable {
    if (!n.ok()) return done(n.status());
    info.count = *n;
    done(std::move(info));
  });
}

void ClusterDataService::DropCollection(const std::string& name, DoneStatus done) {
  router_.DropCollection(name, std::move(done));
}

void ClusterDataService::SetCollectionMetadata(const std::string& name, std::string metadata, Done<CollectionInfo> done) {
  router_.SetCollectionMetadata(name, metadata, [this, name, metadata, done](Status s) {
    if (!s.ok()) return done(s);
    // The answer is the change just committed (the map refresh it triggers may be later).
    auto info = InfoOf(name);
    if (!info.ok()) {
      CollectionInfo named;
      named.name = name;
      info = std::move(named);
    }
    info->metadata = metadata;
    done(std::move(info));
  });
}

void ClusterDataService::RenameCollection(const std::string& from, const std::string& to, DoneStatus done) {
  router_.RenameCollection(from, to, std::move(done));
}

void ClusterDataService::Write(const std::string& name, WriteBatch batch, DoneStatus done) {
  // Partial updates too: each shard's part is one logged command, read-modify-write
  // inside the shard's transaction.
  router_.Write(name, batch, std::move(done));
}

void ClusterDataService::Get(const std::string& name, std::vector<std::string> ids, GetOptions options, ReadPolicy read,
                             Done<std::vector<std::optional<Point>>> done) {
  cluster::ReadOptions ro;
  ro.max_staleness_ms = read.max_staleness_ms;
  router_.Get(name, std::move(ids), options, ro, std::move(done));
}

void ClusterDataService::Delete(const std::string& name, std::vector<std::string> ids, Done<uint64_t> done) {
  // As `vectron serve`: the answer counts the ids that existed just before.
  router_.Get(name, ids, GetOptions{false, false}, cluster::ReadOptions{},
              [this, name, ids, done](Result<std::vector<std::optional<Point>>> pts) {
                if (!pts.ok()) return done(pts.status());
                std::set<std::string> existing;
                for (auto& pt : *pts)
                  if (pt) existing.insert(pt->id);
                WriteBatch batch;
                for (const std::string& id : ids) batch.Delete(id);
                const uint64_t n = existing.size();
                router_.Write(name, batch, [done, n](Status s) {
                  if (!s.ok()) return done(s);
                  done(n);
                });
              });
}

void ClusterDataService::DeleteWhere(const std::string& name, std::string where, Done<uint64_t> done) {
  router_.DeleteWhere(name, std::move(where), std::move(done));
}

void ClusterDataService::Count(const std::string& name, std::string where, ReadPolicy read, Done<uint64_t> done) {
  cluster::ReadOptions ro;
  ro.max_staleness_ms = read.max_staleness_ms;
  router_.Count(name, std::move(where), ro, std::move(done));
}

void ClusterDataService::Search(const std::string& name, std::vector<float> queries, size_t nq, SearchParams params,
                                ReadPolicy read, Done<std::vector<std::vector<Hit>>> done) {
  auto info = InfoOf(name);
  if (!info.ok()) return done(info.status());
  const size_t dim = info->config.dim;
  if (Status s = CheckQueries(queries.size(), nq, dim); !s.ok()) return done(s);
  // offset and score_threshold apply to the merged hits: the shards are asked for the
  // first k + offset.
  const size_t offset = static_cast<size_t>(std::max(0, params.offset));
  const std::optional<float> threshold = params.score_threshold;
  params.k += params.offset;
  params.offset = 0;
  params.score_threshold.reset();
  cluster::ReadOptions ro;
  ro.max_staleness_ms = read.max_staleness_ms;
  // One router search per query, answered together (or with the first error).
  struct Batch {
    std::vector<std::vector<Hit>> results;
    size_t left = 0;
    bool failed = false;
    Done<std::vector<std::vector<Hit>>> done;
  };
  auto batch = std::make_shared<Batch>();
  batch->results.resize(nq);
  batch->left = nq;
  batch->done = std::move(done);
  for (size_t i = 0; i < nq; ++i) {
    std::vector<float> q(queries.begin() + static_cast<ptrdiff_t>(i * dim),
                         queries.begin() + static_cast<ptrdiff_t>((i + 1) * dim));
    router_.Search(name, std::move(q), params, ro, [batch, i, offset, threshold](Result<std::vector<Hit>> hits) {
      if (batch->failed) return;
      if (!hits.ok()) {
        batch->failed = true;
        return batch->done(hits.status());
      }
      hits->erase(hits->begin(), hits->begin() + static_cast<ptrdiff_t>(std::min(hits->size(), offset)));
      if (threshold)
        hits->erase(std::find_if(hits->begin(), hits->end(), [&](const Hit& h) { return h.score > *threshold; }),
                    hits->end());
      batch->results[i] = std::move(*hits);
      if (--batch->left == 0) batch->done(std::move(batch->results));
    });
  }
}

void ClusterDataService::SearchIfChanged(const std::string& name, std::vector<float> query, SearchParams params,
                                         ReadPolicy read, std::vector<SearchReadPoint> known,
                                         Done<VersionedHits> done) {
  auto info = InfoOf(name);
  if (!info.ok()) return done(info.status());
  if (Status s = CheckQueries(query.size(), 1, info->config.dim); !s.ok()) return done(s);
  const size_t offset = static_cast<size_t>(std::max(0, params.offset));
  const std::optional<float> threshold = params.score_threshold;
  params.k += params.offset;
  params.offset = 0;
  params.score_threshold.reset();
  cluster::ReadOptions ro;
  ro.max_staleness_ms = read.max_staleness_ms;
  std::vector<cluster::Router::ShardReadAt> at;
  for (const SearchReadPoint& k : known) at.push_back({k.group, k.applied_index});
  router_.SearchIfChanged(
      name, std::move(query), params, ro, std::move(at),
      [offset, threshold, done = std::move(done)](Result<cluster::Router::VersionedHits> res) {
        if (!res.ok()) return done(res.status());
        VersionedHits out;
        out.unchanged = res->unchanged;
        for (const auto& a : res->read_at) out.read_at.push_back(SearchReadPoint{a.group, a.applied_index});
        out.hits = std::move(res->hits);
        out.hits.erase(out.hits.begin(), out.hits.begin() + static_cast<ptrdiff_t>(std::min(out.hits.size(), offset)));
        if (threshold)
          out.hits.erase(std::find_if(out.hits.begin(), out.hits.end(), [&](const Hit& h) { return h.score > *threshold; }),
                         out.hits.end());
        done(std::move(out));
      });
}

void ClusterDataService::Scroll(const std::string& name, std::string cursor, size_t limit, GetOptions options,
                                std::string where, Done<ScrollPage> done) {
  // The cursor is the last id of the previous page: every shard is asked for its points
  // past it (ids are hashed to shards, so each shard's next ids may come next).
  router_.Scroll(name, std::move(cursor), static_cast<uint32_t>(std::min<size_t>(limit, UINT32_MAX)), options,
                 std::move(where), cluster::ReadOptions{}, std::move(done));
}

namespace {

// One points/list in progress: scroll pages are read from the first id, `skip` points
// dropped, then `limit` kept.
struct ListWalk {
  std::string name, where;
  GetOptions options;
  uint64_t skip = 0;
  size_t limit = 0;
  std::vector<Point> out;
  Done<std::vector<Point>> done;
};

constexpr uint32_t kListPageMax = 10000;  // Points per shard per step of a walk.

void ListStep(cluster::Router& router, std::shared_ptr<ListWalk> w, std::string after) {
  const uint64_t want = w->skip + (w->limit - w->out.size());
  const auto page = static_cast<uint32_t>(std::min<uint64_t>(want, kListPageMax));
  router.Scroll(w->name, std::move(after), page, w->options, w->where, cluster::ReadOptions{},
                [&router, w](Result<ScrollPage> r) {
                  if (!r.ok()) return w->done(r.status());
                  for (Point& p : r->points) {
                    if (w->skip > 0) {
                      --w->skip;
                      continue;
                    }
                    if (w->out.size() < w->limit) w->out.push_back(std::move(p));
                  }
                  if (w->out.size() >= w->limit || r->next_cursor.empty()) return w->done(std::move(w->out));
                  ListStep(router, w, r->next_cursor);
                });
}

}  // namespace

void ClusterDataService::List(const std::string& name, std::string where, size_t limit, uint64_t offset,
                              GetOptions options, Done<std::vector<Point>> done) {
  if (limit == 0) return done(Status::InvalidArgument("\"limit\" must be at least 1"));
  auto w = std::make_shared<ListWalk>();
  w->name = name;
  w->where = std::move(where);
  w->options = options;
  w->skip = offset;
  w->limit = limit;
  w->done = std::move(done);
  ListStep(router_, std::move(w), "");
}

void ClusterDataService::CreateIndex(const std::string& name, std::string field, PayloadType type, DoneStatus done) {
  router_.CreatePayloadIndex(name, std::move(field), type, std::move(done));
}

void ClusterDataService::ListIndexes(const std::string& name, Done<std::vector<PayloadIndexInfo>> done) {
  router_.ListPayloadIndexes(name, cluster::ReadOptions{}, std::move(done));
}

void ClusterDataService::DropIndex(const std::string& name, std::string field, DoneStatus done) {
  router_.DropPayloadIndex(name, std::move(field), std::move(done));
}

void ClusterDataService::WithCollection(const std::string& name, std::function<void(Result<CollectionInfo>)> fn) {
  if (auto info = InfoOf(name); info.ok()) return fn(std::move(info));
  // An empty rating read resolves the name as every router operation does: it waits for
  // a map newer than itself before concluding NotFound.
  router_.RatingStatsOf(name, {}, cluster::ReadOptions{},
                        [this, name, fn = std::move(fn)](Result<std::vector<RatingStats>> r) {
                          if (!r.ok()) return fn(r.status());
                          fn(InfoOf(name));
                        });
}

void ClusterDataService::Feedback(const std::string& name, Rating rating, DoneStatus done) {
  // As `vectron serve`: an unknown collection first, then the rating's own checks.
  WithCollection(name, [this, name, rating = std::move(rating), done = std::move(done)](
                           Result<CollectionInfo> info) mutable {
    if (!info.ok()) return done(info.status());
    if (Status s = ValidateRating(rating); !s.ok()) return done(s);
    // The gateway chooses the time, so every replica stores the same record.
    if (rating.time_ms == 0)
      rating.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    router_.Rate(name, std::move(rating), std::move(done));
  });
}

void ClusterDataService::FeedbackStats(const std::string& name, std::vector<std::string> ids, ReadPolicy read,
                                       Done<std::vector<RatingStats>> done) {
  WithCollection(name, [this, name, ids = std::move(ids), read, done = std::move(done)](
                           Result<CollectionInfo> info) mutable {
    if (!info.ok()) return done(info.status());
    for (const std::string& id : ids)
      if (Status s = ValidateFeedbackPointId(id); !s.ok()) return done(s);
    router_.RatingStatsOf(name, std::move(ids), cluster::ReadOptions{read.max_staleness_ms}, std::move(done));
  });
}

namespace {

// A feedback export page in progress: shard by shard from the cursor, one read of at
// most kMaxRatingsPerRead ratings at a time, each asking one rating more than the page
// still needs (so a page that ends exactly at a shard's end knows whether any follow).
struct FeedbackExportWalk {
  std::string name;
  uint32_t shards = 0;
  uint32_t shard = 0;
  std::string after;
  size_t limit = 0;
  FeedbackPage page;
  uint32_t last_shard = 0;
  std::string last_key;
  Done<FeedbackPage> done;
};

void FeedbackExportStep(cluster::Router& router, std::shared_ptr<FeedbackExportWalk> w) {
  const size_t need = w->limit - w->page.ratings.size();
  const auto ask = static_cast<uint32_t>(std::min<size_t>(need + 1, cluster::kMaxRatingsPerRead));
  router.RatingsOfShard(w->name, w->shard, w->after, ask, cluster::ReadOptions{},
                        [&router, w, need, ask](Result<std::vector<cluster::RatingRecord>> r) {
                          if (!r.ok()) return w->done(r.status());
                          const size_t take = std::min(r->size(), need);
                          for (size_t i = 0; i < take; ++i) w->page.ratings.push_back(std::move((*r)[i].rating));
                          if (take > 0) {
                            w->last_shard = w->shard;
                            w->last_key = (*r)[take - 1].key;
                          }
                          if (r->size() > need) {  // A rating follows the full page.
                            w->page.next_cursor = EncodeFeedbackCursor(w->last_shard, w->last_key);
                            return w->done(std::move(w->page));
                          }
                          if (r->size() == ask) {  // The shard may hold more.
                            w->after = r->back().key;
                          } else if (++w->shard == w->shards) {
                            return w->done(std::move(w->page));
                          } else {
                            w->after.clear();
                          }
                          FeedbackExportStep(router, w);
                        });
}

}  // namespace

void ClusterDataService::ExportFeedback(const std::string& name, std::string cursor, size_t limit,
                                        Done<FeedbackPage> done) {
  WithCollection(name, [this, name, cursor = std::move(cursor), limit, done = std::move(done)](
                           Result<CollectionInfo> info) mutable {
    if (!info.ok()) return done(info.status());
    if (limit == 0) return done(Status::InvalidArgument("feedback export limit must be at least 1"));
    auto w = std::make_shared<FeedbackExportWalk>();
    w->name = name;
    w->shards = info->config.shards;
    w->limit = limit;
    w->done = std::move(done);
    if (!cursor.empty()) {
      size_t shard = 0;
      if (Status s = DecodeFeedbackCursor(cursor, w->shards, &shard, &w->after); !s.ok()) return w->done(s);
      w->shard = static_cast<uint32_t>(shard);
    }
    FeedbackExportStep(router_, std::move(w));
  });
}

Result<std::string> ClusterDataService::DefaultRerankOf(const std::string& name) {
  auto it = router_.map().collections.find(name);
  if (it == router_.map().collections.end()) return Status::NotFound("collection \"" + name + "\" does not exist");
  return it->second.rerank;
}

void ClusterDataService::SetDefaultRerank(const std::string& name, std::string pipeline, DoneStatus done) {
  WithCollection(name, [this, name, pipeline = std::move(pipeline), done = std::move(done)](
                           Result<CollectionInfo> info) mutable {
    if (!info.ok()) return done(info.status());
    // As Collection::SetDefaultRerank: checked and stored in its canonical form, in the
    // collection's record in the PD's replicated map.
    std::string canonical;
    if (!pipeline.empty()) {
      Result<RerankPipeline> p = ParseRerankPipeline(pipeline);
      if (!p.ok()) return done(p.status());
      if (Status s = p->Validate(1); !s.ok()) return done(s);
      canonical = RerankPipelineToJson(*p);
    }
    router_.SetDefaultRerank(name, std::move(canonical), std::move(done));
  });
}

}  // namespace vectron::net::daemon
