#include "net/cluster/shard_state_machine.h"

#include <algorithm>
#include <functional>
#include <string_view>
#include <utility>

#include "net/cluster/cluster_map.h"
#include "util/files.h"

namespace vectron::net::cluster {

namespace {
// The descriptor a shard group's log snapshot carries (docs/formats/shard-snapshot.md).
constexpr std::string_view kDescriptorPrefix = "vectron.shard-snapshot.v1 index=";

std::string Descriptor(uint64_t index) { return std::string(kDescriptorPrefix) + std::to_string(index); }

// Checks that `data` is the descriptor of a snapshot at `index`.
Status CheckDescriptor(std::string_view data, uint64_t index) {
  if (data != Descriptor(index))
    return Status::FailedPrecondition("a shard snapshot at index " + std::to_string(index) +
                                      " carries an unknown descriptor (" + std::to_string(data.size()) + " bytes)");
  return Status::OK();
}

constexpr std::string_view kGenerationSuffix = ".gen";
}  // namespace

Result<std::unique_ptr<ShardStateMachine>> ShardStateMachine::Open(const std::string& dir,
                                                                   const CollectionConfig& config,
                                                                   const DatabaseOptions& options,
                                                                   uint64_t flush_entries, ShardRoute initial,
                                                                   uint64_t split_index) {
  std::unique_ptr<ShardStateMachine> sm(new ShardStateMachine(dir, config, options, flush_entries));
  sm->route_ = initial;
  uint64_t gen = 0;
  const std::string gen_file = dir + std::string(kGenerationSuffix);
  if (PathExists(gen_file)) {
    VECTRON_ASSIGN_OR_RETURN(std::string text, ReadFile(gen_file));
    if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
      return Status::Corruption(gen_file + ": not a generation number");
    gen = std::stoull(text);
  }
  // Generations other than the current one, and a staged copy, are leftovers of an install
  // that a crash interrupted (or that ended while a read held the old one).
  const size_t slash = dir.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "." : dir.substr(0, slash);
  const std::string name = slash == std::string::npos ? dir : dir.substr(slash + 1);
  if (PathExists(parent)) {
    VECTRON_ASSIGN_OR_RETURN(std::vector<std::string> entries, ListDir(parent));
    for (const std::string& e : entries) {
      if (e.size() <= name.size() + 1 || e.compare(0, name.size() + 1, name + ".") != 0) continue;
      std::string rest = e.substr(name.size() + 1);
      bool other_gen = rest.find_first_not_of("0123456789") == std::string::npos && std::stoull(rest) != gen;
      if (other_gen || rest == "staging") VECTRON_RETURN_IF_ERROR(RemoveAll(parent + "/" + e));
    }
    if (gen != 0 && PathExists(dir)) VECTRON_RETURN_IF_ERROR(RemoveAll(dir));
  }
  if (gen != 0 && !PathExists(sm->GenerationDir(gen)))
    return Status::Corruption(gen_file + " names generation " + std::to_string(gen) + ", which is missing");
  VECTRON_RETURN_IF_ERROR(sm->OpenGeneration(gen, /*commit=*/false));
  // (The copy carries its parent's recorded route: the new group's is `initial`.)
  if (split_index > 0 && sm->applied_index() < split_index)
    VECTRON_RETURN_IF_ERROR(sm->FinishSplitCopy(split_index, initial));
  return sm;
}

Status ShardStateMachine::FinishSplitCopy(uint64_t split_index, const ShardRoute& r) {
  if (applied_index() + 1 != split_index)
    return Status::Corruption(base_ + ": a split's copy at index " + std::to_string(applied_index()) +
                              ", not at the split's index " + std::to_string(split_index) + " - 1");
  std::shared_ptr<Shard> shard = this->shard();
  VECTRON_RETURN_IF_ERROR(shard->ApplyRoute(r, split_index).status());
  VECTRON_ASSIGN_OR_RETURN(uint64_t durable, shard->Flush());
  applied_.store(split_index, std::memory_order_release);
  durable_.store(durable, std::memory_order_release);
  return LoadRoute(*shard);
}

ShardStateMachine::ShardStateMachine(std::string base, CollectionConfig config, DatabaseOptions options,
                                     uint64_t flush_entries)
    : base_(std::move(base)),
      config_(std::move(config)),
      options_(std::move(options)),
      flush_entries_(std::max<uint64_t>(flush_entries, 1)) {}

ShardStateMachine::~ShardStateMachine() = default;

std::string ShardStateMachine::GenerationDir(uint64_t gen) const {
  return gen == 0 ? base_ : base_ + "." + std::to_string(gen);
}

std::shared_ptr<Shard> ShardStateMachine::shard() const {
  std::lock_guard lock(shard_mu_);
  return shard_;
}

void ShardStateMachine::Discard() {
  std::lock_guard lock(shard_mu_);
  dropped_->store(true, std::memory_order_release);
  if (shard_) shard_->Discard();
}

Status ShardStateMachine::OpenGeneration(uint64_t gen, bool commit) {
  const std::string dir = GenerationDir(gen);
  VECTRON_ASSIGN_OR_RETURN(std::unique_ptr<Shard> opened, Shard::Open(dir, config_, options_));
  // An LMDB error stops the open rather than read as "index 0" (which would have Raft
  // hand the whole log to a shard that has applied it).
  VECTRON_ASSIGN_OR_RETURN(uint64_t applied, opened->applied_index());
  // What a kNoSync predecessor committed but never flushed is flushed now: from here on a
  // machine crash keeps it.
  VECTRON_ASSIGN_OR_RETURN(uint64_t durable, opened->Flush());
  // The commit point of an install: from here a restart opens this generation. Until
  // here the old one stays current and intact.
  if (commit) VECTRON_RETURN_IF_ERROR(WriteFileAtomic(base_ + std::string(kGenerationSuffix), std::to_string(gen)));
  // A retired generation's directory goes when its last reader lets go.
  auto retired = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<Shard> next(opened.release(), [dir, retired, dropped = dropped_](Shard* s) {
    delete s;
    if (retired->load(std::memory_order_acquire) && !dropped->load(std::memory_order_acquire)) (void)RemoveAll(dir);
  });
  std::shared_ptr<Shard> old;
  {
    std::lock_guard lock(shard_mu_);
    if (dropped_->load(std::memory_order_acquire)) next->Discard();
    old = std::exchange(shard_, std::move(next));
  }
  if (old) {
    old->Discard();  // Its directory goes with its last reader: nothing to save there.
    retired_->store(true, std::memory_order_release);
  }
  retired_ = std::move(retired);
  generation_ = gen;
  applied_.store(applied, std::memory_order_release);
  durable_.store(durable, std::memory_order_release);
  return LoadRoute(*shard());
}

Status ShardStateMachine::LoadRoute(const Shard& shard) {
  VECTRON_ASSIGN_OR_RETURN(ShardRoute r, shard.Route());
  if (r.epoch == 0) return Status::OK();  // Never recorded: the map's initial route stands.
  std::lock_guard lock(route_mu_);
  route_ = r;
  return Status::OK();
}

ShardRoute ShardStateMachine::route() const {
  std::lock_guard lock(route_mu_);
  return route_;
}

bool ShardStateMachine::SplitsRoute(const ShardCommand& cmd) const {
  const ShardRoute cur = route();
  return cmd.split && cmd.epoch == cur.epoch && cmd.split->start == cur.start && cmd.split->end == cur.end &&
         split_hooks_.found;
}

uint64_t ShardStateMachine::NoOpRunEnd(const std::vector<raft::Entry>& entries, size_t pos, uint64_t split_epoch,
                                       uint64_t split_term, uint64_t before) {
  uint64_t through = before;
  for (size_t i = pos; i < entries.size(); ++i) {
    const raft::Entry& e = entries[i];
    // Only the split's own term: a later leader's first entry ends the run, so that a read
    // it confirms (its read rounds wait for that entry) is never served early. Otherwise a
    // leader of an earlier term that applied the split, reported it and let PD record it
    // would leave this leader serving from before a write the new group acknowledged.
    if (e.term != split_term) break;
    if (e.type == raft::EntryType::kNormal && !e.data.empty()) {
      // Undecodable entries are refused alike everywhere (only the index moves); anything
      // routed with the split's epoch is stale once it has applied (ApplyCommand).
      ShardCommand cmd;
      if (DecodeShardCommand(e.data, &cmd).ok() && (cmd.epoch == 0 || cmd.epoch != split_epoch)) break;
    }
    through = e.index;
  }
  return through;
}

uint64_t ShardStateMachine::ExtendReadable(const std::vector<raft::Entry>& entries) {
  uint64_t readable = readable_.load(std::memory_order_acquire);
  // Only while the split's batch applies: the entries after it are then not applied yet,
  // and the shard is as it was before the split.
  if (applied_index() >= readable || entries.empty() || entries.front().index != readable + 1) return readable_index();
  const uint64_t end = NoOpRunEnd(entries, 0, readable_epoch_.load(std::memory_order_acquire),
                                  readable_term_.load(std::memory_order_acquire), readable);
  while (end > readable && !readable_.compare_exchange_weak(readable, end, std::memory_order_acq_rel)) {
  }
  return readable_index();
}

Status ShardStateMachine::ApplySplit(Shard& shard, const ShardCommand& cmd, uint64_t index) {
  const ShardSplit& sp = *cmd.split;
  const ShardRoute cur = route();
  // A split ordered twice, or of a range this group no longer has: only the index moves.
  if (!SplitsRoute(cmd)) return shard.Apply(WriteBatch{}, index);
  // 1. The new group's shard: a copy of this one at index - 1, handed over (found) before
  //    this group drops its upper half, so a crash in between loses nothing (the split is
  //    applied again, and the copy is not made twice). The copy's lower half is hidden
  //    when the new group opens it (Open with split_index), not here: this group's reads
  //    and writes wait for this apply.
  if (!split_hooks_.exists(sp.new_group)) {
    const std::string built = split_hooks_.staging(sp.new_group);
    VECTRON_RETURN_IF_ERROR(RemoveAll(built));
    VECTRON_RETURN_IF_ERROR(shard.SplitCopyTo(built).status());
    VECTRON_RETURN_IF_ERROR(split_hooks_.found(sp, index, built));
  }
  // 2. This group keeps the lower half: the upper one is hidden (marked deleted in its
  //    graph, no rebuild; its rows left for the worker's background DropHidden), with
  //    the new route, in one transaction.
  const ShardRoute next{sp.start, sp.key, cur.epoch + 1};
  {
    // Before the points are hidden: a read that sees the new epoch is refused, so none can
    // answer from a half it no longer has (reads check the epoch after reading).
    std::lock_guard lock(route_mu_);
    route_ = next;
  }
  return shard.ApplyRoute(next, index).status();
}

Status ShardStateMachine::Apply(const std::vector<raft::Entry>& entries) {
  std::shared_ptr<Shard> shard = this->shard();
  for (size_t i = 0; i < entries.size(); ++i) {
    const raft::Entry& e = entries[i];
    if (e.index <= applied_index()) continue;
    if (e.type == raft::EntryType::kNormal && !e.data.empty()) {
      ShardCommand cmd;
      const bool decoded = DecodeShardCommand(e.data, &cmd).ok();
      if (decoded && SplitsRoute(cmd)) {
        // Everything before the split is applied: reads up to its no-op run are served
        // from the shard as it is while the copies run (readable_index()).
        readable_epoch_.store(cmd.epoch, std::memory_order_release);
        readable_term_.store(e.term, std::memory_order_release);
        readable_.store(NoOpRunEnd(entries, i + 1, cmd.epoch, e.term, e.index), std::memory_order_release);
        if (split_hooks_.readable) split_hooks_.readable();
      }
      VECTRON_RETURN_IF_ERROR(ApplyCommand(*shard, e.index, decoded ? &cmd : nullptr));
    } else {
      // A leader's no-op or a membership change: only the index advances (replays skip it).
      VECTRON_RETURN_IF_ERROR(shard->Apply(WriteBatch{}, e.index));
    }
    applied_.store(e.index, std::memory_order_release);
  }
  return MaybeFlush(*shard);
}

Status ShardStateMachine::MaybeFlush(Shard& shard) {
  if (applied_index() < durable_applied_index() + flush_entries_) return Status::OK();
  VECTRON_ASSIGN_OR_RETURN(uint64_t flushed, shard.Flush());
  durable_.store(flushed, std::memory_order_release);
  return Status::OK();
}

Status ShardStateMachine::ApplyCommand(Shard& shard, uint64_t index, const ShardCommand* decoded) {
  if (decoded == nullptr) {
    // Every replica holds the same bytes and refuses them the same way: record the index
    // so that replicas stay at the same applied index.
    VECTRON_RETURN_IF_ERROR(shard.Apply(WriteBatch{}, index));
    return Status::OK();
  }
  const ShardCommand& cmd = *decoded;
  ShardOutcome out;
  out.index = index;
  if (cmd.split) return ApplySplit(shard, cmd, index);
  if (const uint64_t epoch = this->epoch(); cmd.epoch != 0 && cmd.epoch != epoch) {
    // Routed before a split this group has applied since: its keys may be another
    // group's now. Rejected (not recorded as a request, so a retry with the new epoch
    // applies); the router refreshes its map.
    VECTRON_RETURN_IF_ERROR(shard.Apply(WriteBatch{}, index));
    out.request = cmd.request;
    out.stale_epoch = true;
    out.status = Status::FailedPrecondition("the group's epoch is " + std::to_string(epoch) + ", the command's " +
                                            std::to_string(cmd.epoch) + " (the group was split)");
    if (!out.request.empty()) {
      std::lock_guard lock(outcomes_mu_);
      outcomes_.push_back(std::move(out));
    }
    return Status::OK();
  }
  // The shard records the index and the request's outcome with the command, in one
  // transaction; a request it applied before is answered with the first outcome. The
  // outcome records this group's route: a group split off later answers a duplicate with
  // it, so the gateway counts a delete-where's points once over the groups that answer
  // for one apply (docs/cluster.md, "Gateway").
  VECTRON_ASSIGN_OR_RETURN(LoggedOutcome o, shard.ApplyLogged(cmd, index, cmd.request, route()));
  if (o.replay) return Status::OK();
  out.request = cmd.request;
  out.status = std::move(o.status);
  out.deleted = o.deleted;
  out.duplicate = o.duplicate;
  out.applied_by = o.applied_by;
  if (!out.request.empty()) {
    std::lock_guard lock(outcomes_mu_);
    outcomes_.push_back(std::move(out));
  }
  return Status::OK();
}

std::vector<ShardOutcome> ShardStateMachine::TakeOutcomes() {
  std::vector<ShardOutcome> out;
  std::lock_guard lock(outcomes_mu_);
  out.swap(outcomes_);
  return out;
}

Result<std::string> ShardStateMachine::SnapshotData(uint64_t index) { return Descriptor(index); }

void ShardStateMachine::SetStaged(uint64_t index, uint64_t term, raft::ConfState conf) {
  staged_term_ = term;
  staged_conf_ = std::move(conf);
  staged_.store(index, std::memory_order_release);
}

namespace {
// A membership Raft can take: at least one voter, both lists sorted, no id in both.
bool UsableConf(const raft::ConfState& cs) {
  auto sorted = [](const std::vector<uint64_t>& v) { return std::adjacent_find(v.begin(), v.end(), std::greater_equal<>()) == v.end(); };
  if (cs.voters.empty() || !sorted(cs.voters) || !sorted(cs.learners)) return false;
  for (uint64_t l : cs.learners)
    if (std::binary_search(cs.voters.begin(), cs.voters.end(), l) || l == 0) return false;
  return cs.voters.front() != 0;
}
}  // namespace

bool ShardStateMachine::SnapshotReady(const NodeId& from, raft::Message* m) {
  const uint64_t index = m->snapshot.metadata.index;
  // The bootstrap snapshot of a group whose log was never compacted (sent to a replica
  // joining it empty): it stands for an empty shard, there is nothing to fetch.
  if (m->snapshot.data.empty() && index == 1) return true;
  if (index <= applied_index()) return true;
  const uint64_t staged = staged_.load(std::memory_order_acquire);
  if (staged >= index) {
    // The copy is at `staged`, past the snapshot (its sender made it at its applied index,
    // later than the log's snapshot). Installed as a snapshot at `staged`, with the term and
    // membership the sender's log had there, the leader goes on from staged + 1 instead of
    // sending entries index + 1 .. staged again (which the shard would skip). Entry `staged`
    // was applied by the sender, so it is committed: its term and membership are every
    // leader's. Only a whole descriptor (one chunk) is rewritten.
    if (staged > index && staged_term_ != 0 && m->offset == 0 && m->done && m->snapshot.data == Descriptor(index) &&
        UsableConf(staged_conf_)) {
      m->snapshot.metadata.index = staged;
      m->snapshot.metadata.term = staged_term_;
      m->snapshot.metadata.conf_state = staged_conf_;
      m->snapshot.data = Descriptor(staged);
      m->total = m->snapshot.data.size();
    }
    return true;
  }
  // A new fetch rewrites the staging directory: what was staged there is gone. (No install
  // runs now: the host holds a group's messages while it installs.)
  staged_.store(0, std::memory_order_release);
  if (fetch_) fetch_(from, index);
  return false;
}

Status ShardStateMachine::InstallSnapshot(const raft::Snapshot& snap) {
  const uint64_t index = snap.metadata.index;
  if (snap.data.empty()) {
    // The bootstrap snapshot of a new group: an empty shard at its index.
    VECTRON_RETURN_IF_ERROR(shard()->Apply(WriteBatch{}, index));
    applied_.store(std::max(applied_index(), index), std::memory_order_release);
    return Status::OK();
  }
  VECTRON_RETURN_IF_ERROR(CheckDescriptor(snap.data, index));
  if (applied_index() >= index) return Status::OK();  // Already there (e.g. ahead of its log after a crash).
  const uint64_t staged = staged_.load(std::memory_order_acquire);
  if (staged < index)
    return Status::FailedPrecondition("installing the shard snapshot at index " + std::to_string(index) +
                                      ": the staged copy is at " + std::to_string(staged) +
                                      " (a shard behind its log's snapshot needs a copy from a replica)");
  // The staged copy becomes the next generation; `dir.gen` naming it is the commit point
  // (a crash before it leaves the old generation current, and Open removes the copy).
  const uint64_t next = generation_ + 1;
  const std::string dir = GenerationDir(next);
  VECTRON_RETURN_IF_ERROR(RemoveAll(dir));
  VECTRON_RETURN_IF_ERROR(RenamePath(staging_dir(), dir));
  staged_.store(0, std::memory_order_release);
  const size_t slash = base_.find_last_of('/');
  VECTRON_RETURN_IF_ERROR(FsyncPath(slash == std::string::npos ? "." : base_.substr(0, slash)));
  VECTRON_RETURN_IF_ERROR(OpenGeneration(next, /*commit=*/true));
  installed_.fetch_add(1, std::memory_order_acq_rel);
  return Status::OK();
}

}  // namespace vectron::net::cluster
