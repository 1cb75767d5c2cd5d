// The cluster map: what the placement driver replicates and what gateways and workers cache.
// Plain values; encoded for the PD's snapshots and, in the daemons, for the wire.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "vectron/shard.h"
#include "vectron/status.h"

namespace vectron::net::cluster {

struct WorkerInfo {
  uint64_t id = 0;
  std::string addr;         // host:port of its cluster listener
  bool alive = true;        // PD leader's view from heartbeats (not replicated)
  bool operator==(const WorkerInfo&) const = default;
};

// One shard of a collection: a Raft group whose replicas are on distinct workers.
struct GroupInfo {
  uint64_t id = 0;
  std::string collection;
  uint32_t shard = 0;
  // Bumped whenever the group's placement changes; a replica refuses requests routed with
  // another epoch (the router then refreshes its map).
  uint64_t epoch = 1;
  // The group's membership as PD last recorded it from its leader's reports: voters and
  // learners (worker ids, ascending), and the group log index of that membership (0: the
  // founding voters, never changed; only then does a new replica bootstrap the group).
  std::vector<uint64_t> replicas;  // Voters.
  uint64_t leader = 0;             // Last leader reported in heartbeats (hint, not replicated).
  std::vector<uint64_t> learners;
  uint64_t conf_index = 0;
  // Where PD is moving the group (docs/cluster.md, "Replica moves"): the voters it should
  // end with, ascending; empty when no move is in progress.
  std::vector<uint64_t> target;
  // Groups being moved: each member's last reported applied index (worker -> index), the
  // answering PD leader's view (progress in `cluster status`; not replicated).
  std::map<uint64_t, uint64_t> applied;
  // The route keys it owns (docs/cluster.md, "Splits"): [range_start, range_end), 0 as
  // the end meaning the end of the key space. `epoch` counts the changes of this range.
  uint64_t range_start = 0;
  uint64_t range_end = 0;
  // Nonzero while the group is being split off that group: not routed to yet (the split
  // has not been applied by its parent's log); the parent owns the whole range meanwhile.
  uint64_t split_from = 0;
  // The voters the group should have: target if a move is in progress, else replicas.
  const std::vector<uint64_t>& wanted() const { return target.empty() ? replicas : target; }
  // Whether `worker` hosts (or is to host) a replica: a voter, a learner, or in the target.
  bool Places(uint64_t worker) const;
  bool operator==(const GroupInfo&) const = default;
};

struct CollectionInfo {
  std::string name;
  std::string config_json;       // CollectionConfig::ToJson(); config.shards: the initial shard count
  uint32_t replication = 0;
  // The groups serving it, by ascending range (their ranges tile the key space); before any
  // split groups[i] serves shard i (as Collection::ShardOf places points).
  std::vector<uint64_t> groups;
  std::string metadata;          // JSON-object text stored with it ("" for none)
  std::string rerank;            // The default rerank pipeline: canonical JSON ("" for none)
  bool operator==(const CollectionInfo&) const = default;
};

struct ClusterMap {
  // The PD log index of the last change; a newer map has a larger version.
  uint64_t version = 0;
  std::vector<uint64_t> pd_members;
  uint64_t pd_leader = 0;  // Filled by the PD node that answers.
  std::map<uint64_t, WorkerInfo> workers;
  std::map<std::string, CollectionInfo> collections;
  std::map<uint64_t, GroupInfo> groups;
  // Version of the PD's auth records (a gateway reloads them when it changes).
  uint64_t auth_version = 0;
  bool operator==(const ClusterMap&) const = default;

  // The group serving shard `shard` (an index into the collection's groups), or nullptr.
  const GroupInfo* GroupOf(std::string_view collection, uint32_t shard) const;
  // The index into `c.groups` of the group owning route key `key` (c.groups is sorted by
  // range_start, the first starting at 0).
  uint32_t ShardIndexOfKey(const CollectionInfo& c, uint64_t key) const;
  // Human-readable summary (vectron cluster status, traces).
  std::string ToString() const;
};

// Binary encoding of a map (the PD's snapshots, the wire). Decode errors: Corruption.
std::string EncodeClusterMap(const ClusterMap& map);
Status DecodeClusterMap(std::string_view data, ClusterMap* out);

// A group the map places on a worker, with its collection's config: what heartbeat
// answers carry and what a worker keeps in groups/<id>/group.meta.
struct GroupAssignment {
  GroupInfo group;
  std::string config_json;  // The collection's CollectionConfig.
  // Nonzero on a worker that made this group's replica by applying its parent's split
  // (group.meta only): the log is bootstrapped at this index (the split's) with the
  // group's replicas as voters.
  uint64_t bootstrap_index = 0;
};
// Decode errors: Corruption.
std::string EncodeGroupAssignment(const GroupAssignment& a);
Status DecodeGroupAssignment(std::string_view data, GroupAssignment* out);

// RouteKey and RangeHolds: vectron/shard.h.
// The initial range of shard i of n: {start, end} (end 0: to the end of the key space).
std::pair<uint64_t, uint64_t> InitialRange(uint32_t i, uint32_t n);
// The range a group's log starts from: the initial range of n holding the group's
// range_start (a group keeps its start through its splits; a group split off starts inside
// an initial range, and its shard records its own range when the split makes it). A replica
// that applies a log from its beginning starts from this range with epoch 1, never from the
// map's current range: a map ahead of the replica's log would have it refuse, as stale, the
// writes routed before a split, and skip the split itself.
std::pair<uint64_t, uint64_t> FoundingRange(const GroupInfo& g, uint32_t n);
// The middle of [start, end): where a split cuts it. REQUIRES: the range holds at least 2 keys.
uint64_t RangeMiddle(uint64_t start, uint64_t end);

}  // namespace vectron::net::cluster
