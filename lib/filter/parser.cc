// Parse and ParseText: JSON where-object -> Node tree, with errors that name the
// position (a JSON-pointer-like path from `$`) and the problem.

#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "filter/filter.h"
#include "util/untrusted_json.h"

namespace vectron::filter {
namespace {

using nlohmann::json;

enum class FieldOpKind { kCompare, kSet, kExists, kNot, kLogical, kUnknown };

struct FieldOp {
  FieldOpKind kind;
  CompareOp compare_op = CompareOp::kEq;
  SetOp set_op = SetOp::kIn;
};

FieldOp LookupOp(std::string_view name) {
  if (name == "$eq") return {FieldOpKind::kCompare, CompareOp::kEq};
  if (name == "$ne") return {FieldOpKind::kCompare, CompareOp::kNe};
  if (name == "$gt") return {FieldOpKind::kCompare, CompareOp::kGt};
  if (name == "$gte") return {FieldOpKind::kCompare, CompareOp::kGte};
  if (name == "$lt") return {FieldOpKind::kCompare, CompareOp::kLt};
  if (name == "$lte") return {FieldOpKind::kCompare, CompareOp::kLte};
  if (name == "$in") return {FieldOpKind::kSet, CompareOp::kEq, SetOp::kIn};
  if (name == "$nin") return {FieldOpKind::kSet, CompareOp::kEq, SetOp::kNin};
  if (name == "$exists") return {FieldOpKind::kExists};
  if (name == "$not") return {FieldOpKind::kNot};
  if (name == "$and" || name == "$or") return {FieldOpKind::kLogical};
  return {FieldOpKind::kUnknown};
}

// Keys print as .key when they look like identifiers or dotted paths, otherwise
// quoted, so that a position is unambiguous even for odd field names.
std::string KeyStep(const std::string& key) {
  const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == '$';
  });
  // Cut: a key can be as long as the request that carries it.
  const std::string shown = Excerpt(key);
  std::string step = plain ? "." : "[";
  step += plain ? shown : json(shown).dump(-1, ' ', false, json::error_handler_t::replace);
  if (!plain) step += ']';
  return step;
}

// "[i]". Built by appending: GCC 12 warns falsely (-Wrestrict) on "lit" + string&&.
std::string IndexStep(size_t i) {
  std::string step = "[";
  step += std::to_string(i);
  step += ']';
  return step;
}

class Parser {
 public:
  Result<Filter> Run(const json& where) {
    if (where.is_null()) return Filter();
    if (!where.is_object()) {
      return Error(std::string("expected a filter object, got ") + JsonTypeName(where));
    }
    VECTRON_ASSIGN_OR_RETURN(Node root, ParseWhere(where, 1));
    return Filter(std::move(root));
  }

 private:
  // Pushes one step of the error position for the lifetime of the guard.
  class Step {
   public:
    Step(Parser* p, std::string step) : p_(p) { p_->position_.push_back(std::move(step)); }
    ~Step() { p_->position_.pop_back(); }
    Step(const Step&) = delete;
    Step& operator=(const Step&) = delete;

   private:
    Parser* p_;
  };

  Status Error(std::string_view problem) const {
    std::string m = "filter at $";
    for (const auto& s : position_) m += s;
    m += ": ";
    m += problem;
    return Status::InvalidArgument(std::move(m));
  }

  // Every node goes through here so that the depth and size limits hold everywhere.
  Status Account(int depth) {
    if (depth > kMaxDepth) {
      return Error("filter is nested deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    if (++nodes_ > kMaxNodes) {
      return Error("filter has more than " + std::to_string(kMaxNodes) + " conditions");
    }
    return Status::OK();
  }

  // Multiple terms at one level are an implicit AND; a single term stands alone so
  // that {"a": 1} is a plain comparison and ToString round-trips.
  static Node Combine(std::vector<Node> terms) {
    if (terms.size() == 1) return std::move(terms.front());
    Node n;
    n.kind = NodeKind::kAnd;
    n.children = std::move(terms);
    return n;
  }

  // An object whose keys are fields or $and/$or/$not. `depth` is the tree depth the
  // resulting node will have.
  Result<Node> ParseWhere(const json& obj, int depth) {
    if (obj.empty()) {
      VECTRON_RETURN_IF_ERROR(Account(depth));
      return Node();
    }
    const int term_depth = obj.size() > 1 ? depth + 1 : depth;
    if (obj.size() > 1) VECTRON_RETURN_IF_ERROR(Account(depth));
    std::vector<Node> terms;
    terms.reserve(obj.size());
    for (const auto& [key, value] : obj.items()) {
      Step step(this, KeyStep(key));
      VECTRON_ASSIGN_OR_RETURN(Node term, ParseTerm(key, value, term_depth));
      terms.push_back(std::move(term));
    }
    return Combine(std::move(terms));
  }

  Result<Node> ParseTerm(const std::string& key, const json& value, int depth) {
    if (key.empty() || key[0] != '$') {
      VECTRON_ASSIGN_OR_RETURN(FieldPath path, ParsePath(key));
      return ParseFieldValue(path, value, depth);
    }
    if (key == "$and" || key == "$or") return ParseLogical(key, value, depth);
    if (key == "$not") {
      if (!value.is_object()) {
        return Error(std::string("$not expects an object, got ") + JsonTypeName(value));
      }
      VECTRON_RETURN_IF_ERROR(Account(depth));
      VECTRON_ASSIGN_OR_RETURN(Node child, ParseWhere(value, depth + 1));
      Node n;
      n.kind = NodeKind::kNot;
      n.children.push_back(std::move(child));
      return n;
    }
    if (LookupOp(key).kind != FieldOpKind::kUnknown) {
      return Error(key + " must be applied to a field, as in {\"price\": {\"" + key + "\": ...}}");
    }
    return Error("unknown operator " + Excerpt(key));
  }

  Result<Node> ParseLogical(const std::string& key, const json& value, int depth) {
    if (!value.is_array()) {
      return Error(key + " expects a non-empty array of objects, got " + JsonTypeName(value));
    }
    if (value.empty()) return Error(key + " expects a non-empty array of objects, got an empty array");
    VECTRON_RETURN_IF_ERROR(Account(depth));
    Node n;
    n.kind = key == "$and" ? NodeKind::kAnd : NodeKind::kOr;
    n.children.reserve(value.size());
    for (size_t i = 0; i < value.size(); ++i) {
      Step step(this, IndexStep(i));
      const json& element = value[i];
      if (!element.is_object()) {
        return Error(key + " elements must be objects, got " + JsonTypeName(element));
      }
      VECTRON_ASSIGN_OR_RETURN(Node child, ParseWhere(element, depth + 1));
      n.children.push_back(std::move(child));
    }
    return n;
  }

  Result<FieldPath> ParsePath(const std::string& key) {
    if (key.empty()) return Error("field name is empty");
    FieldPath path;
    size_t start = 0;
    while (true) {
      const size_t dot = key.find('.', start);
      std::string segment = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (segment.empty()) {
        return Error("field name \"" + Excerpt(key) + "\" has an empty segment (leading, trailing or doubled '.')");
      }
      if (segment[0] == '$') {
        return Error("field name \"" + Excerpt(key) + "\" has a segment starting with '$'");
      }
      path.segments.push_back(std::move(segment));
      if (path.segments.size() > static_cast<size_t>(kMaxDepth)) {
        return Error("field name \"" + Excerpt(key) + "\" has more than " + std::to_string(kMaxDepth) + " segments");
      }
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return path;
  }

  // The value of a field key: a scalar (implicit $eq) or an object of operators.
  Result<Node> ParseFieldValue(const FieldPath& path, const json& value, int depth) {
    if (value.is_array()) {
      return Error("an array cannot be matched directly; use $in to match any of several values");
    }
    if (!value.is_object()) return ParseOperand(path, LookupOp("$eq"), "$eq", value, depth);
    return ParseOperatorObject(path, value, depth);
  }

  Result<Node> ParseOperatorObject(const FieldPath& path, const json& obj, int depth) {
    if (obj.empty()) return Error("empty operator object; expected operators such as {\"$eq\": ...}");
    for (const auto& [key, unused] : obj.items()) {
      if (key.empty() || key[0] != '$') {
        return Error("nested objects are not matched directly; use a dotted field name such as \"" +
                     Excerpt(path.Dotted() + "." + key) + "\" or operators such as $eq");
      }
    }
    const int term_depth = obj.size() > 1 ? depth + 1 : depth;
    if (obj.size() > 1) VECTRON_RETURN_IF_ERROR(Account(depth));
    std::vector<Node> terms;
    terms.reserve(obj.size());
    for (const auto& [key, operand] : obj.items()) {
      Step step(this, KeyStep(key));
      VECTRON_ASSIGN_OR_RETURN(Node term, ParseOperand(path, LookupOp(key), key, operand, term_depth));
      terms.push_back(std::move(term));
    }
    return Combine(std::move(terms));
  }

  // Checks a scalar operand; returns it or an error naming the operator.
  Result<Scalar> ParseScalar(const json& v, std::string_view op, bool range) {
    const auto expected = [&]() {
      return std::string(op) + (range ? " expects a number or string, got " :
                                        " expects a number, string, boolean or null, got ");
    };
    switch (v.type()) {
      case json::value_t::null:
        if (range) return Error(expected() + "null");
        return Scalar(nullptr);
      case json::value_t::boolean:
        if (range) return Error(expected() + "boolean");
        return Scalar(v.get<bool>());
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
      case json::value_t::number_float: {
        Number n = *Number::FromJson(v);
        if (!n.IsFinite()) return Error(std::string(op) + " expects a finite number");
        return Scalar(n);
      }
      case json::value_t::string:
        return Scalar(v.get<std::string>());
      default:
        return Error(expected() + JsonTypeName(v));
    }
  }

  Result<Node> ParseOperand(const FieldPath& path, FieldOp op, const std::string& name,
                            const json& operand, int depth) {
    switch (op.kind) {
      case FieldOpKind::kCompare: {
        const bool range = op.compare_op != CompareOp::kEq && op.compare_op != CompareOp::kNe;
        VECTRON_ASSIGN_OR_RETURN(Scalar value, ParseScalar(operand, name, range));
        VECTRON_RETURN_IF_ERROR(Account(depth));
        Node n;
        n.kind = NodeKind::kCompare;
        n.path = path;
        n.compare_op = op.compare_op;
        n.value = std::move(value);
        return n;
      }
      case FieldOpKind::kSet:
        return ParseSet(path, op.set_op, name, operand, depth);
      case FieldOpKind::kExists: {
        if (!operand.is_boolean()) {
          return Error(std::string("$exists expects a boolean, got ") + JsonTypeName(operand));
        }
        VECTRON_RETURN_IF_ERROR(Account(depth));
        Node n;
        n.kind = NodeKind::kExists;
        n.path = path;
        n.exists = operand.get<bool>();
        return n;
      }
      case FieldOpKind::kNot: {
        if (!operand.is_object()) {
          return Error(std::string("$not expects an object of operators, got ") + JsonTypeName(operand));
        }
        VECTRON_RETURN_IF_ERROR(Account(depth));
        VECTRON_ASSIGN_OR_RETURN(Node child, ParseOperatorObject(path, operand, depth + 1));
        Node n;
        n.kind = NodeKind::kNot;
        n.children.push_back(std::move(child));
        return n;
      }
      case FieldOpKind::kLogical:
        return Error(name + " is not allowed inside a field's operators; put it at the top level");
      case FieldOpKind::kUnknown:
        break;
    }
    return Error("unknown operator " + Excerpt(name));
  }

  Result<Node> ParseSet(const FieldPath& path, SetOp op, const std::string& name, const json& list,
                        int depth) {
    if (!list.is_array()) {
      return Error(name + " expects a non-empty array of scalars, got " + JsonTypeName(list));
    }
    if (list.empty()) return Error(name + " expects a non-empty array of scalars, got an empty array");
    if (list.size() > kMaxSetValues) {
      return Error(name + " has " + std::to_string(list.size()) + " values; the limit is " +
                   std::to_string(kMaxSetValues));
    }
    std::vector<Scalar> values;
    values.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      Step step(this, IndexStep(i));
      VECTRON_ASSIGN_OR_RETURN(Scalar v, ParseScalar(list[i], name + " element", false));
      values.push_back(std::move(v));
    }
    VECTRON_RETURN_IF_ERROR(Account(depth));
    std::stable_sort(values.begin(), values.end(),
                     [](const Scalar& a, const Scalar& b) { return CompareScalars(a, b) < 0; });
    values.erase(std::unique(values.begin(), values.end(),
                             [](const Scalar& a, const Scalar& b) { return CompareScalars(a, b) == 0; }),
                 values.end());
    Node n;
    n.kind = NodeKind::kIn;
    n.path = path;
    n.set_op = op;
    ScalarSet& set = n.set;
    for (const Scalar& v : values) {
      if (std::holds_alternative<std::nullptr_t>(v)) set.has_null = true;
      if (const auto* b = std::get_if<bool>(&v)) (*b ? set.has_true : set.has_false) = true;
      if (const auto* num = std::get_if<Number>(&v)) set.numbers.push_back(*num);
      if (const auto* s = std::get_if<std::string>(&v)) set.strings.push_back(*s);
    }
    set.values = std::move(values);
    return n;
  }

  std::vector<std::string> position_;
  int nodes_ = 0;
};

}  // namespace

Result<Filter> Parse(const json& where) {
  Parser parser;
  return parser.Run(where);
}

Result<Filter> ParseText(std::string_view json_text) {
  // Over-deep JSON is refused before nlohmann builds it, at the filter's own (tighter)
  // limit; the seam then parses it (bounded, repeated keys refused, errors kept short).
  if (auto at = FindJsonNestingAbove(json_text, kMaxJsonDepth)) {
    return Status::InvalidArgument("filter JSON is nested deeper than " + std::to_string(kMaxJsonDepth) +
                                   " levels at byte " + std::to_string(*at));
  }
  VECTRON_ASSIGN_OR_RETURN(json where, ParseUntrustedJson(json_text, "filter"));
  return Parse(where);
}

}  // namespace vectron::filter
