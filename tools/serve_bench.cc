// `vectron bench serve`: search QPS and latency of one dataset through the embedded API,
// over HTTP/JSON and over the binary RPC, in one process on loopback, with the same
// number of concurrent clients for each. Picks the first ef (of --ef) whose recall@k
// reaches --target-recall, then for each --clients count measures the three modes in
// alternating rounds and prints a Markdown table (median of rounds; ratios to embedded).
//
//   vectron bench serve --dataset ../shared/datasets/glove-100-angular-200k
//       --db /tmp/vectron-serve-bench-glove --ef 64,128,256,512 --clients 1,2
//
// --db keeps the built database for the next run (the import of 200k points takes
// minutes); without it a temporary one is built and removed.
//
// --auth also measures the cost of authentication: a second server in this process, on
// a backup of the database, with auth on (an SDK token on every request; TLS off on
// both, so that only auth differs). Each client sends every query to both servers, one
// right after the other (the order flipped each time), so that the machine's load
// swings hit both alike; a second table gives the latencies and their ratio, and the
// in-process cost of checking a token.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <unistd.h>

#include "cli.h"
#include "datasets.h"
#include "serve_bench.h"
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

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// One keep-alive HTTP/1.1 exchange; returns the body ("" on error).
// `headers`: extra header lines, each ending in \r\n.
std::string HttpPost(BlockingSocket& s, const std::string& path, const std::string& body,
                     const std::string& headers = "") {
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n" + headers +
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
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

// Ground truth as "row index" ids: gt[q * k + j].
struct Truth {
  size_t k = 0;
  std::vector<int32_t> ids;
};

double Recall(const Truth& gt, size_t q, const std::vector<std::string>& ids, int k) {
  size_t h = 0;
  for (int j = 0; j < k && j < static_cast<int>(ids.size()); ++j) {
    for (int g = 0; g < k; ++g) h += ids[j] == std::to_string(gt.ids[q * gt.k + g]);
  }
  return static_cast<double>(h) / k;
}

// Exact top-k of each query over `base` (for a --max-base subset, whose shipped ground
// truth does not apply), on `threads` threads.
Truth BruteForce(const tools::Matrix& base, const tools::Matrix& queries, Metric metric, size_t k, unsigned threads) {
  const uint32_t dim = base.dim;
  auto norm = [&](const float* v) {
    double s = 0;
    for (uint32_t i = 0; i < dim; ++i) s += double(v[i]) * v[i];
    return std::sqrt(s);
  };
  std::vector<float> bnorm(base.rows, 1.0f);
  if (metric == Metric::kCosine)
    for (size_t r = 0; r < base.rows; ++r) bnorm[r] = static_cast<float>(norm(&base.data[r * dim]));
  Truth t;
  t.k = k;
  t.ids.resize(queries.rows * k);
  std::atomic<size_t> next{0};
  std::vector<std::thread> ts;
  for (unsigned w = 0; w < threads; ++w) {
    ts.emplace_back([&] {
      std::vector<std::pair<float, int32_t>> d(base.rows);
      for (size_t q; (q = next++) < queries.rows;) {
        const float* qv = &queries.data[q * dim];
        const float qn = metric == Metric::kCosine ? static_cast<float>(norm(qv)) : 1.0f;
        for (size_t r = 0; r < base.rows; ++r) {
          const float* b = &base.data[r * dim];
          float dot = 0, l2 = 0;
          for (uint32_t i = 0; i < dim; ++i) {
            dot += qv[i] * b[i];
            float x = qv[i] - b[i];
            l2 += x * x;
          }
          float dist = metric == Metric::kL2 ? l2 : metric == Metric::kIP ? -dot : 1 - dot / (qn * bnorm[r]);
          d[r] = {dist, static_cast<int32_t>(r)};
        }
        std::partial_sort(d.begin(), d.begin() + k, d.end());
        for (size_t j = 0; j < k; ++j) t.ids[q * k + j] = d[j].second;
      }
    });
  }
  for (auto& th : ts) th.join();
  return t;
}

// Runs `clients` threads, each calling fn(client, query_index) -> ids for the queries in
// round robin for `seconds`; recall over the queries answered in the first pass.
template <typename MakeClient, typename Fn>
Run Measure(const std::string& mode, int clients, double seconds, size_t nq, const Truth& gt, int k, MakeClient make,
            Fn fn) {
  std::vector<std::vector<double>> lat(clients);
  std::vector<double> recall_sum(clients, 0);
  std::vector<size_t> recall_n(clients, 0);
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
        if (i < nq) {
          recall_sum[c] += Recall(gt, q, ids, k);
          ++recall_n[c];
        }
        if (t1 >= stop_at) break;
      }
    });
  }
  for (auto& t : ts) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  double rs = 0;
  size_t rn = 0;
  for (int c = 0; c < clients; ++c) {
    all.insert(all.end(), lat[c].begin(), lat[c].end());
    rs += recall_sum[c];
    rn += recall_n[c];
  }
  std::sort(all.begin(), all.end());
  Run r;
  r.mode = mode;
  r.qps = all.size() / secs;
  r.p50_ms = all[all.size() / 2];
  r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  r.recall = rn ? rs / rn : 0;
  return r;
}

// Medians of one paired run: latency without and with auth, and of the per-query
// difference (with - without).
struct Paired {
  double plain_ms = 0, auth_ms = 0, diff_us = 0;
  size_t pairs = 0;
};

double Median(std::vector<double> v);

// `clients` threads, each with a client of each server (make_plain, make_auth), send
// every query to both (fn(client, q)), alternating which goes first, for `seconds`.
template <typename MakeP, typename MakeA, typename FnP, typename FnA>
Paired MeasurePaired(int clients, double seconds, size_t nq, MakeP make_plain, MakeA make_auth, FnP fn_plain,
                     FnA fn_auth) {
  std::vector<std::vector<double>> plain(clients), auth(clients), diff(clients);
  auto stop_at = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> ts;
  for (int c = 0; c < clients; ++c) {
    ts.emplace_back([&, c] {
      auto p = make_plain();
      auto a = make_auth();
      for (size_t i = c;; i += clients) {
        const size_t q = i % nq;
        double lp = 0, la = 0;
        auto timed = [](auto&& call) {
          auto t0 = Clock::now();
          call();
          return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        };
        if ((i / clients) % 2) {
          la = timed([&] { fn_auth(a, q); });
          lp = timed([&] { fn_plain(p, q); });
        } else {
          lp = timed([&] { fn_plain(p, q); });
          la = timed([&] { fn_auth(a, q); });
        }
        plain[c].push_back(lp);
        auth[c].push_back(la);
        diff[c].push_back((la - lp) * 1000);
        if (Clock::now() >= stop_at) break;
      }
    });
  }
  for (auto& t : ts) t.join();
  std::vector<double> ap, aa, ad;
  for (int c = 0; c < clients; ++c) {
    ap.insert(ap.end(), plain[c].begin(), plain[c].end());
    aa.insert(aa.end(), auth[c].begin(), auth[c].end());
    ad.insert(ad.end(), diff[c].begin(), diff[c].end());
  }
  return {Median(ap), Median(aa), Median(ad), ap.size()};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

namespace vectron::tools {

int RunServeBench(const ServeBenchOptions& o) {
  const std::string& data = o.dataset_dir;
  std::string db_dir = o.db_dir, metric_name = o.metric, ef_list = o.efs;
  const int k = o.k, rounds = o.rounds;
  const uint32_t m = o.m, ef_construction = o.ef_construction;
  const double seconds = o.seconds, target_recall = o.target_recall;
  const size_t max_queries = o.max_queries, max_base = o.max_base;
  const bool with_auth = o.auth;
  if (metric_name.empty()) metric_name = data.find("angular") != std::string::npos ? "cosine" : "l2";
  auto metric = ParseMetric(metric_name);
  if (!metric.ok()) {
    std::fprintf(stderr, "%s\n", metric.status().ToString().c_str());
    return 2;
  }
  auto efs_parsed = ParseIntList(ef_list, "--ef");
  auto clients_parsed = ParseIntList(o.clients, "--clients");
  if (!efs_parsed.ok() || !clients_parsed.ok()) {
    std::fprintf(stderr, "%s\n", (efs_parsed.ok() ? clients_parsed.status() : efs_parsed.status()).ToString().c_str());
    return 2;
  }
  const std::vector<int> efs = *efs_parsed, client_counts = *clients_parsed;
  const std::string load_before = LoadAverage();

  auto base = tools::ReadFvecs(data + "/base.fvecs", max_base);
  auto queries = tools::ReadFvecs(data + "/query.fvecs", max_queries);
  if (!base.ok() || !queries.ok()) {
    std::fprintf(stderr, "cannot read dataset in %s\n", data.c_str());
    return 1;
  }
  const unsigned hw = std::max(2u, std::thread::hardware_concurrency());
  Truth gt;
  if (max_base == 0) {
    auto g = tools::ReadIvecs(data + "/groundtruth.ivecs", max_queries);
    if (!g.ok()) {
      std::fprintf(stderr, "cannot read %s/groundtruth.ivecs\n", data.c_str());
      return 1;
    }
    gt.k = g->dim;
    gt.ids = std::move(g->data);
  } else {
    auto t0 = Clock::now();
    gt = BruteForce(*base, *queries, *metric, static_cast<size_t>(k), hw);
    std::fprintf(stderr, "exact ground truth for the %zu-point subset in %.1f s\n", base->rows,
                 std::chrono::duration<double>(Clock::now() - t0).count());
  }

  const bool temp_db = db_dir.empty();
  if (temp_db)
    db_dir = (std::filesystem::temp_directory_path() / ("vectron-serve-bench-" + std::to_string(::getpid()))).string();
  int max_clients = *std::max_element(client_counts.begin(), client_counts.end());
  ServeOptions so;
  so.data_dir = db_dir;
  so.http_address = "127.0.0.1:0";
  so.rpc_address = "127.0.0.1:0";
  so.workers = static_cast<unsigned>(max_clients);
  so.log_requests = false;
  so.inline_reads = o.inline_reads;
  so.busy_poll_us = o.busy_poll_us;
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
  cfg.metric = *metric;
  cfg.hnsw.m = m;
  cfg.hnsw.ef_construction = ef_construction;
  cfg.flat_max_points = 0;  // HNSW from the first point, as in `vectron bench search`.
  Database& db = (*server)->database();
  std::shared_ptr<Collection> col;
  if (auto existing = db.GetCollection("bench"); existing.ok()) {
    const auto& ec = (*existing)->config();
    auto n = (*existing)->Count();
    if (n.ok() && *n == base->rows && ec.dim == cfg.dim && ec.metric == cfg.metric && ec.hnsw.m == m &&
        ec.hnsw.ef_construction == ef_construction) {
      col = *existing;
      std::fprintf(stderr, "reusing the %zu-point collection in %s\n", base->rows, db_dir.c_str());
    } else if (Status s = db.DropCollection("bench"); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  double build_s = 0;
  if (!col) {
    col = db.CreateCollection("bench", cfg).value();
    auto t0 = Clock::now();
    for (size_t i = 0; i < base->rows; i += 1000) {
      WriteBatch b;
      for (size_t r = i; r < std::min(base->rows, i + 1000); ++r)
        b.Upsert(std::to_string(r), std::span<const float>(base->data.data() + r * base->dim, base->dim));
      if (Status s = col->Write(b); !s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
      if ((i / 1000) % 20 == 0) std::fprintf(stderr, "\rimported %zu / %zu", i, base->rows);
    }
    build_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::fprintf(stderr, "\rbuilt %zu points in %.1f s\n", base->rows, build_s);
    if (Status s = col->Checkpoint(); !s.ok()) std::fprintf(stderr, "checkpoint: %s\n", s.ToString().c_str());
  }
  std::thread loop([&] { (*server)->Run(false); });

  const size_t nq = queries->rows;
  const uint32_t dim = queries->dim;
  auto qspan = [&](size_t q) { return std::span<const float>(queries->data.data() + q * dim, dim); };

  // The ef: first candidate whose recall over all queries reaches the target.
  int ef = efs.back();
  double ef_recall = 0;
  for (int e : efs) {
    SearchParams sp;
    sp.k = k;
    sp.ef = e;
    auto res = col->SearchBatch(queries->data, sp, hw).value();
    double r = 0;
    for (size_t q = 0; q < nq; ++q) {
      std::vector<std::string> ids;
      for (auto& h : res[q]) ids.push_back(h.id);
      r += Recall(gt, q, ids, k);
    }
    r /= nq;
    std::fprintf(stderr, "ef=%d recall@%d=%.4f\n", e, k, r);
    ef = e;
    ef_recall = r;
    if (r >= target_recall) break;
  }

  SearchParams sp;
  sp.k = k;
  sp.ef = ef;
  std::vector<std::string> bodies(nq);
  for (size_t q = 0; q < nq; ++q) {
    auto s = qspan(q);
    bodies[q] = nlohmann::json({{"vector", std::vector<float>(s.begin(), s.end())}, {"k", k}, {"ef", ef}}).dump();
  }
  RpcSearchOptions ro;
  ro.k = k;
  ro.ef = ef;
  const int http_port = (*server)->http_port(), rpc_port = (*server)->rpc_port();

  // The same database behind a server with auth on (same process, same worker count).
  std::unique_ptr<Server> auth_server;
  std::thread auth_loop;
  std::string auth_dir, sdk_token;
  if (with_auth) {
    auth_dir = db_dir + "-auth-copy";
    std::filesystem::remove_all(auth_dir);
    if (Status s = db.Backup(auth_dir); !s.ok()) {
      std::fprintf(stderr, "backup for the auth server: %s\n", s.ToString().c_str());
      return 1;
    }
    ServeOptions ao = so;
    ao.data_dir = auth_dir;
    ao.auth = true;
    ao.admin_password = "bench-admin-password";
    auto opened = Server::Open(ao);
    if (!opened.ok()) {
      std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
      return 1;
    }
    auth_server = std::move(*opened);
    Authenticator& a = *auth_server->authenticator();
    auto login = a.Login("admin", "bench-admin-password", "bench");
    Principal admin;
    if (!login.ok() || !a.Authenticate("Bearer " + login->token, &admin).ok()) {
      std::fprintf(stderr, "login to the auth server failed\n");
      return 1;
    }
    sdk_token = a.CreateKey(admin, "bench", kScopeRead, std::nullopt, 0, "bench").value().token;
    auth_loop = std::thread([&] { auth_server->Run(false); });
  }
  const int auth_http_port = with_auth ? auth_server->http_port() : 0;
  const int auth_rpc_port = with_auth ? auth_server->rpc_port() : 0;
  const std::string auth_header = "Authorization: Bearer " + sdk_token + "\r\n";

  const std::vector<std::string> kModes = {"embedded (Collection::Search)", "HTTP/JSON (keep-alive)",
                                           "RPC (flatbuffers)"};
  const size_t nmodes = kModes.size();
  struct Row {
    int clients;
    std::vector<Run> runs;       // Per mode: medians of the rounds.
    std::vector<double> ratios;  // Per mode: median over rounds of QPS / that round's embedded QPS.
    std::vector<double> qps_min, qps_max;
    Paired auth_http, auth_rpc;  // Medians over rounds.
  };
  auto http_search = [&](const std::string& headers) {
    return [&, headers](BlockingSocket& s, size_t q) {
      std::vector<std::string> ids;
      auto j = nlohmann::json::parse(HttpPost(s, "/v1/collections/bench/search", bodies[q], headers), nullptr, false);
      if (j.is_object() && j.contains("hits"))
        for (auto& h : j["hits"]) ids.push_back(h["id"]);
      return ids;
    };
  };
  auto rpc_search = [&](RpcClient& c, size_t q) {
    std::vector<std::string> ids;
    auto r = c.Search("bench", qspan(q), 1, ro);
    if (r.ok())
      for (auto& h : (*r)[0]) ids.push_back(h.id);
    return ids;
  };
  const uint32_t client_poll = o.client_busy_poll_us;
  auto http_client = [client_poll](int port) {
    return [port, client_poll] {
      BlockingSocket s = BlockingSocket::Connect("127.0.0.1", port).value();
      s.SetBusyPoll(client_poll);
      return s;
    };
  };
  auto rpc_client = [client_poll](int port, const std::string& token) {
    return [port, token, client_poll] {
      RpcClientOptions o;
      o.token = token;
      o.busy_poll_us = client_poll;
      return RpcClient::Connect("127.0.0.1", port, o).value();
    };
  };
  std::vector<std::function<Run(int)>> measure = {
      [&](int clients) {
        return Measure("", clients, seconds, nq, gt, k, [] { return 0; }, [&](int&, size_t q) {
          std::vector<std::string> ids;
          for (auto& h : col->Search(qspan(q), sp).value()) ids.push_back(h.id);
          return ids;
        });
      },
      [&](int clients) { return Measure("", clients, seconds, nq, gt, k, http_client(http_port), http_search("")); },
      [&](int clients) { return Measure("", clients, seconds, nq, gt, k, rpc_client(rpc_port, ""), rpc_search); }};
  std::vector<Row> rows;
  for (int clients : client_counts) {
    std::vector<std::vector<Run>> per_mode(nmodes);
    for (int round = 0; round < rounds; ++round) {
      for (size_t md = 0; md < nmodes; ++md) {
        per_mode[md].push_back(measure[md](clients));
        per_mode[md].back().mode = kModes[md];
        std::fprintf(stderr, "clients=%d round %d %s: %.0f QPS\n", clients, round + 1, kModes[md].c_str(),
                     per_mode[md].back().qps);
      }
    }
    Row row{clients, {}, {}, {}, {}, {}, {}};
    for (size_t md = 0; md < nmodes; ++md) {
      std::vector<double> qps, p50, p99, rec, ratio;
      for (size_t i = 0; i < per_mode[md].size(); ++i) {
        const Run& r = per_mode[md][i];
        qps.push_back(r.qps);
        p50.push_back(r.p50_ms);
        p99.push_back(r.p99_ms);
        rec.push_back(r.recall);
        ratio.push_back(r.qps / per_mode[0][i].qps);
      }
      row.runs.push_back({kModes[md], Median(qps), Median(p50), Median(p99), Median(rec)});
      row.ratios.push_back(Median(ratio));
      row.qps_min.push_back(*std::min_element(qps.begin(), qps.end()));
      row.qps_max.push_back(*std::max_element(qps.begin(), qps.end()));
    }
    if (with_auth) {
      std::vector<Paired> h, r;
      for (int round = 0; round < rounds; ++round) {
        h.push_back(MeasurePaired(clients, seconds, nq, http_client(http_port), http_client(auth_http_port),
                                  http_search(""), http_search(auth_header)));
        r.push_back(MeasurePaired(clients, seconds, nq, rpc_client(rpc_port, ""), rpc_client(auth_rpc_port, sdk_token),
                                  rpc_search, rpc_search));
        std::fprintf(stderr, "clients=%d auth round %d: HTTP %.3f/%.3f ms, RPC %.3f/%.3f ms\n", clients, round + 1,
                     h.back().plain_ms, h.back().auth_ms, r.back().plain_ms, r.back().auth_ms);
      }
      auto median = [](const std::vector<Paired>& v) {
        std::vector<double> p, a, d;
        size_t n = 0;
        for (auto& x : v) {
          p.push_back(x.plain_ms);
          a.push_back(x.auth_ms);
          d.push_back(x.diff_us);
          n += x.pairs;
        }
        return Paired{Median(p), Median(a), Median(d), n};
      };
      row.auth_http = median(h);
      row.auth_rpc = median(r);
    }
    rows.push_back(std::move(row));
  }
  double auth_check_us = 0;
  if (with_auth) {
    Authenticator& a = *auth_server->authenticator();
    auth_check_us = 1e9;
    for (int rep = 0; rep < 5; ++rep) {
      auto t0 = Clock::now();
      for (int i = 0; i < 100000; ++i) {
        Principal who;
        if (!a.AuthenticateToken(sdk_token, &who).ok() || !Authorize(who, {Access::kRead}, "bench").ok()) return 1;
      }
      auth_check_us = std::min(auth_check_us, std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / 1e5);
    }
    auth_server->Shutdown();
    auth_loop.join();
    auth_server.reset();
    std::filesystem::remove_all(auth_dir);
  }
  (*server)->Shutdown();
  loop.join();
  server->reset();
  if (temp_db) std::filesystem::remove_all(db_dir);

  std::printf("Dataset %s (%zu points%s, dim %u, %s), HNSW M=%u ef_construction=%u, %zu queries, k=%d.\n",
              std::filesystem::path(data).filename().c_str(), base->rows,
              max_base ? " (subset; exact ground truth recomputed)" : "", base->dim, metric_name.c_str(), m,
              ef_construction, nq, k);
  std::printf("ef=%d: the first of {%s} with recall@%d >= %.2f (%.4f, embedded batch over all queries).\n", ef,
              ef_list.c_str(), k, target_recall, ef_recall);
  if (build_s > 0) std::printf("Import of the collection: %.1f s (durability nosync).\n", build_s);
  std::printf("%d rounds of %.0f s per mode, medians shown; server worker threads: %d; light reads of a lone client "
              "on the event loop: %s; busy poll after them: %u µs; the clients' busy poll: %u µs. Load average before: %s, after: %s (%u hardware "
              "threads).\n\n",
              rounds, seconds, max_clients, o.inline_reads ? "yes" : "no (--no-inline-reads)", o.busy_poll_us,
              o.client_busy_poll_us,
              load_before.c_str(), LoadAverage().c_str(), hw);
  std::printf("| clients | mode | QPS (median) | QPS range | p50 ms | p99 ms | recall@%d | QPS / embedded |\n"
              "|---:|---|---:|---:|---:|---:|---:|---:|\n",
              k);
  for (auto& row : rows)
    for (size_t md = 0; md < row.runs.size(); ++md) {
      const Run& r = row.runs[md];
      std::printf("| %d | %s | %.0f | %.0f–%.0f | %.3f | %.3f | %.4f | %.2f |\n", row.clients, r.mode.c_str(), r.qps,
                  row.qps_min[md], row.qps_max[md], r.p50_ms, r.p99_ms, r.recall, row.ratios[md]);
    }
  std::printf("\nQPS / embedded is the median over rounds of each round's ratio (the modes alternate within a "
              "round, so slow swings of the machine's load cancel out).\n");
  if (with_auth) {
    std::printf("\nAuth overhead: two servers in this process on copies of the database, TLS off on both, one "
                "with auth on (an SDK token checked on every request). Each client sends every query to both, one "
                "right after the other, the order flipped each time; medians of %d rounds of %.0f s.\n\n"
                "| clients | transport | p50 ms, no auth | p50 ms, auth | auth / no auth | median difference per "
                "request | pairs |\n|---:|---|---:|---:|---:|---:|---:|\n",
                rounds, seconds);
    for (auto& row : rows)
      for (auto [name, p] : {std::pair{"HTTP/JSON", row.auth_http}, std::pair{"RPC", row.auth_rpc}})
        std::printf("| %d | %s | %.3f | %.3f | %.3f | %+.1f µs | %zu |\n", row.clients, name, p.plain_ms, p.auth_ms,
                    p.auth_ms / p.plain_ms, p.diff_us, p.pairs);
    std::printf("\nIn process, Authenticator::AuthenticateToken + Authorize of a verified (cached) SDK token: "
                "%.2f µs per request (best of 5 × 100000).\n", auth_check_us);
  }
  return 0;
}

}  // namespace vectron::tools
