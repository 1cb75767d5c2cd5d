#include "raft/lmdb_storage.h"

#include <lmdb.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace vectron::raft {

namespace {

Status FromMdb(int rc, const char* what) {
  if (rc == 0) return Status::Ok();
  return Status(Error::kIo, std::string(what) + ": " + mdb_strerror(rc));
}

void PutU64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool GetU64(const char*& p, const char* end, uint64_t* v) {
  if (end - p < 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i) *v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  p += 8;
  return true;
}

std::string IndexKey(uint64_t i) {
  std::string k(8, '\0');
  for (int b = 0; b < 8; ++b) k[7 - b] = static_cast<char>((i >> (8 * b)) & 0xff);
  return k;
}

uint64_t KeyIndex(const MDB_val& v) {
  uint64_t i = 0;
  auto* p = static_cast<const uint8_t*>(v.mv_data);
  for (size_t b = 0; b < 8 && b < v.mv_size; ++b) i = (i << 8) | p[b];
  return i;
}

std::string EncodeEntry(const Entry& e) {
  std::string s;
  PutU64(s, e.term);
  s.push_back(static_cast<char>(e.type));
  s += e.data;
  return s;
}

bool DecodeEntry(uint64_t index, const MDB_val& v, Entry* e) {
  const char* p = static_cast<const char*>(v.mv_data);
  const char* end = p + v.mv_size;
  if (!GetU64(p, end, &e->term) || p == end) return false;
  auto t = static_cast<uint8_t>(*p++);
  if (t > 1) return false;
  e->type = static_cast<EntryType>(t);
  e->index = index;
  e->data.assign(p, end);
  return true;
}

void PutIds(std::string& s, const std::vector<uint64_t>& ids) {
  PutU64(s, ids.size());
  for (uint64_t id : ids) PutU64(s, id);
}

bool GetIds(const char*& p, const char* end, std::vector<uint64_t>* ids) {
  uint64_t n = 0;
  if (!GetU64(p, end, &n) || n > static_cast<uint64_t>(end - p) / 8) return false;
  ids->resize(n);
  for (uint64_t& id : *ids)
    if (!GetU64(p, end, &id)) return false;
  return true;
}

// RAII transaction: aborts unless committed (committing consumes it).
class Txn {
 public:
  Txn() = default;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() {
    if (txn_) mdb_txn_abort(txn_);
  }
  Status Begin(MDB_env* env, bool write) {
    return FromMdb(mdb_txn_begin(env, nullptr, write ? 0 : MDB_RDONLY, &txn_), "mdb_txn_begin");
  }
  Status Commit() {
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;  // Gone whether or not the commit succeeded.
    return FromMdb(rc, "mdb_txn_commit");
  }
  MDB_txn* get() { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

MDB_val Val(const std::string& s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

}  // namespace

struct LmdbStorage::Impl {
  MDB_env* env = nullptr;
  MDB_dbi log_dbi = 0;
  MDB_dbi meta_dbi = 0;
  // Cached from the store (single-threaded use).
  HardState hs;
  SnapshotMetadata snap_meta;
  uint64_t last = 0;  // Last entry index, or snapshot index if no entries.

  ~Impl() {
    if (env) mdb_env_close(env);
  }

  Status PutMeta(MDB_txn* txn, const std::string& key, const std::string& value) {
    MDB_val k = Val(key), v = Val(value);
    return FromMdb(mdb_put(txn, meta_dbi, &k, &v, 0), "mdb_put meta");
  }

  static std::string EncodeHardState(const HardState& h) {
    std::string s;
    PutU64(s, h.term);
    PutU64(s, h.vote);
    PutU64(s, h.commit);
    return s;
  }

  static std::string EncodeSnapMeta(const SnapshotMetadata& m) {
    std::string s;
    PutU64(s, m.index);
    PutU64(s, m.term);
    PutIds(s, m.conf_state.voters);
    PutIds(s, m.conf_state.learners);
    return s;
  }

  // Deletes log entries with index >= from (or <= upto when `tail` is false).
  Status DeleteRange(MDB_txn* txn, uint64_t bound, bool tail) {
    MDB_cursor* cur = nullptr;
    Status s = FromMdb(mdb_cursor_open(txn, log_dbi, &cur), "mdb_cursor_open");
    if (!s.ok()) return s;
    MDB_val k, v;
    int rc;
    while ((rc = mdb_cursor_get(cur, &k, &v, tail ? MDB_LAST : MDB_FIRST)) == 0) {
      uint64_t i = KeyIndex(k);
      if (tail ? i < bound : i > bound) break;
      if ((rc = mdb_cursor_del(cur, 0)) != 0) break;
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? Status::Ok() : FromMdb(rc, "delete log range");
  }
  Status TruncateFrom(MDB_txn* txn, uint64_t from) { return DeleteRange(txn, from, true); }
  Status TruncateUpTo(MDB_txn* txn, uint64_t upto) { return DeleteRange(txn, upto, false); }

  Status AppendIn(MDB_txn* txn, const std::vector<Entry>& entries) {
    if (entries.empty()) return Status::Ok();
    uint64_t first = entries.front().index;
    if (first <= snap_meta.index) return Status(Error::kInvalidArgument, "Append below snapshot index");
    if (first > last + 1) return Status(Error::kInvalidArgument, "Append leaves a gap");
    if (first <= last) {
      Status s = TruncateFrom(txn, first);
      if (!s.ok()) return s;
    }
    for (const Entry& e : entries) {
      std::string key = IndexKey(e.index), val = EncodeEntry(e);
      MDB_val k = Val(key), v = Val(val);
      Status s = FromMdb(mdb_put(txn, log_dbi, &k, &v, 0), "mdb_put log");
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }
};

LmdbStorage::LmdbStorage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LmdbStorage::~LmdbStorage() = default;

Status LmdbStorage::Open(const std::string& dir, const LmdbStorageOptions& options, std::unique_ptr<LmdbStorage>* out) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status(Error::kIo, "mkdir " + dir + ": " + std::strerror(errno));
  auto impl = std::make_unique<Impl>();
  Status s = FromMdb(mdb_env_create(&impl->env), "mdb_env_create");
  if (!s.ok()) return s;
  if (!(s = FromMdb(mdb_env_set_maxdbs(impl->env, 4), "mdb_env_set_maxdbs")).ok()) return s;
  if (!(s = FromMdb(mdb_env_set_mapsize(impl->env, options.map_size_bytes), "mdb_env_set_mapsize")).ok()) return s;
  // Default flags: every commit is synced to disk.
  s = FromMdb(mdb_env_open(impl->env, dir.c_str(), 0, 0644), "mdb_env_open");
  if (!s.ok()) return Status(Error::kIo, "open " + dir + ": " + s.message());
  Txn txn;
  if (!(s = txn.Begin(impl->env, true)).ok()) return s;
  if (!(s = FromMdb(mdb_dbi_open(txn.get(), "log", MDB_CREATE, &impl->log_dbi), "mdb_dbi_open log")).ok()) return s;
  if (!(s = FromMdb(mdb_dbi_open(txn.get(), "meta", MDB_CREATE, &impl->meta_dbi), "mdb_dbi_open meta")).ok()) return s;
  // Load cached metadata.
  auto get = [&](const char* key, std::string* val) -> Status {
    std::string k(key);
    MDB_val mk = Val(k), mv;
    int rc = mdb_get(txn.get(), impl->meta_dbi, &mk, &mv);
    if (rc == MDB_NOTFOUND) return Status(Error::kUnavailable, "");
    if (rc != 0) return FromMdb(rc, "mdb_get meta");
    val->assign(static_cast<const char*>(mv.mv_data), mv.mv_size);
    return Status::Ok();
  };
  std::string v;
  s = get("hard_state", &v);
  if (s.ok()) {
    const char* p = v.data();
    const char* end = p + v.size();
    if (!GetU64(p, end, &impl->hs.term) || !GetU64(p, end, &impl->hs.vote) || !GetU64(p, end, &impl->hs.commit))
      return Status(Error::kCorruption, "hard_state in " + dir + " does not decode");
  } else if (s.code() != Error::kUnavailable) {
    return s;
  }
  s = get("snapshot_meta", &v);
  if (s.ok()) {
    const char* p = v.data();
    const char* end = p + v.size();
    SnapshotMetadata& m = impl->snap_meta;
    if (!GetU64(p, end, &m.index) || !GetU64(p, end, &m.term) || !GetIds(p, end, &m.conf_state.voters) ||
        !GetIds(p, end, &m.conf_state.learners))
      return Status(Error::kCorruption, "snapshot_meta in " + dir + " does not decode");
  } else if (s.code() != Error::kUnavailable) {
    return s;
  }
  MDB_cursor* cur = nullptr;
  if (!(s = FromMdb(mdb_cursor_open(txn.get(), impl->log_dbi, &cur), "mdb_cursor_open")).ok()) return s;
  MDB_val k, val;
  int rc = mdb_cursor_get(cur, &k, &val, MDB_LAST);
  impl->last = rc == 0 ? KeyIndex(k) : impl->snap_meta.index;
  mdb_cursor_close(cur);
  if (rc != 0 && rc != MDB_NOTFOUND) return FromMdb(rc, "read last log entry");
  if (!(s = txn.Commit()).ok()) return s;
  out->reset(new LmdbStorage(std::move(impl)));
  return Status::Ok();
}

Status LmdbStorage::InitialState(HardState* hs, ConfState* cs) {
  *hs = impl_->hs;
  *cs = impl_->snap_meta.conf_state;
  return Status::Ok();
}

uint64_t LmdbStorage::FirstIndex() { return impl_->snap_meta.index + 1; }
uint64_t LmdbStorage::LastIndex() { return impl_->last; }

Status LmdbStorage::Entries(uint64_t lo, uint64_t hi, uint64_t max_bytes, std::vector<Entry>* out) {
  if (lo <= impl_->snap_meta.index) return Status(Error::kCompacted, "entries below " + std::to_string(FirstIndex()) + " compacted");
  if (hi > impl_->last + 1) return Status(Error::kUnavailable, "entries beyond " + std::to_string(impl_->last));
  if (lo >= hi) return Status::Ok();
  Txn txn;
  Status s = txn.Begin(impl_->env, false);
  if (!s.ok()) return s;
  MDB_cursor* cur = nullptr;
  if (!(s = FromMdb(mdb_cursor_open(txn.get(), impl_->log_dbi, &cur), "mdb_cursor_open")).ok()) return s;
  std::string key = IndexKey(lo);
  MDB_val k = Val(key), v;
  int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
  uint64_t bytes = 0;
  uint64_t expect = lo;
  while (rc == 0 && expect < hi) {
    Entry e;
    if (KeyIndex(k) != expect || !DecodeEntry(expect, v, &e)) {
      mdb_cursor_close(cur);
      return Status(Error::kCorruption, "log entry " + std::to_string(expect) + " missing or malformed");
    }
    bytes += e.data.size();
    if (expect > lo && bytes > max_bytes) break;
    out->push_back(std::move(e));
    ++expect;
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(cur);
  if (rc != 0 && rc != MDB_NOTFOUND) return FromMdb(rc, "read log");
  if (out->empty() || (rc == MDB_NOTFOUND && expect < hi))
    return Status(Error::kCorruption, "log entry " + std::to_string(expect) + " missing");
  return Status::Ok();
}

Status LmdbStorage::Term(uint64_t i, uint64_t* term) {
  if (i < impl_->snap_meta.index) return Status(Error::kCompacted, "term of compacted index");
  if (i > impl_->last) return Status(Error::kUnavailable, "term of index beyond last");
  if (i == impl_->snap_meta.index) {
    *term = impl_->snap_meta.term;
    return Status::Ok();
  }
  std::vector<Entry> e;
  Status s = Entries(i, i + 1, UINT64_MAX, &e);
  if (!s.ok()) return s;
  *term = e[0].term;
  return Status::Ok();
}

Status LmdbStorage::GetSnapshot(Snapshot* out) {
  out->metadata = impl_->snap_meta;
  out->data.clear();
  if (impl_->snap_meta.index == 0) return Status::Ok();
  Txn txn;
  Status s = txn.Begin(impl_->env, false);
  if (!s.ok()) return s;
  std::string key = "snapshot_data";
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn.get(), impl_->meta_dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return Status::Ok();
  if (rc != 0) return FromMdb(rc, "mdb_get snapshot_data");
  out->data.assign(static_cast<const char*>(v.mv_data), v.mv_size);
  return Status::Ok();
}

Status LmdbStorage::SetHardState(const HardState& hs) { return Save({}, hs); }

Status LmdbStorage::Append(const std::vector<Entry>& entries) { return Save(entries, std::nullopt); }

Status LmdbStorage::Save(const std::vector<Entry>& entries, const std::optional<HardState>& hs) {
  Txn txn;
  Status s = txn.Begin(impl_->env, true);
  if (!s.ok()) return s;
  if (!(s = impl_->AppendIn(txn.get(), entries)).ok()) return s;
  if (hs && !(s = impl_->PutMeta(txn.get(), "hard_state", Impl::EncodeHardState(*hs))).ok()) return s;
  if (!(s = txn.Commit()).ok()) return s;
  if (!entries.empty()) impl_->last = entries.back().index;
  if (hs) impl_->hs = *hs;
  return Status::Ok();
}

Status LmdbStorage::ApplySnapshot(const Snapshot& snap) {
  if (impl_->snap_meta.index != 0 && snap.metadata.index <= impl_->snap_meta.index)
    return Status(Error::kSnapshotOutOfDate, "snapshot older than the current one");
  Txn txn;
  Status s = txn.Begin(impl_->env, true);
  if (!s.ok()) return s;
  if (!(s = FromMdb(mdb_drop(txn.get(), impl_->log_dbi, 0), "mdb_drop log")).ok()) return s;
  if (!(s = impl_->PutMeta(txn.get(), "snapshot_meta", Impl::EncodeSnapMeta(snap.metadata))).ok()) return s;
  if (!(s = impl_->PutMeta(txn.get(), "snapshot_data", snap.data)).ok()) return s;
  if (!(s = txn.Commit()).ok()) return s;
  impl_->snap_meta = snap.metadata;
  impl_->last = snap.metadata.index;
  return Status::Ok();
}

Status LmdbStorage::CreateSnapshot(uint64_t index, const ConfState& cs, std::string data,
                                   uint64_t durable_applied_index) {
  Status cs_status = CheckCompaction(index, durable_applied_index);
  if (!cs_status.ok()) return cs_status;
  if (index <= impl_->snap_meta.index) return Status(Error::kSnapshotOutOfDate, "snapshot index not newer");
  if (index > impl_->last) return Status(Error::kUnavailable, "snapshot index beyond last");
  uint64_t term = 0;
  Status s = Term(index, &term);
  if (!s.ok()) return s;
  SnapshotMetadata md{index, term, cs};
  Txn txn;
  if (!(s = txn.Begin(impl_->env, true)).ok()) return s;
  if (!(s = impl_->TruncateUpTo(txn.get(), index)).ok()) return s;
  if (!(s = impl_->PutMeta(txn.get(), "snapshot_meta", Impl::EncodeSnapMeta(md))).ok()) return s;
  if (!(s = impl_->PutMeta(txn.get(), "snapshot_data", data)).ok()) return s;
  if (!(s = txn.Commit()).ok()) return s;
  impl_->snap_meta = md;
  return Status::Ok();
}

}  // namespace vectron::raft
