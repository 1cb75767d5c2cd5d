#include "vectron/database.h"

#include <pthread.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "checkpoint_files.h"
#include "collection_handle.h"
#include "collection_internal.h"
#include "storage/lmdb.h"
#include "util/files.h"
#include "util/mutex.h"
#include "validate.h"

namespace vectron {
namespace {

// LMDB forbids opening one environment twice in a process; so do we, per directory.
// Each entry records the process that opened it: after fork() the child inherits the
// parent's entries, which then name another process, and the child may open the
// directory afresh (an inherited Database must not be used or destroyed in the child).
struct OpenDirs {
  Mutex mu;
  std::map<std::string, pid_t> opener ABSL_GUARDED_BY(mu);  // canonical path -> pid
};
OpenDirs& Registry();
// fork() handlers: a fork() while another thread holds the lock would leave it locked
// forever in the child; holding it across fork() keeps it consistent in both processes.
void LockBeforeFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { Registry().mu.Lock(); }
void UnlockAfterFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { Registry().mu.Unlock(); }
OpenDirs& Registry() {
  static OpenDirs* dirs = [] {
    auto* d = new OpenDirs();  // Leaked: the fork handlers use it until the process ends.
    pthread_atfork(&LockBeforeFork, &UnlockAfterFork, &UnlockAfterFork);
    return d;
  }();
  return *dirs;
}

Status ValidateCollectionName(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return Status::InvalidArgument("collection name must be 1 to 64 characters, got " + std::to_string(name.size()));
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok)
      return Status::InvalidArgument("collection name \"" + name +
                                     "\" may contain only letters, digits, '_' and '-'");
  }
  return Status::OK();
}

constexpr size_t kMaxCollectionMetadataBytes = 64 << 10;

Status ValidateCollectionMetadata(std::string_view text, std::string* canonical) {
  if (text.size() > kMaxCollectionMetadataBytes)
    return Status::InvalidArgument("collection metadata is " + std::to_string(text.size()) +
                                   " bytes, the limit is " + std::to_string(kMaxCollectionMetadataBytes));
  return ValidateMetadata(text, canonical).WithContext("collection metadata");
}

}  // namespace

// Layout: DIR/catalog/ (LMDB: meta.format_version, collections: name → config JSON,
// dirs: name → its directory's name when that is not the name (after a rename),
// collection_meta: name → JSON object) and DIR/collections/DIRNAME/.
struct Database::Impl {
  std::string path;
  std::string registry_key;
  DatabaseOptions options;
  std::optional<storage::LmdbEnv> catalog;
  storage::Dbi meta, collections, dirs, collection_meta;
  // Serialises what changes the set of collections or must not see it change: create,
  // drop, opening a collection, sync and backup (which may take long).
  Mutex catalog_mu;
  // Guards `open` and is held only for a map operation, so finding an open collection
  // never waits behind catalog_mu's long holders. Taken after catalog_mu, never before.
  // Entries are added and removed only with catalog_mu held too.
  Mutex open_mu;
  // The handles handed out, by name. A handle leaves the map when it is closed (drop,
  // rename, the Database closing); its holders then get the status it was closed with.
  std::map<std::string, std::shared_ptr<CollectionHandle>> open ABSL_GUARDED_BY(open_mu);

  // The directory of the collection whose directory name is `dirname`.
  std::string CollectionDir(const std::string& dirname) const { return path + "/collections/" + dirname; }
  // The directory name of collection `name` in `txn` (its name unless renamed).
  Result<std::string> DirName(const storage::Txn& txn, const std::string& name) const {
    VECTRON_ASSIGN_OR_RETURN(auto d, txn.Get(dirs, name));
    return d ? std::string(*d) : name;
  }
  // A directory name for a new collection `name`: its name, unless a renamed
  // collection's directory has it.
  Result<std::string> FreeDirName(const storage::Txn& txn, const std::string& name) const {
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(dirs));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
    while (more) {
      if (c.value() == name) return name + "." + UniqueSuffix();  // '.' is not in names
      VECTRON_ASSIGN_OR_RETURN(more, c.Next());
    }
    return name;
  }
  // The open collection `name`, or null.
  std::shared_ptr<CollectionHandle> FindOpen(const std::string& name) ABSL_LOCKS_EXCLUDED(open_mu);
  // Adds an opened collection and returns its handle.
  std::shared_ptr<CollectionHandle> AddOpen(const std::string& name, std::unique_ptr<CollectionImpl> col)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(catalog_mu) ABSL_LOCKS_EXCLUDED(open_mu);
  // Removes collection `name` from `open` and closes its handle with `why` (once the
  // calls in flight on it have ended); does nothing if it is not open.
  void CloseOpen(const std::string& name, const Status& why, bool dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(catalog_mu) ABSL_LOCKS_EXCLUDED(open_mu);
  // GetCollection's body.
  Result<std::shared_ptr<CollectionHandle>> GetLocked(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(catalog_mu);
  // Backup's body: copies the catalog and every collection it lists into `partial`,
  // then renames it to `dest`.
  Status CopyTo(const std::string& partial, const std::string& dest) ABSL_EXCLUSIVE_LOCKS_REQUIRED(catalog_mu);

  ~Impl() {
    // Close collections (saving checkpoints) before the catalog. Handles users still
    // hold answer FailedPrecondition from now on.
    const Status closed = Status::FailedPrecondition("database " + path + " is closed");
    for (auto& [name, handle] : open) handle->Close(closed, /*dropped=*/false);
    open.clear();
    catalog.reset();
    if (!registry_key.empty()) {
      OpenDirs& reg = Registry();
      MutexLock g(reg.mu);
      if (auto it = reg.opener.find(registry_key); it != reg.opener.end() && it->second == getpid())
        reg.opener.erase(it);
    }
  }
};

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;

Result<std::unique_ptr<Database>> Database::Open(const std::string& dir, const DatabaseOptions& options) {
  VECTRON_RETURN_IF_ERROR(options.Validate());
  if (dir.empty()) return Status::InvalidArgument("database path is empty");
  if (!PathExists(dir)) {
    if (!options.create_if_missing) return Status::NotFound("database directory " + dir + " does not exist");
    VECTRON_RETURN_IF_ERROR(MakeDirs(dir));
  }
  std::error_code ec;
  std::string key = std::filesystem::canonical(dir, ec).string();
  if (ec) return Status::IOError("resolving " + dir + ": " + ec.message());

  auto impl = std::make_unique<Impl>();
  impl->path = dir;
  impl->options = options;
  {
    OpenDirs& reg = Registry();
    MutexLock g(reg.mu);
    auto [it, added] = reg.opener.try_emplace(key, getpid());
    if (!added && it->second == getpid())
      return Status::FailedPrecondition("database " + dir + " is already open in this process");
    it->second = getpid();  // Or the entry was inherited from the parent across fork().
  }
  impl->registry_key = key;

  const std::string catalog_dir = dir + "/catalog";
  if (!PathExists(catalog_dir)) {
    VECTRON_ASSIGN_OR_RETURN(auto names, ListDir(dir));
    if (!names.empty())
      return Status::FailedPrecondition(dir + " is not empty and is not a Vectron database (no catalog/)");
    VECTRON_RETURN_IF_ERROR(MakeDirs(catalog_dir));
  }
  storage::EnvOptions eo;
  eo.map_size_bytes = 1ull << 30;
  VECTRON_ASSIGN_OR_RETURN(storage::LmdbEnv env, storage::LmdbEnv::Open(catalog_dir, eo));
  impl->catalog.emplace(std::move(env));
  std::set<std::string> known;
  {
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*impl->catalog));
    VECTRON_ASSIGN_OR_RETURN(impl->meta, wt.OpenDbi("meta"));
    VECTRON_ASSIGN_OR_RETURN(impl->collections, wt.OpenDbi("collections"));
    VECTRON_ASSIGN_OR_RETURN(impl->dirs, wt.OpenDbi("dirs"));
    VECTRON_ASSIGN_OR_RETURN(impl->collection_meta, wt.OpenDbi("collection_meta"));
    VECTRON_ASSIGN_OR_RETURN(auto v, wt.Get(impl->meta, "format_version"));
    const std::string mine = std::to_string(kFormatVersion);
    const std::string renamed = std::to_string(kRenamedFormatVersion);
    if (!v) {
      VECTRON_RETURN_IF_ERROR(wt.Put(impl->meta, "format_version", mine));
    } else if (*v != mine && *v != renamed) {
      return Status::FailedPrecondition("database " + dir + " has format version " + std::string(*v) +
                                        "; this build reads versions " + mine + " and " + renamed);
    }
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(impl->collections));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
    while (more) {
      VECTRON_ASSIGN_OR_RETURN(std::string dname, impl->DirName(wt, std::string(c.key())));
      known.insert(std::move(dname));
      VECTRON_ASSIGN_OR_RETURN(more, c.Next());
    }
    // Directories of collections whose create or drop was interrupted are garbage.
    if (PathExists(dir + "/collections")) {
      VECTRON_ASSIGN_OR_RETURN(auto names, ListDir(dir + "/collections"));
      for (const auto& n : names)
        if (!known.count(n)) VECTRON_RETURN_IF_ERROR(RemoveAll(dir + "/collections/" + n));
    }
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
  return std::unique_ptr<Database>(new Database(std::move(impl)));
}

Result<std::shared_ptr<Collection>> Database::CreateCollection(const std::string& name, const CollectionConfig& config,
                                               std::string_view metadata) {
  VECTRON_RETURN_IF_ERROR(ValidateCollectionName(name));
  VECTRON_RETURN_IF_ERROR(config.Validate().WithContext("collection \"" + name + "\""));
  std::string meta;
  VECTRON_RETURN_IF_ERROR(ValidateCollectionMetadata(metadata, &meta));
  MutexLock lock(impl_->catalog_mu);
  // The catalog write transaction doubles as the cross-process lock for create.
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*impl_->catalog));
  VECTRON_ASSIGN_OR_RETURN(auto existing, wt.Get(impl_->collections, name));
  if (existing) return Status::AlreadyExists("collection \"" + name + "\" already exists");
  VECTRON_ASSIGN_OR_RETURN(std::string dname, impl_->FreeDirName(wt, name));
  const std::string cdir = impl_->CollectionDir(dname);
  VECTRON_RETURN_IF_ERROR(RemoveAll(cdir));
  VECTRON_ASSIGN_OR_RETURN(auto col, CollectionImpl::Open(name, cdir, config, impl_->options));
  VECTRON_RETURN_IF_ERROR(wt.Put(impl_->collections, name, config.ToJson()));
  if (dname != name) VECTRON_RETURN_IF_ERROR(wt.Put(impl_->dirs, name, dname));
  if (!meta.empty()) VECTRON_RETURN_IF_ERROR(wt.Put(impl_->collection_meta, name, meta));
  if (Status s = std::move(wt).Commit(); !s.ok()) {
    col->MarkDropped();
    col.reset();
    (void)RemoveAll(cdir);
    return s;
  }
  return std::shared_ptr<Collection>(impl_->AddOpen(name, std::move(col)));
}

std::shared_ptr<CollectionHandle> Database::Impl::FindOpen(const std::string& name) {
  MutexLock lock(open_mu);
  auto it = open.find(name);
  return it == open.end() ? nullptr : it->second;
}

std::shared_ptr<CollectionHandle> Database::Impl::AddOpen(const std::string& name,
                                                          std::unique_ptr<CollectionImpl> col) {
  auto handle = std::make_shared<CollectionHandle>(std::move(col));
  MutexLock lock(open_mu);
  open[name] = handle;
  return handle;
}

void Database::Impl::CloseOpen(const std::string& name, const Status& why, bool dropped) {
  std::shared_ptr<CollectionHandle> handle;
  {
    MutexLock g(open_mu);
    auto it = open.find(name);
    if (it == open.end()) return;
    handle = std::move(it->second);
    open.erase(it);
  }
  handle->Close(why, dropped);  // Outside open_mu: it waits for the calls in flight.
}

Result<std::shared_ptr<Collection>> Database::GetCollection(const std::string& name) {
  VECTRON_RETURN_IF_ERROR(ValidateCollectionName(name));
  // An open collection is found without waiting for a create, drop, sync or backup.
  if (std::shared_ptr<CollectionHandle> c = impl_->FindOpen(name)) return std::shared_ptr<Collection>(std::move(c));
  MutexLock lock(impl_->catalog_mu);
  VECTRON_ASSIGN_OR_RETURN(std::shared_ptr<CollectionHandle> col, impl_->GetLocked(name));
  return std::shared_ptr<Collection>(std::move(col));
}

Result<std::shared_ptr<CollectionHandle>> Database::Impl::GetLocked(const std::string& name) {
  if (std::shared_ptr<CollectionHandle> c = FindOpen(name)) return c;
  std::string config_text, dname;
  {
    VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(*catalog));
    VECTRON_ASSIGN_OR_RETURN(auto v, rt.Get(collections, name));
    if (!v) return Status::NotFound("collection \"" + name + "\" does not exist");
    config_text = std::string(*v);
    VECTRON_ASSIGN_OR_RETURN(dname, DirName(rt, name));
  }
  VECTRON_ASSIGN_OR_RETURN(CollectionConfig config, CollectionConfig::FromJson(config_text));
  VECTRON_ASSIGN_OR_RETURN(auto col, CollectionImpl::Open(name, CollectionDir(dname), config, options));
  return AddOpen(name, std::move(col));
}

Result<std::shared_ptr<Collection>> Database::GetOrCreateCollection(const std::string& name,
                                                                    const CollectionConfig& config) {
  auto got = GetCollection(name);
  if (got.ok()) {
    const auto& have = (*got)->config();
    if (have.dim != config.dim || have.metric != config.metric)
      return Status::FailedPrecondition("collection \"" + name + "\" exists with dim " + std::to_string(have.dim) +
                                        " and metric " + std::string(MetricName(have.metric)));
    return got;
  }
  if (!got.status().IsNotFound()) return got.status();
  auto created = CreateCollection(name, config);
  if (!created.ok() && created.status().code() == StatusCode::kAlreadyExists) return GetCollection(name);
  return created;
}

Result<std::vector<std::string>> Database::ListCollections() const {
  std::vector<std::string> names;
  VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(*impl_->catalog));
  VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, rt.OpenCursor(impl_->collections));
  VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
  while (more) {
    names.emplace_back(c.key());
    VECTRON_ASSIGN_OR_RETURN(more, c.Next());
  }
  return names;
}

Status Database::DropCollection(const std::string& name) {
  VECTRON_RETURN_IF_ERROR(ValidateCollectionName(name));
  MutexLock lock(impl_->catalog_mu);
  std::string dname;
  {
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*impl_->catalog));
    VECTRON_ASSIGN_OR_RETURN(dname, impl_->DirName(wt, name));
    VECTRON_ASSIGN_OR_RETURN(bool existed, wt.Del(impl_->collections, name));
    if (!existed) return Status::NotFound("collection \"" + name + "\" does not exist");
    VECTRON_ASSIGN_OR_RETURN(bool had_dir, wt.Del(impl_->dirs, name));
    VECTRON_ASSIGN_OR_RETURN(bool had_meta, wt.Del(impl_->collection_meta, name));
    (void)had_dir;
    (void)had_meta;
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
  // Its handles answer NotFound from now on; the calls in flight end first, so none
  // writes to the files deleted next.
  impl_->CloseOpen(name, Status::NotFound("collection \"" + name + "\" was dropped"), /*dropped=*/true);
  // A crash before this completes leaves a directory that the next Open removes.
  return RemoveAll(impl_->CollectionDir(dname));
}

Status Database::RenameCollection(const std::string& from, const std::string& to) {
  VECTRON_RETURN_IF_ERROR(ValidateCollectionName(from));
  VECTRON_RETURN_IF_ERROR(ValidateCollectionName(to));
  MutexLock lock(impl_->catalog_mu);
  {
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*impl_->catalog));
    VECTRON_ASSIGN_OR_RETURN(auto config, wt.Get(impl_->collections, from));
    if (!config) return Status::NotFound("collection \"" + from + "\" does not exist");
    const std::string config_text(*config);
    if (from == to) return Status::OK();
    VECTRON_ASSIGN_OR_RETURN(auto taken, wt.Get(impl_->collections, to));
    if (taken) return Status::AlreadyExists("collection \"" + to + "\" already exists");
    VECTRON_ASSIGN_OR_RETURN(std::string dname, impl_->DirName(wt, from));
    VECTRON_ASSIGN_OR_RETURN(auto meta, wt.Get(impl_->collection_meta, from));
    const std::optional<std::string> meta_text = meta ? std::optional<std::string>(std::string(*meta)) : std::nullopt;
    VECTRON_ASSIGN_OR_RETURN(bool gone, wt.Del(impl_->collections, from));
    VECTRON_ASSIGN_OR_RETURN(bool gone_dir, wt.Del(impl_->dirs, from));
    VECTRON_ASSIGN_OR_RETURN(bool gone_meta, wt.Del(impl_->collection_meta, from));
    (void)gone;
    (void)gone_dir;
    (void)gone_meta;
    VECTRON_RETURN_IF_ERROR(wt.Put(impl_->collections, to, config_text));
    if (dname != to) VECTRON_RETURN_IF_ERROR(wt.Put(impl_->dirs, to, dname));
    // From now on the catalog maps names to directories: older builds must refuse it.
    VECTRON_RETURN_IF_ERROR(wt.Put(impl_->meta, "format_version", std::to_string(kRenamedFormatVersion)));
    if (meta_text) VECTRON_RETURN_IF_ERROR(wt.Put(impl_->collection_meta, to, *meta_text));
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
  // Closed (saving checkpoints) and opened again under the new name when next asked for;
  // the handles taken under the old name answer NotFound.
  impl_->CloseOpen(from, Status::NotFound("collection \"" + from + "\" was renamed to \"" + to + "\""),
                   /*dropped=*/false);
  return Status::OK();
}

Status Database::SetCollectionMetadata(const std::string& name, std::string_view metadata) {
  VECTRON_RETURN_IF_ERROR(ValidateCollectionName(name));
  std::string meta;
  VECTRON_RETURN_IF_ERROR(ValidateCollectionMetadata(metadata, &meta));
  MutexLock lock(impl_->catalog_mu);
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*impl_->catalog));
  VECTRON_ASSIGN_OR_RETURN(auto existing, wt.Get(impl_->collections, name));
  if (!existing) return Status::NotFound("collection \"" + name + "\" does not exist");
  if (meta.empty()) {
    VECTRON_ASSIGN_OR_RETURN(bool gone, wt.Del(impl_->collection_meta, name));
    (void)gone;
  } else {
    VECTRON_RETURN_IF_ERROR(wt.Put(impl_->collection_meta, name, meta));
  }
  return std::move(wt).Commit();
}

Result<std::string> Database::GetCollectionMetadata(const std::string& name) const {
  VECTRON_RETURN_IF_ERROR(ValidateCollectionName(name));
  VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(*impl_->catalog));
  VECTRON_ASSIGN_OR_RETURN(auto existing, rt.Get(impl_->collections, name));
  if (!existing) return Status::NotFound("collection \"" + name + "\" does not exist");
  VECTRON_ASSIGN_OR_RETURN(auto meta, rt.Get(impl_->collection_meta, name));
  return meta ? std::string(*meta) : std::string();
}

Status Database::Sync() {
  MutexLock lock(impl_->catalog_mu);  // No create or drop meanwhile: every handle stays open.
  std::vector<std::shared_ptr<CollectionHandle>> cols;
  {
    MutexLock g(impl_->open_mu);
    for (auto& [name, col] : impl_->open) cols.push_back(col);
  }
  for (const auto& col : cols) VECTRON_RETURN_IF_ERROR(col->Sync());
  return Status::OK();
}

Status Database::Impl::CopyTo(const std::string& partial, const std::string& dest) {
  VECTRON_RETURN_IF_ERROR(MakeDirs(partial + "/catalog"));
  VECTRON_RETURN_IF_ERROR(catalog->CopyCompact(partial + "/catalog"));
  VECTRON_RETURN_IF_ERROR(FsyncPath(partial + "/catalog/data.mdb"));
  // The collections the copied catalog lists (another process may change the live one).
  std::vector<std::pair<std::string, std::string>> names;  // (name, directory name)
  {
    VECTRON_ASSIGN_OR_RETURN(storage::LmdbEnv copy, storage::LmdbEnv::Open(partial + "/catalog", {}));
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(copy));
    VECTRON_ASSIGN_OR_RETURN(storage::Dbi dbi, wt.OpenDbi("collections"));
    VECTRON_ASSIGN_OR_RETURN(storage::Dbi dirs_dbi, wt.OpenDbi("dirs"));
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(dbi));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
    while (more) {
      VECTRON_ASSIGN_OR_RETURN(auto d, wt.Get(dirs_dbi, c.key()));
      names.emplace_back(std::string(c.key()), d ? std::string(*d) : std::string(c.key()));
      VECTRON_ASSIGN_OR_RETURN(more, c.Next());
    }
  }
  for (const auto& [name, dname] : names) {
    VECTRON_ASSIGN_OR_RETURN(std::shared_ptr<CollectionHandle> col, GetLocked(name));
    VECTRON_RETURN_IF_ERROR(col->Backup(partial + "/collections/" + dname)
                                .WithContext("collection \"" + name + "\""));
  }
  VECTRON_RETURN_IF_ERROR(FsyncPath(partial));
  return RenamePath(partial, dest);
}

Status Database::Backup(const std::string& dest) {
  if (dest.empty()) return Status::InvalidArgument("backup path is empty");
  if (PathExists(dest)) return Status::AlreadyExists("backup destination " + dest + " exists; give a new directory");
  MutexLock lock(impl_->catalog_mu);  // No create or drop in this process meanwhile.
  // Everything goes to a sibling temp directory renamed into place at the end, so a
  // failed or interrupted backup never leaves something that looks complete.
  const std::string partial = dest + ".partial-" + UniqueSuffix();
  Status s = impl_->CopyTo(partial, dest);
  if (!s.ok()) (void)RemoveAll(partial);
  return s;
}

const std::string& Database::path() const { return impl_->path; }
const DatabaseOptions& Database::options() const { return impl_->options; }

}  // namespace vectron
