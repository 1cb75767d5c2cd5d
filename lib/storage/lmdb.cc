#include "storage/lmdb.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <vector>

#include "util/files.h"
#include "util/mutex.h"

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
    case ENOSPC:
    case ENOMEM: return Status::ResourceExhausted(std::move(msg));
    case ENOENT: return Status::NotFound(std::move(msg));
    default: return Status::IOError(std::move(msg));
  }
}

struct LmdbEnv::State {
  std::string dir;
  EnvOptions options;
  MDB_env* env = nullptr;               // null only after a failed CompactFiles reopen
  int open_lock_fd = -1;                // shared flock on DIR/open.lock while open
  // Shared: transactions (a Txn holds it for its whole life, which the thread-safety
  // analysis cannot follow, hence a plain std::shared_mutex); exclusive: file swap.
  mutable std::shared_mutex swap_mu;
  Mutex dbis_mu;
  struct NamedDbi {
    std::string name;
    unsigned flags;
    MDB_dbi handle;
  };
  std::vector<NamedDbi> dbis ABSL_GUARDED_BY(dbis_mu);  // in open order

  ~State() {
    if (env) mdb_env_close(env);
    if (open_lock_fd >= 0) ::close(open_lock_fd);  // releases the flock
  }
};

namespace {

Status ErrnoStatus(const std::string& what) {
  int e = errno;
  std::string msg = what + ": " + std::strerror(e);
  if (e == ENOENT) return Status::NotFound(msg);
  return Status::IOError(msg);
}

int Flock(int fd, int op) {
  int rc;
  while ((rc = ::flock(fd, op)) != 0 && errno == EINTR) {
  }
  return rc;
}

// Creates and opens an MDB_env on `dir` with `o`.
Result<MDB_env*> OpenMdb(const std::string& dir, const EnvOptions& o) {
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return MdbStatus(rc, "mdb_env_create");
  auto fail = [&](int code, const std::string& what) {
    mdb_env_close(env);
    return MdbStatus(code, what);
  };
  if ((rc = mdb_env_set_maxdbs(env, o.max_dbs)) != 0) return fail(rc, "set_maxdbs");
  if ((rc = mdb_env_set_maxreaders(env, o.max_readers)) != 0) return fail(rc, "set_maxreaders");
  if ((rc = mdb_env_set_mapsize(env, o.map_size_bytes)) != 0) return fail(rc, "set_mapsize");
  // MDB_NOTLS: read transactions are not tied to threads, so a thread pool may use them.
  rc = mdb_env_open(env, dir.c_str(), o.flags | MDB_NOTLS, 0644);
  if (rc == ENOMEM)  // mmap of the whole map failed: usually a limit on address space.
    return fail(rc, "opening LMDB environment " + dir + " (could not reserve map_size_bytes = " +
                        std::to_string(o.map_size_bytes) +
                        " of address space; under a memory limit such as ulimit -v, open with a smaller map_size_bytes)");
  if (rc != 0) return fail(rc, "opening LMDB environment " + dir);
  return env;
}

uint64_t UsedBytesOf(MDB_env* env) {
  MDB_envinfo info;
  MDB_stat st;
  mdb_env_info(env, &info);
  mdb_env_stat(env, &st);
  return (static_cast<uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
}

// Writes every named database of `src` (as of one read snapshot) into a new environment
// in `dest` with MDB_APPEND, so that leaf pages come out full: unlike a page copy
// (MDB_CP_COMPACT), this also repacks pages left sparse by deletes.
Status RewriteEnv(MDB_env* src, const std::string& dest, const EnvOptions& o) {
  EnvOptions out = o;
  out.flags = (o.flags & ~(MDB_NOMETASYNC)) | MDB_NOSYNC;  // synced once at the end
  VECTRON_ASSIGN_OR_RETURN(MDB_env* dst, OpenMdb(dest, out));
  struct EnvCloser {
    MDB_env* e;
    ~EnvCloser() { mdb_env_close(e); }
  } closer{dst};
  MDB_txn* rt = nullptr;
  int rc = mdb_txn_begin(src, nullptr, MDB_RDONLY, &rt);
  if (rc != 0) return MdbStatus(rc, "rewrite: read transaction");
  struct TxnAborter {
    MDB_txn* t;
    ~TxnAborter() { if (t) mdb_txn_abort(t); }
  } rt_guard{rt};
  MDB_dbi main_dbi;
  if ((rc = mdb_dbi_open(rt, nullptr, 0, &main_dbi)) != 0) return MdbStatus(rc, "rewrite: main database");
  std::vector<std::string> names;
  {
    MDB_cursor* c;
    if ((rc = mdb_cursor_open(rt, main_dbi, &c)) != 0) return MdbStatus(rc, "rewrite: cursor");
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
      names.emplace_back(static_cast<const char*>(k.mv_data), k.mv_size);
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND) return MdbStatus(rc, "rewrite: listing databases");
  }
  constexpr size_t kPerTxn = 20000;  // bounds the dirty pages of one write transaction
  for (const auto& name : names) {
    MDB_dbi sdbi;
    if ((rc = mdb_dbi_open(rt, name.c_str(), 0, &sdbi)) != 0) return MdbStatus(rc, "rewrite: opening " + name);
    unsigned flags = 0;
    if ((rc = mdb_dbi_flags(rt, sdbi, &flags)) != 0) return MdbStatus(rc, "rewrite: flags of " + name);
    const unsigned put_flags = (flags & MDB_DUPSORT) ? MDB_APPENDDUP : MDB_APPEND;
    MDB_cursor* c;
    if ((rc = mdb_cursor_open(rt, sdbi, &c)) != 0) return MdbStatus(rc, "rewrite: cursor on " + name);
    struct CursorCloser {
      MDB_cursor* c;
      ~CursorCloser() { mdb_cursor_close(c); }
    } cc{c};
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    bool first_txn = true;
    while (first_txn || rc == 0) {
      first_txn = false;
      MDB_txn* wt = nullptr;
      int wrc = mdb_txn_begin(dst, nullptr, 0, &wt);
      if (wrc != 0) return MdbStatus(wrc, "rewrite: write transaction");
      TxnAborter wt_guard{wt};
      MDB_dbi ddbi;
      if ((wrc = mdb_dbi_open(wt, name.c_str(), flags | MDB_CREATE, &ddbi)) != 0)
        return MdbStatus(wrc, "rewrite: creating " + name);
      for (size_t n = 0; rc == 0 && n < kPerTxn; ++n) {
        if ((wrc = mdb_put(wt, ddbi, &k, &v, put_flags)) != 0) return MdbStatus(wrc, "rewrite: writing " + name);
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
      }
      wt_guard.t = nullptr;
      if ((wrc = mdb_txn_commit(wt)) != 0) return MdbStatus(wrc, "rewrite: commit");
    }
    if (rc != MDB_NOTFOUND) return MdbStatus(rc, "rewrite: reading " + name);
  }
  return MdbStatus(mdb_env_sync(dst, 1), "rewrite: sync");
}

}  // namespace

Result<LmdbEnv> LmdbEnv::Open(const std::string& dir, const EnvOptions& options) {
  auto st = std::make_shared<State>();
  st->dir = dir;
  st->options = options;
  st->open_lock_fd = ::open((dir + "/open.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (st->open_lock_fd < 0) return ErrnoStatus("opening LMDB environment " + dir + ": open.lock");
  // Shared with other openers; waits while a CompactFiles elsewhere holds it exclusively.
  if (Flock(st->open_lock_fd, LOCK_SH) != 0) return ErrnoStatus("locking " + dir + "/open.lock");
  VECTRON_ASSIGN_OR_RETURN(st->env, OpenMdb(dir, options));
  // A data file shorter than its last committed page (truncated by a copy or a full
  // disk) would fault on access through the map (SIGBUS); refuse it here instead.
  struct stat sb;
  const uint64_t used = UsedBytesOf(st->env);
  if (::stat((dir + "/data.mdb").c_str(), &sb) == 0 && static_cast<uint64_t>(sb.st_size) < used)
    return Status::Corruption("LMDB environment " + dir + ": data.mdb is truncated (" + std::to_string(sb.st_size) +
                              " bytes, the last committed page ends at " + std::to_string(used) + ")");
  return LmdbEnv(std::move(st));
}

LmdbEnv::~LmdbEnv() = default;

MDB_env* LmdbEnv::get() const { return st_ ? st_->env : nullptr; }

Status LmdbEnv::Sync(bool force) {
  std::shared_lock lock(st_->swap_mu);
  if (!st_->env) return Status::FailedPrecondition("LMDB environment " + st_->dir + " is closed");
  return MdbStatus(mdb_env_sync(st_->env, force ? 1 : 0), "mdb_env_sync");
}

uint64_t LmdbEnv::LastTxnId() const {
  std::shared_lock lock(st_->swap_mu);
  if (!st_->env) return 0;
  MDB_envinfo info;
  mdb_env_info(st_->env, &info);
  return info.me_last_txnid;
}

uint64_t LmdbEnv::UsedBytes() const {
  std::shared_lock lock(st_->swap_mu);
  return st_->env ? UsedBytesOf(st_->env) : 0;
}

Status LmdbEnv::CopyCompact(const std::string& dir) const {
  std::shared_lock lock(st_->swap_mu);
  if (!st_->env) return Status::FailedPrecondition("LMDB environment " + st_->dir + " is closed");
  return MdbStatus(mdb_env_copy2(st_->env, dir.c_str(), MDB_CP_COMPACT), "copying environment to " + dir);
}

Status LmdbEnv::CompactFiles() {
  State& s = *st_;
  // Compactors of the same directory go one at a time, across processes.
  VECTRON_ASSIGN_OR_RETURN(FileLock compact_lock, FileLock::Acquire(s.dir + "/compact.lock"));
  if (Flock(s.open_lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    // Converting a flock may drop the shared lock before failing: take it back. No
    // other process can get it exclusively meanwhile, as that needs compact.lock.
    (void)Flock(s.open_lock_fd, LOCK_SH);
    if (e == EWOULDBLOCK)
      return Status::FailedPrecondition("LMDB environment " + s.dir +
                                        " is open in another process; compacting its file needs sole access");
    errno = e;
    return ErrnoStatus("locking " + s.dir + "/open.lock");
  }
  struct Downgrade {
    int fd;
    ~Downgrade() { (void)Flock(fd, LOCK_SH); }
  } downgrade{s.open_lock_fd};

  const std::string tmp = s.dir + "/compact.tmp";
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);  // left by a crashed compaction
  std::filesystem::create_directories(tmp, ec);
  if (ec) return Status::IOError("creating " + tmp + ": " + ec.message());
  // The copy runs while this process's readers go on (no writer can start: REQUIRES).
  {
    std::shared_lock lock(s.swap_mu);
    if (!s.env) return Status::FailedPrecondition("LMDB environment " + s.dir + " is closed");
    if (Status st = RewriteEnv(s.env, tmp, s.options); !st.ok()) {
      std::filesystem::remove_all(tmp, ec);
      return st.WithContext("compacting " + s.dir);
    }
    std::filesystem::remove(tmp + "/lock.mdb", ec);
  }
  {
    int fd = ::open((tmp + "/data.mdb").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      Status st = ErrnoStatus("fsync " + tmp + "/data.mdb");
      if (fd >= 0) ::close(fd);
      std::filesystem::remove_all(tmp, ec);
      return st;
    }
    ::close(fd);
  }
  std::unique_lock lock(s.swap_mu);  // waits for this process's open transactions
  mdb_env_close(s.env);
  s.env = nullptr;
  Status swapped;
  if (::rename((tmp + "/data.mdb").c_str(), (s.dir + "/data.mdb").c_str()) != 0) {
    swapped = ErrnoStatus("renaming the compacted file over " + s.dir + "/data.mdb");
  } else {
    int dfd = ::open(s.dir.c_str(), O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }
  // Reopen (the new file, or the old one if the rename failed) and give every named
  // database its old handle back: handles are slots numbered in open order.
  auto reopened = OpenMdb(s.dir, s.options);
  if (!reopened.ok()) return reopened.status().WithContext("reopening after compaction (the environment is unusable until the database is reopened)");
  s.env = *reopened;
  {
    MutexLock g(s.dbis_mu);
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(s.env, nullptr, 0, &txn);
    if (rc != 0) return MdbStatus(rc, "reopening databases after compaction");
    for (const auto& d : s.dbis) {
      MDB_dbi dbi;
      rc = mdb_dbi_open(txn, d.name.c_str(), d.flags | MDB_CREATE, &dbi);
      if (rc != 0 || dbi != d.handle) {
        mdb_txn_abort(txn);
        if (rc == 0) return Status::Internal("database " + d.name + " got another handle after compaction");
        return MdbStatus(rc, "reopening database " + d.name + " after compaction");
      }
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) return MdbStatus(rc, "reopening databases after compaction");
  }
  std::filesystem::remove_all(tmp, ec);
  return swapped;
}

Status Txn::Enter(const LmdbEnv& env) {
  env_ = env.st_;
  swap_lock_ = std::shared_lock<std::shared_mutex>(env_->swap_mu);
  if (!env_->env) return Status::FailedPrecondition("LMDB environment " + env_->dir + " is closed");
  return Status::OK();
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
Result<bool> Cursor::Prev() { return Move(MDB_PREV); }
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

Result<MDB_stat> Txn::Stat(Dbi dbi) const {
  MDB_stat st;
  int rc = mdb_stat(txn_, dbi.handle, &st);
  if (rc != 0) return MdbStatus(rc, "mdb_stat");
  return st;
}

Result<uint64_t> Txn::Count(Dbi dbi) const {
  VECTRON_ASSIGN_OR_RETURN(MDB_stat st, Stat(dbi));
  return static_cast<uint64_t>(st.ms_entries);
}

Result<uint64_t> Txn::PageBytes(Dbi dbi) const {
  VECTRON_ASSIGN_OR_RETURN(MDB_stat st, Stat(dbi));
  return (static_cast<uint64_t>(st.ms_branch_pages) + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
}

Result<ReadTxn> ReadTxn::Begin(const LmdbEnv& env) {
  ReadTxn t;
  VECTRON_RETURN_IF_ERROR(t.Enter(env));
  int rc = mdb_txn_begin(t.env_->env, nullptr, MDB_RDONLY, &t.txn_);
  if (rc != 0) return MdbStatus(rc, "beginning read transaction");
  return t;
}

Result<WriteTxn> WriteTxn::Begin(LmdbEnv& env) {
  WriteTxn t;
  VECTRON_RETURN_IF_ERROR(t.Enter(env));
  int rc = mdb_txn_begin(t.env_->env, nullptr, 0, &t.txn_);
  if (rc != 0) return MdbStatus(rc, "beginning write transaction");
  t.live_ = std::make_shared<bool>(true);
  return t;
}

Result<Dbi> WriteTxn::OpenDbi(const char* name, unsigned flags) {
  Dbi d;
  int rc = mdb_dbi_open(txn_, name, flags | MDB_CREATE, &d.handle);
  if (rc != 0) return MdbStatus(rc, std::string("opening database ") + name);
  MutexLock g(env_->dbis_mu);
  bool known = false;
  for (const auto& known_dbi : env_->dbis) known |= known_dbi.name == name;
  if (!known) env_->dbis.push_back({name, flags, d.handle});
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
  Status s = MdbStatus(mdb_txn_commit(t), "committing transaction");
  swap_lock_ = {};
  return s;
}

}  // namespace vectron::storage
