// Route table: method + path pattern ("/v1/collections/{name}/points") → handler.
// One table serves dispatch, metrics labels and the OpenAPI description.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vectron::net {

// Path parameters of a match, in pattern order: {"name", "docs"}.
using PathParams = std::vector<std::pair<std::string, std::string>>;

// Matches `path` against `pattern` segment by segment; "{x}" matches one non-empty
// segment and is recorded in `*params`.
bool MatchPath(std::string_view pattern, std::string_view path, PathParams* params);

template <typename Handler>
class Router {
 public:
  struct Route {
    std::string method;
    std::string pattern;
    Handler handler;
  };
  struct Match {
    const Route* route = nullptr;  // Null: see allow.
    PathParams params;
    std::string allow;  // If the path exists with other methods: "GET, DELETE" (405).
  };

  void Add(std::string method, std::string pattern, Handler handler) {
    routes_.push_back({std::move(method), std::move(pattern), std::move(handler)});
  }
  Match Find(std::string_view method, std::string_view path) const {
    Match m;
    for (const auto& r : routes_) {
      PathParams p;
      if (!MatchPath(r.pattern, path, &p)) continue;
      if (r.method == method) {
        m.route = &r;
        m.params = std::move(p);
        return m;
      }
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += r.method;
    }
    return m;
  }
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace vectron::net
