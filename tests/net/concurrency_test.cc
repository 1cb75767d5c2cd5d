// Many clients at once over HTTP and RPC against one in-process server (run under
// ThreadSanitizer in the 'concurrency' suite).
#include <doctest/doctest.h>

#include <atomic>

#include "net/rpc/rpc_client.h"
#include "test_util.h"

using namespace vectron;
using namespace vectron::net;
using namespace vectron::net::testing;

TEST_CASE("HTTP and RPC clients search and upsert concurrently, then the server drains") {
  ServeOptions o;
  o.workers = 3;
  RunningServer rs("concurrent", o);
  CollectionConfig cfg;
  cfg.dim = 8;
  cfg.metric = Metric::kL2;
  REQUIRE(rs.server->database().CreateCollection("docs", cfg).ok());
  constexpr int kClients = 4, kOps = 60;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kClients; ++t) {
    ts.emplace_back([&, t] {
      if (t % 2 == 0) {
        auto c = RpcClient::Connect("127.0.0.1", rs.server->rpc_port());
        if (!c.ok()) return void(++failed);
        for (int i = 0; i < kOps; ++i) {
          std::vector<Point> p = {{"r" + std::to_string(t) + "-" + std::to_string(i), std::vector<float>(8, float(i)), ""}};
          bool good = c->Upsert("docs", p).ok();
          std::vector<float> q(8, float(i));
          RpcSearchOptions so;
          so.k = 3;
          good = good && c->Search("docs", q, 1, so).ok();
          (good ? ok : failed)++;
        }
      } else {
        auto s = BlockingSocket::Connect("127.0.0.1", rs.server->http_port());
        if (!s.ok()) return void(++failed);
        for (int i = 0; i < kOps; ++i) {
          std::string id = "h" + std::to_string(t) + "-" + std::to_string(i);
          auto u = HttpCall(*s, "PUT", "/v1/collections/docs/points",
                            R"({"points":[{"id":")" + id + R"(","vector":[1,2,3,4,5,6,7,8]}]})");
          auto q = HttpCall(*s, "POST", "/v1/collections/docs/search", R"({"vector":[1,2,3,4,5,6,7,8],"k":2})");
          auto m = HttpCall(*s, "GET", "/metrics");
          (u.status == 200 && q.status == 200 && m.status == 200 ? ok : failed)++;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  CHECK(failed == 0);
  CHECK(ok == kClients * kOps);
  CHECK(*(*rs.server->database().GetCollection("docs"))->Count() == kClients * kOps);
  rs.Stop();
}
