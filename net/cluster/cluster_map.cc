#include "net/cluster/cluster_map.h"

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <tuple>

#include "net/cluster/codec.h"

namespace vectron::net::cluster {

bool GroupInfo::Places(uint64_t worker) const {
  auto has = [worker](const std::vector<uint64_t>& v) { return std::find(v.begin(), v.end(), worker) != v.end(); };
  return has(replicas) || has(learners) || has(target);
}

const GroupInfo* ClusterMap::GroupOf(std::string_view collection, uint32_t shard) const {
  auto it = collections.find(std::string(collection));
  if (it == collections.end() || shard >= it->second.groups.size()) return nullptr;
  auto g = groups.find(it->second.groups[shard]);
  return g == groups.end() ? nullptr : &g->second;
}

std::string ClusterMap::ToString() const {
  std::ostringstream os;
  os << "map v" << version << " pd=[";
  for (size_t i = 0; i < pd_members.size(); ++i) os << (i ? " " : "") << pd_members[i];
  os << "] leader=" << pd_leader << "\n";
  for (const auto& [id, w] : workers) os << "  worker " << id << " " << w.addr << (w.alive ? " alive" : " DEAD") << "\n";
  for (const auto& [name, c] : collections) {
    os << "  collection " << name << " replication=" << c.replication << "\n";
    for (size_t s = 0; s < c.groups.size(); ++s) {
      auto g = groups.find(c.groups[s]);
      if (g == groups.end()) continue;
      os << "    shard " << s << ": group " << g->first << " epoch " << g->second.epoch << " replicas [";
      for (size_t i = 0; i < g->second.replicas.size(); ++i) os << (i ? " " : "") << g->second.replicas[i];
      os << "]";
      if (!g->second.learners.empty()) {
        os << " learners [";
        for (size_t i = 0; i < g->second.learners.size(); ++i) os << (i ? " " : "") << g->second.learners[i];
        os << "]";
      }
      if (!g->second.target.empty()) {
        os << " moving to [";
        for (size_t i = 0; i < g->second.target.size(); ++i) os << (i ? " " : "") << g->second.target[i];
        os << "]";
      }
      os << " leader " << g->second.leader << "\n";
    }
  }
  return os.str();
}

namespace {
constexpr size_t kMaxName = 1 << 10;
constexpr size_t kMaxConfig = 1 << 16;
constexpr size_t kMaxItems = 1 << 20;

void PutIds(ByteWriter& w, const std::vector<uint64_t>& ids) {
  w.U32(static_cast<uint32_t>(ids.size()));
  for (uint64_t id : ids) w.U64(id);
}
std::vector<uint64_t> GetIds(ByteReader& r) {
  uint32_t n = r.Count(kMaxItems, 8);
  std::vector<uint64_t> ids(n);
  for (uint64_t& id : ids) id = r.U64();
  return ids;
}
}  // namespace

std::string EncodeClusterMap(const ClusterMap& m) {
  ByteWriter w;
  // Format version (2: a metadata section follows auth_version; 3: then a rerank section;
  // 4: then a membership section).
  w.U8(4);
  w.U64(m.version);
  PutIds(w, m.pd_members);
  w.U64(m.pd_leader);
  w.U32(static_cast<uint32_t>(m.workers.size()));
  for (const auto& [id, wi] : m.workers) {
    w.U64(id);
    w.Bytes(wi.addr);
    w.Bool(wi.alive);
  }
  w.U32(static_cast<uint32_t>(m.collections.size()));
  for (const auto& [name, c] : m.collections) {
    w.Bytes(name);
    w.Bytes(c.config_json);
    w.U32(c.replication);
    PutIds(w, c.groups);
  }
  w.U32(static_cast<uint32_t>(m.groups.size()));
  for (const auto& [id, g] : m.groups) {
    w.U64(id);
    w.Bytes(g.collection);
    w.U32(g.shard);
    w.U64(g.epoch);
    PutIds(w, g.replicas);
    w.U64(g.leader);
  }
  w.U64(m.auth_version);
  uint32_t with_metadata = 0;
  for (const auto& [name, c] : m.collections) with_metadata += c.metadata.empty() ? 0 : 1;
  w.U32(with_metadata);
  for (const auto& [name, c] : m.collections) {
    if (c.metadata.empty()) continue;
    w.Bytes(name);
    w.Bytes(c.metadata);
  }
  uint32_t with_rerank = 0;
  for (const auto& [name, c] : m.collections) with_rerank += c.rerank.empty() ? 0 : 1;
  w.U32(with_rerank);
  for (const auto& [name, c] : m.collections) {
    if (c.rerank.empty()) continue;
    w.Bytes(name);
    w.Bytes(c.rerank);
  }
  uint32_t changed = 0;
  for (const auto& [id, g] : m.groups) changed += (g.learners.empty() && g.target.empty() && g.conf_index == 0) ? 0 : 1;
  w.U32(changed);
  for (const auto& [id, g] : m.groups) {
    if (g.learners.empty() && g.target.empty() && g.conf_index == 0) continue;
    w.U64(id);
    PutIds(w, g.learners);
    PutIds(w, g.target);
    w.U64(g.conf_index);
  }
  uint32_t with_applied = 0;
  for (const auto& [id, g] : m.groups) with_applied += g.applied.empty() ? 0 : 1;
  w.U32(with_applied);
  for (const auto& [id, g] : m.groups) {
    if (g.applied.empty()) continue;
    w.U64(id);
    w.U32(static_cast<uint32_t>(g.applied.size()));
    for (const auto& [worker, index] : g.applied) {
      w.U64(worker);
      w.U64(index);
    }
  }
  // Every group's range and split state.
  for (const auto& [id, g] : m.groups) {
    w.U64(g.range_start);
    w.U64(g.range_end);
    w.U64(g.split_from);
  }
  return w.Take();
}

Status DecodeClusterMap(std::string_view data, ClusterMap* out) {
  ByteReader r(data);
  ClusterMap m;
  const uint8_t format = r.U8();
  if ((format < 1 || format > 4) && r.ok()) return Status::Corruption("cluster map: unknown format version");
  m.version = r.U64();
  m.pd_members = GetIds(r);
  m.pd_leader = r.U64();
  uint32_t n = r.Count(kMaxItems, 13);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    WorkerInfo wi;
    wi.id = r.U64();
    wi.addr = r.Bytes(kMaxName);
    wi.alive = r.Bool();
    m.workers[wi.id] = std::move(wi);
  }
  n = r.Count(kMaxItems, 16);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    CollectionInfo c;
    c.name = r.Bytes(kMaxName);
    c.config_json = r.Bytes(kMaxConfig);
    c.replication = r.U32();
    c.groups = GetIds(r);
    m.collections[c.name] = std::move(c);
  }
  n = r.Count(kMaxItems, 36);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    GroupInfo g;
    g.id = r.U64();
    g.collection = r.Bytes(kMaxName);
    g.shard = r.U32();
    g.epoch = r.U64();
    g.replicas = GetIds(r);
    g.leader = r.U64();
    m.groups[g.id] = std::move(g);
  }
  m.auth_version = r.U64();
  if (format >= 2) {
    n = r.Count(kMaxItems, 8);
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      std::string name = r.Bytes(kMaxName);
      std::string metadata = r.Bytes(kMaxConfig);
      auto it = m.collections.find(name);
      if (r.ok() && it == m.collections.end()) return Status::Corruption("cluster map: metadata of an unknown collection");
      if (r.ok()) it->second.metadata = std::move(metadata);
    }
  }
  if (format >= 3) {
    n = r.Count(kMaxItems, 8);
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      std::string name = r.Bytes(kMaxName);
      std::string rerank = r.Bytes(kMaxConfig);
      auto it = m.collections.find(name);
      if (r.ok() && it == m.collections.end())
        return Status::Corruption("cluster map: a rerank pipeline of an unknown collection");
      if (r.ok()) it->second.rerank = std::move(rerank);
    }
  }
  if (format >= 4) {
    n = r.Count(kMaxItems, 24);
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      uint64_t id = r.U64();
      std::vector<uint64_t> learners = GetIds(r);
      std::vector<uint64_t> target = GetIds(r);
      uint64_t conf_index = r.U64();
      auto it = m.groups.find(id);
      if (r.ok() && it == m.groups.end()) return Status::Corruption("cluster map: membership of an unknown group");
      if (!r.ok()) break;
      it->second.learners = std::move(learners);
      it->second.target = std::move(target);
      it->second.conf_index = conf_index;
    }
    n = r.Count(kMaxItems, 12);
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      uint64_t id = r.U64();
      uint32_t k = r.Count(kMaxItems, 16);
      std::map<uint64_t, uint64_t> applied;
      for (uint32_t j = 0; j < k && r.ok(); ++j) {
        uint64_t worker = r.U64();
        applied[worker] = r.U64();
      }
      auto it = m.groups.find(id);
      if (r.ok() && it == m.groups.end()) return Status::Corruption("cluster map: progress of an unknown group");
      if (r.ok()) it->second.applied = std::move(applied);
    }
    for (auto& [id, g] : m.groups) {
      g.range_start = r.U64();
      g.range_end = r.U64();
      g.split_from = r.U64();
    }
  } else {
    // Before ranges: each collection's groups are its initial shards.
    for (const auto& [name, c] : m.collections)
      for (uint32_t i = 0; i < c.groups.size(); ++i)
        if (auto g = m.groups.find(c.groups[i]); g != m.groups.end())
          std::tie(g->second.range_start, g->second.range_end) = InitialRange(i, static_cast<uint32_t>(c.groups.size()));
  }
  if (!r.done()) return Status::Corruption("cluster map: truncated, over a limit, or trailing bytes");
  *out = std::move(m);
  return Status::OK();
}

std::string EncodeGroupAssignment(const GroupAssignment& a) {
  ByteWriter w;
  w.U8(2);  // Version 2 added learners, conf_index and target after config_json.
  w.U64(a.group.id);
  w.Bytes(a.group.collection);
  w.U32(a.group.shard);
  w.U64(a.group.epoch);
  w.U32(static_cast<uint32_t>(a.group.replicas.size()));
  for (uint64_t r : a.group.replicas) w.U64(r);
  w.Bytes(a.config_json);
  PutIds(w, a.group.learners);
  w.U64(a.group.conf_index);
  PutIds(w, a.group.target);
  w.U64(a.group.range_start);
  w.U64(a.group.range_end);
  w.U64(a.group.split_from);
  w.U64(a.bootstrap_index);
  return w.Take();
}

Status DecodeGroupAssignment(std::string_view data, GroupAssignment* out) {
  ByteReader r(data);
  GroupAssignment a;
  const uint8_t version = r.U8();
  if ((version < 1 || version > 2) && r.ok()) return Status::Corruption("group metadata: unknown version");
  a.group.id = r.U64();
  a.group.collection = r.Bytes(kMaxConfig);
  a.group.shard = r.U32();
  a.group.epoch = r.U64();
  uint32_t n = r.Count(64, 8);
  for (uint32_t i = 0; i < n; ++i) a.group.replicas.push_back(r.U64());
  a.config_json = r.Bytes(kMaxConfig);
  if (version >= 2) {
    a.group.learners = GetIds(r);
    a.group.conf_index = r.U64();
    a.group.target = GetIds(r);
    a.group.range_start = r.U64();
    a.group.range_end = r.U64();
    a.group.split_from = r.U64();
    a.bootstrap_index = r.U64();
  }
  if (!r.done()) return Status::Corruption("group metadata: truncated or trailing bytes");
  *out = std::move(a);
  return Status::OK();
}


std::pair<uint64_t, uint64_t> InitialRange(uint32_t i, uint32_t n) {
  const uint64_t w = UINT64_MAX / std::max<uint32_t>(n, 1);
  return {i * w, i + 1 >= n ? 0 : (i + 1) * w};
}

std::pair<uint64_t, uint64_t> FoundingRange(const GroupInfo& g, uint32_t n) {
  n = std::max<uint32_t>(n, 1);
  const uint64_t w = UINT64_MAX / n;
  return InitialRange(static_cast<uint32_t>(std::min<uint64_t>(g.range_start / w, n - 1)), n);
}

uint64_t RangeMiddle(uint64_t start, uint64_t end) {
  const uint64_t len = end == 0 ? (start == 0 ? UINT64_MAX : 0 - start) : end - start;
  return start + len / 2;
}

uint32_t ClusterMap::ShardIndexOfKey(const CollectionInfo& c, uint64_t key) const {
  // The last group whose range starts at or below the key.
  uint32_t lo = 0, hi = static_cast<uint32_t>(c.groups.size());
  while (hi - lo > 1) {
    uint32_t mid = (lo + hi) / 2;
    auto g = groups.find(c.groups[mid]);
    if (g != groups.end() && g->second.range_start <= key) lo = mid;
    else hi = mid;
  }
  return lo;
}

}  // namespace vectron::net::cluster
