// raft-log-bench: appends per second into LmdbLogStore with 1 group and with many groups,
// one LogWriteBatch (one commit, one fsync) per loop, against one commit per group.
//
//   raft-log-bench [--dir DIR] [--groups N] [--loops N] [--entry-bytes N] [--rounds N]
//
// Each loop appends one entry (and a new hard state) to every group, as a worker's loop does
// when every group it hosts has a write. DIR (default: a new directory under /tmp) should be
// on the disk being measured; each configuration gets a fresh store in it. Prints a
// Markdown table: the median of --rounds runs, configurations interleaved per round.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "raft/lmdb_storage.h"

using namespace vectron::raft;

namespace {

struct Run {
  const char* name;
  uint64_t groups;
  bool batched;   // One Write for all groups per loop, else one per group.
  uint64_t loops;
  std::vector<double> appends_per_s;
  std::vector<double> commits_per_s;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Runs `r` once in a fresh store under `dir`; returns false on a store error.
bool RunOnce(Run& r, const std::string& dir, uint64_t entry_bytes) {
  std::filesystem::remove_all(dir);
  std::unique_ptr<LmdbLogStore> store;
  LmdbStorageOptions o;
  o.map_size_bytes = uint64_t{8} << 30;
  Status s = LmdbLogStore::Open(dir, o, &store);
  std::vector<std::unique_ptr<LmdbStorage>> groups(r.groups);
  for (uint64_t g = 0; s.ok() && g < r.groups; ++g) s = store->OpenGroup(g + 1, &groups[g]);
  if (!s.ok()) {
    std::fprintf(stderr, "raft-log-bench: %s\n", s.ToString().c_str());
    return false;
  }
  const std::string data(entry_bytes, 'v');
  uint64_t commits = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t loop = 1; loop <= r.loops && s.ok(); ++loop) {
    LogWriteBatch batch;
    for (auto& g : groups) {
      batch.Save(g.get(), {Entry{1, loop, EntryType::kNormal, data}}, HardState{1, 1, loop - 1});
      if (!r.batched) {
        s = store->Write(batch);
        ++commits;
        if (!s.ok()) break;
      }
    }
    if (r.batched && s.ok()) {
      s = store->Write(batch);
      ++commits;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!s.ok()) {
    std::fprintf(stderr, "raft-log-bench: %s\n", s.ToString().c_str());
    return false;
  }
  r.appends_per_s.push_back(static_cast<double>(r.loops * r.groups) / secs);
  r.commits_per_s.push_back(static_cast<double>(commits) / secs);
  return true;
}

bool ParseU64(const char* s, uint64_t* out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (!s[0] || *end || v == 0) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  uint64_t many = 100, loops = 300, entry_bytes = 256, rounds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    uint64_t* target = a == "--groups" ? &many : a == "--loops" ? &loops : a == "--entry-bytes" ? &entry_bytes
                     : a == "--rounds" ? &rounds : nullptr;
    if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (target && i + 1 < argc && ParseU64(argv[i + 1], target)) {
      ++i;
    } else {
      std::fprintf(stderr,
                   "usage: raft-log-bench [--dir DIR] [--groups N] [--loops N] [--entry-bytes N] [--rounds N]\n");
      return 2;
    }
  }
  bool temp = dir.empty();
  if (temp) {
    char tmpl[] = "/tmp/raft-log-bench-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
  }
  std::vector<Run> runs = {
      {"1 group, one commit per loop", 1, true, loops, {}, {}},
      {"many groups, one commit per loop (LogWriteBatch)", many, true, loops, {}, {}},
      {"many groups, one commit per group (reference)", many, false, std::max<uint64_t>(loops / 10, 3), {}, {}},
  };
  for (uint64_t round = 0; round < rounds; ++round)
    for (Run& r : runs)
      if (!RunOnce(r, dir + "/store", entry_bytes)) return 1;
  if (temp) std::filesystem::remove_all(dir);
  std::printf("| configuration | groups | loops | appends/s | commits/s | appends/s vs 1 group |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  double base = Median(runs[0].appends_per_s);
  for (Run& r : runs) {
    double a = Median(r.appends_per_s);
    std::printf("| %s | %llu | %llu | %.0f | %.0f | %.1fx |\n", r.name, static_cast<unsigned long long>(r.groups),
                static_cast<unsigned long long>(r.loops), a, Median(r.commits_per_s), base > 0 ? a / base : 0.0);
  }
  std::printf("(%llu-byte entries, median of %llu rounds, store in %s)\n", static_cast<unsigned long long>(entry_bytes),
              static_cast<unsigned long long>(rounds), temp ? "/tmp" : dir.c_str());
  return 0;
}
