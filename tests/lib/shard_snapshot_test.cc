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

TEST_CASE("background_checkpoints: the write that makes a checkpoint due leaves it to the owner; a copied-first save keeps it") {
  TempDir dir;
  CollectionConfig cfg = GraphConfig();
  cfg.checkpoint_every_ops = 50;  // The first write builds the graph and saves it.
  DatabaseOptions o = testing::SmallDbOptions();
  o.background_checkpoints = true;
  auto s = Shard::Open(dir.path(), cfg, o).value();
  REQUIRE(s->ApplyLogged(Upserts(0, 60), 1, RequestId{9, 1, 0}).ok());
  CHECK_FALSE(s->CheckpointDue());
  const std::optional<uint64_t> before = SavedCheckpointSeq(dir.path());
  LoggedCommand more = Upserts(60, 60);
  for (int i = 0; i < 5; ++i) more.batch.Delete("p" + std::to_string(i));
  REQUIRE(s->ApplyLogged(more, 2, RequestId{9, 2, 0}).ok());
  // Due, and not saved by the write.
  CHECK(s->CheckpointDue());
  CHECK(SavedCheckpointSeq(dir.path()) == before);
  // Saved from a copy while another thread writes; the copy is of one seq.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    // Fewer changes than checkpoint_every_ops: none due again after the save.
    for (uint64_t i = 3; i < 40; ++i) {
      CHECK(s->ApplyLogged(Upserts(1000 + static_cast<int>(i), 1), i, RequestId{9, i, 0}).ok());
      if (stop.load()) break;  // After one write at least (p1003, searched below).
    }
  });
  REQUIRE(s->Checkpoint(CheckpointHold::kWhileCopied).ok());
  stop.store(true);
  writer.join();
  CHECK_FALSE(s->CheckpointDue());
  const std::optional<uint64_t> saved = SavedCheckpointSeq(dir.path());
  REQUIRE(saved.has_value());
  CHECK(*saved >= 2);
  CHECK(before != saved);
  const uint64_t count = s->Count("").value();
  s.reset();
  // The reopen loads the saved graph (a rebuild would report its progress) and replays
  // what came after it.
  int builds = 0;
  o.progress = [&](std::string_view, uint64_t, uint64_t) {
    ++builds;
    return true;
  };
  auto back = Shard::Open(dir.path(), cfg, o).value();
  CHECK(builds == 0);
  CHECK(back->Count("").value() == count);
  SearchParams sp;
  sp.k = 1;
  for (const char* id : {"p7", "p119", "p1003"}) {
    auto hits = back->Search(testing::VectorForId(id, 4), sp).value();
    REQUIRE_FALSE(hits.empty());
    CHECK(hits[0].id == id);
  }
  // Without the option, the write saves it itself.
  TempDir dir2;
  auto own = Shard::Open(dir2.path(), cfg, testing::SmallDbOptions()).value();
  REQUIRE(own->ApplyLogged(Upserts(0, 60), 1, RequestId{9, 1, 0}).ok());
  CHECK(SavedCheckpointSeq(dir2.path()) == std::optional<uint64_t>(1));
  REQUIRE(own->ApplyLogged(Upserts(60, 60), 2, RequestId{9, 2, 0}).ok());
  CHECK_FALSE(own->CheckpointDue());
  CHECK(SavedCheckpointSeq(dir2.path()) == std::optional<uint64_t>(2));
}

}  // namespace
}  // namespace vectron
