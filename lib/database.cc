#include "vectron/database.h"

#include <filesystem>
#include <map>
#include <set>

#include "checkpoint_files.h"
#include "collection_internal.h"
#include "storage/lmdb.h"
#include "util/files.h"
#include "util/mutex.h"

namespace vectron {
namespace {

// LMDB forbids opening one environment twice in a process; so do we, per directory.
struct OpenDirs {
  Mutex mu;
  std::set<std::string> canonical ABSL_GUARDED_BY(mu);
};
OpenDirs& Registry() {
  static OpenDirs dirs;
  return dirs;
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

}  // namespace

// Layout: DIR/catalog/ (LMDB: meta.format_version, collections: name → config JSON)
// and DIR/collections/NAME/.
struct Database::Impl {
  std::string path;
  std::string registry_key;
  DatabaseOptions options;
  std::optional<storage::LmdbEnv> catalog;
  storage::Dbi meta, collections;
  Mutex mu;  // create, open, drop and backup of collections in this process
  std::map<std::string, std::unique_ptr<CollectionImpl>> open ABSL_GUARDED_BY(mu);

  std::string CollectionDir(const std::string& name) const { return path + "/collections/" + name; }
  // GetCollection's body.
  Result<CollectionImpl*> GetLocked(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Backup's body: copies the catalog and every collection it lists into `partial`,
  // then renames it to `dest`.
  Status CopyTo(const std::string& partial, const std::string& dest) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  ~Impl() {
    open.clear();  // Close collections (saving checkpoints) before the catalog.
    catalog.reset();
    if (!registry_key.empty()) {
      OpenDirs& reg = Registry();
      MutexLock g(reg.mu);
      reg.canonical.erase(registry_key);
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
    if (!reg.canonical.insert(key).second)
      return Status::FailedPrecondition("database " + dir + " is already open in this process");
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
    VECTRON_ASSIGN_OR_RETURN(auto v, wt.Get(impl->meta, "format_version"));
    const std::string mine = std::to_string(kFormatVersion);
    if (!v) {
      VECTRON_RETURN_IF_ERROR(wt.Put(impl->meta, "format_version", mine));
    } else if (*v != mine) {
      return Status::FailedPrecondition("database " + dir + " has format version " + std::string(*v) +
                                        "; this build reads version " + mine);
    }
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(impl->collections));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
    while (more) {
      known.insert(std::string(c.key()));
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

Result<Collection*> Database::CreateCollection(const std::string& name, const CollectionConfig& config) {
  VECTRON_RETURN_IF_ERROR(ValidateCollectionName(name));
  VECTRON_RETURN_IF_ERROR(config.Validate().WithContext("collection \"" + name + "\""));
  MutexLock lock(impl_->mu);
  // The catalog write transaction doubles as the cross-process lock for create.
  VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*impl_->catalog));
  VECTRON_ASSIGN_OR_RETURN(auto existing, wt.Get(impl_->collections, name));
  if (existing) return Status::AlreadyExists("collection \"" + name + "\" already exists");
  const std::string cdir = impl_->CollectionDir(name);
  VECTRON_RETURN_IF_ERROR(RemoveAll(cdir));
  VECTRON_ASSIGN_OR_RETURN(auto col, CollectionImpl::Open(name, cdir, config, impl_->options));
  VECTRON_RETURN_IF_ERROR(wt.Put(impl_->collections, name, config.ToJson()));
  if (Status s = std::move(wt).Commit(); !s.ok()) {
    col->MarkDropped();
    col.reset();
    (void)RemoveAll(cdir);
    return s;
  }
  Collection* raw = col.get();
  impl_->open[name] = std::move(col);
  return raw;
}

Result<Collection*> Database::GetCollection(const std::string& name) {
  VECTRON_RETURN_IF_ERROR(ValidateCollectionName(name));
  MutexLock lock(impl_->mu);
  VECTRON_ASSIGN_OR_RETURN(CollectionImpl * col, impl_->GetLocked(name));
  return col;
}

Result<CollectionImpl*> Database::Impl::GetLocked(const std::string& name) {
  if (auto it = open.find(name); it != open.end()) return it->second.get();
  std::string config_text;
  {
    VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(*catalog));
    VECTRON_ASSIGN_OR_RETURN(auto v, rt.Get(collections, name));
    if (!v) return Status::NotFound("collection \"" + name + "\" does not exist");
    config_text = std::string(*v);
  }
  VECTRON_ASSIGN_OR_RETURN(CollectionConfig config, CollectionConfig::FromJson(config_text));
  VECTRON_ASSIGN_OR_RETURN(auto col, CollectionImpl::Open(name, CollectionDir(name), config, options));
  CollectionImpl* raw = col.get();
  open[name] = std::move(col);
  return raw;
}

Result<Collection*> Database::GetOrCreateCollection(const std::string& name, const CollectionConfig& config) {
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
  MutexLock lock(impl_->mu);
  {
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(*impl_->catalog));
    VECTRON_ASSIGN_OR_RETURN(bool existed, wt.Del(impl_->collections, name));
    if (!existed) return Status::NotFound("collection \"" + name + "\" does not exist");
    VECTRON_RETURN_IF_ERROR(std::move(wt).Commit());
  }
  if (auto it = impl_->open.find(name); it != impl_->open.end()) {
    it->second->MarkDropped();
    impl_->open.erase(it);
  }
  // A crash before this completes leaves a directory that the next Open removes.
  return RemoveAll(impl_->CollectionDir(name));
}

Status Database::Sync() {
  MutexLock lock(impl_->mu);
  for (auto& [name, col] : impl_->open) VECTRON_RETURN_IF_ERROR(col->Sync());
  return Status::OK();
}

Status Database::Impl::CopyTo(const std::string& partial, const std::string& dest) {
  VECTRON_RETURN_IF_ERROR(MakeDirs(partial + "/catalog"));
  VECTRON_RETURN_IF_ERROR(catalog->CopyCompact(partial + "/catalog"));
  VECTRON_RETURN_IF_ERROR(FsyncPath(partial + "/catalog/data.mdb"));
  // The collections the copied catalog lists (another process may change the live one).
  std::vector<std::string> names;
  {
    VECTRON_ASSIGN_OR_RETURN(storage::LmdbEnv copy, storage::LmdbEnv::Open(partial + "/catalog", {}));
    VECTRON_ASSIGN_OR_RETURN(storage::WriteTxn wt, storage::WriteTxn::Begin(copy));
    VECTRON_ASSIGN_OR_RETURN(storage::Dbi dbi, wt.OpenDbi("collections"));
    VECTRON_ASSIGN_OR_RETURN(storage::Cursor c, wt.OpenCursor(dbi));
    VECTRON_ASSIGN_OR_RETURN(bool more, c.First());
    while (more) {
      names.emplace_back(c.key());
      VECTRON_ASSIGN_OR_RETURN(more, c.Next());
    }
  }
  for (const auto& name : names) {
    VECTRON_ASSIGN_OR_RETURN(CollectionImpl * col, GetLocked(name));
    VECTRON_RETURN_IF_ERROR(col->Backup(partial + "/collections/" + name)
                                .WithContext("collection \"" + name + "\""));
  }
  VECTRON_RETURN_IF_ERROR(FsyncPath(partial));
  return RenamePath(partial, dest);
}

Status Database::Backup(const std::string& dest) {
  if (dest.empty()) return Status::InvalidArgument("backup path is empty");
  if (PathExists(dest)) return Status::AlreadyExists("backup destination " + dest + " exists; give a new directory");
  MutexLock lock(impl_->mu);  // No create or drop in this process meanwhile.
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
