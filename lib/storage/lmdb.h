// RAII wrappers over LMDB: one move-only owner per C handle. The types encode LMDB's
// rules: a WriteTxn that is dropped uncommitted aborts; Commit() consumes it; values read
// through a ReadTxn/WriteTxn are views valid only until that transaction ends.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <optional>
#include <string>
#include <string_view>

#include "vectron/status.h"

namespace vectron::storage {

// Maps an LMDB return code to a Status, keeping mdb_strerror's text.
// MDB_NOTFOUND → NotFound, MDB_MAP_FULL → ResourceExhausted, MDB_CORRUPTED → Corruption.
Status MdbStatus(int rc, std::string_view what);

struct EnvOptions {
  uint64_t map_size_bytes = 1ull << 36;
  unsigned max_dbs = 16;
  unsigned max_readers = 512;
  unsigned flags = 0;  // Extra mdb_env_open flags (MDB_NOSYNC, MDB_NOMETASYNC, ...).
};

// An open LMDB environment (a directory holding data.mdb and lock.mdb).
// Thread-safe. Never open the same directory twice in one process (LMDB rule).
// Every opener holds a shared flock on DIR/open.lock, so CompactFiles can tell whether
// another process has the environment open; transactions hold a shared lock on the
// environment so CompactFiles can swap the file under them.
class LmdbEnv {
 public:
  struct State;  // The MDB_env and what reopening it needs; shared with transactions.

  // Errors: NotFound (missing directory), Corruption (bad or truncated data file),
  // IOError. Blocks while another process is compacting the environment's file.
  static Result<LmdbEnv> Open(const std::string& dir, const EnvOptions& options);
  LmdbEnv(LmdbEnv&& o) noexcept = default;
  LmdbEnv& operator=(LmdbEnv&& o) noexcept = default;
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;
  ~LmdbEnv();

  // The handle; only valid while no CompactFiles runs (use transactions instead).
  MDB_env* get() const;
  // Flushes buffers to disk (needed after commits made with MDB_NOSYNC).
  Status Sync(bool force);
  // Id of the last committed write transaction, from shared memory (cheap; sees
  // commits of other processes).
  uint64_t LastTxnId() const;
  // Bytes used by the data file (last page number × page size).
  uint64_t UsedBytes() const;
  // Writes a compacted, consistent copy of the environment to `dir` (which must exist
  // and be empty). Safe while writers continue.
  Status CopyCompact(const std::string& dir) const;
  // Rewrites data.mdb compactly (every database rewritten in key order into a new file,
  // fsync, rename over the old file, reopen), so the file shrinks to full live pages. Readers of this process wait
  // only for the swap; DBI handles keep their values. A crash leaves the old or the new
  // file, both complete. REQUIRES: no write transaction of this process starts until it
  // returns (the caller holds its writers' locks).
  // Errors: FailedPrecondition if another process has the environment open (nothing
  // changed); IOError; after a failed reopen the environment is unusable (IOError).
  Status CompactFiles();

 private:
  friend class Txn;
  friend class WriteTxn;
  explicit LmdbEnv(std::shared_ptr<State> st) : st_(std::move(st)) {}
  std::shared_ptr<State> st_;
};

// A named database inside an environment: a plain handle, valid while the env is open.
struct Dbi {
  MDB_dbi handle = 0;
};

inline MDB_val ToVal(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view FromVal(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

class Txn;

// A cursor over one Dbi; usable until its transaction ends. Move-only. LMDB frees the
// cursors of a write transaction when it ends, so the destructor closes only cursors
// whose write transaction is still live (read-transaction cursors are always closed).
class Cursor {
 public:
  Cursor(Cursor&& o) noexcept : c_(o.c_), write_txn_live_(std::move(o.write_txn_live_)) { o.c_ = nullptr; }
  Cursor(const Cursor&) = delete;
  ~Cursor() {
    if (c_ && (!write_txn_live_ || *write_txn_live_)) mdb_cursor_close(c_);
  }

  // Positions at the first key >= `key`. Returns false at the end.
  Result<bool> Seek(std::string_view key);
  Result<bool> First();
  Result<bool> Last();
  Result<bool> Next();
  // Moves to the previous key. Returns false at the start.
  Result<bool> Prev();
  std::string_view key() const { return FromVal(k_); }
  std::string_view value() const { return FromVal(v_); }
  // Deletes the entry under the cursor (write transactions only).
  Status Delete();

 private:
  friend class Txn;
  Cursor(MDB_cursor* c, std::shared_ptr<bool> live) : c_(c), write_txn_live_(std::move(live)) {}
  Result<bool> Move(MDB_cursor_op op);
  MDB_cursor* c_ = nullptr;
  std::shared_ptr<bool> write_txn_live_;  // null for read transactions
  MDB_val k_{0, nullptr}, v_{0, nullptr};
};

// Shared read/write operations; base of ReadTxn and WriteTxn.
class Txn {
 public:
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  // The value under `key`, or nullopt. The view is valid until the txn ends.
  Result<std::optional<std::string_view>> Get(Dbi dbi, std::string_view key) const;
  Result<Cursor> OpenCursor(Dbi dbi) const;
  // `dbi`'s statistics (mdb_stat): entries, depth, pages of each kind, page size.
  Result<MDB_stat> Stat(Dbi dbi) const;
  // Number of entries in `dbi`.
  Result<uint64_t> Count(Dbi dbi) const;
  // Bytes of the pages `dbi`'s tree uses (branch, leaf and overflow pages).
  Result<uint64_t> PageBytes(Dbi dbi) const;
  MDB_txn* get() const { return txn_; }

 protected:
  Txn() = default;
  Txn(Txn&& o) noexcept
      : env_(std::move(o.env_)), swap_lock_(std::move(o.swap_lock_)), txn_(o.txn_), live_(std::move(o.live_)) {
    o.txn_ = nullptr;
  }
  // Takes the environment's shared lock. Errors: FailedPrecondition if it is unusable.
  Status Enter(const LmdbEnv& env);
  std::shared_ptr<LmdbEnv::State> env_;
  std::shared_lock<std::shared_mutex> swap_lock_;  // released after the txn ends
  MDB_txn* txn_ = nullptr;
  std::shared_ptr<bool> live_;  // write transactions: false once committed or aborted
};

// A read-only snapshot. Aborted (released) when dropped.
class ReadTxn : public Txn {
 public:
  static Result<ReadTxn> Begin(const LmdbEnv& env);
  ReadTxn(ReadTxn&& o) noexcept = default;
  ~ReadTxn() { if (txn_) mdb_txn_abort(txn_); }

  // The id of the last write transaction committed before this snapshot (the snapshot
  // sees it and everything before it); compare with LmdbEnv::LastTxnId().
  uint64_t id() const { return mdb_txn_id(txn_); }

 private:
  ReadTxn() = default;
};

// The one write transaction of the environment (LMDB serialises writers across
// threads and processes). Aborts when dropped uncommitted.
class WriteTxn : public Txn {
 public:
  static Result<WriteTxn> Begin(LmdbEnv& env);
  WriteTxn(WriteTxn&& o) noexcept = default;
  ~WriteTxn() {
    if (txn_) {
      *live_ = false;
      mdb_txn_abort(txn_);
    }
  }

  // Opens (creating if needed) a named database. The handle becomes usable by other
  // transactions once this one commits.
  Result<Dbi> OpenDbi(const char* name, unsigned flags = 0);
  Status Put(Dbi dbi, std::string_view key, std::string_view value);
  // Reserves `size` bytes for `key` and returns the writable space (valid until the
  // next write in this txn). Avoids a copy for large values.
  Result<char*> Reserve(Dbi dbi, std::string_view key, size_t size);
  // Deletes `key`. Returns false if it was not there.
  Result<bool> Del(Dbi dbi, std::string_view key);
  Status Drop(Dbi dbi);  // Empties the database, keeps the handle.
  // Commits. The handle is gone afterwards, whether or not it succeeded.
  Status Commit() &&;

 private:
  WriteTxn() = default;
};

}  // namespace vectron::storage
