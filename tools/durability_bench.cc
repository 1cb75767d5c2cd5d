#include "durability_bench.h"
#include "progress.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "util/files.h"
#include "vectron/vectron.h"

namespace vectron::tools {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

int Fail(const Status& s) {
  std::fprintf(stderr, "vectron: %s\n", s.ToString().c_str());
  return 1;
}

uint64_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

// This thread's time on a CPU (CLOCK_THREAD_CPUTIME_ID) plus its time runnable but
// waiting for one (the kernel's run_delay, /proc/thread-self/schedstat; it is brought
// up to date whenever the thread gets a CPU, so it is exact for a running thread). The
// rest of a wall-clock interval the thread was blocked: on a lock, or I/O.
class SchedStat {
 public:
  SchedStat() : fd_(::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)) {}
  ~SchedStat() {
    if (fd_ >= 0) ::close(fd_);
  }
  SchedStat(const SchedStat&) = delete;
  SchedStat& operator=(const SchedStat&) = delete;
  // On-CPU plus runnable nanoseconds so far, or -1.
  int64_t RunningOrRunnableNs() const {
    char buf[128];
    if (fd_ < 0) return -1;
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    if (n <= 0) return -1;
    buf[n] = 0;
    unsigned long long ticked = 0, wait = 0;  // on-CPU time as of the last tick; run_delay
    if (std::sscanf(buf, "%llu %llu", &ticked, &wait) != 2) return -1;
    timespec cpu;
    if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) != 0) return -1;
    return static_cast<int64_t>(wait) + int64_t{cpu.tv_sec} * 1000000000 + cpu.tv_nsec;
  }

 private:
  int fd_;
};

void Emit(nlohmann::json j) { std::printf("%s\n", j.dump().c_str()); std::fflush(stdout); }

std::string PointId(uint64_t i) { return "v" + std::to_string(i); }

// Random vectors for ids [from, to), uniform in [-1, 1), reproducible per id block.
void FillBatch(WriteBatch& b, uint64_t from, uint64_t to, uint32_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed * 7919 + from);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(dim);
  for (uint64_t i = from; i < to; ++i) {
    for (auto& x : v) x = u(rng);
    b.Upsert(PointId(i), v);
  }
}

struct BenchDb {
  std::string dir;
  bool temp = false;
  ~BenchDb() {
    if (temp) (void)RemoveAll(dir);
  }
};

Result<BenchDb> MakeDir(const std::string& wanted) {
  BenchDb d;
  if (!wanted.empty()) {
    if (PathExists(wanted)) return Status::AlreadyExists(wanted + " exists; give a new directory");
    d.dir = wanted;
    return d;
  }
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/vectron-bench-XXXXXX";
  if (!mkdtemp(tmpl.data())) return Status::IOError("mkdtemp failed");
  d.dir = tmpl + "/db";
  d.temp = true;
  return d;
}

DatabaseOptions Options(const DurabilityBenchOptions& o, Durability d, int* builds) {
  DatabaseOptions opt;
  opt.durability = d;
  opt.threads = o.threads;
  opt.progress = [builds](std::string_view stage, uint64_t done, uint64_t) {
    if (done == 0 && builds) ++*builds;
    (void)stage;
    return true;
  };
  return opt;
}

CollectionConfig Config(const DurabilityBenchOptions& o) {
  CollectionConfig c;
  c.dim = o.dim;
  c.metric = Metric::kL2;
  c.hnsw.m = o.m;
  c.hnsw.ef_construction = o.ef_construction;
  if (auto q = ParseQuantization(o.quantization); q.ok()) c.quantization = *q;  // The CLI checked it.
  c.checkpoint_every_ops = 1ull << 40;  // only the explicit and closing checkpoints
  return c;
}

// Writes points from..to in batches of 10k; Ctrl-C / SIGTERM stops it between batches.
Status Import(Collection& c, uint64_t from, uint64_t to, uint32_t dim, uint64_t seed) {
  const uint64_t chunk = 10000;
  Progress progress;
  for (uint64_t i = from; i < to; i += chunk) {
    WriteBatch b;
    FillBatch(b, i, std::min(to, i + chunk), dim, seed);
    VECTRON_RETURN_IF_ERROR(c.Write(b));
    if (!progress.Update("import", std::min(to, i + chunk) - from, to - from))
      return Status::Cancelled("interrupted after " + std::to_string(std::min(to, i + chunk) - from) + " points");
  }
  progress.Finish();
  return Status::OK();
}

}  // namespace

int RunReopenBench(const DurabilityBenchOptions& o) {
  auto dir = MakeDir(o.db_dir);
  if (!dir.ok()) return Fail(dir.status());
  auto t0 = Clock::now();
  {
    auto db = Database::Open(dir->dir, Options(o, Durability::kNoSync, nullptr));
    if (!db.ok()) return Fail(db.status());
    auto c = (*db)->CreateCollection("bench", Config(o));
    if (!c.ok()) return Fail(c.status());
    if (Status s = Import(**c, 0, o.n, o.dim, 1); !s.ok()) return Fail(s);
    if (Status s = (*db)->Sync(); !s.ok()) return Fail(s);
    Emit({{"bench", "reopen"}, {"phase", "import"}, {"n", o.n}, {"dim", o.dim}, {"seconds", Seconds(t0)}});
    t0 = Clock::now();
  }  // closing saves the checkpoint
  Emit({{"bench", "reopen"}, {"phase", "close_with_checkpoint"}, {"seconds", Seconds(t0)}});
  auto reopen = [&](const char* phase) -> int {
    int builds = 0;
    auto t = Clock::now();
    auto db = Database::Open(dir->dir, Options(o, Durability::kFull, &builds));
    if (!db.ok()) return Fail(db.status());
    auto c = (*db)->GetCollection("bench");
    if (!c.ok()) return Fail(c.status());
    double secs = Seconds(t);
    auto st = (*c)->Stats();
    if (!st.ok()) return Fail(st.status());
    Emit({{"bench", "reopen"}, {"phase", phase}, {"n", st->count}, {"seconds", secs}, {"rebuilt", builds > 0},
          {"rss_bytes", RssBytes()}, {"disk_bytes", st->disk_bytes}});
    return 0;
  };
  if (int rc = reopen("reopen_from_checkpoint"); rc) return rc;
  {
    // Writes after the checkpoint, then a "crash": the copy has the new LMDB commits and
    // the older graph, so the reopen replays only the tail.
    auto db = Database::Open(dir->dir, Options(o, Durability::kFull, nullptr));
    if (!db.ok()) return Fail(db.status());
    auto c = (*db)->GetCollection("bench");
    if (!c.ok()) return Fail(c.status());
    if (Status s = Import(**c, o.n, o.n + o.tail, o.dim, 2); !s.ok()) return Fail(s);
    std::error_code ec;
    std::filesystem::copy(dir->dir, dir->dir + "-crashed", std::filesystem::copy_options::recursive, ec);
    if (ec) return Fail(Status::IOError("copying: " + ec.message()));
  }
  std::string crashed = dir->dir + "-crashed";
  {
    int builds = 0;
    auto t = Clock::now();
    auto db = Database::Open(crashed, Options(o, Durability::kFull, &builds));
    if (!db.ok()) return Fail(db.status());
    auto c = (*db)->GetCollection("bench");
    if (!c.ok()) return Fail(c.status());
    Emit({{"bench", "reopen"}, {"phase", "reopen_checkpoint_plus_tail"}, {"tail", o.tail}, {"seconds", Seconds(t)},
          {"rebuilt", builds > 0}});
  }
  (void)RemoveAll(crashed);
  (void)RemoveAll(dir->dir + "/collections/bench/shard-0000/index.meta");
  if (int rc = reopen("full_rebuild"); rc) return rc;
  return 0;
}

int RunConcurrentBench(const DurabilityBenchOptions& o) {
  auto dir = MakeDir(o.db_dir);
  if (!dir.ok()) return Fail(dir.status());
  auto db = Database::Open(dir->dir, Options(o, Durability::kFull, nullptr));
  if (!db.ok()) return Fail(db.status());
  auto c = (*db)->CreateCollection("bench", Config(o));
  if (!c.ok()) return Fail(c.status());
  std::shared_ptr<Collection> col = *c;
  if (Status s = Import(*col, 0, o.n, o.dim, 1); !s.ok()) return Fail(s);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> queries(o.queries * o.dim);
  for (auto& x : queries) x = u(rng);
  auto measure = [&](const char* phase, std::atomic<uint64_t>* written) -> int {
    std::vector<double> lat, blocked;
    lat.reserve(o.queries);
    blocked.reserve(o.queries);
    SchedStat sched;
    SearchParams sp;
    sp.k = 10;
    sp.ef = 64;
    uint64_t before = written ? written->load() : 0;
    auto t = Clock::now();
    for (uint64_t q = 0; q < o.queries; ++q) {
      const int64_t ran0 = sched.RunningOrRunnableNs();
      auto s = Clock::now();
      auto r = col->Search(std::span<const float>(queries.data() + q * o.dim, o.dim), sp);
      if (!r.ok()) return Fail(r.status());
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - s).count();
      const int64_t ran1 = sched.RunningOrRunnableNs();
      lat.push_back(us);
      if (ran0 >= 0 && ran1 >= 0) blocked.push_back(std::max(0.0, us - static_cast<double>(ran1 - ran0) / 1000.0));
    }
    double secs = Seconds(t);
    auto pct = [](std::vector<double>& v, double p) {
      std::sort(v.begin(), v.end());
      return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
    };
    // blocked_*: the part of a search's wall time its thread spent neither on a CPU nor
    // waiting for one: waiting for a lock (a write stalling it). Unlike p50/p99 it does
    // not grow with the machine's load.
    Emit({{"bench", "concurrent"}, {"phase", phase}, {"n", o.n}, {"queries", o.queries}, {"k", 10}, {"ef", 64},
          {"p50_us", pct(lat, 0.50)}, {"p99_us", pct(lat, 0.99)}, {"max_us", lat.back()},
          {"blocked_p50_us", pct(blocked, 0.50)}, {"blocked_p99_us", pct(blocked, 0.99)},
          {"blocked_max_us", blocked.empty() ? 0.0 : blocked.back()},
          {"writes_during", written ? written->load() - before : 0}, {"seconds", secs}});
    return 0;
  };
  if (int rc = measure("search_alone", nullptr); rc) return rc;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> written{0};
  Status writer_status;
  std::thread writer([&] {
    uint64_t next = o.n;
    while (!stop.load()) {
      WriteBatch b;
      FillBatch(b, next, next + 1000, o.dim, 3);
      next += 1000;
      if (Status s = col->Write(b); !s.ok()) {
        writer_status = s;
        return;
      }
      written += 1000;
    }
  });
  int rc = measure("search_with_writer", &written);
  stop = true;
  writer.join();
  if (!writer_status.ok()) return Fail(writer_status);
  return rc;
}

int RunCompactBench(const DurabilityBenchOptions& o) {
  auto dir = MakeDir(o.db_dir);
  if (!dir.ok()) return Fail(dir.status());
  DatabaseOptions opt = Options(o, Durability::kNoSync, nullptr);
  opt.auto_compact_deleted_share = 0;  // measure the explicit compaction
  auto db = Database::Open(dir->dir, opt);
  if (!db.ok()) return Fail(db.status());
  auto c = (*db)->CreateCollection("bench", Config(o));
  if (!c.ok()) return Fail(c.status());
  std::shared_ptr<Collection> col = *c;
  const uint64_t rss_empty = RssBytes();
  auto emit = [&](const char* phase, double secs) -> int {
    auto st = col->Stats();
    if (!st.ok()) return Fail(st.status());
    Emit({{"bench", "compact"}, {"phase", phase}, {"n", o.n}, {"dim", o.dim}, {"count", st->count},
          {"rss_bytes", RssBytes()}, {"rss_empty_bytes", rss_empty}, {"disk_bytes", st->disk_bytes},
          {"index_memory_bytes", st->index_memory_bytes}, {"deleted_slots", st->deleted_slots}, {"seconds", secs}});
    return 0;
  };
  auto t = Clock::now();
  if (Status s = Import(*col, 0, o.n, o.dim, 1); !s.ok()) return Fail(s);
  if (Status s = col->Checkpoint(); !s.ok()) return Fail(s);
  if (int rc = emit("imported", Seconds(t)); rc) return rc;
  t = Clock::now();
  const uint64_t keep_every = static_cast<uint64_t>(1.0 / std::max(1e-9, 1.0 - o.delete_fraction) + 0.5);
  std::vector<std::string> ids;
  for (uint64_t i = 0; i < o.n; ++i) {
    if (i % keep_every != 0) ids.push_back(PointId(i));
    if (ids.size() == 10000 || (i + 1 == o.n && !ids.empty())) {
      if (Status s = col->Delete(ids); !s.ok()) return Fail(s);
      ids.clear();
    }
  }
  if (Status s = col->Checkpoint(); !s.ok()) return Fail(s);
  if (int rc = emit("deleted", Seconds(t)); rc) return rc;
  t = Clock::now();
  if (Status s = col->Compact(); !s.ok()) return Fail(s);
  return emit("compacted", Seconds(t));
}

}  // namespace vectron::tools
