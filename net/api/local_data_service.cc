#include "net/api/local_data_service.h"

#include <set>

namespace vectron::net {

Result<CollectionInfo> LocalDataService::InfoOf(Collection& c, bool with_stats) {
  CollectionInfo info;
  info.name = c.name();
  info.config = c.config();
  info.config_json = c.config().ToJson();
  info.replication = 1;
  VECTRON_ASSIGN_OR_RETURN(info.metadata, db_.GetCollectionMetadata(info.name));
  if (with_stats) {
    auto st = c.Stats();
    if (st.ok()) {
      info.count = st->count;
      info.stats = std::move(*st);
      return info;
    }
    VECTRON_ASSIGN_OR_RETURN(info.count, c.Count());
    return info;
  }
  VECTRON_ASSIGN_OR_RETURN(info.count, c.Count());
  return info;
}

void LocalDataService::CreateCollection(const std::string& name, const CollectionConfig& config, std::string metadata,
                                        uint32_t replication, Done<CollectionInfo> done) {
  if (replication > 1)
    return done(Status::InvalidArgument("\"replication\" " + std::to_string(replication) +
                                        ": vectron serve keeps one copy of each shard (replication is for a cluster, "
                                        "docs/cluster.md)"));
  auto c = db_.CreateCollection(name, config, metadata);
  if (!c.ok()) return done(c.status());
  done(InfoOf(**c, false));
}

void LocalDataService::ListCollections(Done<std::vector<CollectionInfo>> done) {
  auto names = db_.ListCollections();
  if (!names.ok()) return done(names.status());
  std::vector<CollectionInfo> out;
  for (const std::string& n : *names) {
    auto c = db_.GetCollection(n);
    if (!c.ok()) continue;  // Another process dropped it meanwhile.
    auto info = InfoOf(**c, true);
    if (info.ok()) out.push_back(std::move(*info));
  }
  done(std::move(out));
}

void LocalDataService::DescribeCollection(const std::string& name, Done<CollectionInfo> done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done(InfoOf(**c, true));
}

Result<CollectionConfig> LocalDataService::ConfigOf(const std::string& name) {
  VECTRON_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, db_.GetCollection(name));
  return c->config();
}

void LocalDataService::DropCollection(const std::string& name, DoneStatus done) {
  done(db_.DropCollection(name));
}

void LocalDataService::SetCollectionMetadata(const std::string& name, std::string metadata, Done<CollectionInfo> done) {
  if (Status s = db_.SetCollectionMetadata(name, metadata); !s.ok()) return done(s);
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done(InfoOf(**c, false));
}

void LocalDataService::RenameCollection(const std::string& from, const std::string& to, DoneStatus done) {
  done(db_.RenameCollection(from, to));
}

void LocalDataService::Write(const std::string& name, WriteBatch batch, DoneStatus done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done((*c)->Write(batch));
}

void LocalDataService::Get(const std::string& name, std::vector<std::string> ids, GetOptions options, ReadPolicy,
                           Done<std::vector<std::optional<Point>>> done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done((*c)->Get(ids, options));
}

void LocalDataService::Delete(const std::string& name, std::vector<std::string> ids, Done<uint64_t> done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  auto found = (*c)->Get(ids, GetOptions{false, false});
  if (!found.ok()) return done(found.status());
  std::set<std::string> existing;
  for (auto& f : *found)
    if (f) existing.insert(f->id);
  if (Status s = (*c)->Delete(ids); !s.ok()) return done(s);
  done(static_cast<uint64_t>(existing.size()));
}

void LocalDataService::DeleteWhere(const std::string& name, std::string where, Done<uint64_t> done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done((*c)->DeleteWhere(where));
}

void LocalDataService::Count(const std::string& name, std::string where, ReadPolicy, Done<uint64_t> done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done((*c)->Count(where));
}

void LocalDataService::Search(const std::string& name, std::vector<float> queries, size_t nq, SearchParams params,
                              ReadPolicy, Done<std::vector<std::vector<Hit>>> done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  const size_t dim = (*c)->config().dim;
  if (Status s = CheckQueries(queries.size(), nq, dim); !s.ok()) return done(s);
  if (nq == 1) {
    auto hits = (*c)->Search(queries, params);
    if (!hits.ok()) return done(hits.status());
    std::vector<std::vector<Hit>> out;
    out.push_back(std::move(*hits));
    return done(std::move(out));
  }
  // One worker thread per request: concurrency comes from concurrent requests.
  done((*c)->SearchBatch(queries, params, /*threads=*/1));
}

void LocalDataService::Scroll(const std::string& name, std::string cursor, size_t limit, GetOptions options,
                              std::string where, Done<ScrollPage> done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done((*c)->Scroll(cursor, limit, options, where));
}

void LocalDataService::List(const std::string& name, std::string where, size_t limit, uint64_t offset,
                            GetOptions options, Done<std::vector<Point>> done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done((*c)->List(where, limit, offset, options));
}

void LocalDataService::CreateIndex(const std::string& name, std::string field, PayloadType type, DoneStatus done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done((*c)->CreatePayloadIndex(field, type));
}

void LocalDataService::ListIndexes(const std::string& name, Done<std::vector<PayloadIndexInfo>> done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done((*c)->ListPayloadIndexes());
}

void LocalDataService::DropIndex(const std::string& name, std::string field, DoneStatus done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done((*c)->DropPayloadIndex(field));
}

void LocalDataService::Feedback(const std::string& name, Rating rating, DoneStatus done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done((*c)->Feedback(rating));
}

void LocalDataService::FeedbackStats(const std::string& name, std::vector<std::string> ids, ReadPolicy,
                                     Done<std::vector<RatingStats>> done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  std::vector<RatingStats> out;
  out.reserve(ids.size());
  for (const std::string& id : ids) {
    auto st = (*c)->FeedbackStats(id);
    if (!st.ok()) return done(st.status());
    out.push_back(*st);
  }
  done(std::move(out));
}

void LocalDataService::ExportFeedback(const std::string& name, std::string cursor, size_t limit,
                                      Done<FeedbackPage> done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  FeedbackPage page;
  auto next = (*c)->ExportFeedbackPage(cursor, limit, [&](const Rating& r) {
    page.ratings.push_back(r);
    return Status::OK();
  });
  if (!next.ok()) return done(next.status());
  page.next_cursor = std::move(*next);
  done(std::move(page));
}

Result<std::string> LocalDataService::DefaultRerankOf(const std::string& name) {
  VECTRON_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, db_.GetCollection(name));
  return c->DefaultRerank();
}

void LocalDataService::SetDefaultRerank(const std::string& name, std::string pipeline, DoneStatus done) {
  auto c = db_.GetCollection(name);
  if (!c.ok()) return done(c.status());
  done((*c)->SetDefaultRerank(pipeline));
}

}  // namespace vectron::net
