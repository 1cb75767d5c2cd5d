// SnapshotServer and SnapshotFetcher (declared in snapshot_transfer.h).
#include <algorithm>
#include <optional>

#include "net/cluster/snapshot_transfer.h"
#include "util/files.h"

namespace vectron::net::cluster {

// ---- SnapshotServer ----

struct SnapshotServer::Session {
  uint64_t group = 0;
  std::string dir;
  bool ready = false;
  Status error;
  std::optional<SnapshotArchive> archive;
  std::optional<CopyPosition> position;  // The copy's term and membership, if the log knew them.
  uint64_t last_used_ms = 0;
  std::optional<SnapshotFetchRequest> waiting;  // A request that arrived while the copy was being made.
  uint64_t bytes_sent = 0;  // Over every read of the copy (resumes and re-asks included).
  uint64_t reads = 0;
};

SnapshotServer::SnapshotServer(SnapshotTransferOptions options, Clock& clock, Transport& transport, Executor& executor,
                               LoopQueue& loop, MakeSnapshot make, Position position)
    : opt_(std::move(options)),
      clock_(clock),
      transport_(transport),
      executor_(executor),
      loop_(loop),
      make_(std::move(make)),
      position_(std::move(position)) {}

SnapshotServer::~SnapshotServer() {
  for (auto& [key, s] : sessions_) (void)RemoveAll(s->dir);
}

void SnapshotServer::OnRequest(const NodeId& from, const SnapshotFetchRequest& req) {
  auto key = std::make_pair(from, req.fetch_id);
  auto it = sessions_.find(key);
  SnapshotFetchResponse r;
  r.group = req.group;
  r.fetch_id = req.fetch_id;
  r.offset = req.offset;
  if (it == sessions_.end()) {
    if (req.offset != 0) {
      r.status = Status::FailedPrecondition("no snapshot copy for this fetch (expired); start again");
      return transport_.Send(from, std::move(r));
    }
    if (sessions_.size() >= opt_.max_copies) {
      r.status = Status::ResourceExhausted("too many snapshot copies being sent; retry later");
      return transport_.Send(from, std::move(r));
    }
    auto s = std::make_unique<Session>();
    s->group = req.group;
    s->dir = opt_.tmp_dir + "/copy-" + std::to_string(next_dir_++);
    s->last_used_ms = clock_.NowMs();
    s->waiting = req;
    std::string dir = s->dir;
    sessions_.emplace(key, std::move(s));
    uint64_t group = req.group;
    // A queue of its own: a copy of a large shard takes long, and the group's applies go
    // on meanwhile (Shard::SnapshotTo allows writes during the copy).
    constexpr uint64_t kSnapshotQueueBit = uint64_t{1} << 62;
    executor_.Post(kSnapshotQueueBit | group, [this, key, group, dir] {
      (void)RemoveAll(dir);
      Status st = MakeDirs(opt_.tmp_dir);
      Result<uint64_t> index = st.ok() ? make_(group, dir) : Result<uint64_t>(st);
      Result<SnapshotArchive> archive =
          index.ok() ? SnapshotArchive::Scan(dir, *index) : Result<SnapshotArchive>(index.status());
      loop_.Post([this, key, dir, archive = std::move(archive)]() mutable {
        auto it = sessions_.find(key);
        if (it == sessions_.end()) {
          (void)RemoveAll(dir);
          return;
        }
        Session& s = *it->second;
        s.ready = true;
        if (archive.ok()) {
          s.archive = std::move(archive).value();
          // Looked up now, right after the copy: its entry may be compacted away later.
          if (position_) s.position = position_(s.group, s.archive->index());
          Note("snapshot copy of group " + std::to_string(s.group) + " for " + key.first.ToString() + " (fetch " +
               std::to_string(key.second) + ") made: index " + std::to_string(s.archive->index()) + ", " +
               std::to_string(s.archive->total()) + " bytes");
        } else {
          s.error = archive.status();
        }
        if (s.waiting) {
          SnapshotFetchRequest w = *s.waiting;
          s.waiting.reset();
          OnRequest(key.first, w);
        }
      });
    });
    return;
  }
  Session& s = *it->second;
  if (s.group != req.group) {
    // A fetch id the peer used before for another group (a restarted peer, say): never
    // serve one group's copy as another's.
    r.status = Status::FailedPrecondition("fetch " + std::to_string(req.fetch_id) + " is of another group; start again");
    return transport_.Send(from, std::move(r));
  }
  s.last_used_ms = clock_.NowMs();
  if (!s.ready) {
    s.waiting = req;
    return;
  }
  if (!s.error.ok()) {
    r.status = s.error;
  } else if (s.archive->index() < req.min_index) {
    r.status = Status::FailedPrecondition("this replica's copy is at " + std::to_string(s.archive->index()) +
                                          ", behind the snapshot wanted (" + std::to_string(req.min_index) + ")");
  } else {
    r.index = s.archive->index();
    r.total = s.archive->total();
    if (s.position && s.position->index == r.index) {
      r.term = s.position->term;
      r.conf = s.position->conf;
    }
    uint32_t max = std::clamp<uint32_t>(req.max_bytes, 1, 4u << 20);
    r.status = s.archive->Read(req.offset, max, &r.data);
    r.done = r.status.ok() && req.offset + r.data.size() == r.total;
    s.bytes_sent += r.data.size();
    ++s.reads;
    if (r.done)
      Note("snapshot copy of group " + std::to_string(s.group) + " for " + from.ToString() + " (fetch " +
           std::to_string(req.fetch_id) + ") served to its end: " + std::to_string(r.total) + " bytes, " +
           std::to_string(s.bytes_sent) + " bytes sent in " + std::to_string(s.reads) + " reads");
  }
  if (!r.status.ok()) {
    (void)RemoveAll(s.dir);
    sessions_.erase(it);
  }
  transport_.Send(from, std::move(r));
}

void SnapshotServer::RunOnce() {
  uint64_t now = clock_.NowMs();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    Session& s = *it->second;
    if (s.ready && now > s.last_used_ms + 10 * opt_.timeout_ms) {
      (void)RemoveAll(s.dir);
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---- SnapshotFetcher ----


struct SnapshotFetcher::Fetch {
  uint64_t group = 0;
  NodeId from;
  uint64_t min_index = 0;
  uint64_t fetch_id = 0;
  uint64_t offset = 0;
  uint64_t saved_offset = 0;  // The offset the progress record holds.
  // The copy's identity, from its first answer (or the progress record): every later
  // answer must agree.
  uint64_t index = 0;
  uint64_t total = 0;
  uint64_t term = 0;  // The copy's term and membership, as its sender's answers give them.
  raft::ConfState conf;
  std::unique_ptr<SnapshotWriter> writer;
  uint64_t sent_ms = 0;
  uint64_t next_ms = 0;  // When to (re)start after an error, or to ask for the next chunk (paced).
  bool paced = false;    // The next chunk waits for the rate limit (until next_ms).
  int retries = 0;
  uint64_t check = 0;  // While the staged copy is checked on the Executor: that check's number.
};

namespace {
std::string FetchPartialDir(const std::string& staging) { return staging + ".partial"; }
std::string FetchProgressPath(const std::string& staging) { return staging + ".progress"; }
}  // namespace

SnapshotFetcher::SnapshotFetcher(SnapshotTransferOptions options, Clock& clock, Rng& rng, Transport& transport,
                                 Executor& executor, LoopQueue& loop, std::function<std::string(uint64_t)> staging_dir,
                                 std::function<void(uint64_t, const CopyPosition&)> done)
    : opt_(std::move(options)),
      clock_(clock),
      rng_(rng),
      transport_(transport),
      executor_(executor),
      loop_(loop),
      staging_dir_(std::move(staging_dir)),
      done_(std::move(done)) {}

SnapshotFetcher::~SnapshotFetcher() = default;

void SnapshotFetcher::Cancel(uint64_t group) { fetches_.erase(group); }

void SnapshotFetcher::Start(uint64_t group, const NodeId& from, uint64_t min_index) {
  auto it = fetches_.find(group);
  if (it != fetches_.end()) {
    // A fetch from the same sender for at least this index goes on; one for an older index,
    // or from another sender (a new leader: the old one may be gone for good, and a fetch
    // re-asks its sender forever), is replaced.
    if (it->second->from == from && it->second->min_index >= min_index) return;
    fetches_.erase(it);
  }
  auto f = std::make_unique<Fetch>();
  f->group = group;
  f->from = from;
  f->min_index = min_index;
  Fetch& ref = *f;
  fetches_.emplace(group, std::move(f));
  // A copy staged before is of no use any more (the state machine forgot it when it asked
  // for this fetch): its disk space goes now, not when this fetch completes.
  (void)RemoveAll(staging_dir_(group));
  if (TryResume(ref)) return;
  Restart(ref);
}

bool SnapshotFetcher::TryResume(Fetch& f) {
  // A fetch this process (or an earlier one) left unfinished: continue it if it is of the
  // same sender's copy, recent enough. Anything else in the record starts over.
  const std::string staging = staging_dir_(f.group);
  const std::string path = FetchProgressPath(staging);
  if (!PathExists(path)) return false;
  Result<std::string> data = ReadFile(path);
  if (!data.ok()) return false;
  Result<SnapshotProgress> p = SnapshotProgress::Decode(*data);
  if (!p.ok() || p->group != f.group || !(p->from == f.from) || p->index < f.min_index) return false;
  auto w = SnapshotWriter::Resume(FetchPartialDir(staging), p->state, opt_.writeback_bytes);
  if (!w.ok()) return false;
  f.writer = std::move(w).value();
  f.fetch_id = p->fetch_id;
  f.offset = p->state.offset;
  f.saved_offset = f.offset;
  f.index = p->index;
  f.total = p->total;
  f.retries = 0;
  ++stats_.resumed;
  Note("snapshot fetch of group " + std::to_string(f.group) + " from " + f.from.ToString() + ": resuming fetch " +
       std::to_string(f.fetch_id) + " at byte " + std::to_string(f.offset) + " of " + std::to_string(f.total));
  Request(f);
  return true;
}

void SnapshotFetcher::Abandon(Fetch& f) {
  f.writer.reset();
  (void)RemoveAll(FetchProgressPath(staging_dir_(f.group)));
  f.next_ms = clock_.NowMs() + opt_.timeout_ms;
}

void SnapshotFetcher::Restart(Fetch& f) {
  f.fetch_id = rng_.Next() | 1;
  f.offset = 0;
  f.saved_offset = 0;
  f.index = 0;
  f.total = 0;
  f.term = 0;
  f.conf = {};
  f.retries = 0;
  const std::string staging = staging_dir_(f.group);
  // The record goes first: a crash between the two must not leave a record naming a
  // directory that no longer holds its bytes.
  Status gone = RemoveAll(FetchProgressPath(staging));
  auto w = gone.ok() ? SnapshotWriter::Create(FetchPartialDir(staging), opt_.writeback_bytes)
                     : Result<std::unique_ptr<SnapshotWriter>>(gone);
  if (!w.ok()) {
    f.writer.reset();
    f.next_ms = clock_.NowMs() + opt_.timeout_ms;  // Try again later (disk trouble).
    return;
  }
  f.writer = std::move(w).value();
  ++stats_.started;
  Note("snapshot fetch of group " + std::to_string(f.group) + " from " + f.from.ToString() + ": fetch " +
       std::to_string(f.fetch_id) + " from byte 0");
  Request(f);
}

void SnapshotFetcher::Request(Fetch& f) {
  SnapshotFetchRequest req;
  req.group = f.group;
  req.fetch_id = f.fetch_id;
  req.min_index = f.min_index;
  req.offset = f.offset;
  req.max_bytes = opt_.chunk_bytes;
  f.sent_ms = clock_.NowMs();
  f.next_ms = 0;
  f.paced = false;
  transport_.Send(f.from, std::move(req));
}

void SnapshotFetcher::RequestPaced(Fetch& f) {
  if (opt_.rate_bytes_per_s == 0) return Request(f);
  uint64_t now_us = clock_.NowMs() * 1000;
  if (pace_us_ <= now_us) return Request(f);
  f.paced = true;
  f.next_ms = (pace_us_ + 999) / 1000;
}

Status SnapshotFetcher::SaveProgress(Fetch& f) {
  VECTRON_ASSIGN_OR_RETURN(SnapshotWriterState state, f.writer->Checkpoint());
  SnapshotProgress p;
  p.from = f.from;
  p.group = f.group;
  p.fetch_id = f.fetch_id;
  p.index = f.index;
  p.total = f.total;
  p.state = std::move(state);
  return WriteFileAtomic(FetchProgressPath(staging_dir_(f.group)), p.Encode());
}

Status SnapshotFetcher::Finish(Fetch& f) {
  // The complete copy takes the staging directory's name (what the state machine installs
  // from); the record goes last, so a crash in between leaves a record whose directory is
  // gone, and the next Start starts over.
  const std::string staging = staging_dir_(f.group);
  f.writer.reset();
  VECTRON_RETURN_IF_ERROR(RemoveAll(staging));
  VECTRON_RETURN_IF_ERROR(RenamePath(FetchPartialDir(staging), staging));
  const size_t slash = staging.find_last_of('/');
  VECTRON_RETURN_IF_ERROR(FsyncPath(slash == std::string::npos ? "." : staging.substr(0, slash)));
  return RemoveAll(FetchProgressPath(staging));
}

void SnapshotFetcher::OnResponse(const NodeId& from, const SnapshotFetchResponse& r) {
  auto it = fetches_.find(r.group);
  if (it == fetches_.end()) return;
  Fetch& f = *it->second;
  if (!(from == f.from) || r.fetch_id != f.fetch_id || r.offset != f.offset || !f.writer || f.check != 0)
    return;  // Stale.
  if (!r.status.ok()) return Abandon(f);  // Start over later (the copy expired, ...).
  // The answer comes from the wire: a copy other than the one this fetch (or the progress
  // record it resumed) started on, a chunk larger than asked for, or one past the stream's
  // end, and the fetch starts over.
  if (f.total == 0 && f.offset == 0) {
    f.index = r.index;
    f.total = r.total;
  }
  if (r.index != f.index || r.total != f.total || r.index < f.min_index || r.data.size() > opt_.chunk_bytes ||
      r.data.size() > f.total - f.offset)
    return Abandon(f);
  // Every answer of one copy carries the same position (a resumed fetch learns it from the
  // first answer after the resume).
  f.term = r.term;
  f.conf = r.conf;
  stats_.bytes_received += r.data.size();
  Status s = f.writer->Append(r.data);
  const bool arrived = f.writer->complete() || f.writer->check_pending();
  if (!s.ok() || (r.done && !arrived) || (!r.done && r.data.empty())) return Abandon(f);
  f.offset += r.data.size();
  f.retries = 0;
  if (opt_.rate_bytes_per_s > 0) {
    // These bytes are paid for from now, or from when the earlier ones were (a node's
    // fetches share one budget; idle time is not saved up).
    uint64_t now_us = clock_.NowMs() * 1000;
    pace_us_ = std::max(pace_us_, now_us) + r.data.size() * 1'000'000 / opt_.rate_bytes_per_s;
  }
  if (arrived) return Arrived(f);
  // Once the header is in, every progress_bytes the staged bytes are made durable and
  // recorded before the next chunk is asked for: a crash costs at most that much and the
  // chunk in flight. (If the record cannot be written, the previous one still holds: a
  // resume cuts the staged bytes back to it.)
  if (f.offset - f.saved_offset >= opt_.progress_bytes && SaveProgress(f).ok()) f.saved_offset = f.offset;
  RequestPaced(f);
}

void SnapshotFetcher::Arrived(Fetch& f) {
  if (f.writer->complete()) return Complete(f.group);
  // A resumed copy: every staged byte is read back and checksummed, on the Executor (a
  // large shard's copy takes seconds to read, and the loop serves every group meanwhile).
  // The check carries its own number: a fetch cancelled or started again meanwhile
  // ignores its result.
  f.check = next_check_++;
  constexpr uint64_t kStagedCheckQueueBit = uint64_t{1} << 61;
  executor_.Post(kStagedCheckQueueBit | f.group,
                 [this, group = f.group, check = f.check, checksum = f.writer->StagedChecksum()] {
                   Result<uint32_t> crc = checksum();
                   loop_.Post([this, group, check, crc = std::move(crc)] { OnChecked(group, check, crc); });
                 });
}

void SnapshotFetcher::OnChecked(uint64_t group, uint64_t check, const Result<uint32_t>& crc) {
  auto it = fetches_.find(group);
  if (it == fetches_.end() || it->second->check != check || !it->second->writer) return;
  Fetch& f = *it->second;
  f.check = 0;
  Status s = crc.ok() ? f.writer->FinishCheck(*crc) : crc.status();
  if (!s.ok()) {
    Note("snapshot fetch of group " + std::to_string(f.group) + " from " + f.from.ToString() +
         ": the staged copy failed its final check (" + s.ToString() + "); starting over");
    return Abandon(f);
  }
  Complete(group);
}

void SnapshotFetcher::Complete(uint64_t group) {
  auto it = fetches_.find(group);
  Fetch& f = *it->second;
  if (!Finish(f).ok()) return Abandon(f);
  Note("snapshot fetch of group " + std::to_string(f.group) + " from " + f.from.ToString() + " complete: index " +
       std::to_string(f.index) + ", " + std::to_string(f.total) + " bytes" +
       (f.term != 0 ? ", term " + std::to_string(f.term) : std::string(", term unknown")));
  const CopyPosition position{f.index, f.term, std::move(f.conf)};
  fetches_.erase(it);
  done_(group, position);
}

void SnapshotFetcher::RunOnce() {
  uint64_t now = clock_.NowMs();
  for (auto& [group, fp] : fetches_) {
    Fetch& f = *fp;
    if (f.check != 0) continue;  // Its staged copy is being checked.
    if (!f.writer) {
      if (now >= f.next_ms) Restart(f);
    } else if (f.paced) {
      if (now >= f.next_ms) RequestPaced(f);
    } else if (now >= f.sent_ms + opt_.timeout_ms) {
      // Re-asks continue at the offset reached; only a sender that stays silent (gone, or
      // it lost the copy without saying so) makes the fetch start over.
      if (++f.retries > 5) Restart(f);
      else {
        if (f.offset > 0) ++stats_.resumed;
        Request(f);
      }
    }
  }
}

}  // namespace vectron::net::cluster
