// The binary RPC over real loopback sockets against an in-process server.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "net/rpc/frame.h"
#include "net/rpc/rpc_client.h"
#include "rpc_generated.h"
#include "test_util.h"

using namespace vectron;
using namespace vectron::net;
using namespace vectron::net::testing;

namespace {

Collection* MakeCollection(Server& s, const std::string& name, uint32_t dim) {
  CollectionConfig cfg;
  cfg.dim = dim;
  cfg.metric = Metric::kL2;
  auto c = s.database().CreateCollection(name, cfg);
  REQUIRE(c.ok());
  return *c;
}

RpcClient Connect(Server& s) {
  auto c = RpcClient::Connect("127.0.0.1", s.rpc_port());
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  return std::move(c).value();
}

}  // namespace

TEST_CASE("RPC upsert, get, count, search, batch search and delete round-trip") {
  RunningServer rs("rpc-roundtrip");
  MakeCollection(*rs.server, "docs", 4);
  RpcClient c = Connect(*rs.server);
  CHECK(c.Ping().ok());
  std::vector<Point> pts;
  for (int i = 0; i < 100; ++i) pts.push_back({"p" + std::to_string(i), {float(i), 0, 1, 2}, i % 2 ? R"({"odd":true})" : ""});
  auto n = c.Upsert("docs", pts);
  REQUIRE_MESSAGE(n.ok(), n.status().ToString());
  CHECK(*n == 100);
  CHECK(*c.Count("docs") == 100);
  auto got = c.Get("docs", {"p3", "nope"});
  REQUIRE(got.ok());
  REQUIRE(got->size() == 2);
  REQUIRE((*got)[0].has_value());
  CHECK((*got)[0]->vector == std::vector<float>{3, 0, 1, 2});
  CHECK((*got)[0]->metadata == R"({"odd":true})");
  CHECK_FALSE((*got)[1].has_value());
  std::vector<float> q = {41.9f, 0, 1, 2};
  RpcSearchOptions so;
  so.k = 3;
  so.include_metadata = true;
  auto hits = c.Search("docs", q, 1, so);
  REQUIRE(hits.ok());
  REQUIRE(hits->size() == 1);
  REQUIRE((*hits)[0].size() == 3);
  CHECK((*hits)[0][0].id == "p42");
  CHECK((*hits)[0][1].id == "p41");
  CHECK((*hits)[0][1].metadata == R"({"odd":true})");
  std::vector<float> qs = {0, 0, 1, 2, 99, 0, 1, 2};
  so.k = 1;
  auto batch = c.Search("docs", qs, 2, so);
  REQUIRE(batch.ok());
  REQUIRE(batch->size() == 2);
  CHECK((*batch)[0][0].id == "p0");
  CHECK((*batch)[1][0].id == "p99");
  // Filters travel as JSON text.
  so.k = 2;
  so.where = R"({"odd": true})";
  auto filtered = c.Search("docs", q, 1, so);
  REQUIRE(filtered.ok());
  REQUIRE((*filtered)[0].size() == 2);
  CHECK((*filtered)[0][0].id == "p41");
  CHECK((*filtered)[0][1].id == "p43");
  so.where = R"({"odd": {"$bogus": 1}})";
  CHECK(c.Search("docs", q, 1, so).status().code() == StatusCode::kInvalidArgument);
  so.where.clear();
  CHECK(*c.Delete("docs", {"p0", "p1"}) == 2);
  CHECK(*c.Count("docs") == 98);
  // The in-process view agrees (same database).
  CHECK(*(*rs.server->database().GetCollection("docs"))->Count() == 98);
}

TEST_CASE("RPC errors carry the engine's status and keep the connection usable") {
  RunningServer rs("rpc-errors");
  MakeCollection(*rs.server, "docs", 4);
  RpcClient c = Connect(*rs.server);
  std::vector<float> q = {1, 2, 3};
  auto r = c.Search("nope", q, 1, {});
  CHECK(r.status().code() == StatusCode::kNotFound);
  r = c.Search("docs", q, 1, {});
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(r.status().message().find("expected nq") != std::string::npos);
  std::vector<Point> bad = {{"a", {1, 2, 3, 4}, ""}, {"", {1, 2, 3, 4}, ""}};
  CHECK(c.Upsert("docs", bad).status().code() == StatusCode::kInvalidArgument);
  CHECK(*c.Count("docs") == 0);  // Nothing written.
  // A frame that is not a Request flatbuffer: an error response, connection stays.
  REQUIRE(c.SendRaw(EncodeFrame("this is not a flatbuffer at all")).ok());
  auto payload = c.ReceiveFrame();
  REQUIRE(payload.ok());
  CHECK(payload->find("invalid_argument") != std::string::npos);
  CHECK(c.Ping().ok());
  // Found by fuzzing: a body type whose table is missing verifies, and must be refused.
  flatbuffers::FlatBufferBuilder b;
  ::vectron::rpc::RequestBuilder rb(b);
  rb.add_id(5);
  rb.add_body_type(::vectron::rpc::Body::UpsertRequest);
  b.Finish(rb.Finish());
  REQUIRE(c.SendRaw(EncodeFrame(std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()))).ok());
  payload = c.ReceiveFrame();
  REQUIRE(payload.ok());
  CHECK(payload->find("carries no body") != std::string::npos);
  CHECK(c.Ping().ok());
}

TEST_CASE("RPC refuses an oversize frame and closes the connection") {
  ServeOptions o;
  o.rpc_max_frame_bytes = 1024;
  RunningServer rs("rpc-oversize", o);
  RpcClient c = Connect(*rs.server);
  REQUIRE(c.SendRaw(EncodeFrame(std::string(2000, 'x')).substr(0, 8)).ok());
  auto payload = c.ReceiveFrame();
  REQUIRE(payload.ok());
  CHECK(payload->find("exceeds the limit") != std::string::npos);
  CHECK_FALSE(c.ReceiveFrame().ok());  // Closed.
}

TEST_CASE("RPC pipelined requests are all answered, matched by request id") {
  RunningServer rs("rpc-pipeline");
  MakeCollection(*rs.server, "docs", 2);
  RpcClient c = Connect(*rs.server);
  std::vector<Point> pts;
  for (int i = 0; i < 50; ++i) pts.push_back({std::to_string(i), {float(i), 0}, ""});
  REQUIRE(c.Upsert("docs", pts).ok());
  RpcSearchOptions so;
  so.k = 1;
  for (uint64_t id = 1000; id < 1050; ++id) {
    std::vector<float> q = {float(id - 1000), 0};
    REQUIRE(c.SendSearch(id, "docs", q, so).ok());
  }
  std::set<uint64_t> ids;
  for (int i = 0; i < 50; ++i) {
    auto r = c.ReceiveSearch();
    REQUIRE(r.ok());
    REQUIRE(r->second.size() == 1);
    CHECK(r->second[0].id == std::to_string(r->first - 1000));
    ids.insert(r->first);
  }
  CHECK(ids.size() == 50);
}

TEST_CASE("RPC request whose deadline passed while queued is not run") {
  ServeOptions o;
  o.workers = 1;
  o.debug_routes = true;
  RunningServer rs("rpc-deadline", o);
  MakeCollection(*rs.server, "docs", 2);
  // Hold the only worker through the HTTP debug route.
  std::thread blocker([&] {
    auto s = BlockingSocket::Connect("127.0.0.1", rs.server->http_port());
    REQUIRE(s.ok());
    auto r = HttpCall(*s, "POST", "/v1/_debug/block", R"({"ms": 60000})");
    CHECK(r.status == 200);
  });
  auto hs = BlockingSocket::Connect("127.0.0.1", rs.server->http_port());
  REQUIRE(hs.ok());
  for (int i = 0; i < 30000; ++i) {
    if (nlohmann::json::parse(HttpCall(*hs, "GET", "/v1/_debug/state").body)["blocked"] == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  RpcClient c = Connect(*rs.server);
  RpcSearchOptions so;
  so.deadline_ms = 1;
  std::vector<float> q = {0, 0};
  REQUIRE(c.SendSearch(7, "docs", q, so).ok());
  // Once the server has the frame queued (queue depth 1), wait past the deadline, release.
  for (int i = 0; i < 30000; ++i) {
    if (nlohmann::json::parse(HttpCall(*hs, "GET", "/v1/_debug/state").body)["queued"] == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // Let the 1 ms deadline pass.
  CHECK(HttpCall(*hs, "POST", "/v1/_debug/release").status == 200);
  auto r = c.ReceiveSearch();
  CHECK(r.status().code() == StatusCode::kUnavailable);
  CHECK(r.status().message().find("deadline_exceeded") != std::string::npos);
  blocker.join();
}
