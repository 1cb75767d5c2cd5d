// SimLogStore: the GroupLogStore of a simulated node. One raft::MemoryStorage per group plays
// "the disk": it survives a simulated crash (the store object is kept), and everything else
// of the node is lost. Every Write is a sync, so a crash loses exactly the Readys that had
// not been written (the loop in progress).
#pragma once

#include <algorithm>
#include <map>
#include <memory>

#include "net/cluster/group_log_store.h"
#include "raft/memory_storage.h"

namespace vectron::net::cluster::sim {

class SimLogStore final : public GroupLogStore {
 public:
  raft::Status OpenGroup(uint64_t group, raft::LogStorage** out) override {
    auto& g = groups_[group];
    if (!g) {
      g = std::make_unique<raft::MemoryStorage>();
      // A group dropped here before starts from its tombstone, rejoined empty until its
      // first entry or snapshot (the MemoryStorage is the disk, so the tombstone lives on
      // in it and can go).
      auto t = tombstones_.find(group);
      if (t != tombstones_.end()) {
        raft::Status s = g->SetHardState(raft::HardState{t->second.hs.term, t->second.hs.vote, 0});
        if (!s.ok()) return s;
        g->MarkRejoined(t->second.end);
        tombstones_.erase(t);
        ++tombstones_restored_;
      }
    }
    *out = g.get();
    return raft::Status::Ok();
  }
  raft::Status Write(std::vector<GroupWrite>& writes) override {
    ++syncs_;
    for (GroupWrite& w : writes) {
      auto it = groups_.find(w.group);
      if (it == groups_.end()) return raft::Status(raft::Error::kInvalidArgument, "group not open");
      raft::MemoryStorage& st = *it->second;
      raft::Status s;
      switch (w.kind) {
        case GroupWrite::Kind::kSave:
          if (!w.entries.empty()) s = st.Append(w.entries);
          if (s.ok() && w.hs) s = st.SetHardState(*w.hs);
          break;
        case GroupWrite::Kind::kApplySnapshot:
          s = st.ApplySnapshot(w.snapshot);
          break;
        case GroupWrite::Kind::kCreateSnapshot:
          s = st.CreateSnapshot(w.snapshot.metadata.index, w.snapshot.metadata.conf_state, w.snapshot.data,
                                w.durable_applied_index);
          break;
      }
      if (!s.ok()) return raft::Status(s.code(), "group " + std::to_string(w.group) + ": " + s.message());
    }
    writes.clear();
    return raft::Status::Ok();
  }
  raft::Status ListGroups(std::vector<uint64_t>* out) override {
    out->clear();
    for (auto& [id, g] : groups_) out->push_back(id);
    return raft::Status::Ok();
  }
  // Keeps the group's term, vote and log end, as LmdbLogStore::DropGroup does.
  raft::Status DropGroup(uint64_t group) override {
    auto it = groups_.find(group);
    if (it == groups_.end()) return raft::Status::Ok();
    raft::HardState hs;
    raft::ConfState cs;
    raft::Status s = it->second->InitialState(&hs, &cs);
    if (!s.ok()) return s;
    raft::LogEnd end = it->second->End();
    // A group reopened from its tombstone that got nothing since keeps that tombstone's
    // end (this store erased the tombstone at the reopen; the storage still knows it).
    if (it->second->RejoinedEmpty()) end = std::max(end, it->second->DroppedLogEnd());
    auto t = tombstones_.find(group);
    if (t != tombstones_.end()) {
      if (t->second.hs.term > hs.term) hs = t->second.hs;
      end = std::max(end, t->second.end);
    }
    if (hs.term > 0) tombstones_[group] = Tombstone{raft::HardState{hs.term, hs.vote, 0}, end};
    groups_.erase(it);
    return raft::Status::Ok();
  }
  // A dropped group's term and vote, and where its log ended.
  struct Tombstone {
    raft::HardState hs;
    raft::LogEnd end;
  };
  const std::map<uint64_t, Tombstone>& tombstones() const { return tombstones_; }
  // The group's storage, or nullptr (checkers).
  raft::MemoryStorage* group(uint64_t id) {
    auto it = groups_.find(id);
    return it == groups_.end() ? nullptr : it->second.get();
  }
  uint64_t syncs() const { return syncs_; }
  // Groups opened again from a tombstone (a replica hosted again after a drop).
  uint64_t tombstones_restored() const { return tombstones_restored_; }

 private:
  std::map<uint64_t, std::unique_ptr<raft::MemoryStorage>> groups_;
  std::map<uint64_t, Tombstone> tombstones_;
  uint64_t syncs_ = 0;
  uint64_t tombstones_restored_ = 0;
};

}  // namespace vectron::net::cluster::sim
