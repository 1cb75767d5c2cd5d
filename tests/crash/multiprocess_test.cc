// Several real processes share one database directory: two writer processes (disjoint
// and overlapping ids, an index checkpoint after every batch) and this process as a
// reader that must see their commits on its next read. Synchronised by pipes only.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "mp_workload.h"

using namespace vectron;
using namespace vectron::testing;

namespace {

struct Child {
  pid_t pid = -1;
  FILE* in = nullptr;   // the child's stdin
  FILE* out = nullptr;  // the child's stdout
};

Child SpawnWorker(const std::string& dir, const std::string& name, int batches) {
  int to_child[2], from_child[2];
  REQUIRE(pipe(to_child) == 0);
  REQUIRE(pipe(from_child) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
    std::string n = std::to_string(batches);
    execl(VECTRON_MP_WORKER, VECTRON_MP_WORKER, dir.c_str(), name.c_str(), n.c_str(), nullptr);
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  return Child{pid, fdopen(to_child[1], "w"), fdopen(from_child[0], "r")};
}

std::string ReadLine(FILE* f) {
  char line[128];
  if (!std::fgets(line, sizeof(line), f)) return "";
  std::string s(line);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

int Finish(Child& c) {
  std::fclose(c.in);
  std::fclose(c.out);
  int status = 0;
  waitpid(c.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::set<std::string> AllIds(Collection& c) {
  std::set<std::string> ids;
  GetOptions go{false, false};
  std::string cursor;
  size_t seen = 0;
  do {
    auto page = c.Scroll(cursor, 100, go).value();
    for (auto& p : page.points) ids.insert(p.id);
    seen += page.points.size();
    cursor = page.next_cursor;
  } while (!cursor.empty());
  CHECK(seen == ids.size());  // scroll never returns an id twice
  return ids;
}

}  // namespace

TEST_CASE("two writer processes and a reader process share a database: nothing lost or duplicated") {
  TempDir dir;
  const int batches = 30;
  const std::set<std::string> expected = MpExpectedIds(batches);
  {
    auto db = Database::Open(dir.path()).value();
    std::shared_ptr<Collection> c = db->CreateCollection("mp", MpConfig()).value();
    WriteBatch base;
    for (int i = 0; i < kMpBase; ++i) {
      std::string id = "base-" + std::to_string(i);
      base.Upsert(id, VectorForId(id, kMpDim));
    }
    REQUIRE(c->Write(base).ok());
    SearchParams sp;
    sp.k = 1;
    REQUIRE(c->Search(VectorForId("base-3", kMpDim), sp).value()[0].id == "base-3");  // index built now

    Child a = SpawnWorker(dir.path(), "A", batches);
    Child b = SpawnWorker(dir.path(), "B", batches);
    REQUIRE(ReadLine(a.out) == "ready");
    REQUIRE(ReadLine(b.out) == "ready");
    std::fputs("go\n", a.in);
    std::fputs("go\n", b.in);
    std::fflush(a.in);
    std::fflush(b.in);
    CHECK(ReadLine(a.out) == "done");
    CHECK(ReadLine(b.out) == "done");
    REQUIRE(Finish(a) == 0);
    REQUIRE(Finish(b) == 0);

    // This process opened the collection before the writers ran; its next reads see
    // every commit they made, and its index catches up from the change log.
    CHECK(c->Count().value() == expected.size());
    CHECK(AllIds(*c) == expected);
    std::vector<std::string> ids(expected.begin(), expected.end());
    auto points = c->Get(ids).value();
    size_t wrong = 0, unreachable = 0;
    sp.ef = 100;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!points[i] || points[i]->vector != VectorForId(ids[i], kMpDim)) ++wrong;
      auto hits = c->Search(VectorForId(ids[i], kMpDim), sp).value();
      if (hits.empty() || hits[0].id != ids[i]) ++unreachable;
    }
    CHECK(wrong == 0);
    CHECK(unreachable == 0);
    // The index holds each live point once: an exact search over everything returns
    // each expected id exactly once.
    SearchParams all;
    all.k = static_cast<int>(expected.size() + 50);
    all.exact = true;
    auto hits = c->Search(VectorForId("base-0", kMpDim), all).value();
    std::set<std::string> hit_ids;
    for (auto& h : hits) hit_ids.insert(h.id);
    CHECK(hits.size() == expected.size());
    CHECK(hit_ids == expected);
  }
  // Every shard holds exactly one saved graph, named by index.meta, and no temp files:
  // the writers' concurrent checkpoints did not delete each other's files.
  for (const char* shard : {"shard-0000", "shard-0001"}) {
    std::string sdir = dir / ("collections/mp/" + std::string(shard));
    int graphs = 0, temps = 0;
    for (auto& n : ListDir(sdir).value()) {
      graphs += n.rfind("index-", 0) == 0 && n.size() > 5 && n.substr(n.size() - 5) == ".hnsw";
      temps += n.size() > 4 && n.substr(n.size() - 4) == ".tmp";
    }
    CHECK_MESSAGE(graphs == 1, shard);
    CHECK_MESSAGE(temps == 0, shard);
  }
  std::vector<std::string> stages;
  DatabaseOptions o;
  o.progress = [&](std::string_view stage, uint64_t, uint64_t) {
    stages.emplace_back(stage);
    return true;
  };
  auto db = Database::Open(dir.path(), o).value();
  std::shared_ptr<Collection> c = db->GetCollection("mp").value();
  CHECK_MESSAGE(stages.empty(), (stages.empty() ? "" : stages[0]));  // both graphs loaded, not rebuilt
  CHECK(AllIds(*c) == expected);
}

TEST_CASE("compacting files while another process has the collection open is refused and changes nothing") {
  TempDir dir;
  DatabaseOptions o;
  o.auto_compact_deleted_share = 0;
  auto db = Database::Open(dir.path(), o).value();
  std::shared_ptr<Collection> c = db->CreateCollection("mp", MpConfig()).value();
  WriteBatch base;
  for (int i = 0; i < kMpBase; ++i) {
    std::string id = "base-" + std::to_string(i);
    base.Upsert(id, VectorForId(id, kMpDim));
  }
  REQUIRE(c->Write(base).ok());
  std::vector<std::string> gone;
  for (int i = 0; i < kMpBase; i += 2) gone.push_back("base-" + std::to_string(i));
  REQUIRE(c->Delete(gone).ok());

  Child other = SpawnWorker(dir.path(), "A", 3);
  REQUIRE(ReadLine(other.out) == "ready");
  Status s = c->Compact();
  CHECK(s.code() == StatusCode::kFailedPrecondition);
  CHECK(s.message().find("another process") != std::string::npos);
  CHECK(c->Stats().value().deleted_slots == 0);  // the index part ran anyway
  CompactOptions index_only;
  index_only.files = false;
  CHECK(c->Compact(index_only).ok());
  // The other process still works on the same files.
  std::fputs("go\n", other.in);
  std::fflush(other.in);
  CHECK(ReadLine(other.out) == "done");
  REQUIRE(Finish(other) == 0);
  const uint64_t expected = kMpBase / 2 + 3 * 8 - 2 + 6;
  CHECK(c->Count().value() == expected);
  // Alone now: the files compact, and reads and writes go on afterwards.
  const uint64_t disk_before = c->Stats().value().disk_bytes;
  REQUIRE(c->Compact().ok());
  CHECK(c->Stats().value().disk_bytes <= disk_before);
  CHECK(c->Count().value() == expected);
  SearchParams sp;
  sp.k = 1;
  CHECK(c->Search(VectorForId("A-2-5", kMpDim), sp).value()[0].id == "A-2-5");
  WriteBatch more;
  more.Upsert("late", VectorForId("late", kMpDim));
  REQUIRE(c->Write(more).ok());
  CHECK(c->Count().value() == expected + 1);
}
