// The messages cluster nodes exchange, as plain values. The Transport carries one Envelope
// at a time; the daemons' transport encodes them on the wire, the simulator passes them as
// they are. Every request carries an rpc_id chosen by its sender, echoed in the response.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "net/auth/auth_store.h"
#include "net/cluster/cluster_map.h"
#include "net/cluster/shard_command.h"
#include "raft/types.h"
#include "vectron/feedback.h"
#include "vectron/status.h"
#include "vectron/types.h"

namespace vectron::net::cluster {

enum class NodeKind : uint8_t { kPd = 1, kWorker = 2, kGateway = 3 };

// A node of the cluster. Inside a Raft group, the Raft node id is `id` (PD id or worker id).
struct NodeId {
  NodeKind kind = NodeKind::kWorker;
  uint64_t id = 0;
  auto operator<=>(const NodeId&) const = default;
  // "pd1", "w2", "gw1".
  std::string ToString() const;
};

// --- Raft traffic between two hosts: one per peer per loop, all groups' messages. ---
struct GroupMessage {
  uint64_t group = 0;
  raft::Message msg;
};
struct RaftBatch {
  std::vector<GroupMessage> messages;
  // The sender host's incarnation (nonzero, new at each start): a change tells the peer
  // that the sender restarted (hibernation, docs/cluster.md). 0: unknown.
  uint64_t incarnation = 0;
};

// --- Snapshot data of a shard group, pulled chunk by chunk by the receiver. ---
struct SnapshotFetchRequest {
  uint64_t group = 0;
  uint64_t fetch_id = 0;    // Chosen by the receiver; one copy on the sender per fetch.
  uint64_t min_index = 0;   // The snapshot's index: the copy must be at or past it.
  uint64_t offset = 0;      // Byte offset of the chunk wanted.
  uint32_t max_bytes = 0;   // Chunk size limit.
};
struct SnapshotFetchResponse {
  uint64_t group = 0;
  uint64_t fetch_id = 0;
  Status status;            // Not OK: the fetch is over (start again).
  uint64_t index = 0;       // Applied index of the copy.
  uint64_t total = 0;       // Size of the whole stream.
  uint64_t offset = 0;
  std::string data;
  bool done = false;        // The last chunk.
  // The copy's place in the sender's Raft log: the term of entry `index` and the membership
  // there (term 0: not known, e.g. the log was compacted past it). With them the receiver
  // installs the copy as a snapshot at `index` rather than at the older one it was asked
  // for, and the leader need not send the entries in between (docs/cluster.md, "Snapshots").
  uint64_t term = 0;
  raft::ConfState conf;
};

// --- Gateway -> worker: requests to one shard group. ---
struct ReadOptions {
  // 0: linearizable (ReadIndex). Else a follower may answer from its own state if it was
  // up to date with the leader at most this long ago.
  uint64_t max_staleness_ms = 0;
};

struct ShardWriteRequest {
  uint64_t rpc_id = 0;
  uint64_t group = 0;
  uint64_t epoch = 0;
  ShardCommand command;
};
struct ShardWriteResponse {
  uint64_t rpc_id = 0;
  Status status;            // OK once committed and applied; the command's own error if rejected.
  uint64_t leader_hint = 0; // With Unavailable: the replica's idea of the leader (0 = none).
  bool stale_epoch = false; // The group is unknown here or has another epoch: refresh the map.
  uint64_t deleted = 0;     // kDeleteWhere: points deleted.
  // The request was applied before: status and deleted are its first outcome, which the
  // group whose route is `applied_by` (if known) made. A group split off copied its
  // parent's request records, so it answers a request the parent applied with the
  // parent's route and the parent's whole count (docs/cluster.md, "Gateway").
  bool duplicate = false;
  std::optional<ShardRoute> applied_by;  // Of a fresh outcome too: this group's route.
};

// The most ratings one kRatings read answers (a rating with its key is at most ~4.5 KiB).
inline constexpr uint32_t kMaxRatingsPerRead = 256;

struct ShardReadRequest {
  // kScroll: up to `limit` points with id > `after` matching `where`, in id order.
  // kIndexes: the shard's payload indexes.
  // kRatingStats: the rating summaries of `ids`, in order.
  // kRatings: up to min(limit, kMaxRatingsPerRead) ratings whose key is above `after` (a
  // rating key, "" from the first), in key order (Shard::ScanRatingsAfter).
  enum class Kind : uint8_t { kGet, kSearch, kCount, kScroll, kIndexes, kRatingStats, kRatings };
  uint64_t rpc_id = 0;
  uint64_t group = 0;
  uint64_t epoch = 0;
  Kind kind = Kind::kGet;
  ReadOptions read;
  std::vector<std::string> ids;  // kGet, kRatingStats
  GetOptions get;                // kGet, kScroll
  std::vector<float> query;      // kSearch
  SearchParams search;           // kSearch
  std::string where;             // kCount, kScroll
  std::string after;             // kScroll: "" from the first id; kRatings: a rating key
  uint32_t limit = 0;            // kScroll, kRatings
  // kSearch, the gateway's result cache: if not 0 and the replica's applied index (after
  // the read's wait) equals it, the replica answers `unchanged` without searching.
  uint64_t unchanged_if_applied = 0;
  // The gateway had no other read outstanding at this worker when it sent this one: the
  // worker may run it on its loop thread rather than hand it to its executor
  // (WorkerNodeOptions::inline_reads). A hint for speed only; the answer is the same.
  bool lone = false;
};
// One rating as a shard stores it, with its key (to go on after it).
struct RatingRecord {
  std::string key;
  Rating rating;
};
struct ShardReadResponse {
  uint64_t rpc_id = 0;
  Status status;
  uint64_t leader_hint = 0;
  bool stale_epoch = false;
  std::vector<std::optional<Point>> points;  // kGet, in request order; kScroll, in id order
  bool more = false;                         // kScroll: points past these match too
  std::vector<Hit> hits;                     // kSearch
  uint64_t count = 0;                        // kCount
  std::vector<PayloadIndexInfo> indexes;     // kIndexes
  std::vector<RatingStats> rating_stats;     // kRatingStats, in request order
  std::vector<RatingRecord> ratings;         // kRatings, in key order
  uint64_t applied_index = 0;                // The replica's applied index when it answered.
  bool unchanged = false;                    // kSearch: applied_index == unchanged_if_applied, no hits
};

// --- Workers -> PD. ---
struct ReplicaReport {
  uint64_t group = 0;
  uint64_t applied_index = 0;
  bool leader = false;
  uint64_t term = 0;
  // Leaders only: the group's committed membership and the log index it dates from.
  std::vector<uint64_t> voters;
  std::vector<uint64_t> learners;
  uint64_t conf_index = 0;
  // Leaders only: the group's epoch and range end as its shard has them, and its points.
  uint64_t epoch = 0;
  uint64_t range_end = 0;
  uint64_t points = 0;
  uint64_t bytes = 0;  // Leaders only: its shard's live data (Shard::DataSize).
};
struct PdHeartbeat {
  uint64_t rpc_id = 0;
  uint64_t worker = 0;
  std::string addr;
  std::vector<ReplicaReport> replicas;
};
// PD asks the worker leading `group` to hand its leadership to worker `target`.
struct LeaderTransfer {
  uint64_t group = 0;
  uint64_t target = 0;
  bool operator==(const LeaderTransfer&) const = default;
};
// PD asks the worker leading `group` to propose one membership change (replica moves).
struct ConfChangeOrder {
  uint64_t group = 0;
  raft::ConfChangeType type = raft::ConfChangeType::kAddLearner;
  uint64_t node = 0;
  bool operator==(const ConfChangeOrder&) const = default;
};
// PD asks the worker leading `group` (at `epoch`) to propose this split (docs/cluster.md, "Splits").
struct ShardSplitOrder {
  uint64_t group = 0;
  uint64_t epoch = 0;
  ShardSplit split;
  bool operator==(const ShardSplitOrder&) const = default;
};
struct PdHeartbeatResponse {
  uint64_t rpc_id = 0;
  Status status;            // Unavailable + pd_leader hint when not the PD leader.
  uint64_t pd_leader = 0;
  bool registered = false;  // The worker is in the map (else it is being registered).
  std::vector<GroupAssignment> assignments;  // Every group placed on the worker.
  std::vector<LeaderTransfer> transfers;     // Groups the worker leads that PD moves.
  std::vector<ConfChangeOrder> conf_changes; // Membership changes of groups the worker leads.
  std::vector<ShardSplitOrder> splits;       // Splits of groups the worker leads.
  // Heartbeat again this soon, in ms (0: at the worker's own period): PD has just proposed
  // a split of a group the worker leads, whose order the next heartbeat answer carries.
  uint32_t again_ms = 0;
};

// --- Gateways -> PD. ---
struct PdMapRequest {
  uint64_t rpc_id = 0;
  uint64_t known_version = 0;  // The map is returned only if newer (0: always).
};
struct PdMapResponse {
  uint64_t rpc_id = 0;
  Status status;
  uint64_t pd_leader = 0;
  std::optional<ClusterMap> map;
};

struct PdAdminRequest {
  enum class Kind : uint8_t {
    kCreateCollection, kDropCollection, kRenameCollection, kSetCollectionMetadata, kSetDefaultRerank
  };
  uint64_t rpc_id = 0;
  RequestId request;            // Deduplicates retries.
  Kind kind = Kind::kCreateCollection;
  std::string name;
  std::string config_json;      // kCreateCollection (its `shards` is the shard count)
  uint32_t replication = 0;     // kCreateCollection; 0 = min(3, workers)
  std::string new_name;         // kRenameCollection
  std::string metadata;         // kCreateCollection, kSetCollectionMetadata: JSON-object text or "";
                                // kSetDefaultRerank: the pipeline (canonical JSON) or ""
};
struct PdAdminResponse {
  uint64_t rpc_id = 0;
  Status status;
  uint64_t pd_leader = 0;
  uint64_t map_version = 0;     // The map version that includes the change.
};

// --- Auth records in the PD (the cluster side of the auth store; docs/cluster.md). ---
// One change to an auth record (net/auth/auth_store.h: the gateway's Authenticator
// makes them).
using AuthChange = vectron::net::AuthChange;
struct PdAuthRequest {
  enum class Kind : uint8_t { kLoad, kCommit };
  uint64_t rpc_id = 0;
  Kind kind = Kind::kLoad;
  RequestId request;                 // kCommit (deduplicates retries)
  uint64_t if_version = 0;           // kCommit: apply only at this version (0: always)
  std::vector<AuthChange> changes;   // kCommit: all or nothing
};
struct PdAuthResponse {
  uint64_t rpc_id = 0;
  Status status;                     // kCommit: Aborted if the version moved on
  uint64_t pd_leader = 0;
  uint64_t version = 0;              // The auth records' version (after the commit)
  std::vector<std::pair<std::string, std::string>> records;  // kLoad: every record, by key
};

using Envelope = std::variant<RaftBatch, SnapshotFetchRequest, SnapshotFetchResponse, ShardWriteRequest,
                              ShardWriteResponse, ShardReadRequest, ShardReadResponse, PdHeartbeat,
                              PdHeartbeatResponse, PdMapRequest, PdMapResponse, PdAdminRequest, PdAdminResponse,
                              PdAuthRequest, PdAuthResponse>;

// The envelope's message name, such as "RaftBatch" (traces, metrics).
const char* EnvelopeName(const Envelope& e);

}  // namespace vectron::net::cluster
