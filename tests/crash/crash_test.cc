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
#include <array>
#include <map>
#include <optional>

#include "workload.h"

using namespace vectron;
using namespace vectron::testing;

namespace {

struct Expected {
  uint64_t batch;
};

// Starts the writer; returns its pid and a FILE* on its stdout.
// `mode` is "", "maintain" or "feedback" (see crash_writer.cc).
std::pair<pid_t, FILE*> Spawn(const std::string& dir, uint64_t seed, uint64_t start, const char* mode) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::string s = std::to_string(seed), st = std::to_string(start);
    if (*mode)
      execl(VECTRON_CRASH_WRITER, VECTRON_CRASH_WRITER, dir.c_str(), s.c_str(), st.c_str(), mode, nullptr);
    else
      execl(VECTRON_CRASH_WRITER, VECTRON_CRASH_WRITER, dir.c_str(), s.c_str(), st.c_str(), nullptr);
    _exit(127);
  }
  close(fds[1]);
  return {pid, fdopen(fds[0], "r")};
}

// Acknowledged ratings per point: histogram of ratings 1-5.
using RatingModel = std::map<std::string, std::array<uint64_t, 5>>;

void ApplyToModel(std::map<std::string, Expected>& model, uint64_t seed, uint64_t b, RatingModel* ratings = nullptr) {
  CrashBatch cb = MakeCrashBatch(seed, b);
  for (auto& id : cb.upserts) model[id] = Expected{b};
  for (auto& id : cb.deletes) {
    model.erase(id);
    if (ratings) ratings->erase(id);  // Ratings go with their point.
  }
}

int Cycles() {
  const char* env = std::getenv("VECTRON_CRASH_CYCLES");
  return env ? std::atoi(env) : 25;
}


// Runs `cycles` spawn-write-kill-check cycles. With `maintain`, the writer also saves
// checkpoints and compacts, and each kill is aimed just after one of them starts. With
// `feedback`, it rates points after each batch, and every acknowledged rating of a
// live point must be there (the one in flight at the kill: all or nothing), and none of
// a deleted point.
void RunCrashCycles(int cycles, bool maintain, uint64_t seed, bool feedback = false) {
  TempDir dir;
  std::mt19937_64 rng(seed);
  std::map<std::string, Expected> model;
  RatingModel ratings;
  RatingModel* rmodel = feedback ? &ratings : nullptr;
  uint64_t rated_total = 0, rating_in_flight_applied = 0;
  uint64_t next = 0;  // first batch the next writer will write
  int aimed = 0;
  int in_flight_applied = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    CAPTURE(cycle);
    auto [pid, out] = Spawn(dir.path(), seed, next, maintain ? "maintain" : feedback ? "feedback" : "");
    // Ratings acknowledged in this cycle, in order: (batch, j).
    std::vector<std::pair<uint64_t, size_t>> rated;
    auto note_rated = [&](const char* l) {
      unsigned long long rb;
      size_t rj;
      if (std::sscanf(l, "rated %llu %zu", &rb, &rj) == 2) rated.emplace_back(rb, rj);
    };
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
      note_rated(line);
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
    if (feedback) {
      // Aim the kill among the ratings: right after one is acknowledged.
      while (std::fgets(line, sizeof(line), out)) {
        unsigned long long b;
        if (std::sscanf(line, "ack %llu", &b) == 1) last_acked = b;
        note_rated(line);
        if (std::strncmp(line, "rated", 5) == 0) break;
      }
    }
    // Let the writer run on for a random 0-5 ms (0-3 ms after a rating) (busy-wait: this picks the instant of
    // the kill, it does not wait for anything), so kills land anywhere in a batch, a
    // journal replay or a checkpoint.
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % (feedback ? 3000 : 5000));
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
      note_rated(line);
    }
    std::fclose(out);
    // Batches and the ratings acknowledged after each, in the writer's order.
    size_t r = 0;
    for (uint64_t b = next; b <= last_acked; ++b) {
      ApplyToModel(model, seed, b, rmodel);
      for (; r < rated.size() && rated[r].first == b; ++r) {
        ++ratings[MakeCrashBatch(seed, b).upserts[rated[r].second]][CrashRating(b, rated[r].second) - 1];
        ++rated_total;
      }
    }
    REQUIRE(r == rated.size());
    const uint64_t in_flight = last_acked + 1;

    // The rating in flight at the kill, if the writer was rating: the next one after
    // the last acknowledged (the batch's ratings go to j = 2 at most).
    std::optional<std::pair<std::string, int>> rating_in_flight;
    if (feedback && last_acked + 1 >= next + 1) {
      const uint64_t b = last_acked;
      size_t j = 0;
      if (!rated.empty() && rated.back().first == b) j = rated.back().second + 1;
      CrashBatch cb = MakeCrashBatch(seed, b);
      if (j < 3 && j < cb.upserts.size()) rating_in_flight.emplace(cb.upserts[j], CrashRating(b, j));
    }

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
    // A rating in flight comes before the next batch: it may have committed only if
    // that batch did not start; check it before applying the batch's deletes.
    if (rating_in_flight) {
      const auto& [rid, value] = *rating_in_flight;
      RatingStats st = (*col)->FeedbackStats(rid).value();
      auto want = ratings.count(rid) ? ratings[rid] : std::array<uint64_t, 5>{};
      if (st.histogram != want) {
        ++want[value - 1];
        bool gone = std::find(fb.deletes.begin(), fb.deletes.end(), rid) != fb.deletes.end() && present;
        CHECK_MESSAGE((st.histogram == want || gone), "rating in flight of ", rid, " is neither absent nor whole");
        if (st.histogram == want) {
          ratings[rid] = want;
          ++rating_in_flight_applied;
        }
      }
    }
    if (present == fb.upserts.size()) {
      ApplyToModel(model, seed, in_flight, rmodel);
      ++in_flight_applied;
    }
    next = in_flight + 1;
    if (feedback) {
      // Every acknowledged rating of a live point, exactly; none of deleted points.
      size_t wrong_ratings = 0, rated_points = 0;
      for (const auto& [rid, e] : model) {
        (void)e;
        auto want = ratings.count(rid) ? ratings[rid] : std::array<uint64_t, 5>{};
        RatingStats st = (*col)->FeedbackStats(rid).value();
        rated_points += st.count > 0;
        if (st.histogram != want) ++wrong_ratings;
      }
      CHECK(wrong_ratings == 0);
      size_t exported = 0, orphans = 0;
      REQUIRE((*col)->ExportFeedback([&](const Rating& rt) {
                       ++exported;
                       orphans += model.count(rt.point_id) == 0;
                       return Status::OK();
                     }).ok());
      CHECK(orphans == 0);
      uint64_t expected = 0;
      for (const auto& [rid, h] : ratings)
        if (model.count(rid))
          for (uint64_t n : h) expected += n;
      CHECK(exported == expected);
      (void)rated_points;
    }

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
          ", kills aimed at a checkpoint or compaction: ", aimed, ", ratings acknowledged: ", rated_total,
          ", ratings in flight at the kill that had committed: ", rating_in_flight_applied);
}

}  // namespace

TEST_CASE("acknowledged writes survive SIGKILL of the writer at any moment") {
  RunCrashCycles(Cycles(), false, 7);
}

TEST_CASE("acknowledged ratings survive SIGKILL of the writer and go with their deleted points") {
  RunCrashCycles(Cycles(), false, 13, true);
}

TEST_CASE("acknowledged writes survive SIGKILL during checkpoints and compactions") {
  RunCrashCycles(std::max(4, Cycles() * 3 / 5), true, 11);
}
