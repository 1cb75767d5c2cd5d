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

}  // namespace
}  // namespace vectron::raft
