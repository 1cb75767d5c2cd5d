// The binary RPC with auth on, over real loopback sockets against an in-process server
// with its secure defaults (TLS with the generated certificate, tokens required).
#include <doctest/doctest.h>

#include "net/rpc/frame.h"
#include "net/rpc/rpc_client.h"
#include "net/rpc/rpc_server.h"
#include "test_util.h"

using namespace vectron;
using namespace vectron::net;
using namespace vectron::net::testing;

namespace {

struct SecureServer {
  RunningServer rs;
  Authenticator& auth;
  Principal admin;

  static ServeOptions Options() {
    ServeOptions o;
    o.admin_password = "rpc-admin-password";
    return o;
  }
  SecureServer() : rs("rpc-auth", Options(), false, /*secure=*/true), auth(*rs.server->authenticator()) {
    auto t = auth.Login("admin", "rpc-admin-password", "127.0.0.1:1");
    REQUIRE(t.ok());
    REQUIRE(auth.Authenticate("Bearer " + t->token, &admin).ok());
    CollectionConfig cfg;
    cfg.dim = 2;
    cfg.metric = Metric::kL2;
    REQUIRE(rs.server->database().CreateCollection("docs", cfg).ok());
    REQUIRE(rs.server->database().CreateCollection("other", cfg).ok());
  }
  std::string Key(unsigned scopes, std::optional<std::vector<std::string>> collections = std::nullopt) {
    auto k = auth.CreateKey(admin, "rpc", scopes, std::move(collections), 0, "");
    REQUIRE(k.ok());
    return k->token;
  }
  RpcClient Connect(const std::string& token) {
    RpcClientOptions o;
    o.tls = true;
    o.tls_options.ca_file = rs.dir + "/data/tls/cert.pem";  // The generated certificate, checked.
    o.token = token;
    auto c = RpcClient::Connect("127.0.0.1", rs.server->rpc_port(), o);
    REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    return std::move(c).value();
  }
};

std::vector<Point> OnePoint() { return {{"a", {1, 2}, ""}}; }

// The client reports a refusal with the Status code of its name (unauthenticated,
// permission_denied), the message starting with that name.
bool Refused(const Status& s, const char* code, const char* fragment = "") {
  return StatusCodeName(s.code()) == code && s.message().rfind(code, 0) == 0 &&
         s.message().find(fragment) != std::string::npos;
}

}  // namespace

TEST_CASE("RPC with auth: requests without a valid token are refused, Ping needs none") {
  SecureServer s;
  RpcClient anon = s.Connect("");
  CHECK(anon.Ping().ok());
  auto n = anon.Count("docs");
  REQUIRE_FALSE(n.ok());
  CHECK(Refused(n.status(), "unauthenticated", "missing token"));
  RpcClient bad = s.Connect("not.a.token");
  CHECK(Refused(bad.Count("docs").status(), "unauthenticated", "invalid token"));
  // A login token is for the console, not the data API.
  auto login = s.auth.Login("admin", "rpc-admin-password", "");
  REQUIRE(login.ok());
  RpcClient console = s.Connect(login->token);
  CHECK(Refused(console.Count("docs").status(), "permission_denied", "login tokens"));
}

TEST_CASE("RPC with auth: scopes and collection allow-lists hold on every call") {
  SecureServer s;
  RpcClient rw = s.Connect(s.Key(kScopeRead | kScopeWrite));
  REQUIRE(rw.Upsert("docs", OnePoint()).ok());
  CHECK(*rw.Count("docs") == 1);

  RpcClient ro = s.Connect(s.Key(kScopeRead));
  CHECK(*ro.Count("docs") == 1);
  std::vector<float> q = {1, 2};
  CHECK(ro.Search("docs", q, 1, {}).ok());
  CHECK(ro.Get("docs", {"a"}).ok());
  CHECK(ro.Scroll("docs").ok());
  CHECK(Refused(ro.Upsert("docs", OnePoint()).status(), "permission_denied", "lacks the \"write\" scope"));
  CHECK(Refused(ro.Delete("docs", {"a"}).status(), "permission_denied", "write"));

  RpcClient wo = s.Connect(s.Key(kScopeWrite));
  CHECK(wo.Upsert("docs", OnePoint()).ok());
  CHECK(Refused(wo.Count("docs").status(), "permission_denied", "lacks the \"read\" scope"));

  RpcClient docs_only = s.Connect(s.Key(kScopeRead | kScopeWrite, std::vector<std::string>{"docs"}));
  CHECK(docs_only.Count("docs").ok());
  CHECK(Refused(docs_only.Count("other").status(), "permission_denied", "may not access collection \"other\""));
  CHECK(Refused(docs_only.Upsert("other", OnePoint()).status(), "permission_denied", "other"));
  auto list = docs_only.ListCollections();
  REQUIRE(list.ok());
  REQUIRE(list->size() == 1);
  CHECK((*list)[0].name == "docs");
  CHECK(ro.ListCollections()->size() == 2);
}

TEST_CASE("RPC with auth: a revoked key stops working on the next request") {
  SecureServer s;
  auto k = s.auth.CreateKey(s.admin, "rpc", kScopeRead, std::nullopt, 0, "");
  REQUIRE(k.ok());
  RpcClient c = s.Connect(k->token);
  CHECK(c.Count("docs").ok());
  CHECK(c.Count("docs").ok());  // Served from the verified-token cache.
  REQUIRE(s.auth.RevokeKey(s.admin, k->key_id, "").ok());
  CHECK(Refused(c.Count("docs").status(), "unauthenticated", "was revoked"));
}

namespace {

std::string Deep(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  s += std::string(depth, '}');
  return s;
}

}  // namespace

TEST_CASE("RPC with auth: 100,000-deep metadata and filters are invalid_argument, and the server lives") {
  SecureServer s;
  RpcClient c = s.Connect(s.Key(kScopeRead | kScopeWrite));
  std::vector<Point> pts = {{"a", {1, 2}, "{\"ok\": 1}"}, {"deep", {1, 2}, Deep(100000)}};
  auto up = c.Upsert("docs", pts);  // A 600 KB frame: the client proves its token first.
  REQUIRE_FALSE(up.ok());
  CHECK(up.status().IsInvalidArgument());
  CHECK_MESSAGE(up.status().message().find("metadata is nested deeper than 128 levels") != std::string::npos,
                up.status().message());
  auto n = c.Count("docs", Deep(100000));
  REQUIRE_FALSE(n.ok());
  CHECK(n.status().IsInvalidArgument());
  auto dup = c.Count("docs", R"({"a": 1, "a": 2})");
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.status().message().find("repeats the key") != std::string::npos);
  CHECK(c.Ping().ok());
  CHECK(*c.Count("docs") == 0);  // The batch wrote nothing.
}

TEST_CASE("RPC with auth: frames over 64 KiB are read only once the connection showed a valid token") {
  SecureServer s;
  // Unauthenticated: the large frame is answered from its header and skipped; the
  // connection stays usable.
  RpcClient anon = s.Connect("");
  std::string big(kRpcPreauthFrameBytes + 1, '\0');
  REQUIRE(anon.SendRaw(EncodeFrame(big)).ok());
  auto reply = anon.ReceiveFrame();
  REQUIRE(reply.ok());
  CHECK(reply->find("unauthenticated") != std::string::npos);
  CHECK(reply->find("need a connection on which a request carried a valid token") != std::string::npos);
  CHECK(anon.Ping().ok());
  // A bad token does not lift the limit: the client's proving Ping is refused.
  RpcClient bad = s.Connect("not.a.token");
  std::vector<Point> many;
  for (int i = 0; i < 5000; ++i) many.push_back({"p" + std::to_string(i), {1.0f * i, 2}, ""});
  auto refused = bad.Upsert("docs", many);  // ~120 KB.
  REQUIRE_FALSE(refused.ok());
  CHECK(Refused(refused.status(), "unauthenticated", "invalid token"));
  // A valid key: RpcClient pings with it first, then the large frame is read.
  RpcClient rw = s.Connect(s.Key(kScopeRead | kScopeWrite));
  auto written = rw.Upsert("docs", many);
  REQUIRE_MESSAGE(written.ok(), written.status().ToString());
  CHECK(*written == 5000);
  // Raw: a small request with a valid token lifts the limit for the connection.
  RpcClient raw = s.Connect("");
  raw.set_token(s.Key(kScopeRead));
  REQUIRE(raw.Ping().ok());
  REQUIRE(raw.SendRaw(EncodeFrame(big)).ok());
  reply = raw.ReceiveFrame();
  REQUIRE(reply.ok());
  CHECK(reply->find("not a valid Request") != std::string::npos);  // Read, then refused as garbage.
}
