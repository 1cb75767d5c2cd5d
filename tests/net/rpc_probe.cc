// rpc_probe: one call of the binary RPC (net/rpc/rpc_client.h) from the command line,
// printing its result as one JSON line, for the Python tests of the gateway's RPC port.
//
//   rpc_probe HOST:PORT [--token T] [--ca CERT.pem] CALL ARGS...
//     ping
//     list
//     upsert COLLECTION ID=v1,v2,... [ID=...]      -> {"count": n}
//     search COLLECTION K v1,v2,... [WHERE]         -> {"hits": [[id, score], ...]}
//     count COLLECTION [WHERE]                      -> {"count": n}
//     get COLLECTION ID...                          -> {"points": [{"id", "found", "vector"}]}
//     delete COLLECTION ID...                       -> {"count": n}
// An error prints {"error": CODE, "message": TEXT} and exits 1.
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/io/tcp.h"
#include "net/rpc/rpc_client.h"

using namespace vectron;
using nlohmann::json;

namespace {

int Print(const json& j) {
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

int Error(const Status& s) {
  std::printf("%s\n", json{{"error", StatusCodeName(s.code())}, {"message", s.message()}}.dump().c_str());
  return 1;
}

std::vector<float> Floats(const std::string& text) {
  std::vector<float> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stof(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() < 2) {
    std::fprintf(stderr, "usage: rpc_probe HOST:PORT [--token T] CALL ARGS...\n");
    return 2;
  }
  auto hp = net::ParseHostPort(args[0]);
  if (!hp.ok()) return Error(hp.status());
  net::RpcClientOptions options;
  size_t at = 1;
  for (;;) {
    if (args[at] == "--token" && at + 1 < args.size()) {
      options.token = args[at + 1];
    } else if (args[at] == "--ca" && at + 1 < args.size()) {  // TLS, trusting this certificate
      options.tls = true;
      options.tls_options.ca_file = args[at + 1];
    } else {
      break;
    }
    at += 2;
  }
  auto client = net::RpcClient::Connect(hp->first, hp->second, options);
  if (!client.ok()) return Error(client.status());
  const std::string call = args.at(at);
  std::vector<std::string> rest(args.begin() + static_cast<long>(at) + 1, args.end());
  auto arg = [&](size_t i) { return i < rest.size() ? rest[i] : std::string(); };
  if (call == "ping") {
    if (Status s = client->Ping(); !s.ok()) return Error(s);
    return Print(json{{"ok", true}});
  }
  if (call == "list") {
    auto list = client->ListCollections();
    if (!list.ok()) return Error(list.status());
    json names = json::array();
    for (auto& c : *list) names.push_back(json{{"name", c.name}, {"dim", c.dim}, {"count", c.count}});
    return Print(json{{"collections", names}});
  }
  if (call == "upsert") {
    std::vector<Point> points;
    for (size_t i = 1; i < rest.size(); ++i) {
      const auto eq = rest[i].find('=');
      Point p;
      p.id = rest[i].substr(0, eq);
      p.vector = Floats(rest[i].substr(eq + 1));
      points.push_back(std::move(p));
    }
    auto n = client->Upsert(arg(0), points);
    if (!n.ok()) return Error(n.status());
    return Print(json{{"count", *n}});
  }
  if (call == "search") {
    net::RpcSearchOptions so;
    so.k = std::atoi(arg(1).c_str());
    so.where = arg(3);
    const std::vector<float> q = Floats(arg(2));
    auto res = client->Search(arg(0), q, 1, so);
    if (!res.ok()) return Error(res.status());
    json hits = json::array();
    for (auto& h : res->at(0)) hits.push_back(json::array({h.id, h.score}));
    return Print(json{{"hits", hits}});
  }
  if (call == "count") {
    auto n = client->Count(arg(0), arg(1));
    if (!n.ok()) return Error(n.status());
    return Print(json{{"count", *n}});
  }
  if (call == "get") {
    auto pts = client->Get(arg(0), std::vector<std::string>(rest.begin() + 1, rest.end()));
    if (!pts.ok()) return Error(pts.status());
    json out = json::array();
    for (size_t i = 0; i < pts->size(); ++i) {
      const auto& p = (*pts)[i];
      out.push_back(json{{"id", rest[i + 1]}, {"found", p.has_value()}, {"vector", p ? p->vector : std::vector<float>{}}});
    }
    return Print(json{{"points", out}});
  }
  if (call == "delete") {
    auto n = client->Delete(arg(0), std::vector<std::string>(rest.begin() + 1, rest.end()));
    if (!n.ok()) return Error(n.status());
    return Print(json{{"count", *n}});
  }
  std::fprintf(stderr, "rpc_probe: unknown call %s\n", call.c_str());
  return 2;
}
