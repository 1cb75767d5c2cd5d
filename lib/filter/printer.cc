// ToString: the canonical JSON form of a filter tree.

#include "filter/filter.h"
#include "util/untrusted_json.h"

namespace vectron::filter {
namespace {

using nlohmann::json;

json FieldTerm(const FieldPath& path, std::string_view op, json operand) {
  json ops = json::object();
  ops[std::string(op)] = std::move(operand);
  json term = json::object();
  term[path.Dotted()] = std::move(ops);
  return term;
}

json ToJson(const Node& n) {
  switch (n.kind) {
    case NodeKind::kTrue:
      return json::object();
    case NodeKind::kAnd:
    case NodeKind::kOr: {
      json list = json::array();
      for (const Node& c : n.children) list.push_back(ToJson(c));
      return json{{n.kind == NodeKind::kAnd ? "$and" : "$or", std::move(list)}};
    }
    case NodeKind::kNot:
      return json{{"$not", ToJson(n.children.front())}};
    case NodeKind::kCompare:
      return FieldTerm(n.path, OpName(n.compare_op), ScalarToJson(n.value));
    case NodeKind::kIn: {
      json list = json::array();
      for (const Scalar& v : n.set.values) list.push_back(ScalarToJson(v));
      return FieldTerm(n.path, OpName(n.set_op), std::move(list));
    }
    case NodeKind::kExists:
      return FieldTerm(n.path, "$exists", n.exists);
  }
  return json::object();
}

}  // namespace

std::string ToString(const Node& n) {
  // Strings from ParseText are valid UTF-8; a json built in code may not be, and
  // dump() would throw on it, so substitute instead.
  return DumpJson(ToJson(n));
}

std::string ToString(const Filter& f) { return ToString(f.root()); }

}  // namespace vectron::filter
