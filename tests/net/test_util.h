// Helpers for the net tests: a temp dir, an in-process server on free ports, and a
// minimal blocking HTTP/1.1 client.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "net/http/http_client.h"
#include "net/io/blocking_socket.h"
#include "temp_dir.h"
#include "net/server.h"

namespace vectron::net::testing {

// A Server on 127.0.0.1:0 (both ports) running on its own thread.
struct RunningServer {
  std::string dir;
  std::unique_ptr<Server> server;
  std::thread thread;

  // `keep_addresses`: listen on o.http_address / o.rpc_address as given, not 127.0.0.1:0.
  // `secure`: keep TLS and auth as `o` says (default: plain, no auth, see below).
  explicit RunningServer(const std::string& name, ServeOptions o = {}, bool keep_addresses = false,
                         bool secure = false)
      : dir(TempDir(name)) {
    o.data_dir = dir + "/data";
    if (!keep_addresses) {
      o.http_address = "127.0.0.1:0";
      o.rpc_address = "127.0.0.1:0";
    }
    o.log_requests = false;
    if (!secure) {
      // These tests are about other things: plain loopback, no tokens (the auth tests
      // pass secure = true).
      o.insecure_http = o.tls_cert.empty();
      o.auth = false;
    }
    auto s = Server::Open(o);
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    server = std::move(s).value();
    thread = std::thread([this] { server->Run(false); });
  }
  ~RunningServer() {
    Stop();
    std::filesystem::remove_all(dir);
  }
  void Stop() {
    if (!thread.joinable()) return;
    server->Shutdown();
    thread.join();
    server.reset();
  }
};

// Sends one request on `sock` and reads one Content-Length-framed response.
inline HttpReply HttpCall(BlockingSocket& sock, const std::string& method, const std::string& path,
                          const std::string& body = "") {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n\r\n" + body;
  REQUIRE(sock.SendAll(req).ok());
  std::string buf;
  size_t hdr_end;
  while ((hdr_end = buf.find("\r\n\r\n")) == std::string::npos) {
    auto n = sock.RecvSome(&buf);
    REQUIRE(n.ok());
    REQUIRE(*n > 0);
  }
  HttpReply r;
  r.status = std::stoi(buf.substr(9, 3));
  auto cl = buf.find("Content-Length: ");
  REQUIRE(cl < hdr_end);
  size_t len = std::stoul(buf.substr(cl + 16));
  std::string rest = buf.substr(hdr_end + 4);
  if (rest.size() < len) REQUIRE(sock.RecvExact(len - rest.size(), &rest).ok());
  r.body = rest;
  return r;
}

}  // namespace vectron::net::testing
