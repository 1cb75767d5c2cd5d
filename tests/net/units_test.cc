// Unit tests of the net building blocks: frames, routing, the worker pool, the loop.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "net/api/request_json.h"
#include "net/api/rest_api.h"
#include "net/http/router.h"
#include "net/io/connection_limiter.h"
#include "net/io/event_loop.h"
#include "net/io/inline_gate.h"
#include "net/io/worker_pool.h"
#include "net/rpc/frame.h"
#include "net/rpc/rpc_client.h"

using namespace vectron;
using namespace vectron::net;

TEST_CASE("FrameDecoder yields the same frames whether fed byte by byte or in random splits") {
  std::vector<std::string> payloads = {"", "a", std::string(1000, 'x'), "hello", std::string(70000, 'z')};
  std::string stream;
  for (auto& p : payloads) stream += EncodeFrame(p);
  {
    FrameDecoder d(1 << 20);
    std::vector<std::string> got;
    for (char c : stream) REQUIRE(d.Feed(std::string_view(&c, 1), &got).ok());
    CHECK(got == payloads);
    CHECK_FALSE(d.mid_frame());
  }
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    FrameDecoder d(1 << 20);
    std::vector<std::string> got;
    size_t pos = 0;
    while (pos < stream.size()) {
      size_t n = std::min<size_t>(stream.size() - pos, rng() % 5000 + 1);
      REQUIRE(d.Feed(std::string_view(stream).substr(pos, n), &got).ok());
      pos += n;
    }
    CHECK(got == payloads);
  }
}

TEST_CASE("FrameDecoder refuses a frame declaring more than its limit") {
  FrameDecoder d(100);
  std::vector<std::string> got;
  Status s = d.Feed(EncodeFrame(std::string(101, 'x')).substr(0, 4), &got);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message().find("101") != std::string::npos);
  CHECK(got.empty());
}

TEST_CASE("FrameDecoder reports an oversize frame from its header and skips its payload without keeping it") {
  FrameDecoder d(100);
  std::string stream = EncodeFrame("small") + EncodeFrame(std::string(5000, 'x')) + EncodeFrame("after");
  std::vector<std::string> got;
  std::mt19937 rng(11);
  size_t pos = 0, oversize = 0;
  while (pos < stream.size()) {
    size_t n = std::min<size_t>(stream.size() - pos, rng() % 700 + 1);
    d.Append(std::string_view(stream).substr(pos, n));
    pos += n;
    for (;;) {
      std::string frame;
      size_t declared = 0;
      FrameDecoder::Next next = d.Take(&frame, &declared);
      if (next == FrameDecoder::Next::kNeedMore) break;
      if (next == FrameDecoder::Next::kFrame) {
        got.push_back(frame);
      } else {
        CHECK(declared == 5000);
        ++oversize;
        d.SkipPayload(declared);
      }
    }
    CHECK(d.mid_frame() == (pos < stream.size()));
  }
  CHECK(oversize == 1);
  CHECK(got == std::vector<std::string>{"small", "after"});
  // The limit can change between frames: what was refused is taken once allowed.
  FrameDecoder e(10);
  std::string frame;
  size_t declared = 0;
  e.Append(EncodeFrame(std::string(50, 'y')).substr(0, 4));
  CHECK(e.Take(&frame, &declared) == FrameDecoder::Next::kOversize);
  e.SkipPayload(declared);
  e.set_max_frame_bytes(100);
  e.Append(std::string(50, 'y') + EncodeFrame(std::string(50, 'z')));
  CHECK(e.Take(&frame, &declared) == FrameDecoder::Next::kFrame);
  CHECK(frame == std::string(50, 'z'));
  CHECK_FALSE(e.mid_frame());
}

TEST_CASE("ConnectionLimiter caps connections in total and per address and gives slots back") {
  ConnectionLimiter l(3, 2);
  CHECK(l.Acquire("10.0.0.1"));
  CHECK(l.Acquire("10.0.0.1"));
  CHECK_FALSE(l.Acquire("10.0.0.1"));  // Per address.
  CHECK(l.Acquire("10.0.0.2"));
  CHECK_FALSE(l.Acquire("10.0.0.3"));  // In total.
  CHECK(l.refused_ip_cap() == 1);
  CHECK(l.refused_total_cap() == 1);
  CHECK(l.open() == 3);
  l.Release("10.0.0.1");
  CHECK(l.open_from("10.0.0.1") == 1);
  CHECK(l.Acquire("10.0.0.3"));
  l.Release("10.0.0.2");
  CHECK(l.open_from("10.0.0.2") == 0);
  ConnectionLimiter none(0, 0);
  for (int i = 0; i < 1000; ++i) CHECK(none.Acquire("x"));
}

TEST_CASE("Router matches patterns, extracts parameters and reports allowed methods") {
  Router<int> r;
  r.Add("GET", "/v1/collections", 1);
  r.Add("POST", "/v1/collections", 2);
  r.Add("GET", "/v1/collections/{name}", 3);
  r.Add("DELETE", "/v1/collections/{name}/indexes/{field}", 4);
  auto m = r.Find("GET", "/v1/collections/docs");
  REQUIRE(m.route);
  CHECK(m.route->handler == 3);
  CHECK(m.params == PathParams{{"name", "docs"}});
  m = r.Find("DELETE", "/v1/collections/docs/indexes/meta.year");
  REQUIRE(m.route);
  CHECK(m.params == PathParams{{"name", "docs"}, {"field", "meta.year"}});
  m = r.Find("PUT", "/v1/collections");
  CHECK_FALSE(m.route);
  CHECK(m.allow == "GET, POST");
  CHECK_FALSE(r.Find("GET", "/v1/collections/").route);
  CHECK_FALSE(r.Find("GET", "/v1/collections/a/b").route);
  CHECK_FALSE(r.Find("GET", "/v1").route);
  CHECK(r.Find("GET", "/v2/x").allow.empty());
}

TEST_CASE("WorkerPool::WaitIdle returns once every queued and running task has ended") {
  WorkerPool pool(2, 100);
  pool.WaitIdle();  // Idle from the start: at once.
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) REQUIRE(pool.TrySubmit([&] { ++ran; }));
  pool.WaitIdle();
  CHECK(ran.load() == 100);
  CHECK(pool.idle());
}

TEST_CASE("WorkerPool refuses work past its queue bound and runs what it accepted") {
  std::atomic<int> ran{0};
  std::mutex mu;
  std::condition_variable cv;
  bool open = false, started = false;
  {
    WorkerPool pool(1, 2);
    auto gate = [&] {
      std::unique_lock l(mu);
      started = true;
      cv.notify_all();
      cv.wait(l, [&] { return open; });
      ++ran;
    };
    REQUIRE(pool.TrySubmit(gate));
    {
      // Until the worker has taken the first task (told by the task itself).
      std::unique_lock l(mu);
      REQUIRE(cv.wait_for(l, std::chrono::seconds(10), [&] { return started; }));
    }
    REQUIRE(pool.running() == 1);
    CHECK(pool.TrySubmit([&] { ++ran; }));
    CHECK(pool.TrySubmit([&] { ++ran; }));
    CHECK_FALSE(pool.TrySubmit([&] { ++ran; }));
    CHECK(pool.queued() == 2);
    {
      std::lock_guard l(mu);
      open = true;
    }
    cv.notify_all();
  }  // Destructor drains the queue.
  CHECK(ran == 3);
}

TEST_CASE("InlineGate lets the loop run a light request only for a lone client with the workers idle") {
  using std::chrono::microseconds;
  WorkerPool pool(1, 4);
  const auto t0 = std::chrono::steady_clock::now();
  auto at = [&](int us) { return t0 + microseconds(us); };
  InlineGate gate(pool, true, microseconds(1000));
  // A new connection waits out the window before its requests run inline.
  CHECK_FALSE(gate.TryEnter(1, true, at(0)));
  CHECK_FALSE(gate.TryEnter(1, true, at(999)));
  CHECK(gate.TryEnter(1, true, at(1000)));
  CHECK(gate.TryEnter(1, true, at(5000)));
  CHECK_FALSE(gate.TryEnter(1, false, at(5001)));  // Not light: the pool, but recorded.
  CHECK(gate.TryEnter(1, true, at(5002)));
  // A second active connection sends both to the pool until one is alone again.
  CHECK_FALSE(gate.TryEnter(2, true, at(5100)));
  CHECK_FALSE(gate.TryEnter(1, true, at(5200)));
  CHECK_FALSE(gate.TryEnter(2, true, at(5300)));
  CHECK_FALSE(gate.TryEnter(2, true, at(6299)));
  CHECK(gate.TryEnter(2, true, at(6300)));
  CHECK(gate.inlined() == 4);
  // Work in the pool (running or queued) keeps requests off the loop.
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  REQUIRE(pool.TrySubmit([&] {
    std::unique_lock l(mu);
    cv.wait(l, [&] { return open; });
  }));
  CHECK_FALSE(pool.idle());
  CHECK_FALSE(gate.TryEnter(2, true, at(9000)));
  {
    std::lock_guard l(mu);
    open = true;
  }
  cv.notify_all();
  pool.WaitIdle();
  REQUIRE(pool.idle());
  CHECK(gate.TryEnter(2, true, at(9001)));
  // Turned off (--no-inline-reads): never.
  InlineGate off(pool, false, microseconds(0));
  CHECK_FALSE(off.TryEnter(3, true, at(20000)));
  CHECK_FALSE(off.TryEnter(3, true, at(90000)));
  CHECK(off.inlined() == 0);
}

TEST_CASE("EventLoop runs posted functions in order, from other threads concurrently") {
  EventLoop loop;
  std::vector<int> seen;
  std::atomic<int> total{0};
  constexpr int kThreads = 4, kPer = 500;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        loop.Post([&, t, i] {
          if (t == 0) seen.push_back(i);
          if (++total == kThreads * kPer) loop.Stop();
        });
      }
    });
  }
  loop.Run();
  for (auto& t : ts) t.join();
  CHECK(total == kThreads * kPer);
  REQUIRE(seen.size() == kPer);
  for (int i = 0; i < kPer; ++i) CHECK(seen[i] == i);
}

TEST_CASE("EventLoop busy polling: polls after activity instead of sleeping, and Stop still ends it") {
  // A window far longer than the test: once the activity counter moved, the loop must not
  // sleep again before Stop (whose posted function is what ends the polling here).
  EventLoop loop;
  uint64_t activity = 0;  // Loop thread only.
  loop.SetBusyPoll(std::chrono::seconds(60), [&] { return activity; });
  std::atomic<bool> moved{false};
  uint64_t polls_when_stopped = 0;
  loop.Post([&] {
    CHECK(loop.busy_polls() == 0);  // Nothing happened yet: the loop slept until this arrived.
    ++activity;
    moved = true;
  });
  std::thread other([&] {
    while (!moved) std::this_thread::yield();
    loop.Post([&] {
      polls_when_stopped = loop.busy_polls();
      loop.Stop();
    });
  });
  loop.Run();  // Returns at Stop, long before the window ends.
  other.join();
  CHECK(polls_when_stopped > 0);

  // No activity: the loop sleeps between events and never polls.
  EventLoop quiet;
  quiet.SetBusyPoll(std::chrono::seconds(60), [] { return uint64_t{7}; });
  int ran = 0;
  for (int i = 0; i < 3; ++i) quiet.Post([&] { ++ran; });
  quiet.Post([&] { quiet.Stop(); });
  quiet.Run();
  CHECK(ran == 3);
  CHECK(quiet.busy_polls() == 0);
}

TEST_CASE("Every status maps to one HTTP status: 400, 401, 403, 404, 409, 429, 503, 507, 500") {
  CHECK(HttpStatusFor(StatusCode::kOk) == 200);
  CHECK(HttpStatusFor(StatusCode::kInvalidArgument) == 400);
  CHECK(HttpStatusFor(StatusCode::kNotFound) == 404);
  CHECK(HttpStatusFor(StatusCode::kAlreadyExists) == 409);
  CHECK(HttpStatusFor(StatusCode::kFailedPrecondition) == 409);
  CHECK(HttpStatusFor(StatusCode::kAborted) == 409);
  // Storage (a full LMDB map, a full disk) or memory, not a rate limit (issue 20): 507.
  CHECK(HttpStatusFor(StatusCode::kResourceExhausted) == 507);
  CHECK(HttpStatusFor(StatusCode::kUnavailable) == 503);
  CHECK(HttpStatusFor(StatusCode::kCancelled) == 503);
  CHECK(HttpStatusFor(StatusCode::kCorruption) == 500);
  CHECK(HttpStatusFor(StatusCode::kIOError) == 500);
  CHECK(HttpStatusFor(StatusCode::kInternal) == 500);
  CHECK(HttpStatusFor(StatusCode::kUnauthenticated) == 401);
  CHECK(HttpStatusFor(StatusCode::kPermissionDenied) == 403);
  CHECK(HttpStatusFor(StatusCode::kRateLimited) == 429);
  HttpResponse r = StatusResponse(Status::ResourceExhausted("LMDB map full"));
  CHECK(r.status == 507);
  CHECK(r.body.find("\"resource_exhausted\"") != std::string::npos);
  CHECK(r.body.find("LMDB map full") != std::string::npos);
  CHECK(StatusResponse(Status::Unavailable("busy")).status == 503);
  HttpResponse denied = StatusResponse(Status::Unauthenticated("no token"));
  CHECK(denied.status == 401);
  CHECK(denied.body.find("\"unauthenticated\"") != std::string::npos);
  bool challenge = false;
  for (auto& [k, v] : denied.headers) challenge |= k == "WWW-Authenticate" && v == "Bearer realm=\"vectron\"";
  CHECK(challenge);
  HttpResponse limited = StatusResponse(Status::RateLimited("slow down", 42));
  CHECK(limited.status == 429);
  CHECK(limited.body.find("\"rate_limited\"") != std::string::npos);
  bool retry = false;
  for (auto& [k, v] : limited.headers) retry |= k == "Retry-After" && v == "42";
  CHECK(retry);
  // Every code has a name and a status of its own table row.
  for (int c = 0; c <= static_cast<int>(StatusCode::kRateLimited); ++c)
    CHECK(StatusCodeName(static_cast<StatusCode>(c)) != "unknown");
}

TEST_CASE("The RPC client maps the server's auth codes to their Status codes") {
  CHECK(RpcStatus("unauthenticated", "x").code() == StatusCode::kUnauthenticated);
  CHECK(RpcStatus("permission_denied", "x").code() == StatusCode::kPermissionDenied);
  CHECK(RpcStatus("rate_limited", "x").code() == StatusCode::kRateLimited);
  CHECK(RpcStatus("resource_exhausted", "x").code() == StatusCode::kResourceExhausted);
  CHECK(RpcStatus("unauthenticated", "bad token").message() == "unauthenticated: bad token");
}

TEST_CASE("QueryValue decodes one parameter and refuses unknown ones, too many and bad encodings") {
  CHECK(QueryValue("point_id=a%2Fb+c&limit=5", "point_id", {"point_id", "limit"}) == "a/b c");
  CHECK(QueryValue("point_id=a&limit=5", "limit", {"point_id", "limit"}) == "5");
  CHECK(QueryValue("limit=5", "point_id", {"point_id", "limit"}) == std::nullopt);
  CHECK(QueryValue("point_id", "point_id", {"point_id"}) == "");
  CHECK(QueryValue("", "point_id", {"point_id"}) == std::nullopt);
  auto message = [](const std::string& query) {
    try {
      QueryValue(query, "limit", {"limit"});
    } catch (const ApiError& e) {
      CHECK(e.status.code() == vectron::StatusCode::kInvalidArgument);
      return e.status.message();
    }
    return std::string("accepted");
  };
  CHECK(message("limit=1&secret=2") == "unknown query parameter \"secret\"");
  CHECK(message("limit=%zz") == "bad percent-encoding in the query string");
  CHECK(message("limit=%4") == "bad percent-encoding in the query string");
  std::string many;
  for (int i = 0; i < 17; ++i) many += (i ? "&" : "") + std::string("limit=1");
  CHECK(message(many) == "too many query parameters");
  CHECK(message("limit=%41") == "accepted");
}
