// Shard::SnapshotTo: a consistent copy of a shard (LMDB snapshot and graph checkpoint) at
// its applied index, the data a shard group's Raft snapshot carries (docs/cluster.md,
// "Snapshots").
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "checkpoint_files.h"
#include "db_test_util.h"
#include "index/hnsw_index.h"
#include "util/files.h"
#include "vectron/shard.h"

namespace vectron {
namespace {

using testing::TempDir;

CollectionConfig GraphConfig() {
  CollectionConfig c = testing::SmallConfig(4);
  c.flat_max_points = 0;  // A graph from the first point: the snapshot carries its checkpoint.
  return c;
}

LoggedCommand Upserts(int first, int n) {
  LoggedCommand c;
  for (int i = first; i < first + n; ++i) c.batch.Upsert("p" + std::to_string(i), testing::VectorForId("p" + std::to_string(i), 4), "");
  return c;
}

TEST_CASE("DataSize: its bytes grow with points and payloads, and shrink when they are deleted (unlike the file)") {
  TempDir dir;
  auto s = Shard::Open(dir.path(), GraphConfig(), testing::SmallDbOptions()).value();
  const ShardDataSize empty = s->DataSize().value();
  CHECK(empty.points == 0);
  LoggedCommand big;
  const std::string payload = "{\"text\": \"" + std::string(2000, 'x') + "\"}";
  for (int i = 0; i < 400; ++i) big.batch.Upsert("p" + std::to_string(i), testing::VectorForId("p" + std::to_string(i), 4), payload);
  REQUIRE(s->ApplyLogged(big, 1, RequestId{}).ok());
  const ShardDataSize full = s->DataSize().value();
  CHECK(full.points == 400);
  CHECK(full.bytes >= empty.bytes + 400 * 2000);  // At least the payloads' bytes.
  LoggedCommand drop;
  for (int i = 0; i < 300; ++i) drop.batch.Delete("p" + std::to_string(i));
  REQUIRE(s->ApplyLogged(drop, 2, RequestId{}).ok());
  const ShardDataSize after = s->DataSize().value();
  CHECK(after.points == 100);
  CHECK(after.bytes < full.bytes - 300 * 2000 + 300 * 2000 / 4);  // About three quarters of it went.
  CHECK(after.bytes >= 100 * 2000);
}

TEST_CASE("a graph offered for a copy is taken once, by its directory, and only the last two offers are kept") {
  TempDir dir;
  auto graph = [] { return NewHnswIndexImpl(4, Metric::kL2, {}, 8); };
  std::vector<std::string> dirs;
  for (int i = 0; i < 4; ++i) {
    dirs.push_back(dir.path() + "/copy" + std::to_string(i));
    REQUIRE(MakeDirs(dirs.back()).ok());
    REQUIRE(OfferGraph(dirs.back(), HandedGraph{graph(), static_cast<uint64_t>(10 + i)}).ok());
  }
  // The token travels with the directory (a split renames the copy).
  REQUIRE(RenamePath(dirs[3], dir.path() + "/renamed").ok());
  auto taken = TakeGraph(dir.path() + "/renamed");
  REQUIRE(taken.has_value());
  CHECK(taken->seq == 13);
  CHECK(taken->graph != nullptr);
  CHECK_FALSE(PathExists(dir.path() + "/renamed/graph.handoff"));
  CHECK_FALSE(TakeGraph(dir.path() + "/renamed").has_value());  // Once.
  CHECK(TakeGraph(dirs[2]).has_value());
  // The two oldest offers were dropped when newer ones came: their copies rebuild.
  CHECK_FALSE(TakeGraph(dirs[0]).has_value());
  CHECK_FALSE(TakeGraph(dirs[1]).has_value());
  CHECK_FALSE(TakeGraph(dir.path() + "/never-offered").has_value());
}

TEST_CASE("SnapshotTo: a copy at the applied index that opens with its graph and the same points") {
  TempDir src, dst;
  auto s = Shard::Open(src.path(), GraphConfig(), testing::SmallDbOptions()).value();
  for (uint64_t i = 1; i <= 5; ++i)
    REQUIRE(s->ApplyLogged(Upserts(static_cast<int>(i - 1) * 40, 40), i, RequestId{9, i, 0}).ok());
  const std::string dest = dst.path() + "/snap";
  auto index = s->SnapshotTo(dest);
  REQUIRE_MESSAGE(index.ok(), index.status().ToString());
  CHECK(*index == 5);
  // The graph checkpoint came along (the copy opens without rebuilding it), as a second
  // name of the source's file, not a second copy of its bytes.
  CHECK(SavedCheckpointSeq(dest).has_value());
  const std::string graph = SavedCheckpointFile(dest);
  REQUIRE_FALSE(graph.empty());
  CHECK(SavedCheckpointFile(src.path()) == graph);
  struct stat in_src {}, in_copy {};
  REQUIRE(::stat((src.path() + "/" + graph).c_str(), &in_src) == 0);
  REQUIRE(::stat((dest + "/" + graph).c_str(), &in_copy) == 0);
  CHECK(in_src.st_ino == in_copy.st_ino);
  // Writes after the snapshot stay out of it; the source's next graph replaces its name
  // of the file, and the copy keeps its own.
  REQUIRE(s->ApplyLogged(Upserts(1000, 10), 6, RequestId{9, 6, 0}).ok());
  REQUIRE(s->Checkpoint().ok());
  CHECK(SavedCheckpointFile(src.path()) != graph);
  CHECK_FALSE(PathExists(src.path() + "/" + graph));
  CHECK(PathExists(dest + "/" + graph));
  auto copy = Shard::Open(dest, GraphConfig(), testing::SmallDbOptions()).value();
  CHECK(copy->applied_index().value() == 5);
  CHECK(copy->Count("").value() == 200);
  CHECK(s->Count("").value() == 210);
  // Same points, same answers.
  std::vector<std::string> ids = {"p0", "p77", "p199", "p1000"};
  auto a = s->Get(ids, GetOptions{true, false}).value();
  auto b = copy->Get(ids, GetOptions{true, false}).value();
  for (size_t i = 0; i < 3; ++i) {
    REQUIRE(a[i].has_value());
    REQUIRE(b[i].has_value());
    CHECK(a[i]->vector == b[i]->vector);
  }
  CHECK_FALSE(b[3].has_value());
  SearchParams sp;
  sp.k = 5;
  sp.exact = true;
  std::vector<float> q = testing::VectorForId("p42", 4);
  auto ha = copy->Search(q, sp).value();
  REQUIRE_FALSE(ha.empty());
  CHECK(ha[0].id == "p42");
  // The copy is a shard of its own: it replays the log after its index and skips the rest.
  REQUIRE(copy->ApplyLogged(Upserts(1000, 10), 6, RequestId{9, 6, 0}).ok());
  CHECK(copy->ApplyLogged(Upserts(0, 1), 5, RequestId{9, 5, 0}).value().replay);
  CHECK(copy->Count("").value() == 210);
}

TEST_CASE("SnapshotTo: writes going on meanwhile; the index answered is the copy's") {
  TempDir src, dst;
  auto s = Shard::Open(src.path(), GraphConfig(), testing::SmallDbOptions()).value();
  REQUIRE(s->ApplyLogged(Upserts(0, 50), 1, RequestId{3, 1, 0}).ok());
  std::atomic<bool> stop{false}, failed{false};
  std::atomic<uint64_t> last{1};
  std::thread writer([&] {
    for (uint64_t i = 2; !stop && i < 400; ++i) {
      // Ids from 1000 on: index i adds 5 new points.
      if (!s->ApplyLogged(Upserts(1000 + static_cast<int>(i) * 5, 5), i, RequestId{3, i, 0}).ok()) {
        failed = true;
        return;
      }
      last = i;
    }
  });
  auto index = s->SnapshotTo(dst.path() + "/snap");
  stop = true;
  writer.join();
  CHECK_FALSE(failed.load());
  REQUIRE(index.ok());
  CHECK(*index >= 1);
  CHECK(*index <= last.load());
  auto copy = Shard::Open(dst.path() + "/snap", GraphConfig(), testing::SmallDbOptions()).value();
  CHECK(copy->applied_index().value() == *index);
  // Index i added 5 points (index 1: 50), so the copy's count follows from its index.
  CHECK(copy->Count("").value() == 50 + 5 * (*index - 1));
}

}  // namespace
}  // namespace vectron
