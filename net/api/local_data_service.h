// LocalDataService: the DataService of `vectron serve`, over one Database. Every call
// answers before it returns, on the calling thread (a worker of the pool).
#pragma once

#include "net/api/data_service.h"
#include "vectron/database.h"

namespace vectron::net {

class LocalDataService final : public DataService {
 public:
  // `db` must outlive the service. Thread-safe with no lock of its own: each call holds
  // the collection's handle, and a drop or rename racing it either waits for it or makes
  // it return NotFound (the handles' contract, vectron/database.h).
  explicit LocalDataService(Database& db) : db_(db) {}

  bool Supports(OpId) const override { return true; }
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
  void Scroll(const std::string& name, std::string cursor, size_t limit, GetOptions options, std::string where,
              Done<ScrollPage> done) override;
  void List(const std::string& name, std::string where, size_t limit, uint64_t offset, GetOptions options,
            Done<std::vector<Point>> done) override;
  void CreateIndex(const std::string& name, std::string field, PayloadType type, DoneStatus done) override;
  void ListIndexes(const std::string& name, Done<std::vector<PayloadIndexInfo>> done) override;
  void DropIndex(const std::string& name, std::string field, DoneStatus done) override;
  void Feedback(const std::string& name, Rating rating, DoneStatus done) override;
  void FeedbackStats(const std::string& name, std::vector<std::string> ids, ReadPolicy read,
                     Done<std::vector<RatingStats>> done) override;
  void ExportFeedback(const std::string& name, std::string cursor, size_t limit, Done<FeedbackPage> done) override;
  Result<std::string> DefaultRerankOf(const std::string& name) override;
  void SetDefaultRerank(const std::string& name, std::string pipeline, DoneStatus done) override;

 private:
  // Info of collection `c` (stats if `with_stats`).
  Result<CollectionInfo> InfoOf(Collection& c, bool with_stats);

  Database& db_;
};

}  // namespace vectron::net
