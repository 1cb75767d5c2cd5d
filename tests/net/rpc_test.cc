// The binary RPC over real loopback sockets against an in-process server.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
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

std::shared_ptr<Collection> MakeCollection(Server& s, const std::string& name, uint32_t dim) {
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
  CHECK(r.status().message().find("query vector has dimension 3, the collection's is 4") != std::string::npos);
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
  const std::string frame = EncodeFrame(std::string(2000, 'x'));
  REQUIRE(c.SendRaw(frame.substr(0, 8)).ok());
  auto payload = c.ReceiveFrame();  // Refused on its header alone.
  REQUIRE(payload.ok());
  CHECK(payload->find("exceeds the limit") != std::string::npos);
  REQUIRE(c.SendRaw(frame.substr(8)).ok());  // Its rest is read and dropped, then the connection closes.
  CHECK_FALSE(c.ReceiveFrame().ok());
}

TEST_CASE("RPC: a client that sends an oversize frame in full still reads why it was refused") {
  // The server must not close while the rest of the frame is arriving: closing a socket
  // with unread bytes sends a reset, which can destroy the error frame before the client
  // reads it (the client is still writing). It reads the frame's rest away, then closes.
  ServeOptions o;
  o.rpc_max_frame_bytes = 1 << 20;
  RunningServer rs("rpc-oversize-full", o);
  RpcClient c = Connect(*rs.server);
  REQUIRE(c.Ping().ok());  // Authenticated (if auth is on): the 1 MiB limit applies, not the pre-auth one.
  REQUIRE(c.SendRaw(EncodeFrame(std::string(8 << 20, 'x'))).ok());
  auto payload = c.ReceiveFrame();
  REQUIRE_MESSAGE(payload.ok(), payload.status().ToString());
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
  // True once the debug state's `key` is 1; false if 30 s pass first.
  auto await_state = [&](const char* key) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (nlohmann::json::parse(HttpCall(*hs, "GET", "/v1/_debug/state").body)[key] != 1) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  };
  // Ends the block (the blocker thread must be joined before the test can fail).
  auto release = [&] {
    const int status = HttpCall(*hs, "POST", "/v1/_debug/release").status;
    blocker.join();
    return status;
  };
  if (!await_state("blocked")) {
    release();
    FAIL("the debug route never held the worker");
  }
  RpcClient c = Connect(*rs.server);
  RpcSearchOptions so;
  so.deadline_ms = 1;
  std::vector<float> q = {0, 0};
  Status sent = c.SendSearch(7, "docs", q, so);
  // Once the server has the frame queued (queue depth 1), wait past its deadline, release.
  if (!sent.ok() || !await_state("queued")) {
    release();
    FAIL("the search was not queued: " << sent.ToString());
  }
  // The frame arrived before the server answered "queued": 1, so its 1 ms deadline (counted
  // from arrival, on this process's steady clock) is over once 1 ms more has passed.
  const auto queued_seen = std::chrono::steady_clock::now();
  std::this_thread::sleep_until(queued_seen + std::chrono::milliseconds(so.deadline_ms) + std::chrono::microseconds(1));
  CHECK(release() == 200);
  auto r = c.ReceiveSearch();
  CHECK(r.status().code() == StatusCode::kUnavailable);
  CHECK(r.status().message().find("deadline_exceeded") != std::string::npos);
}

namespace {

std::vector<Point> Points(int n, uint32_t dim) {
  std::vector<Point> pts;
  for (int i = 0; i < n; ++i) {
    char id[16];  // "p" and any int: no -Wformat-truncation
    std::snprintf(id, sizeof(id), "p%03d", i);
    std::vector<float> v(dim, 0.0f);
    v[0] = float(i);
    pts.push_back({id, v, std::string(R"({"genre":")") + (i % 2 ? "jazz" : "rock") + R"(","year":)" +
                              std::to_string(1950 + i) + "}"});
  }
  return pts;
}

}  // namespace

TEST_CASE("RPC scroll pages through every point in id order, with and without a filter") {
  RunningServer rs("rpc-scroll");
  MakeCollection(*rs.server, "docs", 3);
  RpcClient c = Connect(*rs.server);
  REQUIRE(c.Upsert("docs", Points(25, 3)).ok());
  RpcScrollOptions so;
  so.limit = 10;
  std::vector<std::string> seen;
  for (int pages = 0;; ++pages) {
    REQUIRE(pages < 10);
    auto page = c.Scroll("docs", so);
    REQUIRE_MESSAGE(page.ok(), page.status().ToString());
    for (auto& p : page->points) {
      seen.push_back(p.id);
      CHECK(p.vector.empty());  // Not asked for.
      CHECK(p.metadata.find("genre") != std::string::npos);
    }
    if (page->next_cursor.empty()) break;
    CHECK(page->points.size() == 10);
    so.cursor = page->next_cursor;
  }
  REQUIRE(seen.size() == 25);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(seen.front() == "p000");
  // With a filter and vectors.
  RpcScrollOptions fo;
  fo.limit = 100;
  fo.where = R"({"genre": "jazz"})";
  fo.include_vector = true;
  fo.include_metadata = false;
  auto jazz = c.Scroll("docs", fo);
  REQUIRE(jazz.ok());
  REQUIRE(jazz->points.size() == 12);
  CHECK(jazz->points[0].id == "p001");
  CHECK(jazz->points[0].vector == std::vector<float>{1, 0, 0});
  CHECK(jazz->points[0].metadata.empty());
  CHECK(jazz->next_cursor.empty());
  // Errors.
  so = {};
  so.limit = 0;
  CHECK(c.Scroll("docs", so).status().code() == StatusCode::kInvalidArgument);
  so.limit = 10001;
  CHECK(c.Scroll("docs", so).status().code() == StatusCode::kInvalidArgument);
  CHECK(c.Scroll("nope", {}).status().code() == StatusCode::kNotFound);
  fo.where = R"({"genre": {"$nope": 1}})";
  CHECK(c.Scroll("docs", fo).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("RPC count and delete by filter") {
  RunningServer rs("rpc-delete-where");
  MakeCollection(*rs.server, "docs", 3);
  RpcClient c = Connect(*rs.server);
  REQUIRE(c.Upsert("docs", Points(20, 3)).ok());
  CHECK(*c.Count("docs", R"({"genre": "jazz"})") == 10);
  CHECK(*c.Count("docs", R"({"year": {"$gte": 1965}})") == 5);
  auto n = c.DeleteWhere("docs", R"({"year": {"$gte": 1965}})");
  REQUIRE_MESSAGE(n.ok(), n.status().ToString());
  CHECK(*n == 5);
  CHECK(*c.Count("docs") == 15);
  CHECK(*c.DeleteWhere("docs", R"({"year": 3000})") == 0);
  // A bad filter deletes nothing.
  CHECK(c.DeleteWhere("docs", R"({"year": {"$gte": "x", "$bogus": 1}})").status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(c.DeleteWhere("docs", "not json").status().code() == StatusCode::kInvalidArgument);
  CHECK(c.DeleteWhere("nope", R"({"year": 1})").status().code() == StatusCode::kNotFound);
  CHECK(c.Count("docs", "{").status().code() == StatusCode::kInvalidArgument);
  CHECK(*c.Count("docs") == 15);
  // ids and where together, or neither, are refused.
  flatbuffers::FlatBufferBuilder b;
  auto col = b.CreateString("docs");
  auto ids = b.CreateVectorOfStrings({"p000"});
  auto w = b.CreateString(R"({"genre": "rock"})");
  auto d = ::vectron::rpc::CreateDeleteRequest(b, col, ids, w);
  b.Finish(::vectron::rpc::CreateRequest(b, 9, 0, ::vectron::rpc::Body::DeleteRequest, d.Union()));
  REQUIRE(c.SendRaw(EncodeFrame(std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()))).ok());
  auto payload = c.ReceiveFrame();
  REQUIRE(payload.ok());
  CHECK(payload->find("exactly one of ids and where") != std::string::npos);
  CHECK(c.Delete("docs", {}).status().code() == StatusCode::kInvalidArgument);
  CHECK(*c.Count("docs") == 15);
}

TEST_CASE("RPC payload indexes are created, listed, used by filters and dropped") {
  RunningServer rs("rpc-indexes");
  MakeCollection(*rs.server, "docs", 3);
  RpcClient c = Connect(*rs.server);
  REQUIRE(c.Upsert("docs", Points(20, 3)).ok());
  REQUIRE(c.CreateIndex("docs", "genre", "keyword").ok());
  REQUIRE(c.CreateIndex("docs", "year", "integer").ok());
  CHECK(c.CreateIndex("docs", "genre", "keyword").code() == StatusCode::kAlreadyExists);
  CHECK(c.CreateIndex("docs", "x", "colour").code() == StatusCode::kInvalidArgument);
  CHECK(c.CreateIndex("docs", "", "keyword").code() == StatusCode::kInvalidArgument);
  CHECK(c.CreateIndex("nope", "genre", "keyword").code() == StatusCode::kNotFound);
  auto list = c.ListIndexes("docs");
  REQUIRE(list.ok());
  std::set<std::pair<std::string, std::string>> got(list->begin(), list->end());
  CHECK(got == std::set<std::pair<std::string, std::string>>{{"genre", "keyword"}, {"year", "integer"}});
  CHECK(*c.Count("docs", R"({"genre": "rock"})") == 10);
  REQUIRE(c.DropIndex("docs", "genre").ok());
  CHECK(c.DropIndex("docs", "genre").code() == StatusCode::kNotFound);
  CHECK(c.ListIndexes("nope").status().code() == StatusCode::kNotFound);
  list = c.ListIndexes("docs");
  REQUIRE(list.ok());
  REQUIRE(list->size() == 1);
  CHECK((*list)[0] == std::make_pair(std::string("year"), std::string("integer")));
  // Filters work the same without the index.
  CHECK(*c.Count("docs", R"({"genre": "rock"})") == 10);
}

TEST_CASE("RPC lists and describes collections") {
  RunningServer rs("rpc-collections");
  RpcClient c = Connect(*rs.server);
  auto none = c.ListCollections();
  REQUIRE(none.ok());
  CHECK(none->empty());
  MakeCollection(*rs.server, "a", 3);
  MakeCollection(*rs.server, "b", 5);
  REQUIRE(c.Upsert("a", Points(7, 3)).ok());
  auto all = c.ListCollections();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  std::sort(all->begin(), all->end(), [](auto& x, auto& y) { return x.name < y.name; });
  CHECK((*all)[0].name == "a");
  CHECK((*all)[0].dim == 3);
  CHECK((*all)[0].metric == "l2");
  CHECK((*all)[0].count == 7);
  CHECK_FALSE((*all)[0].has_stats);
  CHECK((*all)[1].name == "b");
  CHECK((*all)[1].dim == 5);
  auto d = c.DescribeCollection("a");
  REQUIRE_MESSAGE(d.ok(), d.status().ToString());
  CHECK(d->has_stats);
  CHECK(d->count == 7);
  CHECK(d->stats.count == 7);
  CHECK(d->stats.index_kind == "flat");
  CHECK(d->shards == 1);
  auto cfg = nlohmann::json::parse(d->config_json, nullptr, false);
  REQUIRE(cfg.is_object());
  CHECK(cfg.dump().find("ef_construction") != std::string::npos);
  CHECK(c.DescribeCollection("nope").status().code() == StatusCode::kNotFound);
}

TEST_CASE("RPC requests that fail change nothing: unknown collection, bad filter, wrong dimension, truncated frame") {
  RunningServer rs("rpc-no-change");
  MakeCollection(*rs.server, "docs", 3);
  RpcClient c = Connect(*rs.server);
  REQUIRE(c.Upsert("docs", Points(10, 3)).ok());
  auto snapshot = [&] {
    RpcScrollOptions so;
    so.limit = 1000;
    so.include_vector = true;
    auto page = c.Scroll("docs", so);
    REQUIRE(page.ok());
    std::string out;
    for (auto& p : page->points) {
      out += p.id + "|" + p.metadata + "|";
      for (float f : p.vector) out += std::to_string(f) + ",";
      out += "\n";
    }
    return out;
  };
  const std::string before = snapshot();
  // Unknown collection: writes and deletes.
  CHECK(c.Upsert("nope", Points(1, 3)).status().code() == StatusCode::kNotFound);
  CHECK(c.Delete("nope", {"p000"}).status().code() == StatusCode::kNotFound);
  CHECK(c.DeleteWhere("nope", R"({"genre": "rock"})").status().code() == StatusCode::kNotFound);
  CHECK(c.Search("nope", std::vector<float>{0, 0, 0}, 1, {}).status().code() == StatusCode::kNotFound);
  // Bad filters.
  CHECK(c.DeleteWhere("docs", R"({"genre": {"$in": 5}})").status().code() == StatusCode::kInvalidArgument);
  RpcSearchOptions bad;
  bad.where = "[1, 2";
  CHECK(c.Search("docs", std::vector<float>{0, 0, 0}, 1, bad).status().code() == StatusCode::kInvalidArgument);
  // Wrong dimension: the whole batch is refused, also its well-formed points.
  std::vector<Point> mixed = Points(3, 3);
  mixed.push_back({"p999", {1, 2}, ""});
  mixed[0].metadata = R"({"changed":true})";
  CHECK(c.Upsert("docs", mixed).status().code() == StatusCode::kInvalidArgument);
  CHECK(c.Upsert("docs", Points(2, 4)).status().code() == StatusCode::kInvalidArgument);
  CHECK(c.Search("docs", std::vector<float>{0, 0, 0, 0}, 1, {}).status().code() == StatusCode::kInvalidArgument);
  // A frame carrying a truncated Upsert flatbuffer: refused as not a valid Request.
  {
    flatbuffers::FlatBufferBuilder b;
    auto col = b.CreateString("docs");
    auto ids = b.CreateVectorOfStrings({"p000", "p001"});
    std::vector<float> v(6, 42.0f);
    auto vv = b.CreateVector(v);
    auto u = ::vectron::rpc::CreateUpsertRequest(b, col, ids, vv);
    b.Finish(::vectron::rpc::CreateRequest(b, 11, 0, ::vectron::rpc::Body::UpsertRequest, u.Union()));
    std::string full(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
    for (size_t cut : {full.size() / 2, full.size() - 4, size_t{12}}) {
      REQUIRE(c.SendRaw(EncodeFrame(full.substr(0, cut))).ok());
      auto payload = c.ReceiveFrame();
      REQUIRE(payload.ok());
      CHECK(payload->find("invalid_argument") != std::string::npos);
    }
    CHECK(c.Ping().ok());
    // A frame cut short on the wire, then the connection closed: nothing runs.
    RpcClient c2 = Connect(*rs.server);
    std::string frame = EncodeFrame(full);
    REQUIRE(c2.SendRaw(frame.substr(0, frame.size() - 3)).ok());
  }
  CHECK(c.Ping().ok());
  CHECK(snapshot() == before);
  CHECK(*c.Count("docs") == 10);
}

namespace {

// vectron_inline_requests_total from /metrics.
uint64_t InlinedRequests(Server& s) {
  auto sock = BlockingSocket::Connect("127.0.0.1", s.http_port());
  REQUIRE(sock.ok());
  const std::string body = HttpCall(*sock, "GET", "/metrics").body;
  const std::string key = "\nvectron_inline_requests_total ";
  const size_t at = body.find(key);
  REQUIRE_MESSAGE(at != std::string::npos, body);
  return std::stoull(body.substr(at + key.size()));
}

}  // namespace

TEST_CASE("A lone client's searches run on the event loop, two clients' on the pool, with the same answers") {
  for (bool inline_reads : {true, false}) {
    CAPTURE(inline_reads);
    ServeOptions o;
    o.workers = 2;
    o.inline_reads = inline_reads;
    RunningServer rs("rpc-inline", o);
    MakeCollection(*rs.server, "docs", 2);
    RpcClient a = Connect(*rs.server), b = Connect(*rs.server);
    std::vector<Point> pts;
    for (int i = 0; i < 50; ++i) pts.push_back({std::to_string(i), {float(i), 0}, ""});
    REQUIRE(a.Upsert("docs", pts).ok());
    auto sock = BlockingSocket::Connect("127.0.0.1", rs.server->http_port());
    REQUIRE(sock.ok());
    RpcSearchOptions so;
    so.k = 2;
    auto search = [&](RpcClient& c, int i) {
      std::vector<float> q = {float(i % 50) + 0.1f, 0};
      auto r = c.Search("docs", q, 1, so);
      REQUIRE(r.ok());
      REQUIRE((*r)[0].size() == 2);
      CHECK((*r)[0][0].id == std::to_string(i % 50));
      // The same search over HTTP on its own connection.
      const std::string body = R"({"vector": [)" + std::to_string(q[0]) + R"(, 0], "k": 2})";
      auto h = nlohmann::json::parse(HttpCall(*sock, "POST", "/v1/collections/docs/search", body).body);
      CHECK(h["hits"][0]["id"] == std::to_string(i % 50));
    };
    // Three connections taking turns: every request goes to the pool.
    for (int i = 0; i < 100; ++i) search(i % 2 ? a : b, i);
    CHECK(InlinedRequests(*rs.server) == 0);
    // One connection alone for longer than the gate's window (10 ms): the loop runs its
    // searches itself, unless turned off.
    const auto alone_since = std::chrono::steady_clock::now();
    int n = 0;
    for (; n < 100 || std::chrono::steady_clock::now() - alone_since < std::chrono::milliseconds(50); ++n) {
      std::vector<float> q = {float(n % 50) + 0.1f, 0};
      auto r = a.Search("docs", q, 1, so);
      REQUIRE(r.ok());
      CHECK((*r)[0][0].id == std::to_string(n % 50));
    }
    const uint64_t inlined = InlinedRequests(*rs.server);
    if (inline_reads) {
      CHECK(inlined > 0);
      CHECK(inlined < static_cast<uint64_t>(n));  // The window's first requests went to the pool.
    } else {
      CHECK(inlined == 0);
    }
    // The same over HTTP: one keep-alive connection alone.
    const auto http_since = std::chrono::steady_clock::now();
    for (n = 0; n < 100 || std::chrono::steady_clock::now() - http_since < std::chrono::milliseconds(50); ++n) {
      const std::string body = R"({"vector": [)" + std::to_string(n % 50) + R"(.1, 0], "k": 2})";
      auto h = nlohmann::json::parse(HttpCall(*sock, "POST", "/v1/collections/docs/search", body).body);
      CHECK(h["hits"][0]["id"] == std::to_string(n % 50));
    }
    CHECK((InlinedRequests(*rs.server) > inlined) == inline_reads);
  }
}
