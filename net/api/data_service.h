// DataService: the data operations every front end serves (collections, points, search,
// payload indexes, feedback), behind one interface with two implementations: LocalDataService
// over a Database (`vectron serve`) and ClusterDataService over the gateway's
// cluster::Router. The REST codec (rest_data.h) and the RPC server call it after the
// operation table (operations.h) checked the caller's access and the request's limits,
// so those rules exist once.
//
// Every method answers through `done`, exactly once: the local implementation before
// it returns (on the calling thread), the cluster one later, on the gateway's loop.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "net/api/operations.h"
#include "vectron/feedback.h"
#include "vectron/options.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron::net {

template <typename T>
using Done = std::function<void(Result<T>)>;
using DoneStatus = std::function<void(Status)>;

// A page of a feedback export (Collection::ExportFeedbackPage).
struct FeedbackPage {
  std::vector<Rating> ratings;
  std::string next_cursor;  // "" at the end.
};

// What a front end shows of a collection.
struct CollectionInfo {
  std::string name;
  CollectionConfig config;
  std::string config_json;             // CollectionConfig::ToJson as stored.
  std::string metadata;                // JSON-object text, "" for none.
  uint32_t replication = 0;            // Copies of each shard (1 for a local collection).
  std::optional<uint64_t> count;       // Live points, where the implementation has them.
  std::optional<CollectionStats> stats;  // Sizes, where the implementation has them.
};

// Reads a cluster may serve from a follower (ignored by the local implementation,
// whose reads are always current).
struct ReadPolicy {
  uint64_t max_staleness_ms = 0;  // 0: linearizable.
};

// Where a search read one shard (a cluster's group and that replica's applied index):
// the freshness token of a result cache entry, opaque to front ends.
struct SearchReadPoint {
  uint64_t group = 0;
  uint64_t applied_index = 0;
  bool operator==(const SearchReadPoint&) const = default;
};

// A search's hits with the read point of every shard (SearchIfChanged).
struct VersionedHits {
  std::vector<Hit> hits;
  std::vector<SearchReadPoint> read_at;  // By shard.
  bool unchanged = false;                // Every shard still at `known`: no hits sent.
};

class DataService {
 public:
  virtual ~DataService() = default;

  // False for an operation this implementation does not serve (front ends answer 501).
  virtual bool Supports(OpId op) const = 0;

  // `replication` 0: the implementation's default. Errors: InvalidArgument, AlreadyExists.
  virtual void CreateCollection(const std::string& name, const CollectionConfig& config, std::string metadata,
                                uint32_t replication, Done<CollectionInfo> done) = 0;
  // Every collection, sorted by name, with counts (and stats where cheap).
  virtual void ListCollections(Done<std::vector<CollectionInfo>> done) = 0;
  // One collection with its stats. Errors: NotFound.
  virtual void DescribeCollection(const std::string& name, Done<CollectionInfo> done) = 0;
  // The collection's configuration from what this service holds already, at once (no
  // I/O, no round trip; for a codec that needs its metric). Errors: NotFound.
  virtual Result<CollectionConfig> ConfigOf(const std::string& name) = 0;
  virtual void DropCollection(const std::string& name, DoneStatus done) = 0;
  // Replaces the collection's metadata ("" removes it); answers the collection.
  virtual void SetCollectionMetadata(const std::string& name, std::string metadata, Done<CollectionInfo> done) = 0;
  virtual void RenameCollection(const std::string& from, const std::string& to, DoneStatus done) = 0;

  // Applies `batch` (upserts, deletes, partial updates). Errors: NotFound, InvalidArgument.
  virtual void Write(const std::string& name, WriteBatch batch, DoneStatus done) = 0;
  // Points for `ids`, in order (nullopt for a missing id).
  virtual void Get(const std::string& name, std::vector<std::string> ids, GetOptions options, ReadPolicy read,
                   Done<std::vector<std::optional<Point>>> done) = 0;
  // Deletes `ids`; answers how many of them existed just before.
  virtual void Delete(const std::string& name, std::vector<std::string> ids, Done<uint64_t> done) = 0;
  // Deletes the points matching `where`; answers how many.
  virtual void DeleteWhere(const std::string& name, std::string where, Done<uint64_t> done) = 0;
  virtual void Count(const std::string& name, std::string where, ReadPolicy read, Done<uint64_t> done) = 0;
  // `nq` queries of the collection's dimension laid end to end in `queries`; one hit
  // list per query. Errors: InvalidArgument (dimension), NotFound.
  virtual void Search(const std::string& name, std::vector<float> queries, size_t nq, SearchParams params,
                      ReadPolicy read, Done<std::vector<std::vector<Hit>>> done) = 0;
  // For a front end's result cache (the gateway; docs/cluster.md, "Reranking"): one
  // query's search, as Search, with every shard's read point; given `known` (the read
  // points of an earlier answer, "" none), answers `unchanged` (no hits) instead if no
  // shard has applied anything since, checked after the read's usual wait (linearizable
  // unless `read` allows staleness). Only where SupportsSearchIfChanged(); else
  // FailedPrecondition.
  virtual bool SupportsSearchIfChanged() const { return false; }
  virtual void SearchIfChanged(const std::string& name, std::vector<float> query, SearchParams params, ReadPolicy read,
                               std::vector<SearchReadPoint> known, Done<VersionedHits> done) {
    (void)name, (void)query, (void)params, (void)read, (void)known;
    done(Status::FailedPrecondition("this service has no versioned search"));
  }
  virtual void Scroll(const std::string& name, std::string cursor, size_t limit, GetOptions options, std::string where,
                      Done<ScrollPage> done) = 0;
  // Points matching `where` in id order, `offset` skipped, at most `limit`.
  virtual void List(const std::string& name, std::string where, size_t limit, uint64_t offset, GetOptions options,
                    Done<std::vector<Point>> done) = 0;
  virtual void CreateIndex(const std::string& name, std::string field, PayloadType type, DoneStatus done) = 0;
  virtual void ListIndexes(const std::string& name, Done<std::vector<PayloadIndexInfo>> done) = 0;
  virtual void DropIndex(const std::string& name, std::string field, DoneStatus done) = 0;

  // Feedback (docs/rerank.md). Stores `rating` durably (time_ms 0: stamped now, by the
  // service). Errors: InvalidArgument (ValidateRating), NotFound (collection or point).
  virtual void Feedback(const std::string& name, Rating rating, DoneStatus done) = 0;
  // The rating summaries of `ids`, in order (zero counts for unrated or missing points).
  // Errors: InvalidArgument (a malformed id), NotFound (collection).
  virtual void FeedbackStats(const std::string& name, std::vector<std::string> ids, ReadPolicy read,
                             Done<std::vector<RatingStats>> done) = 0;
  // Up to `limit` (>= 1) ratings after `cursor` ("" from the first), in
  // Collection::ExportFeedback's order, and the cursor to go on ("" when no rating
  // follows). Errors: InvalidArgument (limit 0, a cursor this collection did not make),
  // NotFound.
  virtual void ExportFeedback(const std::string& name, std::string cursor, size_t limit, Done<FeedbackPage> done) = 0;

  // The collection's default rerank pipeline (canonical JSON, "" for none) from what this
  // service holds already, at once (the cluster: its cached map, so a change made through
  // another gateway shows within a map refresh). Errors: NotFound.
  virtual Result<std::string> DefaultRerankOf(const std::string& name) = 0;
  // Stores `pipeline` (ParseRerankPipeline's form; "" removes it) as the default, as
  // Collection::SetDefaultRerank. Errors: NotFound, InvalidArgument.
  virtual void SetDefaultRerank(const std::string& name, std::string pipeline, DoneStatus done) = 0;
};

}  // namespace vectron::net
