// LmdbAuthStore: the auth records of `vectron serve` in their own LMDB environment.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "net/auth/auth_records.h"
#include "net/auth/auth_store.h"
#include "net/auth/authenticator_impl.h"
#include "storage/lmdb.h"
#include "util/untrusted_json.h"

namespace vectron::net {

using nlohmann::json;

namespace {

// Set in the audit log once a format-1 store's audit table was copied there.
constexpr const char* kAuditImportMarker = "imported_auth_v1";


uint64_t FileBytes(const std::string& path) {
  struct stat sb;
  return ::stat(path.c_str(), &sb) == 0 ? static_cast<uint64_t>(sb.st_size) : 0;
}

// Calls `fn(key, value)` for every entry of `dbi`.
template <typename Fn>
Status ForEach(const storage::Txn& t, storage::Dbi dbi, Fn fn) {
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, t.OpenCursor(dbi));
  VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
  while (more) {
    VECTRON_RETURN_IF_ERROR(fn(c.key(), c.value()));
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  return Status::OK();
}

// Format 1 → 2 inside the auth store's write transaction `wt`: the audit table goes to
// the audit log (its newest events, as many as the log keeps; marked there, so a crash
// before `wt` commits does not copy them twice), users get ids, session epochs and
// grants, keys their owner's id.
Status MigrateV1(storage::WriteTxn& wt, AuditLog& audit, uint64_t audit_max_bytes, const storage::Dbi& users,
                 const storage::Dbi& keys) {
  // Opened around the wrapper, which would recreate the table when the environment is
  // compacted (it reopens every database it opened).
  storage::Dbi old_audit;
  int rc = mdb_dbi_open(wt.get(), "audit", 0, &old_audit.handle);
  if (rc == MDB_NOTFOUND) return Status::OK();
  if (rc != 0) return storage::MdbStatus(rc, "opening the format-1 audit table");
  VECTRON_ASSIGN_OR_RETURN(bool imported, audit.Imported(kAuditImportMarker));
  if (!imported) {
    std::vector<std::string> newest_first;
    uint64_t bytes = 0;
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(old_audit));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.Last());
    while (more && bytes < audit_max_bytes) {
      // Bounded before it is kept: a format-1 log may hold megabyte-long user names.
      json e = json::parse(c.value(), nullptr, false);
      if (e.is_object()) {
        newest_first.push_back(DumpJson(BoundAuditValue(e)));
        bytes += newest_first.back().size() + 8;
      }
      VECTRON_ASSIGN_OR_RETURN(more, c.Prev());
    }
    VECTRON_RETURN_IF_ERROR(audit.Import({newest_first.rbegin(), newest_first.rend()}, kAuditImportMarker));
  }
  rc = mdb_drop(wt.get(), old_audit.handle, 1);  // Deletes the table itself.
  if (rc != 0) return storage::MdbStatus(rc, "dropping the format-1 audit table");
  std::map<std::string, std::string> ids;  // name → new id
  std::vector<std::pair<std::string, std::string>> rewritten;
  VECTRON_RETURN_IF_ERROR(ForEach(wt, users, [&](std::string_view name, std::string_view v) -> Status {
    VECTRON_ASSIGN_OR_RETURN(std::string id, RandomId("u_", 12));
    ids[std::string(name)] = id;
    rewritten.emplace_back(std::string(name), UpgradeUserV1(json::parse(v), id).dump());
    return Status::OK();
  }));
  for (auto& [k, v] : rewritten) VECTRON_RETURN_IF_ERROR(wt.Put(users, k, v));
  rewritten.clear();
  VECTRON_RETURN_IF_ERROR(ForEach(wt, keys, [&](std::string_view id, std::string_view v) -> Status {
    json k = json::parse(v);
    auto owner = ids.find(k.at("owner").get<std::string>());
    rewritten.emplace_back(std::string(id), DumpJson(UpgradeKeyV1(k, owner == ids.end() ? "" : owner->second)));
    return Status::OK();
  }));
  for (auto& [k, v] : rewritten) VECTRON_RETURN_IF_ERROR(wt.Put(keys, k, v));
  return Status::OK();
}

}  // namespace

struct LmdbAuthStore::Impl {
  std::optional<storage::LmdbEnv> env;
  storage::Dbi users, keys, signing, meta;

  // The table and the key in it of record `key`; InvalidArgument for another kind.
  Result<std::pair<storage::Dbi, std::string>> Locate(const std::string& key) const {
    for (auto [prefix, dbi] : {std::pair{"user/", users}, std::pair{"key/", keys}, std::pair{"signing/", signing},
                               std::pair{"meta/", meta}}) {
      std::string_view p(prefix);
      if (key.compare(0, p.size(), p) == 0 && key.size() > p.size()) {
        std::string rest = key.substr(p.size());
        if (dbi.handle == meta.handle && rest != "current_kid") break;
        return std::pair{dbi, rest};
      }
    }
    return Status::InvalidArgument("auth record \"" + key.substr(0, 64) +
                                   "\" is none of user/, key/, signing/, meta/current_kid");
  }
};

LmdbAuthStore::LmdbAuthStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LmdbAuthStore::~LmdbAuthStore() = default;

Result<std::unique_ptr<LmdbAuthStore>> LmdbAuthStore::Open(const std::string& dir, uint64_t map_size_bytes,
                                                           AuditLog& audit, uint64_t audit_max_bytes, bool* migrated) {
  *migrated = false;
  auto m = std::make_unique<Impl>();
  storage::EnvOptions eo;
  // A store that grew past the map (a format-1 audit table) opens with room to migrate.
  const uint64_t file_bytes = FileBytes(dir + "/data.mdb");
  eo.map_size_bytes = std::max(map_size_bytes, file_bytes + (uint64_t{64} << 20));
  eo.max_dbs = 8;
  VECTRON_ASSIGN_OR_RETURN(storage::LmdbEnv env, storage::LmdbEnv::Open(dir, eo));
  m->env.emplace(std::move(env));
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m->env));
  VECTRON_ASSIGN_OR_RETURN(m->users, wt.OpenDbi("users", MDB_CREATE));
  VECTRON_ASSIGN_OR_RETURN(m->keys, wt.OpenDbi("keys", MDB_CREATE));
  VECTRON_ASSIGN_OR_RETURN(m->signing, wt.OpenDbi("signing_keys", MDB_CREATE));
  VECTRON_ASSIGN_OR_RETURN(m->meta, wt.OpenDbi("meta", MDB_CREATE));
  VECTRON_ASSIGN_OR_RETURN(auto version, wt.Get(m->meta, "format_version"));
  if (version && *version == "1") {
    Status st;
    try {
      st = MigrateV1(wt, audit, audit_max_bytes, m->users, m->keys);
    } catch (const json::exception& e) {
      st = Status::Corruption(e.what());
    }
    VECTRON_RETURN_IF_ERROR(st.WithContext("upgrading auth store " + dir + " from format 1"));
    *migrated = true;
  } else if (version && *version != kAuthFormatVersion) {
    return Status::FailedPrecondition("auth store " + dir + " has format version " + std::string(*version) +
                                      ", this build reads 1 and " + std::string(kAuthFormatVersion));
  }
  if (!version || *migrated) VECTRON_RETURN_IF_ERROR(wt.Put(m->meta, "format_version", kAuthFormatVersion));
  VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  // The format-1 audit table may have grown the file far past what is left: give the
  // space back (only possible while no other process has the store open).
  if (*migrated && file_bytes > (uint64_t{64} << 20)) {
    if (Status st = m->env->CompactFiles(); !st.ok())
      std::fprintf(stderr, "warn auth store %s not compacted after the upgrade: %s\n", dir.c_str(), st.ToString().c_str());
  }
  return std::unique_ptr<LmdbAuthStore>(new LmdbAuthStore(std::move(m)));
}

Result<AuthStore::Snapshot> LmdbAuthStore::Load() {
  Impl& m = *impl_;
  Snapshot s;
  VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(*m.env));
  s.version = rt.id();
  for (auto [prefix, dbi] : {std::pair{"user/", m.users}, std::pair{"key/", m.keys}, std::pair{"signing/", m.signing}}) {
    VECTRON_RETURN_IF_ERROR(ForEach(rt, dbi, [&](std::string_view k, std::string_view v) {
      s.records.emplace(prefix + std::string(k), std::string(v));
      return Status::OK();
    }));
  }
  VECTRON_ASSIGN_OR_RETURN(auto cur, rt.Get(m.meta, "current_kid"));
  if (cur) s.records.emplace("meta/current_kid", std::string(*cur));
  return s;
}

Result<uint64_t> LmdbAuthStore::Commit(uint64_t if_version, std::vector<AuthChange> changes) {
  Impl& m = *impl_;
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*m.env));
  // A write transaction's id is the last committed one's plus one.
  const uint64_t base = mdb_txn_id(wt.get()) - 1;
  if (if_version != 0 && base != if_version)
    return Status::Aborted("the auth records changed meanwhile (version " + std::to_string(base) + ", expected " +
                           std::to_string(if_version) + ")");
  if (changes.empty()) return base;
  for (const AuthChange& c : changes) {
    VECTRON_ASSIGN_OR_RETURN(auto where, m.Locate(c.key));
    if (c.value) {
      VECTRON_RETURN_IF_ERROR(wt.Put(where.first, where.second, *c.value));
    } else {
      VECTRON_ASSIGN_OR_RETURN(bool found, wt.Del(where.first, where.second));
      (void)found;
    }
  }
  VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  return base + 1;
}

uint64_t LmdbAuthStore::version() { return impl_->env->LastTxnId(); }

}  // namespace vectron::net
