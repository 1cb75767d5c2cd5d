#include "storage/lmdb.h"

#include <sys/stat.h>

#include <cstring>

namespace vectron::storage {

Status MdbStatus(int rc, std::string_view what) {
  if (rc == MDB_SUCCESS) return Status::OK();
  std::string msg(what);
  msg += ": ";
  msg += mdb_strerror(rc);
  switch (rc) {
    case MDB_NOTFOUND: return Status::NotFound(std::move(msg));
    case MDB_MAP_FULL:
      return Status::ResourceExhausted(msg + " (raise DatabaseOptions::map_size_bytes)");
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
    case MDB_DBS_FULL: return Status::ResourceExhausted(std::move(msg));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH: return Status::Corruption(std::move(msg));
    case MDB_MAP_RESIZED: return Status::Unavailable(std::move(msg));
    case ENOSPC: return Status::ResourceExhausted(std::move(msg));
    case ENOENT: return Status::NotFound(std::move(msg));
    default: return Status::IOError(std::move(msg));
  }
}

Result<LmdbEnv> LmdbEnv::Open(const std::string& dir, const EnvOptions& options) {
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return MdbStatus(rc, "mdb_env_create");
  LmdbEnv owner(env);
  if ((rc = mdb_env_set_maxdbs(env, options.max_dbs)) != 0) return MdbStatus(rc, "set_maxdbs");
  if ((rc = mdb_env_set_maxreaders(env, options.max_readers)) != 0) return MdbStatus(rc, "set_maxreaders");
  if ((rc = mdb_env_set_mapsize(env, options.map_size_bytes)) != 0) return MdbStatus(rc, "set_mapsize");
  // MDB_NOTLS: read transactions are not tied to threads, so a thread pool may use them.
  rc = mdb_env_open(env, dir.c_str(), options.flags | MDB_NOTLS, 0644);
  if (rc != 0) return MdbStatus(rc, "opening LMDB environment " + dir);
  // A data file shorter than its last committed page (truncated by a copy or a full
  // disk) would fault on access through the map (SIGBUS); refuse it here instead.
  struct stat st;
  if (::stat((dir + "/data.mdb").c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) < owner.UsedBytes())
    return Status::Corruption("LMDB environment " + dir + ": data.mdb is truncated (" + std::to_string(st.st_size) +
                              " bytes, the last committed page ends at " + std::to_string(owner.UsedBytes()) + ")");
  return owner;
}

LmdbEnv& LmdbEnv::operator=(LmdbEnv&& o) noexcept {
  if (this != &o) {
    if (env_) mdb_env_close(env_);
    env_ = o.env_;
    o.env_ = nullptr;
  }
  return *this;
}

LmdbEnv::~LmdbEnv() {
  if (env_) mdb_env_close(env_);
}

Status LmdbEnv::Sync(bool force) { return MdbStatus(mdb_env_sync(env_, force ? 1 : 0), "mdb_env_sync"); }

uint64_t LmdbEnv::LastTxnId() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_last_txnid;
}

uint64_t LmdbEnv::UsedBytes() const {
  MDB_envinfo info;
  MDB_stat st;
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &st);
  return (static_cast<uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
}

Status LmdbEnv::CopyCompact(const std::string& dir) const {
  return MdbStatus(mdb_env_copy2(env_, dir.c_str(), MDB_CP_COMPACT), "copying environment to " + dir);
}

Result<bool> Cursor::Move(MDB_cursor_op op) {
  int rc = mdb_cursor_get(c_, &k_, &v_, op);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return MdbStatus(rc, "mdb_cursor_get");
  return true;
}

Result<bool> Cursor::Seek(std::string_view key) {
  k_ = ToVal(key);
  return Move(MDB_SET_RANGE);
}
Result<bool> Cursor::First() { return Move(MDB_FIRST); }
Result<bool> Cursor::Last() { return Move(MDB_LAST); }
Result<bool> Cursor::Next() { return Move(MDB_NEXT); }
Status Cursor::Delete() { return MdbStatus(mdb_cursor_del(c_, 0), "mdb_cursor_del"); }

Result<std::optional<std::string_view>> Txn::Get(Dbi dbi, std::string_view key) const {
  MDB_val k = ToVal(key), v{0, nullptr};
  int rc = mdb_get(txn_, dbi.handle, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != 0) return MdbStatus(rc, "mdb_get");
  return std::optional<std::string_view>(FromVal(v));
}

Result<Cursor> Txn::OpenCursor(Dbi dbi) const {
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn_, dbi.handle, &c);
  if (rc != 0) return MdbStatus(rc, "mdb_cursor_open");
  return Cursor(c, live_);
}

Result<uint64_t> Txn::Count(Dbi dbi) const {
  MDB_stat st;
  int rc = mdb_stat(txn_, dbi.handle, &st);
  if (rc != 0) return MdbStatus(rc, "mdb_stat");
  return static_cast<uint64_t>(st.ms_entries);
}

Result<ReadTxn> ReadTxn::Begin(const LmdbEnv& env) {
  ReadTxn t;
  int rc = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &t.txn_);
  if (rc != 0) return MdbStatus(rc, "beginning read transaction");
  return t;
}

Result<WriteTxn> WriteTxn::Begin(LmdbEnv& env) {
  WriteTxn t;
  int rc = mdb_txn_begin(env.get(), nullptr, 0, &t.txn_);
  if (rc != 0) return MdbStatus(rc, "beginning write transaction");
  t.live_ = std::make_shared<bool>(true);
  return t;
}

Result<Dbi> WriteTxn::OpenDbi(const char* name, unsigned flags) {
  Dbi d;
  int rc = mdb_dbi_open(txn_, name, flags | MDB_CREATE, &d.handle);
  if (rc != 0) return MdbStatus(rc, std::string("opening database ") + name);
  return d;
}

Status WriteTxn::Put(Dbi dbi, std::string_view key, std::string_view value) {
  MDB_val k = ToVal(key), v = ToVal(value);
  return MdbStatus(mdb_put(txn_, dbi.handle, &k, &v, 0), "mdb_put");
}

Result<char*> WriteTxn::Reserve(Dbi dbi, std::string_view key, size_t size) {
  MDB_val k = ToVal(key), v{size, nullptr};
  int rc = mdb_put(txn_, dbi.handle, &k, &v, MDB_RESERVE);
  if (rc != 0) return MdbStatus(rc, "mdb_put");
  return static_cast<char*>(v.mv_data);
}

Result<bool> WriteTxn::Del(Dbi dbi, std::string_view key) {
  MDB_val k = ToVal(key);
  int rc = mdb_del(txn_, dbi.handle, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return MdbStatus(rc, "mdb_del");
  return true;
}

Status WriteTxn::Drop(Dbi dbi) { return MdbStatus(mdb_drop(txn_, dbi.handle, 0), "mdb_drop"); }

Status WriteTxn::Commit() && {
  MDB_txn* t = txn_;
  txn_ = nullptr;
  *live_ = false;  // Commit frees the transaction's cursors, whatever its outcome.
  return MdbStatus(mdb_txn_commit(t), "committing transaction");
}

}  // namespace vectron::storage
