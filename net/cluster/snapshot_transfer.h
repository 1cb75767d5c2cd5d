// Shard snapshot data on the wire (docs/cluster.md, "Snapshots are descriptors; the data
// streams"; format: docs/formats/shard-snapshot.md). A snapshot is a directory (an LMDB
// copy plus the graph checkpoint, made by Shard::SnapshotTo); it travels as one byte
// stream — a header naming the files, their bytes, a CRC-32C trailer — pulled by the
// receiver one chunk at a time, so neither side ever holds it whole in memory and nothing
// is sent that was not asked for.
//
// SnapshotServer (the sender) keeps a copy per fetch until it is idle too long and serves
// any offset of it; SnapshotFetcher (the receiver) writes the stream into a staging
// directory, records after each chunk how far it is durably (SnapshotProgress), and after a
// timeout or a restart of its process asks the sender to continue that copy there (docs/
// cluster.md, "Resuming an interrupted copy"). Both run on the node's loop thread; the copy
// itself is made on the Executor.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/cluster/clock.h"
#include "net/cluster/executor.h"
#include "net/cluster/transport.h"
#include "vectron/status.h"

namespace vectron::net::cluster {

inline constexpr size_t kSnapshotMaxFiles = 64;
inline constexpr size_t kSnapshotMaxNameBytes = 255;

// The stream of one snapshot directory: header, file bytes, trailer.
class SnapshotArchive {
 public:
  // Lists the regular files of `dir` (not recursive). Errors: IOError; InvalidArgument for
  // a subdirectory, too many files or a bad name.
  static Result<SnapshotArchive> Scan(const std::string& dir, uint64_t index);
  uint64_t index() const { return index_; }
  uint64_t total() const { return header_.size() + body_ + 4; }
  // Appends up to `max_bytes` of the stream at `offset` to `*out`; any offset may be read,
  // in any order. Reads that extend the bytes checksummed so far keep a running CRC-32C;
  // reading the trailer when reads skipped part of the body (a receiver that resumed past
  // where this copy's reads had reached) first checksums the rest of the body from disk,
  // reading it in bounded pieces. Errors: IOError, InvalidArgument (offset past the end).
  Status Read(uint64_t offset, size_t max_bytes, std::string* out);

 private:
  Status ReadBody(uint64_t offset, size_t n, std::string* out);
  struct File {
    std::string name;
    uint64_t size = 0;
    uint64_t start = 0;  // Offset of its first byte in the stream.
  };
  std::string dir_;
  uint64_t index_ = 0;
  std::string header_;
  std::vector<File> files_;
  uint64_t body_ = 0;
  uint32_t crc_ = 0;
  uint64_t crc_offset_ = 0;  // The CRC covers the stream's bytes before this offset.
};

// How far a SnapshotWriter got, as far as it is durable: enough to continue the stream at
// `offset` after a crash. Persisted (with the fetch's identity) by SnapshotFetcher.
struct SnapshotWriterState {
  std::string header;  // The stream's header bytes (names and sizes of the files).
  uint64_t offset = 0;  // Stream bytes durably in the staging directory.
  uint32_t crc = 0;     // CRC-32C of the stream's first `offset` bytes.
};

// Parses a stream written in order into a staging directory.
class SnapshotWriter {
 public:
  // Starts writing into `dir` (removed and recreated); every `writeback_bytes` written to a
  // file (0 = never) starts its writeback without waiting for it. Errors: IOError.
  static Result<std::unique_ptr<SnapshotWriter>> Create(const std::string& dir, uint64_t writeback_bytes = 0);
  // Continues a stream whose first `state.offset` bytes are in `dir` (as a Checkpoint left
  // them): bytes past that offset are dropped. Because the staged bytes were not seen by
  // this writer, the whole staged copy must be checksummed again from disk against the
  // trailer when the stream has arrived (check_pending, then FinishCheck). Errors:
  // Corruption (a header that does not parse, an offset past the stream, staged files
  // missing or shorter than the state says), IOError.
  static Result<std::unique_ptr<SnapshotWriter>> Resume(const std::string& dir, const SnapshotWriterState& state,
                                                        uint64_t writeback_bytes = 0);
  ~SnapshotWriter();
  // Makes the bytes appended so far durable (the current file's data, the directory's
  // entries) and returns the state to resume from. Before the header has fully arrived
  // there is nothing worth resuming: FailedPrecondition. Errors: IOError.
  Result<SnapshotWriterState> Checkpoint();
  // Appends the next bytes of the stream. Errors: Corruption (bad header, names, sizes or
  // trailer), IOError.
  Status Append(std::string_view data);
  // Whether the whole stream (trailer included) has arrived and checked out; the files are
  // then fsynced (and the directory).
  bool complete() const { return complete_; }
  // A resumed stream whose trailer arrived and matched the bytes this writer saw: the
  // staged copy is not complete until FinishCheck is given the checksum of what is on disk.
  bool check_pending() const { return check_pending_; }
  // What computes that checksum: it reads the whole staged copy (a shard: gigabytes), so
  // the caller runs it off its loop. It holds copies of the names it reads, not this
  // writer, and may run on any thread, also after the writer is gone.
  std::function<Result<uint32_t>()> StagedChecksum() const;
  // Completes a pending check with the checksum StagedChecksum computed. Errors:
  // Corruption (the staged copy does not match the stream's trailer), FailedPrecondition
  // (no check pending), IOError.
  Status FinishCheck(uint32_t staged);
  uint64_t index() const { return index_; }
  uint64_t received() const { return received_; }

 private:
  SnapshotWriter() = default;
  Status ParseHeader();
  Status WriteBody(std::string_view data);
  Status Complete();
  Status MarkComplete();
  // The CRC-32C of a staged header and files, read back from disk.
  static Result<uint32_t> ChecksumStagedCopy(const std::string& dir, const std::string& header,
                                             const std::vector<std::pair<std::string, uint64_t>>& files);
  std::string dir_;
  std::string header_buf_;
  std::string header_;  // Once parsed: the header's bytes.
  bool resumed_ = false;
  bool header_done_ = false;
  uint64_t index_ = 0;
  std::vector<std::pair<std::string, uint64_t>> files_;
  size_t file_ = 0;         // Current file.
  uint64_t file_done_ = 0;  // Bytes of it written.
  uint64_t writeback_bytes_ = 0;
  uint64_t written_back_ = 0;  // Bytes of the current file whose writeback was started.
  int fd_ = -1;
  std::string trailer_;
  uint32_t crc_ = 0;
  uint64_t received_ = 0;
  bool check_pending_ = false;
  bool complete_ = false;
};

struct SnapshotTransferOptions {
  std::string tmp_dir;              // Where the server keeps its copies (created if missing).
  uint32_t chunk_bytes = 1 << 20;   // Receiver's chunk size.
  uint64_t timeout_ms = 2000;       // Receiver: re-ask; server: drop a copy idle 10x this long.
  size_t max_copies = 4;            // Server: copies kept at once (more: ResourceExhausted).
  // Receiver: snapshot bytes it pulls per second, all its fetches together (0 = no limit).
  // Nothing is sent that was not asked for, so this paces the sender's reads too. Lower
  // spreads a move's disk writes (and the sender's reads) thinner, so the searches and
  // writes of the groups on both nodes wait less behind them; the move takes longer.
  uint64_t rate_bytes_per_s = 0;
  // Receiver: starts the writeback of a staged file every this many bytes written (0 = only
  // the fsync at each file's end), so that the fsync does not flush a whole shard at once.
  uint64_t writeback_bytes = 8 << 20;
  // Receiver: makes the staged bytes durable and records its progress (for a resume after
  // an interruption) every this many bytes received (0 = after every chunk). It runs on
  // the loop thread: an fdatasync, a small synced write and a rename; lower loses less to
  // an interruption (at most this plus a chunk) and stalls the loop more often.
  uint64_t progress_bytes = 8 << 20;
  // Both: a line for each copy made and served to its end, each fetch started, resumed and
  // finished (nullptr: silent). Called on the loop thread.
  std::function<void(const std::string&)> log;
};

// The receiver's durable record of a fetch in progress (SnapshotFetcher writes it next to
// the staging directory after every chunk; format: docs/formats/shard-snapshot.md). The
// identity — sender, fetch id, group, the copy's index and stream size, its header — names
// the sender's copy; a resume whose answers do not match it starts over.
struct SnapshotProgress {
  NodeId from;
  uint64_t group = 0;
  uint64_t fetch_id = 0;
  uint64_t index = 0;  // The copy's applied index.
  uint64_t total = 0;  // The copy's stream size.
  SnapshotWriterState state;
  std::string Encode() const;
  // Errors: Corruption (bad magic or checksum, out-of-range sizes or offsets).
  static Result<SnapshotProgress> Decode(std::string_view data);
};

// A copy's place in its group's Raft log: its applied index, the term of that entry and
// the membership there (term 0: not known).
struct CopyPosition {
  uint64_t index = 0;
  uint64_t term = 0;
  raft::ConfState conf;
};

// Serves snapshot streams of the groups a node hosts.
class SnapshotServer {
 public:
  // Makes a snapshot of `group` in `dir` (a new directory); returns its applied index.
  // Runs on the Executor.
  using MakeSnapshot = std::function<Result<uint64_t>(uint64_t group, const std::string& dir)>;
  // The term and membership of `group`'s log at `index` (loop thread), or nullopt if the
  // log no longer knows them. Sent with the copy (SnapshotFetchResponse::term).
  using Position = std::function<std::optional<CopyPosition>(uint64_t group, uint64_t index)>;
  SnapshotServer(SnapshotTransferOptions options, Clock& clock, Transport& transport, Executor& executor,
                 LoopQueue& loop, MakeSnapshot make, Position position = {});
  ~SnapshotServer();
  void OnRequest(const NodeId& from, const SnapshotFetchRequest& req);
  // Drops idle copies.
  void RunOnce();
  size_t copies() const { return sessions_.size(); }

 private:
  struct Session;
  void Note(const std::string& line) const {
    if (opt_.log) opt_.log(line);
  }
  SnapshotTransferOptions opt_;
  Clock& clock_;
  Transport& transport_;
  Executor& executor_;
  LoopQueue& loop_;
  MakeSnapshot make_;
  Position position_;
  uint64_t next_dir_ = 1;
  std::map<std::pair<NodeId, uint64_t>, std::unique_ptr<Session>> sessions_;  // (peer, fetch id)
};

// Fetches snapshot streams into staging directories, one fetch per group at a time.
class SnapshotFetcher {
 public:
  // `staging_dir(group)` is where a group's complete copy is put; `done(group, position)`
  // is called (loop thread) when a complete copy at `position.index` is there (with the
  // term and membership its sender gave, if it gave them). While a fetch runs, the
  // stream is written into `staging_dir(group) + ".partial"` and its progress is recorded
  // in `staging_dir(group) + ".progress"`; a Start finding a progress record of the same
  // sender, for a copy recent enough, resumes that fetch. A resumed fetch's final check
  // (the whole staged copy read back) runs on `executor`, its result on `loop`.
  SnapshotFetcher(SnapshotTransferOptions options, Clock& clock, Rng& rng, Transport& transport, Executor& executor,
                  LoopQueue& loop, std::function<std::string(uint64_t group)> staging_dir,
                  std::function<void(uint64_t group, const CopyPosition& position)> done);
  ~SnapshotFetcher();
  // Starts fetching a copy of `group` at or past `min_index` from `from`, unless one is
  // already being fetched.
  void Start(uint64_t group, const NodeId& from, uint64_t min_index);
  void OnResponse(const NodeId& from, const SnapshotFetchResponse& r);
  // Timeouts and retries.
  void RunOnce();
  bool fetching(uint64_t group) const { return fetches_.count(group) > 0; }
  void Cancel(uint64_t group);
  // Totals since construction (tests and benchmarks): stream bytes received, fetches
  // resumed from a progress record or after a timeout, fetches started from byte 0.
  struct Stats {
    uint64_t bytes_received = 0;
    uint64_t resumed = 0;
    uint64_t started = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Fetch;
  void Request(Fetch& f);
  // Requests the next chunk of `f` now, or at the time the rate limit allows.
  void RequestPaced(Fetch& f);
  void Restart(Fetch& f);
  // Drops `f`'s writer and progress record; the fetch starts over from byte 0 at next_ms.
  void Abandon(Fetch& f);
  bool TryResume(Fetch& f);
  Status SaveProgress(Fetch& f);
  Status Finish(Fetch& f);
  // The stream of `f` has arrived: its staged copy is checked (a resumed one, on the
  // Executor) and handed over.
  void Arrived(Fetch& f);
  void OnChecked(uint64_t group, uint64_t check, const Result<uint32_t>& crc);
  void Complete(uint64_t group);
  void Note(const std::string& line) const {
    if (opt_.log) opt_.log(line);
  }
  SnapshotTransferOptions opt_;
  Clock& clock_;
  Rng& rng_;
  Transport& transport_;
  Executor& executor_;
  LoopQueue& loop_;
  std::function<std::string(uint64_t)> staging_dir_;
  std::function<void(uint64_t, const CopyPosition&)> done_;
  std::map<uint64_t, std::unique_ptr<Fetch>> fetches_;
  uint64_t next_check_ = 1;
  uint64_t pace_us_ = 0;  // With a rate limit: when the bytes received so far are paid for.
  Stats stats_;
};

}  // namespace vectron::net::cluster
