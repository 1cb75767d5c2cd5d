#include <doctest/doctest.h>
#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>

#include "net/cluster/snapshot_transfer.h"
#include "tests/net/cluster/host_harness.h"
#include "tests/net/temp_dir.h"

namespace vectron::net::cluster {
namespace {

namespace fs = std::filesystem;
using net::testing::ScopedTempDir;

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
}
std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A snapshot directory: an empty file, a large one, a small one.
void MakeSource(const std::string& dir, uint64_t seed) {
  fs::create_directories(dir);
  WriteFile(dir + "/empty", "");
  SplitMixRng rng(seed);
  std::string big(300'000, '\0');
  for (char& c : big) c = static_cast<char>(rng.Next());
  WriteFile(dir + "/data.mdb", big);
  WriteFile(dir + "/index.meta", "{\"seq\": 7}");
}

bool SameFiles(const std::string& a, const std::string& b) {
  for (const char* n : {"empty", "data.mdb", "index.meta"})
    if (ReadAll(a + "/" + n) != ReadAll(b + "/" + n)) return false;
  return fs::exists(b + "/empty");
}

TEST_CASE("a snapshot directory streams in chunks of any size into an equal copy") {
  ScopedTempDir tmp("cluster-snap");
  MakeSource(tmp.path + "/src", 1);
  auto archive = SnapshotArchive::Scan(tmp.path + "/src", 42);
  REQUIRE(archive.ok());
  auto writer = SnapshotWriter::Create(tmp.path + "/dst");
  REQUIRE(writer.ok());
  SplitMixRng rng(7);
  uint64_t off = 0;
  while (off < archive->total()) {
    std::string chunk;
    REQUIRE(archive->Read(off, static_cast<size_t>(rng.Range(1, 70'000)), &chunk).ok());
    REQUIRE(!chunk.empty());
    REQUIRE((*writer)->Append(chunk).ok());
    off += chunk.size();
  }
  CHECK((*writer)->complete());
  CHECK((*writer)->index() == 42);
  CHECK(SameFiles(tmp.path + "/src", tmp.path + "/dst"));
}

TEST_CASE("a snapshot stream with a flipped byte fails its checksum") {
  ScopedTempDir tmp("cluster-snap");
  MakeSource(tmp.path + "/src", 2);
  auto archive = SnapshotArchive::Scan(tmp.path + "/src", 5);
  REQUIRE(archive.ok());
  std::string all;
  REQUIRE(archive->Read(0, 1 << 30, &all).ok());
  REQUIRE(archive->Read(all.size(), 16, &all).ok());  // The trailer.
  REQUIRE(all.size() == archive->total());
  all[all.size() / 2] ^= 1;
  auto writer = SnapshotWriter::Create(tmp.path + "/dst");
  REQUIRE(writer.ok());
  Status s = (*writer)->Append(all);
  CHECK(s.code() == StatusCode::kCorruption);
  CHECK_FALSE((*writer)->complete());
}

TEST_CASE("a snapshot stream refuses bad headers and the trailer before the body") {
  ScopedTempDir tmp("cluster-snap");
  auto writer = SnapshotWriter::Create(tmp.path + "/dst");
  REQUIRE(writer.ok());
  CHECK((*writer)->Append("NOTASNAPSHOTSTREAM!!!!").code() == StatusCode::kCorruption);
  MakeSource(tmp.path + "/src", 3);
  auto archive = SnapshotArchive::Scan(tmp.path + "/src", 1);
  REQUIRE(archive.ok());
  // A name that would escape the directory is refused when scanning.
  fs::create_directories(tmp.path + "/src/sub");
  CHECK(SnapshotArchive::Scan(tmp.path + "/src", 1).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("the trailer read first, or after reads that skip bytes, is the whole stream's checksum") {
  ScopedTempDir tmp("cluster-snap");
  MakeSource(tmp.path + "/src", 8);
  auto in_order = SnapshotArchive::Scan(tmp.path + "/src", 3);
  REQUIRE(in_order.ok());
  std::string all;
  REQUIRE(in_order->Read(0, 1 << 30, &all).ok());
  REQUIRE(in_order->Read(all.size(), 16, &all).ok());
  REQUIRE(all.size() == in_order->total());
  const std::string want = all.substr(all.size() - 4);
  auto first = SnapshotArchive::Scan(tmp.path + "/src", 3);
  REQUIRE(first.ok());
  std::string t;
  REQUIRE(first->Read(first->total() - 4, 4, &t).ok());
  CHECK(t == want);
  // Reads from the middle, overlapping what was read before, then a gap, then the end.
  auto skipping = SnapshotArchive::Scan(tmp.path + "/src", 3);
  REQUIRE(skipping.ok());
  std::string scratch;
  REQUIRE(skipping->Read(0, 5000, &scratch).ok());
  REQUIRE(skipping->Read(3000, 9000, &scratch).ok());
  REQUIRE(skipping->Read(100'000, 9000, &scratch).ok());
  t.clear();
  REQUIRE(skipping->Read(skipping->total() - 2, 2, &t).ok());
  CHECK(t == want.substr(2));
}

// The stream of `archive` from `from` to its end in chunks of `chunk` bytes, into `w`.
Status AppendStreamForResumeTest(SnapshotArchive& archive, uint64_t from, size_t chunk, SnapshotWriter& w) {
  for (uint64_t off = from; off < archive.total();) {
    std::string c;
    VECTRON_RETURN_IF_ERROR(archive.Read(off, chunk, &c));
    if (c.empty()) return Status::Internal("empty chunk");
    VECTRON_RETURN_IF_ERROR(w.Append(c));
    off += c.size();
  }
  // A resumed writer checks the staged copy read back from disk (a fetcher does it on its
  // Executor).
  if (!w.check_pending()) return Status::Internal("a resumed stream that arrived has no check pending");
  VECTRON_ASSIGN_OR_RETURN(uint32_t crc, w.StagedChecksum()());
  return w.FinishCheck(crc);
}

TEST_CASE("a staged stream resumed at every chunk boundary and inside chunks gives an equal copy") {
  ScopedTempDir tmp("cluster-snap");
  MakeSource(tmp.path + "/src", 9);
  const size_t chunk = 16 * 1024;
  auto sender = SnapshotArchive::Scan(tmp.path + "/src", 12);
  REQUIRE(sender.ok());
  const uint64_t total = sender->total();
  int resumes = 0;
  for (uint64_t cut = chunk; cut + 4 < total; cut += chunk) {
    for (uint64_t at : {cut, cut + 7, cut + chunk / 2}) {
      if (at + 4 > total) continue;
      CAPTURE(at);
      const std::string dst = tmp.path + "/dst";
      auto w = SnapshotWriter::Create(dst);
      REQUIRE(w.ok());
      // The stream up to `at` in chunks, as a fetch received it; a checkpoint there; then
      // more bytes that the crash leaves behind past the checkpoint (torn or not).
      for (uint64_t off = 0; off < at;) {
        std::string c;
        REQUIRE(sender->Read(off, static_cast<size_t>(std::min<uint64_t>(chunk, at - off)), &c).ok());
        REQUIRE((*w)->Append(c).ok());
        off += c.size();
      }
      auto state = (*w)->Checkpoint();
      REQUIRE(state.ok());
      CHECK(state->offset == at);
      std::string past;
      REQUIRE(sender->Read(at, 5000, &past).ok());
      REQUIRE((*w)->Append(past.substr(0, std::min<size_t>(past.size(), total - 4 - at))).ok());
      w->reset();
      // Half the resumes ask the same sender's archive (its running checksum is ahead of
      // the resume point), half a fresh one (nothing read in order yet).
      std::optional<SnapshotArchive> fresh;
      SnapshotArchive* from = &*sender;
      if (resumes % 2 == 1) {
        fresh = SnapshotArchive::Scan(tmp.path + "/src", 12).value();
        from = &*fresh;
      }
      auto resumed = SnapshotWriter::Resume(dst, *state);
      REQUIRE(resumed.ok());
      REQUIRE(AppendStreamForResumeTest(*from, at, chunk, **resumed).ok());
      CHECK((*resumed)->complete());
      CHECK((*resumed)->index() == 12);
      CHECK(SameFiles(tmp.path + "/src", dst));
      ++resumes;
      // The sender starts over for the next cut (its reads for this one went to the end).
      sender = SnapshotArchive::Scan(tmp.path + "/src", 12);
      REQUIRE(sender.ok());
    }
  }
  CHECK(resumes >= 50);
}

TEST_CASE("a corrupted staged byte is found when a resumed stream completes") {
  ScopedTempDir tmp("cluster-snap");
  MakeSource(tmp.path + "/src", 10);
  auto sender = SnapshotArchive::Scan(tmp.path + "/src", 4);
  REQUIRE(sender.ok());
  const std::string dst = tmp.path + "/dst";
  auto w = SnapshotWriter::Create(dst);
  REQUIRE(w.ok());
  std::string head;
  REQUIRE(sender->Read(0, 200'000, &head).ok());
  REQUIRE((*w)->Append(head).ok());
  auto state = (*w)->Checkpoint();
  REQUIRE(state.ok());
  w->reset();
  {
    // A byte of the staged data file flips (the disk, or a bug) while the process is down.
    std::fstream f(dst + "/data.mdb", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(1000);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x20;
    f.seekp(1000);
    f.write(&c, 1);
  }
  auto resumed = SnapshotWriter::Resume(dst, *state);
  REQUIRE(resumed.ok());
  Status s = AppendStreamForResumeTest(*sender, state->offset, 16 * 1024, **resumed);
  CHECK(s.code() == StatusCode::kCorruption);
  CHECK_FALSE((*resumed)->complete());
}

TEST_CASE("a resume refuses staged files shorter than the checkpoint and a progress record that does not check out") {
  ScopedTempDir tmp("cluster-snap");
  MakeSource(tmp.path + "/src", 11);
  auto sender = SnapshotArchive::Scan(tmp.path + "/src", 4);
  REQUIRE(sender.ok());
  const std::string dst = tmp.path + "/dst";
  auto w = SnapshotWriter::Create(dst);
  REQUIRE(w.ok());
  std::string head;
  REQUIRE(sender->Read(0, 100'000, &head).ok());
  REQUIRE((*w)->Append(head).ok());
  auto state = (*w)->Checkpoint();
  REQUIRE(state.ok());
  w->reset();
  SnapshotProgress p;
  p.from = NodeId{NodeKind::kWorker, 3};
  p.group = 8;
  p.fetch_id = 99;
  p.index = 4;
  p.total = sender->total();
  p.state = *state;
  const std::string rec = p.Encode();
  auto back = SnapshotProgress::Decode(rec);
  REQUIRE(back.ok());
  CHECK(back->from == p.from);
  CHECK(back->fetch_id == 99);
  CHECK(back->state.offset == state->offset);
  CHECK(back->state.crc == state->crc);
  CHECK(back->state.header == state->header);
  for (size_t i = 0; i < rec.size(); i += 7) {
    std::string bad = rec;
    bad[i] ^= 4;
    CHECK(SnapshotProgress::Decode(bad).status().code() == StatusCode::kCorruption);
  }
  CHECK(SnapshotProgress::Decode(rec.substr(0, rec.size() - 1)).status().code() == StatusCode::kCorruption);
  SnapshotProgress beyond = p;
  beyond.state.offset = p.total;  // Past the body: a writer has nothing to resume there.
  CHECK(SnapshotProgress::Decode(beyond.Encode()).status().code() == StatusCode::kCorruption);
  // The data file lost its last bytes (say, the checkpoint was a lie).
  fs::resize_file(dst + "/data.mdb", fs::file_size(dst + "/data.mdb") - 10);
  CHECK(SnapshotWriter::Resume(dst, *state).status().code() == StatusCode::kCorruption);
}

// Server and fetcher over a lossy, in-order transport.
class LossyNet {
 public:
  struct Endpoint final : Transport {
    LossyNet* net;
    NodeId self;
    void Send(const NodeId& to, Envelope m) override {
      if (net->rng.Chance(net->drop)) return;
      net->q.push_back({self, to, std::move(m)});
    }
  };
  SplitMixRng rng{11};
  double drop = 0.2;
  struct Msg {
    NodeId from, to;
    Envelope m;
  };
  std::deque<Msg> q;
};

// Two workers on a LossyNet (worker 1 serves, worker 2 fetches), a manual clock, an
// inline executor, a loop queue, and the options' copies directory in a fresh temp dir.
struct FetchTestBed {
  FetchTestBed() {
    a.net = b.net = &net;
    a.self = NodeId{NodeKind::kWorker, 1};
    b.self = NodeId{NodeKind::kWorker, 2};
    o.tmp_dir = tmp.path + "/copies";
  }
  ScopedTempDir tmp{"cluster-snap"};
  LossyNet net;
  LossyNet::Endpoint a{}, b{};
  ManualClock clock{1000};
  InlineExecutor exec;
  LoopQueue loop;
  SnapshotTransferOptions o;
};

TEST_CASE_FIXTURE(FetchTestBed, "a fetch pulls a snapshot over a lossy network, re-asking after timeouts") {
  MakeSource(tmp.path + "/src", 4);
  o.chunk_bytes = 16 * 1024;
  o.timeout_ms = 100;
  int made = 0;
  SnapshotServer server(o, clock, a, exec, loop, [&](uint64_t group, const std::string& dir) -> Result<uint64_t> {
    CHECK(group == 9);
    ++made;
    fs::copy(tmp.path + "/src", dir);
    return uint64_t{77};
  }, [&](uint64_t group, uint64_t index) -> std::optional<CopyPosition> {
    // The sender's log position of the copy goes with it.
    CHECK(group == 9);
    return CopyPosition{index, 6, raft::ConfState{{1, 2, 3}, {4}}};
  });
  SplitMixRng rng(3);
  uint64_t done_index = 0;
  CopyPosition done_at;
  SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t g) { return tmp.path + "/staging-" + std::to_string(g); },
      [&](uint64_t g, const CopyPosition& at) {
        CHECK(g == 9);
        done_index = at.index;
        done_at = at;
      });
  fetcher.Start(9, a.self, 70);
  for (int i = 0; i < 5000 && done_index == 0; ++i) {
    clock.Advance(10);
    loop.Drain();
    server.RunOnce();
    fetcher.RunOnce();
    std::deque<LossyNet::Msg> q;
    q.swap(net.q);
    for (auto& m : q) {
      if (auto* req = std::get_if<SnapshotFetchRequest>(&m.m)) server.OnRequest(m.from, *req);
      if (auto* resp = std::get_if<SnapshotFetchResponse>(&m.m)) fetcher.OnResponse(m.from, *resp);
    }
  }
  CHECK(done_index == 77);
  CHECK(done_at.term == 6);
  CHECK(done_at.conf == raft::ConfState{{1, 2, 3}, {4}});
  CHECK(made >= 1);
  CHECK(SameFiles(tmp.path + "/src", tmp.path + "/staging-9"));
  // Idle copies are dropped.
  clock.Advance(10 * o.timeout_ms + 1);
  server.RunOnce();
  CHECK(server.copies() == 0);
}

// Delivers the messages queued on `net` once; the fetcher's responses go through `deliver`.
template <typename Deliver>
void PumpResumeTestNet(LossyNet& net, SnapshotServer& server, const NodeId& server_id, Deliver&& deliver) {
  std::deque<LossyNet::Msg> q;
  q.swap(net.q);
  for (auto& m : q) {
    if (auto* req = std::get_if<SnapshotFetchRequest>(&m.m)) {
      if (m.to == server_id) server.OnRequest(m.from, *req);
    }
    if (auto* resp = std::get_if<SnapshotFetchResponse>(&m.m)) deliver(m.from, *resp);
  }
}

TEST_CASE_FIXTURE(FetchTestBed, "a fetch whose receiver dies after every chunk resumes each time and fetches each byte once") {
  MakeSource(tmp.path + "/src", 12);
  net.drop = 0;
  o.chunk_bytes = 16 * 1024;
  o.timeout_ms = 100;
  o.progress_bytes = 0;  // A record after every chunk.
  int made = 0;
  SnapshotServer server(o, clock, a, exec, loop, [&](uint64_t, const std::string& dir) -> Result<uint64_t> {
    ++made;
    fs::copy(tmp.path + "/src", dir);
    return uint64_t{31};
  });
  uint64_t done_index = 0, received = 0, total = 0, lives = 0, resumed = 0;
  const std::string staging = tmp.path + "/staging";
  while (done_index == 0 && lives < 100) {
    // A new life of the receiver: a new fetcher (its random fetch ids start over too),
    // asked by Raft for the same snapshot; it dies after the first chunk it takes in.
    ++lives;
    SplitMixRng rng(lives);
    SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t) { return staging; },
                            [&](uint64_t, const CopyPosition& at) { done_index = at.index; });
    fetcher.Start(6, a.self, 31);
    bool died = false;
    for (int i = 0; i < 100 && !died && done_index == 0; ++i) {
      clock.Advance(10);
      loop.Drain();
      server.RunOnce();
      fetcher.RunOnce();
      PumpResumeTestNet(net, server, a.self, [&](const NodeId& from, const SnapshotFetchResponse& r) {
        if (died) return;  // Lost with the process.
        received += r.data.size();
        total = r.total;
        fetcher.OnResponse(from, r);
        // Kills land between chunks: the final check the last chunk posts (run inline by
        // this executor) reaches the loop before the kill.
        loop.Drain();
        died = true;
      });
    }
    resumed += fetcher.stats().resumed;
    net.q.clear();  // The connection goes with it.
  }
  REQUIRE(done_index == 31);
  CHECK(SameFiles(tmp.path + "/src", staging));
  CHECK(made == 1);
  CHECK(received == total);  // Every byte once: each life continued where the last stopped.
  CHECK(lives >= total / o.chunk_bytes);
  CHECK(resumed + 2 >= lives);  // Every life but the first (and the header's) resumed.
  CHECK_FALSE(fs::exists(staging + ".progress"));
  CHECK_FALSE(fs::exists(staging + ".partial"));
}

// Runs its tasks only when told (the worker's Executor runs them on its own threads).
class DeferredExecutorForFetchTest final : public Executor {
 public:
  void Post(uint64_t, std::function<void()> task) override { tasks.push_back(std::move(task)); }
  void RunAll() {
    while (!tasks.empty()) {
      auto t = std::move(tasks.front());
      tasks.pop_front();
      t();
    }
  }
  std::deque<std::function<void()>> tasks;
};

TEST_CASE_FIXTURE(FetchTestBed, "a resumed fetch checks its staged copy on the Executor, not on the loop") {
  MakeSource(tmp.path + "/src", 14);
  net.drop = 0;
  o.chunk_bytes = 16 * 1024;
  o.timeout_ms = 100;
  o.progress_bytes = 0;
  SnapshotServer server(o, clock, a, exec, loop, [&](uint64_t, const std::string& dir) -> Result<uint64_t> {
    fs::copy(tmp.path + "/src", dir);
    return uint64_t{50};
  });
  const std::string staging = tmp.path + "/staging";
  // Steps `fetcher` until `until()` (or a bound); false if the bound was reached.
  auto step = [&](SnapshotFetcher& fetcher, auto until) {
    for (int i = 0; i < 2000; ++i) {
      if (until()) return true;
      clock.Advance(10);
      loop.Drain();
      server.RunOnce();
      fetcher.RunOnce();
      PumpResumeTestNet(net, server, a.self,
                        [&](const NodeId& from, const SnapshotFetchResponse& r) { fetcher.OnResponse(from, r); });
    }
    return until();
  };
  // A first life records a few chunks and dies.
  {
    DeferredExecutorForFetchTest exec;
    SplitMixRng rng(1);
    SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t) { return staging; }, [&](uint64_t, const CopyPosition&) {});
    fetcher.Start(6, a.self, 50);
    REQUIRE(step(fetcher, [&] { return fetcher.stats().bytes_received >= 3 * o.chunk_bytes; }));
    net.q.clear();
    loop.Clear();
  }
  REQUIRE(fs::exists(staging + ".progress"));

  SUBCASE("the stream arrives; the check waits for the Executor, and nothing is asked meanwhile") {
    DeferredExecutorForFetchTest exec;
    SplitMixRng rng(2);
    uint64_t done_index = 0;
    SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t) { return staging; },
                            [&](uint64_t, const CopyPosition& at) { done_index = at.index; });
    fetcher.Start(6, a.self, 50);
    REQUIRE(step(fetcher, [&] { return !exec.tasks.empty(); }));
    CHECK(fetcher.stats().resumed == 1);
    CHECK(done_index == 0);
    CHECK(fetcher.fetching(6));
    // Timeouts pass while the check runs: no request is sent, the fetch does not restart.
    for (int i = 0; i < 50; ++i) {
      clock.Advance(o.timeout_ms);
      fetcher.RunOnce();
    }
    CHECK(net.q.empty());
    CHECK(fetcher.stats().started == 0);
    exec.RunAll();
    CHECK(done_index == 0);  // The result goes through the loop.
    loop.Drain();
    CHECK(done_index == 50);
    CHECK_FALSE(fetcher.fetching(6));
    CHECK(SameFiles(tmp.path + "/src", staging));
  }

  SUBCASE("a staged byte flipped before the resume fails the check, and the fetch starts over") {
    {
      std::fstream f(staging + ".partial/data.mdb", std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(100);
      char c = 0;
      f.read(&c, 1);
      c ^= 0x01;
      f.seekp(100);
      f.write(&c, 1);
    }
    DeferredExecutorForFetchTest exec;
    SplitMixRng rng(3);
    uint64_t done_index = 0;
    SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t) { return staging; },
                            [&](uint64_t, const CopyPosition& at) { done_index = at.index; });
    fetcher.Start(6, a.self, 50);
    REQUIRE(step(fetcher, [&] { return !exec.tasks.empty(); }));
    exec.RunAll();
    loop.Drain();
    CHECK(done_index == 0);
    CHECK(fetcher.fetching(6));
    // From byte 0 this time, checked as it arrives (no check on the Executor).
    REQUIRE(step(fetcher, [&] {
      exec.RunAll();
      return done_index != 0;
    }));
    CHECK(done_index == 50);
    CHECK(fetcher.stats().started == 1);
    CHECK(SameFiles(tmp.path + "/src", staging));
  }

  SUBCASE("a fetch cancelled while its copy is checked ignores the check") {
    DeferredExecutorForFetchTest exec;
    SplitMixRng rng(4);
    uint64_t done_index = 0;
    SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t) { return staging; },
                            [&](uint64_t, const CopyPosition& at) { done_index = at.index; });
    fetcher.Start(6, a.self, 50);
    REQUIRE(step(fetcher, [&] { return !exec.tasks.empty(); }));
    fetcher.Cancel(6);
    exec.RunAll();
    loop.Drain();
    CHECK(done_index == 0);
    CHECK_FALSE(fetcher.fetching(6));
  }
}

TEST_CASE_FIXTURE(FetchTestBed, "a resume the sender cannot serve, or whose copy does not match the record, starts over") {
  MakeSource(tmp.path + "/src", 13);
  net.drop = 0;
  o.chunk_bytes = 16 * 1024;
  o.timeout_ms = 100;
  o.progress_bytes = 0;
  auto make = [&](uint64_t, const std::string& dir) -> Result<uint64_t> {
    fs::copy(tmp.path + "/src", dir);
    return uint64_t{40};
  };
  const std::string staging = tmp.path + "/staging";
  // A first life fetches a few chunks and dies.
  std::optional<SnapshotServer> first;
  first.emplace(o, clock, a, exec, loop, make);
  {
    SnapshotServer& server = *first;
    SplitMixRng rng(1);
    SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t) { return staging; }, [&](uint64_t, const CopyPosition&) {});
    fetcher.Start(6, a.self, 40);
    int chunks = 0;
    for (int i = 0; i < 100 && chunks < 5; ++i) {
      clock.Advance(10);
      loop.Drain();
      fetcher.RunOnce();
      PumpResumeTestNet(net, server, a.self, [&](const NodeId& from, const SnapshotFetchResponse& r) {
        if (chunks++ < 5) fetcher.OnResponse(from, r);
      });
    }
    net.q.clear();
  }
  REQUIRE(fs::exists(staging + ".progress"));
  const std::string record = ReadAll(staging + ".progress");
  auto run = [&](SnapshotServer& server, SnapshotFetcher& fetcher, const NodeId& leader) {
    uint64_t received = 0;
    bool done = false;
    fetcher.Start(6, leader, 40);
    for (int i = 0; i < 1000 && fetcher.fetching(6); ++i) {
      clock.Advance(10);
      loop.Drain();
      server.RunOnce();
      fetcher.RunOnce();
      PumpResumeTestNet(net, server, a.self, [&](const NodeId& from, const SnapshotFetchResponse& r) {
        received += r.data.size();
        fetcher.OnResponse(from, r);
      });
    }
    done = !fetcher.fetching(6);
    CHECK(done);
    CHECK(SameFiles(tmp.path + "/src", staging));
    return received;
  };
  SUBCASE("the sender lost the copy") {
    first.reset();  // The sender restarted: its copies are gone.
    SnapshotServer server(o, clock, a, exec, loop, make);
    SplitMixRng rng(2);
    SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t) { return staging; }, [&](uint64_t, const CopyPosition&) {});
    run(server, fetcher, a.self);
    CHECK(fetcher.stats().resumed == 1);
    CHECK(fetcher.stats().started == 1);  // After the refusal: from byte 0.
  }
  SUBCASE("the record names another copy (its size differs)") {
    // The sender still holds the copy under the recorded fetch id: only the record's
    // identity is off.
    SnapshotServer& server = *first;
    auto p = SnapshotProgress::Decode(record);
    REQUIRE(p.ok());
    p->total += 1;
    WriteFile(staging + ".progress", p->Encode());
    SplitMixRng rng(2);
    SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t) { return staging; }, [&](uint64_t, const CopyPosition&) {});
    run(server, fetcher, a.self);
    CHECK(fetcher.stats().resumed == 1);
    CHECK(fetcher.stats().started == 1);
  }
  SUBCASE("the record is of another sender") {
    SnapshotServer& server = *first;
    auto p = SnapshotProgress::Decode(record);
    REQUIRE(p.ok());
    p->from = NodeId{NodeKind::kWorker, 9};
    WriteFile(staging + ".progress", p->Encode());
    SplitMixRng rng(2);
    SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t) { return staging; }, [&](uint64_t, const CopyPosition&) {});
    run(server, fetcher, a.self);
    CHECK(fetcher.stats().resumed == 0);
    CHECK(fetcher.stats().started == 1);
  }
}

TEST_CASE_FIXTURE(FetchTestBed, "a fetch from a sender that went silent moves to the next sender that asks") {
  // Found by the cluster simulation: a learner's fetch from a leader that then died for
  // good re-asked it forever, ignoring the new leader's snapshot, and the group (which had
  // promoted the learner) could not commit again.
  MakeSource(tmp.path + "/src", 7);
  net.drop = 0;
  const NodeId dead{NodeKind::kWorker, 3};
  o.timeout_ms = 100;
  SnapshotServer server(o, clock, a, exec, loop, [&](uint64_t, const std::string& dir) -> Result<uint64_t> {
    fs::copy(tmp.path + "/src", dir);
    return uint64_t{17};
  });
  SplitMixRng rng(3);
  uint64_t done_index = 0;
  SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t) { return tmp.path + "/staging"; },
                          [&](uint64_t, const CopyPosition& at) { done_index = at.index; });
  fetcher.Start(1, dead, 17);  // Its requests are never answered.
  for (int i = 0; i < 300 && done_index == 0; ++i) {
    if (i == 50) fetcher.Start(1, a.self, 17);  // The new leader's snapshot, same index.
    clock.Advance(10);
    loop.Drain();
    server.RunOnce();
    fetcher.RunOnce();
    std::deque<LossyNet::Msg> q;
    q.swap(net.q);
    for (auto& m : q) {
      if (auto* req = std::get_if<SnapshotFetchRequest>(&m.m)) {
        if (m.to == a.self) server.OnRequest(m.from, *req);
      }
      if (auto* resp = std::get_if<SnapshotFetchResponse>(&m.m)) fetcher.OnResponse(m.from, *resp);
    }
  }
  CHECK(done_index == 17);
}

TEST_CASE_FIXTURE(FetchTestBed, "a fetch for an index the sender's copy does not reach fails and is retried") {
  MakeSource(tmp.path + "/src", 5);
  net.drop = 0;
  o.timeout_ms = 100;
  uint64_t copy_index = 10;
  SnapshotServer server(o, clock, a, exec, loop, [&](uint64_t, const std::string& dir) -> Result<uint64_t> {
    fs::copy(tmp.path + "/src", dir);
    return copy_index;
  });
  SplitMixRng rng(3);
  uint64_t done_index = 0;
  SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t) { return tmp.path + "/staging"; },
                          [&](uint64_t, const CopyPosition& at) { done_index = at.index; });
  fetcher.Start(1, a.self, 20);
  for (int i = 0; i < 300 && done_index == 0; ++i) {
    if (i == 100) copy_index = 25;  // The sender has applied more by now.
    clock.Advance(10);
    loop.Drain();
    server.RunOnce();
    fetcher.RunOnce();
    std::deque<LossyNet::Msg> q;
    q.swap(net.q);
    for (auto& m : q) {
      if (auto* req = std::get_if<SnapshotFetchRequest>(&m.m)) server.OnRequest(m.from, *req);
      if (auto* resp = std::get_if<SnapshotFetchResponse>(&m.m)) fetcher.OnResponse(m.from, *resp);
    }
  }
  CHECK(done_index == 25);
}

TEST_CASE_FIXTURE(FetchTestBed, "a fetch id the server holds a copy of another group for is refused, never served") {
  // A restarted receiver may reuse a fetch id of its previous life (found by the cluster
  // simulation: a replica installed another group's shard).
  MakeSource(tmp.path + "/src", 6);
  net.drop = 0;
  const NodeId peer{NodeKind::kWorker, 2};
  SnapshotServer server(o, clock, a, exec, loop, [&](uint64_t, const std::string& dir) -> Result<uint64_t> {
    fs::copy(tmp.path + "/src", dir);
    return uint64_t{5};
  });
  SnapshotFetchRequest req;
  req.group = 3;
  req.fetch_id = 41;
  req.max_bytes = 1024;
  server.OnRequest(peer, req);
  loop.Drain();
  REQUIRE(net.q.size() == 1);
  auto* first = std::get_if<SnapshotFetchResponse>(&net.q.front().m);
  REQUIRE(first != nullptr);
  CHECK(first->status.ok());
  CHECK(first->group == 3);
  net.q.clear();
  req.group = 4;  // The same fetch id, another group, from offset 1024.
  req.offset = 1024;
  server.OnRequest(peer, req);
  REQUIRE(net.q.size() == 1);
  auto* second = std::get_if<SnapshotFetchResponse>(&net.q.front().m);
  REQUIRE(second != nullptr);
  CHECK(second->status.code() == StatusCode::kFailedPrecondition);
  CHECK(second->data.empty());
}

TEST_CASE_FIXTURE(FetchTestBed, "a fetch with a rate limit pulls no faster than the limit, and no slower") {
  MakeSource(tmp.path + "/src", 5);  // About 300 kB.
  net.drop = 0;  // Timing is exact only without losses.
  o.chunk_bytes = 16 * 1024;
  o.timeout_ms = 100;
  o.rate_bytes_per_s = 100 * 1024;  // The copy needs about 3 s.
  o.writeback_bytes = 32 * 1024;
  SnapshotServer server(o, clock, a, exec, loop, [&](uint64_t, const std::string& dir) -> Result<uint64_t> {
    fs::copy(tmp.path + "/src", dir);
    return uint64_t{5};
  });
  SplitMixRng rng(3);
  uint64_t done_index = 0, done_ms = 0;
  SnapshotFetcher fetcher(o, clock, rng, b, exec, loop, [&](uint64_t g) { return tmp.path + "/staging-" + std::to_string(g); },
      [&](uint64_t, const CopyPosition& at) {
        done_index = at.index;
        done_ms = clock.NowMs();
      });
  const uint64_t start_ms = clock.NowMs();
  uint64_t received = 0, requests = 0, responses = 0, last = 0;
  fetcher.Start(9, a.self, 1);
  for (int i = 0; i < 10000 && done_index == 0; ++i) {
    clock.Advance(1);
    loop.Drain();
    server.RunOnce();
    fetcher.RunOnce();
    std::deque<LossyNet::Msg> q;
    q.swap(net.q);
    for (auto& m : q) {
      if (auto* req = std::get_if<SnapshotFetchRequest>(&m.m)) {
        ++requests;
        server.OnRequest(m.from, *req);
      }
      if (auto* resp = std::get_if<SnapshotFetchResponse>(&m.m)) {
        received += resp->data.size();
        last = resp->data.size();
        ++responses;
        // Never ahead of the budget by more than the chunk just received.
        CHECK(received <= (clock.NowMs() - start_ms) * o.rate_bytes_per_s / 1000 + o.chunk_bytes);
        fetcher.OnResponse(m.from, *resp);
      }
    }
  }
  REQUIRE(done_index == 5);
  CHECK(SameFiles(tmp.path + "/src", tmp.path + "/staging-9"));
  // Each chunk was asked for once (no timeout fired while one waited for the budget), and
  // the copy took what the rate says for all but the last chunk (not waited for), plus a
  // round trip of the test's loop per chunk.
  CHECK(requests == responses);
  const uint64_t paid_ms = (received - last) * 1000 / o.rate_bytes_per_s;
  CHECK(done_ms - start_ms >= paid_ms);
  CHECK(done_ms - start_ms <= paid_ms + 2 * responses + 2);
}

}  // namespace
}  // namespace vectron::net::cluster
