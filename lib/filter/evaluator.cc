// Matches: evaluates the tree directly on the metadata JSON, with no allocation.

#include "filter/filter.h"

namespace vectron::filter {
namespace {

using nlohmann::json;

// Calls `pred` on each value `path` reaches from `node` until one returns true.
// Arrays met before the last segment fan out over their object elements (so
// "items.sku" reaches every item's sku); an array at the end is handed to `pred`
// whole, because whether its elements count depends on the operator.
template <typename Pred>
bool AnyAtPath(const json& node, const FieldPath& path, size_t i, const Pred& pred) {
  if (i == path.segments.size()) return pred(node);
  if (node.is_object()) {
    const auto it = node.find(path.segments[i]);
    return it != node.end() && AnyAtPath(*it, path, i + 1, pred);
  }
  if (node.is_array()) {
    for (const json& element : node) {
      if (element.is_object() && AnyAtPath(element, path, i, pred)) return true;
    }
  }
  return false;
}

// Scalar predicates apply to a value and, if it is an array, to each element.
template <typename ScalarPred>
bool AnyValueOrElement(const json& metadata, const FieldPath& path, const ScalarPred& pred) {
  return AnyAtPath(metadata, path, 0, [&](const json& v) {
    if (!v.is_array()) return pred(v);
    for (const json& element : v) {
      if (pred(element)) return true;
    }
    return false;
  });
}

bool Satisfies(std::partial_ordering order, CompareOp op) {
  switch (op) {
    case CompareOp::kEq: return order == 0;
    case CompareOp::kNe: return order != 0;  // Not used: $ne is evaluated as not-$eq.
    case CompareOp::kGt: return order > 0;
    case CompareOp::kGte: return order >= 0;
    case CompareOp::kLt: return order < 0;
    case CompareOp::kLte: return order <= 0;
  }
  return false;
}

// Values of different types never compare: 1 vs "1", true vs 1, null vs 0.
bool CompareScalar(const json& v, CompareOp op, const Scalar& operand) {
  switch (operand.index()) {
    case 0: return v.is_null();  // Only $eq reaches here with null.
    case 1: return v.is_boolean() && v.get<bool>() == std::get<bool>(operand);
    case 2: {
      const auto n = Number::FromJson(v);
      return n.has_value() && Satisfies(CompareNumbers(*n, std::get<Number>(operand)), op);
    }
    default: {
      if (!v.is_string()) return false;
      const int c = v.get_ref<const std::string&>().compare(std::get<std::string>(operand));
      return Satisfies(c <=> 0, op);
    }
  }
}

bool Eval(const Node& n, const json& metadata) {
  switch (n.kind) {
    case NodeKind::kTrue:
      return true;
    case NodeKind::kAnd:
      for (const Node& c : n.children) {
        if (!Eval(c, metadata)) return false;
      }
      return true;
    case NodeKind::kOr:
      for (const Node& c : n.children) {
        if (Eval(c, metadata)) return true;
      }
      return false;
    case NodeKind::kNot:
      return !Eval(n.children.front(), metadata);
    case NodeKind::kCompare: {
      // $ne is the negation of $eq: it matches missing fields and arrays with no equal
      // element, as in MongoDB.
      const CompareOp op = n.compare_op == CompareOp::kNe ? CompareOp::kEq : n.compare_op;
      const bool any = AnyValueOrElement(metadata, n.path, [&](const json& v) {
        return CompareScalar(v, op, n.value);
      });
      return n.compare_op == CompareOp::kNe ? !any : any;
    }
    case NodeKind::kIn: {
      const bool any = AnyValueOrElement(metadata, n.path, [&](const json& v) { return n.set.Contains(v); });
      return n.set_op == SetOp::kNin ? !any : any;
    }
    case NodeKind::kExists: {
      const bool found = AnyAtPath(metadata, n.path, 0, [](const json&) { return true; });
      return found == n.exists;
    }
  }
  return false;
}

}  // namespace

bool Matches(const Filter& f, const json& metadata) {
  // Null or non-object metadata has no fields. A null stands in for it (paths never
  // resolve inside null) because an empty object would allocate on first use, and an
  // array must not be searched as if it were a list of records.
  static const json kNoFields;
  return Eval(f.root(), metadata.is_object() ? metadata : kNoFields);
}

}  // namespace vectron::filter
