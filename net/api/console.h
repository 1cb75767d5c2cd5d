// The web console (console/, docs/console.md): its files, built by Vite and embedded
// into the binary at build time (scripts/embed-console.py), served at /console/ with a
// strict Content-Security-Policy and the other security headers. No file system access
// and no Node.js at run time.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http/http_types.h"

namespace vectron::net {

// One embedded file.
struct ConsoleFile {
  std::string_view path;          // Relative to /console/: "index.html", "assets/index-Cc7j.js".
  std::string_view content_type;  // "text/javascript; charset=utf-8".
  std::string_view body;
  std::string_view gzip;          // The body gzip-compressed; empty if that is not smaller.
  std::string_view etag;          // Quoted strong validator.
  bool immutable;                 // Content-hashed name: cacheable for good.
};

// Defined in the generated console_assets.cc. Static data; thread-safe.
std::span<const ConsoleFile> ConsoleFiles();
// False when the binary was built without Node.js: then ConsoleFiles() holds only a page
// saying so, served for every console path (with 404).
bool ConsoleBuilt();

// The headers every console response carries: CSP (scripts, styles and connections only
// from this origin; no frames, plugins, inline code, or form posts elsewhere),
// nosniff, no referrer, no framing, a same-origin opener and resource policy.
const std::vector<std::pair<std::string, std::string>>& ConsoleSecurityHeaders();

// Answers the console's paths: GET / and /console (redirects to /console/), and
// /console/... (a file, or index.html for the console's own pages, whose paths have no
// '.' in their last segment). Returns false, leaving `*out` alone, for any other path.
// Cheap (no engine call): fit for the loop thread. Thread-safe.
bool ServeConsole(const HttpRequest& req, HttpResponse* out);

// The metrics label of every console response (one label, whatever the path).
inline constexpr std::string_view kConsoleRoute = "/console/";

}  // namespace vectron::net
