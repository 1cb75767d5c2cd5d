// vectron_index_bench: Vectron's HNSW search (each quantization, any kernel level)
// against raw hnswlib on the *same graph*, in one process, below the Collection API (no
// LMDB, no string ids): it isolates the search loop, the kernels and the quantization.
// The graph is built once with HnswIndex (hnswlib's construction) and saved to --graph;
// later runs load it, and hnswlib loads the same file. Each ef is measured in --rounds
// rounds; within a round every system runs all queries once on one thread, in an order
// that rotates between rounds, and the median QPS over the rounds is reported, so that
// the load of a shared machine hits every system alike. Also prints the QPS of each
// system at recall@k = --target-recall, interpolated between the measured efs.
//
//   vectron_index_bench --data ../shared/datasets/glove-100-angular-200k --metric cosine
//       --graph /tmp/glove.hnsw --ef 64,96,128,192,256 --quantization none,sq8
//
// --only SYSTEM --ef N runs one system once (for valgrind --tool=callgrind).
//
// --overwrite F first overwrites a random share F of the points one at a time, each with
// another point's vector and then with its own again (so the ground truth still holds),
// in every system: hnswlib in place (its updatePoint), Vectron in new slots
// (docs/durability.md, "Overwrites and the graph"). It prints the time per overwrite and
// how many of --reach-sample points are not their own nearest neighbour at ef --reach-ef,
// before and after; the recall table then measures the overwritten graphs.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <unordered_set>

#include "datasets.h"
#include "hnswlib_reference.h"
#include "index/distance.h"
#include "index/hnsw_index.h"
#include "index/kernels.h"
#include "util/parallel.h"

using namespace vectron;
using namespace vectron::tools;
using Clock = std::chrono::steady_clock;

namespace {

struct System {
  std::string name;
  // Searches query q, writing labels.
  std::function<void(const float* q, size_t k, size_t ef, std::vector<uint64_t>* out)> search;
  // Overwrites the point of row `row` with vector v.
  std::function<Status(size_t row, const float* v)> update;
  // Vectron's slot counts after the overwrites ("" for hnswlib, which updates in place).
  std::function<std::string()> slots = [] { return std::string(); };
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : (v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2);
}

// QPS at `target` recall, interpolated linearly in (recall, log QPS) between the two
// measured points around it; 0 if the curve never reaches it.
double QpsAtRecall(std::vector<std::pair<double, double>> curve, double target) {
  std::sort(curve.begin(), curve.end());
  for (size_t i = 0; i < curve.size(); ++i) {
    if (curve[i].first < target) continue;
    if (i == 0) return curve[0].second;
    auto [r0, q0] = curve[i - 1];
    auto [r1, q1] = curve[i];
    double t = (target - r0) / (r1 - r0);
    return std::exp(std::log(q0) + t * (std::log(q1) - std::log(q0)));
  }
  return 0;
}

bool FileExists(const std::string& p) { return std::ifstream(p).good(); }

// Rows of `sample` whose own vector does not find them (or an identical vector) as top-1.
size_t Unreachable(const System& s, const Matrix& base, const std::vector<size_t>& sample, size_t ef, Metric metric) {
  size_t missed = 0;
  std::vector<uint64_t> out;
  for (size_t r : sample) {
    const float* v = base.data.data() + r * base.dim;
    s.search(v, 1, ef, &out);
    if (out.empty()) {
      ++missed;
    } else if (out[0] != r) {
      const float* got = base.data.data() + out[0] * base.dim;
      missed += IndexDistance(metric, got, v, base.dim) > IndexDistance(metric, v, v, base.dim);
    }
  }
  return missed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Vectron's HNSW search vs raw hnswlib on one graph"};
  std::string data_dir, metric_text = "l2", graph_path, efs_text = "16,32,64,128,256", quant_text = "none,sq8";
  std::string simd_text, only;
  uint32_t m = 16, ef_construction = 200;
  size_t k = 10, max_queries = 0;
  unsigned threads = 0;
  int rounds = 5;
  double target = 0.95;
  bool json = false, reference_thp = false;
  double overwrite = 0;
  size_t reach_sample = 20000, reach_ef = 64;
  app.add_option("--data", data_dir, "Dataset dir (base.fvecs, query.fvecs, groundtruth.ivecs)")->required();
  app.add_option("--metric", metric_text, "l2, cosine or ip")->capture_default_str();
  app.add_option("--graph", graph_path, "Graph file: loaded if present, else built and saved there");
  app.add_option("--M", m, "HNSW M")->capture_default_str();
  app.add_option("--ef-construction", ef_construction, "HNSW ef_construction")->capture_default_str();
  app.add_option("--ef", efs_text, "Comma-separated ef values")->capture_default_str();
  app.add_option("--k", k, "k")->capture_default_str();
  app.add_option("--threads", threads, "Build threads (0 = all); searches use one")->capture_default_str();
  app.add_option("--max-queries", max_queries, "Use only the first N queries");
  app.add_option("--rounds", rounds, "Timed rounds per ef (median kept)")->capture_default_str();
  app.add_option("--quantization", quant_text, "Vectron configurations: none, sq8")->capture_default_str();
  app.add_option("--simd", simd_text, "Kernel level for Vectron: scalar, avx2, avx512, avx512vnni");
  app.add_option("--target-recall", target, "Recall at which QPS is interpolated")->capture_default_str();
  app.add_option("--only", only, "Run one system (hnswlib, vectron-none, vectron-sq8) once per ef, untimed");
  app.add_flag("--json", json, "One JSON object per line");
  app.add_flag("--reference-huge-pages", reference_thp,
               "Also run hnswlib with its base layer on transparent huge pages (as Vectron's)");
  app.add_option("--overwrite", overwrite, "Overwrite this share of the points first (0 = none)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--reach-sample", reach_sample, "With --overwrite: points checked for reachability")
      ->capture_default_str();
  app.add_option("--reach-ef", reach_ef, "With --overwrite: ef of the reachability searches")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto fail = [](const Status& s) {
    std::fprintf(stderr, "vectron_index_bench: %s\n", s.ToString().c_str());
    return 1;
  };
  auto metric = ParseMetric(metric_text);
  if (!metric.ok()) return fail(metric.status());
  if (!simd_text.empty()) {
    auto level = ParseSimdLevel(simd_text);
    if (!level.ok()) return fail(level.status());
    if (Status s = SetActiveSimdLevel(*level); !s.ok()) return fail(s);
  }
  auto base = ReadFvecs(data_dir + "/base.fvecs");
  if (!base.ok()) return fail(base.status());
  auto queries = ReadFvecs(data_dir + "/query.fvecs", max_queries);
  if (!queries.ok()) return fail(queries.status());
  auto gt = ReadIvecs(data_dir + "/groundtruth.ivecs", max_queries);
  if (!gt.ok()) return fail(gt.status());
  const uint32_t dim = base->dim;
  const size_t n = base->rows, nq = queries->rows;
  if (*metric == Metric::kCosine) {
    for (size_t i = 0; i < n; ++i) Normalize(std::span<float>(base->data.data() + i * dim, dim));
    for (size_t i = 0; i < nq; ++i) Normalize(std::span<float>(queries->data.data() + i * dim, dim));
  }
  std::vector<Quantization> quants;
  for (const auto& q : Split(quant_text)) {
    auto parsed = ParseQuantization(q);
    if (!parsed.ok()) return fail(parsed.status());
    quants.push_back(*parsed);
  }
  HnswParams params;
  params.m = m;
  params.ef_construction = ef_construction;

  std::string path = graph_path.empty() ? "/tmp/vectron-index-bench-" + std::to_string(getpid()) + ".hnsw" : graph_path;
  if (!FileExists(path)) {
    std::fprintf(stderr, "building the graph of %zu points on %u threads...\n", n, ResolveThreads(threads));
    auto t0 = Clock::now();
    auto idx = NewHnswIndexImpl(dim, *metric, params, n, Quantization::kNone);
    std::vector<uint64_t> labels(n);
    for (size_t i = 0; i < n; ++i) labels[i] = i;
    if (Status s = idx->Upsert(labels, base->data, threads); !s.ok()) return fail(s);
    std::fprintf(stderr, "built in %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
    if (Status s = idx->Save(path); !s.ok()) return fail(s);
  }
  std::vector<std::unique_ptr<HnswIndex>> ours;
  std::vector<System> systems;
  auto ref = LoadHnswlibReference(path, dim, *metric);
  if (!ref.ok()) return fail(ref.status());
  HnswlibReference* r = ref->get();
  // hnswlib's in-place update of an existing label.
  auto reference_update = [](HnswlibReference* ref) {
    return [ref](size_t row, const float* v) {
      ref->Update(row, v);
      return Status::OK();
    };
  };
  systems.push_back({"hnswlib",
                     [r](const float* q, size_t kk, size_t, std::vector<uint64_t>* out) { r->Search(q, kk, out); },
                     reference_update(r)});
  std::unique_ptr<HnswlibReference> ref_thp;
  if (reference_thp) {
    auto loaded = LoadHnswlibReference(path, dim, *metric);
    if (!loaded.ok()) return fail(loaded.status());
    ref_thp = std::move(*loaded);
    ref_thp->UseHugePages();
    HnswlibReference* rt = ref_thp.get();
    systems.push_back({"hnswlib-thp",
                       [rt](const float* q, size_t kk, size_t, std::vector<uint64_t>* out) { rt->Search(q, kk, out); },
                       reference_update(rt)});
  }
  for (Quantization qz : quants) {
    auto t0 = Clock::now();
    auto loaded = LoadHnswIndex(path, dim, *metric, params, qz);
    if (!loaded.ok()) return fail(loaded.status());
    std::fprintf(stderr, "vectron-%s loaded in %.2f s\n", std::string(QuantizationName(qz)).c_str(),
                 std::chrono::duration<double>(Clock::now() - t0).count());
    HnswIndex* idx = loaded->get();
    ours.push_back(std::move(*loaded));
    systems.push_back({"vectron-" + std::string(QuantizationName(qz)),
                       [idx, dim](const float* q, size_t kk, size_t ef, std::vector<uint64_t>* out) {
                         IndexSearchOptions o;
                         o.ef = ef;
                         auto hits = idx->Search(std::span<const float>(q, dim), kk, o);
                         out->clear();
                         for (auto& h : hits) out->push_back(h.label);
                       },
                       [idx, dim](size_t row, const float* v) {
                         const uint64_t label = row;
                         return idx->Upsert(std::span<const uint64_t>(&label, 1), std::span<const float>(v, dim), 1);
                       },
                       [idx] {
                         return ", slots " + std::to_string(idx->slots()) + " (" +
                                std::to_string(idx->deleted_slots()) + " deleted)";
                       }});
  }
  if (graph_path.empty()) std::remove(path.c_str());
  // Memory of each index as it counts its own allocations (hnswlib's arrays; Vectron adds
  // its codes and label map).
  std::fprintf(stderr, "index memory: hnswlib %.1f MiB", static_cast<double>(r->memory_bytes()) / (1 << 20));
  for (size_t i = 0; i < ours.size(); ++i)
    std::fprintf(stderr, ", vectron-%s %.1f MiB", std::string(QuantizationName(quants[i])).c_str(),
                 static_cast<double>(ours[i]->memory_bytes()) / (1 << 20));
  std::fprintf(stderr, "\n");
  std::fprintf(stderr, "hnswlib build: %s; Vectron kernels: %s; %zu queries, k=%zu\n", r->variant().c_str(),
               std::string(SimdLevelName(ActiveKernels().level)).c_str(), nq, k);

  if (overwrite > 0) {
    std::mt19937_64 rng(42);
    std::vector<size_t> rows(n);
    std::iota(rows.begin(), rows.end(), size_t{0});
    std::shuffle(rows.begin(), rows.end(), rng);
    std::vector<size_t> sample(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(std::min(reach_sample, n)));
    std::shuffle(rows.begin(), rows.end(), rng);
    rows.resize(static_cast<size_t>(overwrite * static_cast<double>(n)));
    r->SetEf(reach_ef);
    if (ref_thp) ref_thp->SetEf(reach_ef);
    std::vector<size_t> before;
    for (const System& s : systems) before.push_back(Unreachable(s, *base, sample, reach_ef, *metric));
    // One system at a time: each overwrites every chosen row with another row's vector,
    // then with its own.
    for (size_t j = 0; j < systems.size(); ++j) {
      auto t0 = Clock::now();
      for (int pass = 0; pass < 2; ++pass) {
        for (size_t row : rows) {
          const float* v = base->data.data() + (pass == 0 ? (row + n / 2) % n : row) * dim;
          if (Status st = systems[j].update(row, v); !st.ok()) return fail(st);
        }
      }
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / (2.0 * rows.size());
      const size_t after = Unreachable(systems[j], *base, sample, reach_ef, *metric);
      const std::string slots = systems[j].slots();
      if (json)
        std::printf("{\"system\":\"%s\",\"overwrites\":%zu,\"us_per_overwrite\":%.1f,\"reach_sample\":%zu,"
                    "\"reach_ef\":%zu,\"unreachable_before\":%zu,\"unreachable_after\":%zu}\n",
                    systems[j].name.c_str(), 2 * rows.size(), us, sample.size(), reach_ef, before[j], after);
      else
        std::printf("%-14s %zu overwrites, %.1f us each%s; not found by their own vector at ef %zu: %zu of %zu "
                    "before, %zu after\n",
                    systems[j].name.c_str(), 2 * rows.size(), us, slots.c_str(), reach_ef, before[j], sample.size(),
                    after);
      std::fflush(stdout);
    }
  }

  std::vector<int> efs;
  for (const auto& e : Split(efs_text)) efs.push_back(std::stoi(e));
  if (!only.empty()) {
    auto it = std::find_if(systems.begin(), systems.end(), [&](const System& s) { return s.name == only; });
    if (it == systems.end()) return fail(Status::InvalidArgument("--only: unknown system " + only));
    std::vector<uint64_t> out;
    for (int ef : efs) {
      r->SetEf(static_cast<size_t>(ef));
      if (ref_thp) ref_thp->SetEf(static_cast<size_t>(ef));
      for (size_t q = 0; q < nq; ++q) it->search(queries->data.data() + q * dim, k, ef, &out);
    }
    return 0;
  }

  std::map<std::string, std::vector<std::pair<double, double>>> curves;
  if (!json) std::printf("%-14s %6s %8s %10s %8s\n", "system", "ef", "recall", "qps", "vs_hnsw");
  for (int ef : efs) {
    r->SetEf(static_cast<size_t>(ef));
    if (ref_thp) ref_thp->SetEf(static_cast<size_t>(ef));
    std::vector<std::vector<double>> qps(systems.size());
    std::vector<double> recall(systems.size());
    std::vector<uint64_t> out;
    for (int round = 0; round < rounds; ++round) {
      for (size_t j = 0; j < systems.size(); ++j) {
        size_t s = (j + static_cast<size_t>(round)) % systems.size();
        double hits = 0;
        auto t0 = Clock::now();
        for (size_t q = 0; q < nq; ++q) {
          systems[s].search(queries->data.data() + q * dim, k, static_cast<size_t>(ef), &out);
          if (round == 0) {
            std::unordered_set<int32_t> truth(gt->data.begin() + q * gt->dim, gt->data.begin() + q * gt->dim + k);
            for (auto l : out) hits += truth.count(static_cast<int32_t>(l));
          }
        }
        qps[s].push_back(static_cast<double>(nq) / std::chrono::duration<double>(Clock::now() - t0).count());
        if (round == 0) recall[s] = hits / static_cast<double>(nq * k);
      }
    }
    const double ref_qps = Median(qps[0]);
    for (size_t s = 0; s < systems.size(); ++s) {
      double med = Median(qps[s]);
      curves[systems[s].name].push_back({recall[s], med});
      if (json)
        std::printf("{\"system\":\"%s\",\"ef\":%d,\"recall\":%.4f,\"qps\":%.1f,\"ratio\":%.3f}\n",
                    systems[s].name.c_str(), ef, recall[s], med, med / ref_qps);
      else
        std::printf("%-14s %6d %8.4f %10.0f %7.2fx\n", systems[s].name.c_str(), ef, recall[s], med, med / ref_qps);
    }
    std::fflush(stdout);
  }
  const double ref_at = QpsAtRecall(curves["hnswlib"], target);
  for (auto& s : systems) {
    double at = QpsAtRecall(curves[s.name], target);
    if (json)
      std::printf("{\"system\":\"%s\",\"target_recall\":%.3f,\"qps_at_target\":%.1f,\"ratio_at_target\":%.3f}\n",
                  s.name.c_str(), target, at, ref_at > 0 ? at / ref_at : 0);
    else
      std::printf("%-14s QPS at recall %.2f: %8.0f  (%.2fx hnswlib)\n", s.name.c_str(), target, at,
                  ref_at > 0 ? at / ref_at : 0);
  }
  return 0;
}
