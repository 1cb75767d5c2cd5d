// Operand values of filter predicates: numbers compared exactly, and scalars.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

namespace vectron::filter {

// A JSON number that remembers whether it was written as an integer or a float, so
// that int64 values beyond 2^53 keep their exact value (a double would round them).
class Number {
 public:
  enum class Kind : uint8_t { kInt, kUint, kDouble };

  // kUint is only used above INT64_MAX, so each integer has one representation.
  static Number Int(int64_t v);
  static Number Uint(uint64_t v);
  static Number Double(double v);
  // Empty if `j` is not a number.
  static std::optional<Number> FromJson(const nlohmann::json& j);

  Kind kind() const { return kind_; }
  // The value for kind(); the accessors of the other kinds return 0.
  int64_t int_value() const { return i_; }
  uint64_t uint_value() const { return u_; }
  double double_value() const { return d_; }
  // False only for NaN and infinities (which filters reject as operands).
  bool IsFinite() const;
  // An integer or float json of the same kind, so printing keeps "1" vs "1.0".
  nlohmann::json ToJson() const;

 private:
  Kind kind_ = Kind::kInt;
  int64_t i_ = 0;
  uint64_t u_ = 0;
  double d_ = 0;
};

// Exact numeric order across int64, uint64 and double: 2^53+1 > 2^53 as a double, and
// 1 == 1.0. Unordered only if a NaN is involved.
std::partial_ordering CompareNumbers(const Number& a, const Number& b);

// A predicate operand: null, boolean, number or string (filters have no array or
// object operands; arrays appear only as the list of $in/$nin).
using Scalar = std::variant<std::nullptr_t, bool, Number, std::string>;

// The JSON form of `s`, as ToString prints it.
nlohmann::json ScalarToJson(const Scalar& s);

// Total order used to sort and deduplicate $in lists: null < false < true < numbers
// (exact numeric order) < strings (bytewise). Requires finite numbers.
std::weak_ordering CompareScalars(const Scalar& a, const Scalar& b);

// "null", "boolean", "number", "string", "array" or "object": for error messages.
const char* JsonTypeName(const nlohmann::json& j);

}  // namespace vectron::filter
