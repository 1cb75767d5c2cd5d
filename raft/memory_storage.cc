#include "raft/memory_storage.h"

namespace vectron::raft {

Status Bootstrap(LogStorage& storage, const ConfState& cs, std::string data, uint64_t index) {
  if (index == 0) return Status(Error::kInvalidArgument, "Bootstrap: index 0");
  if (storage.LastIndex() != 0) return Status(Error::kInvalidArgument, "Bootstrap: storage is not empty");
  if (cs.voters.empty()) return Status(Error::kInvalidArgument, "Bootstrap: no voters");
  Snapshot snap;
  snap.metadata.index = index;
  snap.metadata.term = 1;
  snap.metadata.conf_state = cs;
  snap.data = std::move(data);
  Status s = storage.ApplySnapshot(snap);
  if (!s.ok()) return s;
  return storage.SetHardState(HardState{1, kNone, index});
}

MemoryStorage::MemoryStorage() { ents_.push_back(Entry{}); }

Status MemoryStorage::InitialState(HardState* hs, ConfState* cs) {
  *hs = hs_;
  *cs = snap_.metadata.conf_state;
  return Status::Ok();
}

uint64_t MemoryStorage::FirstIndex() { return ents_[0].index + 1; }
uint64_t MemoryStorage::LastIndex() { return ents_[0].index + ents_.size() - 1; }

Status MemoryStorage::Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes, std::vector<Entry>* out) {
  uint64_t offset = ents_[0].index;
  if (lo <= offset) return Status(Error::kCompacted, "entries below " + std::to_string(offset + 1) + " compacted");
  if (hi > LastIndex() + 1) return Status(Error::kUnavailable, "entries beyond " + std::to_string(LastIndex()));
  uint64_t bytes = 0;
  for (uint64_t i = lo; i < hi; ++i) {
    const Entry& e = ents_[i - offset];
    bytes += e.data.size();
    if (i > lo && bytes > max_bytes) break;
    out->push_back(e);
  }
  return Status::Ok();
}

Status MemoryStorage::Term(uint64_t i, uint64_t* term) {
  uint64_t offset = ents_[0].index;
  if (i < offset) return Status(Error::kCompacted, "term of compacted index");
  if (i > LastIndex()) return Status(Error::kUnavailable, "term of index beyond last");
  *term = ents_[i - offset].term;
  return Status::Ok();
}

Status MemoryStorage::GetSnapshot(Snapshot* out) {
  *out = snap_;
  return Status::Ok();
}

Status MemoryStorage::SetHardState(const HardState& hs) {
  hs_ = hs;
  return Status::Ok();
}

LogEnd MemoryStorage::End() { return LogEnd{ents_.back().term, ents_.back().index}; }

Status MemoryStorage::Append(const std::vector<Entry>& entries) {
  if (entries.empty()) return Status::Ok();
  uint64_t offset = ents_[0].index;
  uint64_t first = entries.front().index;
  if (first <= offset) return Status(Error::kInvalidArgument, "Append below snapshot index");
  if (first > LastIndex() + 1) return Status(Error::kInvalidArgument, "Append leaves a gap");
  ents_.resize(first - offset);
  ents_.insert(ents_.end(), entries.begin(), entries.end());
  rejoined_empty_ = false;
  return Status::Ok();
}

Status MemoryStorage::ApplySnapshot(const Snapshot& snap) {
  if (snap.metadata.index <= snap_.metadata.index && !snap_.empty()) {
    return Status(Error::kSnapshotOutOfDate, "snapshot older than the current one");
  }
  snap_ = snap;
  ents_.clear();
  ents_.push_back(Entry{snap.metadata.term, snap.metadata.index, EntryType::kNormal, {}});
  rejoined_empty_ = false;
  return Status::Ok();
}

Status LogStorage::CheckCompaction(uint64_t index, uint64_t durable_applied_index) {
  if (index <= durable_applied_index) return Status::Ok();
  return Status(Error::kInvalidArgument,
                "CreateSnapshot at " + std::to_string(index) + " is beyond the durable applied index " +
                    std::to_string(durable_applied_index) +
                    ": the state machine would need the compacted entries to recover from a crash");
}

Status MemoryStorage::CreateSnapshot(uint64_t index, const ConfState& cs, std::string data,
                                     uint64_t durable_applied_index) {
  Status s = CheckCompaction(index, durable_applied_index);
  if (!s.ok()) return s;
  uint64_t offset = ents_[0].index;
  if (index <= snap_.metadata.index) return Status(Error::kSnapshotOutOfDate, "snapshot index not newer");
  if (index > LastIndex()) return Status(Error::kUnavailable, "snapshot index beyond last");
  snap_.metadata.index = index;
  snap_.metadata.term = ents_[index - offset].term;
  snap_.metadata.conf_state = cs;
  snap_.data = std::move(data);
  ents_.erase(ents_.begin(), ents_.begin() + static_cast<long>(index - offset));
  ents_[0].data.clear();
  ents_[0].type = EntryType::kNormal;
  return Status::Ok();
}

}  // namespace vectron::raft
