#include "net/cluster/group_log_store.h"

namespace vectron::net::cluster {

raft::Status LmdbGroupLogStore::Open(const std::string& dir, const raft::LmdbStorageOptions& options,
                                     std::unique_ptr<LmdbGroupLogStore>* out) {
  std::unique_ptr<raft::LmdbLogStore> store;
  raft::Status s = raft::LmdbLogStore::Open(dir, options, &store);
  if (!s.ok()) return s;
  out->reset(new LmdbGroupLogStore(std::move(store)));
  return raft::Status::Ok();
}

raft::Status LmdbGroupLogStore::OpenGroup(uint64_t group, raft::LogStorage** out) {
  auto it = groups_.find(group);
  if (it == groups_.end()) {
    std::unique_ptr<raft::LmdbStorage> g;
    raft::Status s = store_->OpenGroup(group, &g);
    if (!s.ok()) return s;
    it = groups_.emplace(group, std::move(g)).first;
  }
  *out = it->second.get();
  return raft::Status::Ok();
}

raft::Status LmdbGroupLogStore::Write(std::vector<GroupWrite>& writes) {
  raft::LogWriteBatch batch;
  for (GroupWrite& w : writes) {
    auto it = groups_.find(w.group);
    if (it == groups_.end())
      return raft::Status(raft::Error::kInvalidArgument, "write to group " + std::to_string(w.group) + " that is not open");
    raft::LmdbStorage* g = it->second.get();
    switch (w.kind) {
      case GroupWrite::Kind::kSave:
        batch.Save(g, std::move(w.entries), w.hs);
        break;
      case GroupWrite::Kind::kApplySnapshot:
        batch.ApplySnapshot(g, std::move(w.snapshot));
        break;
      case GroupWrite::Kind::kCreateSnapshot:
        batch.CreateSnapshot(g, w.snapshot.metadata.index, w.snapshot.metadata.conf_state, std::move(w.snapshot.data),
                             w.durable_applied_index);
        break;
    }
  }
  writes.clear();
  if (batch.empty()) return raft::Status::Ok();
  return store_->Write(batch);
}

raft::Status LmdbGroupLogStore::ListGroups(std::vector<uint64_t>* out) { return store_->ListGroups(out); }

raft::Status LmdbGroupLogStore::DropGroup(uint64_t group) {
  groups_.erase(group);
  return store_->DropGroup(group);
}

}  // namespace vectron::net::cluster
