// Recall@10 of Collection search on the shared real datasets (exact ground truth).
// Without ../shared/datasets (a user's clone) the suite reports itself skipped.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <unordered_set>

#include "datasets.h"
#include "lib/test_util.h"

using namespace vectron;

namespace {

std::string DatasetsDir() {
  const char* env = std::getenv("VECTRON_DATASETS");
  return env ? env : VECTRON_SOURCE_DIR "/../shared/datasets";
}

double RecallAt10(const std::string& name, Metric metric, int ef, unsigned threads,
                  Quantization quantization = Quantization::kNone) {
  const std::string dir = DatasetsDir() + "/" + name;
  auto base = tools::ReadFvecs(dir + "/base.fvecs").value();
  auto queries = tools::ReadFvecs(dir + "/query.fvecs").value();
  auto gt = tools::ReadIvecs(dir + "/groundtruth.ivecs").value();
  testing::TempDir tmp;
  DatabaseOptions o;
  o.threads = threads;
  auto db = Database::Open(tmp.path(), o).value();
  CollectionConfig cfg;
  cfg.dim = base.dim;
  cfg.metric = metric;
  cfg.flat_max_points = 0;
  cfg.quantization = quantization;
  std::shared_ptr<Collection> col = db->CreateCollection("r", cfg).value();
  for (size_t i = 0; i < base.rows; i += 5000) {
    WriteBatch b;
    for (size_t r = i; r < std::min(base.rows, i + 5000); ++r)
      b.Upsert(std::to_string(r), std::span<const float>(base.data.data() + r * base.dim, base.dim));
    REQUIRE(col->Write(b).ok());
  }
  SearchParams sp;
  sp.k = 10;
  sp.ef = ef;
  auto res = col->SearchBatch(queries.data, sp, threads).value();
  double sum = 0;
  for (size_t q = 0; q < res.size(); ++q) {
    std::unordered_set<int> truth(gt.data.begin() + q * gt.dim, gt.data.begin() + q * gt.dim + 10);
    for (auto& h : res[q]) sum += truth.count(std::stoi(h.id));
  }
  return sum / (10.0 * res.size());
}

}  // namespace

TEST_CASE("recall@10 on mnist-784-euclidean-10k is at least 0.95 at ef=32") {
  double r = RecallAt10("mnist-784-euclidean-10k", Metric::kL2, 32, 2);
  MESSAGE("mnist recall@10 at ef=32: ", r);
  CHECK(r >= 0.95);
}

TEST_CASE("recall@10 on glove-100-angular-200k is at least 0.95 at ef=256") {
  double r = RecallAt10("glove-100-angular-200k", Metric::kCosine, 256, 2);
  MESSAGE("glove recall@10 at ef=256: ", r);
  CHECK(r >= 0.95);
}

// sq8 walks the graph on int8 codes and rescores the ef best exactly: the same graph
// must reach the same recall at the same ef.
TEST_CASE("recall@10 with sq8 quantization on mnist-784-euclidean-10k is at least 0.95 at ef=32") {
  double r = RecallAt10("mnist-784-euclidean-10k", Metric::kL2, 32, 2, Quantization::kSq8);
  MESSAGE("mnist sq8 recall@10 at ef=32: ", r);
  CHECK(r >= 0.95);
}

TEST_CASE("recall@10 with sq8 quantization on glove-100-angular-200k is at least 0.95 at ef=256") {
  double r = RecallAt10("glove-100-angular-200k", Metric::kCosine, 256, 2, Quantization::kSq8);
  MESSAGE("glove sq8 recall@10 at ef=256: ", r);
  CHECK(r >= 0.95);
}

int main(int argc, char** argv) {
  FILE* f = std::fopen((DatasetsDir() + "/README.md").c_str(), "r");
  if (!f) {
    std::printf("skipped: no ../shared/datasets\n");
    return 77;  // meson's "skipped"
  }
  std::fclose(f);
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
