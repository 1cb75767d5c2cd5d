// Router: the gateway's cluster logic (docs/cluster.md, "Gateway"). It keeps a cached copy of
// the PD's map and turns each public operation into requests to shard groups: writes split by
// shard and go to each group's leader with a request id (retries reuse it, so a write applies
// once); gets and counts go to one replica per shard (linearizable by default, via ReadIndex);
// searches scatter to one replica of every shard and merge a global top-k. Every request is
// retried on "not leader", unknown leader, timeouts and stale maps, with capped exponential
// backoff, until the operation's deadline.
//
// Not thread-safe: every method runs on the gateway's loop thread; callbacks run there too
// (from Receive or RunOnce).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "net/cluster/clock.h"
#include "net/cluster/transport.h"
#include "vectron/options.h"

namespace vectron::net::cluster {

struct RouterOptions {
  uint64_t id = 1;                   // This gateway's id (NodeId{kGateway, id}).
  std::vector<uint64_t> pd_members;
  uint64_t client_id = 0;            // Request-id client; 0: drawn from the Rng.
  uint64_t rpc_timeout_ms = 1000;    // One attempt; then another replica.
  uint64_t deadline_ms = 10000;      // A whole operation; then Unavailable.
  uint64_t backoff_min_ms = 20;      // Retry backoff: doubles per attempt, with jitter,
  uint64_t backoff_max_ms = 1000;    // up to this.
  uint64_t map_refresh_ms = 1000;    // Background map refresh period.
  uint64_t reroute_refresh_ms = 50;  // Refresh period while a part waits for a split's map.
  // A worker that let an attempt time out is avoided for this long (while another replica
  // of the group is not), as is one the map reports dead; any answer from it ends that.
  uint64_t suspect_ms = 5000;
  // Linearizable reads go first to the group's leader (known from write answers, else the
  // map's), not spread over its replicas: with leader leases the leader confirms a read
  // without a message, where a follower asks the leader first (docs/cluster.md, "Gateway").
  // Retries, and reads with a staleness bound (served by followers), rotate over the replicas.
  bool reads_at_leader = true;
};

class Router {
 public:
  using StatusFn = std::function<void(Status)>;
  using PointsFn = std::function<void(Result<std::vector<std::optional<Point>>>)>;
  using HitsFn = std::function<void(Result<std::vector<Hit>>)>;
  using CountFn = std::function<void(Result<uint64_t>)>;
  using PageFn = std::function<void(Result<ScrollPage>)>;
  using IndexesFn = std::function<void(Result<std::vector<PayloadIndexInfo>>)>;
  using RatingStatsFn = std::function<void(Result<std::vector<RatingStats>>)>;
  using RatingsFn = std::function<void(Result<std::vector<RatingRecord>>)>;
  // Where a search read one shard: its group and the replica's applied index.
  struct ShardReadAt {
    uint64_t group = 0;
    uint64_t applied_index = 0;
    bool operator==(const ShardReadAt&) const = default;
  };
  // A search's answer with the index each shard's hits were read at (by shard).
  // `unchanged`: every shard was still at the `known` index given (hits empty).
  struct VersionedHits {
    std::vector<Hit> hits;
    std::vector<ShardReadAt> read_at;
    bool unchanged = false;
  };
  using VersionedHitsFn = std::function<void(Result<VersionedHits>)>;

  // All references must outlive the router.
  Router(RouterOptions options, Clock& clock, Rng& rng, Transport& transport);
  ~Router();

  void Receive(const NodeId& from, Envelope msg);
  // Timers: retries, timeouts, deadlines, map refresh.
  void RunOnce();

  // Writes `batch` to `collection`. OK once every shard's part is committed and applied.
  // Atomic per shard, not across shards. Errors: NotFound (collection), the shard's own
  // validation error (InvalidArgument, or NotFound for a partial update of a missing
  // point: nothing of that part written), Unavailable (deadline
  // passed: a part may or may not have been applied).
  void Write(const std::string& collection, const WriteBatch& batch, StatusFn done);
  // Points for `ids`, in order (nullopt for a missing id).
  void Get(const std::string& collection, std::vector<std::string> ids, const GetOptions& options,
           const ReadOptions& read, PointsFn done);
  // The global top-k over every shard, nearest first.
  void Search(const std::string& collection, std::vector<float> query, const SearchParams& params,
              const ReadOptions& read, HitsFn done);
  // Search with a freshness check, for a result cache (docs/cluster.md, "Reranking"):
  // `known` holds the read points of an earlier answer, by shard. Each shard still does
  // its read (linearizable, or within `read.max_staleness_ms`) and, if it is the group
  // known for it and its applied index still equals the known one, answers "unchanged"
  // without searching. All unchanged: `unchanged` (the earlier answer is current). Else
  // the shards that answered unchanged are asked again for their hits, and the answer is
  // Search's, with every shard's read point. `known` empty or of another shard count: a
  // plain search with read points.
  void SearchIfChanged(const std::string& collection, std::vector<float> query, const SearchParams& params,
                       const ReadOptions& read, std::vector<ShardReadAt> known, VersionedHitsFn done);
  // Points (matching `where`) over every shard.
  void Count(const std::string& collection, std::string where, const ReadOptions& read, CountFn done);
  // Up to `limit` points with id > `after` (bytewise; "" from the first) matching `where`,
  // in id order across every shard (each shard is asked for its first `limit`, the pages
  // are merged). next_cursor: the last id answered, "" when no point follows.
  void Scroll(const std::string& collection, std::string after, uint32_t limit, const GetOptions& options,
              std::string where, const ReadOptions& read, PageFn done);
  // Deletes the points matching `where` on every shard (through each group's log); answers
  // how many. Not atomic across shards. Errors as Write.
  void DeleteWhere(const std::string& collection, std::string where, CountFn done);
  // Payload index changes, on every shard through its log. Errors as Write (a shard's own
  // error, e.g. AlreadyExists, is answered as is).
  void CreatePayloadIndex(const std::string& collection, std::string field, PayloadType type, StatusFn done);
  // The payload indexes of every shard, merged by field and sorted by it (a create or drop
  // that reached only some shards shows the field as long as one shard has it; one shard
  // listing a field with another type than another: Internal).
  void ListPayloadIndexes(const std::string& collection, const ReadOptions& read, IndexesFn done);
  void DropPayloadIndex(const std::string& collection, std::string field, StatusFn done);
  // Stores `rating` (time_ms set by the caller: every replica stores that time) through
  // the log of the shard owning rating.point_id; OK once committed and applied. Errors:
  // NotFound (collection, or no such point), InvalidArgument (a bad rating), as Write.
  void Rate(const std::string& collection, Rating rating, StatusFn done);
  // The rating summaries of `ids`, in order, one read per shard holding some of them.
  void RatingStatsOf(const std::string& collection, std::vector<std::string> ids, const ReadOptions& read,
                     RatingStatsFn done);
  // Up to min(limit, kMaxRatingsPerRead) ratings of shard `shard` whose key is above
  // `after` ("" from the first), in key order. Errors: InvalidArgument (no such shard),
  // NotFound (collection).
  void RatingsOfShard(const std::string& collection, uint32_t shard, std::string after, uint32_t limit,
                      const ReadOptions& read, RatingsFn done);
  // Collections through the PD. `replication` 0: min(3, live workers).
  // `metadata`: JSON-object text stored with it ("" for none).
  void CreateCollection(const std::string& name, const CollectionConfig& config, uint32_t replication, StatusFn done,
                        std::string metadata = {});
  // Replaces the collection's metadata in the PD's map ("" removes it). Errors: NotFound,
  // InvalidArgument (over 64 KiB), Unavailable.
  void SetCollectionMetadata(const std::string& name, std::string metadata, StatusFn done);
  // Stores `pipeline` (canonical rerank pipeline JSON, validated by the caller; "" removes
  // it) as the collection's default in the PD's map. Errors: NotFound, InvalidArgument
  // (over 64 KiB), Unavailable.
  void SetDefaultRerank(const std::string& name, std::string pipeline, StatusFn done);
  void DropCollection(const std::string& name, StatusFn done);
  // Renames collection `from` to `to` in the PD's map (the shard groups stay as they
  // are). Errors: NotFound, AlreadyExists, InvalidArgument (a bad name), Unavailable.
  void RenameCollection(const std::string& from, const std::string& to, StatusFn done);

  // The PD's auth records: the cluster half of the auth store seam (docs/cluster.md, "Auth
  // state"). LoadAuth reads every record; CommitAuth applies `changes` atomically if the
  // records are still at `if_version` (0: unconditionally) and answers the new version.
  // Errors: Aborted (the records changed meanwhile: load and decide again), Unavailable.
  struct AuthRecords {
    uint64_t version = 0;
    std::map<std::string, std::string> records;
  };
  void LoadAuth(std::function<void(Result<AuthRecords>)> done);
  void CommitAuth(uint64_t if_version, std::vector<AuthChange> changes, std::function<void(Result<uint64_t>)> done);

  // The cached map (empty until the first answer from the PD).
  const ClusterMap& map() const { return map_; }
  bool has_map() const { return has_map_; }
  // Asks the PD for a fresh map now.
  void RefreshMap();
  uint64_t client_id() const { return client_id_; }
  size_t pending() const { return ops_.size(); }

  struct Stats {
    uint64_t rpcs = 0;
    uint64_t retries = 0;
    uint64_t map_refreshes = 0;
    uint64_t ops_failed = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Op;
  struct Part;
  // kBroadcast: one shard command (delete-where, payload index) on every shard.
  // kRate: one shard command to the shard owning its point; kRatings: one shard's read.
  enum class Kind : uint8_t {
    kWrite, kBroadcast, kGet, kSearch, kCount, kScroll, kIndexes, kAdmin, kAuth, kRate, kRatingStats, kRatings
  };
  static bool IsWrite(Kind k) { return k == Kind::kWrite || k == Kind::kBroadcast || k == Kind::kRate; }

  uint64_t NewOp(Kind kind, std::string collection);
  void Start(uint64_t op_id);
  void SendPart(Op& op, size_t part);
  // Routes part `i`, which met a split, over the groups now covering its range (splitting
  // it into several parts, appended to op.parts). Returns true.
  bool Reroute(Op& op, size_t i);
  uint32_t InitialShards(const CollectionInfo& c) const;
  void Retry(Op& op, size_t part, bool backoff);
  // Drops rpc `rpc` from rpcs_ (and from the reads outstanding at its worker).
  void Forget(uint64_t rpc);
  void PartDone(Op& op, size_t part, Status s);
  void Finish(Op& op);
  void OnWriteResponse(const ShardWriteResponse& r);
  // What an OK answer `r` to a part of request `seq` adds to op.count: its `deleted`,
  // unless it is a duplicate of an apply already counted (docs/cluster.md, "Gateway").
  static uint64_t CountOnce(Op& op, uint64_t seq, const ShardWriteResponse& r);
  void OnReadResponse(const ShardReadResponse& r);
  void OnAdminResponse(const PdAdminResponse& r);
  void OnMapResponse(const PdMapResponse& r);
  void OnAuthResponse(const PdAuthResponse& r);
  uint64_t NewPdOp(Kind kind, const std::string& name);
  void PdRetry(Op& op, uint64_t leader_hint);
  void SendAdmin(Op& op);
  uint64_t Backoff(int attempt);
  uint64_t AckedBelow() const;
  void EraseInflight(uint64_t seq);  // One part of request `seq` answered.
  uint64_t PdTarget();
  // The group's leader as last learnt from an answer, else as the map says (0: unknown).
  uint64_t LeaderOf(const GroupInfo& g) const;
  // Whether reads (and writes with no known leader) should avoid `worker` now.
  bool Avoided(uint64_t worker, uint64_t now) const;
  // The first replica of `reps` from position `start` (cyclically) that is not avoided;
  // reps[start % n] when all are.
  uint64_t PickReplica(const std::vector<uint64_t>& reps, uint64_t start) const;
  // The worker that sent an answer (to rpc of `target`) is alive.
  void Heard(uint64_t worker) { suspect_until_.erase(worker); }

  RouterOptions opt_;
  Clock& clock_;
  Rng& rng_;
  Transport& transport_;
  NodeId self_;
  uint64_t client_id_;
  uint64_t next_seq_ = 1;
  // Write parts not yet answered (acked_below); a write rerouted after a split sends its
  // parts under one request id, so a seq is here once per part.
  std::multiset<uint64_t> inflight_seqs_;
  uint64_t next_op_ = 1;
  uint64_t next_rpc_ = 1;
  std::map<uint64_t, std::unique_ptr<Op>> ops_;
  std::map<uint64_t, std::pair<uint64_t, size_t>> rpcs_;  // rpc id -> (op, part)
  // Reads outstanding at each worker: a read sent to a worker that has none goes out
  // `lone` (ShardReadRequest::lone), which lets the worker run it on its loop thread.
  std::map<uint64_t, uint64_t> read_rpcs_;  // rpc id -> worker, for reads only
  std::map<uint64_t, uint32_t> reads_at_;   // worker -> reads outstanding (none: absent)
  // The map and what the router learned since.
  ClusterMap map_;
  bool has_map_ = false;
  uint64_t min_map_version_ = 0;  // The newest map version an admin answer included.
  uint64_t map_received_ms_ = 0;
  // The rpc id of the request the current map answers: the map is at least as new as PD's
  // state when that request was sent (not when the answer arrived: it may be delayed). An
  // operation may be told its collection does not exist only by a map asked for after it
  // started (Op::first_rpc).
  uint64_t map_asked_rpc_ = 0;
  std::map<std::string, uint32_t> shards_;  // collection -> shard count
  std::map<std::string, uint32_t> initial_shards_;  // collection -> its config's shards (route keys)
  std::map<uint64_t, uint64_t> leaders_;    // group -> worker (learned from answers)
  std::map<uint64_t, uint64_t> suspect_until_;  // worker -> until when it is avoided (ms)
  uint64_t pd_leader_ = 0;
  uint64_t pd_rotate_ = 0;
  uint64_t map_rpc_ = 0;
  uint64_t map_sent_ms_ = 0;
  bool map_outstanding_ = false;
  uint64_t next_refresh_ms_ = 0;
  Stats stats_;
};

}  // namespace vectron::net::cluster
