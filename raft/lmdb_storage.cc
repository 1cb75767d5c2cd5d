#include "raft/lmdb_storage.h"

#include <map>

#include "raft/lmdb_internal.h"

namespace vectron::raft {

using lmdb_internal::Env;
using lmdb_internal::GroupState;
using lmdb_internal::Txn;

// ---------------------------------------------------------------------------------------------
// LmdbStorage: one group's log

LmdbStorage::LmdbStorage(std::shared_ptr<Env> env, uint64_t group) : env_(std::move(env)), group_(group) {
  env_->open_groups.insert(group_);
}

LmdbStorage::~LmdbStorage() { env_->open_groups.erase(group_); }

Status LmdbStorage::Open(const std::string& dir, const LmdbStorageOptions& options, std::unique_ptr<LmdbStorage>* out) {
  std::unique_ptr<LmdbLogStore> store;
  Status s = LmdbLogStore::Open(dir, options, &store);
  if (!s.ok()) return s;
  return store->OpenGroup(kSingleGroupId, out);  // The handle keeps the environment alive.
}

Status LmdbStorage::InitialState(HardState* hs, ConfState* cs) {
  *hs = hs_;
  *cs = snap_.conf_state;
  return Status::Ok();
}

uint64_t LmdbStorage::FirstIndex() { return snap_.index + 1; }
uint64_t LmdbStorage::LastIndex() { return last_; }

Status LmdbStorage::Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes, std::vector<Entry>* out) {
  return lmdb_internal::ReadEntries(*env_, group_, GroupState{hs_, snap_, last_, tombstone_}, lo, hi, max_bytes, out);
}

Status LmdbStorage::Term(uint64_t i, uint64_t* term) {
  return lmdb_internal::ReadTerm(*env_, group_, GroupState{hs_, snap_, last_, tombstone_}, i, term);
}

Status LmdbStorage::GetSnapshot(Snapshot* out) {
  out->metadata = snap_;
  out->data.clear();
  if (snap_.index == 0) return Status::Ok();
  return lmdb_internal::ReadSnapshotData(*env_, group_, &out->data);
}

Status LmdbStorage::SetHardState(const HardState& hs) { return Save({}, hs); }

Status LmdbStorage::Append(const std::vector<Entry>& entries) { return Save(entries, std::nullopt); }

Status LmdbStorage::Save(const std::vector<Entry>& entries, const std::optional<HardState>& hs) {
  LogWriteBatch b;
  b.Save(this, entries, hs);
  return Commit(*env_, b);
}

Status LmdbStorage::ApplySnapshot(const Snapshot& snap) {
  LogWriteBatch b;
  b.ApplySnapshot(this, snap);
  return Commit(*env_, b);
}

Status LmdbStorage::CreateSnapshot(uint64_t index, const ConfState& cs, std::string data,
                                   uint64_t durable_applied_index) {
  LogWriteBatch b;
  b.CreateSnapshot(this, index, cs, std::move(data), durable_applied_index);
  return Commit(*env_, b);
}

Status LmdbStorage::Commit(Env& env, LogWriteBatch& batch) {
  if (batch.empty()) return Status::Ok();
  for (const LogWriteBatch::Op& op : batch.ops_) {
    if (op.group == nullptr || op.group->env_.get() != &env)
      return Status(Error::kInvalidArgument, "LogWriteBatch names a group of another store (or null)");
  }
  Txn txn;
  Status s = txn.Begin(env.env, true);
  if (!s.ok()) return s;
  // Each group's state as of the operations so far; installed only once the commit succeeds.
  std::map<LmdbStorage*, GroupState> next;
  for (const LogWriteBatch::Op& op : batch.ops_) {
    LmdbStorage* g = op.group;
    auto it = next.try_emplace(g, GroupState{g->hs_, g->snap_, g->last_, g->tombstone_}).first;
    switch (op.kind) {
      case LogWriteBatch::Kind::kSave:
        s = lmdb_internal::SaveIn(env, txn.get(), g->group_, it->second, op.entries, op.hs ? &*op.hs : nullptr);
        break;
      case LogWriteBatch::Kind::kApplySnapshot:
        s = lmdb_internal::ApplySnapshotIn(env, txn.get(), g->group_, it->second, op.snap);
        break;
      case LogWriteBatch::Kind::kCreateSnapshot:
        s = lmdb_internal::CreateSnapshotIn(env, txn.get(), g->group_, it->second, op.snap.metadata.index,
                                            op.snap.metadata.conf_state, op.snap.data, op.durable_applied);
        break;
    }
    if (!s.ok()) return Status(s.code(), "group " + std::to_string(g->group_) + ": " + s.message());
  }
  if (!(s = txn.Commit()).ok()) return s;
  for (auto& [g, st] : next) {
    g->hs_ = st.hs;
    g->snap_ = st.snap;
    g->last_ = st.last;
    g->tombstone_ = st.tombstone;
  }
  batch.Clear();
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// LogWriteBatch

void LogWriteBatch::Save(LmdbStorage* group, std::vector<Entry> entries, std::optional<HardState> hs) {
  if (entries.empty() && !hs) return;
  ops_.push_back(Op{Kind::kSave, group, std::move(entries), hs, {}, 0});
}

void LogWriteBatch::ApplySnapshot(LmdbStorage* group, Snapshot snap) {
  ops_.push_back(Op{Kind::kApplySnapshot, group, {}, std::nullopt, std::move(snap), 0});
}

void LogWriteBatch::CreateSnapshot(LmdbStorage* group, uint64_t index, ConfState cs, std::string data,
                                   uint64_t durable_applied_index) {
  Snapshot snap;
  snap.metadata.index = index;
  snap.metadata.conf_state = std::move(cs);
  snap.data = std::move(data);
  ops_.push_back(Op{Kind::kCreateSnapshot, group, {}, std::nullopt, std::move(snap), durable_applied_index});
}

// ---------------------------------------------------------------------------------------------
// LmdbLogStore: many groups in one environment

LmdbLogStore::LmdbLogStore(std::shared_ptr<Env> env) : env_(std::move(env)) {}
LmdbLogStore::~LmdbLogStore() = default;

Status LmdbLogStore::Open(const std::string& dir, const LmdbStorageOptions& options, std::unique_ptr<LmdbLogStore>* out) {
  std::shared_ptr<Env> env;
  Status s = lmdb_internal::OpenEnv(dir, options, &env);
  if (!s.ok()) return s;
  out->reset(new LmdbLogStore(std::move(env)));
  return Status::Ok();
}

Status LmdbLogStore::OpenGroup(uint64_t group_id, std::unique_ptr<LmdbStorage>* out) {
  if (env_->open_groups.count(group_id))
    return Status(Error::kInvalidArgument, "group " + std::to_string(group_id) + " of " + env_->dir + " is already open");
  GroupState st;
  Status s = lmdb_internal::LoadGroup(*env_, group_id, &st);
  if (!s.ok()) return s;
  std::unique_ptr<LmdbStorage> g(new LmdbStorage(env_, group_id));
  g->hs_ = st.hs;
  g->snap_ = st.snap;
  g->last_ = st.last;
  g->tombstone_ = st.tombstone;
  g->dropped_end_ = st.dropped_end;
  *out = std::move(g);
  return Status::Ok();
}

Status LmdbLogStore::Write(LogWriteBatch& batch) { return LmdbStorage::Commit(*env_, batch); }

Status LmdbLogStore::ListGroups(std::vector<uint64_t>* out) { return lmdb_internal::ListGroups(*env_, out); }

Status LmdbLogStore::DropGroup(uint64_t group_id) {
  if (env_->open_groups.count(group_id))
    return Status(Error::kInvalidArgument, "group " + std::to_string(group_id) + " is open: close its handle first");
  Txn txn;
  Status s = txn.Begin(env_->env, true);
  if (!s.ok()) return s;
  if (!(s = lmdb_internal::DropGroupIn(*env_, txn.get(), group_id)).ok()) return s;
  return txn.Commit();
}

}  // namespace vectron::raft
