// Router::Op and Router::Part, the state of an operation in flight and of its shard parts:
// shared by router.cc and router_routing.cc, included by nothing else.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "net/cluster/router.h"

namespace vectron::net::cluster {

struct Router::Part {
  uint32_t shard = 0;
  ShardCommand command;          // kWrite
  ShardReadRequest read;         // kGet, kSearch, kCount
  std::vector<size_t> positions; // kGet: where each id's point goes in the answer
  bool done = false;
  bool outstanding = false;
  uint64_t rpc = 0;
  uint64_t sent_ms = 0;
  uint64_t next_try_ms = 0;
  int attempts = 0;
  uint64_t group = 0;
  uint64_t target = 0;
  uint64_t token = 0;      // kSearch: the unchanged_if_applied sent with the read (0: none).
  bool no_token = false;   // kSearch: asked again for hits, without a token.
  bool unchanged = false;  // kSearch: answered unchanged.
  // The route keys the part covers (its group's range when it was made) and whether a
  // replica answered that the group's epoch moved on (a split): the part is then routed
  // again over the groups now covering its range, once the map shows them.
  uint64_t range_start = 0, range_end = 0, epoch = 0;
  bool reroute = false;
};

struct Router::Op {
  uint64_t id = 0;
  Kind kind = Kind::kWrite;
  std::string collection;
  uint64_t start_ms = 0;
  uint64_t first_rpc = 0;  // The router's next rpc id when the operation started.
  uint64_t deadline_ms = 0;
  bool resolved = false;
  std::vector<Part> parts;
  size_t remaining = 0;
  Status status;
  // Inputs kept until the map says how many shards there are.
  WriteBatch batch;
  ShardCommand broadcast;  // kBroadcast
  std::vector<std::string> ids;
  ShardReadRequest read;
  // Results.
  std::vector<std::optional<Point>> points;
  std::vector<Hit> hits;
  std::vector<ShardReadAt> known;    // kSearch through SearchIfChanged: by shard.
  std::vector<ShardReadAt> read_at;  // kSearch: where each shard's hits were read.
  bool rerouted = false;             // A part was routed again after a split.
  VersionedHitsFn versioned_fn;      // Set: SearchIfChanged (else hits_fn).
  uint64_t count = 0;
  // kBroadcast: the applies counted, as (request seq, route known, route start, end,
  // epoch) of the group that made each (CountOnce).
  std::set<std::tuple<uint64_t, bool, uint64_t, uint64_t, uint64_t>> counted;
  PdAdminRequest admin;
  PdAuthRequest auth;
  AuthRecords auth_records;
  uint64_t auth_version = 0;
  std::function<void(Result<AuthRecords>)> auth_load_fn;
  std::function<void(Result<uint64_t>)> auth_commit_fn;
  StatusFn status_fn;
  PointsFn points_fn;
  HitsFn hits_fn;
  CountFn count_fn;
  PageFn page_fn;
  IndexesFn indexes_fn;
  RatingStatsFn rating_stats_fn;
  RatingsFn ratings_fn;
  std::vector<RatingStats> rating_stats;  // kRatingStats, in id order
  std::vector<RatingRecord> ratings;      // kRatings
  uint32_t ratings_shard = 0;             // kRatings
  std::map<std::string, PayloadType> indexes;  // kIndexes: field -> type, over the shards.
  bool indexes_disagree = false;
  bool more = false;  // kScroll: a shard has points past its page.
};

}  // namespace vectron::net::cluster
