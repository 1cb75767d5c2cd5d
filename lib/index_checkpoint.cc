// IndexSync's checkpoints: the graph saved next to the shard's LMDB environment, so a
// reopen loads it and replays the change log after it instead of rebuilding
// (docs/durability.md, "Checkpoints").
#include <nlohmann/json.hpp>

#include "checkpoint_files.h"
#include "index/hnsw_index.h"
#include "index_sync.h"
#include "util/files.h"

namespace vectron {

using storage::ReadTxn;
using storage::WriteTxn;

namespace {
constexpr int kCheckpointFormat = 1;
}  // namespace

Status IndexSync::InstallHanded(HandedGraph g, std::string* why_not) {
  auto fail = [&](std::string why) {
    *why_not = why;
    return Status::Corruption(why);
  };
  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  VECTRON_ASSIGN_OR_RETURN(uint64_t seq, store_.Counter(rt, meta_key::kSeq));
  if (g.seq > seq) return fail("the graph handed over is newer than the data");
  if (g.seq < seq) {
    VECTRON_ASSIGN_OR_RETURN(bool logged, store_.ChangeLogReaches(rt, g.seq));
    if (!logged) return fail("the change log no longer reaches back to the graph handed over");
  }
  VECTRON_ASSIGN_OR_RETURN(std::vector<std::string> ids, store_.ReadLabelIds(rt));
  cache_.Install(BuiltIndex::Graph(std::move(g.graph), std::move(ids)), g.seq);
  VECTRON_RETURN_IF_ERROR(LoadPayload(rt));
  // Not saved here (the open of a split's new group is time its readers wait out): the
  // next Checkpoint saves it, as there is no index.meta yet. With background checkpoints
  // that is the owner's, when it finds it due (a worker's, once the split has settled).
  if (options_.background_checkpoints) checkpoint_due_.store(true, std::memory_order_release);
  return Status::OK();
}

Status IndexSync::LoadCheckpoint(std::string* why_not) {
  const std::string& dir = store_.dir();
  const CollectionConfig& config = store_.config();
  // A graph handed over in memory comes first (a split's new group has no saved one);
  // if it cannot be used, what index.meta names (if anything) is tried next.
  if (std::optional<HandedGraph> handed = TakeGraph(dir)) {
    if (InstallHanded(std::move(*handed), why_not).ok()) return Status::OK();
  }
  const std::string meta_path = dir + "/index.meta";
  if (!PathExists(meta_path)) {
    *why_not = "no saved index";
    return Status::NotFound(*why_not);
  }
  auto fail = [&](std::string why) {
    *why_not = why;
    return Status::Corruption(why);
  };
  // Held while loading, so another process's save cannot delete the named graph.
  VECTRON_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(dir + "/checkpoint.lock"));
  VECTRON_ASSIGN_OR_RETURN(std::string text, ReadFile(meta_path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("index.meta is not valid JSON");
  uint64_t ck_seq, size, crc;
  std::string file;
  try {
    if (j.at("format").get<int>() != kCheckpointFormat) return fail("index.meta has an unknown format");
    ck_seq = j.at("seq").get<uint64_t>();
    size = j.at("size").get<uint64_t>();
    crc = j.at("crc32c").get<uint64_t>();
    file = j.at("file").get<std::string>();
    if (j.at("dim").get<uint32_t>() != config.dim || j.at("metric").get<std::string>() != MetricName(config.metric))
      return fail("saved index has another dimension or metric");
  } catch (const std::exception& e) {
    return fail(std::string("index.meta: ") + e.what());
  }
  if (file.find('/') != std::string::npos) return fail("index.meta names a bad file");
  uint32_t got_crc = 0;
  uint64_t got_size = 0;
  if (Status s = ChecksumFile(dir + "/" + file, &got_crc, &got_size); !s.ok()) return fail(s.message());
  if (got_size != size || got_crc != crc) return fail("saved index failed its checksum");

  VECTRON_ASSIGN_OR_RETURN(ReadTxn rt, ReadTxn::Begin(store_.env()));
  VECTRON_ASSIGN_OR_RETURN(uint64_t seq, store_.Counter(rt, meta_key::kSeq));
  if (ck_seq > seq) return fail("saved index is newer than the data");
  if (ck_seq < seq) {
    VECTRON_ASSIGN_OR_RETURN(bool logged, store_.ChangeLogReaches(rt, ck_seq));
    if (!logged) return fail("the change log no longer reaches back to the saved index");
  }
  auto loaded = LoadHnswIndex(dir + "/" + file, config.dim, config.metric, config.hnsw, config.quantization);
  if (!loaded.ok()) return fail(loaded.status().message());

  // Label → id from the current snapshot; labels changed since the checkpoint are
  // re-synced by the CatchUp that follows.
  VECTRON_ASSIGN_OR_RETURN(std::vector<std::string> ids, store_.ReadLabelIds(rt));
  cache_.Install(BuiltIndex::Graph(std::move(loaded).value(), std::move(ids)), ck_seq);
  VECTRON_RETURN_IF_ERROR(LoadPayload(rt));
  checkpoint_seq_ = ck_seq;
  return Status::OK();
}

void IndexSync::NoteCheckpoint(uint64_t seq) {
  checkpoint_seq_ = seq;
  ops_since_checkpoint_ = 0;
  force_checkpoint_ = false;
  checkpoint_due_.store(false, std::memory_order_release);
}

Status IndexSync::SaveCheckpoint() {
  VECTRON_ASSIGN_OR_RETURN(std::optional<CheckpointWrite> w, WriteCheckpointGraph());
  if (!w) return Status::OK();
  VECTRON_RETURN_IF_ERROR(FinishCheckpoint(*w));
  NoteCheckpoint(w->seq);
  return Status::OK();
}

Status IndexSync::Checkpoint(CheckpointHold hold) {
  // Writers wait only while the graph is written into the page cache (or, with
  // kWhileCopied, copied in memory), not for the disk: its fsync, checksum and the
  // records naming it follow without mu_ (a split's new group saves its graph just after
  // it opens, and its applies waited ~0.5 s for the save).
  std::unique_ptr<HnswIndex> copy;
  // The copy's memory is allocated before the writers wait (see CloneRoom), if a copy
  // will be made (a replica move's snapshot of a group saved already makes none).
  CloneRoom room;
  if (hold == CheckpointHold::kWhileCopied) {
    bool wanted;
    {
      MutexLock lock(mu_);
      wanted = CheckpointWanted();
    }
    if (wanted) room = cache_.ReserveGraphClone();
  }
  Result<std::optional<CheckpointWrite>> written = [&]() -> Result<std::optional<CheckpointWrite>> {
    MutexLock lock(mu_);
    if (hold == CheckpointHold::kWhileWritten) return WriteCheckpointGraph();
    VECTRON_ASSIGN_OR_RETURN(std::optional<CheckpointWrite> w, StartCheckpoint());
    if (!w) return w;
    VECTRON_ASSIGN_OR_RETURN(HandedGraph g, cache_.CloneGraph(std::move(room)));
    copy = std::move(g.graph);
    return w;
  }();
  VECTRON_RETURN_IF_ERROR(written.status());
  std::optional<CheckpointWrite>& w = *written;
  if (!w) {
    checkpoint_due_.store(false, std::memory_order_release);  // Nothing to save (or discarded).
    return Status::OK();
  }
  if (copy) {
    // The copy is of the graph at w->seq: no writer can change it.
    Status saved = copy->Save(store_.dir() + "/" + w->file + ".tmp");
    w->count = copy->size();
    copy.reset();
    VECTRON_RETURN_IF_ERROR(saved);
  }
  Status s = FinishCheckpoint(*w);
  const uint64_t seq = w->seq, ops = w->ops;
  // checkpoint.lock goes first: a writer may hold mu_ and wait for it (an automatic
  // checkpoint), never the other way round.
  w.reset();
  VECTRON_RETURN_IF_ERROR(s);
  MutexLock lock(mu_);
  checkpoint_seq_ = std::max(checkpoint_seq_, seq);
  ops_since_checkpoint_ -= std::min(ops_since_checkpoint_, ops);  // Those since count on.
  checkpoint_due_.store(cache_.is_graph() && ops_since_checkpoint_ >= store_.config().checkpoint_every_ops,
                        std::memory_order_release);
  return Status::OK();
}

bool IndexSync::CheckpointWanted() const {
  if (!cache_.is_graph() || discarded_.load(std::memory_order_acquire)) return false;
  return cache_.seq() != checkpoint_seq_ || force_checkpoint_ || !PathExists(store_.dir() + "/index.meta");
}

Result<std::optional<IndexSync::CheckpointWrite>> IndexSync::StartCheckpoint() {
  if (!CheckpointWanted()) return std::optional<CheckpointWrite>();
  const std::string& dir = store_.dir();
  const uint64_t seq = cache_.seq();
  // Processes sharing the shard save one at a time (docs/durability.md): the lock makes
  // index.meta, the graph files and meta.checkpoint_seq change together, and any
  // index-* file that index.meta does not name is garbage while it is held.
  VECTRON_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(dir + "/checkpoint.lock"));
  std::optional<uint64_t> saved_seq = SavedCheckpointSeq(dir);
  if (saved_seq && *saved_seq > seq) {
    // Another process saved a newer graph; ours would only move the checkpoint back.
    NoteCheckpoint(seq);
    return std::optional<CheckpointWrite>();
  }
  const std::string file = "index-" + std::to_string(seq) + "-" + UniqueSuffix() + ".hnsw";
  return std::optional<CheckpointWrite>(CheckpointWrite{std::move(lock), file, seq, 0, ops_since_checkpoint_});
}

Result<std::optional<IndexSync::CheckpointWrite>> IndexSync::WriteCheckpointGraph() {
  VECTRON_ASSIGN_OR_RETURN(std::optional<CheckpointWrite> w, StartCheckpoint());
  if (!w) return w;
  // mu_ is held, so the graph cannot change while it is written; searches go on.
  VECTRON_ASSIGN_OR_RETURN(w->count, cache_.SaveGraph(store_.dir() + "/" + w->file + ".tmp"));
  return w;
}

Status IndexSync::FinishCheckpoint(const CheckpointWrite& w) const {
  const std::string& dir = store_.dir();
  const CollectionConfig& config = store_.config();
  const std::string& file = w.file;
  const uint64_t seq = w.seq, count = w.count;
  const std::string tmp = dir + "/" + file + ".tmp";
  VECTRON_RETURN_IF_ERROR(FsyncPath(tmp));
  uint32_t crc = 0;
  uint64_t size = 0;
  VECTRON_RETURN_IF_ERROR(ChecksumFile(tmp, &crc, &size));
  VECTRON_RETURN_IF_ERROR(RenamePath(tmp, dir + "/" + file));
  nlohmann::json j = {{"format", kCheckpointFormat}, {"seq", seq},     {"file", file},
                      {"size", size},                {"crc32c", crc},  {"dim", config.dim},
                      {"metric", MetricName(config.metric)}, {"count", count}};
  VECTRON_RETURN_IF_ERROR(WriteFileAtomic(dir + "/index.meta", j.dump()));
  RemoveStaleCheckpointFiles(dir, file);
  VECTRON_ASSIGN_OR_RETURN(WriteTxn wt, WriteTxn::Begin(store_.env()));
  VECTRON_RETURN_IF_ERROR(store_.PutCounter(wt, meta_key::kCheckpointSeq, seq));
  return std::move(wt).Commit();
}

}  // namespace vectron
