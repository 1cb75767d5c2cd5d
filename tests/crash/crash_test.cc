// Kills a real writer process with SIGKILL at arbitrary moments, in a loop, and after
// each kill checks that every acknowledged batch is present exactly, that the batch in
// flight is all-or-nothing, and that search reaches every point.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "workload.h"

using namespace vectron;
using namespace vectron::testing;

namespace {

struct Expected {
  uint64_t batch;
};

// Starts the writer; returns its pid and a FILE* on its stdout.
std::pair<pid_t, FILE*> Spawn(const std::string& dir, uint64_t seed, uint64_t start, bool maintain) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::string s = std::to_string(seed), st = std::to_string(start);
    if (maintain)
      execl(VECTRON_CRASH_WRITER, VECTRON_CRASH_WRITER, dir.c_str(), s.c_str(), st.c_str(), "maintain", nullptr);
    else
      execl(VECTRON_CRASH_WRITER, VECTRON_CRASH_WRITER, dir.c_str(), s.c_str(), st.c_str(), nullptr);
    _exit(127);
  }
  close(fds[1]);
  return {pid, fdopen(fds[0], "r")};
}

void ApplyToModel(std::map<std::string, Expected>& model, uint64_t seed, uint64_t b) {
  CrashBatch cb = MakeCrashBatch(seed, b);
  for (auto& id : cb.upserts) model[id] = Expected{b};
  for (auto& id : cb.deletes) model.erase(id);
}

int Cycles() {
  const char* env = std::getenv("VECTRON_CRASH_CYCLES");
  return env ? std::atoi(env) : 25;
}


// Runs `cycles` spawn-write-kill-check cycles. With `maintain`, the writer also saves
// checkpoints and compacts, and each kill is aimed just after one of them starts.
void RunCrashCycles(int cycles, bool maintain, uint64_t seed) {
  TempDir dir;
  std::mt19937_64 rng(seed);
  std::map<std::string, Expected> model;
  uint64_t next = 0;  // first batch the next writer will write
  int aimed = 0;
  int in_flight_applied = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    CAPTURE(cycle);
    auto [pid, out] = Spawn(dir.path(), seed, next, maintain);
    const int want_acks = 1 + static_cast<int>(rng() % 12);
    int acks = 0;
    char line[128];
    uint64_t last_acked = next - 1;  // wraps when next == 0; only read if acks > 0
    while (acks < want_acks && std::fgets(line, sizeof(line), out)) {
      unsigned long long b;
      if (std::sscanf(line, "ack %llu", &b) == 1) {
        last_acked = b;
        ++acks;
      }
    }
    if (maintain) {
      // Wait until the writer announces a checkpoint or a compaction (alternately),
      // counting acks that arrive meanwhile; the kill then lands inside it or just after.
      const char* want = cycle % 2 ? "compact" : "checkpoint";
      while (std::fgets(line, sizeof(line), out)) {
        unsigned long long b;
        if (std::sscanf(line, "ack %llu", &b) == 1) last_acked = b;
        if (std::strncmp(line, want, std::strlen(want)) == 0) {
          ++aimed;
          break;
        }
      }
    }
    // Let the writer run on for a random 0-5 ms (busy-wait: this picks the instant of
    // the kill, it does not wait for anything), so kills land anywhere in a batch, a
    // journal replay or a checkpoint.
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 5000);
    while (std::chrono::steady_clock::now() < until) {
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE_MESSAGE(acks == want_acks, "writer exited early, status ", status);
    // Acks the writer printed before it died count too: they were acknowledged.
    while (std::fgets(line, sizeof(line), out)) {
      unsigned long long b;
      if (std::sscanf(line, "ack %llu", &b) == 1) last_acked = b;
    }
    std::fclose(out);
    for (uint64_t b = next; b <= last_acked; ++b) ApplyToModel(model, seed, b);
    const uint64_t in_flight = last_acked + 1;

    auto db = Database::Open(dir.path());
    REQUIRE_MESSAGE(db.ok(), db.status().ToString());
    auto col = (*db)->GetCollection("crash");
    REQUIRE_MESSAGE(col.ok(), col.status().ToString());

    // The batch in flight at the kill: all of it or none of it.
    CrashBatch fb = MakeCrashBatch(seed, in_flight);
    auto got = (*col)->Get(fb.upserts).value();
    size_t present = 0;
    for (size_t i = 0; i < got.size(); ++i)
      present += got[i].has_value() && got[i]->metadata == CrashMetadata(fb.upserts[i], in_flight);
    CHECK_MESSAGE((present == 0 || present == fb.upserts.size()), "batch ", in_flight, " half applied: ", present,
                  "/", fb.upserts.size());
    if (present == fb.upserts.size()) {
      ApplyToModel(model, seed, in_flight);
      ++in_flight_applied;
    }
    next = in_flight + 1;

    // Every acknowledged point, exactly; nothing else.
    CHECK((*col)->Count().value() == model.size());
    std::vector<std::string> ids;
    for (auto& [id, e] : model) ids.push_back(id);
    auto points = (*col)->Get(ids).value();
    SearchParams sp;
    sp.k = 1;
    sp.ef = 200;
    size_t missing = 0, wrong = 0, unreachable = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      const uint64_t b = model[ids[i]].batch;
      if (!points[i]) {
        ++missing;
        continue;
      }
      if (points[i]->vector != CrashVector(ids[i], b) || points[i]->metadata != CrashMetadata(ids[i], b)) ++wrong;
      auto hits = (*col)->Search(CrashVector(ids[i], b), sp).value();
      if (hits.empty() || hits[0].id != ids[i]) ++unreachable;
    }
    CHECK(missing == 0);
    CHECK(wrong == 0);
    CHECK(unreachable == 0);
  }
  MESSAGE("crash cycles: ", cycles, ", points at the end: ", model.size(), ", batches: ", next,
          ", batches in flight at the kill that had committed: ", in_flight_applied,
          ", kills aimed at a checkpoint or compaction: ", aimed);
}

}  // namespace

TEST_CASE("acknowledged writes survive SIGKILL of the writer at any moment") {
  RunCrashCycles(Cycles(), false, 7);
}

TEST_CASE("acknowledged writes survive SIGKILL during checkpoints and compactions") {
  RunCrashCycles(std::max(4, Cycles() * 3 / 5), true, 11);
}
