// Router's routing of an operation (router.h): splitting it into shard parts by the
// route keys of its points (Start), and routing a part again over the groups that cover its
// range after a split (Reroute).
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/cluster/router.h"
#include "net/cluster/router_internal.h"

namespace vectron::net::cluster {

namespace {

// The shard (position in the collection's groups) owning point `id` of collection `info`,
// whose route keys are computed with its `initial` shard count.
uint32_t ShardOfPoint(const ClusterMap& map, const CollectionInfo& info, uint32_t initial, std::string_view id) {
  return map.ShardIndexOfKey(info, RouteKey(id, initial));
}

// The point id of a write's entry or of a get's id.
const std::string& PointIdOf(const WriteBatch::Entry& e) { return e.id; }
const std::string& PointIdOf(const std::string& id) { return id; }

// Groups `items` (a write's entries or a get's ids) by the shard owning their point ids:
// for each shard, in the order of its first item, the indexes of its items, in order.
template <typename Item>
std::vector<std::pair<uint32_t, std::vector<size_t>>> GroupByShard(const ClusterMap& map, const CollectionInfo& info,
                                                                   uint32_t initial, const std::vector<Item>& items) {
  std::vector<std::pair<uint32_t, std::vector<size_t>>> groups;
  std::map<uint32_t, size_t> group_of;  // shard -> its position in `groups`
  for (size_t j = 0; j < items.size(); ++j) {
    auto [it, inserted] = group_of.emplace(ShardOfPoint(map, info, initial, PointIdOf(items[j])), groups.size());
    if (inserted) groups.emplace_back(it->first, std::vector<size_t>{});
    groups[it->second].second.push_back(j);
  }
  return groups;
}

// Adds entry `e` of batch `from` (its vector included) to batch `to`.
void AddEntry(WriteBatch& to, const WriteBatch& from, const WriteBatch::Entry& e) {
  to.Add(e.op, e.id, from.vector(e), e.metadata);
}

}  // namespace

// Splits an operation into its shard parts once the map knows the collection.
void Router::Start(uint64_t op_id) {
  auto it = ops_.find(op_id);
  if (it == ops_.end() || it->second->resolved) return;
  Op& op = *it->second;
  auto sh = shards_.find(op.collection);
  if (sh == shards_.end()) {
    if (has_map_ && map_asked_rpc_ >= op.first_rpc && map_.version >= min_map_version_) {
      op.status = Status::NotFound("collection \"" + op.collection + "\" does not exist");
      return Finish(op);
    }
    RefreshMap();  // Wait for a map newer than the operation.
    return;
  }
  uint32_t shards = sh->second;
  op.resolved = true;
  switch (op.kind) {
    case Kind::kWrite: {
      const CollectionInfo& info = map_.collections.at(op.collection);
      const std::vector<WriteBatch::Entry>& entries = op.batch.entries();
      for (const auto& [s, items] : GroupByShard(map_, info, InitialShards(info), entries)) {
        Part& p = op.parts.emplace_back();
        p.shard = s;
        for (size_t j : items) AddEntry(p.command.batch, op.batch, entries[j]);
      }
      for (Part& p : op.parts) {
        p.command.kind = ShardCommand::Kind::kWrite;
        p.command.request = RequestId{client_id_, next_seq_++, 0};
        inflight_seqs_.insert(p.command.request.seq);
      }
      op.batch.Clear();
      break;
    }
    case Kind::kRate: {
      const CollectionInfo& info = map_.collections.at(op.collection);
      op.parts.resize(1);
      op.parts[0].shard = ShardOfPoint(map_, info, InitialShards(info), op.broadcast.rating.point_id);
      op.parts[0].command = op.broadcast;
      op.parts[0].command.request = RequestId{client_id_, next_seq_++, 0};
      inflight_seqs_.insert(op.parts[0].command.request.seq);
      break;
    }
    case Kind::kRatings:
      if (op.ratings_shard >= shards) {
        op.status = Status::InvalidArgument("collection \"" + op.collection + "\" has no shard " +
                                            std::to_string(op.ratings_shard) + " (it has " + std::to_string(shards) +
                                            ")");
        return Finish(op);
      }
      op.parts.resize(1);
      op.parts[0].shard = op.ratings_shard;
      op.parts[0].read = op.read;
      break;
    case Kind::kGet:
    case Kind::kRatingStats: {
      if (op.kind == Kind::kGet) op.points.assign(op.ids.size(), std::nullopt);
      else op.rating_stats.assign(op.ids.size(), RatingStats{});
      const CollectionInfo& info = map_.collections.at(op.collection);
      for (const auto& [s, items] : GroupByShard(map_, info, InitialShards(info), op.ids)) {
        Part& p = op.parts.emplace_back();
        p.shard = s;
        p.read = op.read;
        for (size_t i : items) {
          p.read.ids.push_back(op.ids[i]);
          p.positions.push_back(i);
        }
      }
      break;
    }
    case Kind::kBroadcast:
      op.parts.resize(shards);
      for (uint32_t s = 0; s < shards; ++s) {
        op.parts[s].shard = s;
        op.parts[s].command = op.broadcast;
        op.parts[s].command.request = RequestId{client_id_, next_seq_++, 0};
        inflight_seqs_.insert(op.parts[s].command.request.seq);
      }
      break;
    case Kind::kSearch:
      if (op.known.size() != shards) op.known.clear();
      op.read_at.assign(shards, ShardReadAt{});
      [[fallthrough]];
    case Kind::kCount:
    case Kind::kScroll:
    case Kind::kIndexes:
      op.parts.resize(shards);
      for (uint32_t s = 0; s < shards; ++s) {
        op.parts[s].shard = s;
        op.parts[s].read = op.read;
      }
      break;
    case Kind::kAdmin:
    case Kind::kAuth:
      break;
  }
  for (Part& p : op.parts)
    if (const GroupInfo* g = map_.GroupOf(op.collection, p.shard)) {
      p.group = g->id;
      p.range_start = g->range_start;
      p.range_end = g->range_end;
      p.epoch = g->epoch;
    }
  op.remaining = op.parts.size();
  if (op.remaining == 0) return Finish(op);
  for (size_t i = 0; i < op.parts.size() && ops_.count(op_id); ++i) SendPart(op, i);
}

uint32_t Router::InitialShards(const CollectionInfo& c) const {
  // The route keys of a collection's points are computed with its initial shard count
  // (its config's `shards`), which splits do not change.
  auto it = initial_shards_.find(c.name);
  return it == initial_shards_.end() ? static_cast<uint32_t>(c.groups.size()) : it->second;
}

bool Router::Reroute(Op& op, size_t i) {
  const auto info_it = map_.collections.find(op.collection);
  if (info_it == map_.collections.end()) return true;  // SendPart answers NotFound.
  const CollectionInfo& info = info_it->second;
  // The groups now covering the part's range.
  std::vector<uint32_t> cover;
  for (uint32_t s = 0; s < info.groups.size(); ++s) {
    auto g = map_.groups.find(info.groups[s]);
    if (g == map_.groups.end()) continue;
    const uint64_t gs = g->second.range_start, ge = g->second.range_end;
    bool before = op.parts[i].range_end != 0 && gs >= op.parts[i].range_end;
    bool after = ge != 0 && ge <= op.parts[i].range_start;
    if (!before && !after) cover.push_back(s);
  }
  if (cover.size() == 1) {
    const GroupInfo* g = map_.GroupOf(op.collection, cover[0]);
    if (g->id == op.parts[i].group && g->epoch == op.parts[i].epoch) {
      // The group did not move, but other groups' splits may have shifted its position:
      // then a search's read points are not vouched for.
      if (op.parts[i].shard != cover[0]) op.rerouted = true;
      op.parts[i].shard = cover[0];
      op.parts[i].reroute = false;
      return true;
    }
  }
  if (cover.empty()) return true;
  op.rerouted = true;
  const uint32_t initial = InitialShards(info);
  Part base = op.parts[i];
  base.reroute = false;
  base.outstanding = false;
  base.no_token = true;
  base.attempts = 0;
  std::vector<Part> made;
  auto part_for = [&](uint32_t s) {
    Part q = base;
    const GroupInfo* g = map_.GroupOf(op.collection, s);
    q.shard = s;
    q.group = g->id;
    q.range_start = g->range_start;
    q.range_end = g->range_end;
    q.epoch = g->epoch;
    return q;
  };
  if (op.kind == Kind::kWrite) {
    const std::vector<WriteBatch::Entry>& entries = base.command.batch.entries();
    for (const auto& [s, items] : GroupByShard(map_, info, initial, entries)) {
      Part& q = made.emplace_back(part_for(s));
      q.command.batch.Clear();
      for (size_t j : items) AddEntry(q.command.batch, base.command.batch, entries[j]);
    }
  } else if (op.kind == Kind::kGet || op.kind == Kind::kRatingStats) {
    for (const auto& [s, items] : GroupByShard(map_, info, initial, base.read.ids)) {
      Part& q = made.emplace_back(part_for(s));
      q.read.ids.clear();
      q.positions.clear();
      for (size_t j : items) {
        q.read.ids.push_back(base.read.ids[j]);
        q.positions.push_back(base.positions[j]);
      }
    }
  } else if (op.kind == Kind::kRate) {
    made.push_back(part_for(ShardOfPoint(map_, info, initial, base.command.rating.point_id)));
  } else if (op.kind == Kind::kRatings) {
    made.push_back(part_for(cover[0]));  // A page of one group's ratings: its first part.
  } else {
    for (uint32_t s : cover) made.push_back(part_for(s));  // Scatters and broadcasts: every group.
  }
  if (made.empty()) return true;
  // A write's or broadcast's parts keep its request id: its first attempt may have been
  // applied before the split (the answer lost, the retry refused as stale), and the groups
  // split off hold a copy of the parent's request records, so each answers a part applied
  // before with its first outcome instead of applying it again (a delete-where applied
  // twice would delete points written in between). Each such answer carries the parent's
  // whole count: OnWriteResponse counts it once.
  for (size_t j = 1; j < made.size(); ++j)
    if (IsWrite(op.kind)) inflight_seqs_.insert(made[j].command.request.seq);
  op.parts[i] = std::move(made[0]);
  for (size_t j = 1; j < made.size(); ++j) op.parts.push_back(std::move(made[j]));
  op.remaining += made.size() - 1;
  if (op.kind == Kind::kSearch) {
    op.known.clear();
    op.read_at.assign(info.groups.size(), ShardReadAt{});
  }
  return true;
}

}  // namespace vectron::net::cluster
