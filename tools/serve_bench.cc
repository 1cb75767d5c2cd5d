// vectron_serve_bench: search QPS and latency of one dataset through the embedded API,
// over HTTP/JSON and over the binary RPC, in one process on loopback, with the same
// number of concurrent clients for each. Prints a Markdown table (ratios to embedded).
//
//   vectron_serve_bench --data ../shared/datasets/mnist-784-euclidean-10k --ef 16 --clients 2
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "datasets.h"
#include "net/io/blocking_socket.h"
#include "net/rpc/rpc_client.h"
#include "net/server.h"

using namespace vectron;
using namespace vectron::net;
using Clock = std::chrono::steady_clock;

namespace {

struct Run {
  std::string mode;
  double qps = 0, p50_ms = 0, p99_ms = 0, recall = 0;
};

// One keep-alive HTTP/1.1 exchange; returns the body ("" on error).
std::string HttpPost(BlockingSocket& s, const std::string& path, const std::string& body) {
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  if (!s.SendAll(req).ok()) return {};
  std::string buf;
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    auto n = s.RecvSome(&buf);
    if (!n.ok() || *n == 0) return {};
  }
  auto cl = buf.find("Content-Length: ");
  size_t len = std::stoul(buf.substr(cl + 16));
  std::string rest = buf.substr(end + 4);
  if (rest.size() < len && !s.RecvExact(len - rest.size(), &rest).ok()) return {};
  return rest;
}

// Runs `clients` threads, each calling fn(client, query_index) -> ids for the queries in
// round robin for `seconds`; the first pass over the queries also measures recall.
template <typename MakeClient, typename Fn>
Run Measure(const std::string& mode, int clients, double seconds, size_t nq, const tools::IntMatrix& gt, int k,
            MakeClient make, Fn fn) {
  std::vector<std::vector<double>> lat(clients);
  std::atomic<size_t> hits{0};
  std::atomic<uint64_t> done{0};
  auto start = Clock::now();
  auto stop_at = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> ts;
  for (int c = 0; c < clients; ++c) {
    ts.emplace_back([&, c] {
      auto client = make();
      for (size_t i = c;; i += clients) {
        size_t q = i % nq;
        auto t0 = Clock::now();
        std::vector<std::string> ids = fn(client, q);
        auto t1 = Clock::now();
        lat[c].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        ++done;
        if (i < nq) {
          size_t h = 0;
          for (int j = 0; j < k && j < static_cast<int>(ids.size()); ++j) {
            for (int g = 0; g < k; ++g) h += ids[j] == std::to_string(gt.data[q * gt.dim + g]);
          }
          hits += h;
        }
        if (i >= nq && t1 >= stop_at) break;
      }
    });
  }
  for (auto& t : ts) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Run r;
  r.mode = mode;
  r.qps = done / secs;
  r.p50_ms = all[all.size() / 2];
  r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  r.recall = static_cast<double>(hits) / (static_cast<double>(nq) * k);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Search QPS: embedded vs HTTP vs RPC on loopback"};
  std::string data;
  int ef = 16, k = 10, clients = 2;
  double seconds = 3;
  size_t max_queries = 0;
  std::string metric_name;
  app.add_option("--data", data, "Dataset dir (base.fvecs, query.fvecs, groundtruth.ivecs)")->required();
  app.add_option("--metric", metric_name, "l2, cosine or ip (default: from the directory name)");
  app.add_option("--ef", ef, "HNSW ef")->capture_default_str();
  app.add_option("--k", k, "k")->capture_default_str();
  app.add_option("--clients", clients, "Concurrent clients (and server workers)")->capture_default_str();
  app.add_option("--seconds", seconds, "Timed seconds per mode")->capture_default_str();
  app.add_option("--max-queries", max_queries, "Use only the first N queries");
  CLI11_PARSE(app, argc, argv);
  if (metric_name.empty()) metric_name = data.find("angular") != std::string::npos ? "cosine" : "l2";

  auto base = tools::ReadFvecs(data + "/base.fvecs");
  auto queries = tools::ReadFvecs(data + "/query.fvecs", max_queries);
  auto gt = tools::ReadIvecs(data + "/groundtruth.ivecs", max_queries);
  if (!base.ok() || !queries.ok() || !gt.ok()) {
    std::fprintf(stderr, "cannot read dataset in %s\n", data.c_str());
    return 1;
  }
  auto tmp = std::filesystem::temp_directory_path() / ("vectron-serve-bench-" + std::to_string(::getpid()));
  ServeOptions so;
  so.data_dir = tmp.string();
  so.http_address = "127.0.0.1:0";
  so.rpc_address = "127.0.0.1:0";
  so.workers = static_cast<unsigned>(clients);
  so.log_requests = false;
  // In-process on loopback, measuring the transports: no TLS and no tokens.
  so.insecure_http = true;
  so.auth = false;
  so.durability = Durability::kNoSync;
  auto server = Server::Open(so);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  CollectionConfig cfg;
  cfg.dim = base->dim;
  cfg.metric = ParseMetric(metric_name).value();
  cfg.flat_max_points = 0;  // HNSW from the first point, as in `vectron bench`.
  Collection* col = (*server)->database().CreateCollection("bench", cfg).value();
  auto t0 = Clock::now();
  for (size_t i = 0; i < base->rows; i += 1000) {
    WriteBatch b;
    for (size_t r = i; r < std::min(base->rows, i + 1000); ++r)
      b.Upsert(std::to_string(r), std::span<const float>(base->data.data() + r * base->dim, base->dim));
    if (Status s = col->Write(b); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "built %zu points in %.1f s\n", base->rows,
               std::chrono::duration<double>(Clock::now() - t0).count());
  std::thread loop([&] { (*server)->Run(false); });

  const size_t nq = queries->rows;
  const uint32_t dim = queries->dim;
  auto qspan = [&](size_t q) { return std::span<const float>(queries->data.data() + q * dim, dim); };
  SearchParams sp;
  sp.k = k;
  sp.ef = ef;
  std::vector<std::string> bodies(nq);
  for (size_t q = 0; q < nq; ++q) {
    auto s = qspan(q);
    bodies[q] = nlohmann::json({{"vector", std::vector<float>(s.begin(), s.end())}, {"k", k}, {"ef", ef}}).dump();
  }
  std::vector<Run> runs;
  runs.push_back(Measure("embedded (Collection::Search)", clients, seconds, nq, *gt, k, [] { return 0; },
                         [&](int&, size_t q) {
                           std::vector<std::string> ids;
                           for (auto& h : col->Search(qspan(q), sp).value()) ids.push_back(h.id);
                           return ids;
                         }));
  const int http_port = (*server)->http_port(), rpc_port = (*server)->rpc_port();
  runs.push_back(Measure("HTTP/JSON (keep-alive)", clients, seconds, nq, *gt, k,
                         [&] { return BlockingSocket::Connect("127.0.0.1", http_port).value(); },
                         [&](BlockingSocket& s, size_t q) {
                           std::vector<std::string> ids;
                           auto j = nlohmann::json::parse(HttpPost(s, "/v1/collections/bench/search", bodies[q]), nullptr, false);
                           if (j.is_object() && j.contains("hits"))
                             for (auto& h : j["hits"]) ids.push_back(h["id"]);
                           return ids;
                         }));
  RpcSearchOptions ro;
  ro.k = k;
  ro.ef = ef;
  runs.push_back(Measure("RPC (flatbuffers)", clients, seconds, nq, *gt, k,
                         [&] { return RpcClient::Connect("127.0.0.1", rpc_port).value(); },
                         [&](RpcClient& c, size_t q) {
                           std::vector<std::string> ids;
                           auto r = c.Search("bench", qspan(q), 1, ro);
                           if (r.ok())
                             for (auto& h : (*r)[0]) ids.push_back(h.id);
                           return ids;
                         }));
  (*server)->Shutdown();
  loop.join();
  server->reset();
  std::filesystem::remove_all(tmp);

  std::printf("Dataset %s (%zu points, dim %u, %s), %zu queries, k=%d, ef=%d, %d clients, %.0f s per mode.\n\n",
              std::filesystem::path(data).filename().c_str(), base->rows, base->dim, metric_name.c_str(), nq, k, ef,
              clients, seconds);
  std::printf("| mode | QPS | p50 ms | p99 ms | recall@%d | QPS / embedded |\n|---|---:|---:|---:|---:|---:|\n", k);
  for (auto& r : runs)
    std::printf("| %s | %.0f | %.3f | %.3f | %.4f | %.2f |\n", r.mode.c_str(), r.qps, r.p50_ms, r.p99_ms, r.recall,
                r.qps / runs[0].qps);
  return 0;
}
