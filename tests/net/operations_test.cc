// The operation table (net/api/operations.h) and the front ends over it: REST and RPC
// refuse the same requests with the same limits, OpenAPI describes exactly the table's
// routes with its access rules, and the local DataService answers NotFound on a dropped
// collection while other calls run. Real loopback sockets against an in-process server.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "net/api/local_data_service.h"
#include "net/api/operations.h"
#include "net/api/rest_api.h"
#include "net/io/blocking_socket.h"
#include "net/rpc/rpc_client.h"
#include "test_util.h"
#include "tests/lib/test_util.h"

using namespace vectron;
using namespace vectron::net;
using namespace vectron::net::testing;
using nlohmann::json;

namespace {

void MakeCollection(Server& s, const std::string& name, uint32_t dim) {
  CollectionConfig cfg;
  cfg.dim = dim;
  cfg.metric = Metric::kL2;
  REQUIRE(s.database().CreateCollection(name, cfg).ok());
}

RpcClient Connect(Server& s) {
  auto c = RpcClient::Connect("127.0.0.1", s.rpc_port());
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  return std::move(c).value();
}

// The error message of a REST answer.
std::string ErrorMessage(const HttpReply& r) {
  json j = json::parse(r.body, nullptr, false);
  REQUIRE_MESSAGE(j.is_object(), r.body);
  return j["error"]["message"].get<std::string>();
}

// The message of an RPC error as the server sent it (the client prefixes the code).
std::string RpcMessage(const Status& s) {
  const std::string prefix = std::string(StatusCodeName(s.code())) + ": ";
  const std::string& m = s.message();
  return m.rfind(prefix, 0) == 0 ? m.substr(prefix.size()) : m;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

TEST_CASE("RPC refuses k over 10000 and batches over 4096 queries as REST does, with the same message") {
  RunningServer rs("ops-limits");
  MakeCollection(*rs.server, "docs", 2);
  RpcClient c = Connect(*rs.server);
  std::vector<Point> pts = {{"a", {0, 0}, ""}, {"b", {1, 1}, ""}};
  REQUIRE(c.Upsert("docs", pts).ok());
  auto sock = BlockingSocket::Connect("127.0.0.1", rs.server->http_port());
  REQUIRE(sock.ok());

  std::vector<float> q = {0, 0};
  RpcSearchOptions so;
  so.k = 10000;  // The limit itself is allowed.
  auto ok = c.Search("docs", q, 1, so);
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK((*ok)[0].size() == 2);

  so.k = 10001;
  auto r = c.Search("docs", q, 1, so);
  REQUIRE(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(RpcMessage(r.status()) == "\"k\" must be an integer in 1..10000, got 10001");
  HttpReply h = HttpCall(*sock, "POST", "/v1/collections/docs/search", R"({"vector": [0, 0], "k": 10001})");
  CHECK(h.status == 400);
  CHECK(ErrorMessage(h) == RpcMessage(r.status()));

  // A batch over max_batch_queries: refused before the engine is asked.
  so.k = 1;
  std::vector<float> many(2 * 4097, 0.f);
  r = c.Search("docs", many, 4097, so);
  REQUIRE(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(RpcMessage(r.status()) == "\"vectors\" holds 4097 queries; the limit is 4096");
  std::string body = R"({"k": 1, "vectors": [)";
  for (int i = 0; i < 4097; ++i) body += i ? ",[0,0]" : "[0,0]";
  body += "]}";
  h = HttpCall(*sock, "POST", "/v1/collections/docs/search", body);
  CHECK(h.status == 400);
  CHECK(ErrorMessage(h) == RpcMessage(r.status()));
  // 4096 queries are served.
  std::vector<float> max_batch(2 * 4096, 0.f);
  auto served = c.Search("docs", max_batch, 4096, so);
  REQUIRE_MESSAGE(served.ok(), served.status().ToString());
  CHECK(served->size() == 4096);

  // ef over the table's limit, on both.
  so.ef = (1 << 20) + 1;
  r = c.Search("docs", q, 1, so);
  REQUIRE(r.status().code() == StatusCode::kInvalidArgument);
  h = HttpCall(*sock, "POST", "/v1/collections/docs/search", R"({"vector": [0, 0], "ef": 1048577})");
  CHECK(h.status == 400);
  CHECK(ErrorMessage(h) == RpcMessage(r.status()));

  // Scroll pages over 10000 rows.
  RpcScrollOptions sc;
  sc.limit = 10001;
  auto page = c.Scroll("docs", sc);
  REQUIRE(page.status().code() == StatusCode::kInvalidArgument);
  h = HttpCall(*sock, "POST", "/v1/collections/docs/scroll", R"({"limit": 10001})");
  CHECK(h.status == 400);
  CHECK(ErrorMessage(h) == RpcMessage(page.status()));
  // Nothing was changed by any refusal, and the connection still serves.
  CHECK(*c.Count("docs") == 2);
  // A delete by ids answers how many existed, on RPC as on REST (one implementation).
  auto deleted = c.Delete("docs", {"a", "ghost"});
  REQUIRE(deleted.ok());
  CHECK(*deleted == 1);
  h = HttpCall(*sock, "POST", "/v1/collections/docs/points/delete", R"({"ids": ["b", "ghost"]})");
  CHECK(h.status == 200);
  CHECK(json::parse(h.body) == json{{"deleted", 1}});
}

TEST_CASE("OpenAPI describes exactly the routes of the operation table, each with its access rule") {
  json doc = json::parse(RestApi::OpenApiJson(true));
  const json& paths = doc["paths"];
  std::set<std::string> names;
  for (const OpSpec& op : DataOps()) {
    CAPTURE(op.name);
    CHECK(names.insert(op.name).second);  // Names are unique.
    CHECK(&SpecOf(op.id) == &op);
    REQUIRE(paths.contains(op.pattern));
    const std::string m = Lower(op.method);
    REQUIRE(paths[op.pattern].contains(m));
    const json& o = paths[op.pattern][m];
    CHECK(o["operationId"] == op.name);
    CHECK(o["x-vectron-access"]["access"] == AccessName(op.access.access));
    CHECK(o["x-vectron-access"]["console"] == op.access.console);
    CHECK(o["x-vectron-access"]["all_collections"] == op.access.all_collections);
    // Every operation names its collection in the path, but creating one.
    CHECK((std::string(op.pattern).find("{name}") != std::string::npos) ==
          (op.id != OpId::kCreateCollection && op.id != OpId::kListCollections));
  }
  // Every documented path and method is served, and every served route documented.
  std::set<std::string> served, documented;
  for (const RouteInfo& r : RestApi::Routes(true, false)) served.insert(Lower(r.method) + " " + r.pattern);
  for (auto& [path, ops] : paths.items())
    for (auto& [method, o] : ops.items()) documented.insert(method + " " + path);
  CHECK(served == documented);
  // The limits in the document are the table's.
  const OpLimits limits;
  const json& search = paths["/v1/collections/{name}/search"]["post"]["x-vectron-limits"];
  CHECK(search["max_k"] == limits.max_k);
  CHECK(search["max_batch_queries"] == limits.max_batch_queries);
  CHECK(paths["/v1/collections/{name}/scroll"]["post"]["x-vectron-limits"]["max_limit"] == limits.max_scroll_limit);
  CHECK(paths["/v1/collections/{name}/points/list"]["post"]["x-vectron-limits"]["max_limit"] == limits.max_list_limit);
}

TEST_CASE("The local data service answers NotFound for a collection dropped while calls use it concurrently") {
  const std::string dir = TempDir("ops-drop");
  {
    auto db = Database::Open(dir + "/data", {});
    REQUIRE(db.ok());
    LocalDataService svc(**db);
    CollectionConfig cfg;
    cfg.dim = 2;
    REQUIRE((*db)->CreateCollection("docs", cfg).ok());
    WriteBatch b;
    for (int i = 0; i < 200; ++i) b.Upsert("p" + std::to_string(i), std::vector<float>{float(i), 1.f}, "");
    Status ws;
    svc.Write("docs", b, [&](Status s) { ws = s; });
    REQUIRE(ws.ok());
    std::atomic<bool> stop{false};
    std::atomic<int> other{0};
    vectron::testing::Counter found, not_found;
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
      readers.emplace_back([&] {
        while (!stop) {
          svc.Search("docs", {1.f, 1.f}, 1, SearchParams{}, ReadPolicy{}, [&](Result<std::vector<std::vector<Hit>>> r) {
            if (r.ok()) found.fetch_add(1);
            else if (r.status().code() == StatusCode::kNotFound) not_found.fetch_add(1);
            else ++other;
          });
        }
      });
    }
    REQUIRE(found.WaitAbove(10, 30));
    Status ds;
    svc.DropCollection("docs", [&](Status s) { ds = s; });
    CHECK(ds.ok());
    REQUIRE(not_found.WaitAbove(10, 30));
    stop = true;
    for (auto& t : readers) t.join();
    CHECK(other.load() == 0);
    Result<uint64_t> n = Status::Internal("unanswered");
    svc.Count("docs", "", ReadPolicy{}, [&](Result<uint64_t> r) { n = std::move(r); });
    CHECK(n.status().code() == StatusCode::kNotFound);
  }
  std::filesystem::remove_all(dir);
}
