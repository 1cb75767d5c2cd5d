// Kills a real writer process (log_crash_writer.cc) with SIGKILL at arbitrary moments, in a
// loop, and after each kill checks that the multi-group log store holds, for every group at
// once, exactly the state after some loop L: every acknowledged loop and nothing torn (each
// loop is one LogWriteBatch, so one transaction across all groups).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "raft/lmdb_storage.h"
#include "raft/tests/harness.h"
#include "raft/tests/log_crash_workload.h"
#include "raft/tests/storage_contract.h"

namespace vectron::raft {
namespace {

using testing::Contents;
using testing::ReadAll;

constexpr uint64_t kSeed = 20240614;
constexpr uint64_t kGroups = 12;

// Starts the writer on `dir` from loop `first`; returns its pid and a FILE* on its stdout.
std::pair<pid_t, FILE*> Spawn(const std::string& dir, uint64_t first) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::string seed = std::to_string(kSeed), groups = std::to_string(kGroups), from = std::to_string(first);
    execl(RAFT_LOG_CRASH_WRITER, RAFT_LOG_CRASH_WRITER, dir.c_str(), seed.c_str(), groups.c_str(), from.c_str(),
          nullptr);
    _exit(127);
  }
  close(fds[1]);
  return {pid, fdopen(fds[0], "r")};
}

// Advances every model by one loop.
void Advance(std::vector<crash::GroupModel>& models, uint64_t loop) {
  std::vector<crash::Op> ops;
  for (uint64_t g = 0; g < models.size(); ++g) {
    ops.clear();
    REQUIRE(crash::PlanLoop(kSeed, g + 1, loop, models[g], &ops));
  }
}

bool Matches(std::vector<Contents>& stored, std::vector<crash::GroupModel>& models) {
  for (size_t g = 0; g < models.size(); ++g)
    if (!(stored[g] == ReadAll(models[g].log))) return false;
  return true;
}

int Cycles() {
  const char* env = std::getenv("RAFT_CRASH_CYCLES");
  return env ? std::atoi(env) : 25;
}

TEST_CASE("LmdbLogStore survives kill -9 of a multi-group writer: every group holds the same whole loop") {
  testing::TempDir dir;
  std::mt19937_64 rng(kSeed);
  std::vector<crash::GroupModel> models(kGroups);  // The state after loop `done`.
  uint64_t done = 0;
  int in_flight_committed = 0;
  const int cycles = Cycles();
  for (int cycle = 0; cycle < cycles; ++cycle) {
    CAPTURE(cycle);
    auto [pid, out] = Spawn(dir.path, done + 1);
    // Wait for a random number of acknowledged loops, then kill the writer mid-stride.
    const int want = 1 + static_cast<int>(rng() % 10);
    int acks = 0;
    uint64_t acked = done;
    char line[64];
    while (acks < want && std::fgets(line, sizeof(line), out)) {
      unsigned long long l = 0;
      if (std::sscanf(line, "ack %llu", &l) == 1) {
        acked = l;
        ++acks;
      }
    }
    REQUIRE_MESSAGE(acks == want, "the writer stopped early");
    // Let it run on for a random 0-5 ms (busy-wait: this picks the instant of the kill, it
    // does not wait for anything), so kills land anywhere in a loop's commit.
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 5000);
    while (std::chrono::steady_clock::now() < until) {
    }
    REQUIRE(kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    // Acknowledgements printed before it died count too.
    while (std::fgets(line, sizeof(line), out)) {
      unsigned long long l = 0;
      if (std::sscanf(line, "ack %llu", &l) == 1) acked = l;
    }
    std::fclose(out);
    // The store must hold loop `acked` or `acked + 1` (committed, not yet acknowledged),
    // the same loop in every group.
    std::vector<Contents> stored(kGroups);
    {
      std::unique_ptr<LmdbLogStore> store;
      Status s = LmdbLogStore::Open(dir.path, {}, &store);
      REQUIRE_MESSAGE(s.ok(), s.ToString());
      for (uint64_t g = 0; g < kGroups; ++g) {
        std::unique_ptr<LmdbStorage> group;
        s = store->OpenGroup(g + 1, &group);
        REQUIRE_MESSAGE(s.ok(), s.ToString());
        stored[g] = ReadAll(*group);
      }
    }
    while (done < acked) Advance(models, ++done);
    if (!Matches(stored, models)) {
      Advance(models, ++done);
      REQUIRE_MESSAGE(Matches(stored, models), "after loop " << acked << " the store is neither loop " << acked
                                                             << " nor " << done << " in every group");
      ++in_flight_committed;
    }
  }
  MESSAGE(cycles << " kills, " << done << " loops of " << kGroups << " groups; the loop in flight was committed "
                 << in_flight_committed << " times");
}

// The drop-and-recreate cycle of a replica that moves away and back, as a state machine on
// what is stored, so a restarted writer carries on from wherever the kill left it: a group
// with a log is dropped ("dropped k", k its term); a group with none (dropped, or never
// written) writes entries 1..3 and a hard state {k, VoteOf(k), 2} with k one above the term
// it starts from ("saved k"). Step s = 2k - 1 for "saved k", 2k for "dropped k".
uint64_t VoteOf(uint64_t term) { return 1 + term % 3; }

[[noreturn]] void DropCycleWriter(const std::string& dir, int out_fd) {
  std::unique_ptr<LmdbLogStore> store;
  if (!LmdbLogStore::Open(dir, {}, &store).ok()) _exit(1);
  for (;;) {
    std::unique_ptr<LmdbStorage> g;
    if (!store->OpenGroup(1, &g).ok()) _exit(1);
    HardState hs;
    ConfState cs;
    if (!g->InitialState(&hs, &cs).ok()) _exit(1);
    std::string line;
    if (g->LastIndex() == 0) {
      uint64_t k = hs.term + 1;
      if (!g->Save(testing::Ents(1, 3, k), HardState{k, VoteOf(k), 2}).ok()) _exit(1);
      line = "step " + std::to_string(2 * k - 1) + "\n";
    } else {
      uint64_t k = hs.term;
      g.reset();
      if (!store->DropGroup(1).ok()) _exit(1);
      line = "step " + std::to_string(2 * k) + "\n";
    }
    if (write(out_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(1);
  }
}

// The step the stored group 1 is at (see DropCycleWriter), or 0 if its state matches none.
uint64_t StoredDropCycleStep(const std::string& dir) {
  std::unique_ptr<LmdbLogStore> store;
  Status s = LmdbLogStore::Open(dir, {}, &store);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  std::unique_ptr<LmdbStorage> g;
  REQUIRE(store->OpenGroup(1, &g).ok());
  HardState hs;
  ConfState cs;
  REQUIRE(g->InitialState(&hs, &cs).ok());
  if (hs.term == 0 || hs.vote != VoteOf(hs.term)) return 0;
  if (g->LastIndex() == 3 && hs.commit == 2) return 2 * hs.term - 1;
  if (g->LastIndex() == 0 && g->FirstIndex() == 1 && hs.commit == 0) return 2 * hs.term;
  return 0;
}

TEST_CASE("LmdbLogStore survives kill -9 while dropping and re-creating a group: the group or its tombstone, never neither") {
  testing::TempDir dir;
  std::mt19937_64 rng(kSeed + 1);
  uint64_t acked = 0;
  const int cycles = Cycles();
  for (int cycle = 0; cycle < cycles; ++cycle) {
    CAPTURE(cycle);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();  // No LMDB environment is open in this process here.
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      DropCycleWriter(dir.path, fds[1]);
    }
    close(fds[1]);
    FILE* out = fdopen(fds[0], "r");
    const int want = 1 + static_cast<int>(rng() % 10);
    int acks = 0;
    char line[64];
    while (acks < want && std::fgets(line, sizeof(line), out)) {
      unsigned long long step = 0;
      if (std::sscanf(line, "step %llu", &step) == 1) {
        acked = step;
        ++acks;
      }
    }
    REQUIRE_MESSAGE(acks == want, "the writer stopped early");
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 5000);
    while (std::chrono::steady_clock::now() < until) {
    }
    REQUIRE(kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    while (std::fgets(line, sizeof(line), out)) {
      unsigned long long step = 0;
      if (std::sscanf(line, "step %llu", &step) == 1) acked = step;
    }
    std::fclose(out);
    // The last acknowledged step or the one in flight; a drop that lost its tombstone would
    // come back at term 0 (step 0), one that lost the group but not its log is neither.
    const uint64_t stored = StoredDropCycleStep(dir.path);
    CAPTURE(acked);
    CHECK(stored != 0);
    CHECK((stored == acked || stored == acked + 1));
    acked = stored;
  }
  MESSAGE(cycles << " kills, " << acked << " steps of drop and re-create");
}

}  // namespace
}  // namespace vectron::raft
