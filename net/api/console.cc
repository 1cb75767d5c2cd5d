#include "net/api/console.h"

#include <algorithm>

namespace vectron::net {

namespace {

constexpr std::string_view kPrefix = "/console/";

const ConsoleFile* Find(std::string_view rel) {
  for (const ConsoleFile& f : ConsoleFiles()) {
    if (f.path == rel) return &f;
  }
  return nullptr;
}

// True unless the client did not list gzip, or refused it with q=0.
bool AcceptsGzip(std::string_view accept_encoding) {
  size_t pos = 0;
  while (pos <= accept_encoding.size()) {
    size_t comma = accept_encoding.find(',', pos);
    std::string_view item = accept_encoding.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    std::string_view coding = item.substr(0, item.find(';'));
    while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
    if (coding == "gzip" || coding == "*") {
      size_t q = item.find("q=");
      if (q == std::string_view::npos) return true;
      std::string_view v = item.substr(q + 2);
      // q=0, q=0.0, q=0.00, q=0.000: refused.
      bool zero = !v.empty() && v.front() == '0' &&
                  std::all_of(v.begin() + 1, v.end(), [](char c) { return c == '.' || c == '0' || c == ' '; });
      return !zero;
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

HttpResponse Redirect(int status, std::string location) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = "see " + location + "\n";
  r.headers.emplace_back("Location", std::move(location));
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

void AddSecurityHeaders(HttpResponse* r) {
  for (const auto& h : ConsoleSecurityHeaders()) r->headers.push_back(h);
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& ConsoleSecurityHeaders() {
  static const std::vector<std::pair<std::string, std::string>> kHeaders = {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
       "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
      {"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"},
  };
  return kHeaders;
}

bool ServeConsole(const HttpRequest& req, HttpResponse* out) {
  const std::string& path = req.path;
  if (path == "/" || path == "/console") {
    if (req.method != "GET") return false;  // The API answers 404/405.
    *out = Redirect(path == "/" ? 302 : 308, std::string(kPrefix));
    out->route = std::string(kConsoleRoute);
    return true;
  }
  if (path.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  HttpResponse r;
  r.route = std::string(kConsoleRoute);
  if (req.method != "GET") {
    r = JsonError(405, "method_not_allowed", req.method + " is not allowed on " + path + " (allowed: GET)");
    r.route = std::string(kConsoleRoute);
    r.headers.emplace_back("Allow", "GET");
    AddSecurityHeaders(&r);
    *out = std::move(r);
    return true;
  }
  std::string_view rel = std::string_view(path).substr(kPrefix.size());
  if (rel.empty()) rel = "index.html";
  const ConsoleFile* f = Find(rel);
  if (!f) {
    // The console's own pages (/console/collections/docs) are index.html; a missing
    // file (a name with an extension) is a 404.
    std::string_view last = rel.substr(rel.rfind('/') == std::string_view::npos ? 0 : rel.rfind('/') + 1);
    if (!ConsoleBuilt() || last.find('.') == std::string_view::npos) f = Find("index.html");
  }
  AddSecurityHeaders(&r);
  if (!f) {
    r.status = 404;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "no file " + path + " in the console\n";
    *out = std::move(r);
    return true;
  }
  if (!ConsoleBuilt()) r.status = 404;
  r.content_type = std::string(f->content_type);
  r.headers.emplace_back("Cache-Control", f->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  r.headers.emplace_back("ETag", std::string(f->etag));
  if (!f->gzip.empty()) r.headers.emplace_back("Vary", "Accept-Encoding");
  std::string_view inm = req.Header("if-none-match");
  if (r.status == 200 && !inm.empty() && (inm == "*" || inm.find(f->etag) != std::string_view::npos)) {
    r.status = 304;
    *out = std::move(r);
    return true;
  }
  if (!f->gzip.empty() && AcceptsGzip(req.Header("accept-encoding"))) {
    r.headers.emplace_back("Content-Encoding", "gzip");
    r.body.assign(f->gzip);
  } else {
    r.body.assign(f->body);
  }
  *out = std::move(r);
  return true;
}

}  // namespace vectron::net
