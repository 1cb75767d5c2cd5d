#include "filter/ast.h"

#include <algorithm>

namespace vectron::filter {

std::string_view OpName(CompareOp op) {
  switch (op) {
    case CompareOp::kEq: return "$eq";
    case CompareOp::kNe: return "$ne";
    case CompareOp::kGt: return "$gt";
    case CompareOp::kGte: return "$gte";
    case CompareOp::kLt: return "$lt";
    case CompareOp::kLte: return "$lte";
  }
  return "$?";
}

std::string_view OpName(SetOp op) { return op == SetOp::kIn ? "$in" : "$nin"; }

std::string FieldPath::Dotted() const {
  std::string s;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) s += '.';
    s += segments[i];
  }
  return s;
}

bool ScalarSet::Contains(const nlohmann::json& v) const {
  using nlohmann::json;
  switch (v.type()) {
    case json::value_t::null: return has_null;
    case json::value_t::boolean: return v.get<bool>() ? has_true : has_false;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: {
      const Number n = *Number::FromJson(v);
      // A NaN is unordered with everything, which would fool the binary search.
      if (!n.IsFinite() && n.double_value() != n.double_value()) return false;
      return std::binary_search(numbers.begin(), numbers.end(), n, [](const Number& a, const Number& b) {
        return CompareNumbers(a, b) == std::partial_ordering::less;
      });
    }
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      return std::binary_search(strings.begin(), strings.end(), s);
    }
    default: return false;
  }
}

}  // namespace vectron::filter
