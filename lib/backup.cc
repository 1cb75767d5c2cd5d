// Backups: consistent copies of collections while writes continue (docs/durability.md).
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "checkpoint_files.h"
#include "collection_internal.h"
#include "shard_impl.h"
#include "util/files.h"

namespace vectron {
namespace {

Status CopyFile(const std::string& from, const std::string& to) {
  VECTRON_ASSIGN_OR_RETURN(std::string data, ReadFile(from));
  return WriteFileAtomic(to, data);
}

// Copies the graph named by index.meta (and index.meta) under the checkpoint lock, so no
// save deletes it meanwhile; with `link`, as a hard link to the same file (a saved graph
// is never rewritten, only replaced by a new file) if one can be made, else byte by byte.
// Copied before the LMDB snapshot, so its seq is not newer than the copy's data; if the
// copied change log does not reach back to it, opening the copy rebuilds the index, as for
// any unusable checkpoint. The caller fsyncs `dest` (which makes a link durable).
Status CopyCheckpoint(const std::string& src, const std::string& dest, bool link) {
  VECTRON_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(src + "/checkpoint.lock"));
  const std::string file = SavedCheckpointFile(src);
  if (file.empty() || file.find('/') != std::string::npos || !PathExists(src + "/" + file)) return Status::OK();
  if (link && ::link((src + "/" + file).c_str(), (dest + "/" + file).c_str()) == 0)
    return CopyFile(src + "/index.meta", dest + "/index.meta");
  // Streamed copy: graphs can be large.
  std::FILE* in = std::fopen((src + "/" + file).c_str(), "rb");
  if (!in) return Status::IOError("opening " + src + "/" + file);
  const std::string tmp = dest + "/" + file + ".tmp";
  std::FILE* out = std::fopen(tmp.c_str(), "wb");
  if (!out) {
    std::fclose(in);
    return Status::IOError("creating " + tmp);
  }
  std::vector<char> buf(1 << 20);
  bool ok = true;
  for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), in)) > 0;)
    if (std::fwrite(buf.data(), 1, n, out) != n) ok = false;
  ok = ok && !std::ferror(in);
  std::fclose(in);
  if (std::fclose(out) != 0) ok = false;
  if (!ok) return Status::IOError("copying " + src + "/" + file + " to " + tmp);
  VECTRON_RETURN_IF_ERROR(FsyncPath(tmp));
  VECTRON_RETURN_IF_ERROR(RenamePath(tmp, dest + "/" + file));
  return CopyFile(src + "/index.meta", dest + "/index.meta");
}

Status CopyEnv(const storage::LmdbEnv& env, const std::string& dest) {
  VECTRON_RETURN_IF_ERROR(MakeDirs(dest));
  VECTRON_RETURN_IF_ERROR(env.CopyCompact(dest));
  return FsyncPath(dest + "/data.mdb");
}

}  // namespace

Status ShardImpl::CopyTo(const std::string& dest, bool link, CheckpointHold hold) {
  VECTRON_RETURN_IF_ERROR(MakeDirs(dest));
  // A fresh graph first, so the copy reopens with little or no catch-up.
  VECTRON_RETURN_IF_ERROR(Checkpoint(hold));
  VECTRON_RETURN_IF_ERROR(CopyCheckpoint(dir(), dest, link));
  return CopyEnv(store_.env(), dest);
}

Result<uint64_t> ShardImpl::SnapshotTo(const std::string& dest) {
  // Linked, not copied: a snapshot is only read (one sent to a replica; a split's copy
  // is SplitCopyTo's), and writing the graph a second time cost about half as much as saving it
  // (docs/benchmarks.md, "Splits"). A backup (CopyShards) gets a copy of its own. The
  // group's applies (and the reads that wait for them) wait only for the graph's copy in
  // memory, not for its write (docs/benchmarks.md, "Replica moves").
  VECTRON_RETURN_IF_ERROR(CopyTo(dest, /*link=*/true, CheckpointHold::kWhileCopied));
  return FinishCopy(dest);
}

Result<uint64_t> ShardImpl::SplitCopyTo(const std::string& dest) {
  VECTRON_RETURN_IF_ERROR(MakeDirs(dest));
  // The graph before the LMDB snapshot, so its seq is not newer than the copy's data
  // (the copy's open catches up from it, as from a checkpoint).
  VECTRON_ASSIGN_OR_RETURN(std::optional<HandedGraph> graph, sync_.CloneGraph());
  if (graph) VECTRON_RETURN_IF_ERROR(OfferGraph(dest, std::move(*graph)));
  VECTRON_RETURN_IF_ERROR(CopyEnv(store_.env(), dest));
  return FinishCopy(dest);
}

Result<uint64_t> ShardImpl::FinishCopy(const std::string& dest) {
  VECTRON_RETURN_IF_ERROR(FsyncPath(dest));
  // The applied index of the copy itself (writes went on while it was made): read from
  // the copied environment, not from this shard's.
  uint64_t applied = 0;
  {
    DatabaseOptions o = options_;
    VECTRON_ASSIGN_OR_RETURN(ShardStore copy, ShardStore::Open(dest, store_.config(), o));
    VECTRON_ASSIGN_OR_RETURN(storage::ReadTxn rt, storage::ReadTxn::Begin(copy.env()));
    VECTRON_ASSIGN_OR_RETURN(applied, copy.Counter(rt, meta_key::kAppliedIndex));
  }
  return applied;
}

Status CollectionImpl::Backup(const std::string& dest) {
  if (shards_.size() == 1) return CopyShards(dest);
  // Shards are separate environments: pausing writes (of every process) makes their
  // snapshots agree, with no multi-shard batch half applied.
  MutexLock write_lock(write_mu_);
  VECTRON_ASSIGN_OR_RETURN(FileLock file_lock, FileLock::Acquire(dir_ + "/write.lock"));
  return CopyShards(dest);
}

Status CollectionImpl::CopyShards(const std::string& dest) {
  const ProgressFn& progress = options_.progress;
  const size_t n = shards_.size();
  for (size_t i = 0; i < n; ++i) {
    const std::string& dir = shards_[i]->dir();
    if (progress && !progress("backup of " + dir_, i, n)) return Status::Cancelled("backup cancelled");
    VECTRON_RETURN_IF_ERROR(shards_[i]->CopyTo(dest + "/" + dir.substr(dir.find_last_of('/') + 1)));
  }
  if (journal_) VECTRON_RETURN_IF_ERROR(CopyEnv(*journal_, dest + "/journal"));
  if (progress && !progress("backup of " + dir_, n, n)) return Status::Cancelled("backup cancelled");
  return Status::OK();
}

}  // namespace vectron
