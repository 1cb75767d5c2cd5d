#include "bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <unordered_set>

#include "datasets.h"
#include "hnswlib_reference.h"
#include "index/distance.h"
#include "progress.h"
#include "util/files.h"
#include "util/parallel.h"
#include "vectron/vectron.h"

namespace vectron::tools {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double RssMb() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

struct Row {
  std::string system;
  int ef;
  double recall, qps, build_s, rss_mb;
};

double Recall(const std::vector<std::vector<uint64_t>>& got, const IntMatrix& gt, int k) {
  double sum = 0;
  for (size_t q = 0; q < got.size(); ++q) {
    std::unordered_set<int64_t> truth(gt.data.begin() + q * gt.dim, gt.data.begin() + q * gt.dim + k);
    size_t hit = 0;
    for (size_t i = 0; i < got[q].size() && i < static_cast<size_t>(k); ++i) hit += truth.count(static_cast<int64_t>(got[q][i]));
    sum += static_cast<double>(hit) / k;
  }
  return sum / got.size();
}

// Recall against an exact answer per query (an empty answer counts as found).
double RecallAgainst(const std::vector<std::vector<uint64_t>>& got, const std::vector<std::vector<uint64_t>>& truth) {
  double sum = 0;
  for (size_t q = 0; q < got.size(); ++q) {
    std::unordered_set<uint64_t> t(truth[q].begin(), truth[q].end());
    size_t hit = 0;
    for (auto id : got[q]) hit += t.count(id);
    sum += truth[q].empty() ? 1.0 : static_cast<double>(hit) / static_cast<double>(truth[q].size());
  }
  return sum / static_cast<double>(got.size());
}

void Print(const Row& r, bool json, double ref_qps) {
  if (json) {
    nlohmann::json j = {{"system", r.system}, {"ef", r.ef}, {"recall", r.recall}, {"qps", r.qps},
                        {"build_s", r.build_s}, {"rss_mb", r.rss_mb}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    char ratio[32] = "";
    if (ref_qps > 0) std::snprintf(ratio, sizeof(ratio), "%.2fx", r.qps / ref_qps);
    std::printf("%-8s %6d %8.4f %10.0f %9s %9.1f %8.0f\n", r.system.c_str(), r.ef, r.recall, r.qps, ratio, r.build_s,
                r.rss_mb);
  }
  std::fflush(stdout);
}


struct Buckets {
  std::vector<int> u, c;  // per point, 0..999
};

// u: bucket of a random rank; c: bucket of the rank along a random direction.
Buckets MakeBuckets(const std::vector<float>& data, size_t n, uint32_t dim) {
  Buckets b;
  b.u.resize(n);
  b.c.resize(n);
  std::mt19937_64 rng(20261202);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t r = 0; r < n; ++r) b.u[order[r]] = static_cast<int>(r * 1000 / n);
  std::normal_distribution<float> g;
  std::vector<float> dir(dim);
  for (auto& x : dir) x = g(rng);
  std::vector<std::pair<float, size_t>> proj(n);
  for (size_t i = 0; i < n; ++i) {
    float p = 0;
    for (uint32_t d = 0; d < dim; ++d) p += data[i * dim + d] * dir[d];
    proj[i] = {p, i};
  }
  std::sort(proj.begin(), proj.end());
  for (size_t r = 0; r < n; ++r) b.c[proj[r].second] = static_cast<int>(r * 1000 / n);
  return b;
}

// Recall@k, QPS and the unfiltered QPS at the same ef, per selectivity and correlation.
// Exact search of every query two ways on the same threads: Collection::SearchBatch
// (one pass over the vectors per block of queries) and one Collection::Search per
// query. Best of o.repeats passes each; recall against the dataset's ground truth.
Status RunExactBatch(const BenchOptions& o, const Collection& col, const Matrix& queries, const IntMatrix& gt) {
  const uint32_t dim = queries.dim;
  const size_t nq = queries.rows;
  SearchParams sp;
  sp.k = o.k;
  sp.exact = true;
  std::vector<std::vector<uint64_t>> got(nq), single_got(nq);
  double best_batch = 1e300, best_single = 1e300;
  for (int rep = 0; rep < o.repeats; ++rep) {
    auto t0 = Clock::now();
    auto res = col.SearchBatch(queries.data, sp, o.threads);
    best_batch = std::min(best_batch, Seconds(t0, Clock::now()));
    if (!res.ok()) return res.status();
    for (size_t q = 0; q < nq; ++q) {
      got[q].clear();
      for (auto& h : (*res)[q]) got[q].push_back(std::stoull(h.id));
    }
    std::vector<Status> errors(nq);
    t0 = Clock::now();
    ParallelFor(nq, o.threads, [&](size_t q) {
      auto hits = col.Search(std::span<const float>(queries.data.data() + q * dim, dim), sp);
      if (!hits.ok()) {
        errors[q] = hits.status();
        return;
      }
      single_got[q].clear();
      for (auto& h : *hits) single_got[q].push_back(std::stoull(h.id));
    });
    best_single = std::min(best_single, Seconds(t0, Clock::now()));
    for (auto& e : errors)
      if (!e.ok()) return e;
  }
  const double batch_qps = static_cast<double>(nq) / best_batch, single_qps = static_cast<double>(nq) / best_single;
  const double recall = Recall(got, gt, o.k), single_recall = Recall(single_got, gt, o.k);
  if (o.json) {
    nlohmann::json j = {{"system", "vectron-exact"}, {"queries", nq},          {"threads", o.threads},
                        {"batch_qps", batch_qps},    {"single_qps", single_qps}, {"batch_recall", recall},
                        {"single_recall", single_recall}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("exact search of %zu queries, %u threads:\n", nq, o.threads);
    std::printf("  one pass (SearchBatch)    %10.0f QPS  recall@%d %.4f\n", batch_qps, o.k, recall);
    std::printf("  one query at a time      %10.0f QPS  recall@%d %.4f\n", single_qps, o.k, single_recall);
    std::printf("  ratio                    %10.2fx\n", batch_qps / single_qps);
  }
  return Status::OK();
}

// `unfiltered_truth`: the dataset's ground truth, or null when --max-base cut the base.
Status RunFiltered(const BenchOptions& o, const Collection& col, const Matrix& base, const Matrix& queries,
                   Metric metric, const Buckets& buckets, const IntMatrix* unfiltered_truth) {
  const uint32_t dim = base.dim;
  const size_t n = base.rows, nq = queries.rows, k = static_cast<size_t>(o.k);
  // Ground truth on the vectors as the index sees them (unit length for cosine).
  std::vector<float> bn = base.data, qn = queries.data;
  if (metric == Metric::kCosine) {
    for (size_t i = 0; i < n; ++i) Normalize(std::span<float>(bn.data() + i * dim, dim));
    for (size_t i = 0; i < nq; ++i) Normalize(std::span<float>(qn.data() + i * dim, dim));
  }
  if (!o.json)
    std::printf("%-13s %11s %6s %8s %10s %14s %17s %8s\n", "correlation", "selectivity", "ef", "recall", "qps",
                "unfiltered_qps", "unfiltered_recall", "ratio");
  for (const auto& corr : o.correlations) {
    const std::vector<int>& field = corr == "correlated" ? buckets.c : buckets.u;
    const char* name = corr == "correlated" ? "c" : "u";
    for (double sel : o.selectivities) {
      const int limit = static_cast<int>(std::lround(sel * 1000));
      if (limit < 1 || limit > 1000) return Status::InvalidArgument("selectivities must be in [0.001, 1]");
      std::vector<uint32_t> pass;
      for (size_t i = 0; i < n; ++i)
        if (field[i] < limit) pass.push_back(static_cast<uint32_t>(i));
      // Exact filtered ground truth, by brute force.
      std::vector<std::vector<uint64_t>> truth(nq);
      ParallelFor(nq, o.threads, [&](size_t q) {
        std::vector<std::pair<float, uint32_t>> d;
        d.reserve(pass.size());
        for (uint32_t i : pass) d.emplace_back(IndexDistance(metric, qn.data() + q * dim, bn.data() + size_t{i} * dim, dim), i);
        size_t kk = std::min(k, d.size());
        std::partial_sort(d.begin(), d.begin() + static_cast<ptrdiff_t>(kk), d.end());
        for (size_t j = 0; j < kk; ++j) truth[q].push_back(d[j].second);
      });
      const std::string where = nlohmann::json{{name, {{"$lt", limit}}}}.dump();
      for (int ef : o.efs) {
        auto run = [&](const std::string& w, std::vector<std::vector<uint64_t>>* got) -> Result<double> {
          SearchParams sp;
          sp.k = o.k;
          sp.ef = ef;
          sp.where = w;
          sp.filter_strategy = o.filter_strategy;
          double best = 1e300;
          for (int rep = 0; rep < o.repeats; ++rep) {
            auto t0 = Clock::now();
            auto res = col.SearchBatch(queries.data, sp, o.threads);
            if (!res.ok()) return res.status();
            best = std::min(best, Seconds(t0, Clock::now()));
            got->assign(nq, {});
            for (size_t q = 0; q < nq; ++q)
              for (auto& h : (*res)[q]) (*got)[q].push_back(std::stoull(h.id));
          }
          return static_cast<double>(nq) / best;
        };
        std::vector<std::vector<uint64_t>> got, ugot;
        VECTRON_ASSIGN_OR_RETURN(double qps, run(where, &got));
        VECTRON_ASSIGN_OR_RETURN(double uqps, run("", &ugot));
        const double recall = RecallAgainst(got, truth);
        const double urecall = unfiltered_truth ? Recall(ugot, *unfiltered_truth, o.k) : 0;
        if (o.json) {
          nlohmann::json j = {{"system", "vectron-filtered"}, {"correlation", corr}, {"selectivity", sel},
                              {"matches", pass.size()},      {"ef", ef},           {"recall", recall},
                              {"qps", qps},                  {"unfiltered_qps", uqps}};
          if (unfiltered_truth) j["unfiltered_recall"] = urecall;
          std::printf("%s\n", j.dump().c_str());
        } else {
          std::printf("%-13s %11g %6d %8.4f %10.0f %14.0f %17.4f %7.2fx\n", corr.c_str(), sel, ef, recall, qps, uqps, urecall,
                      qps / uqps);
        }
        std::fflush(stdout);
      }
    }
  }
  return Status::OK();
}

}  // namespace

int RunBench(const BenchOptions& o) {
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "vectron bench: %s\n", s.ToString().c_str());
    return 1;
  };
  auto metric = ParseMetric(o.metric);
  if (!metric.ok()) return fail(metric.status());
  auto quantization = ParseQuantization(o.quantization);
  if (!quantization.ok()) return fail(quantization.status());
  auto base = ReadFvecs(o.dataset_dir + "/base.fvecs", o.max_base);
  if (!base.ok()) return fail(base.status());
  auto queries = ReadFvecs(o.dataset_dir + "/query.fvecs", o.max_queries);
  if (!queries.ok()) return fail(queries.status());
  auto gt = ReadIvecs(o.dataset_dir + "/groundtruth.ivecs", o.max_queries);
  if (!gt.ok()) return fail(gt.status());
  if (o.max_base && o.max_base < base->rows && o.selectivities.empty())
    return fail(Status::InvalidArgument("--max-base below the dataset size makes the ground truth wrong"));
  if (queries->dim != base->dim || gt->rows != queries->rows || gt->dim < static_cast<uint32_t>(o.k))
    return fail(Status::InvalidArgument("base, query and groundtruth files do not match"));
  const uint32_t dim = base->dim;
  const size_t n = base->rows, nq = queries->rows;
  Progress progress(o.json);
  InstallInterruptHandler();
  if (!o.json)
    std::fprintf(stderr, "dataset %s: %zu base × %u, %zu queries, metric %s, M=%u ef_construction=%u quantization=%s k=%d threads=%u\n",
                 o.dataset_dir.c_str(), n, dim, nq, o.metric.c_str(), o.m, o.ef_construction, o.quantization.c_str(), o.k,
                 o.threads);

  // --- Vectron: import through the public API, durably, into a fresh database.
  std::string db_dir = o.db_dir;
  bool temp_db = db_dir.empty();
  if (temp_db) {
    char tmpl[] = "/tmp/vectron-bench-XXXXXX";
    if (!mkdtemp(tmpl)) return fail(Status::IOError("mkdtemp failed"));
    db_dir = tmpl;
  }
  std::vector<Row> rows;
  Buckets buckets;
  double rss0 = RssMb();
  Row vrow{"vectron", 0, 0, 0, 0, 0};
  std::unique_ptr<Database> db;
  std::shared_ptr<Collection> col;
  {
    DatabaseOptions dbo;
    dbo.durability = o.durability;
    dbo.threads = o.threads;
    dbo.progress = [&](std::string_view stage, uint64_t done, uint64_t total) {
      return progress.Update(stage, done, total);
    };
    auto opened = Database::Open(db_dir, dbo);
    if (!opened.ok()) return fail(opened.status());
    db = std::move(opened).value();
    CollectionConfig cfg;
    cfg.dim = dim;
    cfg.metric = *metric;
    cfg.hnsw.m = o.m;
    cfg.hnsw.ef_construction = o.ef_construction;
    cfg.quantization = *quantization;
    cfg.flat_max_points = 0;  // measure the HNSW path from the first point
    auto created = db->CreateCollection("bench", cfg);
    if (!created.ok()) return fail(created.status());
    col = *created;
    const bool filtered = !o.selectivities.empty();
    if (filtered) {
      buckets = MakeBuckets(base->data, n, dim);
      for (const char* field : {"u", "c"})
        if (Status s = col->CreatePayloadIndex(field, PayloadType::kInteger); !s.ok()) return fail(s);
    }
    auto t0 = Clock::now();
    WriteBatch batch;
    for (size_t i = 0; i < n; i += o.batch) {
      batch.Clear();
      size_t end = std::min(n, i + o.batch);
      for (size_t r = i; r < end; ++r)
        batch.Upsert(std::to_string(r), std::span<const float>(base->data.data() + r * dim, dim),
                     filtered ? nlohmann::json{{"u", buckets.u[r]}, {"c", buckets.c[r]}}.dump() : std::string());
      if (Status s = col->Write(batch); !s.ok()) return fail(s);
      if (!progress.Update("import into vectron", end, n)) return fail(Status::Cancelled("interrupted"));
    }
    vrow.build_s = Seconds(t0, Clock::now());
    progress.Finish();
    vrow.rss_mb = RssMb() - rss0;
  }

  if (o.exact_batch) {
    Status s = RunExactBatch(o, *col, *queries, *gt);
    db.reset();
    if (temp_db) (void)RemoveAll(db_dir);
    return s.ok() ? 0 : fail(s);
  }
  if (!o.selectivities.empty()) {
    const bool whole_base = o.max_base == 0 || base->rows < o.max_base;
    Status s = RunFiltered(o, *col, *base, *queries, *metric, buckets, whole_base ? &*gt : nullptr);
    db.reset();
    if (temp_db) (void)RemoveAll(db_dir);
    return s.ok() ? 0 : fail(s);
  }

  // --- Raw hnswlib on the same vectors (normalised for cosine, as Vectron does).
  std::unique_ptr<HnswlibReference> ref;
  Row hrow{"hnswlib", 0, 0, 0, 0, 0};
  std::vector<float> ref_queries = queries->data;
  if (o.reference) {
    std::vector<float> data = base->data;
    if (*metric == Metric::kCosine) {
      for (size_t i = 0; i < n; ++i) Normalize(std::span<float>(data.data() + i * dim, dim));
      for (size_t i = 0; i < nq; ++i) Normalize(std::span<float>(ref_queries.data() + i * dim, dim));
    }
    double rss1 = RssMb();
    auto t0 = Clock::now();
    ref = NewHnswlibReference(dim, *metric, n, o.m, o.ef_construction, 100);
    ref->Build(data.data(), n, o.threads);
    hrow.build_s = Seconds(t0, Clock::now());
    hrow.rss_mb = RssMb() - rss1;
  }

  if (!o.json)
    std::printf("%-8s %6s %8s %10s %9s %9s %8s\n", "system", "ef", "recall", "qps", "vs_hnsw", "build_s", "rss_mb");
  const size_t k = static_cast<size_t>(o.k);
  for (int ef : o.efs) {
    // Vectron: ids + scores through Collection::Search / SearchBatch.
    std::vector<std::vector<uint64_t>> got(nq);
    double best_v = 1e300, best_h = 1e300;
    for (int rep = 0; rep < o.repeats; ++rep) {
      SearchParams sp;
      sp.k = o.k;
      sp.ef = ef;
      auto t0 = Clock::now();
      if (o.threads == 1) {
        for (size_t q = 0; q < nq; ++q) {
          auto hits = col->Search(std::span<const float>(queries->data.data() + q * dim, dim), sp);
          if (!hits.ok()) return fail(hits.status());
          got[q].clear();
          for (auto& h : *hits) got[q].push_back(std::stoull(h.id));
        }
      } else {
        auto res = col->SearchBatch(queries->data, sp, o.threads);
        if (!res.ok()) return fail(res.status());
        for (size_t q = 0; q < nq; ++q) {
          got[q].clear();
          for (auto& h : (*res)[q]) got[q].push_back(std::stoull(h.id));
        }
      }
      best_v = std::min(best_v, Seconds(t0, Clock::now()));
      if (ref) {
        ref->SetEf(static_cast<size_t>(ef));
        std::vector<std::vector<uint64_t>> rgot(nq);
        auto t1 = Clock::now();
        ParallelFor(nq, o.threads, [&](size_t q) { ref->Search(ref_queries.data() + q * dim, k, &rgot[q]); });
        best_h = std::min(best_h, Seconds(t1, Clock::now()));
        hrow.recall = Recall(rgot, *gt, o.k);
      }
    }
    vrow.ef = hrow.ef = ef;
    vrow.recall = Recall(got, *gt, o.k);
    vrow.qps = nq / best_v;
    hrow.qps = ref ? nq / best_h : 0;
    Print(vrow, o.json, hrow.qps);
    if (ref) Print(hrow, o.json, 0);
  }
  db.reset();
  if (temp_db) (void)RemoveAll(db_dir);
  return 0;
}

}  // namespace vectron::tools
