// ServeConsole (net/api/console.cc) without a server: which paths it takes, the headers
// on every answer, gzip negotiation, ETags, and the fallback to index.html. Runs the same
// whether the console was built into the binary or not (then every path is the page
// saying so). The served files end to end: tests/net/test_console.py.
#include <doctest/doctest.h>

#include <string>

#include "net/api/console.h"

using namespace vectron::net;

namespace {

HttpRequest Get(std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  r.target = r.path;
  r.headers = std::move(headers);
  return r;
}

std::string HeaderOf(const HttpResponse& r, const std::string& name) {
  for (auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

const ConsoleFile* Find(std::string_view path) {
  for (const ConsoleFile& f : ConsoleFiles()) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("ServeConsole takes only / (GET), /console and /console/...") {
  HttpResponse r;
  for (const char* other : {"/v1/collections", "/consoles", "/console.js", "/metrics", "/healthz"})
    CHECK_FALSE(ServeConsole(Get(other), &r));
  HttpRequest post = Get("/");
  post.method = "POST";
  CHECK_FALSE(ServeConsole(post, &r));  // The API answers it.
  REQUIRE(ServeConsole(Get("/"), &r));
  CHECK(r.status == 302);
  CHECK(HeaderOf(r, "Location") == "/console/");
  REQUIRE(ServeConsole(Get("/console"), &r));
  CHECK(r.status == 308);
  post.path = "/console/index.html";
  REQUIRE(ServeConsole(post, &r));
  CHECK(r.status == 405);
  CHECK(HeaderOf(r, "Allow") == "GET");
  CHECK(r.route == kConsoleRoute);
}

TEST_CASE("Every console answer carries the security headers and one metrics label") {
  for (const char* path : {"/console/", "/console/keys", "/console/a/b/c", "/console/nope.js", "/console/%00"}) {
    HttpResponse r;
    REQUIRE(ServeConsole(Get(path), &r));
    CAPTURE(path);
    CHECK(r.route == kConsoleRoute);
    std::string csp = HeaderOf(r, "Content-Security-Policy");
    CHECK(csp.find("default-src 'none'") != std::string::npos);
    CHECK(csp.find("script-src 'self'") != std::string::npos);
    CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(csp.find("unsafe") == std::string::npos);
    CHECK(HeaderOf(r, "X-Content-Type-Options") == "nosniff");
    CHECK(HeaderOf(r, "X-Frame-Options") == "DENY");
    CHECK(HeaderOf(r, "Referrer-Policy") == "no-referrer");
  }
}

TEST_CASE("The console's own pages are index.html; a missing file is 404 once built") {
  const ConsoleFile* index = Find("index.html");
  REQUIRE(index != nullptr);
  for (const char* path : {"/console/", "/console/collections/docs/points", "/console/x..y/z"}) {
    HttpResponse r;
    REQUIRE(ServeConsole(Get(path), &r));
    CHECK(r.body == index->body);
    CHECK(r.status == (ConsoleBuilt() ? 200 : 404));
    CHECK(r.content_type == "text/html; charset=utf-8");
    CHECK(HeaderOf(r, "Cache-Control") == "no-cache");
  }
  HttpResponse r;
  REQUIRE(ServeConsole(Get("/console/assets/missing.js"), &r));
  if (ConsoleBuilt()) {
    CHECK(r.status == 404);
    CHECK(r.body.find("no file") != std::string::npos);
  } else {
    CHECK(r.body == index->body);
  }
}

TEST_CASE("Each embedded file is served with its type, ETag, caching and gzip when asked") {
  for (const ConsoleFile& f : ConsoleFiles()) {
    CAPTURE(f.path);
    std::string path = "/console/" + std::string(f.path);
    HttpResponse plain;
    REQUIRE(ServeConsole(Get(path), &plain));
    CHECK(plain.body == f.body);
    CHECK(plain.content_type == f.content_type);
    CHECK(HeaderOf(plain, "ETag") == f.etag);
    CHECK(HeaderOf(plain, "Content-Encoding").empty());
    CHECK(HeaderOf(plain, "Cache-Control") == (f.immutable ? "public, max-age=31536000, immutable" : "no-cache"));
    if (!f.gzip.empty()) {
      for (const char* ae : {"gzip", "deflate, gzip", "br;q=1.0, gzip;q=0.5", "*"}) {
        HttpResponse z;
        REQUIRE(ServeConsole(Get(path, {{"accept-encoding", ae}}), &z));
        CAPTURE(ae);
        CHECK(HeaderOf(z, "Content-Encoding") == "gzip");
        CHECK(z.body == f.gzip);
        CHECK(HeaderOf(z, "Vary") == "Accept-Encoding");
      }
      for (const char* ae : {"", "identity", "gzip;q=0", "gzip; q=0.000", "deflate, br", "xgzip"}) {
        HttpResponse z;
        REQUIRE(ServeConsole(Get(path, {{"accept-encoding", ae}}), &z));
        CAPTURE(ae);
        CHECK(HeaderOf(z, "Content-Encoding").empty());
        CHECK(z.body == f.body);
      }
    }
    if (plain.status == 200) {
      HttpResponse again;
      REQUIRE(ServeConsole(Get(path, {{"if-none-match", std::string(f.etag)}}), &again));
      CHECK(again.status == 304);
      CHECK(again.body.empty());
      HttpResponse other;
      REQUIRE(ServeConsole(Get(path, {{"if-none-match", "\"something-else\""}}), &other));
      CHECK(other.status == 200);
    }
  }
}
