#include "net/http/router.h"

namespace vectron::net {

bool MatchPath(std::string_view pattern, std::string_view path, PathParams* params) {
  size_t pi = 0, xi = 0;
  while (pi < pattern.size() || xi < path.size()) {
    if (pi >= pattern.size() || xi >= path.size()) return false;
    if (pattern[pi] != '/' || path[xi] != '/') return false;
    ++pi;
    ++xi;
    size_t pe = pattern.find('/', pi);
    if (pe == std::string_view::npos) pe = pattern.size();
    size_t xe = path.find('/', xi);
    if (xe == std::string_view::npos) xe = path.size();
    std::string_view pseg = pattern.substr(pi, pe - pi), xseg = path.substr(xi, xe - xi);
    if (pseg.size() >= 2 && pseg.front() == '{' && pseg.back() == '}') {
      if (xseg.empty()) return false;
      params->emplace_back(std::string(pseg.substr(1, pseg.size() - 2)), std::string(xseg));
    } else if (pseg != xseg) {
      return false;
    }
    pi = pe;
    xi = xe;
  }
  return true;
}

}  // namespace vectron::net
