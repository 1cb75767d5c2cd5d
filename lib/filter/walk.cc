// Read-only walks over a parsed filter for the query planner.

#include <algorithm>

#include "filter/filter.h"

namespace vectron::filter {
namespace {

void CollectFields(const Node& n, std::vector<FieldPath>& out) {
  if (n.kind == NodeKind::kCompare || n.kind == NodeKind::kIn || n.kind == NodeKind::kExists) {
    out.push_back(n.path);
  }
  for (const Node& c : n.children) CollectFields(c, out);
}

}  // namespace

std::vector<const Node*> Conjuncts(const Filter& f) {
  std::vector<const Node*> out;
  std::vector<const Node*> stack{&f.root()};
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (n->kind == NodeKind::kTrue) continue;
    if (n->kind != NodeKind::kAnd) {
      out.push_back(n);
      continue;
    }
    // Reverse so that terms come out in filter order.
    for (auto it = n->children.rbegin(); it != n->children.rend(); ++it) stack.push_back(&*it);
  }
  return out;
}

std::vector<FieldPath> ReferencedFields(const Filter& f) {
  std::vector<FieldPath> out;
  CollectFields(f.root(), out);
  std::sort(out.begin(), out.end(),
            [](const FieldPath& a, const FieldPath& b) { return a.segments < b.segments; });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace vectron::filter
