#include "net/cluster/cluster_map.h"

#include <sstream>

namespace vectron::net::cluster {

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
      os << "] leader " << g->second.leader << "\n";
    }
  }
  return os.str();
}

uint32_t ShardOfId(std::string_view id, uint32_t shards) {
  // FNV-1a 64 (docs/formats/storage.md): must equal Collection::ShardOf.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return shards == 0 ? 0 : static_cast<uint32_t>(h % shards);
}

}  // namespace vectron::net::cluster
