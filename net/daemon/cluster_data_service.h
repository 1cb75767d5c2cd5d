// ClusterDataService: the DataService of a gateway, over its cluster::Router (writes
// through each shard group's Raft log, reads from one replica per shard, searches
// scattered to every shard and merged). Runs on the gateway's loop thread: every method
// is called there and answers there, later (when the router's operation completes).
#pragma once

#include "net/api/data_service.h"
#include "net/cluster/router.h"

namespace vectron::net::daemon {

class ClusterDataService final : public DataService {
 public:
  // `router` must outlive the service. Not thread-safe: the loop thread only.
  explicit ClusterDataService(cluster::Router& router) : router_(router) {}

  // Every operation of the table (docs/cluster.md, "What the gateway serves").
  bool Supports(OpId op) const override;
  void CreateCollection(const std::string& name, const CollectionConfig& config, std::string metadata,
                        uint32_t replication, Done<CollectionInfo> done) override;
  void ListCollections(Done<std::vector<CollectionInfo>> done) override;
  void DescribeCollection(const std::string& name, Done<CollectionInfo> done) override;
  Result<CollectionConfig> ConfigOf(const std::string& name) override;
  void DropCollection(const std::string& name, DoneStatus done) override;
  void SetCollectionMetadata(const std::string& name, std::string metadata, Done<CollectionInfo> done) override;
  void RenameCollection(const std::string& from, const std::string& to, DoneStatus done) override;
  void Write(const std::string& name, WriteBatch batch, DoneStatus done) override;
  void Get(const std::string& name, std::vector<std::string> ids, GetOptions options, ReadPolicy read,
           Done<std::vector<std::optional<Point>>> done) override;
  void Delete(const std::string& name, std::vector<std::string> ids, Done<uint64_t> done) override;
  void DeleteWhere(const std::string& name, std::string where, Done<uint64_t> done) override;
  void Count(const std::string& name, std::string where, ReadPolicy read, Done<uint64_t> done) override;
  void Search(const std::string& name, std::vector<float> queries, size_t nq, SearchParams params, ReadPolicy read,
              Done<std::vector<std::vector<Hit>>> done) override;
  bool SupportsSearchIfChanged() const override { return true; }
  // Router::SearchIfChanged for one query (offset and score_threshold as Search).
  void SearchIfChanged(const std::string& name, std::vector<float> query, SearchParams params, ReadPolicy read,
                       std::vector<SearchReadPoint> known, Done<VersionedHits> done) override;
  void Scroll(const std::string& name, std::string cursor, size_t limit, GetOptions options, std::string where,
              Done<ScrollPage> done) override;
  void List(const std::string& name, std::string where, size_t limit, uint64_t offset, GetOptions options,
            Done<std::vector<Point>> done) override;
  void CreateIndex(const std::string& name, std::string field, PayloadType type, DoneStatus done) override;
  void ListIndexes(const std::string& name, Done<std::vector<PayloadIndexInfo>> done) override;
  void DropIndex(const std::string& name, std::string field, DoneStatus done) override;
  // Through the log of the shard owning the point, stamped with the gateway's clock.
  void Feedback(const std::string& name, Rating rating, DoneStatus done) override;
  // One read per shard holding some of the ids (linearizable unless `read` allows staleness).
  void FeedbackStats(const std::string& name, std::vector<std::string> ids, ReadPolicy read,
                     Done<std::vector<RatingStats>> done) override;
  // Shard by shard, kMaxRatingsPerRead ratings a read; the cursor is the one of
  // `vectron serve` ("<shard>.<rating key in hex>").
  void ExportFeedback(const std::string& name, std::string cursor, size_t limit, Done<FeedbackPage> done) override;
  Result<std::string> DefaultRerankOf(const std::string& name) override;
  void SetDefaultRerank(const std::string& name, std::string pipeline, DoneStatus done) override;

 private:
  // The collection's info from the cached map. Errors: NotFound.
  Result<CollectionInfo> InfoOf(const std::string& name) const;
  // Calls fn with the collection's info: from the cached map, or once the router has a
  // map new enough to say (a collection just created may not be in the cached map yet).
  // Errors: NotFound, Unavailable.
  void WithCollection(const std::string& name, std::function<void(Result<CollectionInfo>)> fn);

  cluster::Router& router_;
};

}  // namespace vectron::net::daemon
