#include "net/cluster/pd_state_machine.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "net/cluster/codec.h"
#include "vectron/options.h"

namespace vectron::net::cluster {

namespace {
constexpr size_t kMaxText = 1 << 16;
constexpr size_t kMaxShards = 256;
constexpr size_t kMaxReplicas = 16;
constexpr size_t kMaxAuthChanges = 1024;
constexpr uint8_t kCommandVersion = 1;
constexpr uint8_t kStateVersion = 1;

Status StatusFromCode(uint8_t code, std::string message) {
  if (code == 0) return Status::OK();
  if (code > static_cast<uint8_t>(StatusCode::kCancelled)) return Status::Corruption("pd snapshot: bad status code");
  return Status(static_cast<StatusCode>(code), std::move(message));
}
}  // namespace

bool ValidCollectionName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

Status CheckCollectionMetadata(std::string_view metadata) {
  // The gateway checked it is a JSON object (as `vectron serve` does); the size is
  // checked here, deterministically, so every replica decides alike.
  if (metadata.size() > kMaxCollectionMetadataBytes)
    return Status::InvalidArgument("collection metadata of " + std::to_string(metadata.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxCollectionMetadataBytes));
  if (!metadata.empty() && metadata.front() != '{')
    return Status::InvalidArgument("collection metadata must be a JSON object");
  return Status::OK();
}

std::string EncodePdCommand(const PdCommand& c) {
  ByteWriter w;
  w.U8(kCommandVersion);
  w.U8(static_cast<uint8_t>(c.kind));
  w.U64(c.request.client);
  w.U64(c.request.seq);
  w.U64(c.request.acked_below);
  w.U64(c.worker);
  w.Bytes(c.addr);
  w.Bytes(c.name);
  w.Bytes(c.config_json);
  w.U32(c.replication);
  w.U32(static_cast<uint32_t>(c.placement.size()));
  for (const auto& replicas : c.placement) {
    w.U32(static_cast<uint32_t>(replicas.size()));
    for (uint64_t id : replicas) w.U64(id);
  }
  w.U32(static_cast<uint32_t>(c.auth_changes.size()));
  for (const AuthChange& a : c.auth_changes) {
    w.Bytes(a.key);
    w.Bool(a.value.has_value());
    w.Bytes(a.value.value_or(""));
  }
  w.U64(c.if_version);
  return w.Take();
}

Status DecodePdCommand(std::string_view data, PdCommand* out) {
  ByteReader r(data);
  PdCommand c;
  uint8_t version = r.U8();
  if (r.ok() && version != kCommandVersion) return Status::Corruption("pd command: unknown version");
  uint8_t kind = r.U8();
  if (r.ok() && (kind < 1 || kind > 11)) return Status::Corruption("pd command: unknown kind " + std::to_string(kind));
  c.kind = static_cast<PdCommand::Kind>(kind);
  c.request.client = r.U64();
  c.request.seq = r.U64();
  c.request.acked_below = r.U64();
  c.worker = r.U64();
  c.addr = r.Bytes(kMaxText);
  c.name = r.Bytes(kMaxText);
  c.config_json = r.Bytes(kMaxText);
  c.replication = r.U32();
  uint32_t shards = r.Count(kMaxShards, 4);
  c.placement.resize(shards);
  for (auto& replicas : c.placement) {
    uint32_t n = r.Count(kMaxReplicas, 8);
    for (uint32_t i = 0; i < n; ++i) replicas.push_back(r.U64());
  }
  uint32_t changes = r.Count(kMaxAuthChanges, 9);
  for (uint32_t i = 0; i < changes && r.ok(); ++i) {
    AuthChange a;
    a.key = r.Bytes(kMaxText);
    bool put = r.Bool();
    std::string v = r.Bytes(kMaxText);
    if (put) a.value = std::move(v);
    c.auth_changes.push_back(std::move(a));
  }
  c.if_version = r.U64();
  if (!r.done()) return Status::Corruption("pd command: truncated, over a limit, or trailing bytes");
  *out = std::move(c);
  return Status::OK();
}

Status PdStateMachine::Apply(const std::vector<raft::Entry>& entries) {
  for (const raft::Entry& e : entries) {
    if (e.index <= applied_) continue;
    applied_ = e.index;
    if (e.type != raft::EntryType::kNormal || e.data.empty()) continue;
    PdCommand cmd;
    Status s = DecodePdCommand(e.data, &cmd);
    if (s.ok()) {
      auto key = std::make_pair(cmd.request.client, cmd.request.seq);
      auto dup = cmd.request.empty() ? recent_.end() : recent_.find(key);
      if (dup != recent_.end()) {
        s = dup->second;  // A retry: the first outcome, nothing changes.
      } else {
        s = Execute(cmd, e.index);
        if (!cmd.request.empty()) {
          recent_[key] = s;
          recent_order_.push_back(key);
          if (recent_order_.size() > kRecentRequests) {
            recent_.erase(recent_order_.front());
            recent_order_.pop_front();
          }
        }
      }
    }
    if (!cmd.request.empty()) outcomes_.push_back(PdOutcome{cmd.request, e.index, s});
  }
  return Status::OK();
}

Status PdStateMachine::Execute(const PdCommand& c, uint64_t index) {
  switch (c.kind) {
    case PdCommand::Kind::kRegisterWorker: {
      if (c.worker == 0 || c.addr.empty()) return Status::InvalidArgument("a worker needs a nonzero id and an address");
      WorkerInfo& w = map_.workers[c.worker];
      w.id = c.worker;
      w.addr = c.addr;
      map_.version = index;
      return Status::OK();
    }
    case PdCommand::Kind::kCreateCollection: {
      if (!ValidCollectionName(c.name))
        return Status::InvalidArgument("collection name \"" + c.name + "\": use 1-64 of [A-Za-z0-9_-]");
      if (map_.collections.count(c.name)) return Status::AlreadyExists("collection \"" + c.name + "\" exists");
      Result<CollectionConfig> cfg = CollectionConfig::FromJson(c.config_json);
      if (!cfg.ok()) return cfg.status();
      VECTRON_RETURN_IF_ERROR(cfg->Validate());
      if (c.placement.size() != cfg->shards)
        return Status::InvalidArgument("placement has " + std::to_string(c.placement.size()) + " shards, config " +
                                       std::to_string(cfg->shards));
      for (const auto& replicas : c.placement) {
        if (replicas.empty() || replicas.size() != c.replication)
          return Status::InvalidArgument("every shard needs replication_factor replicas");
        std::set<uint64_t> distinct(replicas.begin(), replicas.end());
        if (distinct.size() != replicas.size()) return Status::InvalidArgument("replicas of a shard must be distinct");
        for (uint64_t w : replicas)
          if (!map_.workers.count(w)) return Status::FailedPrecondition("worker " + std::to_string(w) + " is unknown");
      }
      VECTRON_RETURN_IF_ERROR(CheckCollectionMetadata(c.addr));
      CollectionInfo info;
      info.name = c.name;
      info.config_json = c.config_json;
      info.replication = c.replication;
      info.metadata = c.addr;
      for (uint32_t s = 0; s < c.placement.size(); ++s) {
        GroupInfo g;
        g.id = next_group_id_++;
        g.collection = c.name;
        g.shard = s;
        std::tie(g.range_start, g.range_end) = InitialRange(s, static_cast<uint32_t>(c.placement.size()));
        g.replicas = c.placement[s];
        std::sort(g.replicas.begin(), g.replicas.end());
        info.groups.push_back(g.id);
        map_.groups[g.id] = std::move(g);
      }
      map_.collections[c.name] = std::move(info);
      map_.version = index;
      return Status::OK();
    }
    case PdCommand::Kind::kDropCollection: {
      auto it = map_.collections.find(c.name);
      if (it == map_.collections.end()) return Status::NotFound("collection \"" + c.name + "\" does not exist");
      // Its groups, with any being split off (not yet in its list).
      std::erase_if(map_.groups, [&](const auto& g) { return g.second.collection == c.name; });
      map_.collections.erase(it);
      map_.version = index;
      return Status::OK();
    }
    case PdCommand::Kind::kRenameCollection: {
      // The shard groups keep their ids, data and replicas: only the name that routes to
      // them changes, at once for every gateway that reads this map.
      const std::string& to = c.addr;
      auto it = map_.collections.find(c.name);
      if (it == map_.collections.end()) return Status::NotFound("collection \"" + c.name + "\" does not exist");
      if (!ValidCollectionName(to))
        return Status::InvalidArgument("collection name \"" + to + "\": use 1-64 of [A-Za-z0-9_-]");
      if (map_.collections.count(to)) return Status::AlreadyExists("collection \"" + to + "\" exists");
      CollectionInfo info = std::move(it->second);
      map_.collections.erase(it);
      info.name = to;
      for (auto& [id, g] : map_.groups)
        if (g.collection == c.name) g.collection = to;
      map_.collections[to] = std::move(info);
      map_.version = index;
      return Status::OK();
    }
    case PdCommand::Kind::kSetCollectionMetadata: {
      auto it = map_.collections.find(c.name);
      if (it == map_.collections.end()) return Status::NotFound("collection \"" + c.name + "\" does not exist");
      VECTRON_RETURN_IF_ERROR(CheckCollectionMetadata(c.addr));
      it->second.metadata = c.addr;
      map_.version = index;
      return Status::OK();
    }
    case PdCommand::Kind::kSetDefaultRerank: {
      // Validated by the gateway that proposed it (ParseRerankPipeline, canonical form):
      // stored as given, so every PD replica holds the same text.
      auto it = map_.collections.find(c.name);
      if (it == map_.collections.end()) return Status::NotFound("collection \"" + c.name + "\" does not exist");
      if (!c.addr.empty() && c.addr.front() != '{')
        return Status::InvalidArgument("a default rerank pipeline must be a JSON object");
      it->second.rerank = c.addr;
      map_.version = index;
      return Status::OK();
    }
    case PdCommand::Kind::kSetGroupTarget: {
      auto it = map_.groups.find(c.worker);
      if (it == map_.groups.end()) return Status::NotFound("group " + std::to_string(c.worker) + " does not exist");
      if (c.placement.size() != 1) return Status::InvalidArgument("a group target is one list of workers");
      std::vector<uint64_t> target = c.placement[0];
      std::sort(target.begin(), target.end());
      if (std::adjacent_find(target.begin(), target.end()) != target.end())
        return Status::InvalidArgument("the target replicas of a group must be distinct");
      for (uint64_t w : target)
        if (!map_.workers.count(w)) return Status::FailedPrecondition("worker " + std::to_string(w) + " is unknown");
      GroupInfo& g = it->second;
      if (!target.empty() && target.size() != map_.collections.at(g.collection).replication)
        return Status::InvalidArgument("a group target needs replication_factor workers");
      g.target = target == g.replicas ? std::vector<uint64_t>{} : std::move(target);
      map_.version = index;
      return Status::OK();
    }
    case PdCommand::Kind::kSetGroupConf: {
      auto it = map_.groups.find(c.worker);
      if (it == map_.groups.end()) return Status::NotFound("group " + std::to_string(c.worker) + " does not exist");
      if (c.placement.size() != 2 || c.placement[0].empty())
        return Status::InvalidArgument("a group membership is a nonempty list of voters and a list of learners");
      GroupInfo& g = it->second;
      if (c.if_version <= g.conf_index) return Status::OK();  // An older report: nothing to record.
      std::vector<uint64_t> voters = c.placement[0], learners = c.placement[1];
      std::sort(voters.begin(), voters.end());
      std::sort(learners.begin(), learners.end());
      g.replicas = std::move(voters);
      g.learners = std::move(learners);
      g.conf_index = c.if_version;
      if (g.target == g.replicas && g.learners.empty()) g.target.clear();  // The move is done.
      map_.version = index;
      return Status::OK();
    }
    case PdCommand::Kind::kStartSplit: {
      auto it = map_.groups.find(c.worker);
      if (it == map_.groups.end()) return Status::NotFound("group " + std::to_string(c.worker) + " does not exist");
      GroupInfo& g = it->second;
      if (g.split_from != 0) return Status::FailedPrecondition("group " + std::to_string(g.id) + " is being split off");
      for (const auto& [id, other] : map_.groups)
        if (other.split_from == g.id) return Status::FailedPrecondition("group " + std::to_string(g.id) + " is being split");
      if (!g.target.empty() || !g.learners.empty())
        return Status::FailedPrecondition("group " + std::to_string(g.id) + " is being moved");
      const uint64_t key = c.if_version;
      if (key <= g.range_start || (g.range_end != 0 && key >= g.range_end))
        return Status::InvalidArgument("the cut is not inside group " + std::to_string(g.id) + "'s range");
      GroupInfo n;
      n.id = next_group_id_++;
      n.collection = g.collection;
      auto col = map_.collections.find(g.collection);
      n.shard = col == map_.collections.end() ? 0 : static_cast<uint32_t>(col->second.groups.size());
      n.epoch = 1;
      n.replicas = g.replicas;
      n.conf_index = 1;  // Never founded from the map: made by the split, or joined empty.
      n.range_start = key;
      n.range_end = g.range_end;
      n.split_from = g.id;
      map_.groups[n.id] = std::move(n);
      map_.version = index;
      return Status::OK();
    }
    case PdCommand::Kind::kFinishSplit: {
      auto it = map_.groups.find(c.worker);
      if (it == map_.groups.end() || it->second.split_from == 0) return Status::OK();  // Done before.
      GroupInfo& n = it->second;
      auto parent = map_.groups.find(n.split_from);
      auto col = map_.collections.find(n.collection);
      if (parent == map_.groups.end() || col == map_.collections.end())
        return Status::FailedPrecondition("group " + std::to_string(n.id) + "'s parent is gone");
      parent->second.range_end = n.range_start;
      parent->second.epoch = std::max(parent->second.epoch + 1, c.if_version);
      n.split_from = 0;
      // The collection's groups stay sorted by range: the new one right after its parent.
      auto& groups = col->second.groups;
      auto pos = std::find(groups.begin(), groups.end(), parent->first);
      groups.insert(pos == groups.end() ? pos : pos + 1, n.id);
      map_.version = index;
      return Status::OK();
    }
    case PdCommand::Kind::kAuthWrite: {
      if (c.if_version != 0 && c.if_version != auth_version_)
        return Status::Aborted("auth records changed (version " + std::to_string(auth_version_) + ", expected " +
                               std::to_string(c.if_version) + ")");
      for (const AuthChange& a : c.auth_changes)
        if (a.key.empty()) return Status::InvalidArgument("an auth record needs a key");
      for (const AuthChange& a : c.auth_changes) {
        if (a.value) auth_[a.key] = *a.value;
        else auth_.erase(a.key);
      }
      auth_version_ = index;
      map_.auth_version = index;
      return Status::OK();
    }
  }
  return Status::Internal("unreachable");
}

std::vector<PdOutcome> PdStateMachine::TakeOutcomes() {
  std::vector<PdOutcome> out;
  out.swap(outcomes_);
  return out;
}

Result<std::string> PdStateMachine::SnapshotData(uint64_t index) {
  if (index != applied_)
    return Status::FailedPrecondition("pd snapshot at " + std::to_string(index) + " but applied " +
                                      std::to_string(applied_));
  ByteWriter w;
  w.U8(kStateVersion);
  w.Bytes(EncodeClusterMap(map_));
  w.U64(next_group_id_);
  w.U64(auth_version_);
  w.U32(static_cast<uint32_t>(auth_.size()));
  for (const auto& [k, v] : auth_) {
    w.Bytes(k);
    w.Bytes(v);
  }
  w.U32(static_cast<uint32_t>(recent_order_.size()));
  for (const auto& key : recent_order_) {
    const Status& s = recent_.at(key);
    w.U64(key.first);
    w.U64(key.second);
    w.U8(static_cast<uint8_t>(s.code()));
    w.Bytes(s.message());
  }
  return w.Take();
}

Status PdStateMachine::InstallSnapshot(const raft::Snapshot& snap) {
  PdStateMachine fresh;
  if (!snap.data.empty()) {
    ByteReader r(snap.data);
    if (r.U8() != kStateVersion && r.ok()) return Status::Corruption("pd snapshot: unknown version");
    VECTRON_RETURN_IF_ERROR(DecodeClusterMap(r.Bytes(UINT32_MAX), &fresh.map_));
    fresh.next_group_id_ = r.U64();
    fresh.auth_version_ = r.U64();
    uint32_t n = r.Count(UINT32_MAX, 8);
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      std::string k = r.Bytes(kMaxText);
      fresh.auth_[k] = r.Bytes(kMaxText);
    }
    n = r.Count(kRecentRequests, 21);
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      uint64_t client = r.U64();
      uint64_t seq = r.U64();
      auto key = std::make_pair(client, seq);
      uint8_t code = r.U8();
      fresh.recent_[key] = StatusFromCode(code, r.Bytes(kMaxText));
      fresh.recent_order_.push_back(key);
    }
    if (!r.done()) return Status::Corruption("pd snapshot: truncated or trailing bytes");
  }
  fresh.applied_ = snap.metadata.index;
  *this = std::move(fresh);
  return Status::OK();
}

}  // namespace vectron::net::cluster
