#include "raft/lmdb_internal.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "raft/lmdb_storage.h"
#include "raft/storage.h"

namespace vectron::raft::lmdb_internal {

namespace {

constexpr uint64_t kFormatVersion = 2;

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

void PutBigEndian(std::string& s, uint64_t v) {
  for (int b = 7; b >= 0; --b) s.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
}

uint64_t GetBigEndian(const MDB_val& v, size_t offset) {
  uint64_t x = 0;
  auto* p = static_cast<const uint8_t*>(v.mv_data);
  for (size_t b = offset; b < offset + 8 && b < v.mv_size; ++b) x = (x << 8) | p[b];
  return x;
}

// Log keys: group (8, big endian) · index (8, big endian), so a group's entries are
// contiguous and sorted by index. Meta keys: group (8, big endian) · name.
std::string LogKey(uint64_t group, uint64_t index) {
  std::string k;
  PutBigEndian(k, group);
  PutBigEndian(k, index);
  return k;
}
std::string MetaKey(uint64_t group, const char* name) {
  std::string k;
  PutBigEndian(k, group);
  k += name;
  return k;
}
std::string GroupPrefix(uint64_t group) {
  std::string k;
  PutBigEndian(k, group);
  return k;
}
uint64_t KeyGroup(const MDB_val& k) { return GetBigEndian(k, 0); }
uint64_t KeyIndex(const MDB_val& k) { return GetBigEndian(k, 8); }
bool InGroup(const MDB_val& k, uint64_t group) { return k.mv_size >= 8 && KeyGroup(k) == group; }

MDB_val Val(const std::string& s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

// Tombstone keys: group (8, big endian); values: term (8, LE) · vote (8, LE). The same key
// in `tombstone_ends`: the log's end when dropped, term (8, LE) · index (8, LE); missing for
// tombstones written before 2026-12-06, whose end is then LogEnd::Unknown(). (A database of
// its own, so that a version that does not know it still reads every tombstone.)
std::string EncodePair(uint64_t a, uint64_t b) {
  std::string s;
  PutU64(s, a);
  PutU64(s, b);
  return s;
}

// Reads `key`'s two little-endian words in `dbi` into *a and *b (*found false if it has none).
Status GetPair(Env& env, MDB_txn* txn, MDB_dbi dbi, uint64_t group, const char* what, bool* found, uint64_t* a,
               uint64_t* b) {
  std::string key = GroupPrefix(group);
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn, dbi, &k, &v);
  *found = false;
  if (rc == MDB_NOTFOUND) return Status::Ok();
  if (rc != 0) return FromMdb(rc, "mdb_get tombstone");
  const char* p = static_cast<const char*>(v.mv_data);
  const char* end = p + v.mv_size;
  if (!GetU64(p, end, a) || !GetU64(p, end, b) || p != end)
    return Status(Error::kCorruption, env.dir + ": " + what + " of group " + std::to_string(group) + " does not decode");
  *found = true;
  return Status::Ok();
}

// Reads `group`'s tombstone into *found, *term, *vote and *end_out (*found false if it has
// none; *end_out Unknown if it has no recorded end).
Status GetTombstone(Env& env, MDB_txn* txn, uint64_t group, bool* found, uint64_t* term, uint64_t* vote,
                    LogEnd* end_out) {
  *end_out = LogEnd::Unknown();
  Status s = GetPair(env, txn, env.tombstones, group, "tombstone", found, term, vote);
  if (!s.ok() || !*found) return s;
  bool has_end = false;
  LogEnd e;
  if (!(s = GetPair(env, txn, env.tombstone_ends, group, "tombstone end", &has_end, &e.term, &e.index)).ok()) return s;
  if (has_end) *end_out = e;
  return Status::Ok();
}

// Moves `cur` (on the log database) to `group`'s last entry: 0 if it has one (then *k and
// *v are its key and value), MDB_NOTFOUND if not, or another LMDB error.
int SeekLast(MDB_cursor* cur, uint64_t group, MDB_val* k, MDB_val* v) {
  int rc;
  if (group == UINT64_MAX) {
    rc = mdb_cursor_get(cur, k, v, MDB_LAST);
  } else {
    std::string next = GroupPrefix(group + 1);
    *k = Val(next);
    rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    rc = rc == 0 ? mdb_cursor_get(cur, k, v, MDB_PREV) : mdb_cursor_get(cur, k, v, MDB_LAST);
  }
  return rc == 0 && !InGroup(*k, group) ? MDB_NOTFOUND : rc;
}

const char kHardState[] = "hard_state";
const char kSnapshotMeta[] = "snapshot_meta";
const char kSnapshotData[] = "snapshot_data";

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

std::string EncodeHardState(const HardState& h) {
  std::string s;
  PutU64(s, h.term);
  PutU64(s, h.vote);
  PutU64(s, h.commit);
  return s;
}

std::string EncodeSnapMeta(const SnapshotMetadata& m) {
  std::string s;
  PutU64(s, m.index);
  PutU64(s, m.term);
  PutIds(s, m.conf_state.voters);
  PutIds(s, m.conf_state.learners);
  return s;
}

Status PutMeta(Env& env, MDB_txn* txn, uint64_t group, const char* name, const std::string& value) {
  std::string key = MetaKey(group, name);
  MDB_val k = Val(key), v = Val(value);
  return FromMdb(mdb_put(txn, env.meta, &k, &v, 0), "mdb_put meta");
}

// Reads meta `name` of `group` into *val. Unavailable (empty message) if absent.
Status GetMeta(Env& env, MDB_txn* txn, uint64_t group, const char* name, std::string* val) {
  std::string key = MetaKey(group, name);
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn, env.meta, &k, &v);
  if (rc == MDB_NOTFOUND) return Status(Error::kUnavailable, "");
  if (rc != 0) return FromMdb(rc, "mdb_get meta");
  val->assign(static_cast<const char*>(v.mv_data), v.mv_size);
  return Status::Ok();
}

// Deletes the keys of `group` in `dbi` whose log index lies in [lo, hi] (meta: all of them when
// lo == 0 and hi == UINT64_MAX). Each deletion re-seeks, which LMDB makes O(log n).
Status DeleteRange(MDB_txn* txn, MDB_dbi dbi, uint64_t group, uint64_t lo, uint64_t hi) {
  MDB_cursor* cur = nullptr;
  Status s = FromMdb(mdb_cursor_open(txn, dbi, &cur), "mdb_cursor_open");
  if (!s.ok()) return s;
  std::string start = lo == 0 ? GroupPrefix(group) : LogKey(group, lo);
  int rc = 0;
  for (;;) {
    MDB_val k = Val(start), v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc != 0 || !InGroup(k, group) || KeyIndex(k) > hi) break;
    if ((rc = mdb_cursor_del(cur, 0)) != 0) break;
  }
  mdb_cursor_close(cur);
  return rc == 0 || rc == MDB_NOTFOUND ? Status::Ok() : FromMdb(rc, "delete log range");
}

// Adds to `out` every group with a key in `dbi`, jumping from one group to the next.
Status CollectGroups(MDB_txn* txn, MDB_dbi dbi, std::set<uint64_t>* out) {
  MDB_cursor* cur = nullptr;
  Status s = FromMdb(mdb_cursor_open(txn, dbi, &cur), "mdb_cursor_open");
  if (!s.ok()) return s;
  MDB_val k, v;
  int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  while (rc == 0 && k.mv_size >= 8) {
    uint64_t g = KeyGroup(k);
    out->insert(g);
    if (g == UINT64_MAX) break;
    std::string next = GroupPrefix(g + 1);
    k = Val(next);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  }
  mdb_cursor_close(cur);
  return rc == 0 || rc == MDB_NOTFOUND ? Status::Ok() : FromMdb(rc, "list groups");
}

bool Empty(MDB_txn* txn, MDB_dbi dbi) {
  MDB_stat st;
  return mdb_stat(txn, dbi, &st) == 0 && st.ms_entries == 0;
}

}  // namespace

Status FromMdb(int rc, const char* what) {
  if (rc == 0) return Status::Ok();
  return Status(Error::kIo, std::string(what) + ": " + mdb_strerror(rc));
}

Status OpenEnv(const std::string& dir, const LmdbStorageOptions& options, std::shared_ptr<Env>* out) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status(Error::kIo, "mkdir " + dir + ": " + std::strerror(errno));
  auto env = std::make_shared<Env>();
  env->dir = dir;
  Status s = FromMdb(mdb_env_create(&env->env), "mdb_env_create");
  if (!s.ok()) return s;
  if (!(s = FromMdb(mdb_env_set_maxdbs(env->env, 5), "mdb_env_set_maxdbs")).ok()) return s;
  if (!(s = FromMdb(mdb_env_set_mapsize(env->env, options.map_size_bytes), "mdb_env_set_mapsize")).ok()) return s;
  // Default flags: every commit is synced to disk before it returns.
  s = FromMdb(mdb_env_open(env->env, dir.c_str(), 0, 0644), "mdb_env_open");
  if (!s.ok()) return Status(Error::kIo, "open " + dir + ": " + s.message());
  Txn txn;
  MDB_dbi info = 0;
  if (!(s = txn.Begin(env->env, true)).ok()) return s;
  if (!(s = FromMdb(mdb_dbi_open(txn.get(), "log", MDB_CREATE, &env->log), "mdb_dbi_open log")).ok()) return s;
  if (!(s = FromMdb(mdb_dbi_open(txn.get(), "meta", MDB_CREATE, &env->meta), "mdb_dbi_open meta")).ok()) return s;
  if (!(s = FromMdb(mdb_dbi_open(txn.get(), "info", MDB_CREATE, &info), "mdb_dbi_open info")).ok()) return s;
  // Created on first open by this version, in a store of any age: a format 2 store written
  // before tombstones existed simply has none (docs/formats/raft-log.md).
  if (!(s = FromMdb(mdb_dbi_open(txn.get(), "tombstones", MDB_CREATE, &env->tombstones), "mdb_dbi_open tombstones"))
           .ok())
    return s;
  if (!(s = FromMdb(mdb_dbi_open(txn.get(), "tombstone_ends", MDB_CREATE, &env->tombstone_ends),
                    "mdb_dbi_open tombstone_ends"))
           .ok())
    return s;
  std::string key = "format", val;
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn.get(), info, &k, &v);
  if (rc == MDB_NOTFOUND) {
    if (!Empty(txn.get(), env->log) || !Empty(txn.get(), env->meta))
      return Status(Error::kCorruption, dir + " holds a raft log without a format record (the single-group format "
                                              "of before format 2): not readable by this version");
    PutU64(val, kFormatVersion);
    v = Val(val);
    if (!(s = FromMdb(mdb_put(txn.get(), info, &k, &v, 0), "mdb_put info")).ok()) return s;
  } else if (rc != 0) {
    return FromMdb(rc, "mdb_get info");
  } else {
    const char* p = static_cast<const char*>(v.mv_data);
    uint64_t version = 0;
    if (!GetU64(p, p + v.mv_size, &version) || version != kFormatVersion)
      return Status(Error::kCorruption, dir + ": unsupported raft log format " + std::to_string(version) +
                                            " (this version reads format " + std::to_string(kFormatVersion) + ")");
  }
  if (!(s = txn.Commit()).ok()) return s;
  *out = std::move(env);
  return Status::Ok();
}

namespace {

// Reads `group`'s state in `txn`: its hard state (or its tombstone's term and vote, if
// later), tombstone, snapshot and last index; *first is its first log entry's index (0
// if the log is empty) and *end where its log ends (its last entry, else its snapshot).
Status LoadGroupIn(Env& env, MDB_txn* txn, uint64_t group, GroupState* out, uint64_t* first, LogEnd* end) {
  GroupState st;
  const std::string where = env.dir + " group " + std::to_string(group);
  std::string v;
  Status s = GetMeta(env, txn, group, kHardState, &v);
  if (s.ok()) {
    const char* p = v.data();
    const char* e = p + v.size();
    if (!GetU64(p, e, &st.hs.term) || !GetU64(p, e, &st.hs.vote) || !GetU64(p, e, &st.hs.commit))
      return Status(Error::kCorruption, "hard_state of " + where + " does not decode");
  } else if (s.code() != Error::kUnavailable) {
    return s;
  }
  // A group dropped here before starts from its tombstone's term and vote, so that this node
  // never goes back to an earlier term nor votes twice in one (docs/raft.md). (A store
  // written before tombstones could have a hard state behind its tombstone.)
  uint64_t t_term = 0, t_vote = 0;
  if (!(s = GetTombstone(env, txn, group, &st.tombstone, &t_term, &t_vote, &st.dropped_end)).ok()) return s;
  if (st.tombstone && t_term > st.hs.term) {
    st.hs.term = t_term;
    st.hs.vote = t_vote;
  }
  s = GetMeta(env, txn, group, kSnapshotMeta, &v);
  if (s.ok()) {
    const char* p = v.data();
    const char* e = p + v.size();
    SnapshotMetadata& m = st.snap;
    if (!GetU64(p, e, &m.index) || !GetU64(p, e, &m.term) || !GetIds(p, e, &m.conf_state.voters) ||
        !GetIds(p, e, &m.conf_state.learners))
      return Status(Error::kCorruption, "snapshot_meta of " + where + " does not decode");
  } else if (s.code() != Error::kUnavailable) {
    return s;
  }
  // The group's first and last log keys.
  MDB_cursor* cur = nullptr;
  if (!(s = FromMdb(mdb_cursor_open(txn, env.log, &cur), "mdb_cursor_open")).ok()) return s;
  std::string first_key = GroupPrefix(group);
  MDB_val k = Val(first_key), val;
  int rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE);
  const bool any = rc == 0 && InGroup(k, group);
  *first = any ? KeyIndex(k) : 0;
  st.last = st.snap.index;
  *end = LogEnd{st.snap.term, st.snap.index};
  if (any && (rc = SeekLast(cur, group, &k, &val)) == 0) {
    st.last = KeyIndex(k);
    const char* p = static_cast<const char*>(val.mv_data);
    *end = LogEnd{0, st.last};
    if (!GetU64(p, p + val.mv_size, &end->term)) rc = -1;
  }
  mdb_cursor_close(cur);
  if (rc == -1) return Status(Error::kCorruption, "log entry " + std::to_string(st.last) + " of " + where + " malformed");
  if (rc != 0 && rc != MDB_NOTFOUND) return FromMdb(rc, "read last log entry");
  *out = std::move(st);
  return Status::Ok();
}

}  // namespace

Status LoadGroup(Env& env, uint64_t group, GroupState* out) {
  Txn txn;
  Status s = txn.Begin(env.env, false);
  if (!s.ok()) return s;
  GroupState st;
  uint64_t first = 0;
  LogEnd end;
  if (!(s = LoadGroupIn(env, txn.get(), group, &st, &first, &end)).ok()) return s;
  // The log must start right after the snapshot.
  if (first != 0 && first != st.snap.index + 1)
    return Status(Error::kCorruption, "log of " + env.dir + " group " + std::to_string(group) + " starts at " +
                                          std::to_string(first) + ", not right after the snapshot at " +
                                          std::to_string(st.snap.index));
  *out = std::move(st);
  return Status::Ok();
}

Status ReadEntries(Env& env, uint64_t group, const GroupState& st, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                   std::vector<Entry>* out) {
  if (lo <= st.snap.index)
    return Status(Error::kCompacted, "entries below " + std::to_string(st.snap.index + 1) + " compacted");
  if (hi > st.last + 1) return Status(Error::kUnavailable, "entries beyond " + std::to_string(st.last));
  if (lo >= hi) return Status::Ok();
  Txn txn;
  Status s = txn.Begin(env.env, false);
  if (!s.ok()) return s;
  MDB_cursor* cur = nullptr;
  if (!(s = FromMdb(mdb_cursor_open(txn.get(), env.log, &cur), "mdb_cursor_open")).ok()) return s;
  std::string key = LogKey(group, lo);
  MDB_val k = Val(key), v;
  int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
  uint64_t bytes = 0;
  uint64_t expect = lo;
  while (rc == 0 && expect < hi) {
    Entry e;
    if (!InGroup(k, group) || KeyIndex(k) != expect || !DecodeEntry(expect, v, &e)) {
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

// Reads the term of entry i within `txn` (which may be a write transaction: it sees its own
// writes). REQUIRES snap.index < i <= last.
static Status TermIn(Env& env, MDB_txn* txn, uint64_t group, uint64_t i, uint64_t* term) {
  std::string key = LogKey(group, i);
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn, env.log, &k, &v);
  if (rc == MDB_NOTFOUND) return Status(Error::kCorruption, "log entry " + std::to_string(i) + " missing");
  if (rc != 0) return FromMdb(rc, "mdb_get log");
  const char* p = static_cast<const char*>(v.mv_data);
  if (!GetU64(p, p + v.mv_size, term)) return Status(Error::kCorruption, "log entry " + std::to_string(i) + " malformed");
  return Status::Ok();
}

Status ReadTerm(Env& env, uint64_t group, const GroupState& st, uint64_t i, uint64_t* term) {
  if (i < st.snap.index) return Status(Error::kCompacted, "term of compacted index");
  if (i > st.last) return Status(Error::kUnavailable, "term of index beyond last");
  if (i == st.snap.index) {
    *term = st.snap.term;
    return Status::Ok();
  }
  Txn txn;
  Status s = txn.Begin(env.env, false);
  if (!s.ok()) return s;
  return TermIn(env, txn.get(), group, i, term);
}

Status ReadSnapshotData(Env& env, uint64_t group, std::string* out) {
  out->clear();
  Txn txn;
  Status s = txn.Begin(env.env, false);
  if (!s.ok()) return s;
  s = GetMeta(env, txn.get(), group, kSnapshotData, out);
  return s.code() == Error::kUnavailable ? Status::Ok() : s;
}

namespace {

// The tombstone of a group opened again stays until its log holds something (an entry or a
// snapshot): while it is there the replica is "rejoined empty" and refuses votes
// (Storage::RejoinedEmpty). Then the group's hard_state takes over its term and vote: st.hs
// started from them and terms never go back, and it is written here because a snapshot
// may come before the group's first hard_state of its own.
Status ClearTombstoneOnceLogged(Env& env, MDB_txn* txn, uint64_t group, GroupState& st) {
  if (!st.tombstone || st.last == 0) return Status::Ok();
  if (Status s = PutMeta(env, txn, group, kHardState, EncodeHardState(st.hs)); !s.ok()) return s;
  std::string key = GroupPrefix(group);
  MDB_val k = Val(key);
  int rc = mdb_del(txn, env.tombstones, &k, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) return FromMdb(rc, "mdb_del tombstone");
  rc = mdb_del(txn, env.tombstone_ends, &k, nullptr);
  if (rc != 0 && rc != MDB_NOTFOUND) return FromMdb(rc, "mdb_del tombstone end");
  st.tombstone = false;
  return Status::Ok();
}

}  // namespace

Status SaveIn(Env& env, MDB_txn* txn, uint64_t group, GroupState& st, const std::vector<Entry>& entries,
              const HardState* hs) {
  if (!entries.empty()) {
    uint64_t first = entries.front().index;
    if (first <= st.snap.index) return Status(Error::kInvalidArgument, "Append below snapshot index");
    if (first > st.last + 1) return Status(Error::kInvalidArgument, "Append leaves a gap");
    for (size_t i = 1; i < entries.size(); ++i)
      if (entries[i].index != first + i) return Status(Error::kInvalidArgument, "Append entries not contiguous");
    if (first <= st.last) {
      Status s = DeleteRange(txn, env.log, group, first, UINT64_MAX);
      if (!s.ok()) return s;
    }
    for (const Entry& e : entries) {
      std::string key = LogKey(group, e.index), val = EncodeEntry(e);
      MDB_val k = Val(key), v = Val(val);
      Status s = FromMdb(mdb_put(txn, env.log, &k, &v, 0), "mdb_put log");
      if (!s.ok()) return s;
    }
    st.last = entries.back().index;
  }
  if (hs) {
    Status s = PutMeta(env, txn, group, kHardState, EncodeHardState(*hs));
    if (!s.ok()) return s;
    st.hs = *hs;
  }
  return ClearTombstoneOnceLogged(env, txn, group, st);
}

Status ApplySnapshotIn(Env& env, MDB_txn* txn, uint64_t group, GroupState& st, const Snapshot& snap) {
  if (st.snap.index != 0 && snap.metadata.index <= st.snap.index)
    return Status(Error::kSnapshotOutOfDate, "snapshot older than the current one");
  Status s = DeleteRange(txn, env.log, group, 0, UINT64_MAX);
  if (!s.ok()) return s;
  if (!(s = PutMeta(env, txn, group, kSnapshotMeta, EncodeSnapMeta(snap.metadata))).ok()) return s;
  if (!(s = PutMeta(env, txn, group, kSnapshotData, snap.data)).ok()) return s;
  st.snap = snap.metadata;
  st.last = snap.metadata.index;
  return ClearTombstoneOnceLogged(env, txn, group, st);
}

Status CreateSnapshotIn(Env& env, MDB_txn* txn, uint64_t group, GroupState& st, uint64_t index, const ConfState& cs,
                        const std::string& data, uint64_t durable_applied_index) {
  Status s = LogStorage::CheckCompaction(index, durable_applied_index);
  if (!s.ok()) return s;
  if (index <= st.snap.index) return Status(Error::kSnapshotOutOfDate, "snapshot index not newer");
  if (index > st.last) return Status(Error::kUnavailable, "snapshot index beyond last");
  SnapshotMetadata md{index, 0, cs};
  if (!(s = TermIn(env, txn, group, index, &md.term)).ok()) return s;
  if (!(s = DeleteRange(txn, env.log, group, 0, index)).ok()) return s;
  if (!(s = PutMeta(env, txn, group, kSnapshotMeta, EncodeSnapMeta(md))).ok()) return s;
  if (!(s = PutMeta(env, txn, group, kSnapshotData, data)).ok()) return s;
  st.snap = md;
  return Status::Ok();
}

Status DropGroupIn(Env& env, MDB_txn* txn, uint64_t group) {
  // The tombstone first, from what is committed (the caller holds no handle of the group).
  GroupState st;
  uint64_t first = 0;
  LogEnd end;
  Status s = LoadGroupIn(env, txn, group, &st, &first, &end);
  if (!s.ok()) return s;
  // A tombstone still here means the log got nothing since it was written (its first
  // entry or snapshot deletes it), so the end that tombstone recorded, from an earlier
  // life, is the later one (max keeps it).
  if (st.tombstone) end = std::max(end, st.dropped_end);
  if (st.hs.term > 0) {
    std::string key = GroupPrefix(group), val = EncodePair(st.hs.term, st.hs.vote),
                end_val = EncodePair(end.term, end.index);
    MDB_val k = Val(key), vv = Val(val), ve = Val(end_val);
    if (!(s = FromMdb(mdb_put(txn, env.tombstones, &k, &vv, 0), "mdb_put tombstone")).ok()) return s;
    if (!(s = FromMdb(mdb_put(txn, env.tombstone_ends, &k, &ve, 0), "mdb_put tombstone end")).ok()) return s;
  }
  if (!(s = DeleteRange(txn, env.log, group, 0, UINT64_MAX)).ok()) return s;
  return DeleteRange(txn, env.meta, group, 0, UINT64_MAX);
}

Status ListGroups(Env& env, std::vector<uint64_t>* out) {
  Txn txn;
  Status s = txn.Begin(env.env, false);
  if (!s.ok()) return s;
  std::set<uint64_t> groups;
  if (!(s = CollectGroups(txn.get(), env.meta, &groups)).ok()) return s;
  if (!(s = CollectGroups(txn.get(), env.log, &groups)).ok()) return s;
  out->assign(groups.begin(), groups.end());
  return Status::Ok();
}

}  // namespace vectron::raft::lmdb_internal
